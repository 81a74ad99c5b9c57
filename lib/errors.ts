// Three kinds of failure, each with its exit code (changesets' taxonomy):
//  - UsageError: the person typed something we cannot act on (exit 2).
//    Bad flags, a malformed token, a Secret that does not exist.
//  - DomainError: the runbook ran and found something wrong it cannot fix
//    (exit 1). The message ends with the next action for the operator.
//  - anything else is a bug or an unexpected failure: exit 1, cause kept.
// Only the entry point (lib/cli/main.ts) turns these into exit codes.

export const ExitCode = {
  ok: 0,
  failed: 1,
  usage: 2,
  /** Ctrl-C or SIGTERM: stopped at a safe point (128 + SIGINT, as shells report it). */
  interrupted: 130,
} as const
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode]

export class UsageError extends Error {
  override name = 'UsageError'
}

export class DomainError extends Error {
  override name = 'DomainError'
}

export function exitCodeFor(err: unknown): ExitCode {
  return err instanceof UsageError ? ExitCode.usage : ExitCode.failed
}

/** True for errors whose message is meant for the operator as it is (no stack). */
export function isExpected(err: unknown): err is UsageError | DomainError {
  return err instanceof UsageError || err instanceof DomainError
}
