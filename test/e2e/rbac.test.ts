// The shipped RBAC is enough, and the preflight is exact: apply
// deploy/serviceaccount.yaml and deploy/rbac.yaml as they are, run the
// runbooks as that ServiceAccount (a TokenRequest token in a kubeconfig of
// its own), then take one rule away and see the preflight name exactly it.
import { randomBytes } from 'node:crypto'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as k8s from '@kubernetes/client-node'
import { loadAll } from 'js-yaml'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { missingPermissions } from '../../lib/kube/access.ts'
import { makeKube } from '../../lib/kube/clients.ts'
import { CLUSTER_ROLE, DEPLOY_NAMESPACE, SERVICE_ACCOUNT } from '../../lib/preflight/manifests.ts'
import { describePermission, requiredPermissions, type Permission, type PolicyRule } from '../../lib/preflight/permissions.ts'
import { legacyClaims, makeSigningKey, signToken } from '../unit/helpers/tokens.ts'
import { jsonOf, runRunbook } from './support/cli.ts'
import {
  createNamespace,
  createTokenSecret,
  deleteNamespace,
  ignoreNotFound,
  podTemplateReading,
  tokenReview,
  useCluster,
  waitFor,
  waitForOtherTestNamespacesGone,
  type TestCluster,
} from './support/cluster.ts'

const deployDir = join(import.meta.dirname, '..', '..', 'deploy')

type Rotation = { ok: boolean; steps: Array<{ id: string; outcome: string }>; rotation: { preflight: { user?: string; missingPermissions?: string[] } } }

/**
 * Granted to every ServiceAccount by Kubernetes' default bindings
 * (system:basic-user, system:public-info-viewer,
 * system:service-account-issuer-discovery): taking them out of our
 * ClusterRole takes nothing away, so the preflight rightly names nothing.
 * The ClusterRole still lists them for clusters that removed those bindings.
 */
const GRANTED_BY_DEFAULT = new Set([
  'create selfsubjectaccessreviews.authorization.k8s.io (cluster-scoped)',
  'create selfsubjectreviews.authentication.k8s.io (cluster-scoped)',
  'get /version (non-resource URL)',
  'get /openid/v1/jwks (non-resource URL)',
])

/** Whether `rule` grants `permission` through `verb`. */
function grants(rule: PolicyRule, verb: string, permission: Permission): boolean {
  if (permission.verb !== verb) return false
  if (permission.nonResourceURL) return rule.nonResourceURLs?.includes(permission.nonResourceURL) ?? false
  const resource = permission.subresource ? `${permission.resource}/${permission.subresource}` : permission.resource
  return (rule.apiGroups?.includes(permission.group) ?? false) && (rule.resources?.includes(resource) ?? false)
}

/** `rules` without `verb` in `rule` (and without the rule when that was its last verb). */
function withoutVerb(rules: readonly PolicyRule[], rule: PolicyRule, verb: string): PolicyRule[] {
  return rules.flatMap((r) => (r !== rule ? [r] : r.verbs.length > 1 ? [{ ...r, verbs: r.verbs.filter((v) => v !== verb) }] : []))
}

const ruleText = (rule: PolicyRule, verb: string) => `${verb} ${rule.nonResourceURLs?.join(',') ?? `${rule.resources?.join(',')}.${rule.apiGroups?.join(',') || 'core'}`}`

describe('deploy/ RBAC, as the kube-token-runbooks ServiceAccount', () => {
  let cluster: TestCluster
  let rbac: k8s.RbacAuthorizationV1Api
  let scratch: string
  let namespace: string
  const cleanup: Array<() => Promise<unknown>> = []

  /** A kubeconfig that authenticates as `serviceAccount` with a one-hour TokenRequest token. */
  async function kubeconfigFor(serviceAccount: string): Promise<string> {
    const request = await cluster.core.createNamespacedServiceAccountToken({ namespace: DEPLOY_NAMESPACE, name: serviceAccount, body: { spec: { audiences: [], expirationSeconds: 3600 } } })
    const token = request.status?.token ?? ''
    expect(token).not.toBe('')
    const server = cluster.kc.getCurrentCluster()!
    const ca = server.caData ?? Buffer.from(await readFile(server.caFile!)).toString('base64')
    const path = join(scratch, `${serviceAccount}.kubeconfig`)
    await writeFile(
      path,
      `apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: "${server.server}", certificate-authority-data: "${ca}"}}]\nusers: [{name: u, user: {token: "${token}"}}]\ncontexts: [{name: c, context: {cluster: c, user: u}}]\ncurrent-context: c\n`,
      { mode: 0o600 },
    )
    return path
  }

  beforeAll(async () => {
    cluster = await useCluster()
    rbac = cluster.kc.makeApiClient(k8s.RbacAuthorizationV1Api)
    scratch = await mkdtemp(join(tmpdir(), 'ktr-rbac-'))
    // The manifests as an operator applies them: kubectl apply -f deploy/serviceaccount.yaml -f deploy/rbac.yaml
    const objects = k8s.KubernetesObjectApi.makeApiClient(cluster.kc)
    for (const file of ['serviceaccount.yaml', 'rbac.yaml']) {
      for (const doc of loadAll(await readFile(join(deployDir, file), 'utf8')) as k8s.KubernetesObject[]) {
        await objects.create(doc)
        cleanup.unshift(() => objects.delete(doc).catch(ignoreNotFound))
      }
    }
    // Something to find: a legacy token Secret and a Deployment that mounts it.
    namespace = await createNamespace(cluster.core, 'rbac')
    cleanup.unshift(() => deleteNamespace(cluster.core, namespace))
    await cluster.core.createNamespacedServiceAccount({ namespace, body: { metadata: { name: 'app' } } })
    await createTokenSecret(cluster.core, namespace, 'app-token', 'app')
  })

  /** The permissions the API server denies `user` among `wanted`, as the preflight describes them (asked as the admin: a SubjectAccessReview). */
  async function deniedTo(serviceAccount: string, wanted: readonly Permission[]): Promise<string[]> {
    const authz = cluster.kc.makeApiClient(k8s.AuthorizationV1Api)
    const user = `system:serviceaccount:${DEPLOY_NAMESPACE}:${serviceAccount}`
    const groups = ['system:serviceaccounts', `system:serviceaccounts:${DEPLOY_NAMESPACE}`, 'system:authenticated']
    const answers = await Promise.all(wanted.map(async (p) => {
      const spec = p.nonResourceURL
        ? { user, groups, nonResourceAttributes: { path: p.nonResourceURL, verb: p.verb } }
        : { user, groups, resourceAttributes: { verb: p.verb, group: p.group, resource: p.resource, ...(p.subresource ? { subresource: p.subresource } : {}), ...(p.namespace ? { namespace: p.namespace } : {}), ...(p.name ? { name: p.name } : {}) } }
      const review = await authz.createSubjectAccessReview({ body: { spec } })
      return review.status?.allowed ? undefined : describePermission(p)
    }))
    return answers.filter((d): d is string => d !== undefined).sort()
  }

  afterAll(async () => {
    for (const undo of cleanup) await undo()
    if (scratch) await rm(scratch, { recursive: true, force: true })
  })

  it('verify-token --all -A and rotate-tokens --dry-run -A pass with exactly the shipped ClusterRole', async () => {
    await waitForOtherTestNamespacesGone(cluster.core, [namespace])
    const kubeconfig = await kubeconfigFor(SERVICE_ACCOUNT)
    const verify = await runRunbook('verify-token', ['--all', '-A'], { kubeconfig })
    expect(verify.code, verify.stdout + verify.stderr.slice(-2000)).toBe(0)
    expect(verify.stdout).toContain(`${namespace}/app-token`)

    const rotate = await runRunbook('rotate-tokens', ['--dry-run', '-A', '--report-dir', scratch], { kubeconfig })
    expect(rotate.code, rotate.stdout + rotate.stderr.slice(-2000)).toBe(0)
    expect(rotate.stdout).toMatch(/preflight: .*every permission the run needs is granted/)
    expect(rotate.stdout + rotate.stderr).not.toMatch(/403|forbidden/i)
    const json = await runRunbook('rotate-tokens', ['--dry-run', '-A', '-o', 'json', '--report-dir', scratch], { kubeconfig })
    expect(json.code).toBe(0)
    expect(jsonOf<Rotation>(json).rotation.preflight).toMatchObject({ user: `system:serviceaccount:${DEPLOY_NAMESPACE}:${SERVICE_ACCOUNT}`, missingPermissions: [] })
  })

  it('the namespaced variant is enough for rotate-tokens --dry-run -n <ns> --skip-calico', async () => {
    const suffix = randomBytes(3).toString('hex')
    const name = `ktr-e2e-ns-${suffix}`
    await cluster.core.createNamespacedServiceAccount({ namespace: DEPLOY_NAMESPACE, body: { metadata: { name } } })
    const objects = k8s.KubernetesObjectApi.makeApiClient(cluster.kc)
    // kubectl apply -n <namespace> -f deploy/rbac-namespaced.yaml, bound to a ServiceAccount of this test's own.
    const docs = (loadAll(await readFile(join(deployDir, 'rbac-namespaced.yaml'), 'utf8')) as Array<k8s.KubernetesObject & { roleRef?: { name: string }; subjects?: Array<{ name: string }> }>).map((doc) => {
      const clusterScoped = doc.kind === 'ClusterRole' || doc.kind === 'ClusterRoleBinding'
      return {
        ...doc,
        metadata: { ...doc.metadata, name: `${doc.metadata?.name}-${suffix}`, ...(clusterScoped ? {} : { namespace }) },
        ...(doc.roleRef ? { roleRef: { ...doc.roleRef, name: `${doc.roleRef.name}-${suffix}` } } : {}),
        ...(doc.subjects ? { subjects: doc.subjects.map((s) => ({ ...s, name })) } : {}),
      }
    })
    try {
      for (const doc of docs) await objects.create(doc)
      const kubeconfig = await kubeconfigFor(name)
      const json = await runRunbook('rotate-tokens', ['--dry-run', '-n', namespace, '--skip-calico', '-o', 'json', '--report-dir', scratch], { kubeconfig })
      expect(json.code, json.stdout.slice(-2000) + json.stderr.slice(-2000)).toBe(0)
      expect(jsonOf<Rotation>(json).rotation.preflight.missingPermissions).toEqual([])
    } finally {
      for (const doc of docs.reverse()) await objects.delete(doc).catch(ignoreNotFound)
      await cluster.core.deleteNamespacedServiceAccount({ namespace: DEPLOY_NAMESPACE, name }).catch(ignoreNotFound)
    }
  })

  it('without one rule, rotate-tokens --dry-run -A stops in preflight naming exactly that rule, and changes nothing', async () => {
    const suffix = randomBytes(3).toString('hex')
    const name = `ktr-e2e-limited-${suffix}`
    const full = await rbac.readClusterRole({ name: CLUSTER_ROLE })
    const dropped = (full.rules ?? []).find((r) => r.resources?.includes('poddisruptionbudgets'))
    expect(dropped).toBeDefined()
    await cluster.core.createNamespacedServiceAccount({ namespace: DEPLOY_NAMESPACE, body: { metadata: { name } } })
    await rbac.createClusterRole({ body: { metadata: { name }, rules: (full.rules ?? []).filter((r) => r !== dropped) } })
    await rbac.createClusterRoleBinding({
      body: { metadata: { name }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name }, subjects: [{ kind: 'ServiceAccount', name, namespace: DEPLOY_NAMESPACE }] },
    })
    try {
      const kubeconfig = await kubeconfigFor(name)
      const secrets = async () => (await cluster.core.listNamespacedSecret({ namespace })).items.map((s) => JSON.stringify([s.metadata!.name, s.data])).sort()
      const before = await secrets()

      const text = await runRunbook('rotate-tokens', ['--dry-run', '-A', '--report-dir', scratch], { kubeconfig })
      expect(text.code, text.stdout + text.stderr.slice(-2000)).toBe(1)
      expect(text.stdout).toContain(
        'missing permissions, nothing was changed: list poddisruptionbudgets.policy in all namespaces (to name the PodDisruptionBudget that blocks an eviction).',
      )
      expect(text.stdout).toContain('- apiGroups: ["policy"]\n  resources: ["poddisruptionbudgets"]\n  verbs: ["list"]')

      const json = await runRunbook('rotate-tokens', ['--dry-run', '-A', '-o', 'json', '--report-dir', scratch], { kubeconfig })
      expect(json.code).toBe(1)
      expect(jsonOf<Rotation>(json).rotation.preflight.missingPermissions).toEqual(['list poddisruptionbudgets.policy in all namespaces'])
      expect(await secrets()).toEqual(before)
    } finally {
      await rbac.deleteClusterRoleBinding({ name }).catch(ignoreNotFound)
      await rbac.deleteClusterRole({ name }).catch(ignoreNotFound)
      await cluster.core.deleteNamespacedServiceAccount({ namespace: DEPLOY_NAMESPACE, name }).catch(ignoreNotFound)
    }
  })
  it('rotate-tokens -A --yes as the ServiceAccount repairs a stale token and restarts what reads it', async () => {
    await waitForOtherTestNamespacesGone(cluster.core, [namespace])
    // A token signed by a key the cluster never trusted: stale without rotating the cluster's key (which restarts the control plane).
    await cluster.core.createNamespacedServiceAccount({ namespace, body: { metadata: { name: 'stale' } } })
    await createTokenSecret(cluster.core, namespace, 'stale-token', 'stale')
    const account = await cluster.core.readNamespacedServiceAccount({ namespace, name: 'stale' })
    const foreign = await signToken(legacyClaims({ namespace, serviceAccount: 'stale', serviceAccountUid: account.metadata!.uid!, secretName: 'stale-token' }), makeSigningKey())
    await cluster.core.patchNamespacedSecret(
      { namespace, name: 'stale-token', body: [{ op: 'replace', path: '/data/token', value: Buffer.from(foreign).toString('base64') }] },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.JsonPatch),
    )
    await cluster.apps.createNamespacedDeployment({
      namespace,
      body: { metadata: { name: 'stale' }, spec: { replicas: 1, selector: { matchLabels: { app: 'stale' } }, template: podTemplateReading('stale', 'stale-token') } },
    })
    await waitFor('the stale Deployment to be available', async () => (await cluster.apps.readNamespacedDeployment({ namespace, name: 'stale' })).status?.availableReplicas === 1, 120_000)

    const kubeconfig = await kubeconfigFor(SERVICE_ACCOUNT)
    const run = await runRunbook('rotate-tokens', ['-A', '--yes', '-o', 'json', '--report-dir', scratch, '--backup-dir', join(scratch, 'as-service-account')], { kubeconfig, timeoutMs: 600_000 })
    expect(run.code, run.stdout.slice(-2000) + run.stderr.slice(-3000)).toBe(0)
    const report = jsonOf<Rotation>(run)
    expect(report.rotation.preflight.missingPermissions).toEqual([])
    expect(report.steps.find((s) => s.id === 'regenerate-tokens')?.outcome).toBe('applied')
    expect(run.stdout + run.stderr).not.toMatch(/\b403\b|forbidden/i)
    const fresh = Buffer.from((await cluster.core.readNamespacedSecret({ namespace, name: 'stale-token' })).data!.token!, 'base64').toString()
    expect(fresh).not.toBe(foreign)
    expect((await tokenReview(cluster.authn, fresh)).authenticated).toBe(true)
    // Restarted: one template change after creation.
    expect((await cluster.apps.readNamespacedDeployment({ namespace, name: 'stale' })).metadata!.generation).toBe(2)
  }, 900_000)

  // Every verb of every rule, one at a time, on one ServiceAccount whose
  // ClusterRole is replaced each round: -n (so the namespace check and
  // Calico's namespaces are asked too) with --strategy recreate and
  // --recreate-bare-pods, so that every row of the permission table is
  // checked. Preflight only: a missing permission stops the run before
  // anything changes. 35 runs today; the runtime is printed on stderr.
  it('without any one verb of the ClusterRole, preflight names exactly the permissions it granted (the whole run for every 7th), and changes nothing', async () => {
    const suffix = randomBytes(3).toString('hex')
    const name = `ktr-e2e-drop-${suffix}`
    const full = (await rbac.readClusterRole({ name: CLUSTER_ROLE })).rules ?? []
    const required = requiredPermissions({ namespace, calico: true, strategy: 'recreate', recreateBarePods: true })
    await cluster.core.createNamespacedServiceAccount({ namespace: DEPLOY_NAMESPACE, body: { metadata: { name } } })
    await rbac.createClusterRole({ body: { metadata: { name }, rules: full } })
    await rbac.createClusterRoleBinding({
      body: { metadata: { name }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name }, subjects: [{ kind: 'ServiceAccount', name, namespace: DEPLOY_NAMESPACE }] },
    })
    const started = Date.now()
    try {
      const kubeconfig = await kubeconfigFor(name)
      // Preflight's own check (missingPermissions over requiredPermissions) for every verb, as the ServiceAccount;
      // the whole rotate-tokens process for every 7th (its wiring: report, exit code), which keeps the test to minutes.
      const asAccount = new k8s.KubeConfig()
      asAccount.loadFromFile(kubeconfig)
      const kube = await makeKube(asAccount, { requestTimeoutMs: 30_000 })
      const args = ['--dry-run', '-n', namespace, '--strategy', 'recreate', '--recreate-bare-pods', '-o', 'json', '--report-dir', scratch]
      const resourceVersions = async () => (await cluster.core.listNamespacedSecret({ namespace })).items.map((s) => `${s.metadata!.name}@${s.metadata!.resourceVersion}`).sort()
      const before = await resourceVersions()
      const verbs = full.flatMap((rule) => rule.verbs.map((verb) => [rule, verb] as const))
      expect(verbs.length).toBeGreaterThan(20)
      for (const [index, [rule, verb]] of verbs.entries()) {
        const expected = required.filter((p) => grants(rule, verb, p)).map(describePermission).filter((d) => !GRANTED_BY_DEFAULT.has(d)).sort()
        await rbac.replaceClusterRole({ name, body: { metadata: { name }, rules: withoutVerb(full, rule, verb) } })
        // RBAC reaches the authorizer through a watch: wait until it denies exactly these (and grants back the previous round's).
        await waitFor(`the authorizer to apply the ClusterRole without ${ruleText(rule, verb)}`, async () => JSON.stringify(await deniedTo(name, required)) === JSON.stringify(expected), 30_000)
        const checked = (await missingPermissions(kube, required)).map(describePermission).sort()
        expect(checked, `without ${ruleText(rule, verb)}`).toEqual(expected)
        if (index % 7 !== 0) continue
        const run = await runRunbook('rotate-tokens', args, { kubeconfig })
        const missing = [...(jsonOf<Rotation>(run).rotation.preflight.missingPermissions ?? [])].sort()
        expect(missing, `without ${ruleText(rule, verb)}: ${run.stderr.slice(-1000)}`).toEqual(expected)
        // With nothing missing the dry run goes on past preflight; how it ends is the first test's business.
        if (expected.length > 0) expect(run.code, ruleText(rule, verb)).toBe(1)
      }
      expect(await resourceVersions()).toEqual(before)
    } finally {
      process.stderr.write(`rbac: drop-one-verb over the ClusterRole took ${Math.round((Date.now() - started) / 1000)} s\n`)
      await rbac.deleteClusterRoleBinding({ name }).catch(ignoreNotFound)
      await rbac.deleteClusterRole({ name }).catch(ignoreNotFound)
      await cluster.core.deleteNamespacedServiceAccount({ namespace: DEPLOY_NAMESPACE, name }).catch(ignoreNotFound)
    }
  }, 1_800_000)
})
