// --insecure-skip-tls-verify: every runbook prints the loud warning exactly
// once per run (runbookMain does, for all five), whether or not it opens a
// Session. The kubeconfig turns verification off for a server nothing listens
// on, so each run ends quickly after the warning, whatever its exit code.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { insecureTlsWarning } from '../../../lib/cli/kube.ts'
import { runRunbook } from '../../e2e/support/cli.ts'

let dir: string
let kubeconfig: string
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'ktr-tls-'))
  kubeconfig = join(dir, 'insecure.yaml')
  writeFileSync(
    kubeconfig,
    'apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: "https://127.0.0.1:1", insecure-skip-tls-verify: true}}]\nusers: [{name: u, user: {token: not-a-real-token}}]\ncontexts: [{name: c, context: {cluster: c, user: u}}]\ncurrent-context: c\n',
  )
})
afterAll(() => rmSync(dir, { recursive: true, force: true }))

const runs: Array<[runbook: string, args: string[]]> = [
  ['rotate-tokens', []],
  ['regenerate-tokens', []],
  ['restart-dependent-pods', []],
  ['verify-token', ['--secret', 'default/some-token']],
  ['fix-calico', []],
]

describe('--insecure-skip-tls-verify warns once in every runbook', () => {
  it.each(runs)('%s', async (runbook, args) => {
    const result = await runRunbook(runbook, [...args, '--dry-run', '--insecure-skip-tls-verify', '--request-timeout', '2s'], { kubeconfig, env: { HOME: dir }, timeoutMs: 60_000 })
    const warnings = result.stderr.split('\n').filter((line) => line.includes(insecureTlsWarning()))
    expect(warnings, result.stderr).toHaveLength(1)
  }, 90_000)
})
