// What the shared watch cache keeps of each object: only the fields the
// rollout, eviction and re-creation waits read (readiness, ownership, the
// restart annotation, the controller's status), not the pod specs. At 30,000
// pods a full copy would cost hundreds of MB next to the run's own list; the
// slim one is a few hundred bytes per pod. Pure; a field the waits start to
// read must be added here, which the tests of the waits catch.
import type { V1DaemonSet, V1Deployment, V1ObjectMeta, V1Pod, V1StatefulSet } from '@kubernetes/client-node'
import { controllerOf } from './owners.ts'

export type Workload = V1Deployment | V1StatefulSet | V1DaemonSet

function slimMeta(meta: V1ObjectMeta | undefined): V1ObjectMeta {
  if (!meta) return {}
  const { name, namespace, uid, labels, annotations, ownerReferences, deletionTimestamp, generation, resourceVersion, creationTimestamp } = meta
  return { name, namespace, uid, labels, annotations, ownerReferences, deletionTimestamp, generation, resourceVersion, creationTimestamp }
}

/** Identity, labels, owners, node, phase and conditions (isReady, isTerminating, podsRemaining). */
export function slimPod(pod: V1Pod): V1Pod {
  const status = pod.status
  return {
    metadata: slimMeta(pod.metadata),
    spec: { containers: [], nodeName: pod.spec?.nodeName },
    status: { phase: status?.phase, conditions: status?.conditions, startTime: status?.startTime },
  }
}

/** Pods `slimListedPod` made: not whole, so never a backup or a spec to re-create. */
const partial = new WeakSet<V1Pod>()

/** Controllers that replace their own pods: a rollout restart, never a backup of the pod, handles theirs. */
const SELF_REPLACING = new Set(['ReplicaSet', 'StatefulSet', 'DaemonSet', 'Job'])

/**
 * Whether a discovery must keep this pod whole: a bare pod (re-created from
 * its spec, backed up first) or a pod of another controller (evicted, backed
 * up first). The pods of ReplicaSets, StatefulSets, DaemonSets and Jobs are
 * restarted through their owner; one that is evicted after all (a ReplicaSet
 * without a Deployment) is read whole before its backup.
 */
export function keepsWholePod(pod: V1Pod): boolean {
  const controller = controllerOf(pod.metadata)
  return controller === undefined || !SELF_REPLACING.has(controller.kind)
}

/**
 * What a discovery keeps of a pod once its dependencies are known: what the
 * plan (owners, labels, annotations), the proof (projected token volumes,
 * start time, phase, deletion) and the counts read; not the containers, their
 * env and mounts, or the container statuses. At 30,000 pods the whole objects
 * were most of the run's live heap.
 */
export function slimListedPod(pod: V1Pod): V1Pod {
  const slim = slimPod(pod)
  slim.spec = { ...slim.spec!, serviceAccountName: pod.spec?.serviceAccountName, volumes: pod.spec?.volumes }
  partial.add(slim)
  return slim
}

/** False for a pod `slimListedPod` made. */
export function isWholePod(pod: V1Pod): boolean {
  return !partial.has(pod)
}

/** Replicas, selector, update strategy, the template's annotations, and the whole status (the *RolloutStatus rules). */
export function slimWorkload<T extends Workload>(workload: T): T {
  const spec = workload.spec
  if (!spec) return { metadata: slimMeta(workload.metadata), status: workload.status } as T
  const { template, ...rest } = spec as Workload['spec'] & { updateStrategy?: unknown; strategy?: unknown }
  return {
    metadata: slimMeta(workload.metadata),
    spec: { ...rest, template: { metadata: { annotations: template?.metadata?.annotations } } },
    status: workload.status,
  } as T
}
