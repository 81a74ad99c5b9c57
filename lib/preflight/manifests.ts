// The RBAC manifests of deploy/, built from the permission table: the same
// rows the preflight checks are the rules the roles grant. Pure; written by
// test/deploy/generate.ts and checked for drift by a unit test.
import { explainedRules, PERMISSIONS, rulesYaml, Where, type Row } from './permissions.ts'

export const DEPLOY_NAMESPACE = 'kube-token-runbooks'
export const SERVICE_ACCOUNT = 'kube-token-runbooks'
/** The ClusterRole of a run on all namespaces, Calico included. */
export const CLUSTER_ROLE = 'kube-token-runbooks'
/** The namespaced variant: the cluster-scoped part (reviews, /version, keys). */
export const NAMESPACED_CLUSTER_ROLE = 'kube-token-runbooks-reviews'
/** The namespaced variant: a Role in the namespace of `-n`. */
export const ROLE = 'kube-token-runbooks'

const HEADER = (what: string) =>
  [
    `# ${what}`,
    '# Generated from the permission table in lib/preflight/permissions.ts by',
    '# `node test/deploy/generate.ts`: edit the table, not this file. See deploy/README.md.',
  ].join('\n')

const LABELS = '  labels:\n    app.kubernetes.io/name: kube-token-runbooks\n'

function role(kind: 'ClusterRole' | 'Role', name: string, rows: readonly Row[]): string {
  return `apiVersion: rbac.authorization.k8s.io/v1\nkind: ${kind}\nmetadata:\n  name: ${name}\n${LABELS}rules:\n${rulesYaml(explainedRules(rows), { explain: true })}\n`
}

function binding(kind: 'ClusterRoleBinding' | 'RoleBinding', name: string, roleKind: 'ClusterRole' | 'Role', roleName: string): string {
  return [
    'apiVersion: rbac.authorization.k8s.io/v1',
    `kind: ${kind}`,
    'metadata:',
    `  name: ${name}`,
    LABELS.trimEnd(),
    'roleRef:',
    '  apiGroup: rbac.authorization.k8s.io',
    `  kind: ${roleKind}`,
    `  name: ${roleName}`,
    'subjects:',
    '- kind: ServiceAccount',
    `  name: ${SERVICE_ACCOUNT}`,
    `  namespace: ${DEPLOY_NAMESPACE}`,
    '',
  ].join('\n')
}

const identity = [
  `apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ${DEPLOY_NAMESPACE}\n${LABELS}`,
  `apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: ${SERVICE_ACCOUNT}\n  namespace: ${DEPLOY_NAMESPACE}\n${LABELS}`,
]

const documents = (header: string, docs: readonly string[]) => `${header}\n${docs.map((d) => `---\n${d}`).join('')}`

/** File name (in deploy/) → content. */
export function rbacManifests(): Record<string, string> {
  const rows = (...where: Where[]) => PERMISSIONS.filter((r) => where.includes(r.where))
  return {
    'serviceaccount.yaml': documents(HEADER('Who runs the runbooks in-cluster: the namespace of the Job and its ServiceAccount.'), identity),
    'rbac.yaml': documents(HEADER('Every permission any run uses, in all namespaces (rotate-tokens -A, Calico included), granted to the ServiceAccount.'), [
      role('ClusterRole', CLUSTER_ROLE, PERMISSIONS),
      binding('ClusterRoleBinding', CLUSTER_ROLE, 'ClusterRole', CLUSTER_ROLE),
    ]),
    'rbac-namespaced.yaml': documents(
      HEADER(
        'The namespaced variant, for runs with -n <ns> --skip-calico: a Role and RoleBinding in <ns> (kubectl apply -n <ns> -f ...),\n' +
          '# and the cluster-scoped part only a ClusterRole can grant. Instead of rbac.yaml, not with it.',
      ),
      [
        role('ClusterRole', NAMESPACED_CLUSTER_ROLE, rows(Where.cluster)),
        binding('ClusterRoleBinding', NAMESPACED_CLUSTER_ROLE, 'ClusterRole', NAMESPACED_CLUSTER_ROLE),
        role('Role', ROLE, rows(Where.scope, Where.namedNamespace)),
        binding('RoleBinding', ROLE, 'Role', ROLE),
      ],
    ),
  }
}
