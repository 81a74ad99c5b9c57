// calico-node's DaemonSet and pods, judged: which pods count, when they
// must restart, and where a container sees the node's CNI directory. Pure:
// lib/kube/calico.ts reads the objects, this module decides.
import type * as k8s from '@kubernetes/client-node'
import { templateRestartedSince } from '../workloads/restarted-at.ts'
import { CALICO_NODE } from './detect.ts'

export const isTerminating = (pod: k8s.V1Pod) => pod.metadata?.deletionTimestamp != null
export const isReady = (pod: k8s.V1Pod) => pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true

/**
 * Whether the pod started from a config rendered at or after `since`: it was
 * created in a later second, or its template carries a restart at or after
 * `since` (creationTimestamp has whole seconds only, so a pod created in the
 * same second as a change is told apart by the restart that made it).
 */
export function podStartedSince(pod: k8s.V1Pod, since: Date): boolean {
  const created = pod.metadata?.creationTimestamp
  if (created && Math.floor(new Date(created).getTime() / 1000) > Math.floor(since.getTime() / 1000)) return true
  return templateRestartedSince({ metadata: { annotations: pod.metadata?.annotations ?? {} } }, since)
}

export interface RestartInput {
  readonly pods: readonly k8s.V1Pod[]
  /** The latest change of the CNI token (ConfigMap fixed-at, Secrets regenerated-at). */
  readonly since?: Date
  /** Nodes that present a stale or missing token. */
  readonly staleNodes: readonly string[]
  /** Earlier steps that will change the token but have not yet (checked before any apply). */
  readonly pending: readonly string[]
  readonly forced: boolean
}

/** Why calico-node must restart, one phrase each; empty when it need not. Pure. */
export function restartReasons(input: RestartInput): string[] {
  const reasons: string[] = []
  if (input.since) {
    const since = input.since
    const old = input.pods.filter((p) => !podStartedSince(p, since))
    if (old.length > 0) reasons.push(`${old.length} calico-node pod(s) started before the CNI token changed at ${since.toISOString()}`)
  }
  if (input.pending.length > 0) reasons.push(`the CNI token changes in ${input.pending.join(' and ')}`)
  if (input.staleNodes.length > 0) reasons.push(`${input.staleNodes.length} node(s) present a stale or missing CNI token (${input.staleNodes.slice(0, 3).join(', ')}${input.staleNodes.length > 3 ? ', …' : ''})`)
  if (input.forced) reasons.push('--restart')
  return reasons
}

/** The latest of some RFC 3339 times (unset and unreadable ones skipped). */
export function latestChange(times: ReadonlyArray<string | undefined>): Date | undefined {
  const ms = times.map((t) => (t ? Date.parse(t) : NaN)).filter((t) => Number.isFinite(t))
  return ms.length > 0 ? new Date(Math.max(...ms)) : undefined
}

export interface CniMount {
  readonly container: string
  /** Where the node's CNI config directory appears inside that container. */
  readonly mountPath: string
}

/**
 * The running container that mounts the node's CNI config directory, and
 * where: install-cni while it is a regular container (v3.0 and older),
 * otherwise calico-node (it mounts the directory to refresh the token since
 * v3.23). Init containers cannot be exec'd into; subPath mounts show one
 * file, not the directory.
 */
export function cniMountOf(ds: k8s.V1DaemonSet, cniNetDir: string): CniMount | undefined {
  const spec = ds.spec?.template?.spec
  const volumes = (spec?.volumes ?? []).filter((v) => v.hostPath?.path?.replace(/\/+$/, '') === cniNetDir.replace(/\/+$/, '') || v.name === 'cni-net-dir').map((v) => v.name)
  const candidates = (spec?.containers ?? []).flatMap((c) =>
    (c.volumeMounts ?? []).filter((m) => volumes.includes(m.name) && !m.subPath && !m.subPathExpr).map((m) => ({ container: c.name, mountPath: m.mountPath })),
  )
  const rank = (name: string) => (name === 'install-cni' ? 0 : name === CALICO_NODE ? 1 : 2)
  return candidates.sort((a, b) => rank(a.container) - rank(b.container))[0]
}
