// The parts fix-calico is built from, without a cluster: which container of
// calico-node shows the node's CNI directory (per Calico generation), reading
// the files through exec (a fake exec: the local cluster has no kubelet), the
// verdict on a node's tokens, when calico-node must restart, the atomic
// rewrite with backups, and the probe pod.
import { mkdtemp, readdir, readFile, stat, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { V1Pod } from '@kubernetes/client-node'
import { describe, expect, it } from 'vitest'
import { NodeVerdict, judgeNodeFiles, readCniConfDir, rewriteNodeFiles, unreadableNode, withoutFix, type JudgeOptions } from '../../../lib/calico/node-dir.ts'
import { DomainError } from '../../../lib/errors.ts'
import { cniMountOf, latestChange, podStartedSince, probePod, readNodeFilesByExec, restartReasons, type ExecFn, type ExecResult } from '../../../lib/kube/calico.ts'
import { TokenStatus } from '../../../lib/token/status.ts'
import { fillFiles, loadObjects, nodeDir } from '../../fixtures/calico/fixtures.ts'
import { boundClaims, legacyClaims, makeSigningKey, signToken } from '../helpers/tokens.ts'

const key = makeSigningKey('ec')
const calicoNodeToken = await signToken(legacyClaims({ serviceAccount: 'calico-node' }), key)
const foreignToken = await signToken(legacyClaims({ serviceAccount: 'default', namespace: 'default' }), key)
const pluginToken = await signToken(boundClaims({ serviceAccount: { name: 'calico-cni-plugin', uid: 'u' }, pod: null, node: null }), key)
const NOW = new Date('2026-01-01T12:00:00Z')

describe('cniMountOf', () => {
  it.each([
    ['v3.0: install-cni is a running container', 'manifest-v3.0-kdd.yaml', { container: 'install-cni', mountPath: '/host/etc/cni/net.d' }],
    ['v3.27: install-cni is an init container, calico-node mounts the directory', 'manifest-v3.27.2.yaml', { container: 'calico-node', mountPath: '/host/etc/cni/net.d' }],
    ['operator v3.28: the same, in calico-system', 'operator-v3.28.0.yaml', { container: 'calico-node', mountPath: '/host/etc/cni/net.d' }],
  ])('%s', (_what, fixture, mount) => {
    const [ds] = loadObjects(fixture).daemonSets
    expect(cniMountOf(ds!, '/etc/cni/net.d')).toEqual(mount)
  })

  it('finds nothing when only an init container mounts the directory', () => {
    const [ds] = loadObjects('manifest-v3.27.2.yaml').daemonSets
    const spec = ds!.spec!.template.spec!
    const stripped = { ...ds!, spec: { ...ds!.spec!, template: { ...ds!.spec!.template, spec: { ...spec, containers: spec.containers.map((c) => ({ ...c, volumeMounts: [] })) } } } }
    expect(cniMountOf(stripped, '/etc/cni/net.d')).toBeUndefined()
  })
})

/** A fake exec over a directory listing: `ls -1 <dir>` and `cat <dir>/<name>`. */
function fakeExec(files: Record<string, string>): ExecFn & { commands: string[][] } {
  const commands: string[][] = []
  const exec = async (_ref: unknown, command: readonly string[]): Promise<ExecResult> => {
    commands.push([...command])
    if (command[0] === 'ls') return { stdout: `${Object.keys(files).join('\n')}\n`, stderr: '', status: { status: 'Success' } }
    const name = command[1]!.split('/').at(-1)!
    const text = files[name]
    return text === undefined
      ? { stdout: '', stderr: `cat: ${command[1]}: No such file`, status: { status: 'Failure', message: 'command terminated with non-zero exit code: error executing command [cat], exit code 1' } }
      : { stdout: text, stderr: '', status: { status: 'Success' } }
  }
  return Object.assign(exec, { commands })
}

const ref = { namespace: 'kube-system', pod: 'calico-node-abcde', container: 'install-cni' }

describe('readNodeFilesByExec', () => {
  it('lists the directory and reads only CNI configs and kubeconfigs, one exec each, no shell', async () => {
    const files = Object.fromEntries(fillFiles(nodeDir('v3.0-kdd'), calicoNodeToken).map((f) => [f.name, f.text]))
    const exec = fakeExec({ ...files, 'calico-tls': 'not read', '.hidden.conf': 'not read' })
    const read = await readNodeFilesByExec(exec, ref, '/host/etc/cni/net.d/', 1000)
    expect(read).toEqual({ ok: true, files: Object.entries(files).map(([name, text]) => ({ name, text })) })
    expect(exec.commands).toEqual([
      ['ls', '-1', '/host/etc/cni/net.d/'],
      ['cat', '/host/etc/cni/net.d/10-calico.conf'],
      ['cat', '/host/etc/cni/net.d/calico-kubeconfig'],
    ])
  })

  it.each([
    ['the API server cannot reach a kubelet', Object.assign(new Event('error'), { message: 'Unexpected server response: 500' }), /^exec not available \(Unexpected server response: 500\)$/],
    ['RBAC denies pods/exec', new Error('Unexpected server response: 403'), /^exec forbidden \(Unexpected server response: 403\): reading the files needs create on pods\/exec in kube-system$/],
    ['the exec hangs', new DomainError('timed out after 15s waiting for exec in pod kube-system/calico-node-abcde'), /^exec timed out \(timed out after 15s/],
  ])('reports, never throws, when %s', async (_what, error, message) => {
    const read = await readNodeFilesByExec(() => Promise.reject(error), ref, '/host/etc/cni/net.d', 1000)
    expect(read.ok).toBe(false)
    if (!read.ok) expect(read.error).toMatch(message)
  })

  it('names the command and container when a command fails in the pod', async () => {
    const exec: ExecFn = async () => ({ stdout: '', stderr: '', status: { status: 'Failure', message: 'exec: "ls": executable file not found in $PATH' } })
    expect(await readNodeFilesByExec(exec, ref, '/d', 1000)).toEqual({ ok: false, error: 'ls -1 /d failed in container install-cni: exec: "ls": executable file not found in $PATH' })
  })
})

describe('judgeNodeFiles', () => {
  /** Inspection stand-in: the token's status is looked up by the token itself. */
  const judge = (statuses: Record<string, (typeof TokenStatus)[keyof typeof TokenStatus]>, serviceAccounts = ['calico-node']): JudgeOptions => ({
    expectation: { namespace: 'kube-system', serviceAccounts },
    now: NOW,
    fix: 'FIX',
    inspect: async (source, token) => ({
      source,
      status: statuses[token] ?? TokenStatus.valid,
      reason: statuses[token] === undefined ? 'Token is valid.' : 'Token was signed by key k which the cluster no longer trusts; run regenerate-tokens to issue a new token.',
      fingerprint: `fp-${token.length}`,
    }),
  })

  it.each([
    ['both files hold a current token', fillFiles(nodeDir('v3.0-kdd'), calicoNodeToken), {}, NodeVerdict.current, /10-calico.conf and calico-kubeconfig: signed by a current key/],
    [
      'a token signed by a retired key',
      fillFiles(nodeDir('v3.0-kdd'), calicoNodeToken),
      { [calicoNodeToken]: TokenStatus.unknownKey },
      NodeVerdict.stale,
      /^10-calico.conf policy.k8s_auth_token: unknown-key: Token was signed by key k which the cluster no longer trusts; FIX$/,
    ],
    ["someone else's valid token", fillFiles(nodeDir('v3.0-kdd'), foreignToken), {}, NodeVerdict.stale, /belongs to system:serviceaccount:default:default, not to calico-node in kube-system; FIX/],
    ['no keys to check with (offline)', fillFiles(nodeDir('v3.27.2'), calicoNodeToken), { [calicoNodeToken]: TokenStatus.unverified }, NodeVerdict.unverified, /calico-kubeconfig/],
    ['no Calico files at all', [{ name: '99-loopback.conf', text: '{"type": "loopback"}' }], {}, NodeVerdict.missing, /no Calico CNI files in \/etc\/cni\/net.d/],
    ['the conflist without its kubeconfig', nodeDir('v3.27.2').filter((f) => f.name !== 'calico-kubeconfig'), {}, NodeVerdict.missing, /hold no token \(calico-kubeconfig missing\)/],
    ['a kubeconfig that is not YAML', [...nodeDir('v3.27.2').filter((f) => f.name !== 'calico-kubeconfig'), { name: 'calico-kubeconfig', text: 'kind: [' }], {}, NodeVerdict.missing, /is not valid YAML/],
  ])('%s → %s', async (_what, files, statuses, verdict, reason) => {
    const report = await judgeNodeFiles('worker-1', '/etc/cni/net.d', files, judge(statuses))
    expect(report.verdict).toBe(verdict)
    expect(report.reason).toMatch(reason)
  })

  it('accepts the CNI plugin account of v3.26+ when that is the expected one', async () => {
    const report = await judgeNodeFiles('worker-1', 'dir', fillFiles(nodeDir('v3.27.2'), pluginToken), judge({}, ['calico-cni-plugin']))
    expect(report).toMatchObject({ verdict: NodeVerdict.current, tokens: [expect.objectContaining({ file: 'calico-kubeconfig', subject: 'system:serviceaccount:kube-system:calico-cni-plugin', subjectMatches: true })] })
  })

  it('an unreadable node is unverified, with the reason and the way round it', () => {
    expect(unreadableNode('w', 'pod x', 'exec not available (500)', 'use --cni-conf-dir')).toEqual({
      node: 'w',
      source: 'pod x',
      verdict: NodeVerdict.unverified,
      reason: "could not read the node's CNI files: exec not available (500); use --cni-conf-dir",
      tokens: [],
    })
  })

  it.each([
    ['Token was signed by key k which the cluster no longer trusts (its signing key was regenerated); run regenerate-tokens to issue a new token.', 'Token was signed by key k which the cluster no longer trusts (its signing key was regenerated)'],
    ['Token is valid.', 'Token is valid'],
  ])('withoutFix(%s)', (reason, expected) => {
    expect(withoutFix(reason)).toBe(expected)
  })
})

describe('when calico-node must restart', () => {
  const pod = (created: string, restartedAt?: string): V1Pod => ({
    metadata: { name: `p-${created}`, uid: created, creationTimestamp: new Date(created), ...(restartedAt ? { annotations: { 'kubectl.kubernetes.io/restartedAt': restartedAt } } : {}) },
  })
  const change = new Date('2026-01-01T12:00:00.500Z')

  it.each([
    ['created in a later second', pod('2026-01-01T12:00:01Z'), true],
    ['created before', pod('2026-01-01T11:59:00Z'), false],
    // creationTimestamp has whole seconds: the same second is told apart by the restart that made the pod.
    ['created in the same second, by no restart', pod('2026-01-01T12:00:00Z'), false],
    ['created in the same second, by a restart at that second', pod('2026-01-01T12:00:00Z', '2026-01-01T12:00:00Z'), true],
    ['created before, by an older restart', pod('2026-01-01T11:00:00Z', '2026-01-01T11:00:00Z'), false],
  ])('podStartedSince: %s → %s', (_what, p, fresh) => {
    expect(podStartedSince(p, change)).toBe(fresh)
  })

  it.each([
    ['nothing changed, nothing stale', { pods: [pod('2026-01-01T13:00:00Z')], staleNodes: [], pending: [], forced: false }, []],
    ['pods older than the change', { pods: [pod('2026-01-01T11:00:00Z'), pod('2026-01-01T13:00:00Z')], since: change, staleNodes: [], pending: [], forced: false }, ['1 calico-node pod(s) started before the CNI token changed at 2026-01-01T12:00:00.500Z']],
    ['every pod newer than the change', { pods: [pod('2026-01-01T13:00:00Z')], since: change, staleNodes: [], pending: [], forced: false }, []],
    ['a change still to come (dry run)', { pods: [], staleNodes: [], pending: ['fix-cni-config'], forced: false }, ['the CNI token changes in fix-cni-config']],
    ['stale nodes', { pods: [], staleNodes: ['a', 'b', 'c', 'd'], pending: [], forced: false }, ['4 node(s) present a stale or missing CNI token (a, b, c, …)']],
    ['--restart', { pods: [], staleNodes: [], pending: [], forced: true }, ['--restart']],
  ])('restartReasons: %s', (_what, input, reasons) => {
    expect(restartReasons(input)).toEqual(reasons)
  })

  it('latestChange takes the latest readable time', () => {
    expect(latestChange([undefined, '2026-01-01T10:00:00Z', 'garbage', '2026-01-01T11:00:00.250Z'])).toEqual(new Date('2026-01-01T11:00:00.250Z'))
    expect(latestChange([undefined])).toBeUndefined()
  })
})

describe('rewriteNodeFiles', () => {
  it('backs up first (0600, keeping the first copy on a rerun), then replaces each file keeping its mode', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ktr-node-dir-'))
    const backup = join(dir, '..', `${dir.split('/').at(-1)}-backup`)
    await writeFile(join(dir, 'calico-kubeconfig'), 'old\n', { mode: 0o640 })
    await rewriteNodeFiles(dir, [{ name: 'calico-kubeconfig', newText: 'new\n' }], backup)
    await rewriteNodeFiles(dir, [{ name: 'calico-kubeconfig', newText: 'newer\n' }], backup)
    expect(await readFile(join(dir, 'calico-kubeconfig'), 'utf8')).toBe('newer\n')
    expect((await stat(join(dir, 'calico-kubeconfig'))).mode & 0o777).toBe(0o640)
    expect(await readFile(join(backup, 'calico-kubeconfig'), 'utf8')).toBe('old\n')
    expect((await stat(join(backup, 'calico-kubeconfig'))).mode & 0o777).toBe(0o600)
    expect(await readdir(dir)).toEqual(['calico-kubeconfig'])
  })

  it('refuses a symbolic link and changes nothing', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ktr-node-dir-'))
    await writeFile(join(dir, 'real'), 'x')
    await symlink(join(dir, 'real'), join(dir, 'calico-kubeconfig'))
    await expect(rewriteNodeFiles(dir, [{ name: 'calico-kubeconfig', newText: 'y' }], join(dir, 'b'))).rejects.toThrow(/is a symbolic link, not the file install-cni writes; nothing was changed/)
    expect(await readFile(join(dir, 'real'), 'utf8')).toBe('x')
  })

  it('readCniConfDir names the directory and the fix when it cannot be read', async () => {
    await expect(readCniConfDir('/nonexistent/net.d')).rejects.toThrow(/cannot read --cni-conf-dir \/nonexistent\/net.d: ENOENT; pass the directory install-cni writes to/)
  })
})

describe('probePod', () => {
  it('is pinned to the node, tolerates every taint, carries no token, and is labelled for clean-up', () => {
    const pod = probePod('worker-1', 'registry.k8s.io/pause:3.10')
    expect(pod.spec).toMatchObject({
      nodeName: 'worker-1',
      automountServiceAccountToken: false,
      restartPolicy: 'Never',
      tolerations: [{ operator: 'Exists' }],
      containers: [expect.objectContaining({ image: 'registry.k8s.io/pause:3.10' })],
    })
    expect(pod.spec?.hostNetwork).toBeUndefined() // it must go through the CNI plugin
    expect(pod.metadata?.labels).toMatchObject({ 'kube-token-runbooks.io/cni-probe': 'true' })
  })
})
