// fix-calico without a cluster: node-local mode (--cni-conf-dir with
// --token-file and --key-file contacts nothing) repairs a CNI directory in a
// temp folder, for both config generations, atomically and with backups; a
// second run finds nothing to do; bad tokens and flag mistakes are refused
// before anything is written. The real script runs as a subprocess.
import { mkdtemp, readdir, readFile, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { beforeAll, describe, expect, it } from 'vitest'
import { fill, nodeDir } from '../../fixtures/calico/fixtures.ts'
import { jsonOf, runRunbook, type CliResult } from '../../e2e/support/cli.ts'
import { boundClaims, legacyClaims, makeSigningKey, signToken, wrapBase64, type TestSigningKey } from '../helpers/tokens.ts'

const noCluster = { env: { KUBECONFIG: '/nonexistent/kubeconfig', HOME: '/nonexistent' } }

interface Report {
  steps: Array<{ id: string; outcome: string; summary: string }>
  nodes: { before: Array<{ verdict: string; reason: string }>; after: Array<{ verdict: string; reason: string }> }
  nodeFilesWritten: string[]
  warnings: string[]
  backupDir: string
}

describe('fix-calico node-local mode (subprocess, no cluster)', () => {
  let work: string
  let current: TestSigningKey
  let retired: TestSigningKey
  let stale: string
  let fresh: string
  const outputs: CliResult[] = []

  /** A CNI config directory from a fixture, holding `token`; returns its path. */
  const nodeDirWith = async (fixture: string, token: string): Promise<string> => {
    const dir = await mkdtemp(join(work, `${fixture}-`))
    for (const file of nodeDir(fixture)) await writeFile(join(dir, file.name), file.text.includes('__TOKEN__') ? fill(file.text, token) : file.text, { mode: 0o644 })
    await writeFile(join(dir, '99-loopback.conf'), '{"cniVersion": "0.3.1", "name": "lo", "type": "loopback"}\n')
    return dir
  }
  const snapshot = async (dir: string) => Object.fromEntries(await Promise.all((await readdir(dir)).sort().map(async (name) => [name, await readFile(join(dir, name), 'utf8')] as const)))
  const fix = async (dir: string, ...args: string[]) => {
    const result = await runRunbook(
      'fix-calico',
      ['--cni-conf-dir', dir, '--token-file', join(work, 'token'), '--key-file', join(work, 'sa.pub'), '--backup-dir', join(dir, '..', `${dir.split('/').at(-1)}-backup`), ...args],
      noCluster,
    )
    outputs.push(result)
    return result
  }

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'ktr-fix-calico-'))
    current = makeSigningKey('rsa')
    retired = makeSigningKey('rsa')
    stale = await signToken(legacyClaims({ serviceAccount: 'calico-node' }), retired)
    fresh = await signToken(legacyClaims({ serviceAccount: 'calico-node', secretName: 'calico-node-token' }), current)
    await writeFile(join(work, 'sa.pub'), current.publicPem)
    await writeFile(join(work, 'token'), `${fresh}\n`)
  })

  it('rewrites a v3.0 node (10-calico.conf and calico-kubeconfig) atomically, with backups, and says the ConfigMap wins', async () => {
    const dir = await nodeDirWith('v3.0-kdd', stale)
    const before = await snapshot(dir)
    const result = await fix(dir, '--yes', '-o', 'json')
    expect(result.code, result.stderr).toBe(0)
    const report = jsonOf<Report>(result)
    expect(report.nodes.before).toEqual([expect.objectContaining({ verdict: 'stale' })])
    expect(report.nodes.before[0]!.reason).toMatch(/10-calico.conf policy.k8s_auth_token: unknown-key: .*no longer trusts.*; rewrite the files with fix-calico --cni-conf-dir/)
    expect(report.steps.find((s) => s.id === 'rewrite-node-files')?.outcome).toBe('applied')
    expect(report.nodes.after).toEqual([expect.objectContaining({ verdict: 'current' })])

    const after = await snapshot(dir)
    expect(Object.keys(after)).toEqual(Object.keys(before)) // no temp file left behind, nothing added
    for (const name of ['10-calico.conf', 'calico-kubeconfig']) {
      expect(after[name]).toBe(before[name]!.replace(stale, fresh)) // only the token changed
      expect((await stat(join(dir, name))).mode & 0o777).toBe(0o644) // mode kept
      const backup = join(report.backupDir, 'node-files', name)
      expect(await readFile(backup, 'utf8')).toBe(before[name])
      expect((await stat(backup)).mode & 0o777).toBe(0o600)
    }
    expect(after['99-loopback.conf']).toBe(before['99-loopback.conf'])
    expect(report.warnings.join('\n')).toMatch(/install-cni rewrites 10-calico.conf and calico-kubeconfig from the CNI config ConfigMap .*\(the ConfigMap wins\): the ConfigMap could not be checked offline/)
  }, 60_000)

  it('finds nothing to do on a second run', async () => {
    const dir = await nodeDirWith('v3.0-kdd', stale)
    expect((await fix(dir, '--yes')).code).toBe(0)
    const before = await snapshot(dir)
    const again = await fix(dir, '--yes')
    expect(again.code, again.stderr).toBe(0)
    expect(again.stdout).toContain('Nothing to do: everything is already in order.')
    expect(await snapshot(dir)).toEqual(before)
  }, 60_000)

  it('rewrites only calico-kubeconfig on a v3.27 node whose TokenRequest token expired', async () => {
    const expired = await signToken(
      boundClaims({ serviceAccount: { name: 'calico-cni-plugin', uid: 'u' }, pod: null, node: null, issuedAt: new Date('2025-01-01T00:00:00Z'), lifetimeSeconds: 86_400 }),
      current,
    )
    const dir = await nodeDirWith('v3.27.2', expired)
    const before = await snapshot(dir)
    const result = await fix(dir, '--yes', '-o', 'json')
    expect(result.code, result.stderr).toBe(0)
    const report = jsonOf<Report>(result)
    expect(report.nodes.before[0]).toMatchObject({ verdict: 'stale' })
    expect(report.nodes.before[0]!.reason).toMatch(/calico-kubeconfig users\[0\].user.token: expired/)
    expect(report.nodeFilesWritten.map((p) => p.split('/').at(-1))).toEqual(['calico-kubeconfig'])
    const after = await snapshot(dir)
    expect(after['10-calico.conflist']).toBe(before['10-calico.conflist'])
    expect(after['calico-kubeconfig']).toBe(before['calico-kubeconfig']!.replace(expired, fresh))
  }, 60_000)

  it('ignores -n and -A, with a note (rotate-tokens hands its scope to every child)', async () => {
    const dir = await nodeDirWith('v3.0-kdd', stale)
    const result = await fix(dir, '--dry-run', '-n', 'payments')
    expect(result.code, result.stderr).toBe(0)
    expect(result.stderr).toContain("note: -n ignored: fix-calico works in Calico's own namespace (kube-system or calico-system), found by detection")
  }, 60_000)

  it('changes nothing under --dry-run and shows the commands to do it by hand', async () => {
    const dir = await nodeDirWith('v3.0-kdd', stale)
    const before = await snapshot(dir)
    const result = await fix(dir, '--dry-run')
    expect(result.code, result.stderr).toBe(0)
    expect(result.stdout).toMatch(/would apply\s+rewrite-node-files/)
    expect(result.stdout).toContain(`sed -i 's|"k8s_auth_token": *"[^"]*"|"k8s_auth_token": "'"$TOKEN"'"|' ${join(dir, '10-calico.conf')}`)
    expect(await snapshot(dir)).toEqual(before)
  }, 60_000)

  it('refuses a --token-file signed by a retired key, and writes nothing (exit 1)', async () => {
    const dir = await nodeDirWith('v3.0-kdd', stale)
    const before = await snapshot(dir)
    const other = join(work, 'stale-token')
    await writeFile(other, wrapBase64(stale)) // base64-wrapped, as kubectl shows it: accepted and unwrapped
    const result = await runRunbook('fix-calico', ['--cni-conf-dir', dir, '--token-file', other, '--key-file', join(work, 'sa.pub'), '--backup-dir', join(work, 'b-refuse'), '--yes'], noCluster)
    outputs.push(result)
    expect(result.code).toBe(1)
    expect(result.stdout + result.stderr).toMatch(/the token from --token-file .* is not signed by a current key \(unknown-key .*\): nothing was written/)
    expect(await snapshot(dir)).toEqual(before)
  }, 60_000)

  it('fails with the fix when the directory holds no Calico files (exit 1)', async () => {
    const dir = await mkdtemp(join(work, 'empty-'))
    await writeFile(join(dir, '10-flannel.conflist'), '{"name": "cbr0", "cniVersion": "0.3.1", "plugins": [{"type": "flannel"}]}')
    const result = await fix(dir, '--yes')
    expect(result.code).toBe(1)
    expect(result.stdout + result.stderr).toMatch(/no Calico CNI files among the 1 files in the CNI config directory .*check that Calico runs on this node/)
  }, 60_000)

  it('never printed a token', () => {
    expect(outputs.length).toBeGreaterThan(4)
    for (const { stdout, stderr } of outputs) {
      expect(stdout + stderr).not.toContain(fresh)
      expect(stdout + stderr).not.toContain(stale)
      expect(stdout + stderr).not.toMatch(/eyJ[\w-]{10,}\.eyJ[\w-]{10,}\.[\w-]{20,}/)
    }
  })
})

describe.concurrent('fix-calico flags (subprocess, no cluster)', () => {
  it.each([
    ['--token-file without --cni-conf-dir', ['--token-file', 't'], /--token-file is for node-local mode: add --cni-conf-dir/],
    ['--offline without node-local mode', ['--offline'], /--offline works on a node's files alone: give --cni-conf-dir <dir> and --token-file <path>/],
    ['--embed-token in node-local mode', ['--cni-conf-dir', '/tmp', '--embed-token'], /--embed-token acts on the cluster, which node-local mode \(--cni-conf-dir\) leaves alone/],
    ['--probe in node-local mode', ['--cni-conf-dir', '/tmp', '--probe'], /--probe acts on the cluster/],
    ['--timeout 0', ['--timeout', '0'], /--timeout 0 must be a whole number of at least 1/],
    ['a missing --token-file', ['--cni-conf-dir', '/tmp', '--token-file', '/nonexistent/token', '--offline'], /cannot read --token-file \/nonexistent\/token: ENOENT/],
    ['an empty --token-file', ['--cni-conf-dir', '/tmp', '--token-file', '/dev/null'], /--token-file \/dev\/null is empty/],
    ['an unknown flag', ['--embed-tokens'], /unknown flag --embed-tokens \(did you mean --embed-token\?\)/],
  ])('exits 2 for %s, with a one-line error', async (_what, args, message) => {
    const result = await runRunbook('fix-calico', args, noCluster)
    expect(result.code).toBe(2)
    expect(result.stderr).toMatch(message)
    expect(result.stderr).not.toMatch(/\n\s+at /)
  }, 60_000)

  it('points at --offline when node-local mode finds no kubeconfig', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ktr-fix-calico-flags-'))
    const key = makeSigningKey('ec')
    await writeFile(join(dir, 'token'), await signToken(legacyClaims(), key))
    const result = await runRunbook('fix-calico', ['--cni-conf-dir', dir, '--token-file', join(dir, 'token')], noCluster)
    expect(result.code).toBe(2)
    expect(result.stderr).toMatch(/no file named in KUBECONFIG exists .*; or, to work on .* alone, pass --offline \(with --key-file to check signatures\)/)
  }, 60_000)

  it('lists its steps and flags in --help', async () => {
    const result = await runRunbook('fix-calico', ['--help'], noCluster)
    expect(result.code).toBe(0)
    for (const word of [
      'detect-calico',
      'check-cni-config',
      'check-cni-account',
      'read-node-tokens',
      'back-up',
      'regenerate-cni-tokens',
      'fix-cni-config',
      'rewrite-node-files',
      'restart-calico-node',
      'verify-cni-tokens',
      'probe-nodes',
      '--embed-token',
      '--cni-conf-dir',
      '--probe-image',
      'default: 300',
    ]) {
      expect(result.stdout).toContain(word)
    }
  }, 60_000)
})
