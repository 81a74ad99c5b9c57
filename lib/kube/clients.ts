// The one place that builds Kubernetes API clients. Runbooks receive a `Kube`
// through their context instead of importing client-node themselves. Every
// typed API object is wrapped by `retrying` (retry.ts): each call gets a
// deadline (--request-timeout) and the retry policy, without any call site
// having to remember it.
import * as k8s from '@kubernetes/client-node'
import { DEFAULT_REQUEST_TIMEOUT_MS, httpStatusOf, retrying, type RetryOptions } from './retry.ts'

export interface Kube {
  kc: k8s.KubeConfig
  core: k8s.CoreV1Api
  apps: k8s.AppsV1Api
  authn: k8s.AuthenticationV1Api
  authz: k8s.AuthorizationV1Api
  policy: k8s.PolicyV1Api
  version: k8s.VersionApi
}

export interface KubeOptions extends RetryOptions {
  /** Per-request timeout in ms (--request-timeout); 0: none. Default 30 s. */
  requestTimeoutMs?: number
}

export function makeKube(kc: k8s.KubeConfig, options: KubeOptions = {}): Kube {
  const { requestTimeoutMs = DEFAULT_REQUEST_TIMEOUT_MS, ...rest } = options
  const wrap = <T extends object>(api: T): T => retrying(api, { ...rest, timeoutMs: requestTimeoutMs })
  return {
    kc,
    core: wrap(kc.makeApiClient(k8s.CoreV1Api)),
    apps: wrap(kc.makeApiClient(k8s.AppsV1Api)),
    authn: wrap(kc.makeApiClient(k8s.AuthenticationV1Api)),
    authz: wrap(kc.makeApiClient(k8s.AuthorizationV1Api)),
    policy: wrap(kc.makeApiClient(k8s.PolicyV1Api)),
    version: wrap(kc.makeApiClient(k8s.VersionApi)),
  }
}

/** The HTTP status of a client-node ApiException, or undefined for other errors. */
export function statusOf(err: unknown): number | undefined {
  return httpStatusOf(err)
}

export const isNotFound = (err: unknown) => statusOf(err) === 404
