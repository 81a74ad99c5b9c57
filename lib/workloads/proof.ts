// The proof of the outcome, for pods: after a repair, which pods in scope may
// still hold a token from a retired key, and what a person should do about
// each. Two sources:
//  - what a restart plan made from scratch still holds (pods that name a
//    regenerated Secret and started before it, pods stuck on a missing
//    Secret, projected tokens before --bound-before): each item is left for
//    a person with the next action its action implies;
//  - projected (bound) tokens: the API never shows them, so a pod whose
//    token was bound before the key change cannot be proven fine. The key
//    change time is not visible either; it is approximated (see
//    keyChangeCutoff) and pods started before it are listed, never passed.
// Pure: the caller lists pods and builds the plan.
import type { V1Pod } from '@kubernetes/client-node'
import { boundTokenVolumesOf } from './references.ts'
import { compareStrings, podRef, timeOf, type PodRef } from './keys.ts'
import { ownerLabel } from './owners.ts'
import { RestartAction, type RestartItem, type RestartPlan } from './restart-plan.ts'

/** The kubelet re-issues a projected token after at most 24 h: an older key change no longer shows in projected tokens. */
export const KUBELET_MAX_TOKEN_AGE_MS = 24 * 60 * 60 * 1000

/** When the signing key changed, as far as this run can tell, and how it knows. */
export interface KeyChangeCutoff {
  readonly at: string
  /** `bound-before`: the operator said so (and asked for those pods to be restarted); the others are inferred. */
  readonly source: 'bound-before' | 'regenerated-at' | 'stale-tokens'
  readonly why: string
}

export interface CutoffInput {
  /** --bound-before, when given. */
  readonly boundBefore?: Date
  /** regenerated-at of the token Secrets in scope (ISO 8601; undefined where not stamped). */
  readonly regeneratedAt: readonly (string | undefined)[]
  /** This run found token Secrets signed by a key the cluster no longer trusts. */
  readonly staleFound: boolean
  readonly now: Date
}

/**
 * The key change as the run can date it, or undefined when nothing in scope
 * shows one. --bound-before wins. Else the earliest regenerated-at of the last
 * 24 h: the regeneration followed the key change, so a projected token bound
 * before the first regeneration may be signed by the retired key (pods started
 * between the key change and the regeneration are listed too: conservative).
 * Else, when this run found stale tokens (nothing regenerated yet: a dry run),
 * now. Known limit: two key changes within 24 h date back to the first.
 */
export function keyChangeCutoff(input: CutoffInput): KeyChangeCutoff | undefined {
  if (input.boundBefore) return { at: input.boundBefore.toISOString(), source: 'bound-before', why: `--bound-before ${input.boundBefore.toISOString()}` }
  const now = input.now.getTime()
  const recent = input.regeneratedAt
    .map((stamp) => timeOf(stamp))
    .filter((ms): ms is number => ms !== undefined && ms <= now && now - ms <= KUBELET_MAX_TOKEN_AGE_MS)
  if (recent.length > 0) {
    // regenerated-at is the server's clock in whole seconds, rounded up: the regeneration began in the second before it.
    const at = new Date(Math.min(...recent) - 1000).toISOString()
    return { at, source: 'regenerated-at', why: `the key change (dated by the first regeneration in scope, ${at})` }
  }
  if (input.staleFound) return { at: input.now.toISOString(), source: 'stale-tokens', why: 'the key change (this run found tokens signed by a key the cluster no longer trusts)' }
  return undefined
}

/** One pod a person must look at: which, why, and the next action. */
export interface LeftPod {
  /** `plan`: a fresh restart plan still lists it; `projected`: a projected token nothing can prove fine. */
  readonly source: 'plan' | 'projected'
  readonly pod: PodRef
  /** `Deployment/web`, `bare/debug`; empty when the owner was not resolved. */
  readonly owner: string
  readonly why: string
  readonly fix: string
}

function isGoneOrFinished(pod: V1Pod): boolean {
  return pod.metadata?.deletionTimestamp != null || pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed'
}

/**
 * Pods with a projected service-account token that started before the key
 * change (or whose start is unknown): their token may be signed by the
 * retired key, and nothing the API shows can say otherwise. Pods in `known`
 * (by uid) are already accounted for. None when there is no cutoff, or when
 * the cutoff is --bound-before (those pods are then restarted and proven like
 * any other dependent).
 */
export function unprovenBoundTokens(pods: readonly V1Pod[], cutoff: KeyChangeCutoff | undefined, known: ReadonlySet<string> = new Set()): LeftPod[] {
  if (!cutoff || cutoff.source === 'bound-before') return []
  const at = Date.parse(cutoff.at)
  const left: LeftPod[] = []
  for (const pod of pods) {
    if (isGoneOrFinished(pod) || known.has(pod.metadata?.uid ?? '')) continue
    const volumes = boundTokenVolumesOf(pod)
    if (volumes.length === 0) continue
    const started = timeOf(pod.status?.startTime) ?? timeOf(pod.metadata?.creationTimestamp)
    if (started !== undefined && started >= at) continue
    left.push({
      source: 'projected',
      pod: podRef(pod),
      owner: '',
      why: `projected token (volume ${volumes.join(', ')}) bound ${started === undefined ? 'at an unknown time' : `at pod start ${new Date(started).toISOString()}`}, before ${cutoff.why}: it may be signed by the retired key, and the API cannot show it`,
      fix: `restart it, or rerun with --bound-before ${cutoff.at} to have it restarted`,
    })
  }
  return left.sort((a, b) => compareStrings(a.pod.namespace, b.pod.namespace) || compareStrings(a.pod.name, b.pod.name))
}

/** The next action for what a fresh plan still finds. */
function fixFor(item: RestartItem): string {
  switch (item.action) {
    case RestartAction.refuse:
      return 'rerun with --recreate-bare-pods, or re-create it yourself'
    default:
      return 'rerun to restart it'
  }
}

/** Reported, not failed: Jobs (their next run gets the new token) and static pods (the kubelet owns them). */
const REPORTED: ReadonlySet<RestartAction> = new Set([RestartAction.report, RestartAction.skip])

/** Every pod a fresh restart plan still lists, one entry per pod (reported Jobs and static pods aside). */
export function leftInPlan(plan: RestartPlan | undefined): LeftPod[] {
  return (plan?.items ?? []).filter((item) => !REPORTED.has(item.action)).flatMap((item) =>
    item.pods.map((dependent) => ({ source: 'plan' as const, pod: dependent.pod, owner: ownerLabel(item.owner), why: item.why, fix: fixFor(item) })),
  )
}

export interface PodProof {
  readonly ok: boolean
  /** One line per pod, for "needs a person". */
  readonly lines: string[]
  readonly summary: string
  readonly left: LeftPod[]
  /** How many of `left` hold a projected token bound before the key change. */
  readonly projected: number
}

/** `1 pod`, `3 pods`. */
export function plural(n: number, one: string): string {
  return `${n} ${n === 1 ? one : `${one}s`}`
}

/**
 * The judgement: the pods a fresh plan still lists and the projected tokens
 * nothing can prove fine. Jobs and static pods are named, not failed (as the
 * restart step reports them). `checked` is how many pods were looked at.
 */
export function judgePods(input: { plan: RestartPlan | undefined; unproven: readonly LeftPod[]; checked: number }): PodProof {
  const left = [...leftInPlan(input.plan), ...input.unproven]
  const lines = left.map((l) => `pod ${l.pod.namespace}/${l.pod.name}${l.owner ? ` (${l.owner})` : ''}: ${l.why}; ${l.fix}`)
  const reported = (input.plan?.items ?? []).filter((item) => REPORTED.has(item.action))
  const aside = reported.length > 0 ? ` (${reported.length} reported, left as they are: ${reported.map((i) => `${i.owner.namespace}/${ownerLabel(i.owner)}`).join(', ')})` : ''
  if (left.length === 0) return { ok: true, lines, left, projected: 0, summary: `none of the ${plural(input.checked, 'pod')} in scope holds a token from before the repair${aside}` }
  const count = (pred: (l: LeftPod) => boolean) => left.filter(pred).length
  const projected = count((l) => l.source === 'projected')
  const refused = (input.plan?.items ?? []).filter((i) => i.action === RestartAction.refuse).reduce((n, i) => n + i.pods.length, 0)
  const parts = [
    refused > 0 ? `${plural(refused, 'bare pod')} refused` : '',
    left.length - projected - refused > 0 ? `${left.length - projected - refused} still on an old Secret token or stuck` : '',
    projected > 0 ? `${projected} with a projected token bound before the key change` : '',
  ].filter(Boolean)
  return { ok: false, lines, left, projected, summary: `${plural(left.length, 'pod')} may still hold an old token (${parts.join(', ')})${aside}` }
}
