// Test builders: Kubernetes objects as the API returns them, small enough to
// read in a table row. Names default to the `default` namespace; uids are
// derived from kind and name (`uid-ReplicaSet-web-7d9f`), so an owner
// reference built with ownerRef(kind, name) points at the object built with
// make<Kind>(name). Timestamps are fixed; no test reads the clock.
import type {
  CoreV1Event,
  V1Container,
  V1CronJob,
  V1DaemonSet,
  V1DaemonSetStatus,
  V1Deployment,
  V1DeploymentStatus,
  V1EnvFromSource,
  V1EnvVar,
  V1EphemeralContainer,
  V1Job,
  V1LabelSelector,
  V1OwnerReference,
  V1Pod,
  V1PodDisruptionBudget,
  V1ReplicaSet,
  V1Secret,
  V1StatefulSet,
  V1StatefulSetStatus,
  V1Volume,
} from '@kubernetes/client-node'

export const CREATED = new Date('2026-01-01T00:00:00Z')

export function uidOf(kind: string, name: string): string {
  return `uid-${kind}-${name}`
}

function date(value: Date | string | undefined): Date | undefined {
  return value === undefined ? undefined : new Date(value)
}

const API_VERSIONS: Readonly<Record<string, string>> = {
  Deployment: 'apps/v1',
  ReplicaSet: 'apps/v1',
  StatefulSet: 'apps/v1',
  DaemonSet: 'apps/v1',
  Job: 'batch/v1',
  CronJob: 'batch/v1',
  Node: 'v1',
  ReplicationController: 'v1',
}

export interface OwnerRefOptions {
  apiVersion?: string
  uid?: string
  /** Defaults to true: the reference that names the pod's controller. */
  controller?: boolean
}

/** An owner reference to the object make<Kind>(name) builds (same uid). */
export function ownerRef(kind: string, name: string, options: OwnerRefOptions = {}): V1OwnerReference {
  return {
    apiVersion: options.apiVersion ?? API_VERSIONS[kind] ?? 'example.com/v1',
    kind,
    name,
    uid: options.uid ?? uidOf(kind, name),
    controller: options.controller ?? true,
    blockOwnerDeletion: true,
  }
}

// ---------------------------------------------------------------------------
// Pod spec parts

export function secretVolume(name: string, secretName = name, optional?: boolean): V1Volume {
  return { name, secret: { secretName, ...(optional === undefined ? {} : { optional }) } }
}

export function projectedSecretVolume(name: string, ...secretNames: string[]): V1Volume {
  return { name, projected: { sources: secretNames.map((secret) => ({ secret: { name: secret } })) } }
}

/** The volume the ServiceAccount admission plugin adds to every pod (1.22+). */
export function kubeApiAccessVolume(name = 'kube-api-access-7xq2m'): V1Volume {
  return {
    name,
    projected: {
      defaultMode: 0o644,
      sources: [
        { serviceAccountToken: { expirationSeconds: 3607, path: 'token' } },
        { configMap: { name: 'kube-root-ca.crt', items: [{ key: 'ca.crt', path: 'ca.crt' }] } },
        { downwardAPI: { items: [{ path: 'namespace', fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.namespace' } }] } },
      ],
    },
  }
}

export function configMapVolume(name: string, configMap = name): V1Volume {
  return { name, configMap: { name: configMap } }
}

export function secretEnv(name: string, secret: string, key = 'token', optional?: boolean): V1EnvVar {
  return { name, valueFrom: { secretKeyRef: { name: secret, key, ...(optional === undefined ? {} : { optional }) } } }
}

export function configMapEnv(name: string, configMap: string, key = 'value'): V1EnvVar {
  return { name, valueFrom: { configMapKeyRef: { name: configMap, key } } }
}

export function secretEnvFrom(secret: string, prefix?: string): V1EnvFromSource {
  return { secretRef: { name: secret }, ...(prefix === undefined ? {} : { prefix }) }
}

export function container(name: string, parts: { env?: V1EnvVar[]; envFrom?: V1EnvFromSource[] } = {}): V1Container {
  return { name, image: `registry.example/${name}:1`, ...parts }
}

export function ephemeralContainer(name: string, parts: { env?: V1EnvVar[]; envFrom?: V1EnvFromSource[] } = {}): V1EphemeralContainer {
  return { name, image: 'registry.example/debug:1', ...parts }
}

// ---------------------------------------------------------------------------
// Pods

export interface PodOptions {
  namespace?: string
  uid?: string
  labels?: Record<string, string>
  annotations?: Record<string, string>
  /** The controller (see ownerRef); more references with ownerReferences. */
  owner?: V1OwnerReference
  ownerReferences?: V1OwnerReference[]
  serviceAccountName?: string
  /** Defaults to one kube-api-access volume, as admission adds it. */
  volumes?: V1Volume[]
  /** Defaults to one container `app`. */
  containers?: V1Container[]
  initContainers?: V1Container[]
  ephemeralContainers?: V1EphemeralContainer[]
  imagePullSecrets?: string[]
  nodeName?: string
  /** Defaults to Running. */
  phase?: string
  /** A waiting reason for every container (and init container), e.g. ContainerCreating. */
  waiting?: string
  createdAt?: Date | string
  /** Defaults to createdAt when the pod is not Pending. */
  startTime?: Date | string | null
  deletionTimestamp?: Date | string
}

export function makePod(name = 'app-0', options: PodOptions = {}): V1Pod {
  const namespace = options.namespace ?? 'default'
  const phase = options.phase ?? 'Running'
  const createdAt = date(options.createdAt) ?? CREATED
  const startTime = options.startTime === null ? undefined : (date(options.startTime) ?? (phase === 'Pending' ? undefined : createdAt))
  const containers = options.containers ?? [container('app')]
  const waitingState = options.waiting ? { waiting: { reason: options.waiting } } : { running: { startedAt: startTime ?? createdAt } }
  const statusOf = (c: V1Container) => ({ name: c.name, image: c.image ?? '', imageID: '', ready: !options.waiting, restartCount: 0, state: waitingState })
  const ownerReferences = [...(options.owner ? [options.owner] : []), ...(options.ownerReferences ?? [])]
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      namespace,
      uid: options.uid ?? uidOf('Pod', `${namespace}-${name}`),
      resourceVersion: '1001',
      creationTimestamp: createdAt,
      labels: options.labels ?? { app: name.replace(/-[^-]+$/, '') },
      ...(options.annotations ? { annotations: options.annotations } : {}),
      ...(ownerReferences.length > 0 ? { ownerReferences } : {}),
      ...(options.deletionTimestamp ? { deletionTimestamp: date(options.deletionTimestamp) } : {}),
      managedFields: [{ manager: 'kube-controller-manager', operation: 'Update', apiVersion: 'v1', time: createdAt }],
    },
    spec: {
      serviceAccountName: options.serviceAccountName ?? 'default',
      nodeName: options.nodeName ?? 'worker-1',
      containers,
      ...(options.initContainers ? { initContainers: options.initContainers } : {}),
      ...(options.ephemeralContainers ? { ephemeralContainers: options.ephemeralContainers } : {}),
      volumes: options.volumes ?? [kubeApiAccessVolume()],
      ...(options.imagePullSecrets ? { imagePullSecrets: options.imagePullSecrets.map((secret) => ({ name: secret })) } : {}),
    },
    status: {
      phase,
      ...(startTime ? { startTime } : {}),
      containerStatuses: containers.map(statusOf),
      ...(options.initContainers ? { initContainerStatuses: options.initContainers.map(statusOf) } : {}),
    },
  }
}

// ---------------------------------------------------------------------------
// Secrets

export function makeSecret(name: string, options: { namespace?: string; serviceAccount?: string; type?: string; token?: string } = {}): V1Secret {
  const serviceAccount = options.serviceAccount ?? 'default'
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: {
      name,
      namespace: options.namespace ?? 'default',
      uid: uidOf('Secret', name),
      annotations: { 'kubernetes.io/service-account.name': serviceAccount, 'kubernetes.io/service-account.uid': uidOf('ServiceAccount', serviceAccount) },
    },
    type: options.type ?? 'kubernetes.io/service-account-token',
    data: { token: Buffer.from(options.token ?? 'not-a-real-token').toString('base64') },
  }
}

// ---------------------------------------------------------------------------
// Controllers

interface ControllerOptions {
  namespace?: string
  owner?: V1OwnerReference
  generation?: number
  replicas?: number
  labels?: Record<string, string>
  /** The pod template's kubectl.kubernetes.io/restartedAt. */
  restartedAt?: string
}

function meta(kind: string, name: string, options: ControllerOptions) {
  return {
    name,
    namespace: options.namespace ?? 'default',
    uid: uidOf(kind, name),
    generation: options.generation ?? 1,
    ...(options.owner ? { ownerReferences: [options.owner] } : {}),
  }
}

function template(name: string, options: ControllerOptions) {
  const labels = options.labels ?? { app: name }
  return {
    metadata: { labels, ...(options.restartedAt ? { annotations: { 'kubectl.kubernetes.io/restartedAt': options.restartedAt } } : {}) },
    spec: { containers: [container('app')] },
  }
}

export function makeDeployment(name: string, options: ControllerOptions & { paused?: boolean; status?: V1DeploymentStatus } = {}): V1Deployment {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: meta('Deployment', name, options),
    spec: {
      replicas: options.replicas ?? 1,
      ...(options.paused ? { paused: true } : {}),
      selector: { matchLabels: options.labels ?? { app: name } },
      template: template(name, options),
    },
    status: options.status ?? {},
  }
}

export function makeReplicaSet(name: string, options: ControllerOptions = {}): V1ReplicaSet {
  return {
    apiVersion: 'apps/v1',
    kind: 'ReplicaSet',
    metadata: meta('ReplicaSet', name, options),
    spec: { replicas: options.replicas ?? 1, selector: { matchLabels: options.labels ?? { app: name } }, template: template(name, options) },
  }
}

export type Strategy = 'RollingUpdate' | 'OnDelete'

export function makeStatefulSet(
  name: string,
  options: ControllerOptions & { strategy?: Strategy; partition?: number; status?: Partial<V1StatefulSetStatus> } = {},
): V1StatefulSet {
  const strategy = options.strategy ?? 'RollingUpdate'
  return {
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: meta('StatefulSet', name, options),
    spec: {
      replicas: options.replicas ?? 1,
      serviceName: name,
      selector: { matchLabels: options.labels ?? { app: name } },
      template: template(name, options),
      updateStrategy:
        strategy === 'RollingUpdate' ? { type: strategy, rollingUpdate: { partition: options.partition ?? 0 } } : { type: strategy },
    },
    status: { replicas: options.replicas ?? 1, ...options.status },
  }
}

export function makeDaemonSet(name: string, options: ControllerOptions & { strategy?: Strategy; status?: Partial<V1DaemonSetStatus> } = {}): V1DaemonSet {
  return {
    apiVersion: 'apps/v1',
    kind: 'DaemonSet',
    metadata: meta('DaemonSet', name, options),
    spec: {
      selector: { matchLabels: options.labels ?? { app: name } },
      template: template(name, options),
      updateStrategy: { type: options.strategy ?? 'RollingUpdate' },
    },
    status: { currentNumberScheduled: 3, desiredNumberScheduled: 3, numberMisscheduled: 0, numberReady: 3, ...options.status },
  }
}

export function makeJob(name: string, options: ControllerOptions = {}): V1Job {
  return { apiVersion: 'batch/v1', kind: 'Job', metadata: meta('Job', name, options), spec: { template: template(name, options) } }
}

export function makeCronJob(name: string, options: ControllerOptions = {}): V1CronJob {
  return {
    apiVersion: 'batch/v1',
    kind: 'CronJob',
    metadata: meta('CronJob', name, options),
    spec: { schedule: '*/5 * * * *', jobTemplate: { spec: { template: template(name, options) } } },
  }
}

// ---------------------------------------------------------------------------
// Budgets and events

/** A policy/v1 PodDisruptionBudget; `disruptionsAllowed: null` leaves out the status (not yet observed). */
export function makePdb(
  name: string,
  options: { namespace?: string; selector?: V1LabelSelector; disruptionsAllowed?: number | null } = {},
): V1PodDisruptionBudget {
  const allowed = options.disruptionsAllowed === undefined ? 1 : options.disruptionsAllowed
  return {
    apiVersion: 'policy/v1',
    kind: 'PodDisruptionBudget',
    metadata: { name, namespace: options.namespace ?? 'default', uid: uidOf('PodDisruptionBudget', name), generation: 1 },
    spec: { maxUnavailable: 1, selector: options.selector ?? { matchLabels: { app: name } } },
    ...(allowed === null
      ? {}
      : { status: { disruptionsAllowed: allowed, currentHealthy: 3, desiredHealthy: 2, expectedPods: 3, observedGeneration: 1 } }),
  }
}

/** A kubelet event about `pod` (uid included unless `uid: null`). */
export function makeEvent(pod: V1Pod, options: { reason?: string; message: string; uid?: string | null; name?: string }): CoreV1Event {
  const podName = pod.metadata?.name ?? ''
  const uid = options.uid === undefined ? pod.metadata?.uid : (options.uid ?? undefined)
  return {
    apiVersion: 'v1',
    kind: 'Event',
    metadata: { name: options.name ?? `${podName}.18a2b3c4d5e6f7a8`, namespace: pod.metadata?.namespace ?? 'default' },
    involvedObject: { apiVersion: 'v1', kind: 'Pod', name: podName, namespace: pod.metadata?.namespace ?? 'default', ...(uid ? { uid } : {}) },
    reason: options.reason ?? 'FailedMount',
    message: options.message,
    type: 'Warning',
    source: { component: 'kubelet', host: 'worker-1' },
    count: 3,
    firstTimestamp: CREATED,
    lastTimestamp: CREATED,
  }
}

/** The kubelet's message for a secret volume it cannot mount. */
export function secretNotFoundMessage(volume: string, secret = volume): string {
  return `MountVolume.SetUp failed for volume "${volume}" : secret "${secret}" not found`
}
