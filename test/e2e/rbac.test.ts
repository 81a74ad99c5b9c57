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
import { CLUSTER_ROLE, DEPLOY_NAMESPACE, SERVICE_ACCOUNT } from '../../lib/preflight/manifests.ts'
import { jsonOf, runRunbook } from './support/cli.ts'
import { createNamespace, createTokenSecret, deleteNamespace, ignoreNotFound, useCluster, waitForOtherTestNamespacesGone, type TestCluster } from './support/cluster.ts'

const deployDir = join(import.meta.dirname, '..', '..', 'deploy')

type Rotation = { rotation: { preflight: { user?: string; missingPermissions?: string[] } } }

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
})
