import { execFileSync } from 'node:child_process'
import { describe, expect, it } from 'vitest'
import { connectionArgs, kubectlCommand, shellQuote } from '../../../lib/engine/kubectl.ts'

describe('shellQuote', () => {
  it.each([
    ['kube-system', 'kube-system'],
    ['app=web,tier!=db', `'app=web,tier!=db'`],
    ['', `''`],
    ["it's", `'it'\\''s'`],
    ['[{"op":"remove","path":"/data/token"}]', `'[{"op":"remove","path":"/data/token"}]'`],
    ['$(rm -rf /)', `'$(rm -rf /)'`],
  ])('%s → %s', (arg, quoted) => {
    expect(shellQuote(arg)).toBe(quoted)
  })

  it('round-trips through a real shell', () => {
    const args = ["it's", 'a b', '$HOME', '`x`', '"q"', '\\n', '']
    const out = execFileSync('sh', ['-c', `printf '%s\\n' ${args.map(shellQuote).join(' ')}`], { encoding: 'utf8' })
    expect(out.split('\n').slice(0, -1)).toEqual(args)
  })
})

describe('kubectlCommand', () => {
  it('builds a pasteable line', () => {
    expect(kubectlCommand('patch', 'secret', '-n', 'kube-system', 'x', '--type=json', '-p', '[{"op":"remove"}]')).toBe(
      `kubectl patch secret -n kube-system x --type=json -p '[{"op":"remove"}]'`,
    )
  })

  it('adds the connection flags given to the runbook', () => {
    expect(kubectlCommand(...connectionArgs({ kubeconfig: '/tmp/k config', context: 'kind-a' }), 'get', 'pods')).toBe(
      `kubectl --kubeconfig '/tmp/k config' --context kind-a get pods`,
    )
    expect(connectionArgs({})).toEqual([])
  })
})
