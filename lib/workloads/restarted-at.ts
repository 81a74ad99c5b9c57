// The restart kubectl does: `kubectl rollout restart` patches the pod
// template with the annotation kubectl.kubernetes.io/restartedAt set to the
// current time (RFC 3339, seconds), as a strategic merge patch. Changing the
// template is what makes the controller roll; the value tells whose restart
// a rollout is.
import type { V1Pod, V1PodTemplateSpec } from '@kubernetes/client-node'
import { timeOf } from './keys.ts'

export const RESTARTED_AT_ANNOTATION = 'kubectl.kubernetes.io/restartedAt'

/** The Content-Type of the patch, as `kubectl rollout restart` sends it. */
export const RESTART_PATCH_CONTENT_TYPE = 'application/strategic-merge-patch+json'

export interface RestartPatch {
  spec: { template: { metadata: { annotations: { [RESTARTED_AT_ANNOTATION]: string } } } }
}

/** The annotation's value for `now`: RFC 3339 in UTC, whole seconds (`2026-06-01T12:00:00Z`). */
export function restartedAtValue(now: Date): string {
  return now.toISOString().replace(/\.\d{3}Z$/, 'Z')
}

/** The body of the strategic merge patch that restarts a Deployment, StatefulSet or DaemonSet at `now`. */
export function restartPatch(now: Date): RestartPatch {
  return { spec: { template: { metadata: { annotations: { [RESTARTED_AT_ANNOTATION]: restartedAtValue(now) } } } } }
}

/**
 * Whether the template carries a restart at or after `restartedAt` (compared
 * in whole seconds, the annotation's precision): our restart, or a later one.
 */
export function templateRestartedSince(template: V1PodTemplateSpec | undefined, restartedAt: Date | string): boolean {
  const annotated = timeOf(template?.metadata?.annotations?.[RESTARTED_AT_ANNOTATION])
  const wanted = timeOf(restartedAt)
  if (annotated === undefined || wanted === undefined) return false
  return Math.floor(annotated / 1000) >= Math.floor(wanted / 1000)
}

/**
 * Whether a pod that started at `started` (ms; the API's whole seconds)
 * started before `cutoff` (ms), the moment a token changed. Start times are
 * whole seconds and the stamps are the API server's clock rounded up, so on a
 * fast cluster the restart that follows a change can show a start time before
 * it. A pod made by a restart stamped at or after the change's second
 * (kubectl.kubernetes.io/restartedAt, copied from its template; the runbooks
 * restart only after the change) therefore counts as after. Anything else
 * started before the cutoff counts as before: fail closed.
 */
export function startedBefore(pod: V1Pod, started: number, cutoff: number): boolean {
  if (started >= cutoff) return false
  const second = (ms: number) => Math.floor(ms / 1000)
  const restarted = timeOf(pod.metadata?.annotations?.[RESTARTED_AT_ANNOTATION])
  return restarted === undefined || second(restarted) < second(cutoff)
}
