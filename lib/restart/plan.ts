// The restart plan from a discovery: reads the owners and
// PodDisruptionBudgets of the dependents' namespaces, then hands everything
// to the pure planner (lib/workloads/restart-plan.ts).
import type { V1Pod } from '@kubernetes/client-node'
import { withApiErrors } from '../kube/errors.ts'
import { listOwnerObjects, listPdbs, type Namespaces } from '../kube/workloads.ts'
import type { DependentPod } from '../workloads/dependents.ts'
import { buildOwnerIndex, type OwnerIndex } from '../workloads/owners.ts'
import { planRestarts, type RestartPlan } from '../workloads/restart-plan.ts'
import type { Ctx } from './context.ts'
import type { Discovery } from './discover.ts'

/** Above this many namespaces, one cluster-wide list is cheaper than one list per namespace. */
const PER_NAMESPACE_LISTS = 10

/**
 * The plan, with the objects it was made from: the restarts back a workload
 * or pod up as listed here, instead of reading each one again (no GET per
 * object). Not part of the report (see `planOnly`).
 */
export interface Planned extends RestartPlan {
  readonly listed: { readonly owners: OwnerIndex; readonly pods: readonly V1Pod[] }
}

/** The plan without the objects it was made from, as reports show it. */
export function planOnly({ listed: _listed, ...plan }: Planned): RestartPlan {
  return plan
}

export async function planFor(ctx: Readonly<Ctx>, found: Discovery): Promise<Planned> {
  const context = {
    pods: found.pods,
    recreateBarePods: ctx.flags.recreateBarePods,
    renamedSecrets: found.renamedSecrets,
    kubectlArgs: ctx.kubectlArgs,
    regeneratedAt: new Map(found.secrets.map((s) => [s.key, s.regeneratedAt])),
  }
  if (found.dependents.length === 0) {
    const owners = buildOwnerIndex()
    return { ...planRestarts([], { ...context, owners }), listed: { owners, pods: found.pods } }
  }
  const namespaces = namespacesIn(found.dependents)
  const where: Namespaces = ctx.where.all && namespaces.length > PER_NAMESPACE_LISTS ? { all: true } : { all: false, namespaces }
  const [objects, pdbs] = await withApiErrors(ctx.kube.kc, () => Promise.all([listOwnerObjects(ctx.kube, where), listPdbs(ctx.kube, where)]))
  const owners = buildOwnerIndex(objects)
  return { ...planRestarts(found.dependents, { ...context, owners, pdbs }), listed: { owners, pods: found.pods } }
}

/** The namespaces of the dependents, sorted. */
export function namespacesIn(dependents: readonly DependentPod[]): string[] {
  return [...new Set(dependents.map((d) => d.pod.namespace))].sort()
}
