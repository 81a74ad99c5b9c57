// From dependent pods to a restart plan, per owner rather than per pod:
//  - Deployment, and StatefulSet/DaemonSet rolling updates: one
//    `rollout restart` per workload, however many of its pods depend;
//  - OnDelete strategies, partitioned or paused rollouts, ReplicaSets without
//    a Deployment, custom controllers: evict pod by pod through the Eviction
//    API, which honours PodDisruptionBudgets (a plain DELETE does not);
//  - bare pods: refused (they would not come back), or deleted and created
//    again from their spec when asked;
//  - static (mirror) pods: skipped and reported; Jobs and CronJobs: reported,
//    their next run gets a fresh token.
// Pure and deterministic: sorted by namespace, kind, name; the caller does the
// restarting.
import type { V1Pod, V1PodDisruptionBudget, V1PodTemplateSpec } from '@kubernetes/client-node'
import { kubectlCommand, shellQuote } from '../engine/kubectl.ts'
import { DependencyKind, type DependencyReason, type DependentPod } from './dependents.ts'
import { compareStrings, keyOf, namespaceOf, objectKey, timeOf } from './keys.ts'
import { OwnerKind, ownerDisplayKind, ownerLabel, resolveOwner, UpdateStrategy, type OwnerIndex, type OwnerRef } from './owners.ts'
import { withRenamedSecrets } from './references.ts'
import { RESTARTED_AT_ANNOTATION, templateRestartedSince } from './restarted-at.ts'
import { selectorMatches } from './selectors.ts'

export const RestartAction = {
  /** Patch the owner's pod template (kubectl.kubernetes.io/restartedAt): its controller replaces every pod. */
  rolloutRestart: 'rollout-restart',
  /** The owner was already restarted after the regeneration (an interrupted run): wait for that rollout, do not restart again. */
  waitRollout: 'wait-rollout',
  /** Evict each pod (Eviction API, honours PDBs); its controller creates a replacement. */
  evict: 'evict',
  /** A bare pod, deleted and created again from its spec (--recreate-bare-pods). */
  recreate: 'recreate',
  /** A bare pod left alone: nothing would bring it back. */
  refuse: 'refuse',
  /** A static pod: the kubelet owns it; reported, not touched. */
  skip: 'skip',
  /** A Job or CronJob: its next run gets a fresh token; reported, not touched. */
  report: 'report',
} as const
export type RestartAction = (typeof RestartAction)[keyof typeof RestartAction]

export const BARE_POD_REFUSED = 'bare pod: it would not come back; rerun with --recreate-bare-pods'

export interface PdbMatch {
  readonly namespace: string
  readonly name: string
  /** status.disruptionsAllowed; undefined while the disruption controller has not reported. */
  readonly disruptionsAllowed: number | undefined
  /** The item's pods it selects, by name. */
  readonly pods: readonly string[]
}

export interface RestartItem {
  readonly action: RestartAction
  readonly owner: OwnerRef
  /** The owner's dependent pods, by name. */
  readonly pods: readonly DependentPod[]
  /** Why these pods depend on a changed token, in one line. */
  readonly why: string
  /** Why this action rather than the usual one, or what to know about it. */
  readonly notes: readonly string[]
  /** What may stop the action: budgets that refuse evictions. */
  readonly warnings: readonly string[]
  /** Commands an operator can paste to do the same by hand. */
  readonly kubectl: readonly string[]
  /** PodDisruptionBudgets selecting the pods (evict and rollout-restart items). */
  readonly pdbs: readonly PdbMatch[]
  /** An eviction may be refused: a budget allows no disruption now (429), or a pod has several budgets (500). Evictions only: rollouts do not consult budgets. */
  readonly pdbMayBlock: boolean
  /** recreate only: the pod to create in place of the old one. */
  readonly recreate?: V1Pod
  /** wait-rollout only: the restart already on the owner's template (kubectl.kubernetes.io/restartedAt), which is waited for. */
  readonly restartedAt?: string
}

export interface PlanCounts {
  /** Workloads restarted through a rollout. */
  readonly rolloutRestart: number
  /** Workloads already restarted after the regeneration, whose rollout is waited for. */
  readonly rolloutWait: number
  /** Pods to evict. */
  readonly evict: number
  /** Bare pods to re-create. */
  readonly recreate: number
  /** Bare pods refused. */
  readonly refuse: number
  /** Static pods skipped. */
  readonly skip: number
  /** Jobs and CronJobs reported. */
  readonly report: number
}

export interface RestartPlan {
  readonly items: readonly RestartItem[]
  readonly counts: PlanCounts
  /** `9 workloads to restart, 2 pods to evict, 1 bare pod refused, 1 static pod skipped, 1 job reported`. */
  readonly summary: string
}

export interface PlanContext {
  /** The pods the dependents were found in (looked up by uid, else namespace/name). */
  readonly pods: readonly V1Pod[]
  readonly owners: OwnerIndex
  readonly pdbs?: readonly V1PodDisruptionBudget[]
  /** Delete and re-create bare pods instead of refusing them. */
  readonly recreateBarePods?: boolean
  /** `namespace/old` → `namespace/new`: re-created bare pods name the new Secret. */
  readonly renamedSecrets?: ReadonlyMap<string, string>
  /** Connection flags for the printed commands (see connectionArgs). */
  readonly kubectlArgs?: readonly string[]
  /**
   * `namespace/name` of each regenerated Secret → its regenerated-at (ISO).
   * With it, a workload whose template was already restarted after every
   * regeneration its pods depend on is waited for, not restarted again.
   */
  readonly regeneratedAt?: ReadonlyMap<string, string | undefined>
}

/** The owner's pod template, when the index has the owner (Deployment, StatefulSet, DaemonSet). */
function templateOf(owner: OwnerRef, owners: OwnerIndex): V1PodTemplateSpec | undefined {
  const key = objectKey(owner.namespace, owner.name)
  switch (owner.kind) {
    case OwnerKind.Deployment:
      return owners.deployments.get(key)?.spec?.template
    case OwnerKind.StatefulSet:
      return owners.statefulSets.get(key)?.spec?.template
    case OwnerKind.DaemonSet:
      return owners.daemonSets.get(key)?.spec?.template
    default:
      return undefined
  }
}

/**
 * The time from which a pod that depends for `reason` holds a good token:
 * the Secret's regenerated-at, or --bound-before. Undefined when no restart
 * can be dated against it (a renamed or missing Secret, a Secret without the
 * annotation): only a fresh restart settles those.
 */
function cutoffOf(reason: DependencyReason, regeneratedAt: ReadonlyMap<string, string | undefined>): number | undefined {
  switch (reason.kind) {
    case DependencyKind.referencesSecret:
      return reason.renamedTo === undefined ? timeOf(regeneratedAt.get(reason.reference.key)) : undefined
    case DependencyKind.boundTokenBefore:
      return timeOf(reason.boundBefore)
    case DependencyKind.missingSecret:
      return undefined
  }
}

/**
 * The restart already under way for these dependents, if any: the template's
 * kubectl.kubernetes.io/restartedAt when it is at or after every time the
 * pods' reasons need (each Secret's regenerated-at, --bound-before). Then the
 * pods the controller creates read the new token, and a second restart would
 * only replace healthy new pods again (issue 15, item 5). Undefined: restart.
 */
export function restartInProgress(
  template: V1PodTemplateSpec | undefined,
  dependents: readonly DependentPod[],
  regeneratedAt: ReadonlyMap<string, string | undefined>,
): string | undefined {
  const annotated = template?.metadata?.annotations?.[RESTARTED_AT_ANNOTATION]
  if (annotated === undefined || dependents.length === 0) return undefined
  const cutoffs = dependents.flatMap((dependent) => dependent.reasons.map((reason) => cutoffOf(reason, regeneratedAt)))
  if (cutoffs.length === 0 || cutoffs.some((cutoff) => cutoff === undefined)) return undefined
  const latest = Math.max(...(cutoffs as number[]))
  return templateRestartedSince(template, new Date(latest)) ? annotated : undefined
}

/** Metadata kept when a bare pod is re-created; everything else is the server's or the old pod's identity. */
const KEPT_METADATA = ['name', 'namespace', 'labels', 'annotations'] as const

/**
 * The pod to create in place of a bare pod: its name, namespace, labels,
 * annotations and spec; without status, uid, resourceVersion,
 * creationTimestamp, managedFields or ownerReferences; without spec.nodeName
 * (the scheduler places it again) and spec.ephemeralContainers (they cannot
 * be set on create). Secret references listed in `renamedSecrets` name the
 * new Secret.
 */
export function recreatedPodSpec(pod: V1Pod, renamedSecrets: ReadonlyMap<string, string> = new Map()): V1Pod {
  const metadata: NonNullable<V1Pod['metadata']> = {}
  for (const field of KEPT_METADATA) {
    const value = pod.metadata?.[field]
    if (value !== undefined) Object.assign(metadata, { [field]: structuredClone(value) })
  }
  const spec = withRenamedSecrets(pod.spec ?? { containers: [] }, namespaceOf(pod.metadata), renamedSecrets)
  delete spec.nodeName
  delete spec.ephemeralContainers
  return { apiVersion: 'v1', kind: 'Pod', metadata, spec }
}

/** The Eviction a pod is evicted with (policy/v1). */
export function evictionBody(namespace: string, name: string): { apiVersion: 'policy/v1'; kind: 'Eviction'; metadata: { name: string; namespace: string } } {
  return { apiVersion: 'policy/v1', kind: 'Eviction', metadata: { name, namespace } }
}

/**
 * kubectl has no evict command (`drain` evicts a whole node, `delete pod`
 * bypasses budgets), so the by-hand equivalent POSTs the Eviction to the
 * pod's eviction subresource. printf, not echo or a bash here-string, so it
 * pastes into any POSIX shell unchanged.
 */
export function evictionCommand(namespace: string, name: string, kubectlArgs: readonly string[] = []): string {
  const body = JSON.stringify(evictionBody(namespace, name))
  const path = `/api/v1/namespaces/${namespace}/pods/${name}/eviction`
  return `printf '%s\\n' ${shellQuote(body)} | ${kubectlCommand(...kubectlArgs, 'create', '--raw', path, '-f', '-')}`
}

function resourceOf(owner: OwnerRef): string {
  return `${owner.kind.toLowerCase()}/${owner.name}`
}

/** One coarse line per kind of reason, so a DaemonSet's fifty pods say it once. */
function summarizeReason(reason: DependencyReason): string {
  switch (reason.kind) {
    case DependencyKind.referencesSecret:
      return reason.renamedTo === undefined
        ? `references Secret ${reason.reference.key} (${reason.reference.via})`
        : `references Secret ${reason.reference.key}, since re-created as ${reason.renamedTo} (${reason.reference.via})`
    case DependencyKind.missingSecret:
      return reason.source === 'event' ? `stuck: Secret ${reason.secret} not found` : `references missing Secret ${reason.secret}`
    case DependencyKind.boundTokenBefore:
      return `bound token issued before ${reason.boundBefore}`
  }
}

interface Decision {
  action: RestartAction
  notes: string[]
}

function decide(owner: OwnerRef, recreateBarePods: boolean): Decision {
  const label = `${ownerDisplayKind(owner)} ${owner.namespace}/${owner.name}`
  switch (owner.kind) {
    case OwnerKind.Deployment:
      return owner.paused
        ? { action: RestartAction.evict, notes: [`${label} is paused, so a rollout restart would not roll; evicting pod by pod, its ReplicaSet re-creates them`] }
        : { action: RestartAction.rolloutRestart, notes: [] }
    case OwnerKind.StatefulSet:
    case OwnerKind.DaemonSet:
      if (owner.notInIndex) {
        return { action: RestartAction.evict, notes: [`${label} was not among the listed objects, so its update strategy is unknown; eviction works with either`] }
      }
      if (owner.updateStrategy === UpdateStrategy.OnDelete) {
        return { action: RestartAction.evict, notes: [`${label} updates OnDelete: a rollout restart would replace no pod`] }
      }
      if (owner.partition !== undefined) {
        return { action: RestartAction.evict, notes: [`${label} has rolling update partition ${owner.partition}: a rollout restart would skip pods with a lower ordinal`] }
      }
      return { action: RestartAction.rolloutRestart, notes: [] }
    case OwnerKind.ReplicaSet:
      return {
        action: RestartAction.evict,
        notes: [owner.notInIndex ? `${label} was not among the listed objects; its controller re-creates evicted pods` : `${label} has no Deployment; it re-creates evicted pods`],
      }
    case OwnerKind.other:
      return {
        action: RestartAction.evict,
        notes: [`controlled by ${owner.controller?.kind ?? '?'} (${owner.controller?.apiVersion ?? '?'}) ${owner.name}, which is expected to re-create evicted pods`],
      }
    case OwnerKind.Job:
    case OwnerKind.CronJob:
      return { action: RestartAction.report, notes: [`${label} picks up the new token on its next run`] }
    case OwnerKind.bare:
      return recreateBarePods
        ? { action: RestartAction.recreate, notes: ['bare pod: deleted and created again from its spec (status, node and identity stripped)'] }
        : { action: RestartAction.refuse, notes: [BARE_POD_REFUSED] }
    case OwnerKind.static:
      return {
        action: RestartAction.skip,
        notes: ['static pod: the kubelet runs it from a manifest file on its node and it cannot use service-account tokens; restart it there if needed'],
      }
  }
}

interface Group {
  owner: OwnerRef
  pods: Array<{ dependent: DependentPod; pod: V1Pod }>
}

/** PodDisruptionBudgets by namespace: a budget only ever covers pods of its own namespace. */
function pdbsByNamespace(pdbs: readonly V1PodDisruptionBudget[]): Map<string, V1PodDisruptionBudget[]> {
  const index = new Map<string, V1PodDisruptionBudget[]>()
  for (const pdb of pdbs) {
    const namespace = namespaceOf(pdb.metadata)
    const list = index.get(namespace) ?? []
    list.push(pdb)
    index.set(namespace, list)
  }
  return index
}

function matchPdbs(group: Group, pdbs: ReadonlyMap<string, V1PodDisruptionBudget[]>): { matches: PdbMatch[]; perPod: Map<string, string[]> } {
  const matches = new Map<string, { pdb: V1PodDisruptionBudget; pods: string[] }>()
  const perPod = new Map<string, string[]>()
  for (const { dependent, pod } of group.pods) {
    for (const pdb of pdbs.get(dependent.pod.namespace) ?? []) {
      if (!selectorMatches(pdb.spec?.selector, pod.metadata?.labels)) continue
      const key = keyOf(pdb.metadata)
      const match = matches.get(key) ?? { pdb, pods: [] }
      match.pods.push(dependent.pod.name)
      matches.set(key, match)
      perPod.set(dependent.pod.name, [...(perPod.get(dependent.pod.name) ?? []), pdb.metadata?.name ?? ''])
    }
  }
  const list = [...matches.values()]
    .map(({ pdb, pods }) => ({
      namespace: namespaceOf(pdb.metadata),
      name: pdb.metadata?.name ?? '',
      disruptionsAllowed: pdb.status?.disruptionsAllowed,
      pods,
    }))
    .sort((a, b) => compareStrings(a.name, b.name))
  return { matches: list, perPod }
}

function pdbNotes(
  action: RestartAction,
  matches: readonly PdbMatch[],
  perPod: ReadonlyMap<string, string[]>,
): { notes: string[]; warnings: string[] } {
  const notes: string[] = []
  const warnings: string[] = []
  for (const pdb of matches) {
    const allowed = pdb.disruptionsAllowed
    if (allowed !== undefined && allowed > 0) continue
    const what = allowed === undefined ? 'has no status yet' : 'allows 0 disruptions now'
    if (action === RestartAction.evict) {
      warnings.push(`PodDisruptionBudget ${pdb.namespace}/${pdb.name} ${what}: evictions are refused (429) until it allows one`)
    } else {
      notes.push(`PodDisruptionBudget ${pdb.namespace}/${pdb.name} ${what}; a rollout does not consult budgets, its own maxUnavailable paces it`)
    }
  }
  if (action === RestartAction.evict) {
    for (const [pod, names] of [...perPod].sort(([a], [b]) => compareStrings(a, b))) {
      if (names.length < 2) continue
      warnings.push(`pod ${pod} is selected by ${names.length} PodDisruptionBudgets (${[...names].sort(compareStrings).join(', ')}): the Eviction API refuses such pods (500)`)
    }
  }
  return { notes, warnings }
}

function commandsFor(action: RestartAction, group: Group, kubectlArgs: readonly string[], recreate: V1Pod | undefined): string[] {
  const { owner } = group
  switch (action) {
    case RestartAction.rolloutRestart:
      return [kubectlCommand(...kubectlArgs, 'rollout', 'restart', resourceOf(owner), '-n', owner.namespace)]
    case RestartAction.waitRollout:
      return [kubectlCommand(...kubectlArgs, 'rollout', 'status', resourceOf(owner), '-n', owner.namespace)]
    case RestartAction.evict:
      return group.pods.map(({ dependent }) => evictionCommand(dependent.pod.namespace, dependent.pod.name, kubectlArgs))
    case RestartAction.recreate: {
      const backup = `${owner.namespace}.${owner.name}.pod.yaml`
      return [
        `${kubectlCommand(...kubectlArgs, 'get', 'pod', owner.name, '-n', owner.namespace, '-o', 'yaml')} > ${shellQuote(backup)}`,
        `printf '%s\\n' ${shellQuote(JSON.stringify(recreate))} | ${kubectlCommand(...kubectlArgs, 'replace', '--force', '-f', '-')}`,
      ]
    }
    case RestartAction.report:
      return [kubectlCommand(...kubectlArgs, 'get', resourceOf(owner), '-n', owner.namespace)]
    case RestartAction.refuse:
    case RestartAction.skip:
      return []
  }
}

function compareItems(a: RestartItem, b: RestartItem): number {
  return (
    compareStrings(a.owner.namespace, b.owner.namespace) ||
    compareStrings(ownerDisplayKind(a.owner), ownerDisplayKind(b.owner)) ||
    compareStrings(a.owner.name, b.owner.name) ||
    compareStrings(a.action, b.action)
  )
}

/** The restart plan for the dependent pods: one item per owner (per pod for bare and static pods). */
export function planRestarts(dependents: readonly DependentPod[], context: PlanContext): RestartPlan {
  const byUid = new Map<string, V1Pod>()
  const byKey = new Map<string, V1Pod>()
  for (const pod of context.pods) {
    if (pod.metadata?.uid) byUid.set(pod.metadata.uid, pod)
    byKey.set(keyOf(pod.metadata), pod)
  }

  const groups = new Map<string, Group>()
  const seen = new Set<string>()
  for (const dependent of dependents) {
    const ref = dependent.pod
    const pod = (ref.uid ? byUid.get(ref.uid) : undefined) ?? byKey.get(objectKey(ref.namespace, ref.name))
    if (!pod) throw new Error(`dependent pod ${ref.namespace}/${ref.name} (uid ${ref.uid || 'none'}) is not among the pods given to planRestarts`)
    const podKey = ref.uid || objectKey(ref.namespace, ref.name)
    if (seen.has(podKey)) continue
    seen.add(podKey)
    const owner = resolveOwner(pod, context.owners)
    const groupKey = JSON.stringify([owner.namespace, owner.kind, ownerDisplayKind(owner), owner.name, owner.kind === OwnerKind.bare || owner.kind === OwnerKind.static ? podKey : ''])
    const group = groups.get(groupKey) ?? { owner, pods: [] }
    group.pods.push({ dependent, pod })
    groups.set(groupKey, group)
  }

  const items: RestartItem[] = []
  const budgets = pdbsByNamespace(context.pdbs ?? [])
  for (const group of groups.values()) {
    group.pods.sort((a, b) => compareStrings(a.dependent.pod.name, b.dependent.pod.name) || compareStrings(a.dependent.pod.uid, b.dependent.pod.uid))
    const decided = decide(group.owner, context.recreateBarePods === true)
    const inProgress =
      decided.action === RestartAction.rolloutRestart && context.regeneratedAt
        ? restartInProgress(templateOf(group.owner, context.owners), group.pods.map(({ dependent }) => dependent), context.regeneratedAt)
        : undefined
    const { action, notes } =
      inProgress === undefined
        ? decided
        : {
            action: RestartAction.waitRollout,
            notes: [`${ownerDisplayKind(group.owner)} ${group.owner.namespace}/${group.owner.name} was already restarted at ${inProgress}, after the regeneration: waiting for that rollout, not restarting it again`],
          }
    const withBudgets = action === RestartAction.evict || action === RestartAction.rolloutRestart || action === RestartAction.waitRollout
    const { matches, perPod } = withBudgets ? matchPdbs(group, budgets) : { matches: [], perPod: new Map<string, string[]>() }
    const budget = pdbNotes(action, matches, perPod)
    const first = group.pods[0]
    const recreate = action === RestartAction.recreate && first ? recreatedPodSpec(first.pod, context.renamedSecrets) : undefined
    const renamed = first?.dependent.reasons.some((r) => r.kind === DependencyKind.referencesSecret && r.renamedTo !== undefined)
    const renamedNote = recreate && renamed ? ['the new pod names the re-created Secrets'] : []
    const why = [...new Set(group.pods.flatMap(({ dependent }) => dependent.reasons.map(summarizeReason)))].join('; ')
    items.push({
      action,
      owner: group.owner,
      pods: group.pods.map(({ dependent }) => dependent),
      why,
      notes: [...notes, ...renamedNote, ...budget.notes],
      warnings: budget.warnings,
      kubectl: commandsFor(action, group, context.kubectlArgs ?? [], recreate),
      pdbs: matches,
      pdbMayBlock: budget.warnings.length > 0,
      ...(recreate ? { recreate } : {}),
      ...(inProgress === undefined ? {} : { restartedAt: inProgress }),
    })
  }
  items.sort(compareItems)
  const counts = countPlan(items)
  return { items, counts, summary: summarizePlan(counts) }
}

function countPlan(items: readonly RestartItem[]): PlanCounts {
  const podsOf = (action: RestartAction): number =>
    items.filter((item) => item.action === action).reduce((sum, item) => sum + item.pods.length, 0)
  const ownersOf = (action: RestartAction): number => items.filter((item) => item.action === action).length
  return {
    rolloutRestart: ownersOf(RestartAction.rolloutRestart),
    rolloutWait: ownersOf(RestartAction.waitRollout),
    evict: podsOf(RestartAction.evict),
    recreate: podsOf(RestartAction.recreate),
    refuse: podsOf(RestartAction.refuse),
    skip: podsOf(RestartAction.skip),
    report: ownersOf(RestartAction.report),
  }
}

function count(n: number, one: string, many: string, tail: string): string {
  return `${n} ${n === 1 ? one : many} ${tail}`
}

/** The plan in one line; `nothing to restart` when no pod depends on a changed token. */
export function summarizePlan(counts: PlanCounts): string {
  const parts = [
    counts.rolloutRestart > 0 ? count(counts.rolloutRestart, 'workload', 'workloads', 'to restart') : '',
    counts.rolloutWait > 0 ? count(counts.rolloutWait, 'rollout', 'rollouts', 'already restarted, to wait for') : '',
    counts.evict > 0 ? count(counts.evict, 'pod', 'pods', 'to evict') : '',
    counts.recreate > 0 ? count(counts.recreate, 'bare pod', 'bare pods', 'to re-create') : '',
    counts.refuse > 0 ? count(counts.refuse, 'bare pod', 'bare pods', 'refused') : '',
    counts.skip > 0 ? count(counts.skip, 'static pod', 'static pods', 'skipped') : '',
    counts.report > 0 ? count(counts.report, 'job', 'jobs', 'reported') : '',
  ].filter((part) => part !== '')
  return parts.length === 0 ? 'nothing to restart: no pod depends on a changed token' : parts.join(', ')
}

/** The plan for people: the summary, a table of owners, then each owner's reasons, notes and commands. */
export function renderPlanText(plan: RestartPlan): string {
  const lines = [plan.summary]
  if (plan.items.length === 0) return lines.join('\n')
  const rows = [
    ['NAMESPACE', 'WORKLOAD', 'ACTION', 'PODS'],
    ...plan.items.map((item) => [item.owner.namespace, ownerLabel(item.owner), item.action, String(item.pods.length)]),
  ]
  const widths = [0, 1, 2].map((column) => Math.max(...rows.map((row) => (row[column] ?? '').length)))
  lines.push('', ...rows.map((row) => row.map((cell, column) => (column < 3 ? cell.padEnd(widths[column] ?? 0) : cell)).join('  ')))
  for (const item of plan.items) {
    lines.push('', `${item.owner.namespace} ${ownerLabel(item.owner)}: ${item.action}`)
    lines.push(`  pods: ${item.pods.map((dependent) => dependent.pod.name).join(', ')}`)
    lines.push(`  why: ${item.why}`)
    for (const note of item.notes) lines.push(`  note: ${note}`)
    for (const warning of item.warnings) lines.push(`  warning: ${warning}`)
    for (const command of item.kubectl) lines.push(`  $ ${command}`)
  }
  return lines.join('\n')
}
