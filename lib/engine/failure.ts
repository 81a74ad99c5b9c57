// Classifying a thrown value for reports and the entry point: which of the
// three kinds it is (lib/errors.ts), and its message with the causes behind it.
import { DomainError, UsageError } from '../errors.ts'
import type { StepError } from './types.ts'

/**
 * An apply that failed part-way but learnt what it did before (which
 * restarts were done when one failed): the step fails with this message, and
 * the engine still records `result` as the step's result, so the report and
 * later steps see what was done.
 */
export class PartlyApplied<R> extends DomainError {
  readonly result: R
  constructor(message: string, result: R, options?: ErrorOptions) {
    super(message, options)
    this.result = result
  }
}

export function errorKind(err: unknown): StepError['kind'] {
  if (err instanceof UsageError) return 'usage'
  if (err instanceof DomainError) return 'domain'
  return 'unexpected'
}

export function messageOf(err: unknown): string {
  if (err instanceof Error) return err.message || err.name
  return String(err)
}

/** Messages of `err.cause`, `err.cause.cause`, ... (at most `limit`, cycles cut). */
export function causeMessages(err: unknown, limit = 5): string[] {
  const seen = new Set<unknown>([err])
  const out: string[] = []
  let cause = err instanceof Error ? err.cause : undefined
  while (cause !== undefined && cause !== null && !seen.has(cause) && out.length < limit) {
    seen.add(cause)
    out.push(messageOf(cause))
    cause = cause instanceof Error ? cause.cause : undefined
  }
  return out
}

/**
 * The report form of an error: expected errors keep their message as it is
 * (it already names the problem and the fix); unexpected ones add their causes.
 */
export function toStepError(err: unknown): StepError {
  const kind = errorKind(err)
  const causes = kind === 'unexpected' ? causeMessages(err) : []
  const message = [messageOf(err), ...causes].join(': caused by: ')
  return { kind, message }
}
