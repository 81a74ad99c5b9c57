// What the shared watch cache keeps of each object: only the fields the
// rollout, eviction and re-creation waits read (readiness, ownership, the
// restart annotation, the controller's status), not the pod specs. At 30,000
// pods a full copy would cost hundreds of MB next to the run's own list; the
// slim one is a few hundred bytes per pod. Pure; a field the waits start to
// read must be added here, which the tests of the waits catch.
import type { V1Container, V1ContainerStatus, V1DaemonSet, V1Deployment, V1EphemeralContainer, V1ObjectMeta, V1Pod, V1StatefulSet } from '@kubernetes/client-node'
import { controllerOf } from './owners.ts'

export type Workload = V1Deployment | V1StatefulSet | V1DaemonSet

function slimMeta(meta: V1ObjectMeta | undefined): V1ObjectMeta {
  if (!meta) return {}
  const { name, namespace, uid, labels, annotations, ownerReferences, deletionTimestamp, generation, resourceVersion, creationTimestamp } = meta
  return { name, namespace, uid, labels, annotations, ownerReferences, deletionTimestamp, generation, resourceVersion, creationTimestamp }
}

/**
 * Identity, labels, owners, node, phase and the Ready condition's status
 * (isReady, isTerminating, podsRemaining). Nothing reads the other
 * conditions or their times, which were half of what a slim pod kept.
 */
export function slimPod(pod: V1Pod): V1Pod {
  const status = pod.status
  const ready = status?.conditions?.find((c) => c.type === 'Ready')
  return {
    metadata: slimMeta(pod.metadata),
    spec: { containers: [], nodeName: pod.spec?.nodeName },
    status: { phase: status?.phase, conditions: ready ? [{ type: 'Ready', status: ready.status }] : [], startTime: status?.startTime },
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
 * What a discovery keeps of a pod that it need not keep whole, made as each
 * page of the list arrives: what the judgement reads (Secret references in
 * volumes, env, envFrom and imagePullSecrets; the waiting reasons that say a
 * pod is stuck creating), the plan (owners, labels, annotations) and the
 * proof (projected token volumes, start time, phase, deletion); not images,
 * commands, resources, probes, env values or the other statuses. At 30,000
 * pods the whole list was the run's largest allocation.
 */
export function slimListedPod(pod: V1Pod): V1Pod {
  const slim = slimPod(pod)
  const spec = pod.spec
  slim.spec = {
    ...slim.spec!,
    containers: secretRefsOnly(spec?.containers) ?? [],
    initContainers: secretRefsOnly(spec?.initContainers),
    ephemeralContainers: secretRefsOnly(spec?.ephemeralContainers),
    imagePullSecrets: spec?.imagePullSecrets,
    serviceAccountName: spec?.serviceAccountName,
    serviceAccount: spec?.serviceAccount,
    volumes: spec?.volumes,
  }
  slim.status = { ...slim.status, containerStatuses: waitingOnly(pod.status?.containerStatuses), initContainerStatuses: waitingOnly(pod.status?.initContainerStatuses) }
  partial.add(slim)
  return slim
}

/** Containers reduced to their names and the env entries that name a Secret. */
function secretRefsOnly<C extends V1Container | V1EphemeralContainer>(containers: C[] | undefined): C[] | undefined {
  return containers?.map(
    (c) =>
      ({
        name: c.name,
        env: c.env?.filter((e) => e.valueFrom?.secretKeyRef),
        envFrom: c.envFrom?.filter((e) => e.secretRef),
      }) as C,
  )
}

/** Container statuses reduced to their names and why they wait. */
function waitingOnly(statuses: V1ContainerStatus[] | undefined): V1ContainerStatus[] | undefined {
  return statuses?.map((c) => ({ name: c.name, state: c.state?.waiting ? { waiting: { reason: c.state.waiting.reason } } : {} }) as V1ContainerStatus)
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
