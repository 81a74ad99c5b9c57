// A runbook is data: an ordered list of named steps, each with a read-only
// check, an optional apply that changes the cluster only when the check says
// so, and an optional read-only verify. The engine (run.ts) owns the flow;
// the steps own the facts. `C` is the runbook's own context object: clients,
// options, and whatever earlier steps found for later ones.
import type { ExitCode } from '../errors.ts'

/** What a check found in live state. `needed: false` means the step has nothing to do. */
export interface Check {
  needed: boolean
  /** One line: what was found ("3 Secrets hold tokens signed by a retired key"). */
  summary: string
  details?: unknown
}

export interface Applied {
  /** One line: what changed ("blanked data.token of 3 Secrets"). */
  summary: string
  details?: unknown
}

export interface Verified {
  ok: boolean
  /** One line: what the proof showed. Ends with the next action when not ok. */
  summary: string
  details?: unknown
}

export interface Step<C> {
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
  outside?(ctx: C): string | undefined
  /** Commands an operator could paste to do or see the same by hand (computed after the check). */
  kubectl(ctx: C): string[]
  /** Read-only look at live state. May throw UsageError/DomainError. */
  check(ctx: C): Promise<Check>
  /** Changes things; called only when the check said `needed`. */
  apply?(ctx: C, check: Check): Promise<Applied | void>
  /** Read-only proof after apply (or after the check, for read-only steps). */
  verify?(ctx: C, check: Check): Promise<Verified>
}

export interface Runbook<C> {
  name: string
  summary: string
  steps: readonly Step<C>[]
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
