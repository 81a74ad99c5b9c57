// The one module that loads zx, the runbooks' shell: every process a runbook
// starts goes through zx's `$`, every node-local file operation that zx's
// `fs` (fs-extra) does better than node:fs goes through it. Loaded on first
// use only, like client-node in kube/clients.ts: `--help`, `--version` and
// every run that does no node-local work never pay for it. zx/core (`$`,
// `which`) is the light half; the whole of zx (its vendored fs-extra) is
// loaded only for `fs`.
import { UsageError } from './errors.ts'

/** zx's `$`, `which`, `within` and ProcessOutput (zx/core: no vendored extras). */
export function loadShell(): Promise<typeof import('zx/core')> {
  return import('zx/core')
}

/** zx's `fs` (fs-extra, promise API). */
export async function loadFs(): Promise<(typeof import('zx'))['fs']> {
  return (await import('zx')).fs
}

/**
 * The path of `command` on PATH, or a UsageError (exit 2) that says what is
 * missing and ends with `fix`: a precondition, checked before any work.
 */
export async function requireCommand(command: string, needs: string, fix: string, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const { which } = await loadShell()
  const found = await which(command, { nothrow: true, ...(env.PATH !== undefined ? { path: env.PATH } : {}) })
  if (!found) throw new UsageError(`${needs} needs ${command}, which is not on PATH; ${fix}`)
  return found
}

export interface LinesOptions {
  readonly env?: NodeJS.ProcessEnv
  readonly signal?: AbortSignal
}

/** A chunk list that keeps nothing (zx's store for output that is streamed instead). */
class Discarded extends Array<string | Buffer> {
  override push(): number {
    return 0
  }
}

/** What a finished command said: its exit code and the start of its stderr. */
export interface CommandEnd {
  readonly exitCode: number | null
  readonly stderr: string
}

/**
 * Runs `command args…` through zx's `$` (each argument quoted by zx; nothing
 * echoed) and hands over its stdout line by line as it comes, so a long
 * journal is read as a stream. `done` settles once the command has exited;
 * it never rejects for a non-zero exit (nothrow): the caller decides what
 * that means.
 */
export async function commandLines(command: string, args: readonly string[], options: LinesOptions = {}): Promise<{ lines: AsyncIterable<string>; done: () => Promise<CommandEnd> }> {
  const { $ } = await loadShell()
  const process = $({
    quiet: true,
    nothrow: true,
    // zx keeps every chunk a command prints (ProcessOutput.stdout/stdall);
    // stdout is read here line by line instead, so it is not kept: a week of
    // journal costs the lines being scanned, not its size. stderr is kept.
    store: { stdout: new Discarded(), stderr: [], stdall: new Discarded() },
    ...(options.env ? { env: options.env } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
  })`${command} ${args}`
  return {
    lines: process,
    done: async () => {
      const output = await process
      return { exitCode: output.exitCode, stderr: output.stderr }
    },
  }
}
