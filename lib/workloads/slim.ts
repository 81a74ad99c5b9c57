// What the shared watch cache keeps of each object: only the fields the
// rollout, eviction and re-creation waits read (readiness, ownership, the
// restart annotation, the controller's status), not the pod specs. At 30,000
// pods a full copy would cost hundreds of MB next to the run's own list; the
// slim one is a few hundred bytes per pod. Pure; a field the waits start to
// read must be added here, which the tests of the waits catch.
import type { V1DaemonSet, V1Deployment, V1ObjectMeta, V1Pod, V1StatefulSet } from '@kubernetes/client-node'

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
