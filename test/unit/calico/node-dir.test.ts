// A node's CNI directory: the verdict on its tokens, and the atomic rewrite
// with backups.
import { mkdtemp, readdir, readFile, stat, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { NodeVerdict, judgeNodeFiles, readCniConfDir, rewriteNodeFiles, unreadableNode, withoutFix, type JudgeOptions } from '../../../lib/calico/node-dir.ts'
import { TokenStatus } from '../../../lib/token/status.ts'
import { fillFiles, nodeDir } from '../../fixtures/calico/fixtures.ts'
import { boundClaims, legacyClaims, makeSigningKey, signToken } from '../helpers/tokens.ts'

const key = makeSigningKey('ec')
const calicoNodeToken = await signToken(legacyClaims({ serviceAccount: 'calico-node' }), key)
const foreignToken = await signToken(legacyClaims({ serviceAccount: 'default', namespace: 'default' }), key)
const pluginToken = await signToken(boundClaims({ serviceAccount: { name: 'calico-cni-plugin', uid: 'u' }, pod: null, node: null }), key)
const NOW = new Date('2026-01-01T12:00:00Z')

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
