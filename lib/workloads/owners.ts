// Who brings a pod back: walk the `controller: true` owner references up to
// the object a restart goes through. ReplicaSet → its Deployment (when it has
// one), Job → its CronJob; StatefulSet and DaemonSet carry their update
// strategy. Mirror pods (kubelet static pods) and pods nobody controls are
// told apart, because neither comes back through the API. Pure: the caller
// lists the controllers once and passes an index.
import type {
  V1DaemonSet,
  V1Deployment,
  V1Job,
  V1ObjectMeta,
  V1OwnerReference,
  V1Pod,
  V1ReplicaSet,
  V1StatefulSet,
} from '@kubernetes/client-node'
import { keyOf, namespaceOf, objectKey } from './keys.ts'

export const OwnerKind = {
  Deployment: 'Deployment',
  ReplicaSet: 'ReplicaSet',
  StatefulSet: 'StatefulSet',
  DaemonSet: 'DaemonSet',
  Job: 'Job',
  CronJob: 'CronJob',
  /** A controller of any other kind (custom resources, ReplicationController). */
  other: 'other',
  /** No controller: nothing re-creates the pod. */
  bare: 'bare',
  /** A mirror of a kubelet static pod. */
  static: 'static',
} as const
export type OwnerKind = (typeof OwnerKind)[keyof typeof OwnerKind]

export const UpdateStrategy = { RollingUpdate: 'RollingUpdate', OnDelete: 'OnDelete' } as const
export type UpdateStrategy = (typeof UpdateStrategy)[keyof typeof UpdateStrategy]

/** The kubelet's annotation on the API mirror of a static pod. */
export const MIRROR_POD_ANNOTATION = 'kubernetes.io/config.mirror'

export interface OwnerRef {
  readonly kind: OwnerKind
  readonly namespace: string
  /** The owner's name; for `bare` and `static`, the pod's own name. */
  readonly name: string
  readonly uid?: string
  /** StatefulSet and DaemonSet, when the index has them. */
  readonly updateStrategy?: UpdateStrategy
  /** StatefulSet rolling update partition, when above 0: pods with a lower ordinal are not updated. */
  readonly partition?: number
  /** Deployment, when the index has it and it is paused: a rollout would not roll. */
  readonly paused?: boolean
  /** For `other`: the controller as written in ownerReferences. */
  readonly controller?: { readonly apiVersion: string; readonly kind: string }
  /** The controller named by the pod (ReplicaSet, StatefulSet, DaemonSet) was not in the index: what is above it, or its strategy, is unknown. */
  readonly notInIndex?: boolean
}

/** The controllers of the cluster (or the namespaces in play), keyed `namespace/name`. */
export interface OwnerIndex {
  readonly replicaSets: ReadonlyMap<string, V1ReplicaSet>
  readonly deployments: ReadonlyMap<string, V1Deployment>
  readonly statefulSets: ReadonlyMap<string, V1StatefulSet>
  readonly daemonSets: ReadonlyMap<string, V1DaemonSet>
  readonly jobs: ReadonlyMap<string, V1Job>
}

export interface OwnerObjects {
  readonly replicaSets?: readonly V1ReplicaSet[]
  readonly deployments?: readonly V1Deployment[]
  readonly statefulSets?: readonly V1StatefulSet[]
  readonly daemonSets?: readonly V1DaemonSet[]
  readonly jobs?: readonly V1Job[]
}

export function buildOwnerIndex(objects: OwnerObjects = {}): OwnerIndex {
  const byKey = <T extends { metadata?: V1ObjectMeta }>(items: readonly T[] = []): Map<string, T> =>
    new Map(items.map((item) => [keyOf(item.metadata), item]))
  return {
    replicaSets: byKey(objects.replicaSets),
    deployments: byKey(objects.deployments),
    statefulSets: byKey(objects.statefulSets),
    daemonSets: byKey(objects.daemonSets),
    jobs: byKey(objects.jobs),
  }
}

/** The owner reference marked `controller: true`, if any (at most one is allowed). */
export function controllerOf(meta: V1ObjectMeta | undefined): V1OwnerReference | undefined {
  return meta?.ownerReferences?.find((ref) => ref.controller === true)
}

/** The API group of an apiVersion: `apps/v1` → `apps`, `v1` → `` (core). */
function groupOf(apiVersion: string | undefined): string {
  const slash = (apiVersion ?? '').indexOf('/')
  return slash < 0 ? '' : (apiVersion ?? '').slice(0, slash)
}

function is(ref: V1OwnerReference, group: string, kind: string): boolean {
  return ref.kind === kind && groupOf(ref.apiVersion) === group
}

/** Looks an owner up by key, and only accepts it if it is the same object (a re-created one has another uid). */
function lookup<T extends { metadata?: V1ObjectMeta }>(map: ReadonlyMap<string, T>, namespace: string, ref: V1OwnerReference): T | undefined {
  const found = map.get(objectKey(namespace, ref.name))
  if (!found) return undefined
  const uid = found.metadata?.uid
  return uid && ref.uid && uid !== ref.uid ? undefined : found
}

function strategyOf(type: string | undefined): UpdateStrategy {
  // Both StatefulSet and DaemonSet default to RollingUpdate.
  return type === UpdateStrategy.OnDelete ? UpdateStrategy.OnDelete : UpdateStrategy.RollingUpdate
}

function withUid(ref: V1OwnerReference): { uid?: string } {
  return ref.uid ? { uid: ref.uid } : {}
}

/** The object a restart of this pod goes through. */
export function resolveOwner(pod: V1Pod, index: OwnerIndex): OwnerRef {
  const namespace = namespaceOf(pod.metadata)
  const podName = pod.metadata?.name ?? ''
  if (pod.metadata?.annotations?.[MIRROR_POD_ANNOTATION] !== undefined) {
    return { kind: OwnerKind.static, namespace, name: podName }
  }
  const controller = controllerOf(pod.metadata)
  if (!controller) {
    return { kind: OwnerKind.bare, namespace, name: podName, ...(pod.metadata?.uid ? { uid: pod.metadata.uid } : {}) }
  }

  if (is(controller, 'apps', 'ReplicaSet')) {
    const replicaSet = lookup(index.replicaSets, namespace, controller)
    if (!replicaSet) return { kind: OwnerKind.ReplicaSet, namespace, name: controller.name, ...withUid(controller), notInIndex: true }
    const above = controllerOf(replicaSet.metadata)
    if (above && is(above, 'apps', 'Deployment')) {
      const deployment = lookup(index.deployments, namespace, above)
      return {
        kind: OwnerKind.Deployment,
        namespace,
        name: above.name,
        ...withUid(above),
        ...(deployment?.spec?.paused ? { paused: true } : {}),
      }
    }
    return { kind: OwnerKind.ReplicaSet, namespace, name: controller.name, ...withUid(controller) }
  }

  if (is(controller, 'apps', 'StatefulSet')) {
    const statefulSet = lookup(index.statefulSets, namespace, controller)
    if (!statefulSet) return { kind: OwnerKind.StatefulSet, namespace, name: controller.name, ...withUid(controller), notInIndex: true }
    const strategy = statefulSet.spec?.updateStrategy
    const partition = strategy?.rollingUpdate?.partition ?? 0
    return {
      kind: OwnerKind.StatefulSet,
      namespace,
      name: controller.name,
      ...withUid(controller),
      updateStrategy: strategyOf(strategy?.type),
      ...(strategyOf(strategy?.type) === UpdateStrategy.RollingUpdate && partition > 0 ? { partition } : {}),
    }
  }

  if (is(controller, 'apps', 'DaemonSet')) {
    const daemonSet = lookup(index.daemonSets, namespace, controller)
    if (!daemonSet) return { kind: OwnerKind.DaemonSet, namespace, name: controller.name, ...withUid(controller), notInIndex: true }
    return {
      kind: OwnerKind.DaemonSet,
      namespace,
      name: controller.name,
      ...withUid(controller),
      updateStrategy: strategyOf(daemonSet.spec?.updateStrategy?.type),
    }
  }

  if (is(controller, 'batch', 'Job')) {
    const job = lookup(index.jobs, namespace, controller)
    const above = controllerOf(job?.metadata)
    if (above && is(above, 'batch', 'CronJob')) return { kind: OwnerKind.CronJob, namespace, name: above.name, ...withUid(above) }
    return { kind: OwnerKind.Job, namespace, name: controller.name, ...withUid(controller) }
  }

  return {
    kind: OwnerKind.other,
    namespace,
    name: controller.name,
    ...withUid(controller),
    controller: { apiVersion: controller.apiVersion, kind: controller.kind },
  }
}

/** `Deployment/web`, `Rollout/web` (custom controllers by their own kind), `Pod/debug` (bare and static). */
export function ownerLabel(owner: OwnerRef): string {
  return `${ownerDisplayKind(owner)}/${owner.name}`
}

export function ownerDisplayKind(owner: OwnerRef): string {
  switch (owner.kind) {
    case OwnerKind.other:
      return owner.controller?.kind ?? 'other'
    case OwnerKind.bare:
    case OwnerKind.static:
      return 'Pod'
    default:
      return owner.kind
  }
}
