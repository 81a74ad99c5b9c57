// Every permission a rotate-tokens run needs, checked up front with
// SelfSubjectAccessReview so a missing one stops the run before anything
// changes, with the RBAC rule to add. Pure: the I/O lives in lib/kube/access.ts.

export interface Permission {
  verb: string
  group: string
  resource: string
  subresource?: string
  /** Undefined: cluster-wide (all namespaces). */
  namespace?: string
  /** Why the run needs it, for the error. */
  why: string
}

const core = ''
const apps = 'apps'

export function requiredPermissions(opts: { namespace?: string; calico: boolean }): Permission[] {
  const ns = opts.namespace
  const scoped = (p: Omit<Permission, 'namespace'>): Permission => ({ ...p, ...(ns ? { namespace: ns } : {}) })
  return [
    scoped({ verb: 'list', group: core, resource: 'secrets', why: 'find the token Secrets' }),
    scoped({ verb: 'watch', group: core, resource: 'secrets', why: 'wait for the tokens controller to refill them' }),
    scoped({ verb: 'patch', group: core, resource: 'secrets', why: 'blank stale tokens' }),
    scoped({ verb: 'create', group: core, resource: 'secrets', why: 'recreate Secrets (--strategy recreate)' }),
    scoped({ verb: 'delete', group: core, resource: 'secrets', why: 'recreate Secrets (--strategy recreate)' }),
    scoped({ verb: 'list', group: core, resource: 'serviceaccounts', why: 'skip Secrets whose ServiceAccount is gone' }),
    { verb: 'create', group: 'authentication.k8s.io', resource: 'tokenreviews', why: 'prove each new token authenticates' },
    scoped({ verb: 'list', group: core, resource: 'pods', why: 'find the pods that hold old tokens' }),
    scoped({ verb: 'list', group: core, resource: 'events', why: 'find pods stuck on a missing Secret' }),
    scoped({ verb: 'create', group: core, resource: 'pods', subresource: 'eviction', why: 'evict pods without a restartable owner' }),
    scoped({ verb: 'list', group: apps, resource: 'replicasets', why: 'find the Deployment that owns a pod' }),
    ...['deployments', 'statefulsets', 'daemonsets'].flatMap((resource) => [
      scoped({ verb: 'list', group: apps, resource, why: 'find owners and their update strategy' }),
      scoped({ verb: 'patch', group: apps, resource, why: 'rollout restart' }),
    ]),
    scoped({ verb: 'list', group: 'policy', resource: 'poddisruptionbudgets', why: 'name the PodDisruptionBudget that blocks an eviction' }),
    ...(opts.calico
      ? [
          { verb: 'get', group: core, resource: 'configmaps', namespace: 'kube-system', why: 'read calico-config' },
          { verb: 'patch', group: core, resource: 'configmaps', namespace: 'kube-system', why: 'remove a literal token from calico-config' },
        ]
      : []),
  ]
}

export function describePermission(p: Permission): string {
  const resource = p.subresource ? `${p.resource}/${p.subresource}` : p.resource
  return `${p.verb} ${p.group ? `${resource}.${p.group}` : resource} ${p.namespace ? `in namespace ${p.namespace}` : 'in all namespaces'}`
}

/** The RBAC rules (YAML) that grant the missing permissions, grouped by API group and resource. */
export function rbacRulesFor(missing: readonly Permission[]): string {
  const groups = new Map<string, Set<string>>()
  for (const p of missing) {
    const key = `${p.group}\u0000${p.subresource ? `${p.resource}/${p.subresource}` : p.resource}`
    groups.set(key, (groups.get(key) ?? new Set()).add(p.verb))
  }
  return [...groups]
    .map(([key, verbs]) => {
      const [group, resource] = key.split('\u0000')
      return `- apiGroups: ["${group}"]\n  resources: ["${resource}"]\n  verbs: [${[...verbs].map((v) => `"${v}"`).join(', ')}]`
    })
    .join('\n')
}
