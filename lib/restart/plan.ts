// The restart plan from a discovery: reads the owners and
// PodDisruptionBudgets of the dependents' namespaces, then hands everything
// to the pure planner (lib/workloads/restart-plan.ts).
import { withApiErrors } from '../kube/errors.ts'
import { listOwnerObjects, listPdbs, type Namespaces } from '../kube/workloads.ts'
import type { DependentPod } from '../workloads/dependents.ts'
import { buildOwnerIndex } from '../workloads/owners.ts'
import { planRestarts, type RestartPlan } from '../workloads/restart-plan.ts'
import type { Ctx } from './context.ts'
import type { Discovery } from './discover.ts'

/** Above this many namespaces, one cluster-wide list is cheaper than one list per namespace. */
const PER_NAMESPACE_LISTS = 10

export async function planFor(ctx: Readonly<Ctx>, found: Discovery): Promise<RestartPlan> {
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
  const [objects, pdbs] = await withApiErrors(ctx.kube.kc, () => Promise.all([listOwnerObjects(ctx.kube, where), listPdbs(ctx.kube, where)]))
  return planRestarts(found.dependents, { ...context, owners: buildOwnerIndex(objects), pdbs })
}

/** The namespaces of the dependents, sorted. */
export function namespacesIn(dependents: readonly DependentPod[]): string[] {
  return [...new Set(dependents.map((d) => d.pod.namespace))].sort()
}
