import { describe, expect, it } from 'vitest'
import { InvalidTokenError } from '../../../lib/token/decode.ts'
import { inspectStoredToken, inspectToken } from '../../../lib/kube/inspect-token.ts'
import type { SecretFacts } from '../../../lib/token/status.ts'
import { craftToken, legacyClaims } from '../helpers/tokens.ts'

const now = new Date('2026-06-01T12:00:00Z')
const secret: SecretFacts = { namespace: 'kube-system', name: 'app-token-x7k2p' }

// Offline, no keys: only decoding decides, which is the part under test.
describe('a token no issuer can have signed gets the same verdict wherever it is found', () => {
  it.each([
    ['alg none', craftToken({ alg: 'none' }, legacyClaims(), ''), 'forged', /^token is unsigned \(alg: none\)/],
    ['HS256', craftToken({ alg: 'HS256', kid: 'k' }, legacyClaims()), 'forged', /^token is signed with HMAC \(HS256\)/],
    ['exp as a string', craftToken({ alg: 'RS256' }, { ...legacyClaims(), exp: '1' }), 'malformed', /^token claim exp is a JSON string/],
    ['exp negative', craftToken({ alg: 'RS256' }, { ...legacyClaims(), exp: -5 }), 'malformed', /^token claim exp is negative/],
  ])('%s: %s, passed directly or read from a Secret', async (_name, token, status, reason) => {
    const direct = await inspectToken('--token', token, { keys: undefined, now })
    const stored = await inspectStoredToken(`secret ${secret.namespace}/${secret.name}`, token, { keys: undefined, now, secret })
    for (const result of [direct, stored]) {
      expect(result.status).toBe(status)
      expect(result.reason).toMatch(reason)
      expect(result.reason.split('\n')).toHaveLength(1)
      expect(JSON.stringify(result)).not.toContain(token)
    }
    expect(stored.reason).toMatch(/then run regenerate-tokens to replace the stored value\.$/)
    expect(stored.secret).toEqual(secret)
  })

  it('keeps input that is no JWT at all a usage error when passed directly, and malformed in a Secret', async () => {
    await expect(inspectToken('--token', 'hello', { keys: undefined, now })).rejects.toBeInstanceOf(InvalidTokenError)
    expect((await inspectStoredToken('secret a/b', 'hello', { keys: undefined, now })).status).toBe('malformed')
  })
})
