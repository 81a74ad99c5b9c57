// Which token Secrets were regenerated, and which pods still hold the token
// from before. No local state: regenerate-tokens leaves the time on each
// Secret (kube-token-runbooks.io/regenerated-at), so a pod that names one
// depends on it only if it started before that time; a pod started after it
// read the new token at start-up. A Secret that replaced a deleted one
// (clusters before 1.24) carries the old name (kube-token-runbooks.io/replaces):
// pods naming the old name depend whatever their age. Pure: the caller lists.
import type { V1Pod, V1Secret } from '@kubernetes/client-node'
import { BACKUP_DIR_ANNOTATION, REGENERATED_AT_ANNOTATION, REPLACES_ANNOTATION } from '../annotations.ts'
import { DependencyKind, type DependencyReason, type DependentPod } from './dependents.ts'
import { keyOf, namespaceOf, objectKey, podRef, timeOf, type PodRef } from './keys.ts'
import { startedBefore } from './restarted-at.ts'

export interface RegeneratedSecret {
  /** `namespace/name`. */
  readonly key: string
  readonly namespace: string
  readonly name: string
  /** When its token was re-issued (ISO 8601). Undefined: every pod that names it counts (named with --secret, no annotation). */
  readonly regeneratedAt?: string
  /** `namespace/old-name` of the Secret it replaced (before 1.24). */
  readonly replaces?: string
  /** What is odd about its annotations, for the report. */
  readonly note?: string
  /** The backup directory of its copy from before the regeneration (kube-token-runbooks.io/backup-dir). */
  readonly backupDir?: string
}

/** RFC 3339 as the API server writes it: a date, a time and a zone (Z or ±hh:mm). */
const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})$/

/** Milliseconds of an RFC 3339 time, or undefined when `text` is not one. */
export function parseRfc3339(text: string | undefined): number | undefined {
  if (text === undefined || !RFC3339.test(text.trim())) return undefined
  const ms = Date.parse(text.trim())
  return Number.isNaN(ms) ? undefined : ms
}

/**
 * The facts a restart needs about one token Secret; undefined when it
 * carries neither annotation and was not named (`named: true` for --secret).
 */
export function regeneratedSecretOf(secret: V1Secret, named = false): RegeneratedSecret | undefined {
  const annotations = secret.metadata?.annotations ?? {}
  const stamp = annotations[REGENERATED_AT_ANNOTATION]
  const old = annotations[REPLACES_ANNOTATION]
  if (stamp === undefined && old === undefined && !named) return undefined
  const namespace = namespaceOf(secret.metadata)
  const name = secret.metadata?.name ?? ''
  const ms = parseRfc3339(stamp)
  const note =
    stamp !== undefined && ms === undefined
      ? `annotation ${REGENERATED_AT_ANNOTATION}="${stamp}" is not an RFC 3339 time: every pod that names it counts`
      : stamp === undefined && named
        ? `no ${REGENERATED_AT_ANNOTATION} annotation: every pod that names it counts`
        : undefined
  return {
    key: objectKey(namespace, name),
    namespace,
    name,
    ...(ms === undefined ? {} : { regeneratedAt: new Date(ms).toISOString() }),
    ...(old ? { replaces: objectKey(namespace, old) } : {}),
    ...(note ? { note } : {}),
    ...(annotations[BACKUP_DIR_ANNOTATION] ? { backupDir: annotations[BACKUP_DIR_ANNOTATION] } : {}),
  }
}

/** What findDependentPods takes: the target Secrets, and old → new names of re-created ones. */
export function dependencyTargets(secrets: readonly RegeneratedSecret[]): { targetSecrets: Set<string>; renamedSecrets: Map<string, string> } {
  return {
    targetSecrets: new Set(secrets.map((s) => s.key)),
    renamedSecrets: new Map(secrets.filter((s) => s.replaces !== undefined).map((s) => [s.replaces!, s.key])),
  }
}

/** When a pod started: status.startTime, else metadata.creationTimestamp (ms), or undefined. */
export function podStartedAt(pod: V1Pod): number | undefined {
  return timeOf(pod.status?.startTime) ?? timeOf(pod.metadata?.creationTimestamp)
}

export interface StartedBeforeResult {
  /** The dependents that still hold an old token. */
  readonly dependents: DependentPod[]
  /** Pods that name a regenerated Secret but started after it: they already read the new token. */
  readonly upToDate: PodRef[]
}

/**
 * Keeps, of each dependent's reasons, only those that still matter: a
 * reference to a regenerated Secret counts only if the pod started strictly
 * before the Secret's regenerated-at time (a pod whose start is unknown
 * counts). References to renamed Secrets, missing Secrets and bound tokens
 * always count. Dependents left without a reason are up to date.
 */
export function startedBeforeRegeneration(
  dependents: readonly DependentPod[],
  pods: readonly V1Pod[],
  secrets: readonly RegeneratedSecret[],
): StartedBeforeResult {
  const cutoff = new Map(secrets.map((s) => [s.key, timeOf(s.regeneratedAt)]))
  const byUid = new Map<string, V1Pod>()
  const byKey = new Map<string, V1Pod>()
  for (const pod of pods) {
    if (pod.metadata?.uid) byUid.set(pod.metadata.uid, pod)
    byKey.set(keyOf(pod.metadata), pod)
  }
  const kept: DependentPod[] = []
  const upToDate: PodRef[] = []
  for (const dependent of dependents) {
    const pod = (dependent.pod.uid ? byUid.get(dependent.pod.uid) : undefined) ?? byKey.get(objectKey(dependent.pod.namespace, dependent.pod.name))
    const started = pod ? podStartedAt(pod) : undefined
    const stillOld = (reason: DependencyReason): boolean => {
      if (reason.kind !== DependencyKind.referencesSecret || reason.renamedTo !== undefined) return true
      const at = cutoff.get(reason.reference.key)
      return at === undefined || started === undefined || startedBefore(pod!, started, at)
    }
    const reasons = dependent.reasons.filter(stillOld)
    if (reasons.length > 0) kept.push(reasons.length === dependent.reasons.length ? dependent : { ...dependent, reasons })
    else upToDate.push(pod ? podRef(pod) : dependent.pod)
  }
  return { dependents: kept, upToDate }
}
