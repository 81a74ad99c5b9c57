// What happened to each item of a restart plan, and the one line that sums
// it up. Pure: lib/restart/execute.ts does the restarts and fills these in.
import type { StepError } from '../engine/types.ts'
import type { PodRef } from './keys.ts'
import { ownerLabel } from './owners.ts'
import { plural } from './proof.ts'
import { RestartAction, type RestartItem, type RestartPlan } from './restart-plan.ts'

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

const ACTIONABLE: ReadonlySet<RestartAction> = new Set([RestartAction.rolloutRestart, RestartAction.waitRollout, RestartAction.evict, RestartAction.recreate])

/** The items a restart acts on; the others (refused, skipped, reported) are left alone. */
export function actionable(plan: RestartPlan | undefined): RestartItem[] {
  return (plan?.items ?? []).filter((item) => ACTIONABLE.has(item.action))
}

/** The outcomes that replaced the item's pods. */
const REPLACED: ReadonlySet<ResultOutcome> = new Set([ResultOutcomes.restarted, ResultOutcomes.waited, ResultOutcomes.evicted, ResultOutcomes.recreated])

/** The results whose pods were replaced (restarted, waited for, evicted, re-created). */
export function replacedBy(results: readonly RestartResult[]): RestartResult[] {
  return results.filter((r) => REPLACED.has(r.outcome))
}

/** The result of an item nothing is done to: refused, skipped or reported, with the plan's notes. */
export function leftAlone(item: RestartItem): RestartResult {
  const outcome = item.action === RestartAction.refuse ? ResultOutcomes.refused : item.action === RestartAction.skip ? ResultOutcomes.skipped : ResultOutcomes.reported
  return { ...resultBase(item), outcome, detail: item.notes.join('; ') }
}

export function resultBase(item: RestartItem): Pick<RestartResult, 'namespace' | 'workload' | 'action' | 'pods' | 'replacements'> {
  return { namespace: item.owner.namespace, workload: ownerLabel(item.owner), action: item.action, pods: item.pods.map((d) => d.pod), replacements: [] }
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
