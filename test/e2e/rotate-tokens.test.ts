// The maintenance job end to end: the demo scenario repaired in one run,
// interrupted runs resumed, a missing permission stopping in preflight, and
// --restore after a graceful rotation.
import { spawn } from 'node:child_process'
import { mkdtemp, readFile, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as k8s from '@kubernetes/client-node'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildScenario, deleteScenario, type Scenario } from '../demo/scenario.ts'
import { createNamespace, createTokenSecret, deleteNamespace, podTemplateReading, tokenReview, useCluster, waitFor, type TestCluster } from './support/cluster.ts'
import { jsonOf, runRunbook } from './support/cli.ts'

interface RotationJson {
  ok: boolean
  steps: Array<{ id: string; outcome: string; summary: string }>
  rotation: { verification?: { tokens: number; valid: number }; reportFile?: string; backupDir?: string }
}

const podUids = async (core: k8s.CoreV1Api, namespace: string, app: string) =>
  (await core.listNamespacedPod({ namespace, labelSelector: `app=${app}` })).items.filter((p) => !p.metadata?.deletionTimestamp).map((p) => p.metadata!.uid!).sort()

describe('rotate-tokens', () => {
  let cluster: TestCluster
  let scratch: string

  beforeAll(async () => {
    cluster = await useCluster()
    scratch = await mkdtemp(join(tmpdir(), 'ktr-rotate-'))
  })

  describe('on the demo scenario', () => {
    let scenario: Scenario
    beforeAll(async () => {
      // The run works on -A: let namespaces of earlier test files finish terminating first.
      await waitFor(
        'namespaces of earlier tests to be gone',
        async () => (await cluster.core.listNamespace({ labelSelector: 'ktr-e2e=true' })).items.length === 0,
        120_000,
      )
      scenario = await buildScenario(cluster.kc, { calico: true })
      await cluster.handle.rotateServiceAccountKey({ keepOld: false })
    })
    afterAll(async () => {
      if (scenario) await deleteScenario(cluster.kc, scenario)
    })

    it('repairs everything in one run (the key change dated with --bound-before), and a second run finds nothing to do', async () => {
      const [shop, billing] = scenario.namespaces as [string, string]
      const before = { web: await podUids(cluster.core, shop, 'web'), worker: await podUids(cluster.core, billing, 'worker'), site: await podUids(cluster.core, shop, 'static-site') }
      const backupDir = join(scratch, 'demo-backup')
      // The scenario's token Secrets and calico-node's (the trap: its token is also written into calico-config).
      const tokensOf = async (when: string): Promise<Array<[name: string, token: string]>> =>
        (await Promise.all([...scenario.secrets, CALICO_TOKEN_SECRET].map(async (key): Promise<[string, string]> => {
          const [namespace, name] = key.split('/') as [string, string]
          const data = (await cluster.core.readNamespacedSecret({ namespace, name })).data?.token
          return [`${key} (${when})`, data ? Buffer.from(data, 'base64').toString() : '']
        }))).filter(([, token]) => token !== '')
      const oldTokens = await tokensOf('old')
      expect(oldTokens.map(([name]) => name)).toContain(`${CALICO_TOKEN_SECRET} (old)`)
      // The key changed just before: without --bound-before, the unrelated Deployment's projected tokens could not be proven fine (test/e2e/proof.test.ts).
      const keyChanged = new Date().toISOString()
      const result = await runRunbook('rotate-tokens', ['-A', '--yes', '--recreate-bare-pods', '--bound-before', keyChanged, '--backup-dir', backupDir, '--report-dir', scratch, '-o', 'json'], {
        kubeconfig: cluster.kubeconfigPath,
      })
      expect(result.code, result.stderr.slice(-3000)).toBe(0)
      const report = jsonOf<RotationJson>(result)
      // The proof checked every token Secret of the scenario, and all are valid.
      expect(report.rotation.verification?.tokens).toBeGreaterThanOrEqual(scenario.secrets.length)
      expect(report.rotation.verification?.valid).toBe(report.rotation.verification?.tokens)
      const outcome = (id: string) => report.steps.find((s) => s.id === id)?.outcome
      expect(outcome('regenerate-tokens')).toBe('applied')
      expect(outcome('restart-workloads')).toBe('applied')
      expect(outcome('fix-cni-config')).toBe('applied')
      expect(outcome('restart-calico-node')).toBe('applied')
      const cniConfig = (await cluster.core.readNamespacedConfigMap({ namespace: 'kube-system', name: 'calico-config' })).data!.cni_network_config!
      expect(cniConfig).toContain('__SERVICEACCOUNT_TOKEN__')
      // Dependent workloads got new pods (and have pods at all); the unrelated one did not.
      for (const [namespace, app, old] of [[shop, 'web', before.web], [billing, 'worker', before.worker]] as const) {
        const now = await podUids(cluster.core, namespace, app)
        expect(now.length, `${namespace}/${app} has pods`).toBeGreaterThan(0)
        expect(now.filter((uid) => old.includes(uid))).toEqual([])
      }
      // The unrelated Deployment holds only a projected token bound before the key change: restarted too (--bound-before).
      const site = await podUids(cluster.core, shop, 'static-site')
      expect(site.length).toBeGreaterThan(0)
      expect(site.filter((uid) => before.site.includes(uid))).toEqual([])
      // The report on disk and the backup of every changed Secret.
      const onDisk = JSON.parse(await readFile(report.rotation.reportFile!, 'utf8')) as { backupDir: string }
      expect(onDisk.backupDir).toBe(backupDir)
      const manifest = JSON.parse(await readFile(join(backupDir, 'manifest.json'), 'utf8')) as { objects: Array<{ kind: string; namespace: string; name: string }> }
      const backedUp = manifest.objects.filter((o) => o.kind === 'Secret').map((o) => `${o.namespace}/${o.name}`)
      for (const secret of scenario.secrets) expect(backedUp).toContain(secret)

      const newTokens = await tokensOf('new')
      expect(newTokens.map(([name]) => name)).toContain(`${CALICO_TOKEN_SECRET} (new)`)

      const again = await runRunbook('rotate-tokens', ['--yes', '--report-dir', scratch, '-o', 'json'], { kubeconfig: cluster.kubeconfigPath })
      expect(again.code, again.stderr.slice(-2000)).toBe(0)
      const second = jsonOf<RotationJson>(again)
      for (const id of ['back-up-secrets', 'regenerate-tokens', 'restart-workloads', 'fix-cni-config']) {
        expect(second.steps.find((s) => s.id === id)?.outcome, id).toBe('not-needed')
      }
      // Without -n the scope is every namespace, and the settings line says so before anything runs.
      expect(again.stderr).toMatch(/scope: all namespaces/)
      // Text mode prints findings JSON mode does not (the step lines, the rendered report).
      const inText = await runRunbook('rotate-tokens', ['--dry-run', '--report-dir', scratch], { kubeconfig: cluster.kubeconfigPath })
      expect(inText.code, inText.stderr.slice(-2000)).toBe(0)

      // No token, old or new, in any encoding, in anything the three runs
      // printed or wrote beside the backed-up objects themselves (which must hold them).
      const written = [
        ['the first run', result.stdout + result.stderr + (await readFile(report.rotation.reportFile!, 'utf8'))],
        ['the backup manifest', await readFile(join(backupDir, 'manifest.json'), 'utf8')],
        ['the second run', again.stdout + again.stderr + (second.rotation.reportFile ? await readFile(second.rotation.reportFile, 'utf8') : '')],
        ['the text-mode run', inText.stdout + inText.stderr],
      ] as const
      for (const [where, text] of written) expectNoTokenIn(where, text, [...oldTokens, ...newTokens])
    })
  })

  it('stops in preflight, changing nothing, when a permission is missing', async () => {
    const namespace = await createNamespace(cluster.core, 'limited')
    try {
      const rbac = cluster.kc.makeApiClient(k8s.RbacAuthorizationV1Api)
      await cluster.core.createNamespacedServiceAccount({ namespace, body: { metadata: { name: 'operator' } } })
      await rbac.createNamespacedRole({
        namespace,
        // Deliberately incomplete: it may read Secrets but not patch them.
        body: { metadata: { name: 'operator' }, rules: [{ apiGroups: [''], resources: ['secrets', 'serviceaccounts', 'pods', 'events'], verbs: ['get', 'list', 'watch'] }] },
      })
      await rbac.createNamespacedRoleBinding({
        namespace,
        body: { metadata: { name: 'operator' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'operator' }, subjects: [{ kind: 'ServiceAccount', name: 'operator', namespace }] },
      })
      const token = await createTokenSecret(cluster.core, namespace, 'operator-token', 'operator')
      const server = cluster.kc.getCurrentCluster()!
      const kubeconfig = join(scratch, 'limited.kubeconfig')
      const ca = server.caData ?? Buffer.from(await readFile(server.caFile!)).toString('base64')
      await writeFile(
        kubeconfig,
        `apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: "${server.server}", certificate-authority-data: "${ca}"}}]\nusers: [{name: u, user: {token: "${token}"}}]\ncontexts: [{name: c, context: {cluster: c, user: u, namespace: ${namespace}}}]\ncurrent-context: c\n`,
        { mode: 0o600 },
      )
      // Not resourceVersions: the API server itself labels a legacy token Secret when its token is first used each day.
      const versions = async () => (await cluster.core.listNamespacedSecret({ namespace })).items.map((s) => JSON.stringify([s.metadata!.name, s.data, s.metadata!.annotations])).sort()
      const before = await versions()
      const result = await runRunbook('rotate-tokens', ['-n', namespace, '--yes', '--skip-calico', '--report-dir', scratch], { kubeconfig })
      expect(result.code).toBe(1)
      expect(result.stdout).toMatch(/missing permissions, nothing was changed: .*patch secrets in namespace/)
      expect(result.stdout).toMatch(/resources: \["secrets"\]\n\s+verbs: \[.*"patch"/)
      expect(result.stdout).toMatch(/not run\s+regenerate-tokens/)
      expect(await versions()).toEqual(before)
    } finally {
      await deleteNamespace(cluster.core, namespace)
    }
  })

  it('resumes after being killed mid-run: nothing lost, nothing done twice', async () => {
    const namespace = await createNamespace(cluster.core, 'resume')
    try {
      await cluster.core.createNamespacedServiceAccount({ namespace, body: { metadata: { name: 'app' } } })
      const old = await createTokenSecret(cluster.core, namespace, 'app-token', 'app')
      await cluster.apps.createNamespacedDeployment({
        namespace,
        body: {
          metadata: { name: 'app' },
          spec: {
            replicas: 2,
            selector: { matchLabels: { app: 'app' } },
            template: podTemplateReading('app', 'app-token'),
          },
        },
      })
      await waitFor('2 Running pods', async () => (await podUids(cluster.core, namespace, 'app')).length === 2)
      await cluster.handle.rotateServiceAccountKey({ keepOld: false })
      const backupDir = join(scratch, 'resume-backup')
      const args = ['-n', namespace, '--yes', '--skip-calico', '--backup-dir', backupDir, '--report-dir', scratch]

      // Kill the whole process tree as soon as the backup is written.
      await runUntilThenKill(cluster.kubeconfigPath, args, /backed up 1 Secret/)
      const manifest = JSON.parse(await readFile(join(backupDir, 'manifest.json'), 'utf8')) as { objects: Array<{ name: string }> }
      expect(manifest.objects.map((o) => o.name)).toContain('app-token')

      const result = await runRunbook('rotate-tokens', args, { kubeconfig: cluster.kubeconfigPath })
      expect(result.code, result.stderr.slice(-3000)).toBe(0)
      const secret = await cluster.core.readNamespacedSecret({ namespace, name: 'app-token' })
      const fresh = Buffer.from(secret.data!.token!, 'base64').toString()
      expect((await tokenReview(cluster.authn, fresh)).authenticated).toBe(true)
      // The backup still holds the original, not a half-changed copy.
      const entry = manifest.objects.find((o) => o.name === 'app-token') as { name: string; file: string }
      const saved = JSON.parse(await readFile(join(backupDir, entry.file), 'utf8')) as { data: { token: string } }
      expect(Buffer.from(saved.data.token, 'base64').toString()).toBe(old)
      // Restarted exactly once: one template change after creation.
      const deployment = await cluster.apps.readNamespacedDeployment({ namespace, name: 'app' })
      expect(deployment.metadata!.generation).toBe(2)
    } finally {
      await deleteNamespace(cluster.core, namespace)
    }
  })

  it('--restore puts the backed-up tokens back after a graceful rotation', async () => {
    const namespace = await createNamespace(cluster.core, 'restore')
    try {
      await cluster.core.createNamespacedServiceAccount({ namespace, body: { metadata: { name: 'svc' } } })
      const original = await createTokenSecret(cluster.core, namespace, 'svc-token', 'svc')
      await cluster.handle.rotateServiceAccountKey({ keepOld: true })
      const backupDir = join(scratch, 'restore-backup')
      const regen = await runRunbook('regenerate-tokens', ['-n', namespace, '--all-tokens', '--yes', '--backup-dir', backupDir], { kubeconfig: cluster.kubeconfigPath })
      expect(regen.code, regen.stderr.slice(-2000)).toBe(0)
      const read = async () => Buffer.from((await cluster.core.readNamespacedSecret({ namespace, name: 'svc-token' })).data!.token!, 'base64').toString()
      expect(await read()).not.toBe(original)

      // --restore DIR, --restore=DIR and KTR_RESTORE are the same: the undo, never a rotation.
      for (const [args, env] of [[['--restore', backupDir]], [[], { KTR_RESTORE: backupDir }]] as const) {
        const plan = await runRunbook('rotate-tokens', [...args, '--dry-run'], { kubeconfig: cluster.kubeconfigPath, ...(env ? { env } : {}) })
        expect(plan.code, plan.stderr).toBe(0)
        expect(plan.stdout).toMatch(/1 to restore/)
        expect(plan.stderr).not.toMatch(/Preflight/)
      }
      const restore = await runRunbook('rotate-tokens', [`--restore=${backupDir}`, '--yes'], { kubeconfig: cluster.kubeconfigPath })
      expect(restore.code, restore.stderr.slice(-2000)).toBe(0)
      expect(await read()).toBe(original)
      expect((await tokenReview(cluster.authn, original)).authenticated).toBe(true)
    } finally {
      await deleteNamespace(cluster.core, namespace)
    }
  })
})

const CALICO_TOKEN_SECRET = 'kube-system/calico-node-token'

/**
 * Every form in which a token could be printed. encodeURIComponent(jwt) is
 * not listed: a JWT holds only URL-safe characters, so it is the raw form.
 * Lines of wrapped base64 are not checked one by one: the first ones encode
 * the header, which every token of a key shares and which is no secret.
 */
function printedForms(token: string): Array<[form: string, text: string]> {
  const base64 = Buffer.from(token).toString('base64')
  const wrap = (text: string, column: number) => text.match(new RegExp(`.{1,${column}}`, 'g'))!.join('\n')
  return [
    ['raw', token],
    ['signature', token.split('.')[2]!],
    ['base64', base64],
    ['base64url', Buffer.from(token).toString('base64url')],
    ['base64 wrapped at 76 columns', wrap(base64, 76)],
    ['base64 wrapped at 64 columns', wrap(base64, 64)],
    ['base64 wrapped at 76 columns in a JSON string', JSON.stringify(wrap(base64, 76)).slice(1, -1)],
    ['base64 of the token and a newline (echo | base64)', Buffer.from(`${token}\n`).toString('base64')],
    ['URL-encoded base64', encodeURIComponent(base64)],
  ]
}

/** Fails naming the token's Secret, the form and where, never printing the token. */
function expectNoTokenIn(where: string, text: string, tokens: ReadonlyArray<readonly [name: string, token: string]>): void {
  for (const [name, token] of tokens) {
    for (const [form, printed] of printedForms(token)) {
      expect(text.includes(printed), `${where} printed the token of ${name} as ${form}`).toBe(false)
    }
  }
}

/** Starts rotate-tokens in its own process group and kills the group when stderr matches. */
function runUntilThenKill(kubeconfig: string, args: string[], when: RegExp): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(join(import.meta.dirname, '..', '..', 'runbooks', 'rotate-tokens.ts'), args, {
      env: { ...process.env, KUBECONFIG: kubeconfig, NO_COLOR: '1' },
      detached: true,
      stdio: ['ignore', 'ignore', 'pipe'],
    })
    let seen = ''
    const timer = setTimeout(() => {
      process.kill(-child.pid!, 'SIGKILL')
      reject(new Error(`never saw ${when} before the timeout:\n${seen.slice(-2000)}`))
    }, 150_000)
    child.stderr.on('data', (d: Buffer) => {
      seen += d.toString()
      if (when.test(seen)) process.kill(-child.pid!, 'SIGKILL')
    })
    child.on('close', () => {
      clearTimeout(timer)
      resolve()
    })
  })
}
