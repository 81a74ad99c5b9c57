// lib/shell.ts, the one module that loads zx: commands run through zx's `$`
// with every argument quoted, preconditions fail as usage errors, and zx is
// loaded only by the code paths that need it (--help and --version never do).
import { execFile } from 'node:child_process'
import { dirname, join } from 'node:path'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'
import { UsageError } from '../../lib/errors.ts'
import { commandLines, requireCommand } from '../../lib/shell.ts'

const run = promisify(execFile)
const root = join(import.meta.dirname, '..', '..')

describe('commandLines', () => {
  it('runs the command through zx, each argument quoted, and hands over its stdout line by line', async () => {
    const args = ['%s\\n', "it's", 'a b', '$HOME', '`x`', '"q"', '']
    const { lines, done } = await commandLines('printf', args)
    const seen: string[] = []
    for await (const line of lines) seen.push(line)
    expect(seen).toEqual(args.slice(1))
    expect(await done()).toEqual({ exitCode: 0, stderr: '' })
  })

  it('streams a long output without keeping it (200,000 lines)', async () => {
    const { lines, done } = await commandLines('sh', ['-c', 'i=0; while [ $i -lt 200000 ]; do echo "line $i"; i=$((i+1)); done'])
    let count = 0
    let last = ''
    for await (const line of lines) {
      count++
      last = line
    }
    expect([count, last]).toEqual([200_000, 'line 199999'])
    expect((await done()).exitCode).toBe(0)
  }, 120_000)

  it('never throws for a failing command: the caller reads its exit code and stderr', async () => {
    const { lines, done } = await commandLines('sh', ['-c', 'echo partial; echo broken >&2; exit 3'])
    const seen: string[] = []
    for await (const line of lines) seen.push(line)
    expect(seen).toEqual(['partial'])
    expect(await done()).toEqual({ exitCode: 3, stderr: 'broken\n' })
  })
})

describe('requireCommand', () => {
  it('finds a command on PATH', async () => {
    expect(await requireCommand('sh', 'x', 'y')).toMatch(/\/sh$/)
  })

  it('is a usage error naming what needs it and the way out', async () => {
    const missing = requireCommand('journalctl', '--kubelet-log journal', 'pass a file', { PATH: '/nonexistent' })
    await expect(missing).rejects.toThrow(UsageError)
    await expect(missing).rejects.toThrow('--kubelet-log journal needs journalctl, which is not on PATH; pass a file')
  })
})

// Every module a runbook process resolves from zx or client-node, reported on stderr by a resolve hook.
const HOOK = `data:text/javascript,import {registerHooks} from "node:module"; registerHooks({resolve(s,c,n){const r=n(s,c); if(/node_modules\\/(zx|@kubernetes\\/client-node)\\//.test(r.url)) process.stderr.write("LOADED "+r.url+"\\n"); return r}})`
const loaded = async (runbook: string, args: string[], env: NodeJS.ProcessEnv = {}) => {
  const result = await run(process.execPath, ['--import', HOOK, join(root, 'runbooks', `${runbook}.ts`), ...args], {
    cwd: root,
    env: { ...process.env, KUBECONFIG: '/nonexistent/kubeconfig', NO_COLOR: '1', ...env },
  }).catch((err: { stdout: string; stderr: string }) => err)
  return [...result.stderr.matchAll(/^LOADED \S*node_modules\/((?:@kubernetes\/)?[^/]+)\/(\S+)$/gm)].map((m) => `${m[1]}/${m[2]}`)
}

describe.concurrent('lazy loading: zx only where shell work is done', () => {
  it.each([
    ['restart-dependent-pods', ['--help']],
    ['restart-dependent-pods', ['--version']],
    ['fix-calico', ['--help']],
    ['rotate-tokens', ['--help']],
    ['verify-token', ['--help']],
    ['regenerate-tokens', ['--help']],
  ])('%s %s loads neither zx nor client-node', async (runbook, args) => {
    expect(await loaded(runbook, args)).toEqual([])
  }, 60_000)

  it('--kubelet-log journal loads zx/core only (for `$` and which), not the rest of zx', async () => {
    const modules = await loaded('restart-dependent-pods', ['--kubelet-log', 'journal', '--dry-run'], { PATH: dirname(process.execPath) })
    expect(modules.filter((m) => m.startsWith('zx/'))).toEqual(expect.arrayContaining(['zx/build/core.cjs']))
    expect(modules.filter((m) => /zx\/build\/(index|vendor-extra|vendor)\.c?js$/.test(m))).toEqual([])
  }, 60_000)
})
