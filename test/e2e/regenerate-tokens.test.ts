// regenerate-tokens against the real cluster: after an abrupt key rotation,
// --dry-run changes nothing, --yes makes every token valid again under the
// same Secret names with a backup on disk, and a second run has nothing to do.
import { mkdtemp, readFile, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as k8s from '@kubernetes/client-node'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { REGENERATED_AT_ANNOTATION } from '../../lib/annotations.ts'
import { createNamespace, createTokenSecret, deleteNamespace, tokenReview, useCluster, type TestCluster } from './support/cluster.ts'
import { jsonOf, runRunbook } from './support/cli.ts'
import { backedUpFile } from './support/backup.ts'

interface Report {
  backupDir: string
  secrets: Array<{ key: string; verdict: string; outcome?: string }>
  steps: Array<{ id: string; outcome: string }>
}

describe('regenerate-tokens', () => {
  let cluster: TestCluster
  let namespace: string
  let backupDir: string
  const before = new Map<string, string>()
  const names = ['api-token', 'worker-token', 'cron-token']
  const run = (...args: string[]) => runRunbook('regenerate-tokens', ['-n', namespace, '--backup-dir', backupDir, ...args], { kubeconfig: cluster.kubeconfigPath })
  const tokenOf = async (name: string) => Buffer.from((await cluster.core.readNamespacedSecret({ namespace, name })).data!.token!, 'base64').toString()
  const resourceVersions = async () =>
    (await cluster.core.listNamespacedSecret({ namespace })).items.map((s) => `${s.metadata!.name}@${s.metadata!.resourceVersion}`).sort()

  beforeAll(async () => {
    cluster = await useCluster()
    namespace = await createNamespace(cluster.core, 'regen')
    backupDir = join(await mkdtemp(join(tmpdir(), 'ktr-backup-')), 'run')
    for (const name of names) {
      const sa = name.replace('-token', '')
      await cluster.core.createNamespacedServiceAccount({ namespace, body: { metadata: { name: sa } } })
      before.set(name, await createTokenSecret(cluster.core, namespace, name, sa))
    }
    await cluster.handle.rotateServiceAccountKey({ keepOld: false })
  })
  afterAll(async () => {
    if (cluster && namespace) await deleteNamespace(cluster.core, namespace)
  })

  it('plans without changing anything under --dry-run', async () => {
    const versions = await resourceVersions()
    const result = await run('--dry-run', '-o', 'json')
    expect(result.code, result.stderr).toBe(0)
    const report = jsonOf<Report>(result)
    expect(report.secrets.filter((s) => s.verdict === 'stale').map((s) => s.key).sort()).toEqual(names.map((n) => `${namespace}/${n}`).sort())
    expect(report.steps.map((s) => s.outcome)).toEqual(['done', 'planned', 'planned'])
    expect(await resourceVersions()).toEqual(versions)
    expect(result.stderr).toContain("kubectl patch secret api-token -n")
  })

  it('regenerates every stale token in place, backed up first, and proves the new tokens', async () => {
    const result = await run('--yes', '-o', 'json')
    expect(result.code, result.stderr).toBe(0)
    const report = jsonOf<Report>(result)
    expect(report.steps.map((s) => s.outcome)).toEqual(['done', 'applied', 'applied'])
    for (const name of names) {
      const fresh = await tokenOf(name)
      expect(fresh).not.toBe(before.get(name))
      expect((await tokenReview(cluster.authn, fresh)).authenticated).toBe(true)
      expect((await tokenReview(cluster.authn, before.get(name)!)).authenticated ?? false).toBe(false)
      const secret = await cluster.core.readNamespacedSecret({ namespace, name })
      expect(Date.parse(secret.metadata!.annotations![REGENERATED_AT_ANNOTATION]!)).toBeGreaterThan(0)
      // The backup holds the original token, readable by the owner only.
      const file = await backedUpFile(backupDir, 'Secret', namespace, name)
      expect((await stat(file)).mode & 0o777).toBe(0o600)
      const saved = JSON.parse(await readFile(file, 'utf8')) as { data: { token: string } }
      expect(Buffer.from(saved.data.token, 'base64').toString()).toBe(before.get(name))
    }
    expect(result.stdout + result.stderr).not.toContain(before.get('api-token'))
  })

  it('finds nothing to do on a second run', async () => {
    const versions = await resourceVersions()
    const result = await run('--yes')
    expect(result.code, result.stderr).toBe(0)
    expect(result.stdout).toContain('Nothing to do')
    expect(await resourceVersions()).toEqual(versions)
  })

  it('recreates a Secret under the same name with --strategy recreate --all-tokens', async () => {
    // Sealed, as some operators keep token Secrets: only a re-create can give it a new token.
    await cluster.core.patchNamespacedSecret({ namespace, name: 'cron-token', body: { immutable: true } }, k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch))
    const old = await cluster.core.readNamespacedSecret({ namespace, name: 'cron-token' })
    const apiBefore = await cluster.core.readNamespacedSecret({ namespace, name: 'api-token' })
    const result = await run('--yes', '--all-tokens', '--strategy', 'recreate', '--service-account', 'cron')
    expect(result.code, result.stderr).toBe(0)
    const fresh = await cluster.core.readNamespacedSecret({ namespace, name: 'cron-token' })
    expect(fresh.metadata!.uid).not.toBe(old.metadata!.uid)
    expect((await tokenReview(cluster.authn, await tokenOf('cron-token'))).authenticated).toBe(true)
    // Sealed again once the controller wrote the new token into it.
    expect(fresh.immutable).toBe(true)
    // Only the named ServiceAccount's Secret was touched.
    const api = await cluster.core.readNamespacedSecret({ namespace, name: 'api-token' })
    expect(api.metadata!.uid).toBe(apiBefore.metadata!.uid)
    expect(api.metadata!.resourceVersion).toBe(apiBefore.metadata!.resourceVersion)
  })
})
