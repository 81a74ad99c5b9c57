// Turns whatever the operator pasted (or the I/O layer read from a Secret or a
// pod) into a decoded JWT, without trusting any of it: tokens are
// attacker-controlled input. Decoding does not verify anything; see
// signature.ts for that.
import { UsageError } from '../errors.ts'

/** A malformed or unacceptable token. A usage error: the input cannot be acted on. */
export class InvalidTokenError extends UsageError {
  override name = 'InvalidTokenError'
}

/**
 * A JWT that decodes but that no Kubernetes issuer can have produced (unsigned,
 * HMAC, an unknown alg, a time claim that is not a NumericDate). Unlike a
 * typo, this is a verdict about the token, so callers that judge tokens turn
 * it into a status (see lib/kube/inspect-token.ts); elsewhere it is still an
 * InvalidTokenError.
 */
export class UnacceptableTokenError extends InvalidTokenError {
  override name = 'UnacceptableTokenError'
  /** forged: made to pass a careless verifier (alg none, HMAC); malformed: anything else. */
  readonly verdict: 'forged' | 'malformed'

  constructor(message: string, verdict: 'forged' | 'malformed') {
    super(message)
    this.verdict = verdict
  }
}

/** Service-account tokens are 1-2 KiB; anything near this limit is not one. */
export const MAX_TOKEN_BYTES = 64 * 1024
// The base64-wrapped form is 4/3 larger plus line breaks; checked before any work is done.
const MAX_INPUT_CHARS = 2 * MAX_TOKEN_BYTES

/**
 * The signature algorithms a Kubernetes service-account issuer can use: RSA
 * and ECDSA keys (the apiserver reads no others), plus EdDSA for external
 * signers. Every one is asymmetric, so a public key can never act as an HMAC
 * secret.
 */
export const ASYMMETRIC_ALGORITHMS = [
  'RS256', 'RS384', 'RS512',
  'PS256', 'PS384', 'PS512',
  'ES256', 'ES384', 'ES512',
  'EdDSA',
] as const
export type AsymmetricAlgorithm = (typeof ASYMMETRIC_ALGORITHMS)[number]

export type JsonObject = Record<string, unknown>

/** The JOSE header, with `alg` checked and `kid` present only as a non-empty string. */
export interface TokenHeader {
  readonly alg: AsymmetricAlgorithm
  readonly kid?: string
  readonly [parameter: string]: unknown
}

export interface DecodedToken {
  /** The compact JWT: header.claims.signature, base64url, no whitespace. */
  readonly compact: string
  readonly header: TokenHeader
  /** The claims as sent: nothing here is verified or type-checked (see describe.ts). */
  readonly claims: JsonObject
  /** `header.claims` in their encoded form: what the signature covers. */
  readonly signingInput: string
  readonly signature: Uint8Array
}

const COPY_AGAIN = 'copy the complete token again (it looks truncated or altered)'
const GET_REAL_TOKEN = 'do not trust it, and read the real token from its Secret or pod'
const BASE64URL_SEGMENT = /^[A-Za-z0-9_-]*$/
const STANDARD_BASE64 = /^[A-Za-z0-9+/]+={0,2}$/
// base64('eyJ'): every base64-wrapped JWT starts with it, because every JWT header starts with '{"'.
const WRAPPED_JWT_PREFIX = 'ZXlK'
const SEGMENT_NAMES = ['header', 'claims', 'signature'] as const
type SegmentName = (typeof SEGMENT_NAMES)[number]

/**
 * Returns the compact JWT from a raw token, a `Bearer ` header value, or the
 * base64-wrapped `data.token` of a Secret (line breaks allowed). Checks the
 * shape only: three base64url segments.
 */
export function normalizeToken(input: string): string {
  if (input.length > MAX_INPUT_CHARS) throw tooLarge(input.length)
  // A JWT never contains whitespace; base64 as kubectl or an editor wraps it does.
  const text = input.trim().replace(/^bearer\s+/i, '').replace(/\s+/g, '')
  if (text === '') throw new InvalidTokenError('token is empty; pass the token itself or the data.token value of its Secret')
  const compact = text.includes('.') ? text : unwrapBase64(text)
  if (compact.length > MAX_TOKEN_BYTES) throw tooLarge(compact.length)
  checkSegments(compact)
  return compact
}

/** Decodes a token (see normalizeToken for accepted forms) and rejects anything a Kubernetes issuer cannot have signed. */
export function decodeToken(input: string): DecodedToken {
  const compact = normalizeToken(input)
  const [encodedHeader = '', encodedClaims = '', encodedSignature = ''] = compact.split('.')
  const header = checkHeader(parseJsonSegment(encodedHeader, 'header'))
  const claims = parseJsonSegment(encodedClaims, 'claims')
  checkTimeClaims(claims)
  if (encodedSignature === '') throw new InvalidTokenError(`token has an empty signature; ${COPY_AGAIN}`)
  return {
    compact,
    header,
    claims,
    signingInput: `${encodedHeader}.${encodedClaims}`,
    signature: new Uint8Array(Buffer.from(encodedSignature, 'base64url')),
  }
}

function tooLarge(size: number): InvalidTokenError {
  return new InvalidTokenError(
    `token is too large (${size} bytes, limit ${MAX_TOKEN_BYTES}); service-account tokens are a few KiB, so pass a single token`,
  )
}

function notAJwt(segmentCount: number): InvalidTokenError {
  return new InvalidTokenError(
    `not a JWT: expected three dot-separated base64url segments, got ${segmentCount}; pass a service-account token (it starts with eyJ)`,
  )
}

/** `text` has no dots: either one lone segment or the base64 of a whole JWT. */
function unwrapBase64(text: string): string {
  if (!text.startsWith(WRAPPED_JWT_PREFIX)) throw notAJwt(1)
  const notWrapped = new InvalidTokenError(
    'token looks base64-wrapped but does not decode to a JWT; pass data.token exactly as kubectl shows it, or the decoded token',
  )
  if (!STANDARD_BASE64.test(text) || text.length % 4 === 1) throw notWrapped
  // `echo $TOKEN | base64` adds a newline inside the wrapping.
  const unwrapped = Buffer.from(text, 'base64').toString('latin1').trim()
  if (unwrapped.split('.').length !== 3 || !unwrapped.startsWith('eyJ')) throw notWrapped
  return unwrapped
}

function checkSegments(compact: string): void {
  const segments = compact.split('.')
  if (segments.length !== 3) throw notAJwt(segments.length)
  segments.forEach((segment, index) => {
    const name = SEGMENT_NAMES[index] ?? 'signature'
    // The signature may be empty here so decodeToken can name an unsigned token for what it is.
    const emptyAllowed = name === 'signature'
    if ((segment === '' && !emptyAllowed) || !isBase64url(segment)) throw notBase64url(name)
  })
}

function isBase64url(segment: string): boolean {
  // A length of 4n+1 cannot come out of any base64 encoder.
  return BASE64URL_SEGMENT.test(segment) && segment.length % 4 !== 1
}

function notBase64url(name: SegmentName): InvalidTokenError {
  const what = name === 'signature' ? 'token signature is not valid base64url' : `token ${describeSegment(name)} not valid base64url JSON`
  return new InvalidTokenError(`${what}; ${COPY_AGAIN}`)
}

function describeSegment(name: 'header' | 'claims'): string {
  return name === 'header' ? 'header is' : 'claims are'
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true })

function parseJsonSegment(segment: string, name: 'header' | 'claims'): JsonObject {
  let value: unknown
  try {
    value = JSON.parse(strictUtf8.decode(Buffer.from(segment, 'base64url')))
  } catch {
    // The header's encoding and JSON are one complaint; for the claims, the base64url was checked already.
    const what = name === 'header' ? 'header is not valid base64url JSON' : 'claims are not valid JSON'
    throw new InvalidTokenError(`token ${what}; ${COPY_AGAIN}`)
  }
  if (!isJsonObject(value)) {
    throw new InvalidTokenError(`token ${describeSegment(name)} not a JSON object (got ${jsonTypeOf(value)}); ${COPY_AGAIN}`)
  }
  return value
}

export function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function jsonTypeOf(value: unknown): string {
  if (value === null) return 'null'
  return Array.isArray(value) ? 'array' : typeof value
}

function checkHeader(header: JsonObject): TokenHeader {
  const alg = Object.hasOwn(header, 'alg') ? header.alg : undefined
  if (typeof alg !== 'string') throw new UnacceptableTokenError(`token header has no alg string; ${GET_REAL_TOKEN}`, 'malformed')
  const kid = checkKeyId(header)
  const { alg: _alg, kid: _kid, ...otherParameters } = header
  return { ...otherParameters, alg: checkAlgorithm(alg), ...(kid === undefined ? {} : { kid }) }
}

function checkAlgorithm(alg: string): AsymmetricAlgorithm {
  // JOSE names are case-sensitive, but "None" and friends are a classic bypass attempt: name them too.
  if (alg.toLowerCase() === 'none') {
    throw new UnacceptableTokenError(`token is unsigned (alg: none): service-account tokens are always signed; ${GET_REAL_TOKEN}`, 'forged')
  }
  if (/^HS\d+$/i.test(alg)) {
    throw new UnacceptableTokenError(
      `token is signed with HMAC (${alg.slice(0, 8)}): service-account tokens are signed with a private key (RS256/ES256); ` +
        `an HMAC token keyed with a public key is a known forgery, so ${GET_REAL_TOKEN}`,
      'forged',
    )
  }
  const known = ASYMMETRIC_ALGORITHMS.find((candidate) => candidate === alg)
  if (known === undefined) {
    throw new UnacceptableTokenError(
      `token uses unsupported algorithm ${JSON.stringify(alg.slice(0, 20))}: service-account tokens use RS256 or ES256; pass a token issued by Kubernetes`,
      'malformed',
    )
  }
  return known
}

/** The apiserver treats an empty kid like a missing one (it then tries every key); so do we. */
function checkKeyId(header: JsonObject): string | undefined {
  const kid = Object.hasOwn(header, 'kid') ? header.kid : undefined
  if (kid === undefined || kid === '') return undefined
  // go-jose refuses such a header, so the apiserver can never accept this token.
  if (typeof kid !== 'string') throw new UnacceptableTokenError(`token header kid is not a string; ${GET_REAL_TOKEN}`, 'malformed')
  return kid
}

// 9999-12-31T23:59:59Z: beyond it Date cannot print an ISO string.
export const LATEST_NUMERIC_DATE = 253_402_300_799
const TIME_CLAIMS = ['exp', 'nbf', 'iat'] as const

/**
 * exp, nbf and iat, when present, must be whole seconds since 1970, as
 * Kubernetes always writes them. Read leniently, a string or negative exp
 * would count as absent, which reads as "never expires": a forged token
 * would fail open.
 */
function checkTimeClaims(claims: JsonObject): void {
  for (const name of TIME_CLAIMS) {
    if (!Object.hasOwn(claims, name)) continue
    const value = claims[name]
    if (typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= LATEST_NUMERIC_DATE) continue
    throw new UnacceptableTokenError(
      `token claim ${name} is ${describeTime(value)}, not a NumericDate (whole seconds since 1970) as Kubernetes writes it; ${GET_REAL_TOKEN}`,
      'malformed',
    )
  }
}

function describeTime(value: unknown): string {
  if (typeof value !== 'number') return `a JSON ${jsonTypeOf(value)}`
  if (value < 0) return 'negative'
  return Number.isInteger(value) ? 'out of range' : 'not a whole number'
}
