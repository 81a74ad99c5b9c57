// What every e2e test file needs: the cluster global setup provided, typed API
// clients, a generated namespace per test, and waits with deadlines.
import { randomBytes } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import * as k8s from '@kubernetes/client-node'
import { inject } from 'vitest'
import { attachCluster, type ClusterHandle } from '../../cluster/index.ts'

export interface TestCluster {
  handle: ClusterHandle
  kubeconfigPath: string
  kc: k8s.KubeConfig
  core: k8s.CoreV1Api
  apps: k8s.AppsV1Api
  authn: k8s.AuthenticationV1Api
}

export async function useCluster(): Promise<TestCluster> {
  const info = inject('cluster')
  const handle = await attachCluster(info)
  const kc = new k8s.KubeConfig()
  kc.loadFromFile(info.kubeconfigPath)
  return {
    handle,
    kubeconfigPath: info.kubeconfigPath,
    kc,
    core: kc.makeApiClient(k8s.CoreV1Api),
    apps: kc.makeApiClient(k8s.AppsV1Api),
    authn: kc.makeApiClient(k8s.AuthenticationV1Api),
  }
}

/** Creates a namespace with a generated name; delete it with `deleteNamespace`. */
export async function createNamespace(core: k8s.CoreV1Api, prefix: string): Promise<string> {
  const name = `${prefix}-${randomBytes(3).toString('hex')}`
  await core.createNamespace({ body: { metadata: { name, labels: { 'ktr-e2e': 'true' } } } })
  return name
}

/**
 * Waits until the namespaces of earlier test files (labelled ktr-e2e) are
 * gone, except `keep`: a run with -A sees every namespace, and one still
 * terminating holds stale tokens and workloads that vanish mid-run.
 */
export async function waitForOtherTestNamespacesGone(core: k8s.CoreV1Api, keep: readonly string[] = [], timeoutMs = 120_000): Promise<void> {
  await waitFor(
    'namespaces of earlier tests to be gone',
    async () => (await core.listNamespace({ labelSelector: 'ktr-e2e=true' })).items.every((n) => keep.includes(n.metadata?.name ?? '')),
    timeoutMs,
  )
}

export async function deleteNamespace(core: k8s.CoreV1Api, name: string): Promise<void> {
  await core.deleteNamespace({ name }).catch(ignoreNotFound)
}

export function ignoreNotFound(err: unknown): void {
  if ((err as { code?: number }).code !== 404) throw err
}

/** Polls until `probe` returns a value other than undefined/false, or fails naming `what`. */
export async function waitFor<T>(what: string, probe: () => Promise<T | undefined | false>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await probe()
    if (value !== undefined && value !== false) return value
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000}s waiting for ${what}`)
    await sleep(200)
  }
}

/** Creates a legacy token Secret for `serviceAccount` and waits for the controller to fill it. */
export async function createTokenSecret(core: k8s.CoreV1Api, namespace: string, name: string, serviceAccount: string): Promise<string> {
  await core.createNamespacedSecret({
    namespace,
    body: {
      metadata: { name, annotations: { 'kubernetes.io/service-account.name': serviceAccount } },
      type: 'kubernetes.io/service-account-token',
    },
  })
  return waitForToken(core, namespace, name)
}

export async function waitForToken(core: k8s.CoreV1Api, namespace: string, name: string, notEqualTo?: string): Promise<string> {
  return waitFor(`the tokens controller to fill Secret ${namespace}/${name}`, async () => {
    const secret = await core.readNamespacedSecret({ name, namespace })
    const encoded = secret.data?.token
    if (!encoded) return undefined
    const token = Buffer.from(encoded, 'base64').toString('utf8')
    return token !== notEqualTo ? token : undefined
  })
}

export async function tokenReview(authn: k8s.AuthenticationV1Api, token: string): Promise<k8s.V1TokenReviewStatus> {
  const review = await authn.createTokenReview({ body: { spec: { token } } })
  return review.status ?? {}
}

/** Creates legacy token Secrets `names` for `serviceAccount` at once, and waits until the controller filled every one. */
export async function createTokenSecrets(core: k8s.CoreV1Api, namespace: string, names: readonly string[], serviceAccount: string): Promise<Map<string, string>> {
  await Promise.all(
    names.map((name) =>
      core.createNamespacedSecret({
        namespace,
        body: { metadata: { name, annotations: { 'kubernetes.io/service-account.name': serviceAccount } }, type: 'kubernetes.io/service-account-token' },
      }),
    ),
  )
  return waitFor(`the tokens controller to fill ${names.length} Secrets in ${namespace}`, async () => {
    const tokens = await tokensIn(core, namespace)
    return names.every((name) => tokens.get(name)) ? tokens : undefined
  })
}

/** The token of every token Secret in `namespace` (name → token; empty when unfilled). */
export async function tokensIn(core: k8s.CoreV1Api, namespace: string): Promise<Map<string, string>> {
  const list = await core.listNamespacedSecret({ namespace, fieldSelector: 'type=kubernetes.io/service-account-token' })
  return new Map(list.items.map((s) => [s.metadata!.name!, Buffer.from(s.data?.token ?? '', 'base64').toString('utf8')]))
}

/** The names of every Secret in `namespace`, sorted: the inventory a run must not shrink. */
export async function secretNames(core: k8s.CoreV1Api, namespace: string): Promise<string[]> {
  return (await core.listNamespacedSecret({ namespace })).items.map((s) => s.metadata!.name!).sort()
}

/** A pod template (label app=`app`) whose container reads the token of Secret `secret` into an env var; kwok "runs" it, no image is pulled. */
export function podTemplateReading(app: string, secret: string): k8s.V1PodTemplateSpec {
  return {
    metadata: { labels: { app } },
    spec: { containers: [{ name: 'app', image: 'registry.k8s.io/pause:3.10', env: [{ name: 'T', valueFrom: { secretKeyRef: { name: secret, key: 'token' } } }] }] },
  }
}
