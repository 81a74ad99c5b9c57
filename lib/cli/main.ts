// The entry point: the only code that turns errors into exit codes and sets
// process.exitCode (never process.exit: pending output still flushes).
//
//   await runMain(import.meta.url, (io) => ...)
//
// runs `main` only when this file is the script being executed, so importing
// a runbook (tests, other runbooks) does nothing. Every process.* the
// runbook needs reaches it through `io`, which tests replace.
import { realpathSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { ExitCode, UsageError, exitCodeFor, isExpected } from '../errors.ts'
import { causeMessages, messageOf } from '../engine/failure.ts'
import type { TextRedactor, TextSink } from '../output.ts'
import { Redactor } from '../redact.ts'
import type { Env } from './flags.ts'

export interface MainIO {
  argv: readonly string[]
  env: Env
  cwd: string
  stdin: NodeJS.ReadableStream & { isTTY?: boolean }
  stdout: TextSink
  stderr: TextSink
  now: () => Date
  /**
   * Every error line passes through this. Starts as a safety net that masks
   * anything shaped like a JWT; runbookMain installs the run's Redactor
   * (which knows --show-token and the tokens registered) once flags are parsed.
   */
  redactor: TextRedactor
  /** Handle Ctrl-C/SIGTERM (only the real entry point: tests run runbooks in-process without it). */
  signals?: boolean
}

export type Main = (io: MainIO) => Promise<number | void> | number | void

let entryClaimed = false

/** Until a runbook installs its own: a Redactor that knows no secrets yet but hides whatever looks like a JWT. */
export function defaultRedactor(): TextRedactor {
  return new Redactor()
}

export interface RunMainOptions extends Partial<MainIO> {
  /** The script path node was started with (default process.argv[1]). */
  argv1?: string | undefined
}

/**
 * Runs `main` if `importMetaUrl` is the executed script, maps its outcome to
 * an exit code, sets process.exitCode and returns the code; returns undefined
 * (doing nothing) when the file was merely imported.
 */
export async function runMain(importMetaUrl: string, main: Main, options: RunMainOptions = {}): Promise<ExitCode | undefined> {
  const { argv1 = process.argv[1], ...seams } = options
  if (entryClaimed || !isEntryPoint(importMetaUrl, argv1)) return undefined
  // One run per process: in the bundle, both an executable's two-line entry
  // (tools/build.ts) and its runbook module may match the script path.
  entryClaimed = true
  const io: MainIO = {
    argv: process.argv.slice(2),
    env: process.env,
    cwd: process.cwd(),
    stdin: process.stdin,
    stdout: process.stdout,
    stderr: process.stderr,
    now: () => new Date(),
    redactor: defaultRedactor(),
    signals: true,
    ...seams,
  }
  const code = await execute(main, io)
  process.exitCode = code
  return code
}

/** True when `importMetaUrl` names the script node was started with (symlinks resolved). */
export function isEntryPoint(importMetaUrl: string, argv1: string | undefined): boolean {
  if (!argv1 || !importMetaUrl.startsWith('file:')) return false
  const self = canonical(fileURLToPath(importMetaUrl))
  const script = canonical(argv1)
  // node/tsx also run `runbooks/x` for `runbooks/x.ts`.
  return self === script || self.replace(/\.[cm]?[jt]s$/, '') === script
}

function canonical(path: string): string {
  try {
    return realpathSync(path)
  } catch {
    return path
  }
}

/** Runs `main` with `io` and maps the outcome to an exit code, writing errors to io.stderr. Never throws. */
export async function execute(main: Main, io: MainIO): Promise<ExitCode> {
  try {
    const code = await main(io)
    return toExitCode(code)
  } catch (err) {
    io.stderr.write(io.redactor.redact(formatError(err, { debug: isDebug(io.env) })))
    return exitCodeFor(err)
  }
}

function toExitCode(code: number | void): ExitCode {
  if (code === undefined || code === ExitCode.ok) return ExitCode.ok
  if (code === ExitCode.interrupted) return ExitCode.interrupted
  return code === ExitCode.usage ? ExitCode.usage : ExitCode.failed
}

export const isDebug = (env: Env) => env.KTR_DEBUG === '1' || env.KTR_DEBUG === 'true'

/**
 * What the operator reads for an error: one line for the expected kinds
 * (usage errors point at --help); message and causes for anything else,
 * with the stack only when KTR_DEBUG=1.
 */
export function formatError(err: unknown, { debug }: { debug: boolean }): string {
  if (err instanceof UsageError) return `error: ${oneLine(err.message)} (see --help)\n`
  if (isExpected(err)) return `error: ${oneLine(err.message)}\n`
  const lines = [`error: unexpected failure: ${messageOf(err)}`, ...causeMessages(err).map((m) => `  caused by: ${m}`)]
  if (debug && err instanceof Error && err.stack) lines.push(err.stack)
  else lines.push('  (this may be a bug; rerun with KTR_DEBUG=1 for the stack trace)')
  return `${lines.join('\n')}\n`
}

function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ').trim()
}
