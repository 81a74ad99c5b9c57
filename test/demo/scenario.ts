// A realistic broken state for the demo and the rotate-tokens e2e test:
// workloads in two namespaces that use legacy token Secrets (volume, env,
// StatefulSet), an unrelated Deployment, a bare pod, a PodDisruptionBudget,
// and (when asked) a 2018-style Calico fixture in kube-system.
import * as k8s from '@kubernetes/client-node'
import { randomBytes } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { fill, loadObjects, readFixture } from '../fixtures/calico/fixtures.ts'

export interface Scenario {
  namespaces: string[]
  /** namespace/name of every token Secret the scenario made. */
  secrets: string[]
  /** namespace/kind/name of the workloads that depend on them. */
  dependents: string[]
  /** namespace/kind/name of a workload that depends on none. */
  unrelated: string
  barePod: string
  /** Whether the 2018-style Calico fixture was installed in kube-system. */
  calico: boolean
}

const pause = 'registry.k8s.io/pause:3.10'

export async function buildScenario(kc: k8s.KubeConfig, opts: { suffix?: string; calico?: boolean; log?: (line: string) => void } = {}): Promise<Scenario> {
  const log = opts.log ?? (() => {})
  const suffix = opts.suffix ?? randomBytes(2).toString('hex')
  const core = kc.makeApiClient(k8s.CoreV1Api)
  const apps = kc.makeApiClient(k8s.AppsV1Api)
  const policy = kc.makeApiClient(k8s.PolicyV1Api)
  const shop = `shop-${suffix}`
  const billing = `billing-${suffix}`
  for (const namespace of [shop, billing]) await core.createNamespace({ body: { metadata: { name: namespace, labels: { 'ktr-demo': 'true' } } } })

  const tokenSecret = async (namespace: string, sa: string) => {
    await core.createNamespacedServiceAccount({ namespace, body: { metadata: { name: sa } } })
    await core.createNamespacedSecret({
      namespace,
      body: { metadata: { name: `${sa}-token`, annotations: { 'kubernetes.io/service-account.name': sa } }, type: 'kubernetes.io/service-account-token' },
    })
    return `${namespace}/${sa}-token`
  }
  const secrets = [await tokenSecret(shop, 'web'), await tokenSecret(shop, 'debug'), await tokenSecret(billing, 'worker'), await tokenSecret(billing, 'ledger')]
  log(`created ${secrets.length} legacy token Secrets in ${shop} and ${billing}`)

  const podSpec = (sa: string, mount: 'volume' | 'env'): k8s.V1PodSpec => ({
    serviceAccountName: sa,
    containers: [
      {
        name: 'app',
        image: pause,
        ...(mount === 'env' ? { env: [{ name: 'API_TOKEN', valueFrom: { secretKeyRef: { name: `${sa}-token`, key: 'token' } } }] } : {}),
        ...(mount === 'volume' ? { volumeMounts: [{ name: 'token', mountPath: '/var/run/api-token' }] } : {}),
      },
    ],
    ...(mount === 'volume' ? { volumes: [{ name: 'token', secret: { secretName: `${sa}-token` } }] } : {}),
  })
  const deployment = (namespace: string, name: string, spec: k8s.V1PodSpec, replicas = 2) =>
    apps.createNamespacedDeployment({
      namespace,
      body: { metadata: { name }, spec: { replicas, selector: { matchLabels: { app: name } }, template: { metadata: { labels: { app: name } }, spec } } },
    })
  await deployment(shop, 'web', podSpec('web', 'volume'))
  await deployment(shop, 'static-site', { containers: [{ name: 'app', image: pause }] })
  await deployment(billing, 'worker', podSpec('worker', 'env'))
  await apps.createNamespacedStatefulSet({
    namespace: billing,
    body: {
      metadata: { name: 'ledger' },
      spec: { serviceName: 'ledger', replicas: 2, selector: { matchLabels: { app: 'ledger' } }, template: { metadata: { labels: { app: 'ledger' } }, spec: podSpec('ledger', 'volume') } },
    },
  })
  await core.createNamespacedPod({ namespace: shop, body: { metadata: { name: 'debug', labels: { app: 'debug' } }, spec: podSpec('debug', 'volume') } })
  await policy.createNamespacedPodDisruptionBudget({ namespace: shop, body: { metadata: { name: 'web' }, spec: { minAvailable: 1, selector: { matchLabels: { app: 'web' } } } } })
  log('created Deployments web (Secret volume), worker (env), static-site (no token), StatefulSet ledger, bare pod debug, PDB web')

  await waitForRunning(core, [shop, billing], 9)
  log('all 9 pods Running')
  if (opts.calico) {
    await installCalico2018(core, apps)
    log('installed a 2018-style Calico in kube-system: calico-config holds a literal calico-node token (the trap), DaemonSet calico-node')
  }
  return {
    namespaces: [shop, billing],
    secrets,
    dependents: [`${shop}/Deployment/web`, `${billing}/Deployment/worker`, `${billing}/StatefulSet/ledger`],
    unrelated: `${shop}/Deployment/static-site`,
    barePod: `${shop}/debug`,
    calico: opts.calico === true,
  }
}

/**
 * Calico v3.0 as installed by its manifest, with the classic mistake: the
 * calico-config ConfigMap holds calico-node's token itself instead of the
 * __SERVICEACCOUNT_TOKEN__ placeholder, so every restart writes it back.
 */
async function installCalico2018(core: k8s.CoreV1Api, apps: k8s.AppsV1Api): Promise<void> {
  const namespace = 'kube-system'
  await core.createNamespacedServiceAccount({ namespace, body: { metadata: { name: 'calico-node' } } })
  await core.createNamespacedSecret({
    namespace,
    body: { metadata: { name: 'calico-node-token', annotations: { 'kubernetes.io/service-account.name': 'calico-node' } }, type: 'kubernetes.io/service-account-token' },
  })
  const token = await waitForToken(core, namespace, 'calico-node-token')
  await core.createNamespacedConfigMap({ namespace, body: k8s.loadYaml<k8s.V1ConfigMap>(fill(readFixture('configmap-literal-token.yaml'), token)) })
  const [daemonSet] = loadObjects('manifest-v3.0-kdd.yaml').daemonSets
  await apps.createNamespacedDaemonSet({ namespace, body: { ...daemonSet, apiVersion: 'apps/v1', spec: { ...daemonSet!.spec!, updateStrategy: { type: 'RollingUpdate' } } } })
}

async function waitForToken(core: k8s.CoreV1Api, namespace: string, name: string): Promise<string> {
  const deadline = Date.now() + 60_000
  for (;;) {
    const encoded = (await core.readNamespacedSecret({ namespace, name })).data?.token
    if (encoded) return Buffer.from(encoded, 'base64').toString()
    if (Date.now() > deadline) throw new Error(`the tokens controller did not fill ${namespace}/${name} within 60s`)
    await sleep(250)
  }
}

async function waitForRunning(core: k8s.CoreV1Api, namespaces: string[], count: number): Promise<void> {
  const deadline = Date.now() + 120_000
  for (;;) {
    const pods = (await Promise.all(namespaces.map((namespace) => core.listNamespacedPod({ namespace })))).flatMap((l) => l.items)
    const running = pods.filter((p) => p.status?.phase === 'Running')
    if (running.length >= count) return
    if (Date.now() > deadline) throw new Error(`only ${running.length} of ${count} scenario pods Running after 120s`)
    await sleep(500)
  }
}

export async function deleteScenario(kc: k8s.KubeConfig, scenario: Scenario): Promise<void> {
  const core = kc.makeApiClient(k8s.CoreV1Api)
  for (const name of scenario.namespaces) await core.deleteNamespace({ name }).catch(() => {})
  if (!scenario.calico) return
  const apps = kc.makeApiClient(k8s.AppsV1Api)
  const namespace = 'kube-system'
  await apps.deleteNamespacedDaemonSet({ namespace, name: 'calico-node' }).catch(() => {})
  await core.deleteNamespacedConfigMap({ namespace, name: 'calico-config' }).catch(() => {})
  await core.deleteNamespacedSecret({ namespace, name: 'calico-node-token' }).catch(() => {})
  await core.deleteNamespacedServiceAccount({ namespace, name: 'calico-node' }).catch(() => {})
}
