// What a token found in Calico's files says about itself, from the CNI's
// point of view: is it the CNI's service account, and is it still within its
// lifetime. Deliberately small: the signature check against the cluster's
// keys is the caller's (lib/token/signature.ts verifySignature with the
// `decoded` returned here), and the full verdict is lib/token/status.ts.
import { decodeToken, type DecodedToken } from '../token/decode.ts'
import { describeToken, type TokenDescription } from '../token/describe.ts'

/** calico-node's own account (v3.25 and older, and whatever a v3.0 pod mounted) and the CNI plugin's (v3.26+). */
export const CNI_SERVICE_ACCOUNTS = ['calico-node', 'calico-cni-plugin'] as const

export interface CniTokenExpectation {
  /** The namespace calico-node runs in: kube-system (manifest) or calico-system (operator). */
  readonly namespace: string
  /** The accounts allowed; default CNI_SERVICE_ACCOUNTS. Pass detectCalico's cniServiceAccount to be strict. */
  readonly serviceAccounts?: readonly string[]
}

export interface CniTokenAssessment {
  /** For verifySignature. */
  readonly decoded: DecodedToken
  readonly description: TokenDescription
  /** `system:serviceaccount:<namespace>:<name>` for each expected account. */
  readonly expectedSubjects: readonly string[]
  readonly subjectMatches: boolean
  /** Legacy tokens never expire: false. */
  readonly expired: boolean
  readonly expiresAt?: string
  /** Negative once expired; absent when the token never expires. */
  readonly secondsLeft?: number
}

/**
 * Decodes and describes `token` (raw or base64-wrapped), and checks its
 * subject and expiry against `now`. Throws InvalidTokenError for something
 * that is not a JWT Kubernetes could have signed.
 */
export function assessCniToken(token: string, expected: CniTokenExpectation, now: Date): CniTokenAssessment {
  const decoded = decodeToken(token)
  const description = describeToken(decoded)
  const expectedSubjects = (expected.serviceAccounts ?? CNI_SERVICE_ACCOUNTS).map((name) => `system:serviceaccount:${expected.namespace}:${name}`)
  const expiresAt = description.expiresAt
  const msLeft = expiresAt === undefined ? undefined : Date.parse(expiresAt) - now.getTime()
  return {
    decoded,
    description,
    expectedSubjects,
    subjectMatches: description.subject !== undefined && expectedSubjects.includes(description.subject),
    // exp is the first instant the token is no longer accepted (RFC 7519 4.1.4).
    expired: msLeft !== undefined && msLeft <= 0,
    ...(expiresAt === undefined || msLeft === undefined ? {} : { expiresAt, secondsLeft: Math.floor(msLeft / 1000) }),
  }
}
