// The package as a user gets it: `npm pack`, installed into a throw-away
// prefix, run from a directory outside the repository, as its own command,
// as a kubectl plugin, and through npx, against the real cluster.
import { execFile } from 'node:child_process'
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { delimiter, join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createNamespace, createTokenSecret, deleteNamespace, useCluster, type TestCluster } from './support/cluster.ts'

const run = promisify(execFile)
const repo = join(import.meta.dirname, '..', '..')
const PLUGINS = ['kubectl-rotate_tokens', 'kubectl-verify_token', 'kubectl-regenerate_tokens', 'kubectl-restart_dependent_pods', 'kubectl-fix_calico']

interface Outcome {
  code: number
  stdout: string
  stderr: string
}

describe('the packed tarball', () => {
  let cluster: TestCluster
  let namespace: string
  let work: string
  let tarball: string
  let env: NodeJS.ProcessEnv

  /** Runs a command in the scratch directory (not the repository) with the installed package first on PATH. */
  const sh = async (command: string, args: string[]): Promise<Outcome> => {
    try {
      const { stdout, stderr } = await run(command, args, { cwd: work, env, timeout: 300_000 })
      return { code: 0, stdout, stderr }
    } catch (err) {
      const e = err as { code?: number; stdout?: string; stderr?: string }
      return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? String(err) }
    }
  }

  beforeAll(async () => {
    cluster = await useCluster()
    namespace = await createNamespace(cluster.core, 'pkg')
    await cluster.core.createNamespacedServiceAccount({ namespace, body: { metadata: { name: 'robot' } } })
    await createTokenSecret(cluster.core, namespace, 'robot-token', 'robot')
    work = await mkdtemp(join(tmpdir(), 'ktr-pkg-'))
    // npm pack runs the prepack build; --pack-destination keeps the repository clean.
    const packed = await run('npm', ['pack', '--silent', '--pack-destination', work], { cwd: repo, timeout: 300_000 })
    tarball = join(work, packed.stdout.trim().split('\n').pop() ?? '')
    const prefix = join(work, 'prefix')
    await run('npm', ['install', '--global', '--prefix', prefix, '--prefer-offline', '--no-audit', '--no-fund', tarball], { cwd: work, timeout: 300_000 })
    // Only the installed package and node/npm/kubectl: nothing of the repository is on PATH.
    env = { ...process.env, PATH: [join(prefix, 'bin'), process.env.PATH].join(delimiter), KUBECONFIG: cluster.kubeconfigPath, NO_COLOR: '1' }
  }, 900_000)
  afterAll(async () => {
    if (cluster && namespace) await deleteNamespace(cluster.core, namespace)
    if (work) await rm(work, { recursive: true, force: true })
  })

  it('ships the built runbooks, the license and the README, and no TypeScript sources', async () => {
    const listed = await run('tar', ['-tzf', tarball])
    const files = listed.stdout.split('\n').filter(Boolean)
    expect(files).toEqual(expect.arrayContaining(['package/LICENSE', 'package/README.md', 'package/dist/kube-token-runbooks.js', 'package/dist/rotate-tokens.js']))
    expect(files.filter((f) => f.endsWith('.ts'))).toEqual([])
  })

  it('runs from outside the repository: --version and --help', async () => {
    const version = await sh('kube-token-runbooks', ['--version'])
    expect(version.code, version.stderr).toBe(0)
    expect(version.stdout).toMatch(/^kube-token-runbooks \d+\.\d+\.\d+\n$/)
    const help = await sh('kube-token-runbooks', ['verify-token', '--help'])
    expect(help.code, help.stderr).toBe(0)
    expect(help.stdout).toContain('Usage: verify-token')
  })

  it('checks a live token Secret on the cluster as `kube-token-runbooks verify-token`', async () => {
    const result = await sh('kube-token-runbooks', ['verify-token', '--secret', `${namespace}/robot-token`, '-o', 'json'])
    expect(result.code, result.stderr).toBe(0)
    const report = JSON.parse(result.stdout) as { results: Array<{ status: string }> }
    expect(report.results.map((r) => r.status)).toEqual(['valid'])
  })

  it('is found by kubectl as plugins, and runs as `kubectl verify-token`', async () => {
    const list = await sh('kubectl', ['plugin', 'list'])
    for (const plugin of PLUGINS) expect(list.stdout).toContain(plugin)
    const result = await sh('kubectl', ['verify-token', '--secret', `${namespace}/robot-token`])
    expect(result.code, result.stderr).toBe(0)
    expect(result.stdout).toContain(`secret ${namespace}/robot-token: VALID`)
  })

  it("runs its shell from the bundle: --kubelet-log journal runs journalctl through zx's $", async () => {
    // A stand-in journalctl first on PATH: what the bundled zx runs, and what the runbook makes of it.
    const bin = join(work, 'fake-bin')
    await mkdir(bin, { recursive: true })
    const lines = [`robot-token-x7k2p`, 'robot-token'].map(
      (secret) => `E1130 12:00:00.000000    5776 secret.go:189] Couldn't get secret ${namespace}/${secret}: secret "${secret}" not found`,
    )
    await writeFile(join(bin, 'journalctl'), `#!/bin/sh\ncat <<'EOF'\n${lines.join('\n')}\nEOF\n`)
    await chmod(join(bin, 'journalctl'), 0o755)
    const { stdout } = await run('kubectl-restart_dependent_pods', ['-n', namespace, '--kubelet-log', 'journal', '--dry-run', '-o', 'json'], {
      cwd: work,
      env: { ...env, PATH: [bin, env.PATH].join(delimiter) },
      timeout: 120_000,
    })
    const report = JSON.parse(stdout) as { kubeletLog: { source: string; secrets: Array<{ secret: string; status: string }> } }
    expect(report.kubeletLog.source).toMatch(/^journalctl -u kubelet --since @\d+ -o cat --no-pager$/)
    expect(report.kubeletLog.secrets.map((s) => [s.secret, s.status])).toEqual([
      [`${namespace}/robot-token`, 'present'],
      [`${namespace}/robot-token-x7k2p`, 'missing'],
    ])
  })

  it('runs through npx from the tarball', async () => {
    const result = await sh('npx', ['--yes', '--prefer-offline', '--package', tarball, 'kube-token-runbooks', 'rotate-tokens', '--version'])
    expect(result.code, result.stderr).toBe(0)
    expect(result.stdout).toMatch(/^rotate-tokens \d+\.\d+\.\d+\n$/)
  })
})
