// Proves the test cluster is a real one: the tokens controller, TokenReview,
// key rotation, JWKS, and Deployments whose pods run on kwok nodes.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import * as k8s from '@kubernetes/client-node'
import { subscribe, unsubscribe } from 'node:diagnostics_channel'
import { makeKube } from '../../lib/kube/clients.ts'
import { rawRequest } from '../../lib/kube/raw.ts'
import {
  createNamespace,
  createTokenSecret,
  deleteNamespace,
  tokenReview,
  useCluster,
  waitFor,
  waitForToken,
  type TestCluster,
} from './support/cluster.ts'

function kidOf(token: string): string | undefined {
  const header = JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString('utf8')) as { kid?: string }
  return header.kid
}

async function publishedKids(kc: k8s.KubeConfig): Promise<string[]> {
  const res = await rawRequest(kc, '/openid/v1/jwks')
  expect(res.status).toBe(200)
  return (JSON.parse(res.body) as { keys: Array<{ kid: string }> }).keys.map((k) => k.kid)
}

describe('the e2e cluster is real', () => {
  let cluster: TestCluster
  let namespace: string

  beforeAll(async () => {
    cluster = await useCluster()
    namespace = await createNamespace(cluster.core, 'cluster')
    await waitFor('the default ServiceAccount', () => cluster.core.readNamespacedServiceAccount({ name: 'default', namespace }).catch(() => undefined))
  })
  afterAll(async () => {
    if (cluster && namespace) await deleteNamespace(cluster.core, namespace)
  })

  it('fills a token Secret, authenticates it, rejects it after an abrupt key rotation, and refills it when blanked', async () => {
    const { core, authn, kc, handle } = cluster
    const token = await createTokenSecret(core, namespace, 'probe-token', 'default')
    const before = await tokenReview(authn, token)
    expect(before.authenticated).toBe(true)
    expect(before.user?.username).toBe(`system:serviceaccount:${namespace}:default`)
    expect(await publishedKids(kc)).toContain(kidOf(token))

    await handle.rotateServiceAccountKey({ keepOld: false })
    const after = await tokenReview(authn, token)
    expect(after.authenticated ?? false).toBe(false)
    expect(await publishedKids(kc)).not.toContain(kidOf(token))

    // Blanking data.token makes the tokens controller sign a new one in place.
    await core.patchNamespacedSecret(
      { name: 'probe-token', namespace, body: [{ op: 'replace', path: '/data/token', value: '' }] },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.JsonPatch),
    )
    const refilled = await waitForToken(core, namespace, 'probe-token', token)
    expect(refilled).not.toBe(token)
    expect((await tokenReview(authn, refilled)).authenticated).toBe(true)
    expect(await publishedKids(kc)).toContain(kidOf(refilled))
  })

  it('keeps old tokens valid through a graceful rotation', async () => {
    const { core, authn, kc, handle } = cluster
    const token = await createTokenSecret(core, namespace, 'graceful-token', 'default')
    await handle.rotateServiceAccountKey({ keepOld: true })
    expect((await tokenReview(authn, token)).authenticated).toBe(true)
    const kids = await publishedKids(kc)
    expect(kids).toContain(kidOf(token))
    expect(kids.length).toBeGreaterThanOrEqual(2)
  })

  it('schedules a Deployment onto the nodes, and rollout restart replaces its pods', async () => {
    const { core, apps } = cluster
    const labels = { app: 'web' }
    await apps.createNamespacedDeployment({
      namespace,
      body: {
        metadata: { name: 'web' },
        spec: {
          replicas: 2,
          selector: { matchLabels: labels },
          template: { metadata: { labels }, spec: { containers: [{ name: 'web', image: 'registry.k8s.io/pause:3.10' }] } },
        },
      },
    })
    const runningUids = async () => {
      const pods = await core.listNamespacedPod({ namespace, labelSelector: 'app=web' })
      const running = pods.items.filter((p) => p.status?.phase === 'Running' && !p.metadata?.deletionTimestamp)
      return running.length === 2 && pods.items.length === 2 ? running.map((p) => p.metadata!.uid!).sort() : undefined
    }
    const first = await waitFor('2 Running pods of deployment web', runningUids)
    const pods = await core.listNamespacedPod({ namespace, labelSelector: 'app=web' })
    const nodes = (await core.listNode()).items.map((n) => n.metadata!.name!)
    expect(pods.items.map((p) => nodes.includes(p.spec?.nodeName ?? ''))).toEqual([true, true])

    // What `kubectl rollout restart deployment/web` does.
    await apps.patchNamespacedDeployment(
      {
        name: 'web',
        namespace,
        body: { spec: { template: { metadata: { annotations: { 'kubectl.kubernetes.io/restartedAt': new Date().toISOString() } } } } },
      },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.StrategicMergePatch),
    )
    const second = await waitFor('the restarted pods of deployment web', async () => {
      const uids = await runningUids()
      return uids && uids.every((uid) => !first.includes(uid)) ? uids : undefined
    })
    expect(second).toHaveLength(2)
  })
  it("sends the runbooks' requests over one kept connection, not one TLS handshake per request", async () => {
    // client-node 2.0 alone builds a connection pool per request (see reuseConnections).
    const kc = new k8s.KubeConfig()
    kc.loadFromString(cluster.kc.exportConfig())
    const kube = await makeKube(kc)
    let connected = 0
    const count = () => void connected++
    subscribe('undici:client:connected', count)
    try {
      for (let i = 0; i < 20; i++) await kube.core.readNamespace({ name: namespace })
      await Promise.all(Array.from({ length: 20 }, () => kube.core.listNamespacedSecret({ namespace, limit: 1 })))
    } finally {
      unsubscribe('undici:client:connected', count)
    }
    expect(connected).toBeGreaterThanOrEqual(1)
    expect(connected).toBeLessThanOrEqual(2)
  })
})
