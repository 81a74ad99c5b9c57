// Runs another runbook as a child process: rotate-tokens chains the four
// runbooks this way, so each keeps its own flags, checks and exit codes, and
// a rerun of the chain re-checks live state through them. The child's
// progress (stderr) is passed through, indented; its JSON report is parsed.
import { join } from 'node:path'
import { $ } from 'zx'
import type { RunReport } from './engine/types.ts'
import { DomainError, UsageError } from './errors.ts'

const runbooksDir = join(import.meta.dirname, '..', 'runbooks')

export interface ChildRun<R = Record<string, unknown>> {
  exitCode: number
  report: (RunReport & R) | undefined
  /** The last line the child wrote to stderr: its error, if it failed. */
  lastError: string | undefined
}

export interface ChildOptions {
  /** Connection and scope flags passed to every child (--kubeconfig, --context, -n, -A, -l). */
  common: readonly string[]
  onProgress?: (line: string) => void
  env?: Record<string, string | undefined>
}

export async function runChild<R = Record<string, unknown>>(name: string, args: readonly string[], opts: ChildOptions): Promise<ChildRun<R>> {
  const script = join(runbooksDir, `${name}.ts`)
  const child = $({ nothrow: true, quiet: true, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...opts.env } })`${script} ${[...opts.common, ...args, '-o', 'json']}`
  let lastError: string | undefined
  let pending = ''
  child.stderr.on('data', (chunk: Buffer) => {
    pending += chunk.toString()
    const lines = pending.split('\n')
    pending = lines.pop() ?? ''
    for (const line of lines.filter((l) => l.trim())) {
      lastError = line
      opts.onProgress?.(`  ${name}: ${line}`)
    }
  })
  const result = await child
  if (pending.trim()) lastError = pending
  let report: (RunReport & R) | undefined
  try {
    report = JSON.parse(result.stdout) as RunReport & R
  } catch {
    report = undefined
  }
  if (result.exitCode === 2) throw new UsageError(`${name}: ${stripPrefix(lastError) ?? 'usage error'}`)
  return { exitCode: result.exitCode ?? 1, report, lastError: stripPrefix(lastError) }
}

/** Steps a child's dry run would apply. */
export function plannedSteps(run: ChildRun): string[] {
  return run.report?.steps.filter((s) => s.outcome === 'planned').map((s) => s.id) ?? []
}

/** The kubectl commands of the child's planned steps, for the operator to read or run by hand. */
export function plannedCommands(run: ChildRun): string[] {
  return run.report?.steps.filter((s) => s.outcome === 'planned').flatMap((s) => s.kubectl) ?? []
}

export function childFailure(name: string, run: ChildRun): DomainError {
  return new DomainError(`${name} failed (exit ${run.exitCode}): ${run.lastError ?? 'see its output above'}`)
}

function stripPrefix(line: string | undefined): string | undefined {
  return line?.replace(/^error:\s*/, '')
}
