// The one place that builds Kubernetes API clients, and the only module that
// loads @kubernetes/client-node's code. Everything else imports its types
// only, so `--help`, `--version` and offline checks never pay for the client
// (~1,000 modules); runbooks receive a `Kube` through their context. Every
// typed API object is wrapped by `retrying` (retry.ts): each call gets a
// deadline (--request-timeout) and the retry policy, without any call site
// having to remember it.
import { createHash } from 'node:crypto'
import type * as k8s from '@kubernetes/client-node'
import { DEFAULT_REQUEST_TIMEOUT_MS, httpStatusOf, retrying, type RetryOptions } from './retry.ts'

/** The patch formats the runbooks send (client-node's PatchStrategy values). */
export const PatchType = {
  json: 'application/json-patch+json',
  merge: 'application/merge-patch+json',
  strategic: 'application/strategic-merge-patch+json',
} as const
export type PatchType = (typeof PatchType)[keyof typeof PatchType]

export interface Kube {
  kc: k8s.KubeConfig
  core: k8s.CoreV1Api
  apps: k8s.AppsV1Api
  batch: k8s.BatchV1Api
  authn: k8s.AuthenticationV1Api
  authz: k8s.AuthorizationV1Api
  policy: k8s.PolicyV1Api
  version: k8s.VersionApi
  /** Request options that send a patch body as `type`. */
  patchAs: (type: PatchType) => ReturnType<typeof k8s.setHeaderOptions>
  watch: () => k8s.Watch
  exec: () => k8s.Exec
}

export interface KubeOptions extends RetryOptions {
  /** Per-request timeout in ms (--request-timeout); 0: none. Default 30 s. */
  requestTimeoutMs?: number
}

/** Loads client-node on first use (cached by the module system afterwards). */
export function loadClientNode(): Promise<typeof import('./client-node.ts')> {
  return import('./client-node.ts')
}

export async function makeKube(kc: k8s.KubeConfig, options: KubeOptions = {}): Promise<Kube> {
  const lib = await loadClientNode()
  reuseConnections(kc)
  const { requestTimeoutMs = DEFAULT_REQUEST_TIMEOUT_MS, ...rest } = options
  const wrap = <T extends object>(api: T): T => retrying(api, lib.Observable, { ...rest, timeoutMs: requestTimeoutMs })
  return {
    kc,
    core: wrap(kc.makeApiClient(lib.CoreV1Api)),
    apps: wrap(kc.makeApiClient(lib.AppsV1Api)),
    batch: wrap(kc.makeApiClient(lib.BatchV1Api)),
    authn: wrap(kc.makeApiClient(lib.AuthenticationV1Api)),
    authz: wrap(kc.makeApiClient(lib.AuthorizationV1Api)),
    policy: wrap(kc.makeApiClient(lib.PolicyV1Api)),
    version: wrap(kc.makeApiClient(lib.VersionApi)),
    patchAs: (type) => lib.setHeaderOptions('Content-Type', type),
    watch: () => new lib.Watch(kc),
    exec: () => new lib.Exec(kc),
  }
}

/** What client-node builds a connection pool (an undici Agent) from: the cluster and the TLS identity. */
type CreateDispatcher = (cluster: k8s.Cluster | null, agentOptions: Record<string, unknown>) => unknown
const TLS_FIELDS = ['ca', 'cert', 'key', 'pfx', 'passphrase', 'rejectUnauthorized', 'servername'] as const
const pooled = new WeakSet<k8s.KubeConfig>()

/**
 * One connection pool per cluster and TLS identity, not one per request.
 * client-node 2.0 builds a new undici Agent for every request, so every
 * request opened a new TCP and TLS connection and parsed the CA and client
 * key again: 2,704 handshakes in one rotation of 500 Secrets and 1,500 pods,
 * most of its CPU outside idle, about 200 MB of native memory churn, and 70
 * sockets at a time waiting out their keep-alive. Keyed by a hash of what
 * the pool is made of, so a certificate an exec plugin renews gets its own.
 * `createDispatcher` is private in client-node's types: checked here, so an
 * upgrade that renames it fails loudly instead of quietly reconnecting.
 */
export function reuseConnections(kc: k8s.KubeConfig): void {
  if (pooled.has(kc)) return
  const target = kc as unknown as { createDispatcher?: CreateDispatcher }
  const create = target.createDispatcher
  if (typeof create !== 'function') throw new Error('@kubernetes/client-node no longer has KubeConfig.createDispatcher: update reuseConnections in lib/kube/clients.ts')
  const pools = new Map<string, unknown>()
  target.createDispatcher = (cluster, agentOptions) => {
    const hash = createHash('sha256').update(JSON.stringify([cluster?.server ?? null, cluster?.proxyUrl ?? null]))
    for (const field of TLS_FIELDS) {
      const value = agentOptions[field]
      hash.update(`\0${field}=`).update(value === undefined ? '' : Buffer.isBuffer(value) ? value : String(value))
    }
    const key = hash.digest('hex')
    if (!pools.has(key)) pools.set(key, create.call(kc, cluster, agentOptions))
    return pools.get(key)
  }
  pooled.add(kc)
}

/** The HTTP status of a client-node ApiException, or undefined for other errors. */
export function statusOf(err: unknown): number | undefined {
  return httpStatusOf(err)
}

export const isNotFound = (err: unknown) => statusOf(err) === 404
