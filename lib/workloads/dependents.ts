// Which pods depend on a token that changed, and why. Three ways in:
//  - references-secret: the pod names a regenerated token Secret (or, before
//    1.24, the old name of one the tokens controller re-created under a new
//    name);
//  - missing-secret: the pod cannot start because a Secret it names is gone:
//    the kubelet's FailedMount event says `secret "X" not found`, or the
//    caller looked the Secret up and passes it in `missingSecrets`, or the
//    kubelet's log named it and the caller confirmed with the API server that
//    it is gone (`loggedMissingSecrets`);
//  - bound-token-before: the pod has a projected serviceAccountToken volume
//    and started before `boundBefore`, so its token was signed by the old key
//    and only the kubelet would refresh it, in its own time.
// Pods already being deleted, and pods that finished (Succeeded/Failed), hold
// no running token and are left out. Pure: the caller lists pods and events
// and passes the time.
import type { CoreV1Event, V1Pod } from '@kubernetes/client-node'
import { compareStrings, objectKey, podRef, timeOf, type PodRef } from './keys.ts'
import { boundTokenVolumesOf, secretReferencesOf, type SecretReference } from './references.ts'
import { startedBefore } from './restarted-at.ts'

export const DependencyKind = {
  referencesSecret: 'references-secret',
  missingSecret: 'missing-secret',
  boundTokenBefore: 'bound-token-before',
} as const
export type DependencyKind = (typeof DependencyKind)[keyof typeof DependencyKind]

export interface ReferencesSecret {
  readonly kind: typeof DependencyKind.referencesSecret
  readonly reference: SecretReference
  /** Set when the pod names the old name of a renamed Secret: `namespace/new-name`. */
  readonly renamedTo?: string
}

export interface MissingSecret {
  readonly kind: typeof DependencyKind.missingSecret
  /** `namespace/name` of the Secret that is not there. */
  readonly secret: string
  /**
   * `event`: a FailedMount event of a pod stuck in ContainerCreating;
   * `lookup`: the caller's `missingSecrets`; `kubelet-log`: named in the
   * kubelet's log (--kubelet-log), confirmed gone by the API server.
   */
  readonly source: 'event' | 'lookup' | 'kubelet-log'
  /** The volume the kubelet could not mount (events only). */
  readonly volume?: string
  /** The event's message, as the kubelet wrote it (events only). */
  readonly message?: string
  /** How the pod names the Secret, when its spec does. */
  readonly reference?: SecretReference
}

export interface BoundTokenBefore {
  readonly kind: typeof DependencyKind.boundTokenBefore
  /** The projected volume with the serviceAccountToken source. */
  readonly volume: string
  /** When the pod started (status.startTime, else metadata.creationTimestamp), ISO 8601. */
  readonly startedAt: string
  readonly boundBefore: string
}

export type DependencyReason = ReferencesSecret | MissingSecret | BoundTokenBefore

export interface DependentPod {
  readonly pod: PodRef
  /** Secret references first (spec order), then missing Secrets, then bound tokens. Never empty. */
  readonly reasons: readonly DependencyReason[]
}

export interface DependentsInput {
  readonly pods: readonly V1Pod[]
  /** `namespace/name` of the token Secrets that were regenerated. */
  readonly targetSecrets: ReadonlySet<string>
  /** Events to read FailedMount messages from (the pods' namespaces; others are ignored). */
  readonly events?: readonly CoreV1Event[]
  /** `namespace/name` of Secrets the caller knows to be gone (looked up, 404) and cares about. */
  readonly missingSecrets?: ReadonlySet<string>
  /**
   * `namespace/name` of Secrets a kubelet's log says are not found and the
   * API server confirms are gone (404). Like a FailedMount event, only token
   * Secrets count (a regenerated or renamed one, or one named like a
   * service account's token), and only for the pods whose spec names them.
   */
  readonly loggedMissingSecrets?: ReadonlySet<string>
  /** Before 1.24: `namespace/old-name` → `namespace/new-name` of token Secrets the tokens controller re-created. */
  readonly renamedSecrets?: ReadonlyMap<string, string>
  /** Pods with a projected token that started before this hold a token signed by the old key. */
  readonly boundBefore?: Date
}

/** Waiting reasons of a pod whose volumes are not mounted yet (PodInitializing when it has init containers). */
const CREATING = new Set(['ContainerCreating', 'PodInitializing'])

/** Pending, with a container (or init container) still waiting to be created: what a failed mount looks like. */
export function isStuckCreating(pod: V1Pod): boolean {
  if (pod.status?.phase !== 'Pending') return false
  const statuses = [...(pod.status.initContainerStatuses ?? []), ...(pod.status.containerStatuses ?? [])]
  return statuses.some((status) => CREATING.has(status.state?.waiting?.reason ?? ''))
}

const MOUNT_FAILED = /^MountVolume\.SetUp failed for volume "([^"]*)"/
const SECRET_NOT_FOUND = /\bsecrets? "([^"]+)" not found/g

export interface MissingSecretMessage {
  readonly volume: string
  /** Secret names, in message order (a projected volume can miss several). */
  readonly secrets: readonly string[]
}

/**
 * Reads the kubelet's FailedMount message, e.g.
 * `MountVolume.SetUp failed for volume "default-token-x7k2p" : secret "default-token-x7k2p" not found`.
 * Undefined for any other message (a ConfigMap, a sync timeout, an unrelated error).
 */
export function parseMissingSecretMessage(message: string | undefined): MissingSecretMessage | undefined {
  const mount = MOUNT_FAILED.exec(message ?? '')
  if (!mount || message === undefined) return undefined
  const secrets = [...message.matchAll(SECRET_NOT_FOUND)].map((match) => match[1] ?? '').filter((name) => name !== '')
  return secrets.length === 0 ? undefined : { volume: mount[1] ?? '', secrets }
}

function isEventAbout(event: CoreV1Event, pod: PodRef): boolean {
  const about = event.involvedObject
  return (
    about.kind === 'Pod' &&
    (about.namespace || 'default') === pod.namespace &&
    about.name === pod.name &&
    // An event about an earlier pod of the same name (a StatefulSet's) has another uid.
    (!about.uid || !pod.uid || about.uid === pod.uid)
  )
}

/**
 * FailedMount events about pods, by the pod's `namespace/name`, in list order.
 * Built once, so each stuck pod reads only its own events: scanning every
 * event per pod was quadratic (12,000 stuck pods, 12,000 events).
 */
function failedMountsByPod(events: readonly CoreV1Event[]): Map<string, CoreV1Event[]> {
  const byPod = new Map<string, CoreV1Event[]>()
  for (const event of events) {
    const about = event.involvedObject
    if (event.reason !== 'FailedMount' || about.kind !== 'Pod' || about.name === undefined) continue
    const key = objectKey(about.namespace || 'default', about.name)
    const list = byPod.get(key)
    if (list) list.push(event)
    else byPod.set(key, [event])
  }
  return byPod
}

/** Legacy auto-created token Secrets are named `<service account>-token-<5 random characters>`. */
function isServiceAccountTokenName(secret: string, pod: V1Pod): boolean {
  const account = pod.spec?.serviceAccountName || pod.spec?.serviceAccount || 'default'
  return secret.startsWith(`${account}-token-`) && /^[a-z0-9]{5}$/.test(secret.slice(account.length + '-token-'.length))
}

function isDeletedOrFinished(pod: V1Pod): boolean {
  return pod.metadata?.deletionTimestamp != null || pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed'
}

/** The pods that depend on a changed token, each with every reason found; sorted by namespace, then name. */
export function findDependentPods(input: DependentsInput): DependentPod[] {
  const missing = input.missingSecrets ?? new Set<string>()
  const logged = input.loggedMissingSecrets ?? new Set<string>()
  const renamed = input.renamedSecrets ?? new Map<string, string>()
  const boundBefore = input.boundBefore === undefined ? undefined : input.boundBefore.getTime()
  const failedMounts = failedMountsByPod(input.events ?? [])

  const dependents: DependentPod[] = []
  for (const pod of input.pods) {
    if (isDeletedOrFinished(pod)) continue
    const ref = podRef(pod)
    const references = secretReferencesOf(pod)
    const reasons: DependencyReason[] = []

    for (const reference of references) {
      const renamedTo = renamed.get(reference.key)
      if (renamedTo !== undefined) reasons.push({ kind: DependencyKind.referencesSecret, reference, renamedTo })
      else if (input.targetSecrets.has(reference.key)) reasons.push({ kind: DependencyKind.referencesSecret, reference })
    }

    // One missing-secret reason per Secret: the event's, else the lookup's.
    const missingSeen = new Set<string>()
    if (isStuckCreating(pod)) {
      for (const event of failedMounts.get(objectKey(ref.namespace, ref.name)) ?? []) {
        if (!isEventAbout(event, ref)) continue
        const parsed = parseMissingSecretMessage(event.message)
        if (!parsed) continue
        for (const secret of parsed.secrets) {
          const key = objectKey(ref.namespace, secret)
          // Only Secrets that are ours to fix: a missing application Secret is not a token problem.
          const relevant =
            input.targetSecrets.has(key) || renamed.has(key) || missing.has(key) || isServiceAccountTokenName(secret, pod)
          if (!relevant || missingSeen.has(key)) continue
          missingSeen.add(key)
          const reference = references.find((r) => r.key === key)
          reasons.push({
            kind: DependencyKind.missingSecret,
            secret: key,
            source: 'event',
            volume: parsed.volume,
            message: event.message ?? '',
            ...(reference ? { reference } : {}),
          })
        }
      }
    }
    for (const reference of references) {
      if (!missing.has(reference.key) || missingSeen.has(reference.key)) continue
      missingSeen.add(reference.key)
      reasons.push({ kind: DependencyKind.missingSecret, secret: reference.key, source: 'lookup', reference })
    }
    for (const reference of references) {
      if (!logged.has(reference.key) || missingSeen.has(reference.key)) continue
      const relevant = input.targetSecrets.has(reference.key) || renamed.has(reference.key) || isServiceAccountTokenName(reference.secret, pod)
      if (!relevant) continue
      missingSeen.add(reference.key)
      reasons.push({ kind: DependencyKind.missingSecret, secret: reference.key, source: 'kubelet-log', reference })
    }

    if (boundBefore !== undefined) {
      const started = timeOf(pod.status?.startTime) ?? timeOf(pod.metadata?.creationTimestamp)
      if (started !== undefined && startedBefore(pod, started, boundBefore)) {
        for (const volume of boundTokenVolumesOf(pod)) {
          reasons.push({
            kind: DependencyKind.boundTokenBefore,
            volume,
            startedAt: new Date(started).toISOString(),
            boundBefore: new Date(boundBefore).toISOString(),
          })
        }
      }
    }

    if (reasons.length > 0) dependents.push({ pod: ref, reasons })
  }
  return dependents.sort(
    (a, b) => compareStrings(a.pod.namespace, b.pod.namespace) || compareStrings(a.pod.name, b.pod.name) || compareStrings(a.pod.uid, b.pod.uid),
  )
}

/** One line for people, per reason: `references Secret kube-system/x (volume token)`. */
export function describeReason(reason: DependencyReason): string {
  switch (reason.kind) {
    case DependencyKind.referencesSecret:
      return reason.renamedTo === undefined
        ? `references Secret ${reason.reference.key} (${reason.reference.detail})`
        : `references Secret ${reason.reference.key}, since re-created as ${reason.renamedTo} (${reason.reference.detail})`
    case DependencyKind.missingSecret:
      if (reason.source === 'event') return `stuck in ContainerCreating: Secret ${reason.secret} not found (volume ${reason.volume ?? '?'})`
      return `references missing Secret ${reason.secret}${reason.reference ? ` (${reason.reference.detail})` : ''}${reason.source === 'kubelet-log' ? ', named in the kubelet log and gone from the API' : ''}`
    case DependencyKind.boundTokenBefore:
      return `bound token in volume ${reason.volume} issued before ${reason.boundBefore} (pod started ${reason.startedAt})`
  }
}
