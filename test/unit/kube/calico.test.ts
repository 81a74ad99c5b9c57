// Reading a node's CNI files through exec (a fake exec: the local cluster
// has no kubelet).
import { describe, expect, it } from 'vitest'
import { DomainError } from '../../../lib/errors.ts'
import { readNodeFilesByExec, type ExecFn, type ExecResult } from '../../../lib/kube/calico.ts'
import { fillFiles, nodeDir } from '../../fixtures/calico/fixtures.ts'
import { legacyClaims, makeSigningKey, signToken } from '../helpers/tokens.ts'

const key = makeSigningKey('ec')
const calicoNodeToken = await signToken(legacyClaims({ serviceAccount: 'calico-node' }), key)

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
