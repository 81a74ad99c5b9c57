// What restart-dependent-pods makes of a kubelet log (--kubelet-log): the
// Secrets the log says are not found, placed in their namespaces and checked
// against the API server, and the CNI Unauthorized lines, which point at
// fix-calico. Pure: the runbook lists pods, looks Secrets up and hands the
// answers in. Fail closed: a Secret only the log names is never a reason to
// change anything; only one the API server says is gone is passed on
// (`confirmedMissing`), and even then only the pods whose spec names it count.
import type { V1Pod } from '@kubernetes/client-node'
import type { KubeletLogScan, LoggedCniUnauthorized, LoggedMissingSecret, LoggedPod } from './log.ts'

export const LoggedSecretStatus = {
  /** The API server says it is gone (404): evidence for the pods that name it. */
  missing: 'missing',
  /** It exists: re-created since, or the line is old. Not acted on. */
  present: 'present',
  /** Its namespace is outside the run's scope: not looked up. */
  outOfScope: 'out-of-scope',
  /** No line says its namespace and no pod in scope matches the line's pod. */
  unplaced: 'unplaced',
  /** The lookup failed (403, a timeout): not acted on. */
  unverified: 'unverified',
} as const
export type LoggedSecretStatus = (typeof LoggedSecretStatus)[keyof typeof LoggedSecretStatus]

/** One Secret the log names, where it was placed: `key` is `namespace/name` when a namespace is known. */
export interface PlacedSecret {
  readonly entry: LoggedMissingSecret
  readonly namespace?: string
  readonly key?: string
}

/**
 * The namespaces of each Secret the log names: the one a line says
 * (`Couldn't get secret ns/name`, `pod="ns/name"`), and those of the pods in
 * `pods` that the lines name (by UID, else by name and, when given,
 * namespace). A Secret is in its pod's namespace; a name in two namespaces
 * is two Secrets. A Secret that cannot be placed is returned without a key.
 */
export function placeLoggedSecrets(scan: KubeletLogScan, pods: readonly V1Pod[]): PlacedSecret[] {
  const byUid = new Map<string, V1Pod>()
  const byName = new Map<string, V1Pod[]>()
  for (const pod of pods) {
    const uid = pod.metadata?.uid
    const name = pod.metadata?.name
    if (uid) byUid.set(uid, pod)
    if (name) byName.set(name, [...(byName.get(name) ?? []), pod])
  }
  const placed: PlacedSecret[] = []
  for (const entry of scan.missingSecrets) {
    const namespaces = new Set<string>()
    if (entry.namespace) namespaces.add(entry.namespace)
    for (const logged of entry.pods) for (const pod of matchingPods(logged, byUid, byName)) namespaces.add(pod.metadata?.namespace || 'default')
    if (namespaces.size === 0) placed.push({ entry })
    for (const namespace of [...namespaces].sort()) placed.push({ entry, namespace, key: `${namespace}/${entry.secret}` })
  }
  return placed
}

function matchingPods(logged: LoggedPod, byUid: ReadonlyMap<string, V1Pod>, byName: ReadonlyMap<string, V1Pod[]>): V1Pod[] {
  const withUid = logged.uid ? byUid.get(logged.uid) : undefined
  if (withUid) return [withUid]
  if (!logged.name) return []
  return (byName.get(logged.name) ?? []).filter((pod) => logged.namespace === undefined || (pod.metadata?.namespace || 'default') === logged.namespace)
}

/** What the run found out about one Secret the log names. */
export interface LoggedSecretCheck {
  /** `namespace/name`, or the bare name when it could not be placed. */
  readonly secret: string
  readonly status: LoggedSecretStatus
  /** One line for people, ending with what follows from it. */
  readonly reason: string
  /** The pods the log names for it: `namespace/name`, or the name (and UID) as logged. */
  readonly pods: readonly string[]
  readonly lines: number
  readonly lastSeen?: string
}

/** What the API server said about a Secret: there, gone, or an error (message). */
export type SecretLookup = { readonly found: boolean } | { readonly error: string }

export interface CheckInput {
  readonly placed: readonly PlacedSecret[]
  /** Whether a namespace is in the run's scope. */
  readonly inScope: (namespace: string) => boolean
  /** The API's answer for each `namespace/name` in scope. */
  readonly lookups: ReadonlyMap<string, SecretLookup>
}

/** Turns placements and lookups into one verdict per Secret, and the keys confirmed gone. */
export function checkLoggedSecrets(input: CheckInput): { checks: LoggedSecretCheck[]; confirmedMissing: Set<string> } {
  const checks: LoggedSecretCheck[] = []
  const confirmedMissing = new Set<string>()
  for (const { entry, namespace, key } of input.placed) {
    const base = { pods: entry.pods.map(podLabel), lines: entry.lines, ...(entry.lastSeen ? { lastSeen: entry.lastSeen } : {}) }
    if (key === undefined || namespace === undefined) {
      checks.push({
        ...base,
        secret: entry.secret,
        status: LoggedSecretStatus.unplaced,
        reason: `no line says its namespace and no pod in scope is the one logged (${base.pods.join(', ') || 'none named'}): not acted on; rerun with -A, or with -n <the pod's namespace>`,
      })
      continue
    }
    if (!input.inScope(namespace)) {
      checks.push({ ...base, secret: key, status: LoggedSecretStatus.outOfScope, reason: `namespace ${namespace} is outside this run's scope: not looked up; rerun with -n ${namespace} or -A` })
      continue
    }
    const lookup = input.lookups.get(key)
    if (lookup === undefined || 'error' in lookup) {
      const why = lookup === undefined ? 'not looked up' : lookup.error
      checks.push({ ...base, secret: key, status: LoggedSecretStatus.unverified, reason: `could not be checked against the API server (${why}): not acted on` })
    } else if (lookup.found) {
      checks.push({ ...base, secret: key, status: LoggedSecretStatus.present, reason: 'exists in the API server (re-created since the line, or the line is old): not acted on' })
    } else {
      confirmedMissing.add(key)
      checks.push({
        ...base,
        secret: key,
        status: LoggedSecretStatus.missing,
        reason: "gone from the API server too (404): evidence for the pods whose spec names it, if it is a token Secret (a regenerated one, or named <service account>-token-<5 characters>)",
      })
    }
  }
  return { checks, confirmedMissing }
}

function podLabel(pod: LoggedPod): string {
  const name = pod.namespace && pod.name ? `${pod.namespace}/${pod.name}` : (pod.name ?? '')
  return name ? name : `uid ${pod.uid ?? '?'}`
}

/** One line about the CNI Unauthorized lines: what they mean and what fixes them. */
export function describeCniUnauthorized(cni: LoggedCniUnauthorized): string {
  const plugins = cni.plugins.length > 0 ? cni.plugins.join(', ') : 'unknown'
  const pods = cni.pods.map(podLabel)
  const what = `${cni.lines} kubelet log line${cni.lines === 1 ? '' : 's'} show${cni.lines === 1 ? 's' : ''} the CNI plugin (${plugins}) rejected as Unauthorized`
  const when = cni.lastSeen ? `, last at ${cni.lastSeen}` : ''
  const who = pods.length > 0 ? `, for ${pods.slice(0, 5).join(', ')}${pods.length > 5 ? ` and ${pods.length - 5} more` : ''}` : ''
  const fix = cni.plugins.length === 0 || cni.plugins.includes('calico') ? 'run fix-calico' : `renew the token of the ${plugins} CNI plugin`
  return `${what}${when}${who}: the node's CNI token is stale, and restarting pods does not fix that; ${fix}`
}
