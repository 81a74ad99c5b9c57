// An apply that fails part-way: the step fails with its message, and what it
// did is still recorded as the step's result.
import { describe, expect, it } from 'vitest'
import { PartlyApplied } from '../../../lib/engine/failure.ts'
import { RunFindings, runRunbook } from '../../../lib/engine/run.ts'
import { Modes, type Step } from '../../../lib/engine/types.ts'
import { createOutput, memorySink } from '../../../lib/output.ts'

describe('PartlyApplied', () => {
  it('fails the step with its message and keeps its result for later readers', async () => {
    const step: Step<object, string, string[]> = {
      id: 'restart-things',
      title: 'Restart things',
      description: 'Restarts two things; the second one fails.',
      kubectl: () => [],
      check: async () => ({ needed: true, summary: '2 things to restart', plan: 'both' }),
      apply: async () => {
        throw new PartlyApplied('thing b: timed out', ['a restarted', 'b failed'])
      },
    }
    const output = createOutput({ format: 'text', stdout: memorySink(), stderr: memorySink(), isTTY: false, noColor: true, redactor: { redact: (t) => t } })
    const found = new RunFindings()
    const report = await runRunbook({ name: 'test', summary: 'test', steps: [step] }, {}, { mode: Modes.unattended, output, findings: found })
    expect(report.exitCode).toBe(1)
    expect(report.steps[0]).toMatchObject({ outcome: 'failed', summary: 'thing b: timed out', error: { kind: 'domain', message: 'thing b: timed out' } })
    expect(found.result(step)).toEqual(['a restarted', 'b failed'])
  })
})
