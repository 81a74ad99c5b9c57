// Gathers every fact about one token (offline signature, live checks, its
// Secret) and hands them to the pure classifier. The result is safe to print:
// it never holds the token itself.
import { decodeToken, InvalidTokenError, UnacceptableTokenError, type DecodedToken } from '../token/decode.ts'
import { describeToken, type TokenDescription } from '../token/describe.ts'
import { fingerprint } from '../token/fingerprint.ts'
import type { VerificationKey } from '../token/keys.ts'
import { verifySignature, type SignatureCheck } from '../token/signature.ts'
import { classifyToken, type SecretFacts, type TokenCheck, type TokenStatus } from '../token/status.ts'
import { statusOf, type Kube } from './clients.ts'
import { probeWithBearer, reviewToken, selfSubjectReview, type BearerProbeResult, type TokenReviewResult } from './token-checks.ts'

/** Statuses beyond the classifier's, for tokens that could not be classified at all. */
export const UnclassifiedStatus = {
  /** The Secret holds no token yet: the tokens controller has not filled it. */
  pending: 'pending',
  /** Not a JWT, or one no Kubernetes issuer can have produced (an unknown alg, a time claim that is not a NumericDate). */
  malformed: 'malformed',
  /** A JWT made to pass a careless verifier: unsigned (alg none) or HMAC-signed. */
  forged: 'forged',
} as const
export type InspectionStatus = TokenStatus | (typeof UnclassifiedStatus)[keyof typeof UnclassifiedStatus]

export interface TokenInspection {
  /** Where the token came from: "secret ns/name", "--token", a file path. */
  source: string
  status: InspectionStatus
  reason: string
  fingerprint?: string
  token?: TokenDescription
  signature?: SignatureCheck
  live?: {
    tokenReview?: TokenReviewResult
    bearerProbe?: BearerProbeResult & { meaning: string }
    selfSubjectReview?: { username?: string; httpStatus: number }
  }
  secret?: SecretFacts
}

export interface InspectOptions {
  keys: readonly VerificationKey[] | undefined
  /** Without a cluster (offline), only the signature and times are checked. */
  kube?: Kube
  secret?: SecretFacts
  now: Date
}

/**
 * A JWT no issuer can have signed (alg none, HMAC, wrong-typed exp) gets a
 * status, exit 1, whether it was passed directly or found in a Secret: the
 * question "is this token good?" has an answer (no), and the same token
 * must get the same verdict wherever it is found. Only input that is no JWT
 * at all stays a usage error when passed directly (exit 2: a paste went
 * wrong); inspectStoredToken makes that `malformed` too, since what the
 * cluster holds is data, not something the operator typed.
 */
export async function inspectToken(source: string, compact: string, opts: InspectOptions): Promise<TokenInspection> {
  let decoded: DecodedToken
  try {
    decoded = decodeToken(compact)
  } catch (err) {
    if (err instanceof UnacceptableTokenError) return unacceptable(source, compact, err, opts)
    throw err
  }
  const description = describeToken(decoded)
  const signature = opts.keys && opts.keys.length > 0 ? await verifySignature(decoded, opts.keys) : undefined
  const live = opts.kube ? await liveChecks(opts.kube, decoded.compact, description) : undefined
  const check: TokenCheck = {
    description,
    signature,
    ...(live?.tokenReview ? { tokenReview: live.tokenReview } : {}),
    ...(live?.bearerProbe ? { bearerProbe: { httpStatus: live.bearerProbe.httpStatus } } : {}),
    ...(live?.selfSubjectReview?.username ? { selfSubjectReview: { username: live.selfSubjectReview.username } } : {}),
    ...(opts.secret ? { secret: opts.secret } : {}),
  }
  const { status, reason } = classifyToken(check, opts.now)
  return {
    source,
    status,
    reason,
    fingerprint: description.fingerprint,
    token: description,
    ...(signature ? { signature } : {}),
    ...(live ? { live } : {}),
    ...(opts.secret ? { secret: opts.secret } : {}),
  }
}

/** Like inspectToken, but a token that does not decode becomes a `malformed` result (for scans of many). */
export async function inspectStoredToken(source: string, compact: string, opts: InspectOptions): Promise<TokenInspection> {
  try {
    return await inspectToken(source, compact, opts)
  } catch (err) {
    if (!(err instanceof InvalidTokenError)) throw err
    return {
      source,
      status: UnclassifiedStatus.malformed,
      reason: `${err.message}; the stored value is not a usable token: run regenerate-tokens to replace it.`,
      fingerprint: fingerprint(compact),
      ...(opts.secret ? { secret: opts.secret } : {}),
    }
  }
}

function unacceptable(source: string, compact: string, err: UnacceptableTokenError, opts: InspectOptions): TokenInspection {
  return {
    source,
    status: err.verdict === 'forged' ? UnclassifiedStatus.forged : UnclassifiedStatus.malformed,
    reason: `${err.message}${opts.secret ? '; then run regenerate-tokens to replace the stored value' : ''}.`,
    fingerprint: fingerprint(compact),
    ...(opts.secret ? { secret: opts.secret } : {}),
  }
}

async function liveChecks(kube: Kube, token: string, description: TokenDescription): Promise<NonNullable<TokenInspection['live']>> {
  const [tokenReview, bearerProbe, ssr] = await Promise.all([
    // A 403 on creating the review means we may not ask: no fact, not "rejected".
    reviewToken(kube, token).catch((err: unknown) => (statusOf(err) === 403 ? undefined : Promise.reject(err))),
    probeWithBearer(kube, token, description.namespace ?? 'default'),
    selfSubjectReview(kube, token),
  ])
  return {
    ...(tokenReview ? { tokenReview } : {}),
    bearerProbe: { ...bearerProbe, meaning: meaningOf(bearerProbe.httpStatus) },
    ...(ssr ? { selfSubjectReview: ssr } : {}),
  }
}

function meaningOf(httpStatus: number): string {
  if (httpStatus === 401) return 'rejected: the API server does not accept the token'
  if (httpStatus === 403) return 'accepted: the token authenticates, RBAC denies this request'
  if (httpStatus >= 200 && httpStatus < 300) return 'accepted: the token authenticates and may list pods'
  return `inconclusive: HTTP ${httpStatus}`
}
