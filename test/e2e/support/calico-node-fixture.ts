// A TEST FIXTURE named like Calico's manifest install (Calico's names are
// fixed, so fix-calico finds it the way it finds a real install), that runs
// on the local cluster's real node. It is not Calico: Calico's images are not
// available here. In kube-system:
//  - ServiceAccount calico-node and, in the 2018 layout, a legacy token
//    Secret of it that the pod mounts as its ServiceAccount token (without
//    it, the pod has the projected token every pod has since 1.22);
//  - ConfigMap calico-config, cni_network_config verbatim from Calico v3.0's
//    manifest (test/fixtures/calico/manifest-v3.0-kdd.yaml), with
//    __SERVICEACCOUNT_TOKEN__ and __KUBECONFIG_FILEPATH__;
//  - DaemonSet calico-node (labels k8s-app=calico-node), on the real node
//    only: the init container install-cni runs install-cni-fixture.sh, which
//    renders 10-calico.conf and calico-kubeconfig with the mounted token into
//    the hostPath volume cni-net-dir as install-cni does; the container
//    calico-node mounts the same directory at /host/etc/cni/net.d (as
//    calico-node does since v3.23) and only waits, so fix-calico can exec
//    `ls` and `cat` in it.
// The hostPath is a directory of the test's own, never the node's real CNI
// config directory: containerd would load 10-calico.conf (it sorts before
// 10-ktr-bridge.conflist) and every pod on the node would fail to start.
import { randomBytes } from 'node:crypto'
import type * as k8s from '@kubernetes/client-node'
import { readFixture, loadObjects } from '../../fixtures/calico/fixtures.ts'
import { REAL_NODE_IMAGES, REAL_NODE_LABEL, REAL_NODE_TAINT } from '../../cluster/real-node.ts'
import { createTokenSecret, ignoreNotFound, waitFor, type TestCluster } from './cluster.ts'

export const NS = 'kube-system'
export const CALICO_NODE = 'calico-node'
export const CALICO_CONFIG = 'calico-config'
/** On every object of the fixture: what it is, for anyone who finds one left behind. */
export const FIXTURE_LABEL = 'ktr.dev/test-fixture'
const FIXTURE_VALUE = 'install-cni-fixture'
const fixtureMeta = { labels: { [FIXTURE_LABEL]: FIXTURE_VALUE }, annotations: { 'ktr.dev/not-calico': 'a kube-token-runbooks test fixture that renders CNI files like Calico install-cni; see test/e2e/support/calico-node-fixture.ts' } }

export interface CalicoNodeFixture {
  /** The legacy token Secret calico-node mounts: calico-node-token-<5 chars>, as the tokens controller named them before 1.24. */
  secret?: string
  /** Its token when the fixture was installed. */
  token?: string
}

/** The DaemonSet: install-cni-fixture.sh in an init container, then a container that waits. Without `secret`, the projected token. */
export function calicoNodeDaemonSet(secret: string | undefined, hostDir: string): k8s.V1DaemonSet {
  const netDir = { name: 'cni-net-dir', mountPath: '/host/etc/cni/net.d' }
  const token = { name: 'calico-node-token', mountPath: '/var/run/secrets/kubernetes.io/serviceaccount', readOnly: true }
  return {
    apiVersion: 'apps/v1',
    kind: 'DaemonSet',
    metadata: { name: CALICO_NODE, namespace: NS, ...fixtureMeta, labels: { ...fixtureMeta.labels, 'k8s-app': CALICO_NODE } },
    spec: {
      selector: { matchLabels: { 'k8s-app': CALICO_NODE } },
      updateStrategy: { type: 'RollingUpdate' },
      template: {
        metadata: { labels: { 'k8s-app': CALICO_NODE, ...fixtureMeta.labels }, annotations: fixtureMeta.annotations },
        spec: {
          hostNetwork: true,
          serviceAccountName: CALICO_NODE,
          // 2018: the pod's token was its ServiceAccount's legacy Secret, mounted where the projected one goes today.
          automountServiceAccountToken: secret === undefined,
          nodeSelector: { [REAL_NODE_LABEL]: 'true' },
          tolerations: [{ key: REAL_NODE_TAINT.key, operator: 'Exists', effect: REAL_NODE_TAINT.effect }],
          terminationGracePeriodSeconds: 1,
          initContainers: [
            {
              name: 'install-cni',
              image: REAL_NODE_IMAGES.probe,
              imagePullPolicy: 'Never',
              command: ['/bin/busybox', 'sh', '-c', readFixture('install-cni-fixture.sh'), 'install-cni-fixture'],
              env: [
                { name: 'CNI_NETWORK_CONFIG', valueFrom: { configMapKeyRef: { name: CALICO_CONFIG, key: 'cni_network_config' } } },
                { name: 'KUBERNETES_NODE_NAME', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } },
                { name: 'CNI_NET_DIR', value: hostDir },
              ],
              volumeMounts: secret === undefined ? [netDir] : [netDir, token],
            },
          ],
          containers: [
            {
              name: CALICO_NODE,
              image: REAL_NODE_IMAGES.probe,
              imagePullPolicy: 'Never',
              command: ['/bin/ktr-probe', 'pause'],
              volumeMounts: [netDir],
            },
          ],
          volumes: [
            { name: 'cni-net-dir', hostPath: { path: hostDir, type: 'DirectoryOrCreate' } },
            ...(secret === undefined ? [] : [{ name: 'calico-node-token', secret: { secretName: secret } }]),
          ],
        },
      },
    },
  }
}

/** Waits until no object of Calico's names is left in kube-system (another test file's, being deleted). */
export async function waitForNoCalico(cluster: TestCluster): Promise<void> {
  await waitFor(
    'kube-system to hold no DaemonSet calico-node, ConfigMap calico-config or ServiceAccount calico-node (left by another test file?)',
    async () => {
      const [ds, cm, sa] = await Promise.all([
        cluster.apps.readNamespacedDaemonSet({ namespace: NS, name: CALICO_NODE }).catch(notFoundAsUndefined),
        cluster.core.readNamespacedConfigMap({ namespace: NS, name: CALICO_CONFIG }).catch(notFoundAsUndefined),
        cluster.core.readNamespacedServiceAccount({ namespace: NS, name: CALICO_NODE }).catch(notFoundAsUndefined),
      ])
      return !ds && !cm && !sa
    },
    60_000,
  )
}

/** A name like those the tokens controller gave before 1.24: calico-node-token-<5 chars>. */
export function fixtureSecretName(): string {
  return `${CALICO_NODE}-token-${randomBytes(5).toString('hex').slice(0, 5)}`
}

/**
 * Creates the fixture and waits for its pod to run on the real node (install-cni
 * done). Call waitForNoCalico first: Calico's names are fixed, and other test
 * files use them too.
 */
export async function installCalicoNodeFixture(cluster: TestCluster, hostDir: string, secret?: string): Promise<CalicoNodeFixture> {
  await cluster.core.createNamespacedServiceAccount({ namespace: NS, body: { metadata: { name: CALICO_NODE, ...fixtureMeta } } })
  const token = secret === undefined ? undefined : await createTokenSecret(cluster.core, NS, secret, CALICO_NODE)
  const [configMap] = loadObjects('manifest-v3.0-kdd.yaml').configMaps
  await cluster.core.createNamespacedConfigMap({ namespace: NS, body: { ...configMap!, metadata: { name: CALICO_CONFIG, namespace: NS, ...fixtureMeta } } })
  await cluster.apps.createNamespacedDaemonSet({ namespace: NS, body: calicoNodeDaemonSet(secret, hostDir) })
  await runningFixturePod(cluster)
  return secret === undefined ? {} : { secret, token }
}

/** The fixture's one live pod, once Running and Ready (its init container has rendered the files); `notUid` waits for a new one. */
export async function runningFixturePod(cluster: TestCluster, notUid?: string, timeoutMs = 120_000): Promise<k8s.V1Pod> {
  return waitFor(
    `a Running calico-node fixture pod on the real node${notUid ? ' (a new one)' : ''}`,
    async () => {
      const pods = (await fixturePods(cluster)).filter((p) => !p.metadata?.deletionTimestamp)
      const pod = pods.length === 1 ? pods[0] : undefined
      const ready = pod?.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')
      return pod && ready && pod.metadata?.uid !== notUid ? pod : undefined
    },
    timeoutMs,
  )
}

export async function fixturePods(cluster: TestCluster): Promise<k8s.V1Pod[]> {
  return (await cluster.core.listNamespacedPod({ namespace: NS, labelSelector: `k8s-app=${CALICO_NODE},${FIXTURE_LABEL}=${FIXTURE_VALUE}` })).items
}

/** Deletes everything the fixture created and waits until its pods are gone, so the next file may create Calico's names again. */
export async function removeCalicoNodeFixture(cluster: TestCluster, secret: string | undefined): Promise<void> {
  await cluster.apps.deleteNamespacedDaemonSet({ namespace: NS, name: CALICO_NODE, propagationPolicy: 'Foreground' }).catch(ignoreNotFound)
  await cluster.core.deleteNamespacedConfigMap({ namespace: NS, name: CALICO_CONFIG }).catch(ignoreNotFound)
  if (secret) await cluster.core.deleteNamespacedSecret({ namespace: NS, name: secret }).catch(ignoreNotFound)
  await cluster.core.deleteNamespacedServiceAccount({ namespace: NS, name: CALICO_NODE }).catch(ignoreNotFound)
  await waitFor(
    'the calico-node fixture DaemonSet and its pods to be gone',
    async () => (await fixturePods(cluster)).length === 0 && !(await cluster.apps.readNamespacedDaemonSet({ namespace: NS, name: CALICO_NODE }).catch(notFoundAsUndefined)),
    90_000,
  )
}

function notFoundAsUndefined(err: unknown): undefined {
  ignoreNotFound(err)
  return undefined
}
