// The engine: for each step, check live state → (confirm) → apply → verify,
// and an outcome for every step, so a rerun after a crash re-checks the
// cluster and continues where it stopped. It prints progress on the Output
// (stderr) and returns a RunReport; printing the result is the caller's job.
import { DomainError, ExitCode, UsageError } from '../errors.ts'
import type { Output } from '../output.ts'
import { PartlyApplied, toStepError } from './failure.ts'
import type { Confirm } from './prompt.ts'
import { outcomeLabel } from './summary.ts'
import {
  Modes,
  Outcomes,
  type AnyStep,
  type Applied,
  type Check,
  type Findings,
  type Mode,
  type Outcome,
  type RunReport,
  type Runbook,
  type StepReport,
  type Verified,
} from './types.ts'

export interface RunOptions {
  mode: Mode
  output: Output
  /** Required in interactive mode: asks before each step that would change something. */
  confirm?: Confirm
  /** Clock seam for startedAt/finishedAt. */
  now?: () => Date
  /** Print the stack of an unexpected error in a step (KTR_DEBUG=1). */
  debug?: boolean
  /** Aborted (Ctrl-C, SIGTERM): no further step starts; the one running finishes first. */
  signal?: AbortSignal
  /** Where the steps' plans and results are kept: pass one to read them after the run (reports). */
  findings?: RunFindings
}

type Checked = Check<unknown>

/**
 * The plans and results of one run, by step id: what `Findings` reads. The
 * engine records each check's plan and each apply's result as they come.
 */
export class RunFindings implements Findings {
  readonly #plans = new Map<string, unknown>()
  readonly #results = new Map<string, unknown>()

  plan<P>(step: { id: string } & AnyStep<never>): P {
    if (!this.#plans.has(step.id)) throw new Error(`internal: step ${step.id} has not been checked in this run`)
    return this.#plans.get(step.id) as P
  }

  result<R>(step: { id: string } & AnyStep<never>): R | undefined {
    return this.#results.get(step.id) as R | undefined
  }

  has(step: { id: string }): boolean {
    return this.#plans.has(step.id)
  }

  /** The engine's side: a check's plan (undefined is a plan too: "checked, nothing to carry"). */
  recordPlan(id: string, plan: unknown): void {
    this.#plans.set(id, plan)
  }

  recordResult(id: string, result: unknown): void {
    if (result !== undefined) this.#results.set(id, result)
  }
}

/** The end of the refusal when there is no terminal to ask on and no --yes. */
export const NO_TERMINAL_FIX = 'rerun with --yes to apply without asking, or --dry-run to see the plan'

const STEP_ID = /^[a-z0-9]+(?:-[a-z0-9]+)*$/

/** Throws (a bug, not an operator error) when step ids are not unique kebab-case. */
export function validateRunbook(runbook: Runbook<never>): void {
  const seen = new Set<string>()
  for (const step of runbook.steps) {
    if (!STEP_ID.test(step.id)) throw new Error(`runbook ${runbook.name}: step id "${step.id}" is not kebab-case`)
    if (seen.has(step.id)) throw new Error(`runbook ${runbook.name}: step id "${step.id}" appears twice`)
    seen.add(step.id)
  }
}

type Settled<T> = { ok: true; value: T } | { ok: false; error: unknown }

export async function runRunbook<C>(runbook: Runbook<C>, ctx: C, opts: RunOptions): Promise<RunReport> {
  validateRunbook(runbook as Runbook<never>)
  const { mode, output, confirm } = opts
  const now = opts.now ?? (() => new Date())
  if (mode === Modes.interactive && !confirm) throw new Error('interactive mode needs a confirm function')
  const startedAt = now()
  const steps = runbook.steps
  const total = steps.length
  const { style } = output

  const found = opts.findings ?? new RunFindings()

  // Without a terminal and without --yes, look before we leap: a read-only
  // pass of every check decides whether the run may go ahead at all. The
  // execution pass then replays these results instead of checking twice
  // (nothing changed in between: no apply ran).
  let planned: Map<number, Settled<Checked>> | undefined
  if (mode === Modes.noTerminal) {
    planned = await planningPass(steps, ctx, found)
    const wouldChange = steps.filter((s, i) => {
      const r = planned?.get(i)
      return !s.readOnly && r?.ok === true && r.value.needed
    })
    if (wouldChange.length > 0) {
      const ids = wouldChange.map((s) => s.id).join(', ')
      throw new UsageError(
        `no terminal to confirm changes (${wouldChange.length === 1 ? 'step' : 'steps'} ${ids} would change the cluster): ${NO_TERMINAL_FIX}`,
      )
    }
  }
  const checkStep = async (step: AnyStep<C>, i: number): Promise<Checked> => {
    const r = planned?.get(i)
    if (r && !r.ok) throw r.error
    const check: Checked = r ? r.value : await step.check(ctx, found)
    found.recordPlan(step.id, check.plan)
    return check
  }

  const reports: StepReport[] = []
  let stopped: RunReport['stopped']
  let fatal: unknown

  for (const [i, step] of steps.entries()) {
    if (!stopped && opts.signal?.aborted) {
      stopped = 'interrupted'
      output.progress(style.yellow(`interrupted: stopped before step ${i + 1}/${total} (${step.id}); rerun the same command to continue`))
    }
    if (stopped) {
      reports.push(notRun(step, ctx, stopped))
      continue
    }
    const prefix = `[${i + 1}/${total}] `
    const indent = ' '.repeat(prefix.length)
    const say = (line: string) => output.progress(`${indent}${line}`)
    output.progress(`${style.bold(prefix + step.title)}`)
    say(style.dim(step.description))
    if (step.requires?.length) say(style.dim(`needs: ${step.requires.join(', ')} (skipped with ${step.requires.length === 1 ? 'it' : 'them'})`))

    const report: StepReport = { id: step.id, title: step.title, needed: null, outcome: Outcomes.notRun, summary: '', kubectl: [] }
    const finish = (outcome: Outcome, summary: string) => {
      report.outcome = outcome
      report.summary = summary
      reports.push(report)
      const mark =
        outcome === Outcomes.failed
          ? style.red('✗')
          : outcome === Outcomes.planned || outcome === Outcomes.skipped || outcome === Outcomes.notRun
            ? style.yellow('•')
            : style.green('✓')
      say(`${mark} ${outcomeLabel(outcome, mode)}${summary ? `: ${summary}` : ''}`)
    }
    const addDetails = (phase: 'check' | 'apply' | 'verify', details: unknown) => {
      if (details !== undefined) report.details = { ...report.details, [phase]: details }
    }
    const runVerify = async (check: Checked, result: unknown): Promise<Verified | undefined> => {
      if (!step.verify) return undefined
      const verified = await step.verify(ctx, check.plan, result)
      report.verify = { ok: verified.ok, summary: verified.summary }
      addDetails('verify', verified.details)
      return verified
    }

    // A step whose prerequisite did not do its work this run must not act on its own.
    const missing = (step.requires ?? []).filter((id) => {
      const earlier = reports.find((r) => r.id === id)
      return earlier !== undefined && UNDONE.has(earlier.outcome)
    })
    if (missing.length > 0 && !step.readOnly) {
      const why = missing.map((id) => `${id} was ${reports.find((r) => r.id === id)!.outcome}`).join(', ')
      report.kubectl = safeKubectl(step, ctx, undefined)
      finish(Outcomes.skipped, `skipped because ${why}`)
      continue
    }

    try {
      const check = await checkStep(step, i)
      report.needed = check.needed
      addDetails('check', check.details)
      report.kubectl = step.kubectl(ctx, check.plan)
      for (const command of report.kubectl) say(style.cyan(`$ ${command}`))
      const outside = step.readOnly ? undefined : step.outside?.(ctx, check.plan)
      if (outside && check.needed) {
        report.outside = outside
        say(style.yellow(`outside the scope: this step acts in ${outside}`))
      }

      if (step.readOnly) {
        const verified = await runVerify(check, undefined)
        if (verified && !verified.ok) {
          finish(Outcomes.failed, verified.summary)
          stopped = 'failed'
        } else {
          finish(Outcomes.done, verified?.summary ?? check.summary)
        }
        continue
      }
      if (!check.needed) {
        finish(Outcomes.notNeeded, check.summary)
        continue
      }
      if (mode === Modes.plan) {
        finish(Outcomes.planned, check.summary)
        continue
      }
      say(`${style.yellow('needed:')} ${check.summary}`)
      if (mode === Modes.interactive && confirm) {
        const answer = await confirm({ index: i + 1, total, step: { id: step.id, title: step.title }, check, ...(outside ? { outside } : {}) })
        if (answer === 'skip') {
          finish(Outcomes.skipped, `${check.summary} (skipped at your request)`)
          continue
        }
        if (answer === 'quit') {
          stopped = 'quit'
          finish(Outcomes.notRun, 'stopped at your request')
          continue
        }
      } else if (mode !== Modes.unattended) {
        throw new Error(`internal: step ${step.id} reached apply in mode ${mode}`)
      }
      if (!step.apply) {
        throw new DomainError(
          `step ${step.id} is needed but has no automatic fix (${check.summary}): do it by hand with the commands above, then rerun`,
        )
      }
      const applied: Applied<unknown> = await step.apply(ctx, check.plan)
      addDetails('apply', applied.details)
      found.recordResult(step.id, applied.result)
      const summary = applied.summary
      const verified = await runVerify(check, applied.result)
      if (verified && !verified.ok) {
        say(`${style.green('✓')} applied: ${summary}`)
        finish(Outcomes.failed, `verify failed: ${verified.summary}`)
        stopped = 'failed'
        continue
      }
      finish(Outcomes.applied, verified ? `${summary}; verified: ${verified.summary}` : summary)
    } catch (err) {
      if (err instanceof PartlyApplied) found.recordResult(step.id, err.result)
      fatal = err
      stopped = 'failed'
      report.error = toStepError(err)
      finish(Outcomes.failed, report.error.message)
      if (opts.debug && report.error.kind === 'unexpected' && err instanceof Error && err.stack) {
        output.info(err.stack)
      }
    }
  }

  const failed = reports.some((r) => r.outcome === Outcomes.failed)
  // A skipped change, or a quit before the end, leaves work undone: the run
  // did not reach its goal, so it must not exit 0 (the summary says what is left).
  const undone = reports.some((r) => r.outcome === Outcomes.skipped) || stopped === 'quit'
  const exitCode: ExitCode =
    fatal instanceof UsageError ? ExitCode.usage : stopped === 'interrupted' ? ExitCode.interrupted : failed || undone ? ExitCode.failed : ExitCode.ok
  return {
    runbook: runbook.name,
    mode,
    startedAt: startedAt.toISOString(),
    finishedAt: now().toISOString(),
    ok: exitCode === ExitCode.ok,
    exitCode,
    ...(stopped ? { stopped } : {}),
    steps: reports,
  }
}

/** Outcomes that mean a step's work was not done in this run. */
const UNDONE: ReadonlySet<Outcome> = new Set([Outcomes.skipped, Outcomes.failed, Outcomes.notRun])

function safeKubectl<C>(step: AnyStep<C>, ctx: C, plan: unknown): string[] {
  try {
    return step.kubectl(ctx, plan)
  } catch {
    return []
  }
}

/** Every check in order, read-only; stops at the first one that throws. */
async function planningPass<C>(steps: readonly AnyStep<C>[], ctx: C, found: RunFindings): Promise<Map<number, Settled<Checked>>> {
  const results = new Map<number, Settled<Checked>>()
  for (const [i, step] of steps.entries()) {
    try {
      const check: Checked = await step.check(ctx, found)
      // Later checks of this pass read it, as they would in the run itself.
      found.recordPlan(step.id, check.plan)
      results.set(i, { ok: true, value: check })
    } catch (error) {
      results.set(i, { ok: false, error })
      break
    }
  }
  return results
}

function notRun<C>(step: AnyStep<C>, ctx: C, why: NonNullable<RunReport['stopped']>): StepReport {
  // A step that never ran has no plan; its commands are the general ones, if any.
  const kubectl = safeKubectl(step, ctx, undefined)
  return {
    id: step.id,
    title: step.title,
    needed: null,
    outcome: Outcomes.notRun,
    summary: why === 'quit' ? 'not run: stopped at your request' : why === 'interrupted' ? 'not run: interrupted (rerun to continue)' : 'not run: an earlier step failed',
    kubectl,
  }
}
