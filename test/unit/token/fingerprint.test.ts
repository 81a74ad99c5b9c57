import { createHash } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { normalizeToken } from '../../../lib/token/decode.ts'
import { fingerprint } from '../../../lib/token/fingerprint.ts'
import { legacyClaims, makeSigningKey, signToken, wrapBase64 } from '../helpers/tokens.ts'

describe('fingerprint', () => {
  it('is sha256: and the first 12 hex digits of SHA-256 over the compact token', () => {
    const expected = createHash('sha256').update('a.b.c').digest('hex').slice(0, 12)
    expect(fingerprint('a.b.c')).toBe(`sha256:${expected}`)
    expect(fingerprint('a.b.c')).toMatch(/^sha256:[0-9a-f]{12}$/)
  })

  it('is stable, tells tokens apart, and names a wrapped token like its raw form once normalized', async () => {
    const key = makeSigningKey('ec')
    const first = await signToken(legacyClaims(), key)
    const second = await signToken(legacyClaims({ secretName: 'other' }), key)
    expect(fingerprint(first)).toBe(fingerprint(first))
    expect(fingerprint(first)).not.toBe(fingerprint(second))
    expect(fingerprint(normalizeToken(wrapBase64(first)))).toBe(fingerprint(first))
  })
})
