// Carrying out a restart plan: each item through its owner (one rollout
// restart per workload, or waiting for one already under way), else the
// Eviction API pod by pod (which honours PodDisruptionBudgets), or, when
// asked, deleting a bare pod and creating it again. Every object is backed up
// right before it changes, and every wait has the run's deadline.
import type { V1Pod } from '@kubernetes/client-node'
import { mapLimit } from '../concurrency.ts'
import type { Backup } from '../backup.ts'
import { PartlyApplied, toStepError } from '../engine/failure.ts'
import { DomainError } from '../errors.ts'
import { isNotFound } from '../kube/clients.ts'
import { explainApiError } from '../kube/errors.ts'
import { serverTime } from '../kube/raw.ts'
import { evictAndWait, readWorkload, recreatePod, resourceName, rolloutRestart, waitForRollout, type RestartableKind, type WorkloadRef } from '../kube/workloads.ts'
import type { PodRef } from '../workloads/keys.ts'
import { ownerLabel } from '../workloads/owners.ts'
import { plural } from '../workloads/proof.ts'
import { RestartAction, type RestartItem, type RestartPlan } from '../workloads/restart-plan.ts'
import { actionable, leftAlone, resultBase, ResultOutcomes, summarizeResults, type RestartResult } from '../workloads/restart-results.ts'
import type { Ctx } from './context.ts'

/** What restart-workloads did: its result, which verify-dependents and the report read. */
export interface Restarted {
  /** Every item of the plan in plan order, the ones left alone (refused, skipped, reported) in their place. */
  readonly results: RestartResult[]
  /** Set when this run backed something up. */
  readonly backupDir?: string
}

/**
 * The run's side of one restart: the context, and the backup as this run
 * uses it (`saved` says whether anything was written).
 */
interface Restarter {
  readonly ctx: Readonly<Ctx>
  /** Backs an object up before it changes; returns the file, relative to the backup directory. */
  save(kind: string, object: Parameters<Backup['save']>[1]): Promise<string>
}

/**
 * Runs the plan's actionable items, at most --max-parallel at a time. A
 * failed item does not stop the others; when any failed, the step fails
 * naming each, and what was done still reaches the report (PartlyApplied).
 */
export async function restartAll(ctx: Readonly<Ctx>, plan: RestartPlan): Promise<{ summary: string; result: Restarted }> {
  let backedUp = false
  const restarter: Restarter = {
    ctx,
    save: async (kind, object) => {
      const copy = await ctx.backup.save(kind, object)
      backedUp = true
      return copy.file
    },
  }
  const todo = actionable(plan)
  const done = await mapLimit(todo, ctx.maxParallel, (item) => execute(restarter, item))
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
  const { ctx } = restarter
  const base = resultBase(item)
  ctx.output.info(`→ ${item.owner.namespace} ${ownerLabel(item.owner)}: ${item.action} (${plural(item.pods.length, 'pod')})`)
  try {
    switch (item.action) {
      case RestartAction.rolloutRestart:
        return { ...base, ...(await restartWorkload(restarter, item)) }
      case RestartAction.waitRollout:
        return { ...base, ...(await awaitRestart(ctx, item)) }
      case RestartAction.evict:
        return { ...base, ...(await evictPods(restarter, item)) }
      case RestartAction.recreate:
        return { ...base, ...(await recreateBarePod(restarter, item)) }
      default:
        return leftAlone(item)
    }
  } catch (err) {
    const error = toStepError(explainApiError(err, ctx.kube.kc))
    ctx.output.warn(`${item.owner.namespace} ${ownerLabel(item.owner)}: ${error.message}`)
    return { ...base, outcome: ResultOutcomes.failed, detail: error.message, error }
  }
}

/** How one item ended: the part of its result the action decides. */
type ItemOutcome = Pick<RestartResult, 'outcome' | 'detail' | 'replacements'>

async function restartWorkload({ ctx, save }: Restarter, item: RestartItem): Promise<ItemOutcome> {
  const workload = workloadOf(item)
  let current
  try {
    current = await readWorkload(ctx.kube, workload)
  } catch (err) {
    if (isNotFound(err)) throw new DomainError(`${resourceName(workload)} in ${workload.namespace} is gone: it was deleted since the plan was made; rerun to plan again`, { cause: err })
    throw err
  }
  await save(workload.kind, current)
  // The cluster's clock, as the regenerated-at stamps it is compared with (lib/workloads/restarted-at.ts).
  const restartedAt = await rolloutRestart(ctx.kube, workload, await serverTime(ctx.kube.kc, ctx.now))
  const done = await rolloutOf(ctx, item, restartedAt)
  return { outcome: ResultOutcomes.restarted, detail: `restarted at ${restartedAt}: ${done.detail}`, replacements: done.pods }
}

/** A restart already under way (from an interrupted run): wait for it, without patching the workload again. */
async function awaitRestart(ctx: Readonly<Ctx>, item: RestartItem): Promise<ItemOutcome> {
  const restartedAt = item.restartedAt!
  const done = await rolloutOf(ctx, item, restartedAt)
  return { outcome: ResultOutcomes.waited, detail: `already restarted at ${restartedAt}, not restarted again: ${done.detail}`, replacements: done.pods }
}

/** Waits for the rollout of the restart at `restartedAt`: new pods ready, the item's old pods gone. */
function rolloutOf(ctx: Readonly<Ctx>, item: RestartItem, restartedAt: string) {
  return waitForRollout(ctx.kube, {
    workload: workloadOf(item),
    restartedAt,
    oldUids: item.pods.map((d) => d.pod.uid),
    ...waitOptions(ctx),
  })
}

/** What every wait of a restart takes: the deadline, where progress goes, the commands it prints. */
function waitOptions(ctx: Readonly<Ctx>) {
  return { timeoutMs: ctx.timeoutMs, output: ctx.output, kubectlArgs: ctx.kubectlArgs, ...(ctx.seams ? { seams: ctx.seams } : {}) }
}

function workloadOf(item: RestartItem): WorkloadRef {
  return { kind: item.owner.kind as RestartableKind, namespace: item.owner.namespace, name: item.owner.name }
}

async function evictPods({ ctx, save }: Restarter, item: RestartItem): Promise<ItemOutcome> {
  const replacements: PodRef[] = []
  let evicted = 0
  // One at a time: each waits for its replacement, so the workload never loses more than one pod.
  for (const dependent of item.pods) {
    const pod = await currentPod(ctx, dependent.pod)
    if (!pod) continue
    await save('Pod', pod)
    const budgets = item.pdbs.filter((b) => b.pods.includes(dependent.pod.name)).map((b) => b.name)
    const result = await evictAndWait(ctx.kube, { pod, budgets, ...waitOptions(ctx) })
    if (result.outcome === 'evicted') evicted++
    for (const r of result.replacements) if (!replacements.some((p) => p.uid === r.uid)) replacements.push(r)
  }
  return { outcome: ResultOutcomes.evicted, detail: `${plural(evicted, 'pod')} evicted, ${item.pods.length - evicted} already gone`, replacements }
}

async function recreateBarePod({ ctx, save }: Restarter, item: RestartItem): Promise<ItemOutcome> {
  const dependent = item.pods[0]
  if (!dependent || !item.recreate) throw new Error(`internal: recreate item ${ownerLabel(item.owner)} has no pod or no replacement spec`)
  const pod = await currentPod(ctx, dependent.pod)
  if (!pod) return { outcome: ResultOutcomes.recreated, detail: 'already gone (deleted or re-created since the plan)', replacements: [] }
  const backupFile = await save('Pod', pod)
  const created = await recreatePod(ctx.kube, { pod, replacement: item.recreate, backupFile, ...waitOptions(ctx) })
  return { outcome: ResultOutcomes.recreated, detail: `re-created with uid ${created.uid} (backup ${backupFile})`, replacements: [created] }
}

/** Reads a pod again; undefined when it is gone or another pod took its name. */
async function currentPod(ctx: Readonly<Ctx>, pod: PodRef): Promise<V1Pod | undefined> {
  try {
    const current = await ctx.kube.core.readNamespacedPod({ namespace: pod.namespace, name: pod.name })
    return current.metadata?.uid === pod.uid ? current : undefined
  } catch (err) {
    if (isNotFound(err)) return undefined
    throw err
  }
}
