// The proof is of the outcome (issue 15, items 1-5), on one namespace after an
// abrupt key rotation: a Deployment reading its token Secret through env, a
// bare pod mounting it, and a Deployment with nothing but its projected
// token. The plan names cluster, user and scope and predicts the restart; a
// typo'd namespace is a usage error; a restart skipped at the prompt ends in
// exit 1 with every pod left listed; following the printed advice ends in
// exit 0; the report names the backups; a restore of refused entries exits 1.
import { readFile } from 'node:fs/promises'
import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createNamespace, createTokenSecret, deleteNamespace, useCluster, waitFor, type TestCluster } from './support/cluster.ts'
import { jsonOf, runRunbook } from './support/cli.ts'
import { promptOf, runInTerminal } from './support/terminal.ts'

const pause = 'registry.k8s.io/pause:3.10'

describe('rotate-tokens proves pods, not only Secrets', () => {
  let cluster: TestCluster
  let namespace = ''
  let scratch = ''
  const backupDir = () => join(scratch, 'first-backup')
  const podNames = async (app: string) =>
    (await cluster.core.listNamespacedPod({ namespace, labelSelector: `app=${app}` })).items.filter((p) => !p.metadata?.deletionTimestamp).map((p) => p.metadata!.name!)
  const podUids = async (app: string) =>
    (await cluster.core.listNamespacedPod({ namespace, labelSelector: `app=${app}` })).items.filter((p) => !p.metadata?.deletionTimestamp).map((p) => p.metadata!.uid!).sort()

  beforeAll(async () => {
    cluster = await useCluster()
    scratch = await mkdtemp(join(tmpdir(), 'ktr-proof-'))
    namespace = await createNamespace(cluster.core, 'proof')
    await cluster.core.createNamespacedServiceAccount({ namespace, body: { metadata: { name: 'app' } } })
    await createTokenSecret(cluster.core, namespace, 'app-token', 'app')
    const deployment = (name: string, env: boolean) =>
      cluster.apps.createNamespacedDeployment({
        namespace,
        body: {
          metadata: { name },
          spec: {
            replicas: 1,
            selector: { matchLabels: { app: name } },
            template: {
              metadata: { labels: { app: name } },
              spec: { containers: [{ name, image: pause, ...(env ? { env: [{ name: 'T', valueFrom: { secretKeyRef: { name: 'app-token', key: 'token' } } }] } : {}) }] },
            },
          },
        },
      })
    await deployment('web', true)
    await deployment('site', false)
    await cluster.core.createNamespacedPod({
      namespace,
      body: {
        metadata: { name: 'nightly', labels: { app: 'nightly' } },
        spec: { containers: [{ name: 'job', image: pause, volumeMounts: [{ name: 't', mountPath: '/t' }] }], volumes: [{ name: 't', secret: { secretName: 'app-token' } }] },
      },
    })
    await waitFor('3 Running pods', async () => (await cluster.core.listNamespacedPod({ namespace })).items.filter((p) => p.status?.phase === 'Running').length === 3, 90_000)
    await cluster.handle.rotateServiceAccountKey({ keepOld: false })
  })
  afterAll(async () => {
    if (cluster && namespace) await deleteNamespace(cluster.core, namespace)
  })

  it('the plan names cluster, user and scope first, and predicts the restart the regeneration causes', async () => {
    const result = await runRunbook('rotate-tokens', ['-n', namespace, '--skip-calico', '--dry-run'], { kubeconfig: cluster.kubeconfigPath })
    expect(result.code, result.stderr.slice(-3000)).toBe(0)
    const server = cluster.kc.getCurrentCluster()!.server
    const context = cluster.kc.getCurrentContext()
    expect(result.stderr.split('\n')[0]).toBe(`cluster: context ${context} at ${server}; user: ${cluster.kc.getCurrentUser()!.name} (kubeconfig); scope: namespace ${namespace}; env file: none`)
    expect(result.stdout.split('\n')[0]).toMatch(new RegExp(`^Cluster ${context} \\(${server.replaceAll('.', '\\.')}\\), Kubernetes v[\\d.]+; user: \\S+; scope: namespace ${namespace}$`))
    // The by-hand checklist holds the rollout the regeneration will make necessary.
    expect(result.stdout).toMatch(/By hand, the plan is:[\s\S]*# restart-workloads\n\s+\$ kubectl rollout restart deployment\/web -n /)
  })

  it('a typo in -n is a usage error naming it, before anything is read or changed', async () => {
    const result = await runRunbook('rotate-tokens', ['-n', `${namespace}x`, '--yes'], { kubeconfig: cluster.kubeconfigPath })
    expect(result.code).toBe(2)
    expect(result.stderr).toContain(`namespace "${namespace}x" does not exist`)
    expect(result.stderr).not.toMatch(/\[1\/\d+\]/)
  })

  it('a restart skipped at the prompt ends in exit 1, every pod left named under "needs a person"', async () => {
    const web = await podNames('web')
    const site = await podNames('site')
    const run = await runInTerminal('rotate-tokens', ['-n', namespace, '--skip-calico', '--backup-dir', backupDir(), '--report-dir', scratch], cluster.kubeconfigPath, [
      { after: promptOf('back-up-secrets'), send: 'y\n' },
      { after: promptOf('regenerate-tokens'), send: 'y\n' },
      { after: promptOf('restart-workloads'), send: 's\n' },
    ])
    expect(run.code, run.output.slice(-4000)).toBe(1)
    expect(run.output).toMatch(/skipped\s+restart-workloads/)
    // The Secret is fine, the pods are not: each is listed with its next action.
    expect(run.output).toMatch(/Verification: 1\/1 token Secret\(s\) valid/)
    for (const pod of web) expect(run.output).toMatch(new RegExp(`Needs a person: pod ${namespace}/${pod} \\(Deployment/web\\): .*app-token.*; rerun to restart it`))
    expect(run.output).toMatch(new RegExp(`Needs a person: pod ${namespace}/nightly .*; rerun with --recreate-bare-pods`))
    for (const pod of site) expect(run.output).toMatch(new RegExp(`Needs a person: pod ${namespace}/${pod}: projected token .* rerun with --bound-before \\S+ to have it restarted`))
    expect(run.output).toMatch(/To finish: rerun the same command with --recreate-bare-pods --bound-before \S+/)
    expect(run.output).toMatch(new RegExp(`Backup: ${backupDir()}`))
    expect(await podNames('web')).toEqual(web)
  })

  it('following the advice ends in exit 0: every pod replaced, and the report names both backups', async () => {
    const first = await runRunbook('rotate-tokens', ['-n', namespace, '--skip-calico', '--yes', '--report-dir', scratch], { kubeconfig: cluster.kubeconfigPath })
    expect(first.code, first.stdout.slice(-3000)).toBe(1)
    const advice = /To finish: rerun the same command with (--recreate-bare-pods --bound-before \S+)/.exec(first.stdout)
    expect(advice, first.stdout.slice(-3000)).not.toBeNull()
    const before = { site: await podUids('site'), nightly: await podUids('nightly') }
    const result = await runRunbook('rotate-tokens', ['-n', namespace, '--skip-calico', '--yes', '--report-dir', scratch, '-o', 'json', ...advice![1]!.split(' ')], { kubeconfig: cluster.kubeconfigPath })
    expect(result.code, result.stderr.slice(-3000)).toBe(0)
    const report = jsonOf<{ rotation: { podsLeft: string[]; backupDirs: string[]; reportFile: string } }>(result)
    expect(report.rotation.podsLeft).toEqual([])
    expect((await podUids('site')).filter((uid) => before.site.includes(uid))).toEqual([])
    expect((await podUids('nightly')).filter((uid) => before.nightly.includes(uid))).toEqual([])
    // The Secret's old token is in the first run's backup: the report names it, though this run wrote elsewhere.
    expect(report.rotation.backupDirs).toContain(backupDir())
    expect(report.rotation.backupDirs.length).toBeGreaterThanOrEqual(2)
    const onDisk = JSON.parse(await readFile(report.rotation.reportFile, 'utf8')) as { backupDirs: string[] }
    expect(onDisk.backupDirs).toEqual(report.rotation.backupDirs)
  })

  it('--restore with every entry refused (tokens of the dropped key) exits 1 saying so', async () => {
    const result = await runRunbook('rotate-tokens', ['--restore', backupDir(), '--yes'], { kubeconfig: cluster.kubeconfigPath })
    expect(result.code, result.stderr.slice(-3000)).toBe(1)
    expect(result.stdout).toMatch(/0 to restore, 0 to re-create, 0 unchanged, 1 refused/)
    expect(result.stdout).toMatch(/refused .*app-token/)
    expect(result.stdout).not.toMatch(/Nothing to do/)
  })
})
