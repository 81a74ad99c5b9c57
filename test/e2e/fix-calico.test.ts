// fix-calico against the real cluster. First a cluster without Calico (say
// so, exit 0); then a 2018-style manifest install of our own in kube-system
// (Calico's names are fixed): ConfigMap calico-config holding a LITERAL
// legacy token of calico-node, the calico-node ServiceAccount with its
// legacy token Secret, and a calico-node DaemonSet (calico/node:v3.0.8) on
// the kwok nodes. After an abrupt key rotation, --dry-run changes nothing;
// --yes puts the placeholder back, regenerates the token and replaces every
// calico-node pod; a second run finds nothing to do. Then --embed-token,
// node-local mode on a temp directory, --probe and an OnDelete DaemonSet.
// There is no kubelet: exec into pods fails, so node tokens are unverified.
import { mkdtemp, readFile, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadYaml, PatchStrategy, setHeaderOptions, type V1ConfigMap, type V1DaemonSet, type V1Pod } from '@kubernetes/client-node'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { PROBE_LABEL } from '../../lib/calico/probe.ts'
import { CNI_CONFIG_FIXED_AT_ANNOTATION } from '../../lib/kube/calico.ts'
import { configMapText, fill, loadObjects, nodeDir, readFixture } from '../fixtures/calico/fixtures.ts'
import { createTokenSecret, ignoreNotFound, tokenReview, useCluster, waitFor, type TestCluster } from './support/cluster.ts'
import { jsonOf, runRunbook, type CliResult } from './support/cli.ts'
import { backedUpFile } from './support/backup.ts'

const NS = 'kube-system'
const SECRET = 'calico-node-token'

interface Report {
  exitCode: number
  backupDir: string
  steps: Array<{ id: string; outcome: string; summary: string }>
  cniConfig: { findings: Array<{ path: string; status: string; stale: boolean }>; change: string | null } | null
  serviceAccount: { name: string; secrets: Array<{ key: string; verdict: string; outcome?: string }> } | null
  nodes: { before: Array<{ node: string; verdict: string; reason: string }>; after: Array<{ node: string; verdict: string; reason: string }> }
  restart: { restartedAt: string; oldPods: string[]; newPods: Array<{ name: string; node: string; uid: string }> } | null
  probes: Array<{ node: string; outcome: string }>
  warnings: string[]
}

describe('fix-calico', () => {
  let cluster: TestCluster
  let backupRoot: string
  const outputs: CliResult[] = []
  const secrets: string[] = []
  let runs = 0

  const fix = async (...args: string[]) => {
    const result = await runRunbook('fix-calico', ['--backup-dir', join(backupRoot, `run-${++runs}`), '--timeout', '120', ...args], {
      kubeconfig: cluster.kubeconfigPath,
    })
    outputs.push(result)
    return result
  }
  const outcomes = (report: Report) => Object.fromEntries(report.steps.map((s) => [s.id, s.outcome]))
  const calicoPods = async (): Promise<V1Pod[]> =>
    (await cluster.core.listNamespacedPod({ namespace: NS, labelSelector: 'k8s-app=calico-node' })).items.filter((p) => p.metadata?.deletionTimestamp == null)
  const podUids = async () => (await calicoPods()).map((p) => p.metadata!.uid!).sort()
  const configText = async () => (await cluster.core.readNamespacedConfigMap({ namespace: NS, name: 'calico-config' })).data!.cni_network_config!
  const secretToken = async () => Buffer.from((await cluster.core.readNamespacedSecret({ namespace: NS, name: SECRET })).data!.token!, 'base64').toString()
  /** Every resourceVersion fix-calico could change. */
  const versions = async () => {
    const [cm, secret, ds, pods] = await Promise.all([
      cluster.core.readNamespacedConfigMap({ namespace: NS, name: 'calico-config' }),
      cluster.core.readNamespacedSecret({ namespace: NS, name: SECRET }),
      cluster.apps.readNamespacedDaemonSet({ namespace: NS, name: 'calico-node' }),
      calicoPods(),
    ])
    return [cm, secret, ds, ...pods].map((o) => `${o.metadata!.name}@${o.metadata!.resourceVersion}`).sort()
  }
  const allRunning = (count: number) =>
    waitFor(`${count} running calico-node pods`, async () => {
      const pods = await calicoPods()
      return pods.length === count && pods.every((p) => p.status?.phase === 'Running')
    })
  // The nodes calico-node runs on: the local cluster's real node is tainted (ktr.dev/real-node) against it.
  const nodeCount = async () => (await cluster.core.listNode()).items.filter((n) => !n.spec?.taints?.some((t) => t.key === 'ktr.dev/real-node')).length

  beforeAll(async () => {
    cluster = await useCluster()
    backupRoot = await mkdtemp(join(tmpdir(), 'ktr-calico-'))
  })

  afterAll(async () => {
    if (!cluster) return
    const { core, apps } = cluster
    await apps.deleteNamespacedDaemonSet({ namespace: NS, name: 'calico-node' }).catch(ignoreNotFound)
    await core.deleteNamespacedConfigMap({ namespace: NS, name: 'calico-config' }).catch(ignoreNotFound)
    await core.deleteNamespacedSecret({ namespace: NS, name: SECRET }).catch(ignoreNotFound)
    await core.deleteNamespacedServiceAccount({ namespace: NS, name: 'calico-node' }).catch(ignoreNotFound)
    await core.deleteCollectionNamespacedPod({ namespace: 'default', labelSelector: `${PROBE_LABEL}=true` }).catch(ignoreNotFound)
  })

  it('says there is no Calico and exits 0 on a cluster without it', async () => {
    const result = await fix('--yes')
    expect(result.code, result.stderr).toBe(0)
    expect(result.stdout).toContain('Calico: not found (no DaemonSet calico-node in kube-system or calico-system)')
    expect(result.stdout).toContain('Nothing to do')
  })

  describe('a 2018 manifest install after an abrupt key rotation', () => {
    let oldToken: string
    let uidsBefore: string[]

    beforeAll(async () => {
      const { core, apps } = cluster
      await core.createNamespacedServiceAccount({ namespace: NS, body: { metadata: { name: 'calico-node' } } })
      oldToken = await createTokenSecret(core, NS, SECRET, 'calico-node')
      secrets.push(oldToken)
      // The trap: the ConfigMap holds calico-node's token itself instead of __SERVICEACCOUNT_TOKEN__.
      const configMap = loadYaml<V1ConfigMap>(fill(readFixture('configmap-literal-token.yaml'), oldToken))
      await core.createNamespacedConfigMap({ namespace: NS, body: configMap })
      // The v3.0 KDD manifest's DaemonSet (extensions/v1beta1 then), as apps/v1 with a rolling update.
      const [fixture] = loadObjects('manifest-v3.0-kdd.yaml').daemonSets
      const daemonSet: V1DaemonSet = { ...fixture, apiVersion: 'apps/v1', spec: { ...fixture!.spec!, updateStrategy: { type: 'RollingUpdate' } } }
      await apps.createNamespacedDaemonSet({ namespace: NS, body: daemonSet })
      await allRunning(await nodeCount())
      uidsBefore = await podUids()
      await cluster.handle.rotateServiceAccountKey({ keepOld: false })
      expect((await tokenReview(cluster.authn, oldToken)).authenticated ?? false).toBe(false)
    })

    it('plans the fix under --dry-run and changes nothing', async () => {
      const before = await versions()
      const result = await fix('--dry-run', '-o', 'json')
      expect(result.code, result.stderr).toBe(0)
      const report = jsonOf<Report>(result)
      expect(outcomes(report)).toMatchObject({
        'detect-calico': 'done',
        'check-cni-config': 'done',
        'back-up': 'planned',
        'regenerate-cni-tokens': 'planned',
        'fix-cni-config': 'planned',
        'restart-calico-node': 'planned',
        'verify-cni-tokens': 'done',
      })
      expect(report.cniConfig?.findings).toEqual([expect.objectContaining({ path: 'policy.k8s_auth_token', status: 'unknown-key', stale: true })])
      expect(report.serviceAccount?.secrets).toEqual([expect.objectContaining({ key: `${NS}/${SECRET}`, verdict: 'stale' })])
      expect(await versions()).toEqual(before)
      expect(result.stderr).toContain("kubectl -n kube-system get configmap calico-config -o 'jsonpath={.data.cni_network_config}'")
      expect(result.stderr).toContain('kubectl -n kube-system rollout restart ds/calico-node')
      expect(result.stderr).toContain('kubectl -n kube-system rollout status ds/calico-node --timeout=120s')
    })

    it('refuses to change anything without --yes and without a terminal (exit 2)', async () => {
      const before = await versions()
      const result = await fix()
      expect(result.code).toBe(2)
      expect(result.stderr).toMatch(/no terminal to confirm changes .*back-up, regenerate-cni-tokens, fix-cni-config, restart-calico-node/)
      expect(await versions()).toEqual(before)
    })

    it('puts the placeholder back, regenerates the token and replaces every calico-node pod', async () => {
      const result = await fix('--yes', '-o', 'json')
      expect(result.code, result.stderr).toBe(0)
      const report = jsonOf<Report>(result)
      expect(outcomes(report)).toMatchObject({
        'back-up': 'applied',
        'regenerate-cni-tokens': 'applied',
        'fix-cni-config': 'applied',
        'rewrite-node-files': 'not-needed',
        'restart-calico-node': 'applied',
        'verify-cni-tokens': 'done',
      })

      // The ConfigMap: the placeholder is back, no literal token left, the change stamped.
      const text = await configText()
      expect(text).toContain('"k8s_auth_token": "__SERVICEACCOUNT_TOKEN__"')
      expect(text).not.toMatch(/eyJ/)
      // Every other byte as it was.
      expect(text).toBe(configMapText('configmap-literal-token.yaml', 'cni_network_config').replace('__TOKEN__', '__SERVICEACCOUNT_TOKEN__'))
      const cm = await cluster.core.readNamespacedConfigMap({ namespace: NS, name: 'calico-config' })
      expect(Date.parse(cm.metadata!.annotations![CNI_CONFIG_FIXED_AT_ANNOTATION]!)).toBeGreaterThan(0)

      // The ServiceAccount's token: new, and the API server accepts it.
      const fresh = await secretToken()
      secrets.push(fresh)
      expect(fresh).not.toBe(oldToken)
      expect(await tokenReview(cluster.authn, fresh)).toMatchObject({ authenticated: true, user: { username: 'system:serviceaccount:kube-system:calico-node' } })

      // The DaemonSet's pods: all replaced, one per node, running.
      await allRunning(await nodeCount())
      const uidsAfter = await podUids()
      expect(uidsAfter).toHaveLength(uidsBefore.length)
      expect(uidsAfter.filter((uid) => uidsBefore.includes(uid))).toEqual([])
      expect(report.restart?.oldPods.sort()).toEqual(uidsBefore)

      // Without a kubelet, nothing can exec into a pod: the nodes are unverified, not failed.
      expect(report.nodes.after.map((n) => n.verdict)).toEqual(Array(uidsBefore.length).fill('unverified'))
      expect(report.nodes.after[0]!.reason).toMatch(/could not read the node's CNI files: exec not available \(.+\); run fix-calico on the node with --cni-conf-dir \/etc\/cni\/net.d/)

      // Backups of the originals, owner-only: the ConfigMap still with the old token.
      const saved = await backedUpFile(report.backupDir, 'ConfigMap', NS, 'calico-config')
      expect((await stat(saved)).mode & 0o777).toBe(0o600)
      expect(await readFile(saved, 'utf8')).toContain(oldToken)
      await stat(await backedUpFile(report.backupDir, 'Secret', NS, SECRET))
      await stat(await backedUpFile(report.backupDir, 'DaemonSet', NS, 'calico-node'))
    })

    it('finds nothing to do on a second run', async () => {
      const before = await versions()
      const result = await fix('--yes', '-o', 'json')
      expect(result.code, result.stderr).toBe(0)
      const report = jsonOf<Report>(result)
      expect(report.steps.filter((s) => s.outcome === 'applied')).toEqual([])
      expect(report.steps.every((s) => s.outcome === 'done' || s.outcome === 'not-needed')).toBe(true)
      expect(result.stderr).toContain('Nothing to do: everything is already in order.')
      expect(await versions()).toEqual(before)
    })

    it('embeds the current token in place of a stale literal one with --embed-token', async () => {
      const stale = (await configText()).replace('__SERVICEACCOUNT_TOKEN__', oldToken)
      await cluster.core.patchNamespacedConfigMap(
        { namespace: NS, name: 'calico-config', body: { data: { cni_network_config: stale } } },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      )
      const result = await fix('--yes', '--embed-token', '-o', 'json')
      expect(result.code, result.stderr).toBe(0)
      const report = jsonOf<Report>(result)
      expect(report.cniConfig?.change).toBe(`policy.k8s_auth_token → the current token of Secret ${NS}/${SECRET}`)
      expect(await configText()).toContain(`"k8s_auth_token": "${await secretToken()}"`)
      // A valid literal token is left as it is, with a warning: a second run with --embed-token does nothing.
      const again = await fix('--yes', '--embed-token', '-o', 'json')
      expect(again.code, again.stderr).toBe(0)
      expect(jsonOf<Report>(again).steps.filter((s) => s.outcome === 'applied')).toEqual([])
      expect(jsonOf<Report>(again).warnings.join('\n')).toMatch(/holds a literal token at policy.k8s_auth_token .*valid now, but every calico-node restart copies it to the nodes/)
    })

    it('repairs a CNI directory in node-local mode with the token of the ServiceAccount', async () => {
      const dir = await mkdtemp(join(tmpdir(), 'ktr-cni-net-d-'))
      for (const file of nodeDir('v3.0-kdd')) await writeFile(join(dir, file.name), fill(file.text, oldToken), { mode: 0o644 })
      const result = await fix('--yes', '--cni-conf-dir', dir, '-o', 'json')
      expect(result.code, result.stderr).toBe(0)
      const report = jsonOf<Report>(result)
      expect(outcomes(report)).toMatchObject({ 'rewrite-node-files': 'applied', 'restart-calico-node': 'not-needed', 'fix-cni-config': 'not-needed' })
      const fresh = await secretToken()
      for (const name of ['10-calico.conf', 'calico-kubeconfig']) {
        const text = await readFile(join(dir, name), 'utf8')
        expect(text).toContain(fresh)
        expect(text).not.toContain(oldToken)
        expect(await readFile(join(report.backupDir, 'node-files', name), 'utf8')).toContain(oldToken)
      }
      expect(report.nodes.after).toEqual([expect.objectContaining({ verdict: 'current' })])
      expect(report.warnings.join('\n')).toMatch(/from the CNI config ConfigMap whenever calico-node starts on this node \(the ConfigMap wins\)/)
    })

    it('creates, watches and deletes a probe pod on every node with --probe', async () => {
      const result = await fix('--yes', '--probe', '-o', 'json')
      expect(result.code, result.stderr).toBe(0)
      const report = jsonOf<Report>(result)
      expect(report.probes.map((p) => p.outcome)).toEqual(Array(await nodeCount()).fill('ok'))
      await waitFor('the probe pods to be gone', async () => (await cluster.core.listNamespacedPod({ namespace: 'default', labelSelector: `${PROBE_LABEL}=true` })).items.length === 0)
    })

    it('replaces the pods one node at a time when the DaemonSet updates OnDelete (--restart)', async () => {
      await cluster.apps.patchNamespacedDaemonSet(
        { namespace: NS, name: 'calico-node', body: { spec: { updateStrategy: { type: 'OnDelete', rollingUpdate: null } } } },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      )
      const before = await podUids()
      const result = await fix('--yes', '--restart', '-o', 'json')
      expect(result.code, result.stderr).toBe(0)
      expect(outcomes(jsonOf<Report>(result))['restart-calico-node']).toBe('applied')
      await allRunning(before.length)
      expect((await podUids()).filter((uid) => before.includes(uid))).toEqual([])
      expect(result.stderr).toContain('deleted and replaced one node at a time (updateStrategy OnDelete)')
    })

    it('never printed a token', () => {
      expect(outputs.length).toBeGreaterThan(6)
      for (const { stdout, stderr } of outputs) {
        for (const token of secrets) expect(stdout + stderr).not.toContain(token)
        expect(stdout + stderr).not.toMatch(/eyJ[\w-]{10,}\.eyJ[\w-]{10,}\.[\w-]{20,}/)
      }
    })
  })
})
