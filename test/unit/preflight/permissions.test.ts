import { describe, expect, it } from 'vitest'
import { describePermission, PERMISSIONS, rbacRules, rbacRulesFor, requiredPermissions, type Permission, type RunOptions } from '../../../lib/preflight/permissions.ts'

const described = (opts: RunOptions) => requiredPermissions(opts).map(describePermission)

describe('PERMISSIONS', () => {
  it('says why for every row, and holds no row twice', () => {
    expect(PERMISSIONS.every((r) => r.why.length > 0 && r.usedBy.length > 0)).toBe(true)
    const keys = PERMISSIONS.map((r) => [r.verb, r.group, r.resource, r.subresource, r.nonResourceURL, r.where].join('|'))
    expect(new Set(keys).size).toBe(keys.length)
  })
})

describe('requiredPermissions', () => {
  it.each([
    ['-A: namespaced rows cluster-wide', { calico: true }, 'patch secrets in all namespaces'],
    ['-A: the calico rows not already cluster-wide, per Calico namespace', { calico: true }, 'patch configmaps in namespace calico-system'],
    ['-A: exec in both Calico namespaces', { calico: true }, 'create pods/exec in namespace kube-system'],
    ['-n: the run namespace', { namespace: 'app', calico: true }, 'patch deployments.apps in namespace app'],
    ['-n: Calico namespaces still checked', { namespace: 'app', calico: true }, 'patch secrets in namespace kube-system'],
    ['-n: the namespace object', { namespace: 'app', calico: false }, 'get namespaces in namespace app'],
    ['reads before rollout waits', { calico: false }, 'get statefulsets.apps in all namespaces'],
    ['jobs', { calico: false }, 'list jobs.batch in all namespaces'],
    ['non-resource URLs', { calico: false }, 'get /openid/v1/jwks (non-resource URL)'],
    ['cluster-scoped reviews', { calico: false }, 'create selfsubjectaccessreviews.authorization.k8s.io (cluster-scoped)'],
    ['recreate by default (the most a run may use)', { calico: false }, 'delete secrets in all namespaces'],
    ['bare pods by default', { namespace: 'app', calico: false }, 'create pods in namespace app'],
    ['the probe namespace with --probe', { calico: true, recreateBarePods: false, probeNamespace: 'probes' }, 'create pods in namespace probes'],
  ] as const)('%s', (_name, opts: RunOptions, expected) => {
    expect(described(opts)).toContain(expected)
  })

  it.each([
    ['--skip-calico: no Calico namespace', { namespace: 'app', calico: false }, /kube-system|calico-system/],
    ['-A: no per-namespace copy of a cluster-wide check', { calico: true }, /list secrets in namespace/],
    ['-A: no namespace object', { calico: true }, /^get namespaces/],
    ['in-place: no delete or create of Secrets', { calico: false, strategy: 'in-place' }, /(delete|create) secrets/],
    ['no --recreate-bare-pods: no create or delete of pods', { namespace: 'app', calico: false, recreateBarePods: false }, /(delete|create) pods in namespace app/],
    ['no --probe: no probe namespace', { calico: true }, /namespace default/],
  ] as const)('%s', (_name, opts: RunOptions, unexpected) => {
    expect(described(opts).filter((d) => unexpected.test(d))).toEqual([])
  })

  it('asks each permission once', () => {
    const all = described({ namespace: 'kube-system', calico: true, probeNamespace: 'kube-system' })
    expect(new Set(all).size).toBe(all.length)
  })
})

describe('rbacRulesFor', () => {
  it('groups verbs by API group and resource, and writes non-resource URLs', () => {
    const missing: Permission[] = [
      { verb: 'patch', group: '', resource: 'secrets', namespace: 'a', why: 'x' },
      { verb: 'list', group: '', resource: 'secrets', why: 'y' },
      { verb: 'create', group: '', resource: 'pods', subresource: 'exec', namespace: 'kube-system', why: 'z' },
      { verb: 'get', group: '', resource: '', nonResourceURL: '/version', clusterScoped: true, why: 'v' },
    ]
    expect(rbacRulesFor(missing)).toBe(
      [
        '- apiGroups: [""]\n  resources: ["secrets"]\n  verbs: ["list", "patch"]',
        '- apiGroups: [""]\n  resources: ["pods/exec"]\n  verbs: ["create"]',
        '- nonResourceURLs: ["/version"]\n  verbs: ["get"]',
      ].join('\n'),
    )
  })

  it('grants every verb of the table', () => {
    const granted = new Set(rbacRules(PERMISSIONS).flatMap((r) => r.verbs.map((v) => `${v} ${r.apiGroups?.[0] ?? ''} ${r.resources?.[0] ?? r.nonResourceURLs?.[0]}`)))
    for (const row of PERMISSIONS) expect(granted).toContain(`${row.verb} ${row.group} ${row.nonResourceURL ?? (row.subresource ? `${row.resource}/${row.subresource}` : row.resource)}`)
  })
})
