// The live checks of a token, each one request: TokenReview (as the operator),
// and presenting the token itself, as the classic
//   curl -H "Authorization: Bearer $TOKEN" https://<apiserver>/api/v1/namespaces/<ns>/pods
// check does: 401 = the API server rejects the token, 403 = the token is good
// but RBAC denies the request, 200 = good and allowed.
import { DomainError } from '../errors.ts'
import type { Kube } from './clients.ts'
import { rawRequest } from './raw.ts'

export interface TokenReviewResult {
  authenticated: boolean
  username?: string
  error?: string
}

export interface BearerProbeResult {
  httpStatus: number
  path: string
}

export interface SelfSubjectReviewResult {
  httpStatus: number
  username?: string
}

/** A token under test is a credential: it never goes to a server whose certificate was not verified. */
function requireVerifiedTls(kube: Kube): void {
  const cluster = kube.kc.getCurrentCluster()
  if (cluster?.skipTLSVerify) {
    throw new DomainError(`not sending a token to ${cluster.server}: its certificate is not verified (insecure-skip-tls-verify); add the cluster's certificate-authority to the kubeconfig`)
  }
}

export async function reviewToken(kube: Kube, token: string): Promise<TokenReviewResult> {
  requireVerifiedTls(kube)
  const review = await kube.authn.createTokenReview({ body: { spec: { token } } })
  const status = review.status ?? {}
  return {
    authenticated: status.authenticated === true,
    ...(status.user?.username ? { username: status.user.username } : {}),
    ...(status.error ? { error: status.error } : {}),
  }
}

/** How the API server says its cached copy of a legacy token's Secret is not the token presented. */
const STALE_COPY = /does not match server's copy/

export interface SettleOptions {
  /** How long a lagging answer is asked again (default 15 s). */
  readonly budgetMs?: number
  readonly sleep?: (ms: number) => Promise<void>
  readonly now?: () => number
}

/**
 * A TokenReview of a legacy token that was just written, asked until it
 * gives `expected` or the budget is spent. The API server authenticates
 * legacy tokens against its cached copy of the Secret, which can lag the
 * watch that showed the new token by seconds on a loaded server: a new
 * token is then refused ("does not match server's copy") and an old one
 * still accepted. Any other refusal of a new token is final at once.
 */
export async function reviewSettled(review: () => Promise<TokenReviewResult>, expected: boolean, opts: SettleOptions = {}): Promise<TokenReviewResult> {
  const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)))
  const now = opts.now ?? Date.now
  const deadline = now() + (opts.budgetMs ?? 15_000)
  for (let pause = 250; ; pause = Math.min(pause * 2, 2_000)) {
    const result = await review()
    const lagging = expected ? STALE_COPY.test(result.error ?? '') : result.authenticated
    if (result.authenticated === expected || !lagging || now() >= deadline) return result
    await sleep(pause)
  }
}

export async function probeWithBearer(kube: Kube, token: string, namespace = 'default'): Promise<BearerProbeResult> {
  requireVerifiedTls(kube)
  const path = `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods?limit=1`
  const res = await rawRequest(kube.kc, path, { bearerToken: token })
  return { httpStatus: res.status, path }
}

/** `kubectl auth whoami` with the token; undefined where the API is not served (before 1.28). */
export async function selfSubjectReview(kube: Kube, token: string): Promise<SelfSubjectReviewResult | undefined> {
  requireVerifiedTls(kube)
  const res = await rawRequest(kube.kc, '/apis/authentication.k8s.io/v1/selfsubjectreviews', {
    method: 'POST',
    bearerToken: token,
    body: { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' },
  })
  if (res.status === 404) return undefined
  if (res.status !== 201 && res.status !== 200) return { httpStatus: res.status }
  const body = JSON.parse(res.body) as { status?: { userInfo?: { username?: string } } }
  const username = body.status?.userInfo?.username
  return { httpStatus: res.status, ...(username ? { username } : {}) }
}

/** The API server's current verification keys, as served at /openid/v1/jwks. */
export async function fetchJwks(kube: Kube): Promise<unknown> {
  const res = await rawRequest(kube.kc, '/openid/v1/jwks')
  if (res.status !== 200) {
    throw new Error(
      `GET /openid/v1/jwks answered ${res.status}: the service-account issuer discovery endpoint is not readable; ` +
        'grant ClusterRole system:service-account-issuer-discovery or pass --key-file',
    )
  }
  return JSON.parse(res.body) as unknown
}
