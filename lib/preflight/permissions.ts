// The one table of every API permission the runbooks use, each with where
// and why. Two things are built from it: the preflight's list of
// SelfSubjectAccessReviews for a planned run (`requiredPermissions`), and the
// RBAC rules of deploy/*.yaml (`rbacRules`, via test/deploy/generate.ts).
// Pure: the I/O lives in lib/kube/access.ts. A new API call in lib/kube,
// lib/regenerate, lib/restore.ts or runbooks/ needs a row here.

export interface Permission {
  verb: string
  group: string
  /** '' for a non-resource URL. */
  resource: string
  subresource?: string
  /** A non-resource URL such as /version (then group and resource are ''). */
  nonResourceURL?: string
  /** The object's name, where the request names one (get namespaces <n>). */
  name?: string
  /** Undefined: cluster-wide (all namespaces), or a cluster-scoped resource. */
  namespace?: string
  /** A cluster-scoped resource or a non-resource URL: only a ClusterRole can grant it. */
  clusterScoped?: true
  /** Why the run needs it, for the error. */
  why: string
}

/** Where a row applies. */
export const Where = {
  /** Cluster-scoped resources and non-resource URLs. */
  cluster: 'cluster',
  /** The run's namespaces: all of them (-A), or the one of -n. */
  scope: 'scope',
  /** The -n namespace object itself (the runbooks check that it exists); nothing without -n. */
  namedNamespace: 'named-namespace',
  /** Calico's namespaces, kube-system and calico-system, whatever -n says (fix-calico ignores -n). */
  calico: 'calico',
  /** fix-calico --probe's namespace. */
  probe: 'probe',
} as const
export type Where = (typeof Where)[keyof typeof Where]

/** Rows only some runs need; a row without one is needed by every run (that reaches its `where`). */
export const Feature = {
  /** --strategy recreate (and --restore of a deleted Secret). */
  recreateSecrets: 'recreate-secrets',
  /** --recreate-bare-pods. */
  recreateBarePods: 'recreate-bare-pods',
} as const
export type Feature = (typeof Feature)[keyof typeof Feature]

export interface Row {
  readonly verb: string
  readonly group: string
  readonly resource: string
  readonly subresource?: string
  readonly nonResourceURL?: string
  readonly where: Where
  readonly when?: Feature
  /** The module that makes the call. */
  readonly usedBy: string
  readonly why: string
}

export const CALICO_NAMESPACES = ['kube-system', 'calico-system'] as const

const core = ''
const apps = 'apps'
const authn = 'authentication.k8s.io'
const authz = 'authorization.k8s.io'
const { cluster, scope, namedNamespace, calico, probe } = Where

const url = (nonResourceURL: string, why: string, usedBy: string): Row => ({ verb: 'get', group: '', resource: '', nonResourceURL, where: cluster, usedBy, why })

/** Every permission any runbook uses: verb, API group, resource, where, when, and why. */
export const PERMISSIONS: readonly Row[] = [
  // Cluster-scoped
  { verb: 'create', group: authn, resource: 'tokenreviews', where: cluster, usedBy: 'lib/kube/token-checks.ts', why: 'prove each token authenticates (TokenReview)' },
  { verb: 'create', group: authn, resource: 'selfsubjectreviews', where: cluster, usedBy: 'lib/kube/access.ts', why: 'name who runs the preflight (kubectl auth whoami)' },
  { verb: 'create', group: authz, resource: 'selfsubjectaccessreviews', where: cluster, usedBy: 'lib/kube/access.ts', why: 'check every permission before anything changes' },
  url('/version', 'name the Kubernetes version and read the API server clock', 'lib/kube/raw.ts'),
  url('/openid/v1/jwks', 'read the current service-account verification keys', 'lib/kube/token-checks.ts'),
  { verb: 'get', group: core, resource: 'namespaces', where: namedNamespace, usedBy: 'lib/cli/session.ts', why: 'check that the -n namespace exists' },

  // The run's namespaces: token Secrets
  { verb: 'list', group: core, resource: 'secrets', where: scope, usedBy: 'lib/kube/token-secrets.ts', why: 'find the token Secrets' },
  { verb: 'get', group: core, resource: 'secrets', where: scope, usedBy: 'lib/kube/token-secrets.ts, lib/restore.ts, lib/restart/discover.ts', why: 'read a Secret named with --secret or in the kubelet log (--kubelet-log), or before restoring it' },
  { verb: 'watch', group: core, resource: 'secrets', where: scope, usedBy: 'lib/kube/wait-secrets.ts', why: 'wait for the tokens controller to refill them' },
  { verb: 'patch', group: core, resource: 'secrets', where: scope, usedBy: 'lib/regenerate/apply.ts, lib/restore.ts', why: 'blank stale tokens (and put a backed-up token back with --restore)' },
  { verb: 'delete', group: core, resource: 'secrets', where: scope, when: Feature.recreateSecrets, usedBy: 'lib/regenerate/apply.ts', why: 'recreate Secrets (--strategy recreate)' },
  { verb: 'create', group: core, resource: 'secrets', where: scope, when: Feature.recreateSecrets, usedBy: 'lib/regenerate/apply.ts, lib/restore.ts', why: 'recreate Secrets (--strategy recreate, --restore of a deleted one)' },
  { verb: 'list', group: core, resource: 'serviceaccounts', where: scope, usedBy: 'lib/kube/token-secrets.ts', why: 'skip Secrets whose ServiceAccount is gone' },

  // The run's namespaces: pods and what owns them
  { verb: 'list', group: core, resource: 'pods', where: scope, usedBy: 'lib/kube/workloads.ts', why: 'find the pods that hold old tokens' },
  { verb: 'get', group: core, resource: 'pods', where: scope, usedBy: 'lib/kube/workloads.ts, lib/restart/execute.ts', why: 'follow a pod through eviction or re-creation' },
  { verb: 'delete', group: core, resource: 'pods', where: scope, when: Feature.recreateBarePods, usedBy: 'lib/kube/workloads.ts', why: 're-create bare pods (--recreate-bare-pods)' },
  { verb: 'create', group: core, resource: 'pods', where: scope, when: Feature.recreateBarePods, usedBy: 'lib/kube/workloads.ts', why: 're-create bare pods (--recreate-bare-pods)' },
  { verb: 'create', group: core, resource: 'pods', subresource: 'eviction', where: scope, usedBy: 'lib/kube/workloads.ts', why: 'evict pods without a restartable owner' },
  { verb: 'list', group: core, resource: 'events', where: scope, usedBy: 'lib/kube/workloads.ts', why: 'find pods stuck on a missing Secret' },
  { verb: 'list', group: apps, resource: 'replicasets', where: scope, usedBy: 'lib/kube/workloads.ts', why: 'find the Deployment that owns a pod' },
  ...(['deployments', 'statefulsets', 'daemonsets'] as const).flatMap((resource): Row[] => [
    { verb: 'list', group: apps, resource, where: scope, usedBy: 'lib/kube/workloads.ts', why: 'find owners and their update strategy' },
    { verb: 'get', group: apps, resource, where: scope, usedBy: 'lib/kube/workloads.ts', why: 'follow a rollout restart to its end' },
    { verb: 'patch', group: apps, resource, where: scope, usedBy: 'lib/kube/workloads.ts', why: 'rollout restart' },
  ]),
  { verb: 'list', group: 'batch', resource: 'jobs', where: scope, usedBy: 'lib/kube/workloads.ts', why: 'recognise pods of Jobs (their next run gets a new token)' },
  { verb: 'list', group: 'policy', resource: 'poddisruptionbudgets', where: scope, usedBy: 'lib/kube/workloads.ts', why: 'name the PodDisruptionBudget that blocks an eviction' },

  // Calico's namespaces (fix-calico)
  { verb: 'list', group: apps, resource: 'daemonsets', where: calico, usedBy: 'lib/kube/calico.ts', why: 'find calico-node' },
  { verb: 'get', group: apps, resource: 'daemonsets', where: calico, usedBy: 'lib/kube/calico.ts', why: "follow calico-node's restart" },
  { verb: 'patch', group: apps, resource: 'daemonsets', where: calico, usedBy: 'lib/kube/calico.ts', why: 'restart calico-node' },
  { verb: 'list', group: core, resource: 'serviceaccounts', where: calico, usedBy: 'lib/kube/calico.ts', why: 'find the CNI ServiceAccount' },
  { verb: 'get', group: core, resource: 'configmaps', where: calico, usedBy: 'lib/kube/calico.ts', why: 'read the CNI config template (calico-config, cni-config)' },
  { verb: 'patch', group: core, resource: 'configmaps', where: calico, usedBy: 'lib/kube/calico.ts', why: 'remove a literal token from the CNI config template' },
  { verb: 'list', group: core, resource: 'secrets', where: calico, usedBy: 'lib/kube/token-secrets.ts', why: "find the CNI ServiceAccount's token Secrets" },
  { verb: 'watch', group: core, resource: 'secrets', where: calico, usedBy: 'lib/kube/wait-secrets.ts', why: 'wait for the CNI token Secret to be refilled' },
  { verb: 'patch', group: core, resource: 'secrets', where: calico, usedBy: 'lib/regenerate/apply.ts', why: "blank the CNI ServiceAccount's stale token" },
  { verb: 'list', group: core, resource: 'pods', where: calico, usedBy: 'lib/kube/calico.ts', why: 'find the calico-node pods' },
  { verb: 'delete', group: core, resource: 'pods', where: calico, usedBy: 'lib/kube/calico.ts', why: 'replace OnDelete calico-node pods one node at a time' },
  // client-node's exec is a WebSocket upgrade (GET); newer API servers also check create on it.
  { verb: 'get', group: core, resource: 'pods', subresource: 'exec', where: calico, usedBy: 'lib/kube/calico.ts', why: "read each node's CNI files in its calico-node pod" },
  { verb: 'create', group: core, resource: 'pods', subresource: 'exec', where: calico, usedBy: 'lib/kube/calico.ts', why: "read each node's CNI files in its calico-node pod" },

  // fix-calico --probe's namespace
  { verb: 'create', group: core, resource: 'pods', where: probe, usedBy: 'lib/kube/calico.ts', why: 'start a probe pod on each node (--probe)' },
  { verb: 'get', group: core, resource: 'pods', where: probe, usedBy: 'lib/kube/calico.ts', why: 'follow a probe pod (--probe)' },
  { verb: 'list', group: core, resource: 'pods', where: probe, usedBy: 'lib/kube/calico.ts', why: 'find probe pods an interrupted run left (--probe)' },
  { verb: 'delete', group: core, resource: 'pods', where: probe, usedBy: 'lib/kube/calico.ts', why: 'delete the probe pods (--probe)' },
  { verb: 'list', group: core, resource: 'events', where: probe, usedBy: 'lib/kube/calico.ts', why: "read a probe pod's sandbox errors (--probe)" },
]

export interface RunOptions {
  /** -n: the run's one namespace; undefined: all namespaces (-A). */
  namespace?: string
  /** fix-calico runs (not --skip-calico): Calico's namespaces are touched whatever -n says. */
  calico: boolean
  /** --strategy; undefined counts as recreate (check the most a run may use). */
  strategy?: 'in-place' | 'recreate'
  /** --recreate-bare-pods; undefined counts as given. */
  recreateBarePods?: boolean
  /** fix-calico --probe's namespace, when --probe is given. */
  probeNamespace?: string
}

/**
 * Every permission the planned run uses, in every namespace it touches:
 * one SelfSubjectAccessReview each. A permission already asked cluster-wide
 * is not asked again per namespace.
 */
export function requiredPermissions(opts: RunOptions): Permission[] {
  const features = new Set<Feature>([
    ...(opts.strategy !== 'in-place' ? [Feature.recreateSecrets] : []),
    ...(opts.recreateBarePods !== false ? [Feature.recreateBarePods] : []),
  ])
  const out = new Map<string, Permission>()
  const add = (p: Permission) => {
    const key = permissionKey(p)
    if (!out.has(key) && !out.has(permissionKey({ ...p, namespace: undefined }))) out.set(key, p)
  }
  for (const row of PERMISSIONS) {
    if (row.when && !features.has(row.when)) continue
    for (const namespace of namespacesOf(row.where, opts)) add(toPermission(row, namespace))
  }
  return [...out.values()]
}

/** Each namespace a row applies in for this run; `undefined` stands for cluster-wide. */
function namespacesOf(where: Where, opts: RunOptions): (string | undefined)[] {
  switch (where) {
    case cluster:
      return [undefined]
    case scope:
      return [opts.namespace]
    case namedNamespace:
      return opts.namespace ? [opts.namespace] : []
    case calico:
      return opts.calico ? [...CALICO_NAMESPACES] : []
    case probe:
      return opts.calico && opts.probeNamespace ? [opts.probeNamespace] : []
  }
}

function toPermission(row: Row, namespace: string | undefined): Permission {
  return {
    verb: row.verb,
    group: row.group,
    resource: row.resource,
    ...(row.subresource ? { subresource: row.subresource } : {}),
    ...(row.nonResourceURL ? { nonResourceURL: row.nonResourceURL } : {}),
    ...(row.where === namedNamespace && namespace ? { name: namespace } : {}),
    ...(namespace ? { namespace } : {}),
    ...(row.where === cluster ? { clusterScoped: true as const } : {}),
    why: row.why,
  }
}

function permissionKey(p: Pick<Permission, 'verb' | 'group' | 'resource' | 'subresource' | 'nonResourceURL' | 'namespace'>): string {
  return [p.verb, p.group, p.resource, p.subresource ?? '', p.nonResourceURL ?? '', p.namespace ?? ''].join('\u0000')
}

const resourceOf = (p: Pick<Permission, 'resource' | 'subresource'>) => (p.subresource ? `${p.resource}/${p.subresource}` : p.resource)

export function describePermission(p: Permission): string {
  if (p.nonResourceURL) return `${p.verb} ${p.nonResourceURL} (non-resource URL)`
  const what = `${p.verb} ${p.group ? `${resourceOf(p)}.${p.group}` : resourceOf(p)}`
  if (p.clusterScoped) return `${what} (cluster-scoped)`
  return `${what} ${p.namespace ? `in namespace ${p.namespace}` : 'in all namespaces'}`
}

/** One RBAC PolicyRule. */
export interface PolicyRule {
  apiGroups?: string[]
  resources?: string[]
  nonResourceURLs?: string[]
  verbs: string[]
}

const VERB_ORDER = ['get', 'list', 'watch', 'create', 'patch', 'update', 'delete']
const byVerbOrder = (a: string, b: string) => VERB_ORDER.indexOf(a) - VERB_ORDER.indexOf(b)

type Grantable = Pick<Permission, 'verb' | 'group' | 'resource' | 'subresource' | 'nonResourceURL'> & { why?: string }

/** A rule and, for each of its verbs, why (when the permissions said). */
export interface ExplainedRule {
  rule: PolicyRule
  why: Map<string, string[]>
}

/**
 * The RBAC rules that grant `permissions`: one rule per API group and
 * resource (or non-resource URL), in first-seen order, verbs in a fixed
 * order. Namespaces are the binding's business, not the rule's.
 */
export function explainedRules(permissions: readonly Grantable[]): ExplainedRule[] {
  const rules = new Map<string, ExplainedRule>()
  for (const p of permissions) {
    const key = p.nonResourceURL ? `url\u0000${p.nonResourceURL}` : `${p.group}\u0000${resourceOf(p)}`
    const entry = rules.get(key) ?? {
      rule: p.nonResourceURL ? { nonResourceURLs: [p.nonResourceURL], verbs: [] } : { apiGroups: [p.group], resources: [resourceOf(p)], verbs: [] },
      why: new Map<string, string[]>(),
    }
    const whys = entry.why.get(p.verb) ?? []
    if (p.why && !whys.includes(p.why)) whys.push(p.why)
    entry.why.set(p.verb, whys)
    rules.set(key, entry)
  }
  return [...rules.values()].map(({ rule, why }) => {
    const verbs = [...why.keys()].sort(byVerbOrder)
    return { rule: { ...rule, verbs }, why: new Map(verbs.map((v) => [v, why.get(v) ?? []])) }
  })
}

export function rbacRules(permissions: readonly Grantable[]): PolicyRule[] {
  return explainedRules(permissions).map((r) => r.rule)
}

const flow = (values: readonly string[]) => `[${values.map((v) => JSON.stringify(v)).join(', ')}]`

/** Rules as a YAML list with flow-style arrays; with `explain`, a comment above each rule says why each verb is there. */
export function rulesYaml(rules: readonly ExplainedRule[], opts: { indent?: string; explain?: boolean } = {}): string {
  const indent = opts.indent ?? ''
  return rules
    .map(({ rule: r, why }) =>
      [
        ...(opts.explain ? [...why].map(([verb, whys]) => `# ${verb}: ${whys.join('; ')}`) : []),
        ...(r.nonResourceURLs ? [`- nonResourceURLs: ${flow(r.nonResourceURLs)}`] : [`- apiGroups: ${flow(r.apiGroups ?? [])}`, `  resources: ${flow(r.resources ?? [])}`]),
        `  verbs: ${flow(r.verbs)}`,
      ]
        .map((line) => indent + line)
        .join('\n'),
    )
    .join('\n')
}

/** The RBAC rules (YAML) that grant the missing permissions, grouped by API group and resource. */
export function rbacRulesFor(missing: readonly Permission[]): string {
  return rulesYaml(explainedRules(missing))
}
