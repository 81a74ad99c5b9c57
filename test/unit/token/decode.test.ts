import { describe, expect, it } from 'vitest'
import { UsageError } from '../../../lib/errors.ts'
import { decodeToken, InvalidTokenError, MAX_TOKEN_BYTES, normalizeToken, UnacceptableTokenError } from '../../../lib/token/decode.ts'
import { craftToken, encodeSegment, legacyClaims, makeSigningKey, signToken, wrapBase64 } from '../helpers/tokens.ts'

const key = makeSigningKey('rsa')
const token = await signToken(legacyClaims(), key)
const [header = '', claims = '', signature = ''] = token.split('.')

describe('normalizeToken', () => {
  it.each([
    ['a raw token', token],
    ['surrounding whitespace and newlines', `\n  ${token}\t\n`],
    ['a Bearer header value', `Bearer ${token}`],
    ['base64-wrapped on one line', Buffer.from(token).toString('base64')],
    ['base64-wrapped with line breaks', wrapBase64(token, 76)],
    ['base64-wrapped with CRLF and indentation', `    ${wrapBase64(token, 64).replace(/\n/g, '\r\n    ')}\n`],
    ['base64 of the token with a trailing newline (echo | base64)', Buffer.from(`${token}\n`).toString('base64')],
  ])('accepts %s', (_name, input) => {
    expect(normalizeToken(input)).toBe(token)
  })
})

describe('decodeToken', () => {
  it('returns the parts of a token', () => {
    const decoded = decodeToken(wrapBase64(token))
    expect(decoded.compact).toBe(token)
    expect(decoded.header).toEqual({ alg: 'RS256', kid: key.kid })
    expect(decoded.claims).toEqual(legacyClaims())
    expect(decoded.signingInput).toBe(`${header}.${claims}`)
    expect(Buffer.from(decoded.signature).toString('base64url')).toBe(signature)
  })

  it('accepts a token without kid, and treats an empty kid as none', async () => {
    expect(decodeToken(await signToken(legacyClaims(), key, { kid: null })).header.kid).toBeUndefined()
    expect(decodeToken(await signToken(legacyClaims(), key, { kid: '' })).header).not.toHaveProperty('kid')
  })

  it.each(['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'])('accepts alg %s', (alg) => {
    expect(decodeToken(craftToken({ alg }, {})).header.alg).toBe(alg)
  })

  const oversized = craftToken({ alg: 'RS256' }, { padding: 'x'.repeat(MAX_TOKEN_BYTES) })
  const corruptedSegment = (index: number, value: string): string => {
    const parts = token.split('.')
    parts[index] = value
    return parts.join('.')
  }

  it.each([
    ['empty', '', /^token is empty; /],
    ['whitespace only', ' \n\t ', /^token is empty; /],
    ['1 segment', header, /^not a JWT: expected three dot-separated base64url segments, got 1; /],
    ['1 segment of garbage', 'hello', /got 1; /],
    ['2 segments', `${header}.${claims}`, /got 2; /],
    ['4 segments', `${token}.${signature}`, /got 4; /],
    ['non-base64url header', corruptedSegment(0, `${header.slice(0, -2)}+/`), /^token header is not valid base64url JSON; /],
    ['non-base64url claims', corruptedSegment(1, `${claims.slice(0, 4)}*${claims.slice(5)}`), /^token claims are not valid base64url JSON; /],
    ['non-base64url signature', corruptedSegment(2, `${signature.slice(0, -1)}=`), /^token signature is not valid base64url; /],
    ['truncated header (impossible length)', corruptedSegment(0, header.slice(0, 5)), /^token header is not valid base64url JSON; /],
    ['empty header', corruptedSegment(0, ''), /^token header is not valid base64url JSON; /],
    ['empty claims', corruptedSegment(1, ''), /^token claims are not valid base64url JSON; /],
    ['header that is not JSON', corruptedSegment(0, Buffer.from('{alg:RS256}').toString('base64url')), /^token header is not valid base64url JSON; /],
    ['claims that are not JSON', corruptedSegment(1, Buffer.from('{"sub":').toString('base64url')), /^token claims are not valid JSON; /],
    ['claims that are not UTF-8', corruptedSegment(1, Buffer.from([0x7b, 0xff, 0xfe, 0x7d]).toString('base64url')), /^token claims are not valid JSON; /],
    ['header that is a JSON array', corruptedSegment(0, encodeSegment(['RS256'])), /^token header is not a JSON object \(got array\); /],
    ['claims that are a JSON array', corruptedSegment(1, encodeSegment([])), /^token claims are not a JSON object \(got array\); /],
    ['claims that are null', corruptedSegment(1, encodeSegment(null)), /^token claims are not a JSON object \(got null\); /],
    ['claims that are a string', corruptedSegment(1, encodeSegment('sub')), /got string/],
    ['header without alg', craftToken({ kid: 'k' }, {}), /^token header has no alg string; do not trust it/],
    ['alg of the wrong type', craftToken({ alg: 256 }, {}), /^token header has no alg string; /],
    ['kid of the wrong type', craftToken({ alg: 'RS256', kid: 7 }, {}), /^token header kid is not a string; /],
    ['alg none', craftToken({ alg: 'none' }, legacyClaims(), ''), /^token is unsigned \(alg: none\): .*; do not trust it/],
    ['alg None with a signature', craftToken({ alg: 'None' }, legacyClaims()), /^token is unsigned \(alg: none\)/],
    ['HS256', craftToken({ alg: 'HS256', kid: key.kid }, legacyClaims()), /^token is signed with HMAC \(HS256\): service-account tokens are signed with a private key \(RS256\/ES256\); an HMAC token keyed with a public key is a known forgery/],
    ['HS384', craftToken({ alg: 'HS384' }, {}), /signed with HMAC \(HS384\)/],
    ['HS512', craftToken({ alg: 'HS512' }, {}), /signed with HMAC \(HS512\)/],
    ['an unknown alg', craftToken({ alg: 'RSA-OAEP' }, {}), /^token uses unsupported algorithm "RSA-OAEP": /],
    ['an empty signature', corruptedSegment(2, ''), /^token has an empty signature; /],
    ['oversized', oversized, /^token is too large \(\d+ bytes, limit 65536\); /],
    ['oversized raw input', ' '.repeat(4 * MAX_TOKEN_BYTES), /^token is too large/],
    ['base64 that is not a JWT', Buffer.from('eyJ but not a token').toString('base64'), /^token looks base64-wrapped but does not decode to a JWT; /],
    ['corrupted base64 wrapping', `${Buffer.from(token).toString('base64').slice(0, 40)}!!`, /^token looks base64-wrapped but does not decode to a JWT; /],
  ])('refuses %s', (_name, input, message) => {
    const attempt = (): unknown => decodeToken(input)
    expect(attempt).toThrow(InvalidTokenError)
    expect(attempt).toThrow(message)
  })

  it.each([
    ['exp as a string', { exp: '1767225600' }, /^token claim exp is a JSON string, not a NumericDate/],
    ['exp as null', { exp: null }, /^token claim exp is a JSON null, not a NumericDate/],
    ['exp negative', { exp: -5 }, /^token claim exp is negative, not a NumericDate/],
    ['exp fractional', { exp: 1767225600.75 }, /^token claim exp is not a whole number, not a NumericDate/],
    ['exp beyond year 9999', { exp: 1e15 }, /^token claim exp is out of range, not a NumericDate/],
    ['exp as an array', { exp: [1767225600] }, /^token claim exp is a JSON array/],
    ['nbf as a string', { nbf: 'now' }, /^token claim nbf is a JSON string/],
    ['iat as a boolean', { iat: true }, /^token claim iat is a JSON boolean/],
  ])('refuses a time claim of the wrong type (%s) as malformed: read leniently it would mean "never expires"', (_name, claims, message) => {
    const error = captureError(() => decodeToken(craftToken({ alg: 'RS256' }, claims)))
    expect(error).toBeInstanceOf(UnacceptableTokenError)
    expect((error as UnacceptableTokenError).verdict).toBe('malformed')
    expect(error.message).toMatch(message)
    expect(error.message).toMatch(/; do not trust it, and read the real token from its Secret or pod$/)
  })

  it.each([
    ['alg none', craftToken({ alg: 'none' }, legacyClaims(), ''), 'forged'],
    ['HS256', craftToken({ alg: 'HS256' }, legacyClaims()), 'forged'],
    ['an unknown alg', craftToken({ alg: 'RSA-OAEP' }, {}), 'malformed'],
    ['no alg', craftToken({ kid: 'k' }, {}), 'malformed'],
    ['a kid of the wrong type', craftToken({ alg: 'RS256', kid: 7 }, {}), 'malformed'],
  ])('gives a JWT no issuer can have signed (%s) a verdict: %s', (_name, input, verdict) => {
    const error = captureError(() => decodeToken(input))
    expect(error).toBeInstanceOf(UnacceptableTokenError)
    expect((error as UnacceptableTokenError).verdict).toBe(verdict)
  })

  it.each([
    ['not a JWT', 'hello'],
    ['an empty signature', corruptedSegment(2, '')],
    ['claims that are not JSON', corruptedSegment(1, Buffer.from('{"sub":').toString('base64url'))],
  ])('keeps input that is not a usable JWT (%s) a plain usage error', (_name, input) => {
    const error = captureError(() => decodeToken(input))
    expect(error).toBeInstanceOf(InvalidTokenError)
    expect(error).not.toBeInstanceOf(UnacceptableTokenError)
  })

  it('raises a one-line usage error (exit code 2) that ends with a fix', () => {
    const error = captureError(() => decodeToken('hello'))
    expect(error).toBeInstanceOf(UsageError)
    expect(error.name).toBe('InvalidTokenError')
    expect(error.message).not.toMatch(/\n/)
    expect(error.message).toMatch(/; pass a service-account token \(it starts with eyJ\)$/)
  })

  it('keeps a claim named __proto__ as a plain claim', () => {
    const decoded = decodeToken(craftToken({ alg: 'RS256' }, JSON.parse('{"__proto__": {"polluted": true}, "sub": "x"}')))
    expect(Object.getPrototypeOf(decoded.claims)).toBe(Object.prototype)
    expect(({} as Record<string, unknown>).polluted).toBeUndefined()
  })
})

function captureError(action: () => unknown): Error {
  try {
    action()
  } catch (error) {
    if (error instanceof Error) return error
  }
  throw new Error('expected an error')
}
