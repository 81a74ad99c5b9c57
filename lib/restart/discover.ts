// Finding the pods that hold an old token, from live state: the regenerated
// token Secrets (marked regenerated-at, named with --secret, or about to be
// regenerated), the pods in scope, FailedMount events when a pod is stuck,
// and with --kubelet-log the Secrets the kubelet could not find, once the API
// server confirms them gone. Reads only; the judgement is lib/workloads'.
import type { V1Pod } from '@kubernetes/client-node'
import { mapLimit } from '../concurrency.ts'
import { isNotFound, statusOf } from '../kube/clients.ts'
import { withApiErrors } from '../kube/errors.ts'
import { listTokenSecrets, parseSecretRef, readTokenSecret } from '../kube/token-secrets.ts'
import { listFailedMountEvents, listPods } from '../kube/workloads.ts'
import { checkLoggedSecrets, placeLoggedSecrets, type LoggedSecretCheck, type SecretLookup } from '../kubelet/evidence.ts'
import type { KubeletLogReading } from '../kubelet/read.ts'
import { findDependentPods, isStuckCreating, type DependentPod } from '../workloads/dependents.ts'
import type { PodRef } from '../workloads/keys.ts'
import { keepsWholePod, slimListedPod } from '../workloads/slim.ts'
import { dependencyTargets, regeneratedSecretOf, startedBeforeRegeneration, type RegeneratedSecret } from '../workloads/regenerated.ts'
import { defaultNamespace, type Ctx, type Upstream } from './context.ts'

/** What find-dependent-pods found: its plan, which plan-restarts builds on. */
export interface Discovery {
  readonly secrets: RegeneratedSecret[]
  /** Every pod in scope: whole where keepsWholePod says so, else slimListedPod's part. */
  readonly pods: V1Pod[]
  readonly dependents: DependentPod[]
  /** Pods that name a regenerated Secret but started after it. */
  readonly upToDate: PodRef[]
  readonly renamedSecrets: Map<string, string>
  /** With --kubelet-log: each Secret the log names, checked against the API server. */
  readonly logged: LoggedSecretCheck[]
}

export async function discover(ctx: Readonly<Ctx>, upstream: Upstream): Promise<Discovery> {
  const { kube } = ctx
  const secrets = await withApiErrors(kube.kc, () => findSecrets(ctx, upstream))
  // Kept whole only where a backup or re-creation may need them; the rest slimmed as each page arrives.
  const pods = await withApiErrors(kube.kc, () => listPods(kube, ctx.where, ctx.selector, (pod) => (keepsWholePod(pod) ? pod : slimListedPod(pod))))
  // Events are only worth a request when some pod is stuck creating.
  const events = pods.some(isStuckCreating) ? await withApiErrors(kube.kc, () => listFailedMountEvents(kube, ctx.where)) : []
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
async function checkLogged(ctx: Readonly<Ctx>, reading: KubeletLogReading, pods: readonly V1Pod[]) {
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

async function findSecrets(ctx: Readonly<Ctx>, upstream: Upstream): Promise<RegeneratedSecret[]> {
  const found = await findMarkedSecrets(ctx)
  if (upstream.pending.length === 0) return found
  // About to be regenerated: every pod that names one holds the token that is about to change.
  const pending = upstream.pending.map((secret): RegeneratedSecret => {
    // An older regenerated-at says nothing about the regeneration to come.
    const { regeneratedAt: _older, ...rest } = regeneratedSecretOf(secret, true)!
    return { ...rest, note: 'about to be regenerated: every pod that names it holds the token that will change' }
  })
  const keys = new Set(pending.map((s) => s.key))
  return [...found.filter((s) => !keys.has(s.key)), ...pending]
}

async function findMarkedSecrets(ctx: Readonly<Ctx>): Promise<RegeneratedSecret[]> {
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
