// Pure functions from a RunReport to the words a person reads.
import { Modes, Outcomes, type Mode, type Outcome, type RunReport } from './types.ts'

export type OutcomeCounts = Record<Outcome, number>

/** How many steps ended in each outcome. */
export function countOutcomes(report: Pick<RunReport, 'steps'>): OutcomeCounts {
  const counts = Object.fromEntries(Object.values(Outcomes).map((o) => [o, 0])) as OutcomeCounts
  for (const step of report.steps) counts[step.outcome]++
  return counts
}

// The order and the words of the summary line ("3 applied, 2 not needed, 1 skipped").
const summaryOrder: readonly [Outcome, string][] = [
  [Outcomes.failed, 'failed'],
  [Outcomes.applied, 'applied'],
  [Outcomes.planned, 'to apply'],
  [Outcomes.done, 'done'],
  [Outcomes.notNeeded, 'not needed'],
  [Outcomes.skipped, 'skipped'],
  [Outcomes.notRun, 'not run'],
]

export const NOTHING_TO_DO = 'Nothing to do: everything is already in order.'

/** True when no step needed a change and nothing failed: every step is not-needed or done. */
export function nothingToDo(report: Pick<RunReport, 'steps'>): boolean {
  return report.steps.every((s) => s.outcome === Outcomes.notNeeded || s.outcome === Outcomes.done)
}

/**
 * The one-line human summary of a run: "3 applied, 2 not needed, 1 skipped",
 * "Nothing to do: everything is already in order.", with a note for a dry
 * run or a run the operator stopped.
 */
export function summarize(report: RunReport): string {
  if (report.steps.length > 0 && nothingToDo(report) && report.ok) {
    return report.mode === Modes.plan ? `${NOTHING_TO_DO} (dry run: nothing was changed)` : NOTHING_TO_DO
  }
  const counts = countOutcomes(report)
  const parts = summaryOrder.filter(([o]) => counts[o] > 0).map(([o, words]) => `${counts[o]} ${o === Outcomes.done ? outcomeLabel(o, report.mode) : words}`)
  let line = parts.length > 0 ? parts.join(', ') : 'no steps'
  if (report.mode === Modes.plan) line = `Plan: ${line} (dry run: nothing was changed)`
  const stoppedByPerson = report.stopped === 'quit' || report.stopped === 'interrupted'
  const left = report.steps.filter((s) => s.outcome === Outcomes.skipped || (stoppedByPerson && s.outcome === Outcomes.notRun)).map((s) => s.id)
  if (report.stopped === 'quit') line += '; stopped at your request'
  if (report.stopped === 'interrupted') line += '; interrupted'
  // Say what is left, so a non-zero exit never comes without its reason.
  if (left.length > 0) line += `; left undone: ${left.join(', ')} (rerun the same command to continue)`
  const failed = report.steps.find((s) => s.outcome === Outcomes.failed)
  if (failed) line += `; step ${failed.id} failed: ${failed.summary}`
  return line
}

const outcomeWords: Record<Outcome, string> = {
  'not-needed': 'not needed',
  planned: 'would apply',
  applied: 'applied',
  done: 'done',
  skipped: 'skipped',
  failed: 'failed',
  'not-run': 'not run',
}

/** A dry run changes nothing, so a read-only step there was "checked", not "done" (it reads as if work had happened). */
export function outcomeLabel(outcome: Outcome, mode?: Mode): string {
  return outcome === Outcomes.done && mode === Modes.plan ? 'checked' : outcomeWords[outcome]
}

/**
 * The text result for stdout: one line per step (outcome, id, summary), the
 * commands of each step that still needs doing in a plan, then the summary.
 */
export function renderReport(report: RunReport): string {
  const width = Math.max(...Object.values(outcomeWords).map((w) => w.length))
  const lines = report.steps.map((s) => `${outcomeLabel(s.outcome, report.mode).padEnd(width)}  ${s.id}${s.outside ? ` [outside the scope: ${s.outside}]` : ''}${s.summary ? `: ${s.summary}` : ''}`)
  const pending = report.steps.filter((s) => s.outcome === Outcomes.planned && s.kubectl.length > 0)
  if (pending.length > 0) {
    lines.push('', 'By hand, the plan is:')
    for (const s of pending) lines.push(`  # ${s.id}${s.outside ? ` (outside the scope: in ${s.outside})` : ''}`, ...s.kubectl.map((c) => `  $ ${c}`))
  }
  lines.push('', summarize(report))
  return lines.join('\n')
}
