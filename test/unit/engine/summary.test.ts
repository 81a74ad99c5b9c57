import { describe, expect, it } from 'vitest'
import { countOutcomes, NOTHING_TO_DO, renderReport, summarize } from '../../../lib/engine/summary.ts'
import type { Mode, Outcome, RunReport, StepReport } from '../../../lib/engine/types.ts'

function makeReport(outcomes: Outcome[], extra: Partial<RunReport> = {}): RunReport {
  const steps: StepReport[] = outcomes.map((outcome, i) => ({
    id: `step-${i + 1}`,
    title: `Step ${i + 1}`,
    needed: outcome === 'not-run' ? null : outcome !== 'not-needed',
    outcome,
    summary: outcome === 'failed' ? 'Secret x has no token; run regenerate-tokens first' : `summary ${i + 1}`,
    kubectl: [`kubectl do ${i + 1}`],
  }))
  const failed = outcomes.includes('failed')
  return {
    runbook: 'rb',
    mode: 'unattended' as Mode,
    startedAt: '2024-01-01T00:00:00.000Z',
    finishedAt: '2024-01-01T00:00:01.000Z',
    ok: !failed,
    exitCode: failed ? 1 : 0,
    steps,
    ...extra,
  }
}

describe('summarize', () => {
  it.each<[string, Outcome[], Partial<RunReport>, string]>([
    ['mixed', ['applied', 'not-needed', 'applied', 'skipped', 'applied', 'not-needed'], {}, '3 applied, 2 not needed, 1 skipped; left undone: step-4 (rerun the same command to continue)'],
    ['all in order', ['not-needed', 'not-needed'], {}, NOTHING_TO_DO],
    ['read-only checks that passed', ['done', 'not-needed'], {}, NOTHING_TO_DO],
    ['a dry run with work', ['planned', 'not-needed', 'planned'], { mode: 'plan' }, 'Plan: 2 to apply, 1 not needed (dry run: nothing was changed)'],
    ['a dry run with nothing to do', ['not-needed'], { mode: 'plan' }, `${NOTHING_TO_DO} (dry run: nothing was changed)`],
    ['a dry run: read-only steps were checked, not done', ['done', 'planned', 'done'], { mode: 'plan' }, 'Plan: 1 to apply, 2 checked (dry run: nothing was changed)'],
    ['quit', ['applied', 'not-run', 'not-run'], { stopped: 'quit' }, '1 applied, 2 not run; stopped at your request; left undone: step-2, step-3 (rerun the same command to continue)'],
    [
      'failure',
      ['applied', 'failed', 'not-run'],
      { stopped: 'failed' },
      '1 failed, 1 applied, 1 not run; step step-2 failed: Secret x has no token; run regenerate-tokens first',
    ],
    ['no steps', [], {}, 'no steps'],
  ])('%s', (_name, list, extra, expected) => {
    expect(summarize(makeReport(list, extra))).toBe(expected)
  })
})

describe('countOutcomes', () => {
  it('counts every outcome, zero for the absent ones', () => {
    expect(countOutcomes(makeReport(['applied', 'applied', 'failed']))).toEqual({
      'not-needed': 0,
      planned: 0,
      applied: 2,
      done: 0,
      skipped: 0,
      failed: 1,
      'not-run': 0,
    })
  })
})

describe('renderReport', () => {
  it('lists each step with its outcome and ends with the summary', () => {
    const text = renderReport(makeReport(['applied', 'not-needed']))
    const lines = text.split('\n')
    expect(lines[0]).toMatch(/^applied\s+step-1: summary 1$/)
    expect(lines[1]).toMatch(/^not needed\s+step-2: summary 2$/)
    expect(lines.at(-1)).toBe('1 applied, 1 not needed')
  })

  it('in a plan, spells out the commands of the steps still to do', () => {
    const text = renderReport(makeReport(['planned', 'not-needed'], { mode: 'plan' }))
    expect(text).toContain('  # step-1\n  $ kubectl do 1')
    expect(text).not.toContain('kubectl do 2')
  })
})
