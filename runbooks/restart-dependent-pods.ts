#!/usr/bin/env node
// restart-dependent-pods: after regenerate-tokens, replace the pods that
// still hold an old token. The cluster says which: token Secrets carry
// kube-token-runbooks.io/regenerated-at, and a pod that names one and started
// before that time read the old token. Restarts go through the owner (one
// `kubectl rollout restart` per workload), else the Eviction API (which
// honours PodDisruptionBudgets); bare pods are refused unless
// --recreate-bare-pods; every rollout is waited for, with a deadline.
// On a node, --kubelet-log adds what the kubelet logged (journalctl -u
// kubelet, a log file, or stdin): Secrets it could not find, once the API
// server confirms they are gone, and CNI Unauthorized errors, which point at
// fix-calico.
import type { V1Pod, V1Secret } from '@kubernetes/client-node'
import type { Backup } from '../lib/backup.ts'
import { openSession, type Session } from '../lib/cli/session.ts'
import { defineCli, runbookMain, runMain, type ParsedCli, type Main } from '../lib/cli/index.ts'
import { limiter, mapLimit, type Gate } from '../lib/concurrency.ts'
import { kubectlCommand, shellQuote, toStepError, type Runbook, type StepError } from '../lib/engine/index.ts'
import { DomainError, UsageError } from '../lib/errors.ts'
import { REGENERATED_AT_ANNOTATION } from '../lib/annotations.ts'
import type { Output } from '../lib/output.ts'
import { isNotFound, statusOf } from '../lib/kube/clients.ts'
import { checkLoggedSecrets, describeCniUnauthorized, LoggedSecretStatus, placeLoggedSecrets, type LoggedSecretCheck, type SecretLookup } from '../lib/kubelet/evidence.ts'
import {
  checkKubeletLogSource,
  JOURNAL,
  journalArgs,
  kubeletLogSource,
  KubeletLogSourceKind,
  parseLogSince,
  readKubeletLog,
  type KubeletLogReading,
} from '../lib/kubelet/read.ts'
import { explainApiError, withApiErrors as api } from '../lib/kube/errors.ts'
import { serverClock } from '../lib/kube/raw.ts'
import { withWatchCache } from '../lib/kube/watch-cache.ts'
import { sharedStatus } from '../lib/wait.ts'
import { listTokenSecrets, parseSecretRef, readTokenSecret, TOKEN_SECRET_TYPE, type Scope } from '../lib/kube/token-secrets.ts'
import {
  evictAndWait,
  FAILED_MOUNT_EVENTS,
  listFailedMountEvents,
  listOwnerObjects,
  listPdbs,
  listPods,
  podStillThere,
  readWorkload,
  recreatePod,
  resourceName,
  rolloutRestart,
  waitForRollout,
  watchScope,
  type Namespaces,
  type RestartableKind,
  type WaitSeams,
} from '../lib/kube/workloads.ts'
import { DependencyKind, describeReason, findDependentPods, isStuckCreating, type DependentPod } from '../lib/workloads/dependents.ts'
import type { PodRef } from '../lib/workloads/keys.ts'
import { buildOwnerIndex, ownerLabel, type OwnerIndex } from '../lib/workloads/owners.ts'
import { dependencyTargets, parseRfc3339, regeneratedSecretOf, startedBeforeRegeneration, type RegeneratedSecret } from '../lib/workloads/regenerated.ts'
import { judgePods, keyChangeCutoff, unprovenBoundTokens, type KeyChangeCutoff, type PodProof } from '../lib/workloads/proof.ts'
import { planRestarts, renderPlanText, RestartAction, type RestartItem, type RestartPlan } from '../lib/workloads/restart-plan.ts'

export const cli = defineCli({
  name: 'restart-dependent-pods',
  summary:
    'Replace the pods that still hold a token from before regenerate-tokens: one rollout restart per workload, evictions that honour PodDisruptionBudgets, bare pods only when asked. -l limits the pods considered.',
  flags: [
    {
      name: 'secret',
      type: 'string[]',
      valueName: 'namespace/name',
      description: `Only the pods that depend on this token Secret (repeatable), instead of every token Secret in scope marked ${REGENERATED_AT_ANNOTATION}. Without that annotation, every pod that names it counts.`,
    },
    {
      name: 'bound-before',
      type: 'string',
      valueName: 'time|now',
      description:
        'Also replace pods with a projected service-account token (kube-api-access-*) started before this RFC 3339 time, or now: their token was signed by the old key and the kubelet refreshes it only much later.',
    },
    {
      name: 'recreate-bare-pods',
      type: 'boolean',
      description: 'Delete pods that no controller owns and create them again from their own spec (backed up first). By default they are refused, like kubectl drain.',
    },
    {
      name: 'kubelet-log',
      type: 'string',
      valueName: 'journal|file|-',
      description:
        "On a node: also read the kubelet's log for Secrets it could not find (FailedMount, `secret \"x\" not found`) and CNI Unauthorized errors. journal runs `journalctl -u kubelet --since <--kubelet-log-since> -o cat`; a file path reads that file (machines without journald; ./journal for a file of that name); - reads stdin (pipe in another unit's journal). A Secret the log names counts only once the API server confirms it is gone, and only for the pods whose spec names it; CNI errors are reported, pointing at fix-calico. Read-only.",
    },
    {
      name: 'kubelet-log-since',
      type: 'string',
      valueName: 'time|duration',
      description: 'With --kubelet-log: only lines logged since this RFC 3339 time, or this long ago (30m, 2h, 1d). Default for journal: 1h; a file or stdin is read whole unless given.',
    },
    { name: 'max-parallel', type: 'number', valueName: 'n', default: 32, description: 'Restarts, evictions and re-creations sent at a time; every rollout is then waited on at once, through one shared watch.' },
    { name: 'timeout', type: 'number', valueName: 'seconds', default: 300, description: 'Each rollout, eviction or re-creation fails after this long without progress.' },
    {
      name: 'backup-dir',
      type: 'string',
      valueName: 'path',
      description: 'Where a copy of every object is written before it is changed (default: $XDG_STATE_HOME or ~/.local/state, then kube-token-runbooks/backups/<timestamp>).',
    },
  ],
  examples: [
    { command: 'restart-dependent-pods -A --dry-run', description: 'the plan for the whole cluster: every owner and pod, the action, the kubectl command' },
    { command: 'restart-dependent-pods -n team-a --yes', description: 'restart what depends on the regenerated tokens of one namespace' },
    { command: 'restart-dependent-pods --secret kube-system/calico-node-token --yes --recreate-bare-pods', description: 'one Secret, bare pods included' },
    { command: 'restart-dependent-pods -A --bound-before now --dry-run', description: 'after a key rotation: pods whose projected tokens predate it' },
    { command: 'sudo restart-dependent-pods -A --kubelet-log journal --kubelet-log-since 2h --dry-run', description: "on a node: add what its kubelet logged in the last 2 hours" },
    { command: 'restart-dependent-pods -A --kubelet-log /var/log/kubelet.log --dry-run', description: 'the same from a log file, on a machine without journald' },
  ],
})

export type Flags = ParsedCli<NonNullable<(typeof cli)['flags']>>['flags']

export const ResultOutcomes = {
  restarted: 'restarted',
  /** Already restarted after the regeneration (an interrupted run): its rollout was waited for, not restarted again. */
  waited: 'waited',
  evicted: 'evicted',
  recreated: 'recreated',
  refused: 'refused',
  skipped: 'skipped',
  reported: 'reported',
  failed: 'failed',
} as const
export type ResultOutcome = (typeof ResultOutcomes)[keyof typeof ResultOutcomes]

/** What happened to one item of the plan. */
export interface RestartResult {
  namespace: string
  /** `Deployment/web`, `Pod/debug`. */
  workload: string
  action: RestartAction
  outcome: ResultOutcome
  /** The dependent pods before (name and uid). */
  pods: PodRef[]
  /** Their replacements, as far as known. */
  replacements: PodRef[]
  detail: string
  error?: StepError
}

interface Discovery {
  secrets: RegeneratedSecret[]
  pods: V1Pod[]
  dependents: DependentPod[]
  /** Pods that name a regenerated Secret but started after it. */
  upToDate: PodRef[]
  renamedSecrets: Map<string, string>
  /** With --kubelet-log: each Secret the log names, checked against the API server. */
  logged: LoggedSecretCheck[]
}

export interface Ctx extends Session {
  flags: Flags
  /** Where the pods are looked for. */
  where: Namespaces
  kubectlArgs: string[]
  boundBefore?: Date
  /** --kubelet-log, read once before the steps (node-local, read-only). */
  kubeletLog?: KubeletLogReading
  timeoutMs: number
  maxParallel: number
  backupDir: string
  /** Set once something was written to the backup. */
  backupUsed: boolean
  /** Saves run one after another (see save). */
  backupQueue: Promise<unknown>
  seams?: WaitSeams
  /** While restart-workloads runs: what bounds its writes (--max-parallel), and the API server's clock. */
  restarting?: { writes: Gate; clock: () => Date }
  found?: Discovery
  owners?: OwnerIndex
  plan?: RestartPlan
  results: RestartResult[]
  /** What verify-dependents found after the run. */
  remaining?: RestartPlan
  /**
   * Token Secrets about to be regenerated (rotate-tokens' dry run): they count
   * as regenerated now, so the plan lists the restarts their regeneration
   * will cause. An explicit input; the flags stay as given.
   */
  pending: V1Secret[]
  /**
   * The run knows the signing key changed (rotate-tokens): projected tokens
   * bound before the change cannot be proven fine and fail the proof. Run
   * alone, the regeneration may have had another cause: they are named, not failed.
   */
  keyChanged: boolean
  /** rotate-tokens: this run found tokens signed by a retired key. */
  staleFound: boolean
  /** What the last proof of the pods found. */
  proof?: PodProof
  /** The regenerated token Secrets the last proof saw (their backup directories name the repair's backups). */
  provenSecrets?: RegeneratedSecret[]
}

const ACTIONABLE: ReadonlySet<RestartAction> = new Set([RestartAction.rolloutRestart, RestartAction.waitRollout, RestartAction.evict, RestartAction.recreate])
const actionable = (plan: RestartPlan | undefined) => (plan?.items ?? []).filter((item) => ACTIONABLE.has(item.action))

export const runbook: Runbook<Ctx> = {
  name: cli.name,
  summary: cli.summary,
  steps: [
    {
      id: 'find-dependent-pods',
      title: 'Find the pods that hold an old token',
      description: `Reads the token Secrets marked ${REGENERATED_AT_ANNOTATION} (or named with --secret) and the pods that name them and started before that time, pods stuck on a missing Secret (with --kubelet-log also those the node's kubelet logged, once the API server confirms the Secret gone), and with --bound-before pods whose projected tokens predate it.`,
      readOnly: true,
      kubectl: (ctx) => discoveryCommands(ctx),
      check: async (ctx) => {
        const found = await discover(ctx)
        ctx.found = found
        return { needed: false, summary: describeDiscovery(ctx, found), details: discoveryDetails(found) }
      },
    },
    {
      id: 'plan-restarts',
      title: 'Plan the restarts, per owner',
      description:
        'Resolves each pod to the object that restarts it: Deployments, StatefulSets and DaemonSets get one rollout restart each; OnDelete and other controllers go through eviction; bare pods are refused unless --recreate-bare-pods; static pods and Jobs are reported.',
      readOnly: true,
      kubectl: (ctx) =>
        namespacesIn(ctx.found?.dependents ?? []).map((ns) =>
          kubectlCommand(...ctx.kubectlArgs, 'get', 'deployments,statefulsets,daemonsets,replicasets,jobs,poddisruptionbudgets', '-n', ns),
        ),
      check: async (ctx) => {
        const found = ctx.found ?? (ctx.found = await discover(ctx))
        ctx.plan = await planFor(ctx, found)
        return { needed: false, summary: ctx.plan.summary }
      },
    },
    {
      id: 'restart-workloads',
      title: 'Restart the workloads and wait for them',
      description:
        'Backs up each object, restarts each owner once (bounded by --max-parallel), evicts pod by pod where a rollout would not replace them, and waits for every rollout with a deadline (--timeout): new pods ready, old ones gone.',
      kubectl: (ctx) => restartCommands(ctx),
      check: async (ctx) => {
        const todo = actionable(ctx.plan)
        return todo.length === 0
          ? { needed: false, summary: ctx.plan?.summary ?? 'nothing to restart' }
          : { needed: true, summary: ctx.plan!.summary, details: { items: todo.map((item) => `${item.action} ${item.owner.namespace}/${ownerLabel(item.owner)}`) } }
      },
      apply: async (ctx) => {
        const plan = ctx.plan!
        const todo = actionable(plan)
        const done = await restartAll(ctx, todo)
        // In plan order, with the items left alone (refused, skipped, reported) in their place.
        const byItem = new Map(todo.map((item, i) => [item, done[i]!]))
        ctx.results = plan.items.map((item) => byItem.get(item) ?? leftAlone(item))
        const failed = done.filter((r) => r.outcome === ResultOutcomes.failed)
        if (failed.length > 0) {
          const what = failed.map((r) => `${r.namespace} ${r.workload}: ${r.detail}`).join('; ')
          throw new DomainError(failed.length === 1 ? what : `${failed.length} of ${todo.length} restarts failed: ${what}`)
        }
        return { summary: `${summarizeResults(done)}${ctx.backupUsed ? `; backups in ${ctx.backupDir}` : ''}`, details: { backupDir: ctx.backupUsed ? ctx.backupDir : undefined } }
      },
      verify: async (ctx) => {
        // Fresh from the cluster: none of the pods we replaced may be left.
        const acted = ctx.results.filter(
          (r) => r.outcome === ResultOutcomes.restarted || r.outcome === ResultOutcomes.waited || r.outcome === ResultOutcomes.evicted || r.outcome === ResultOutcomes.recreated,
        )
        const old = new Set(acted.flatMap((r) => r.pods.map((p) => p.uid)))
        const namespaces = [...new Set(acted.map((r) => r.namespace))]
        const pods = namespaces.length === 0 ? [] : await api(ctx.kube.kc, () => listPods(ctx.kube, { all: false, namespaces }))
        const left = pods.filter((p) => old.has(p.metadata?.uid ?? ''))
        return left.length === 0
          ? { ok: true, summary: `none of the ${old.size} replaced pod(s) is left` }
          : { ok: false, summary: `${left.length} replaced pod(s) still there: ${left.map((p) => `${p.metadata?.namespace}/${p.metadata?.name}`).join(', ')}; look at them with kubectl describe pod, then rerun` }
      },
    },
    {
      id: 'verify-dependents',
      title: 'Check that no pod holds an old token',
      description:
        'Looks again, from scratch, at every pod in scope: none may name a regenerated Secret and have started before it, be stuck on a missing Secret, or (after a key change) hold a projected token bound before it; Jobs and static pods are reported, a refused bare pod fails this step.',
      readOnly: true,
      kubectl: (ctx) => [podsCommand(ctx)],
      check: async (ctx) => {
        if (ctx.dryRun) return { needed: false, summary: 'dry run: nothing was restarted, so nothing to re-check' }
        ctx.proof = await provePods(ctx)
        return { needed: false, summary: ctx.proof.summary, details: { left: ctx.proof.left } }
      },
      verify: async (ctx) => {
        if (ctx.dryRun || !ctx.proof) return { ok: true, summary: 'dry run: nothing was changed' }
        return { ok: ctx.proof.ok, summary: ctx.proof.ok ? ctx.proof.summary : `${ctx.proof.summary}: ${ctx.proof.lines.join('; ')}` }
      },
    },
  ],
}

// ---------------------------------------------------------------------------
// Finding

async function discover(ctx: Ctx): Promise<Discovery> {
  const { kube } = ctx
  const secrets = await api(kube.kc, () => findSecrets(ctx))
  const pods = await api(kube.kc, () => listPods(kube, ctx.where, ctx.selector))
  // Events are only worth a request when some pod is stuck creating.
  const events = pods.some(isStuckCreating) ? await api(kube.kc, () => listFailedMountEvents(kube, ctx.where)) : []
  const { targetSecrets, renamedSecrets } = dependencyTargets(secrets)
  const { checks: logged, confirmedMissing } = ctx.kubeletLog ? await checkLogged(ctx, ctx.kubeletLog, pods) : { checks: [], confirmedMissing: new Set<string>() }
  const all = findDependentPods({
    pods,
    targetSecrets,
    renamedSecrets,
    events,
    loggedMissingSecrets: confirmedMissing,
    ...(ctx.boundBefore ? { boundBefore: ctx.boundBefore } : {}),
  })
  const { dependents, upToDate } = startedBeforeRegeneration(all, pods, secrets)
  return { secrets, pods, dependents, upToDate, renamedSecrets, logged }
}

/**
 * The Secrets the kubelet's log names, asked of the API server one by one
 * (GET: the log is a lead, the API is the fact). A failed lookup is that
 * Secret's verdict, never a reason to act.
 */
async function checkLogged(ctx: Ctx, reading: KubeletLogReading, pods: readonly V1Pod[]) {
  const placed = placeLoggedSecrets(reading.scan, pods)
  const inScope = (namespace: string) => ctx.where.all || ctx.where.namespaces.includes(namespace)
  const keys = [...new Set(placed.filter((p) => p.key !== undefined && p.namespace !== undefined && inScope(p.namespace)).map((p) => p.key!))]
  const answers = await mapLimit(keys, ctx.maxParallel, async (key): Promise<SecretLookup> => {
    const [namespace, name] = key.split('/') as [string, string]
    try {
      await ctx.kube.core.readNamespacedSecret({ namespace, name })
      return { found: true }
    } catch (err) {
      if (isNotFound(err)) return { found: false }
      const status = statusOf(err)
      return { error: status !== undefined ? `HTTP ${status}` : err instanceof Error ? err.message : String(err) }
    }
  })
  return checkLoggedSecrets({ placed, inScope, lookups: new Map(keys.map((key, i) => [key, answers[i]!])) })
}

/**
 * The pods this run created in place of old ones (rollouts, evictions,
 * re-creations) were created after the regeneration and its refill, so they
 * read the new token, even when their start time, in whole seconds, ties with
 * regenerated-at (the server clock, rounded up): those references are not
 * counted against them. Missing Secrets and projected tokens still are.
 */
function freshReplacementsAside(ctx: Ctx, found: Discovery): Discovery {
  const created = new Set(ctx.results.flatMap((r) => r.replacements.map((p) => p.uid)))
  if (created.size === 0) return found
  const dependents = found.dependents.flatMap((d) => {
    if (!created.has(d.pod.uid)) return [d]
    const reasons = d.reasons.filter((r) => r.kind !== DependencyKind.referencesSecret)
    return reasons.length === 0 ? [] : [{ ...d, reasons }]
  })
  return { ...found, dependents }
}

/** When the key changed, as far as the pods' proof can tell (see keyChangeCutoff). */
function cutoffOf(ctx: Ctx, found: Discovery): KeyChangeCutoff | undefined {
  return keyChangeCutoff({
    ...(ctx.boundBefore ? { boundBefore: ctx.boundBefore } : {}),
    regeneratedAt: found.secrets.map((s) => s.regeneratedAt),
    staleFound: ctx.staleFound,
    now: ctx.now(),
  })
}

/**
 * The pods' proof, from scratch: what a fresh plan still finds, and the
 * projected tokens bound before the key change. Run alone (no known key
 * change), the latter are named in the summary but do not fail it.
 */
export async function provePods(ctx: Ctx): Promise<PodProof> {
  const found = freshReplacementsAside(ctx, await discover(ctx))
  ctx.provenSecrets = found.secrets
  ctx.remaining = await planFor(ctx, found)
  // Dependents are judged above; the pods this run created came after the regeneration.
  const known = new Set([...found.dependents.map((d) => d.pod.uid), ...ctx.results.flatMap((r) => r.replacements.map((p) => p.uid))])
  const unproven = unprovenBoundTokens(found.pods, cutoffOf(ctx, found), known)
  const proof = judgePods({ plan: ctx.remaining, unproven: ctx.keyChanged ? unproven : [], checked: found.pods.length })
  if (ctx.keyChanged || unproven.length === 0) return proof
  const cutoff = cutoffOf(ctx, found)!
  return {
    ...proof,
    summary: `${proof.summary}; not judged: ${plural(unproven.length, 'pod')} with a projected token bound before ${cutoff.at} (the API cannot show it): if the signing key changed, rerun with --bound-before ${cutoff.at}`,
  }
}

async function findSecrets(ctx: Ctx): Promise<RegeneratedSecret[]> {
  const found = await findMarkedSecrets(ctx)
  if (ctx.pending.length === 0) return found
  // About to be regenerated: every pod that names one holds the token that is about to change.
  const pending = ctx.pending.map((secret): RegeneratedSecret => {
    // An older regenerated-at says nothing about the regeneration to come.
    const { regeneratedAt: _older, ...rest } = regeneratedSecretOf(secret, true)!
    return { ...rest, note: 'about to be regenerated: every pod that names it holds the token that will change' }
  })
  const keys = new Set(pending.map((s) => s.key))
  return [...found.filter((s) => !keys.has(s.key)), ...pending]
}

async function findMarkedSecrets(ctx: Ctx): Promise<RegeneratedSecret[]> {
  if (ctx.flags.secret.length > 0) {
    const named: RegeneratedSecret[] = []
    for (const ref of ctx.flags.secret) {
      const { namespace, name } = parseSecretRef(ref, defaultNamespace(ctx.scope))
      named.push(regeneratedSecretOf(await readTokenSecret(ctx.kube, namespace, name), true)!)
    }
    return named
  }
  const secrets = await listTokenSecrets(ctx.kube, ctx.scope)
  return secrets.map((s) => regeneratedSecretOf(s)).filter((s): s is RegeneratedSecret => s !== undefined)
}

function describeDiscovery(ctx: Ctx, found: Discovery): string {
  const where = ctx.scope.all ? 'any namespace' : `namespace ${ctx.scope.namespace}`
  if (found.secrets.length === 0 && !ctx.boundBefore && found.dependents.length === 0) {
    const logged = ctx.kubeletLog ? `; ${describeLogged(ctx.kubeletLog, found.logged)}` : ''
    return `no token Secret in ${where} carries ${REGENERATED_AT_ANNOTATION}: nothing depends on a regenerated token (run regenerate-tokens first, or name Secrets with --secret)${logged}`
  }
  const kinds = new Map<string, number>()
  for (const d of found.dependents) {
    for (const kind of new Set(d.reasons.map((r) => r.kind))) kinds.set(kind, (kinds.get(kind) ?? 0) + 1)
  }
  const words: Record<string, [one: string, many: string]> = {
    [DependencyKind.referencesSecret]: ['names a regenerated Secret and started before it', 'name a regenerated Secret and started before it'],
    [DependencyKind.missingSecret]: ['is stuck on a missing Secret', 'are stuck on a missing Secret'],
    [DependencyKind.boundTokenBefore]: [`holds a bound token from before ${ctx.boundBefore?.toISOString() ?? ''}`, `hold a bound token from before ${ctx.boundBefore?.toISOString() ?? ''}`],
  }
  const why = [...kinds].map(([kind, n]) => `${n} ${words[kind]?.[n === 1 ? 0 : 1] ?? kind}`).join(', ')
  const head = `${plural(found.dependents.length, 'pod')} hold${found.dependents.length === 1 ? 's' : ''} an old token${why ? ` (${why})` : ''}`
  const secrets = `${plural(found.secrets.length, 'regenerated token Secret')} in scope`
  const fresh = found.upToDate.length > 0 ? `; ${plural(found.upToDate.length, 'pod')} started after the regeneration already ${found.upToDate.length === 1 ? 'has' : 'have'} the new token` : ''
  return `${head}; ${secrets}${fresh}${ctx.kubeletLog ? `; ${describeLogged(ctx.kubeletLog, found.logged)}` : ''}`
}

/** `kubelet log: 2 Secrets not found (1 gone from the API, 1 present), CNI Unauthorized in 4 lines: run fix-calico`. */
function describeLogged(reading: KubeletLogReading, checks: readonly LoggedSecretCheck[]): string {
  const counts = Object.values(LoggedSecretStatus)
    .map((status) => [status, checks.filter((c) => c.status === status).length] as const)
    .filter(([, n]) => n > 0)
    .map(([status, n]) => `${n} ${status === LoggedSecretStatus.missing ? 'gone from the API' : status}`)
  const secrets = checks.length === 0 ? 'no Secret reported missing' : `${plural(checks.length, 'Secret')} not found (${counts.join(', ')})`
  const cni = reading.scan.cniUnauthorized ? `, CNI Unauthorized in ${plural(reading.scan.cniUnauthorized.lines, 'line')}: run fix-calico` : ''
  return `kubelet log: ${secrets}${cni}`
}

function discoveryDetails(found: Discovery) {
  return {
    secrets: found.secrets,
    dependents: found.dependents.map((d) => ({ ...d.pod, reasons: d.reasons.map(describeReason) })),
    upToDate: found.upToDate,
    ...(found.logged.length > 0 ? { kubeletLog: found.logged } : {}),
  }
}

/** The namespaces of the dependents, sorted. */
function namespacesIn(dependents: readonly DependentPod[]): string[] {
  return [...new Set(dependents.map((d) => d.pod.namespace))].sort()
}

/** Above this many namespaces, one cluster-wide list is cheaper than one list per namespace. */
const PER_NAMESPACE_LISTS = 10

async function planFor(ctx: Ctx, found: Discovery): Promise<RestartPlan> {
  const context = {
    pods: found.pods,
    recreateBarePods: ctx.flags.recreateBarePods,
    renamedSecrets: found.renamedSecrets,
    kubectlArgs: ctx.kubectlArgs,
    regeneratedAt: new Map(found.secrets.map((s) => [s.key, s.regeneratedAt])),
  }
  if (found.dependents.length === 0) return planRestarts([], { ...context, owners: buildOwnerIndex() })
  const namespaces = namespacesIn(found.dependents)
  const where: Namespaces = ctx.where.all && namespaces.length > PER_NAMESPACE_LISTS ? { all: true } : { all: false, namespaces }
  const [objects, pdbs] = await api(ctx.kube.kc, () => Promise.all([listOwnerObjects(ctx.kube, where), listPdbs(ctx.kube, where)]))
  ctx.owners = buildOwnerIndex(objects)
  return planRestarts(found.dependents, { ...context, owners: ctx.owners, pdbs })
}

// ---------------------------------------------------------------------------
// Restarting

function leftAlone(item: RestartItem): RestartResult {
  const outcome = item.action === RestartAction.refuse ? ResultOutcomes.refused : item.action === RestartAction.skip ? ResultOutcomes.skipped : ResultOutcomes.reported
  return { ...resultBase(item), outcome, detail: item.notes.join('; ') }
}

function resultBase(item: RestartItem): Pick<RestartResult, 'namespace' | 'workload' | 'action' | 'pods' | 'replacements'> {
  return { namespace: item.owner.namespace, workload: ownerLabel(item.owner), action: item.action, pods: item.pods.map((d) => d.pod), replacements: [] }
}

/** Runs one item of the plan; a failure becomes its result, so the other items go on. */
async function execute(ctx: Ctx, item: RestartItem): Promise<RestartResult> {
  const base = resultBase(item)
  ctx.output.info(`→ ${item.owner.namespace} ${ownerLabel(item.owner)}: ${item.action} (${plural(item.pods.length, 'pod')})`)
  try {
    switch (item.action) {
      case RestartAction.rolloutRestart:
        return { ...base, ...(await restartWorkload(ctx, item)) }
      case RestartAction.waitRollout:
        return { ...base, ...(await awaitRestart(ctx, item)) }
      case RestartAction.evict:
        return { ...base, ...(await evictPods(ctx, item)) }
      case RestartAction.recreate:
        return { ...base, ...(await recreateBarePod(ctx, item)) }
      default:
        return leftAlone(item)
    }
  } catch (err) {
    const error = toStepError(explainApiError(err, ctx.kube.kc))
    ctx.output.warn(`${item.owner.namespace} ${ownerLabel(item.owner)}: ${error.message}`)
    return { ...base, outcome: ResultOutcomes.failed, detail: error.message, error }
  }
}

type Done = Pick<RestartResult, 'outcome' | 'detail' | 'replacements'>

/**
 * Backs an object up before it is changed. Concurrent saves are safe: Backup
 * commits its manifest once per batch of them (lib/backup.ts).
 */
async function save(ctx: Ctx, kind: string, object: Parameters<Backup['save']>[1]): Promise<string> {
  const entry = await ctx.backup.save(kind, object)
  ctx.backupUsed = true
  return entry.file
}

/**
 * Every item at once: the waits read one shared watch cache and send no
 * requests, so only the writes are bounded (--max-parallel).
 */
async function restartAll(ctx: Ctx, todo: readonly RestartItem[]): Promise<RestartResult[]> {
  // The cluster's clock, as the regenerated-at stamps it is compared with (lib/workloads/restarted-at.ts).
  ctx.restarting = { writes: limiter(ctx.maxParallel), clock: await serverClock(ctx.kube.kc, ctx.now) }
  const output = ctx.output
  ctx.output = sharedStatus(output)
  try {
    const scope = watchScope(ctx.where, todo.map((item) => item.owner.namespace))
    return await withWatchCache(ctx.kube, scope, () => Promise.all(todo.map((item) => execute(ctx, item))))
  } finally {
    delete ctx.restarting
    ctx.output = output
  }
}

/** The workload as the plan listed it (no GET per workload), for its backup; read only when the plan has not got it. */
async function plannedWorkload(ctx: Ctx, workload: ReturnType<typeof workloadOf>) {
  const key = `${workload.namespace}/${workload.name}`
  const listed = { Deployment: ctx.owners?.deployments, StatefulSet: ctx.owners?.statefulSets, DaemonSet: ctx.owners?.daemonSets }[workload.kind]?.get(key)
  if (listed) return listed
  try {
    return await readWorkload(ctx.kube, workload)
  } catch (err) {
    if (isNotFound(err)) throw new DomainError(`${resourceName(workload)} in ${workload.namespace} is gone: it was deleted since the plan was made; rerun to plan again`, { cause: err })
    throw err
  }
}

async function restartWorkload(ctx: Ctx, item: RestartItem): Promise<Done> {
  const workload = workloadOf(item)
  await save(ctx, workload.kind, await plannedWorkload(ctx, workload))
  const { writes, clock } = ctx.restarting ?? { writes: limiter(1), clock: ctx.now }
  // A workload deleted since the plan fails here (rolloutRestart names it).
  const restartedAt = await writes(() => rolloutRestart(ctx.kube, workload, clock()))
  const done = await rolloutOf(ctx, item, restartedAt)
  return { outcome: ResultOutcomes.restarted, detail: `restarted at ${restartedAt}: ${done.detail}`, replacements: done.pods }
}

/** Waits for the rollout of the restart at `restartedAt`: new pods ready, the item's old pods gone. */
function rolloutOf(ctx: Ctx, item: RestartItem, restartedAt: string) {
  return waitForRollout(ctx.kube, {
    workload: workloadOf(item),
    restartedAt,
    oldUids: item.pods.map((d) => d.pod.uid),
    timeoutMs: ctx.timeoutMs,
    output: ctx.output,
    kubectlArgs: ctx.kubectlArgs,
    ...(ctx.seams ? { seams: ctx.seams } : {}),
  })
}

function workloadOf(item: RestartItem) {
  return { kind: item.owner.kind as RestartableKind, namespace: item.owner.namespace, name: item.owner.name }
}

/** A restart already under way (from an interrupted run): wait for it, without patching the workload again. */
async function awaitRestart(ctx: Ctx, item: RestartItem): Promise<Done> {
  const restartedAt = item.restartedAt!
  const done = await rolloutOf(ctx, item, restartedAt)
  return { outcome: ResultOutcomes.waited, detail: `already restarted at ${restartedAt}, not restarted again: ${done.detail}`, replacements: done.pods }
}

/**
 * The pod as discovery listed it (for its backup), if the shared watch cache
 * still has it under that uid; undefined when it is gone or another pod took
 * its name. No GET per pod.
 */
async function currentPod(ctx: Ctx, pod: PodRef): Promise<V1Pod | undefined> {
  if (!(await podStillThere(ctx.kube, pod))) return undefined
  return ctx.found?.pods.find((p) => p.metadata?.uid === pod.uid) ?? (await ctx.kube.core.readNamespacedPod({ namespace: pod.namespace, name: pod.name }))
}

async function evictPods(ctx: Ctx, item: RestartItem): Promise<Done> {
  const replacements: PodRef[] = []
  let evicted = 0
  // One at a time: each waits for its replacement, so the workload never loses more than one pod.
  for (const dependent of item.pods) {
    const pod = await currentPod(ctx, dependent.pod)
    if (!pod) continue
    await save(ctx, 'Pod', pod)
    const budgets = item.pdbs.filter((b) => b.pods.includes(dependent.pod.name)).map((b) => b.name)
    const result = await evictAndWait(ctx.kube, {
      pod,
      budgets,
      timeoutMs: ctx.timeoutMs,
      output: ctx.output,
      kubectlArgs: ctx.kubectlArgs,
      ...(ctx.seams ? { seams: ctx.seams } : {}),
      ...(ctx.restarting ? { gate: ctx.restarting.writes } : {}),
    })
    if (result.outcome === 'evicted') evicted++
    for (const r of result.replacements) if (!replacements.some((p) => p.uid === r.uid)) replacements.push(r)
  }
  return { outcome: ResultOutcomes.evicted, detail: `${plural(evicted, 'pod')} evicted, ${item.pods.length - evicted} already gone`, replacements }
}

async function recreateBarePod(ctx: Ctx, item: RestartItem): Promise<Done> {
  const dependent = item.pods[0]
  if (!dependent || !item.recreate) throw new Error(`internal: recreate item ${ownerLabel(item.owner)} has no pod or no replacement spec`)
  const pod = await currentPod(ctx, dependent.pod)
  if (!pod) return { outcome: ResultOutcomes.recreated, detail: 'already gone (deleted or re-created since the plan)', replacements: [] }
  const backupFile = await save(ctx, 'Pod', pod)
  const created = await recreatePod(ctx.kube, {
    pod,
    replacement: item.recreate,
    backupFile,
    timeoutMs: ctx.timeoutMs,
    output: ctx.output,
    kubectlArgs: ctx.kubectlArgs,
    ...(ctx.seams ? { seams: ctx.seams } : {}),
    ...(ctx.restarting ? { gate: ctx.restarting.writes } : {}),
  })
  return { outcome: ResultOutcomes.recreated, detail: `re-created with uid ${created.uid} (backup ${backupFile})`, replacements: [created] }
}

// ---------------------------------------------------------------------------
// Words and commands

function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`
}

/** `3 workloads restarted (5 pods replaced), 1 bare pod refused: rerun with --recreate-bare-pods`. */
export function summarizeResults(results: readonly RestartResult[]): string {
  const count = (outcome: ResultOutcome) => results.filter((r) => r.outcome === outcome)
  const pods = (rs: readonly RestartResult[]) => rs.reduce((n, r) => n + r.pods.length, 0)
  const restarted = count(ResultOutcomes.restarted)
  const waited = count(ResultOutcomes.waited)
  const evicted = count(ResultOutcomes.evicted)
  const recreated = count(ResultOutcomes.recreated)
  const refused = count(ResultOutcomes.refused)
  const skipped = count(ResultOutcomes.skipped)
  const reported = count(ResultOutcomes.reported)
  const failed = count(ResultOutcomes.failed)
  const parts = [
    restarted.length > 0 ? `${plural(restarted.length, 'workload')} restarted (${plural(pods(restarted), 'pod')} replaced)` : '',
    waited.length > 0 ? `${plural(waited.length, 'rollout')} already restarted and waited for (${plural(pods(waited), 'pod')} replaced)` : '',
    evicted.length > 0 ? `${plural(pods(evicted), 'pod')} evicted` : '',
    recreated.length > 0 ? `${plural(recreated.length, 'bare pod')} re-created` : '',
    refused.length > 0 ? `${plural(refused.length, 'bare pod')} refused: rerun with --recreate-bare-pods` : '',
    skipped.length > 0 ? `${plural(skipped.length, 'static pod')} skipped` : '',
    reported.length > 0 ? `${plural(reported.length, 'job')} reported (next run gets the new token)` : '',
    failed.length > 0 ? `${failed.length} failed` : '',
  ].filter(Boolean)
  return parts.length > 0 ? parts.join(', ') : 'nothing restarted'
}

function scopeArgs(where: Namespaces): string[][] {
  return where.all ? [['-A']] : where.namespaces.map((ns) => ['-n', ns])
}

function podsCommand(ctx: Ctx): string {
  const scope = ctx.where.all ? ['-A'] : ctx.where.namespaces.length === 1 ? ['-n', ctx.where.namespaces[0]!] : ['-A']
  return kubectlCommand(
    ...ctx.kubectlArgs,
    'get',
    'pods',
    ...scope,
    ...(ctx.selector ? ['-l', ctx.selector] : []),
    '-o',
    'custom-columns=NAMESPACE:.metadata.namespace,NAME:.metadata.name,UID:.metadata.uid,STARTED:.status.startTime,OWNER:.metadata.ownerReferences[0].name',
  )
}

function discoveryCommands(ctx: Ctx): string[] {
  const columns = `custom-columns=NAMESPACE:.metadata.namespace,NAME:.metadata.name,REGENERATED-AT:.metadata.annotations.${REGENERATED_AT_ANNOTATION.replaceAll('.', '\\.')}`
  const secrets =
    ctx.flags.secret.length > 0
      ? ctx.flags.secret.map((ref) => {
          const [namespace, name] = ref.includes('/') ? ref.split('/') : [defaultNamespace(ctx.scope), ref]
          return kubectlCommand(...ctx.kubectlArgs, 'get', 'secret', name ?? '', '-n', namespace ?? '', '-o', columns)
        })
      : [kubectlCommand(...ctx.kubectlArgs, 'get', 'secrets', ...(ctx.scope.all ? ['-A'] : ['-n', ctx.scope.namespace]), '--field-selector', `type=${TOKEN_SECRET_TYPE}`, '-o', columns)]
  const events = scopeArgs(ctx.where).map((scope) => kubectlCommand(...ctx.kubectlArgs, 'get', 'events', ...scope, '--field-selector', FAILED_MOUNT_EVENTS))
  return [...secrets, podsCommand(ctx), ...events, ...kubeletLogCommands(ctx)]
}

/** What --kubelet-log reads, by hand: the lines it looks for, from the same source. */
function kubeletLogCommands(ctx: Ctx): string[] {
  const source = ctx.flags.kubeletLog
  if (ctx.kubeletLog === undefined || source === undefined) return []
  const grep = ['grep', '-E', 'secrets? ".*" not found|Unauthorized'].map(shellQuote).join(' ')
  const kind = kubeletLogSource(source).kind
  if (kind === KubeletLogSourceKind.journal) {
    const since = ctx.kubeletLog.since ? new Date(ctx.kubeletLog.since) : new Date()
    return [`${['journalctl', ...journalArgs(since)].map(shellQuote).join(' ')} | ${grep}`]
  }
  return kind === KubeletLogSourceKind.file ? [`${grep} ${shellQuote(source)}`] : []
}

function restartCommands(ctx: Ctx): string[] {
  const timeout = `--timeout=${Math.round(ctx.timeoutMs / 1000)}s`
  return actionable(ctx.plan).flatMap((item) => [
    ...item.kubectl,
    ...(item.action === RestartAction.rolloutRestart
      ? [kubectlCommand(...ctx.kubectlArgs, 'rollout', 'status', `${item.owner.kind.toLowerCase()}/${item.owner.name}`, '-n', item.owner.namespace, timeout)]
      : []),
  ])
}

/** The text result: the Secrets, the plan, and what happened to each item. */
export function renderRestartText(ctx: Ctx): string {
  const out: string[] = []
  const found = ctx.found
  if (found && found.secrets.length > 0) {
    out.push('Regenerated token Secrets:')
    for (const s of found.secrets) {
      const extra = [s.replaces ? `replaces ${s.replaces}` : '', s.note ?? ''].filter(Boolean).join('; ')
      out.push(`  ${s.key}  regenerated-at ${s.regeneratedAt ?? '(unknown)'}${extra ? `  (${extra})` : ''}`)
    }
    out.push('')
  }
  if (ctx.boundBefore) out.push(`Bound tokens issued before ${ctx.boundBefore.toISOString()} count as old.`, '')
  if (ctx.kubeletLog) out.push(...renderKubeletLog(ctx.kubeletLog, found?.logged ?? []), '')
  if (ctx.plan) out.push('Plan:', renderPlanText(ctx.plan))
  if (ctx.results.length > 0) {
    const rows = [['NAMESPACE', 'WORKLOAD', 'ACTION', 'OUTCOME', 'DETAIL'], ...ctx.results.map((r) => [r.namespace, r.workload, r.action, r.outcome, r.detail])]
    const widths = [0, 1, 2, 3].map((c) => Math.max(...rows.map((row) => (row[c] ?? '').length)))
    out.push('', 'Results:', ...rows.map((row) => row.map((cell, c) => (c < 4 ? cell.padEnd(widths[c] ?? 0) : cell)).join('  ').trimEnd()))
    out.push('', summarizeResults(ctx.results))
  }
  if (ctx.backupUsed) out.push(`Backups of every object changed: ${ctx.backupDir}`)
  return out.join('\n').trim()
}

/** The kubelet log's part of the text result: where it was read, each Secret it names, the CNI errors. */
function renderKubeletLog(reading: KubeletLogReading, checks: readonly LoggedSecretCheck[]): string[] {
  const { scan } = reading
  const since = reading.since ? ` since ${reading.since}` : ''
  const older = scan.older > 0 ? `, ${scan.older} older left out` : ''
  const out = [`Kubelet log (${reading.source}${since}): ${plural(scan.lines, 'line')} read${older}`]
  for (const check of checks) {
    const pods = check.pods.length > 0 ? `; pods ${check.pods.join(', ')}` : ''
    out.push(`  Secret ${check.secret}: ${check.status}: ${check.reason} (${plural(check.lines, 'line')}${check.lastSeen ? `, last ${check.lastSeen}` : ''}${pods})`)
  }
  if (checks.length === 0) out.push('  no Secret reported missing')
  if (scan.cniUnauthorized) out.push(`  CNI: ${describeCniUnauthorized(scan.cniUnauthorized)}`)
  for (const note of reading.notes) out.push(`  note: ${note}`)
  return out
}

// ---------------------------------------------------------------------------
// Setup


function defaultNamespace(scope: Scope): string {
  return scope.all ? 'default' : scope.namespace
}

/** --bound-before: an RFC 3339 time, or `now`. */
export function parseBoundBefore(text: string | undefined, now: Date): Date | undefined {
  if (text === undefined) return undefined
  if (text.trim().toLowerCase() === 'now') return now
  const ms = parseRfc3339(text)
  if (ms === undefined) throw new UsageError(`--bound-before ${text} is not an RFC 3339 time: write it like 2026-06-01T12:00:00Z, or now`)
  return new Date(ms)
}

function positiveInteger(value: number, flag: string): number {
  if (!Number.isInteger(value) || value < 1) throw new UsageError(`--${flag} ${value} must be a whole number of at least 1`)
  return value
}

/**
 * Where pods are looked for: every namespace with -A; with --secret (and no
 * -n), the Secrets' own namespaces, since a pod can only name Secrets of its
 * namespace; else the namespace in scope.
 */
export function podNamespaces(scope: Scope, secretRefs: readonly string[], namespaceGiven: boolean): Namespaces {
  if (scope.all) return { all: true }
  const fromSecrets = secretRefs.map((ref) => parseSecretRef(ref, scope.namespace).namespace)
  const namespaces = secretRefs.length > 0 && !namespaceGiven ? fromSecrets : [scope.namespace, ...fromSecrets]
  return { all: false, namespaces: [...new Set(namespaces)] }
}

/** Throws the usage errors the flags can have on their own. */
export function checkFlags(flags: Flags, now: Date): void {
  parseBoundBefore(flags.boundBefore, now)
  positiveInteger(flags.timeout, 'timeout')
  positiveInteger(flags.maxParallel, 'max-parallel')
  if (flags.kubeletLog !== undefined) kubeletLogSource(flags.kubeletLog)
  if (flags.kubeletLogSince !== undefined) {
    if (flags.kubeletLog === undefined) throw new UsageError(`--kubelet-log-since needs --kubelet-log (${JOURNAL}, a file, or -)`)
    parseLogSince(flags.kubeletLogSince, now)
  }
}

/**
 * --kubelet-log, before any connection: its preconditions (journalctl on
 * PATH, stdin not a terminal) are usage errors (exit 2); then the log is read
 * once, and what it says about the CNI is a warning right away.
 */
async function readLogFlag(flags: Flags, io: { stdin: NodeJS.ReadableStream & { isTTY?: boolean }; env: NodeJS.ProcessEnv; now: () => Date }, output: Output): Promise<KubeletLogReading | undefined> {
  if (flags.kubeletLog === undefined) return undefined
  const source = kubeletLogSource(flags.kubeletLog)
  if (source.kind === KubeletLogSourceKind.stdin && io.stdin.isTTY) {
    throw new UsageError('--kubelet-log - reads the log from stdin, which is a terminal here: pipe the log in (journalctl -u kubelet -o cat | restart-dependent-pods --kubelet-log - …), or pass journal or a file')
  }
  await checkKubeletLogSource(source, io.env)
  const now = io.now()
  const since = flags.kubeletLogSince !== undefined ? parseLogSince(flags.kubeletLogSince, now) : undefined
  output.info(`kubelet log: reading ${source.kind === KubeletLogSourceKind.journal ? `the ${JOURNAL} (journalctl -u kubelet)` : source.kind === KubeletLogSourceKind.stdin ? 'stdin' : source.path}${since ? ` since ${since.toISOString()}` : ''}`)
  const reading = await readKubeletLog(source, { now, stdin: io.stdin, env: io.env, ...(since ? { since } : {}) })
  const { scan } = reading
  output.info(`kubelet log: ${plural(scan.lines, 'line')} read, ${plural(scan.missingSecrets.length, 'Secret')} not found${scan.cniUnauthorized ? `, CNI Unauthorized in ${plural(scan.cniUnauthorized.lines, 'line')}` : ''}`)
  for (const note of reading.notes) output.warn(`kubelet log: ${note}`)
  if (scan.cniUnauthorized) output.warn(`kubelet log: ${describeCniUnauthorized(scan.cniUnauthorized)}`)
  return reading
}

/** This runbook's state on top of a session: run alone, or by rotate-tokens with the session it shares. */
export function contextOf(session: Session, flags: Flags): Ctx {
  const boundBefore = parseBoundBefore(flags.boundBefore, session.now())
  return {
    ...session,
    flags,
    where: podNamespaces(session.scope, flags.secret, session.namespaceGiven),
    kubectlArgs: session.connection,
    ...(boundBefore ? { boundBefore } : {}),
    timeoutMs: positiveInteger(flags.timeout, 'timeout') * 1000,
    maxParallel: positiveInteger(flags.maxParallel, 'max-parallel'),
    backupDir: session.backup.dir,
    backupUsed: false,
    backupQueue: Promise.resolve(),
    results: [],
    pending: [],
    keyChanged: false,
    staleFound: false,
  }
}

/** The runbook's whole run, for its own entry point and for `kube-token-runbooks <runbook>`. */
export const main: Main = (io) =>
  runbookMain(io, {
    cli,
    runbook,
    context: async (args) => {
      checkFlags(args.cli.flags, args.io.now()) // usage errors before any connection
      const kubeletLog = await readLogFlag(args.cli.flags, { stdin: args.io.stdin, env: { ...args.cli.env }, now: args.io.now }, args.output)
      const ctx = contextOf(await openSession(args, { runbook: cli.name, defaultScope: 'context' }), args.cli.flags)
      return kubeletLog ? { ...ctx, kubeletLog } : ctx
    },
    extendReport: (_report, ctx) => ({
      secrets: ctx.found?.secrets ?? [],
      ...(ctx.kubeletLog
        ? {
            kubeletLog: {
              source: ctx.kubeletLog.source,
              ...(ctx.kubeletLog.since ? { since: ctx.kubeletLog.since } : {}),
              lines: ctx.kubeletLog.scan.lines,
              older: ctx.kubeletLog.scan.older,
              secrets: ctx.found?.logged ?? [],
              cniUnauthorized: ctx.kubeletLog.scan.cniUnauthorized ? { ...ctx.kubeletLog.scan.cniUnauthorized, advice: describeCniUnauthorized(ctx.kubeletLog.scan.cniUnauthorized) } : null,
              notes: ctx.kubeletLog.notes,
            },
          }
        : {}),
      plan: ctx.plan ?? null,
      results: ctx.results,
      ...(ctx.remaining ? { remaining: ctx.remaining } : {}),
      ...(ctx.backupUsed ? { backupDir: ctx.backupDir } : {}),
    }),
    renderText: (_report, ctx) => renderRestartText(ctx),
  })

await runMain(import.meta.url, main)
