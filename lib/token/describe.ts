// What a token says about itself: which kind it is, whose it is, what it is
// bound to and when it is valid. Pure; every claim is type-checked, because a
// token is attacker-controlled: a claim of the wrong type counts as absent,
// and every string is made printable (see text.ts).
import type { DecodedToken, JsonObject } from './decode.ts'
import { isJsonObject, LATEST_NUMERIC_DATE } from './decode.ts'
import { fingerprint } from './fingerprint.ts'
import { printable } from './text.ts'

export const TokenKind = {
  /** Secret-based, signed by kube-controller-manager; never expires. */
  legacy: 'legacy',
  /** Issued through TokenRequest (projected into pods by the kubelet); expires. */
  bound: 'bound',
  /** Not shaped like either: not a service-account token, or from a foreign issuer. */
  unknown: 'unknown',
} as const
export type TokenKind = (typeof TokenKind)[keyof typeof TokenKind]

export const LEGACY_ISSUER = 'kubernetes/serviceaccount'
export const LegacyClaim = {
  namespace: 'kubernetes.io/serviceaccount/namespace',
  secretName: 'kubernetes.io/serviceaccount/secret.name',
  serviceAccountName: 'kubernetes.io/serviceaccount/service-account.name',
  serviceAccountUid: 'kubernetes.io/serviceaccount/service-account.uid',
} as const
const LEGACY_CLAIM_PREFIX = 'kubernetes.io/serviceaccount/'
/** Bound tokens nest their identity under this claim (k8s.io/kubernetes pkg/serviceaccount/claims.go). */
export const BOUND_CLAIM = 'kubernetes.io'
const SERVICE_ACCOUNT_USERNAME = /^system:serviceaccount:([^:]+):([^:]+)$/

export interface ObjectRef {
  readonly name: string
  readonly uid?: string
}

export interface BoundObjectRef extends ObjectRef {
  readonly kind: 'Secret' | 'Pod'
}

export interface TokenDescription {
  readonly kind: TokenKind
  readonly issuer?: string
  readonly subject?: string
  readonly namespace?: string
  readonly serviceAccount?: ObjectRef
  /** The object whose deletion invalidates the token: the Secret of a legacy token, the Pod (or Secret) of a bound one. */
  readonly boundTo?: BoundObjectRef
  /** The node the pod ran on (bound tokens, Kubernetes 1.30+). */
  readonly node?: ObjectRef
  readonly audiences: readonly string[]
  /** ISO 8601 timestamps. */
  readonly issuedAt?: string
  readonly notBefore?: string
  readonly expiresAt?: string
  /** When the token would have expired without --service-account-extend-token-expiration: past it, the kubelet should have refreshed it. */
  readonly warnAfter?: string
  readonly tokenId?: string
  readonly kid?: string
  readonly alg: string
  readonly fingerprint: string
}

export function describeToken(decoded: DecodedToken): TokenDescription {
  const { claims, header } = decoded
  const kind = kindOf(claims)
  const identity = kind === TokenKind.legacy ? legacyIdentity(claims) : kind === TokenKind.bound ? boundIdentity(claims) : {}
  const subject = stringClaim(claims, 'sub')
  return withoutUndefined({
    kind,
    issuer: stringClaim(claims, 'iss'),
    subject,
    ...identityFromSubject(subject),
    ...withoutUndefined(identity),
    audiences: audiencesOf(claims),
    issuedAt: dateClaim(claims, 'iat'),
    notBefore: dateClaim(claims, 'nbf'),
    expiresAt: dateClaim(claims, 'exp'),
    tokenId: stringClaim(claims, 'jti'),
    kid: header.kid === undefined ? undefined : printable(header.kid),
    alg: header.alg,
    fingerprint: fingerprint(decoded.compact),
  })
}

export function kindOf(claims: JsonObject): TokenKind {
  const hasLegacyClaims = Object.keys(claims).some((name) => name.startsWith(LEGACY_CLAIM_PREFIX))
  if (ownValue(claims, 'iss') === LEGACY_ISSUER && hasLegacyClaims) return TokenKind.legacy
  if (isJsonObject(ownValue(claims, BOUND_CLAIM))) return TokenKind.bound
  return TokenKind.unknown
}

type Identity = Pick<TokenDescription, 'namespace' | 'serviceAccount' | 'boundTo' | 'node' | 'warnAfter'>

function legacyIdentity(claims: JsonObject): Identity {
  const secretName = stringClaim(claims, LegacyClaim.secretName)
  return {
    namespace: stringClaim(claims, LegacyClaim.namespace),
    serviceAccount: objectRef(stringClaim(claims, LegacyClaim.serviceAccountName), stringClaim(claims, LegacyClaim.serviceAccountUid)),
    boundTo: secretName === undefined ? undefined : { kind: 'Secret', name: secretName },
  }
}

function boundIdentity(claims: JsonObject): Identity {
  const nested = ownValue(claims, BOUND_CLAIM)
  if (!isJsonObject(nested)) return {}
  const pod = refClaim(nested, 'pod')
  const secret = refClaim(nested, 'secret')
  return {
    namespace: stringClaim(nested, 'namespace'),
    serviceAccount: refClaim(nested, 'serviceaccount'),
    // TokenRequest binds to one object at most; a pod is what the kubelet binds to.
    boundTo: pod ? { kind: 'Pod', ...pod } : secret ? { kind: 'Secret', ...secret } : undefined,
    node: refClaim(nested, 'node'),
    warnAfter: dateClaim(nested, 'warnafter'),
  }
}

/** Fallback when the Kubernetes claims are missing: `sub` is `system:serviceaccount:<namespace>:<name>`. */
function identityFromSubject(subject: string | undefined): Identity {
  const match = subject === undefined ? null : SERVICE_ACCOUNT_USERNAME.exec(subject)
  if (match?.[1] === undefined || match[2] === undefined) return {}
  return { namespace: match[1], serviceAccount: { name: match[2] } }
}

function refClaim(claims: JsonObject, name: string): ObjectRef | undefined {
  const value = ownValue(claims, name)
  if (!isJsonObject(value)) return undefined
  return objectRef(stringClaim(value, 'name'), stringClaim(value, 'uid'))
}

function objectRef(name: string | undefined, uid: string | undefined): ObjectRef | undefined {
  if (name === undefined) return undefined
  return uid === undefined ? { name } : { name, uid }
}

function audiencesOf(claims: JsonObject): string[] {
  const aud = ownValue(claims, 'aud')
  const values: unknown[] = Array.isArray(aud) ? aud : [aud]
  return values.filter((value): value is string => typeof value === 'string' && value !== '').map((value) => printable(value))
}

function stringClaim(claims: JsonObject, name: string): string | undefined {
  const value = ownValue(claims, name)
  return typeof value === 'string' && value !== '' ? printable(value) : undefined
}

/**
 * A JWT NumericDate as an ISO string. decodeToken already refused exp, nbf
 * and iat of any other type; this stays lenient for the nested warnafter,
 * which only words a reason.
 */
function dateClaim(claims: JsonObject, name: string): string | undefined {
  const value = ownValue(claims, name)
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || value > LATEST_NUMERIC_DATE) return undefined
  return new Date(Math.floor(value * 1000)).toISOString()
}

/** Reads own properties only, so a claim named like an Object.prototype member cannot surprise us. */
function ownValue(object: JsonObject, name: string): unknown {
  return Object.hasOwn(object, name) ? object[name] : undefined
}

/** Drops keys whose value is undefined, so descriptions compare and print cleanly. */
function withoutUndefined<T extends object>(object: T): T {
  return Object.fromEntries(Object.entries(object).filter(([, value]) => value !== undefined)) as T
}
