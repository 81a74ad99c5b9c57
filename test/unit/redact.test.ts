import { describe, expect, it } from 'vitest'
import { Redactor, redactJwtShapes } from '../../lib/redact.ts'
import { fingerprint } from '../../lib/token/fingerprint.ts'
import { boundClaims, craftToken, legacyClaims, makeSigningKey, signToken, wrapBase64 } from './helpers/tokens.ts'

const key = makeSigningKey('ec')
const token = await signToken(legacyClaims(), key)
const otherToken = await signToken(boundClaims(), key)
const redacted = (jwt: string): string => `<redacted token ${fingerprint(jwt)}>`

describe('Redactor', () => {
  it.each([
    ['alone', token, redacted(token)],
    ['in a sentence', `token ${token} is stale.`, `token ${redacted(token)} is stale.`],
    ['in an Authorization header', `Authorization: Bearer ${token}`, `Authorization: Bearer ${redacted(token)}`],
    ['in JSON', JSON.stringify({ token }), JSON.stringify({ token: redacted(token) })],
    ['in YAML after a colon', `token:${token}\n`, `token:${redacted(token)}\n`],
    ['glued to a word', `x${token}`, `x${redacted(token)}`],
    ['twice, next to another', `${token} ${otherToken}\n${token}`, `${redacted(token)} ${redacted(otherToken)}\n${redacted(token)}`],
    ['unsigned (alg none)', craftToken({ alg: 'none' }, {}, ''), redacted(craftToken({ alg: 'none' }, {}, ''))],
  ])('replaces a JWT %s with its fingerprint', (_name, text, expected) => {
    expect(new Redactor().redact(text)).toBe(expected)
  })

  it.each([
    ['plain text', 'rollout restart ds/calico-node -n kube-system'],
    ['a version number', 'kubernetes v1.30.2'],
    ['a lone header-like segment', 'eyJhbGciOiJSUzI1NiJ9 alone'],
    ['two segments', 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0'],
  ])('leaves %s alone', (_name, text) => {
    expect(new Redactor().redact(text)).toBe(text)
  })

  it('hides a registered token in its base64-wrapped Secret form, named like the token', () => {
    const redactor = new Redactor()
    redactor.register(token)
    const yaml = `data:\n  token: ${Buffer.from(token).toString('base64')}\n`
    expect(redactor.redact(yaml)).toBe(`data:\n  token: ${redacted(token)}\n`)
  })

  it('hides the token when it was registered in its wrapped form', () => {
    const redactor = new Redactor()
    redactor.register(wrapBase64(token))
    expect(redactor.redact(`raw ${token}`)).toBe(`raw ${redacted(token)}`)
    expect(redactor.redact(Buffer.from(token).toString('base64'))).toBe(redacted(token))
  })

  it('hides a registered secret that is not a JWT, in raw and base64 form', () => {
    const redactor = new Redactor()
    redactor.register('  hunter2-password\n')
    const output = redactor.redact(`password=hunter2-password b64=${Buffer.from('hunter2-password').toString('base64')}`)
    expect(output).not.toContain('hunter2')
    expect(output).not.toContain(Buffer.from('hunter2-password').toString('base64'))
    expect(output).toBe(`password=${redacted('hunter2-password')} b64=${redacted('hunter2-password')}`)
  })

  it('ignores an empty registration', () => {
    const redactor = new Redactor()
    redactor.register('  ')
    expect(redactor.redact('nothing to hide')).toBe('nothing to hide')
  })

  it('prints tokens as they are with showTokens (--show-token)', () => {
    const redactor = new Redactor({ showTokens: true })
    redactor.register(token)
    const text = `token ${token} and ${Buffer.from(token).toString('base64')}`
    expect(redactor.showTokens).toBe(true)
    expect(redactor.redact(text)).toBe(text)
  })

  it('redacts by default', () => {
    expect(new Redactor().showTokens).toBe(false)
    expect(new Redactor().redact(token)).not.toContain(token)
  })
})

describe('redactJwtShapes', () => {
  // A regex like /eyJ[\w-]+\.[\w-]+\.[\w-]+/ takes quadratic time on these.
  it.each([
    ['"eyJ" repeated without dots', 'eyJ'.repeat(400_000)],
    ['"eyJ." repeated (a redaction every 3 segments)', 'eyJ.'.repeat(30_000)],
    ['a long base64url run', `eyJ${'A'.repeat(1_000_000)}`],
    ['many tokens', `${token} `.repeat(5_000)],
  ])('stays fast on %s', (_name, text) => {
    const started = performance.now()
    redactJwtShapes(text)
    expect(performance.now() - started).toBeLessThan(1_000)
  })
})
