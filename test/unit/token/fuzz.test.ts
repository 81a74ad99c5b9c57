// Property tests over the two places attacker-controlled text goes first:
// the token decoder and the redactor. fast-check shrinks a failure to a small
// counterexample and prints its seed; rerun with that seed to reproduce.
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { DomainError, UsageError } from '../../../lib/errors.ts'
import { Redactor } from '../../../lib/redact.ts'
import { decodeToken } from '../../../lib/token/decode.ts'
import { looksLikeToken } from '../../../lib/token/shape.ts'
import { craftToken, encodeSegment } from '../helpers/tokens.ts'

const RUNS = { numRuns: 300 }

/** Any JSON value a header or claims segment could hold, including the wrong types for alg, kid, exp. */
const jsonValue = fc.jsonValue({ maxDepth: 2 })
const algorithm = fc.oneof(fc.constantFrom('RS256', 'ES256', 'PS512', 'EdDSA', 'none', 'None', 'HS256', 'RSA-OAEP', ''), fc.string(), jsonValue)
const timeClaim = fc.oneof(fc.integer(), fc.double(), fc.string(), fc.constant(null), fc.constant(-5), fc.constant(1e300))
const header = fc.record({ alg: algorithm, kid: fc.oneof(fc.string(), jsonValue) }, { requiredKeys: [] })
const claims = fc.record({ exp: timeClaim, nbf: timeClaim, iat: timeClaim, sub: fc.string(), iss: jsonValue }, { requiredKeys: [] })
const signature = fc.oneof(fc.constant(''), fc.base64String().map((text) => text.replace(/=+$/, '').replaceAll('+', '-').replaceAll('/', '_')), fc.string())

/** Token-shaped input: a crafted JWT, raw or in one of the forms operators paste. */
const jwtLike = fc
  .tuple(fc.oneof(header, jsonValue), fc.oneof(claims, jsonValue), signature)
  .map(([h, c, s]) => `${encodeSegment(h)}.${encodeSegment(c)}.${s}`)
const pasted = fc
  .tuple(jwtLike, fc.constantFrom('raw', 'base64', 'wrapped', 'bearer', 'spaced'), fc.integer({ min: 4, max: 100 }))
  .map(([jwt, form, column]) => {
    const base64 = Buffer.from(jwt).toString('base64')
    if (form === 'base64') return base64
    if (form === 'wrapped') return base64.match(new RegExp(`.{1,${column}}`, 'g'))?.join('\n') ?? base64
    if (form === 'bearer') return `Bearer ${jwt}`
    return form === 'spaced' ? ` \r\n${jwt}\n` : jwt
  })
const anyInput = fc.oneof(fc.string(), fc.string({ unit: 'binary' }), fc.uint8Array({ maxLength: 300 }).map((bytes) => Buffer.from(bytes).toString('latin1')), pasted)

describe('decodeToken on any input', () => {
  it('returns, or throws a one-line UsageError/DomainError that never quotes a token-shaped input', () => {
    fc.assert(
      fc.property(anyInput, (input) => {
        try {
          decodeToken(input)
        } catch (err) {
          expect(err instanceof UsageError || err instanceof DomainError).toBe(true)
          const message = (err as Error).message
          expect(message).not.toMatch(/[\r\n]/)
          expect(message.length).toBeLessThan(400)
          if (looksLikeToken(input)) expect(message).not.toContain(input.trim())
        }
      }),
      RUNS,
    )
  })

  it('refuses every time claim that is not whole non-negative seconds', () => {
    fc.assert(
      fc.property(fc.constantFrom('exp', 'nbf', 'iat'), timeClaim, (name, value) => {
        const wellTyped = typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= 253_402_300_799
        const attempt = () => decodeToken(craftToken({ alg: 'RS256' }, { [name]: value }))
        if (wellTyped) expect(attempt).not.toThrow()
        else expect(attempt).toThrow(new RegExp(`^token claim ${name} is `))
      }),
      RUNS,
    )
  })
})

describe('Redactor on any text', () => {
  const surrounding = fc.string({ unit: fc.constantFrom('a', 'Z', '0', ' ', '\n', '.', '=', '/', ':', '"', '%', '-') })
  // A JWT header is a JSON object with members, so it always starts with eyJ ('{"'); the claims may be anything.
  const signedShape = fc
    .tuple(fc.record({ alg: algorithm, kid: fc.string() }, { requiredKeys: ['alg'] }), fc.oneof(claims, jsonValue), signature)
    .map(([h, c, s]) => `${encodeSegment(h)}.${encodeSegment(c)}.${s}`)
  const encodedJwt = fc
    .tuple(signedShape, fc.constantFrom('raw', 'raw-wrapped', 'base64', 'base64url', 'wrapped', 'crlf', 'url', 'json'), fc.integer({ min: 4, max: 120 }))
    .map(([token, form, column]) => {
      const base64 = Buffer.from(token).toString('base64')
      const wrap = (text: string) => text.match(new RegExp(`.{1,${column}}`, 'g')) ?? [text]
      const wrapped = wrap(base64)
      const text = {
        raw: token,
        // A raw token wrapped at a column; one wrapped in two lines keeps its last line unless registered (see redact.ts).
        'raw-wrapped': wrap(token).join('\n'),
        base64,
        base64url: Buffer.from(token).toString('base64url'),
        wrapped: wrapped.join('\n'),
        crlf: wrapped.join('\r\n'),
        url: encodeURIComponent(base64),
        // --output json: the line breaks of the wrapped value are the two characters \n.
        json: JSON.stringify(wrapped.join('\n')),
      }[form]
      return { jwt: token, text }
    })

  it('leaves no signature of a JWT in any form, registered or not, wherever it stands', () => {
    fc.assert(
      fc.property(surrounding, encodedJwt, surrounding, fc.boolean(), (before, { jwt: token, text }, after, register) => {
        const redactor = new Redactor()
        if (register) redactor.register(token)
        // Separated from its neighbours by a space, as in any log line.
        const output = redactor.redact(`${before} ${text} ${after}`)
        const [, claimsSegment = ''] = token.split('.')
        expect(output).not.toContain(token)
        if (claimsSegment.length >= 8) expect(output).not.toContain(claimsSegment)
        expect(output).not.toContain(text)
      }),
      RUNS,
    )
  })

  it('changes nothing in text without tokens or registered secrets', () => {
    const plain = fc.string({ unit: fc.constantFrom('a', 'b', 'k', '-', '/', ' ', '\n', '.', '=', '1') })
    fc.assert(
      fc.property(plain, (text) => {
        expect(new Redactor().redact(text)).toBe(text)
      }),
      RUNS,
    )
  })
})
