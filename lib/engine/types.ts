// A runbook is data: an ordered list of named steps, each with a read-only
// check, an optional apply that changes the cluster only when the check says
// so, and an optional read-only verify. The engine (run.ts) owns the flow;
// the steps own the facts: a check returns a typed plan, apply takes it, and
// later steps read earlier plans through `Findings`. The context `C` holds
// only what is fixed before the run (settings, clients, backup, redactor).
import type { ExitCode } from '../errors.ts'

/**
 * What a check found in live state. `needed: false` means the step has
 * nothing to do. `plan` is everything the step found and will act on: apply
 * and verify take exactly it, and later steps read it through `Findings`
 * (typed by the step), never through fields of the context.
 */
export type Check<P = undefined> = {
  needed: boolean
  /** One line: what was found ("3 Secrets hold tokens signed by a retired key"). */
  summary: string
  details?: unknown
} & (undefined extends P ? { plan?: P } : { plan: P })

export interface Applied<R = undefined> {
  /** One line: what changed ("blanked data.token of 3 Secrets"). */
  summary: string
  /** What apply learnt doing it (the objects it wrote, new resourceVersions): verify and later steps read it. */
  result?: R
  details?: unknown
}

export interface Verified {
  ok: boolean
  /** One line: what the proof showed. Ends with the next action when not ok. */
  summary: string
  details?: unknown
}

/**
 * The plans and results of the steps that ran before, in this run. A step
 * names the step it builds on (the object, so the type follows); asking for
 * one that has not been checked is a bug in the runbook, and throws.
 */
export interface Findings {
  plan<P>(step: Step<never, P, unknown>): P
  /** What `step`'s apply returned in this run; undefined when it did not apply. */
  result<R>(step: Step<never, unknown, R>): R | undefined
  /** Whether `step` was checked in this run (it may have been left out or stopped before). */
  has(step: Step<never, unknown, unknown>): boolean
}

/**
 * One step. `C` is the runbook's context: settings, clients, the session's
 * backup and redactor, all fixed before the run (steps get it read-only);
 * `P` is the step's plan, `R` what its apply learnt.
 */
export interface Step<C, P = undefined, R = undefined> {
  /** Stable kebab-case id (appears in reports and --help). */
  id: string
  /** Short imperative title for the `[n/N]` line. */
  title: string
  /** One sentence: what the step does and why. */
  description: string
  /** Never changes anything: runs without asking, even without a terminal. */
  readOnly?: true
  /**
   * Steps (by id) whose work this one builds on: when one of them was skipped,
   * quit, failed or not run in this run, this step is skipped too, saying why
   * (the plan lists these). Example: no regeneration without the backup.
   */
  requires?: readonly string[]
  /**
   * Where the step acts outside the run's scope (e.g. `namespace kube-system`
   * while the scope is one namespace), or undefined when it stays inside. The
   * plan says so, and at a terminal the prompt names it: a separate consent.
   */
  outside?(ctx: Readonly<C>, plan: P): string | undefined
  /**
   * Commands an operator could paste to do or see the same by hand: from the
   * plan once checked (undefined before, e.g. for a step that never ran).
   */
  kubectl(ctx: Readonly<C>, plan: P | undefined): string[]
  /** Read-only look at live state, and at earlier steps' findings. Never writes. May throw UsageError/DomainError. */
  check(ctx: Readonly<C>, found: Findings): Promise<Check<P>>
  /** Changes things; called only when the check said `needed`, with its plan. */
  apply?(ctx: Readonly<C>, plan: P): Promise<Applied<R>>
  /** Read-only proof after apply (result set) or after the check (read-only steps, result undefined). */
  verify?(ctx: Readonly<C>, plan: P, result: R | undefined): Promise<Verified>
}

/** A step of any plan, as a runbook lists them. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyStep<C> = Step<C, any, any>

export interface Runbook<C> {
  name: string
  summary: string
  steps: readonly AnyStep<C>[]
}

export const Modes = {
  /** --dry-run: every check, no apply. */
  plan: 'plan',
  /** A person at a terminal confirms each change. */
  interactive: 'interactive',
  /** --yes: apply without asking. */
  unattended: 'unattended',
  /** No terminal and no --yes: read-only work runs, a needed change is refused before anything changes. */
  noTerminal: 'no-terminal',
} as const
export type Mode = (typeof Modes)[keyof typeof Modes]

export const Outcomes = {
  notNeeded: 'not-needed',
  planned: 'planned',
  applied: 'applied',
  done: 'done',
  skipped: 'skipped',
  failed: 'failed',
  notRun: 'not-run',
} as const
export type Outcome = (typeof Outcomes)[keyof typeof Outcomes]

export interface StepError {
  kind: 'usage' | 'domain' | 'unexpected'
  message: string
}

export interface StepReport {
  id: string
  title: string
  /** What the check said; null when the step was never checked. */
  needed: boolean | null
  outcome: Outcome
  summary: string
  kubectl: string[]
  /** Where the step acted (or would act) outside the run's scope. */
  outside?: string
  /** Whatever check/apply/verify returned as details, by phase. */
  details?: { check?: unknown; apply?: unknown; verify?: unknown }
  verify?: { ok: boolean; summary: string }
  error?: StepError
}

export interface RunReport {
  runbook: string
  mode: Mode
  startedAt: string
  finishedAt: string
  ok: boolean
  exitCode: ExitCode
  /** Why the run ended early, if it did. */
  stopped?: 'failed' | 'quit' | 'interrupted'
  steps: StepReport[]
}
