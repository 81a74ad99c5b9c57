// Carrying out a restart plan: each item through its owner (one rollout
// restart per workload, or waiting for one already under way), else the
// Eviction API pod by pod (which honours PodDisruptionBudgets), or, when
// asked, deleting a bare pod and creating it again. Every object is backed up
// right before it changes, and every wait has the run's deadline. All items
// run at once: their waits read one shared watch cache and send no requests,
// so only the writes are bounded (--max-parallel).
import type { V1Pod } from '@kubernetes/client-node'
import { limiter, type Gate } from '../concurrency.ts'
import type { Backup } from '../backup.ts'
import { PartlyApplied, toStepError } from '../engine/failure.ts'
import { DomainError } from '../errors.ts'
import { isNotFound } from '../kube/clients.ts'
import { explainApiError } from '../kube/errors.ts'
import { serverClock } from '../kube/raw.ts'
import { withWatchCache } from '../kube/watch-cache.ts'
import {
  evictAndWait,
  podStillThere,
  readWorkload,
  recreatePod,
  resourceName,
  rolloutRestart,
  waitForRollout,
  watchScope,
  type RestartableKind,
  type WorkloadRef,
} from '../kube/workloads.ts'
import type { Output } from '../output.ts'
import { sharedStatus } from '../wait.ts'
import type { PodRef } from '../workloads/keys.ts'
import { ownerLabel } from '../workloads/owners.ts'
import { isWholePod } from '../workloads/slim.ts'
import { plural } from '../workloads/proof.ts'
import { RestartAction, type RestartItem } from '../workloads/restart-plan.ts'
import { actionable, leftAlone, resultBase, ResultOutcomes, summarizeResults, type RestartResult } from '../workloads/restart-results.ts'
import type { Ctx } from './context.ts'
import type { Planned } from './plan.ts'

/** What restart-workloads did: its result, which verify-dependents and the report read. */
export interface Restarted {
  /** Every item of the plan in plan order, the ones left alone (refused, skipped, reported) in their place. */
  readonly results: RestartResult[]
  /** Set when this run backed something up. */
  readonly backupDir?: string
}

/** The run's side of the restarts: what every item shares while they run at once. */
interface Restarter {
  readonly ctx: Readonly<Ctx>
  /** Backs an object up before it changes (concurrent saves are safe); returns the file, relative to the backup directory. */
  save(kind: string, object: Parameters<Backup['save']>[1]): Promise<string>
  /** Bounds the writes (--max-parallel); the waits are free. */
  readonly writes: Gate
  /** The API server's clock, as the regenerated-at stamps it is compared with (lib/workloads/restarted-at.ts). */
  readonly clock: () => Date
  /** One status line for all the waits under way, not one line per wait. */
  readonly output: Output
  /** The workloads the plan was made from: backed up as listed, not read again. */
  readonly owners: Planned['listed']['owners']
  /** The pods the plan was made from and kept whole (see keepsWholePod), by uid. */
  readonly pods: ReadonlyMap<string, V1Pod>
}

/**
 * Runs the plan's actionable items, all at once, the writes at most
 * --max-parallel at a time. A failed item does not stop the others; when any
 * failed, the step fails naming each, and what was done still reaches the
 * report (PartlyApplied).
 */
export async function restartAll(ctx: Readonly<Ctx>, plan: Planned): Promise<{ summary: string; result: Restarted }> {
  let backedUp = false
  const restarter: Restarter = {
    ctx,
    save: async (kind, object) => {
      const copy = await ctx.backup.save(kind, object)
      backedUp = true
      return copy.file
    },
    writes: limiter(ctx.maxParallel),
    clock: await serverClock(ctx.kube.kc, ctx.now),
    output: sharedStatus(ctx.output),
    owners: plan.listed.owners,
    pods: new Map(plan.listed.pods.filter(isWholePod).map((pod) => [pod.metadata?.uid ?? '', pod])),
  }
  const todo = actionable(plan)
  const scope = watchScope(ctx.where, todo.map((item) => item.owner.namespace))
  const done = await withWatchCache(ctx.kube, scope, () => Promise.all(todo.map((item) => execute(restarter, item))))
  const byItem = new Map(todo.map((item, i) => [item, done[i]!]))
  const result: Restarted = { results: plan.items.map((item) => byItem.get(item) ?? leftAlone(item)), ...(backedUp ? { backupDir: ctx.backup.dir } : {}) }
  const failed = done.filter((r) => r.outcome === ResultOutcomes.failed)
  if (failed.length > 0) {
    const what = failed.map((r) => `${r.namespace} ${r.workload}: ${r.detail}`).join('; ')
    throw new PartlyApplied(failed.length === 1 ? what : `${failed.length} of ${todo.length} restarts failed: ${what}`, result)
  }
  return { summary: `${summarizeResults(done)}${result.backupDir ? `; backups in ${result.backupDir}` : ''}`, result }
}

/** Runs one item of the plan; a failure becomes its result, so the other items go on. */
async function execute(restarter: Restarter, item: RestartItem): Promise<RestartResult> {
  const { ctx, output } = restarter
  const base = resultBase(item)
  output.info(`→ ${item.owner.namespace} ${ownerLabel(item.owner)}: ${item.action} (${plural(item.pods.length, 'pod')})`)
  try {
    switch (item.action) {
      case RestartAction.rolloutRestart:
        return { ...base, ...(await restartWorkload(restarter, item)) }
      case RestartAction.waitRollout:
        return { ...base, ...(await awaitRestart(restarter, item)) }
      case RestartAction.evict:
        return { ...base, ...(await evictPods(restarter, item)) }
      case RestartAction.recreate:
        return { ...base, ...(await recreateBarePod(restarter, item)) }
      default:
        return leftAlone(item)
    }
  } catch (err) {
    const error = toStepError(explainApiError(err, ctx.kube.kc))
    output.warn(`${item.owner.namespace} ${ownerLabel(item.owner)}: ${error.message}`)
    return { ...base, outcome: ResultOutcomes.failed, detail: error.message, error }
  }
}

/** How one item ended: the part of its result the action decides. */
type ItemOutcome = Pick<RestartResult, 'outcome' | 'detail' | 'replacements'>

async function restartWorkload(restarter: Restarter, item: RestartItem): Promise<ItemOutcome> {
  const { ctx, save, writes, clock } = restarter
  const workload = workloadOf(item)
  await save(workload.kind, await plannedWorkload(restarter, workload))
  // A workload deleted since the plan fails here (rolloutRestart names it).
  const restartedAt = await writes(() => rolloutRestart(ctx.kube, workload, clock()))
  const done = await rolloutOf(restarter, item, restartedAt)
  return { outcome: ResultOutcomes.restarted, detail: `restarted at ${restartedAt}: ${done.detail}`, replacements: done.pods }
}

/** The workload as the plan listed it (no GET per workload), for its backup; read only when the plan has not got it. */
async function plannedWorkload({ ctx, owners }: Restarter, workload: WorkloadRef) {
  const byKind = { Deployment: owners.deployments, StatefulSet: owners.statefulSets, DaemonSet: owners.daemonSets }
  const known = byKind[workload.kind].get(`${workload.namespace}/${workload.name}`)
  if (known) return known
  try {
    return await readWorkload(ctx.kube, workload)
  } catch (err) {
    if (isNotFound(err)) throw new DomainError(`${resourceName(workload)} in ${workload.namespace} is gone: it was deleted since the plan was made; rerun to plan again`, { cause: err })
    throw err
  }
}

/** A restart already under way (from an interrupted run): wait for it, without patching the workload again. */
async function awaitRestart(restarter: Restarter, item: RestartItem): Promise<ItemOutcome> {
  const restartedAt = item.restartedAt!
  const done = await rolloutOf(restarter, item, restartedAt)
  return { outcome: ResultOutcomes.waited, detail: `already restarted at ${restartedAt}, not restarted again: ${done.detail}`, replacements: done.pods }
}

/** Waits for the rollout of the restart at `restartedAt`: new pods ready, the item's old pods gone. */
function rolloutOf(restarter: Restarter, item: RestartItem, restartedAt: string) {
  return waitForRollout(restarter.ctx.kube, {
    workload: workloadOf(item),
    restartedAt,
    oldUids: item.pods.map((d) => d.pod.uid),
    ...waitOptions(restarter),
  })
}

/** What every wait of a restart takes: the deadline, where progress goes, the commands it prints. */
function waitOptions({ ctx, output }: Restarter) {
  return { timeoutMs: ctx.timeoutMs, output, kubectlArgs: ctx.kubectlArgs, ...(ctx.seams ? { seams: ctx.seams } : {}) }
}

function workloadOf(item: RestartItem): WorkloadRef {
  return { kind: item.owner.kind as RestartableKind, namespace: item.owner.namespace, name: item.owner.name }
}

async function evictPods(restarter: Restarter, item: RestartItem): Promise<ItemOutcome> {
  const { ctx, save } = restarter
  const replacements: PodRef[] = []
  let evicted = 0
  // One at a time: each waits for its replacement, so the workload never loses more than one pod.
  for (const dependent of item.pods) {
    const pod = await currentPod(restarter, dependent.pod)
    if (!pod) continue
    await save('Pod', pod)
    const budgets = item.pdbs.filter((b) => b.pods.includes(dependent.pod.name)).map((b) => b.name)
    const result = await evictAndWait(ctx.kube, { pod, budgets, ...waitOptions(restarter), gate: restarter.writes })
    if (result.outcome === 'evicted') evicted++
    for (const r of result.replacements) if (!replacements.some((p) => p.uid === r.uid)) replacements.push(r)
  }
  return { outcome: ResultOutcomes.evicted, detail: `${plural(evicted, 'pod')} evicted, ${item.pods.length - evicted} already gone`, replacements }
}

async function recreateBarePod(restarter: Restarter, item: RestartItem): Promise<ItemOutcome> {
  const { ctx, save } = restarter
  const dependent = item.pods[0]
  if (!dependent || !item.recreate) throw new Error(`internal: recreate item ${ownerLabel(item.owner)} has no pod or no replacement spec`)
  const pod = await currentPod(restarter, dependent.pod)
  if (!pod) return { outcome: ResultOutcomes.recreated, detail: 'already gone (deleted or re-created since the plan)', replacements: [] }
  const backupFile = await save('Pod', pod)
  const created = await recreatePod(ctx.kube, { pod, replacement: item.recreate, backupFile, ...waitOptions(restarter), gate: restarter.writes })
  return { outcome: ResultOutcomes.recreated, detail: `re-created with uid ${created.uid} (backup ${backupFile})`, replacements: [created] }
}

/**
 * The pod whole, for its backup, if the shared watch cache still has it under
 * that uid; undefined when it is gone or another pod took its name. As
 * discovery kept it (no GET per pod), else read: discovery keeps only the
 * pods a backup may need whole (see keepsWholePod).
 */
async function currentPod({ ctx, pods }: Restarter, pod: PodRef): Promise<V1Pod | undefined> {
  if (!(await podStillThere(ctx.kube, pod))) return undefined
  const kept = pods.get(pod.uid)
  if (kept) return kept
  const read = await ctx.kube.core.readNamespacedPod({ namespace: pod.namespace, name: pod.name })
  return read.metadata?.uid === pod.uid ? read : undefined
}
