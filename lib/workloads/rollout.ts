// When is a restart done? The same rules as `kubectl rollout status`, plus
// one: the template must carry our restart (kubectl.kubernetes.io/restartedAt
// at or after ours), so a rollout that finished before the patch landed does
// not count. Each status says what is still awaited, for the wait's progress
// line; the *Complete predicates are the yes/no. For pods evicted one by one,
// podsReplaced checks that none of the old pod UIDs is left.
import type { V1DaemonSet, V1Deployment, V1ObjectMeta, V1Pod, V1StatefulSet } from '@kubernetes/client-node'
import { podRef, type PodRef } from './keys.ts'
import { templateRestartedSince } from './restarted-at.ts'
import { selectorMatches } from './selectors.ts'
import type { Workload } from './slim.ts'

/** Being deleted: it counts neither as old-and-left nor as a replacement. */
export const isTerminating = (pod: V1Pod): boolean => pod.metadata?.deletionTimestamp != null

/** The one readiness rule for every rollout: Ready, and not on its way out. */
export const isReady = (pod: V1Pod): boolean => !isTerminating(pod) && (pod.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True')

export interface RolloutStatus {
  readonly complete: boolean
  /** The rollout cannot finish by itself (Deployment ProgressDeadlineExceeded). */
  readonly failed?: true
  /** What was found or what is still awaited: `2 of 3 replicas updated`. */
  readonly detail: string
}

const NOT_RESTARTED = 'the pod template does not carry the restart yet'
const ON_DELETE = 'update strategy OnDelete: a template change replaces no pod; evict the pods and check podsReplaced'

function waiting(detail: string): RolloutStatus {
  return { complete: false, detail }
}

/** Undefined when the controller has seen the latest spec; else what it is behind on. */
function generationLag(meta: V1ObjectMeta | undefined, observed: number | undefined): string | undefined {
  const generation = meta?.generation ?? 0
  const seen = observed ?? 0
  return seen >= generation ? undefined : `waiting for the controller to observe generation ${generation} (it has seen ${seen})`
}

export function deploymentRolloutStatus(deploy: V1Deployment, restartedAt: Date | string): RolloutStatus {
  if (!templateRestartedSince(deploy.spec?.template, restartedAt)) return waiting(NOT_RESTARTED)
  const status = deploy.status ?? {}
  const lag = generationLag(deploy.metadata, status.observedGeneration)
  if (lag) return waiting(lag)
  const progressing = status.conditions?.find((condition) => condition.type === 'Progressing')
  if (progressing?.reason === 'ProgressDeadlineExceeded') {
    return { complete: false, failed: true, detail: `progress deadline exceeded: ${progressing.message ?? 'no message'}` }
  }
  const want = deploy.spec?.replicas ?? 1
  const updated = status.updatedReplicas ?? 0
  const total = status.replicas ?? 0
  const available = status.availableReplicas ?? 0
  if (updated < want) return waiting(`${updated} of ${want} replicas updated`)
  if (total > updated) return waiting(`${total - updated} old replicas pending termination`)
  if (available < want) return waiting(`${available} of ${want} updated replicas available`)
  return { complete: true, detail: `${want} replicas updated and available` }
}

export function statefulSetRolloutStatus(sts: V1StatefulSet, restartedAt: Date | string): RolloutStatus {
  const strategy = sts.spec?.updateStrategy
  if (strategy?.type === 'OnDelete') return waiting(ON_DELETE)
  if (!templateRestartedSince(sts.spec?.template, restartedAt)) return waiting(NOT_RESTARTED)
  const status = sts.status
  const lag = generationLag(sts.metadata, status?.observedGeneration)
  if (lag) return waiting(lag)
  const want = sts.spec?.replicas ?? 1
  const ready = status?.readyReplicas ?? 0
  const updated = status?.updatedReplicas ?? 0
  if (ready < want) return waiting(`${ready} of ${want} pods ready`)
  const partition = strategy?.rollingUpdate?.partition ?? 0
  if (partition > 0) {
    // Pods below the partition keep the old revision by design (kubectl counts the same way).
    const expected = Math.max(want - partition, 0)
    if (updated < expected) return waiting(`${updated} of ${expected} pods updated (partition ${partition})`)
    return { complete: true, detail: `${expected} pods at or above partition ${partition} updated and ${want} ready` }
  }
  if (status?.updateRevision !== status?.currentRevision) {
    return waiting(`${updated} of ${want} pods at revision ${status?.updateRevision ?? '?'}`)
  }
  return { complete: true, detail: `${want} pods ready at revision ${status?.currentRevision ?? '?'}` }
}

export function daemonSetRolloutStatus(ds: V1DaemonSet, restartedAt: Date | string): RolloutStatus {
  if (ds.spec?.updateStrategy?.type === 'OnDelete') return waiting(ON_DELETE)
  if (!templateRestartedSince(ds.spec?.template, restartedAt)) return waiting(NOT_RESTARTED)
  const status = ds.status
  const lag = generationLag(ds.metadata, status?.observedGeneration)
  if (lag) return waiting(lag)
  const desired = status?.desiredNumberScheduled ?? 0
  const updated = status?.updatedNumberScheduled ?? 0
  const available = status?.numberAvailable ?? 0
  if (updated < desired) return waiting(`${updated} of ${desired} updated pods scheduled`)
  if (available < desired) return waiting(`${available} of ${desired} updated pods available`)
  return { complete: true, detail: `${desired} pods updated and available` }
}

export function deploymentRolloutComplete(deploy: V1Deployment, restartedAt: Date | string): boolean {
  return deploymentRolloutStatus(deploy, restartedAt).complete
}

export function statefulSetRolloutComplete(sts: V1StatefulSet, restartedAt: Date | string): boolean {
  return statefulSetRolloutStatus(sts, restartedAt).complete
}

export function daemonSetRolloutComplete(ds: V1DaemonSet, restartedAt: Date | string): boolean {
  return daemonSetRolloutStatus(ds, restartedAt).complete
}

/** The pods in `afterPods` that are still one of the pods before the restart (same uid), terminating or not. */
export function podsRemaining(beforeUids: Iterable<string>, afterPods: readonly V1Pod[]): PodRef[] {
  const before = beforeUids instanceof Set ? (beforeUids as ReadonlySet<string>) : new Set(beforeUids)
  return afterPods.filter((pod) => before.has(pod.metadata?.uid || '\0')).map(podRef)
}

/**
 * Whether every pod from before is gone: none of `afterPods` has one of
 * `beforeUids`. Says nothing about the new pods being ready; the rollout
 * status (or the pod's Ready condition) does.
 */
export function podsReplaced(beforeUids: Iterable<string>, afterPods: readonly V1Pod[]): boolean {
  return podsRemaining(beforeUids, afterPods).length === 0
}

/** The kinds a rollout restart applies to (lib/kube/workloads.ts RestartableKinds). */
export type RolloutKind = 'Deployment' | 'StatefulSet' | 'DaemonSet'

export function rolloutStatusOf(kind: RolloutKind, workload: Workload, restartedAt: Date | string): RolloutStatus {
  switch (kind) {
    case 'Deployment':
      return deploymentRolloutStatus(workload as V1Deployment, restartedAt)
    case 'StatefulSet':
      return statefulSetRolloutStatus(workload as V1StatefulSet, restartedAt)
    case 'DaemonSet':
      return daemonSetRolloutStatus(workload as V1DaemonSet, restartedAt)
  }
}

export interface RolloutProgress {
  readonly done: boolean
  /** The controller reports it cannot finish (see RolloutStatus.failed). */
  readonly failed?: true
  /** The controller's word plus the old pods still there: `1 of 2 replicas updated; 1 old pod(s) still there: web-old`. */
  readonly note: string
  /** The controller's word alone. */
  readonly detail: string
  /** When done: the workload's pods now (none terminating), with their nodes. */
  readonly pods: Array<PodRef & { readonly node: string }>
}

/**
 * One look at a rollout of our restart, from the workload and the pods of its
 * namespace as last seen: done when the controller reports it complete and
 * none of `oldUids` is left, not even terminating. The workload's pods are
 * those its selector matches, as `kubectl rollout status` counts them.
 */
export function rolloutProgress(kind: RolloutKind, workload: Workload, namespacePods: readonly V1Pod[], restartedAt: Date | string, oldUids: Iterable<string>): RolloutProgress {
  const status = rolloutStatusOf(kind, workload, restartedAt)
  const left = podsRemaining(oldUids, namespacePods)
  const leftNote = left.length > 0 ? `; ${left.length} old pod(s) still there: ${left.map((p) => p.name).join(', ')}` : ''
  const note = `${status.detail}${leftNote}`
  if (status.failed) return { done: false, failed: true, note, detail: status.detail, pods: [] }
  if (!status.complete || left.length > 0) return { done: false, note, detail: status.detail, pods: [] }
  const selector = workload.spec?.selector
  const pods = namespacePods
    .filter((p) => !isTerminating(p) && selectorMatches(selector, p.metadata?.labels))
    .map((p) => ({ ...podRef(p), node: p.spec?.nodeName ?? '' }))
  return { done: true, note, detail: status.detail, pods }
}
