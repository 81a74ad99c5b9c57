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

  const base64 = Buffer.from(token).toString('base64')
  const indent = (text: string, prefix: string) => text.split('\n').join(`\n${prefix}`)
  it.each([
    ['base64', base64],
    ['base64url', Buffer.from(token).toString('base64url')],
    ['base64 wrapped at 76 columns (base64, MIME)', wrapBase64(token, 76)],
    ['base64 wrapped at 64 columns (PEM style)', wrapBase64(token, 64)],
    ['base64 wrapped at 13 columns', wrapBase64(token, 13)],
    ['base64 wrapped with CRLF', wrapBase64(token, 76).replaceAll('\n', '\r\n')],
    ['base64 wrapped and indented (a YAML block)', indent(wrapBase64(token, 76), '    ')],
    ['base64 of the token with a trailing newline (echo | base64)', Buffer.from(`${token}\n`).toString('base64')],
    ['URL-encoded base64', encodeURIComponent(base64)],
    ['URL-encoded raw token', encodeURIComponent(token)],
  ])('hides a token in %s form, registered or not, named like the token', (_name, form) => {
    const text = `before: ${form}\nafter: done`
    for (const redactor of [new Redactor(), registeredWith(token)]) {
      expect(redactor.redact(text)).toBe(`before: ${redacted(token)}\nafter: done`)
    }
  })

  const wrapRaw = (jwt: string, column: number) => jwt.match(new RegExp(`.{1,${column}}`, 'g'))?.join('\n') ?? jwt
  it.each([
    ['a raw token wrapped at 76 columns', wrapRaw(token, 76)],
    ['a raw token wrapped at 64 columns', wrapRaw(token, 64)],
    ['a raw token wrapped at 5 columns', wrapRaw(token, 5)],
    ['a raw token wrapped with CRLF', wrapRaw(token, 76).replaceAll('\n', '\r\n')],
    ['a raw token wrapped and indented (a YAML block)', indent(wrapRaw(token, 64), '    ')],
    ['wrapped base64 in a JSON string (line breaks written \\n)', JSON.stringify(wrapBase64(token, 76))],
    ['wrapped base64 with CRLF in a JSON string', JSON.stringify(wrapBase64(token, 64).replaceAll('\n', '\r\n'))],
    ['a wrapped raw token in a JSON string', JSON.stringify(wrapRaw(token, 76))],
  ])('hides %s, registered or not, named like the token', (_name, form) => {
    const text = `before: ${form}\nafter: done`
    for (const redactor of [new Redactor(), registeredWith(token)]) {
      expect(redactor.redact(text)).toBe(`before: ${form.startsWith('"') ? `"${redacted(token)}"` : redacted(token)}\nafter: done`)
    }
  })

  it('hides wrapped base64 in a pretty-printed JSON document, keeping the document whole', () => {
    const json = JSON.stringify({ data: { token: wrapBase64(token, 76) }, note: 'next' }, null, 2)
    expect(new Redactor().redact(json)).toBe(JSON.stringify({ data: { token: redacted(token) }, note: 'next' }, null, 2))
  })

  it('hides a registered raw token wrapped in two lines (its length is known); unregistered, its last line may stay', () => {
    const twoLines = wrapRaw(token, token.length - 20)
    expect(registeredWith(token).redact(`${twoLines}\nnext`)).toBe(`${redacted(token)}\nnext`)
    const unregistered = new Redactor().redact(`${twoLines}\nnext`)
    expect(unregistered).not.toContain(token.slice(0, token.length - 20))
    expect(unregistered).toMatch(/\nnext$/)
  })

  it('keeps the line after a wrapped token whole, also when it starts with a word', () => {
    const text = `${wrapBase64(token, 76)}\nnext line`
    expect(new Redactor().redact(text)).toMatch(new RegExp(`^${escapeRegExp(redacted(token))}\\n.*line$`))
    expect(new Redactor().redact(`Bearer ${token}\nnext.line`)).toBe(`Bearer ${redacted(token)}\nnext.line`)
  })

  it.each([
    ['wrapped at 60 columns', (text: string) => wrapBase64Text(text, 60)],
    ['base64url', (text: string) => Buffer.from(text).toString('base64url')],
    ['URL-encoded base64', (text: string) => encodeURIComponent(Buffer.from(text).toString('base64'))],
    ['URL-encoded raw', (text: string) => encodeURIComponent(text)],
  ])('hides a registered non-JWT secret %s', (_name, encode) => {
    const secret = 'not-a-jwt+but/a=secret value'.repeat(4)
    const redactor = registeredWith(secret)
    const form = encode(secret)
    expect(redactor.redact(`x: ${form}\ny: 1`)).toBe(`x: ${redacted(secret)}\ny: 1`)
  })

  it('hides a registered token found next to other base64 on the same line', () => {
    const other = Buffer.from('unrelated data').toString('base64')
    expect(new Redactor().redact(`${other} ${base64} ${other}`)).toBe(`${other} ${redacted(token)} ${other}`)
  })

  it('hides a base64 token that follows ZXlK-looking junk at another alignment', () => {
    expect(new Redactor().redact(`ZXlKx${base64}`)).not.toContain(base64.slice(8, 40))
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

function registeredWith(secret: string): Redactor {
  const redactor = new Redactor()
  redactor.register(secret)
  return redactor
}

function wrapBase64Text(text: string, lineLength: number): string {
  return Buffer.from(text).toString('base64').match(new RegExp(`.{1,${lineLength}}`, 'g'))?.join('\n') ?? ''
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
}

describe('Redactor on output without tokens', () => {
  it('returns a big text with no token as it is, and still finds a token whose start a line break splits', () => {
    const r = new Redactor()
    r.register(token)
    const plan = JSON.stringify({ pods: Array.from({ length: 2_000 }, (_, i) => ({ name: `web-${i}`, detail: 'mounts\nsecret app-token' })) }, null, 2)
    expect(r.redact(plan)).toBe(plan)
    for (const split of [`e\n  ${token.slice(1)}`, `ey\\n${token.slice(2)}`, wrapBase64(token, 2)]) {
      const out = r.redact(`value: ${split}\n`)
      expect(out).toContain(redacted(token))
      expect(out).not.toContain(token.split('.')[2])
    }
  })
})

describe('redactJwtShapes', () => {
  // A regex like /eyJ[\w-]+\.[\w-]+\.[\w-]+/ takes quadratic time on these.
  it.each([
    ['"eyJ" repeated without dots', 'eyJ'.repeat(400_000)],
    ['"eyJ." repeated (a redaction every 3 segments)', 'eyJ.'.repeat(30_000)],
    ['a long base64url run', `eyJ${'A'.repeat(1_000_000)}`],
    ['many tokens', `${token} `.repeat(5_000)],
    ['"ZXlK" repeated', 'ZXlK'.repeat(300_000)],
    ['"ZXlK" lines (one wrapped run)', 'ZXlKZXlK\n'.repeat(100_000)],
    ['"%2B" repeated', `ZXlK${'%2B'.repeat(300_000)}`],
    ['JSON-escaped line breaks between "eyJ" (one run)', 'eyJ\\n'.repeat(300_000)],
    ['a signature over many equal lines', `eyJh.eyJj.${'abcd\n'.repeat(200_000)}`],
    ['JWT shapes ending every line', 'eyJh.eyJj.sig\n'.repeat(100_000)],
  ])('finishes on %s and leaves no JWT shape behind', (_name, text) => {
    // No timed assertion (speed is `make bench`'s job): a quadratic regex
    // would run for minutes here and hit the test timeout instead.
    const out = redactJwtShapes(text)
    // Idempotent: a second pass finds nothing more to mask (a regex check here would itself be quadratic).
    expect(redactJwtShapes(out)).toBe(out)
  })
})
