// The one place that builds Kubernetes API clients. Runbooks receive a `Kube`
// through their context instead of importing client-node themselves.
import * as k8s from '@kubernetes/client-node'

export interface Kube {
  kc: k8s.KubeConfig
  core: k8s.CoreV1Api
  apps: k8s.AppsV1Api
  authn: k8s.AuthenticationV1Api
  authz: k8s.AuthorizationV1Api
  policy: k8s.PolicyV1Api
  version: k8s.VersionApi
}

export function makeKube(kc: k8s.KubeConfig): Kube {
  return {
    kc,
    core: kc.makeApiClient(k8s.CoreV1Api),
    apps: kc.makeApiClient(k8s.AppsV1Api),
    authn: kc.makeApiClient(k8s.AuthenticationV1Api),
    authz: kc.makeApiClient(k8s.AuthorizationV1Api),
    policy: kc.makeApiClient(k8s.PolicyV1Api),
    version: kc.makeApiClient(k8s.VersionApi),
  }
}

/** The HTTP status of a client-node ApiException, or undefined for other errors. */
export function statusOf(err: unknown): number | undefined {
  const code = (err as { code?: unknown })?.code
  return typeof code === 'number' ? code : undefined
}

export const isNotFound = (err: unknown) => statusOf(err) === 404
