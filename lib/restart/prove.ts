// The proof after the restarts, from the cluster as it is now: none of the
// replaced pods is left, and a discovery made from scratch finds no pod still
// on an old token (lib/workloads/proof.ts judges what it finds).
import type { Verified } from '../engine/types.ts'
import { withApiErrors } from '../kube/errors.ts'
import { listPods } from '../kube/workloads.ts'
import { DependencyKind } from '../workloads/dependents.ts'
import { judgePods, keyChangeCutoff, plural, unprovenBoundTokens, type KeyChangeCutoff, type PodProof } from '../workloads/proof.ts'
import type { RegeneratedSecret } from '../workloads/regenerated.ts'
import type { RestartPlan } from '../workloads/restart-plan.ts'
import { replacedBy, type RestartResult } from '../workloads/restart-results.ts'
import type { Ctx, Upstream } from './context.ts'
import { discover, type Discovery } from './discover.ts'
import { planFor, planOnly } from './plan.ts'

/** What the proof of the pods found (verify-dependents' plan; rotate-tokens' final proof). */
export interface PodsProof {
  readonly proof: PodProof
  /** What a fresh plan still finds to do. */
  readonly remaining: RestartPlan
  /** The regenerated token Secrets this proof saw (their backup directories name the repair's backups). */
  readonly secrets: RegeneratedSecret[]
}

/**
 * The pods' proof, from scratch: what a fresh plan still finds, and the
 * projected tokens bound before the key change. Run alone (no known key
 * change), the latter are named in the summary but do not fail it.
 * `results` are this run's restarts (none before they ran).
 */
export async function provePodsAfter(ctx: Readonly<Ctx>, upstream: Upstream, results: readonly RestartResult[]): Promise<PodsProof> {
  const created = new Set(results.flatMap((r) => r.replacements.map((p) => p.uid)))
  const found = freshReplacementsAside(await discover(ctx, upstream), created)
  const remaining = planOnly(await planFor(ctx, found))
  // Dependents are judged above; the pods this run created came after the regeneration.
  const known = new Set([...found.dependents.map((d) => d.pod.uid), ...created])
  const cutoff = cutoffOf(ctx, upstream, found)
  const unproven = unprovenBoundTokens(found.pods, cutoff, known)
  const proof = judgePods({ plan: remaining, unproven: ctx.keyChanged ? unproven : [], checked: found.pods.length })
  if (ctx.keyChanged || unproven.length === 0) return { proof, remaining, secrets: found.secrets }
  const notJudged = `not judged: ${plural(unproven.length, 'pod')} with a projected token bound before ${cutoff!.at} (the API cannot show it): if the signing key changed, rerun with --bound-before ${cutoff!.at}`
  return { proof: { ...proof, summary: `${proof.summary}; ${notJudged}` }, remaining, secrets: found.secrets }
}

/**
 * The pods this run created in place of old ones (rollouts, evictions,
 * re-creations) were created after the regeneration and its refill, so they
 * read the new token, even when their start time, in whole seconds, ties with
 * regenerated-at (the server clock, rounded up): those references are not
 * counted against them. Missing Secrets and projected tokens still are.
 */
function freshReplacementsAside(found: Discovery, created: ReadonlySet<string>): Discovery {
  if (created.size === 0) return found
  const dependents = found.dependents.flatMap((d) => {
    if (!created.has(d.pod.uid)) return [d]
    const reasons = d.reasons.filter((r) => r.kind !== DependencyKind.referencesSecret)
    return reasons.length === 0 ? [] : [{ ...d, reasons }]
  })
  return { ...found, dependents }
}

/** When the key changed, as far as the pods' proof can tell (see keyChangeCutoff). */
function cutoffOf(ctx: Readonly<Ctx>, upstream: Upstream, found: Discovery): KeyChangeCutoff | undefined {
  return keyChangeCutoff({
    ...(ctx.boundBefore ? { boundBefore: ctx.boundBefore } : {}),
    regeneratedAt: found.secrets.map((s) => s.regeneratedAt),
    staleFound: upstream.staleFound,
    now: ctx.now(),
  })
}

/** Fresh from the cluster: none of the pods the restarts replaced may be left. */
export async function replacedPodsGone(ctx: Readonly<Ctx>, results: readonly RestartResult[]): Promise<Verified> {
  const acted = replacedBy(results)
  const old = new Set(acted.flatMap((r) => r.pods.map((p) => p.uid)))
  const namespaces = [...new Set(acted.map((r) => r.namespace))]
  const pods = namespaces.length === 0 ? [] : await withApiErrors(ctx.kube.kc, () => listPods(ctx.kube, { all: false, namespaces }))
  const left = pods.filter((p) => old.has(p.metadata?.uid ?? ''))
  return left.length === 0
    ? { ok: true, summary: `none of the ${old.size} replaced pod(s) is left` }
    : { ok: false, summary: `${left.length} replaced pod(s) still there: ${left.map((p) => `${p.metadata?.namespace}/${p.metadata?.name}`).join(', ')}; look at them with kubectl describe pod, then rerun` }
}
