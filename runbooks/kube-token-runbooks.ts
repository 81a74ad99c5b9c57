#!/usr/bin/env -S node --max-semi-space-size=16 --max-old-space-size=1536
// (V8 heap sized for big clusters, see "Memory" in README.md: young generation
// 2 x 16 MB; a heap limit of 1.5 GB makes old space grow ~1.8x its live size, not 4x.)
// kube-token-runbooks <runbook> [flags]: the package's one command for all
// five runbooks. Each runbook is also an executable of its own, and installed
// under kubectl's plugin names (`kubectl rotate-tokens`, `kubectl verify-token`,
// ...). A runbook is loaded only once it is chosen, so this stays fast.
import { runMain, type Main, type MainIO } from '../lib/cli/index.ts'
import { VERSION } from '../lib/cli/version.ts'
import { UsageError } from '../lib/errors.ts'

const runbooks: Record<string, { summary: string; load: () => Promise<{ main: Main }> }> = {
  'rotate-tokens': { summary: 'the maintenance job: every step below, in order, with a report', load: () => import('./rotate-tokens.ts') },
  'verify-token': { summary: 'is this token good? signature, expiry, and what the API server says', load: () => import('./verify-token.ts') },
  'regenerate-tokens': { summary: 'give stale token Secrets a token signed by the current key', load: () => import('./regenerate-tokens.ts') },
  'restart-dependent-pods': { summary: 'replace the pods that still hold an old token', load: () => import('./restart-dependent-pods.ts') },
  'fix-calico': { summary: "make Calico's CNI token fresh again on every node", load: () => import('./fix-calico.ts') },
}

function usage(): string {
  const width = Math.max(...Object.keys(runbooks).map((n) => n.length))
  const lines = Object.entries(runbooks).map(([name, r]) => `  ${name.padEnd(width)}  ${r.summary}`)
  return [
    'Usage: kube-token-runbooks <runbook> [flags]',
    '',
    "Runbooks for the day a cluster's service-account tokens go bad:",
    ...lines,
    '',
    'Each runbook has --help. As kubectl plugins: kubectl rotate-tokens, kubectl verify-token, ...',
    '',
  ].join('\n')
}

export const main: Main = async (io: MainIO) => {
  const [name, ...rest] = io.argv
  if (name === undefined || name === '--help' || name === '-h') {
    io.stdout.write(usage())
    return 0
  }
  if (name === '--version') {
    io.stdout.write(`kube-token-runbooks ${VERSION}\n`)
    return 0
  }
  const runbook = runbooks[name]
  // The name is not echoed when it is long: a token pasted in the wrong place must not be printed.
  const shown = name.length <= 40 ? `"${name}"` : 'the first argument'
  if (!runbook) throw new UsageError(`${shown} is not a runbook; choose one of: ${Object.keys(runbooks).join(', ')}`)
  const { main: runbookMain } = await runbook.load()
  return runbookMain({ ...io, argv: rest })
}

await runMain(import.meta.url, main)
