import { describe, expect, it } from 'vitest'
import { DomainError, UsageError } from '../../../lib/errors.ts'
import { createOutput, memorySink } from '../../../lib/output.ts'
import { NO_TERMINAL_FIX, RunFindings, runRunbook, validateRunbook } from '../../../lib/engine/run.ts'
import { scriptedConfirm } from '../../../lib/engine/prompt.ts'
import { Modes, type AnyStep, type Mode, type Runbook, type Step } from '../../../lib/engine/types.ts'

// A context that records every call the engine makes, in order.
interface Ctx {
  calls: string[]
}

interface StepOpts {
  needed?: boolean
  readOnly?: true
  noApply?: true
  verifyOk?: boolean
  checkThrows?: Error
  applyThrows?: Error
}

function makeStep(id: string, o: StepOpts = {}): Step<Ctx> {
  const step: Step<Ctx> = {
    id,
    title: `Title of ${id}`,
    description: `Does ${id} because it matters.`,
    kubectl: () => [`kubectl get thing ${id}`],
    async check(ctx) {
      ctx.calls.push(`check:${id}`)
      if (o.checkThrows) throw o.checkThrows
      return { needed: o.needed ?? false, summary: `${id} ${o.needed ? 'needs work' : 'is fine'}`, details: { id } }
    },
  }
  if (o.readOnly) step.readOnly = true
  if (!o.noApply && !o.readOnly) {
    step.apply = async (ctx) => {
      ctx.calls.push(`apply:${id}`)
      if (o.applyThrows) throw o.applyThrows
      return { summary: `${id} changed` }
    }
  }
  if (o.verifyOk !== undefined) {
    step.verify = async (ctx) => {
      ctx.calls.push(`verify:${id}`)
      return { ok: o.verifyOk === true, summary: `${id} ${o.verifyOk ? 'verified' : 'still broken; rerun'}` }
    }
  }
  return step
}

function makeRunbook(...steps: AnyStep<Ctx>[]): Runbook<Ctx> {
  return { name: 'test-runbook', summary: 'A runbook for tests.', steps }
}

function harness(mode: Mode, answers?: ('yes' | 'skip' | 'quit')[]) {
  const stdout = memorySink()
  const stderr = memorySink()
  const output = createOutput({ format: 'text', stdout, stderr, isTTY: false, noColor: true, redactor: { redact: (t) => t } })
  const confirm = answers ? scriptedConfirm(answers) : undefined
  let tick = 0
  const now = () => new Date(Date.UTC(2024, 0, 1, 0, 0, tick++))
  const ctx: Ctx = { calls: [] }
  const findings = new RunFindings()
  const run = (rb: Runbook<Ctx>) => runRunbook(rb, ctx, { mode, output, now, findings, ...(confirm ? { confirm } : {}) })
  return { ctx, run, stdout, stderr, confirm, findings }
}

const outcomes = (r: { steps: { id: string; outcome: string }[] }) => r.steps.map((s) => `${s.id}=${s.outcome}`)

describe('plan mode (--dry-run)', () => {
  it('runs every check, never apply, and reports needed steps as planned', async () => {
    const h = harness(Modes.plan)
    const report = await h.run(
      makeRunbook(makeStep('a', { needed: true, verifyOk: true }), makeStep('b'), makeStep('c', { needed: true })),
    )
    expect(h.ctx.calls).toEqual(['check:a', 'check:b', 'check:c'])
    expect(outcomes(report)).toEqual(['a=planned', 'b=not-needed', 'c=planned'])
    expect(report.exitCode).toBe(0)
    expect(report.mode).toBe('plan')
    expect(report.steps[0]?.kubectl).toEqual(['kubectl get thing a'])
  })

  it('still runs read-only steps with their verify', async () => {
    const h = harness(Modes.plan)
    const report = await h.run(makeRunbook(makeStep('look', { readOnly: true, verifyOk: false })))
    expect(h.ctx.calls).toEqual(['check:look', 'verify:look'])
    expect(report.steps[0]?.outcome).toBe('failed')
    expect(report.exitCode).toBe(1)
  })
})

describe('a step that acts outside the scope', () => {
  const outside = (step: Step<Ctx>): Step<Ctx> => ({ ...step, outside: () => 'namespace kube-system' })

  it('says so in the plan, and in its report', async () => {
    const h = harness(Modes.plan)
    const report = await h.run(makeRunbook(makeStep('inside', { needed: true }), outside(makeStep('calico', { needed: true }))))
    expect(h.stderr.text()).toMatch(/outside the scope: this step acts in namespace kube-system/)
    expect(report.steps.map((s) => s.outside)).toEqual([undefined, 'namespace kube-system'])
  })

  it('asks with the namespace named, a consent of its own', async () => {
    const h = harness(Modes.interactive, ['yes', 'skip'])
    const report = await h.run(makeRunbook(makeStep('inside', { needed: true }), outside(makeStep('calico', { needed: true }))))
    expect(h.confirm!.asked.map((r) => r.outside)).toEqual([undefined, 'namespace kube-system'])
    expect(outcomes(report)).toEqual(['inside=applied', 'calico=skipped'])
  })
})

describe('interactive mode', () => {
  it('asks before each change and follows yes / skip / quit', async () => {
    const h = harness(Modes.interactive, ['yes', 'skip', 'quit'])
    const report = await h.run(
      makeRunbook(
        makeStep('one', { needed: true }),
        makeStep('fine'),
        makeStep('two', { needed: true }),
        makeStep('three', { needed: true }),
        makeStep('four', { needed: true }),
      ),
    )
    expect(h.confirm?.asked.map((q) => q.step.id)).toEqual(['one', 'two', 'three'])
    expect(h.confirm?.asked[0]).toMatchObject({ index: 1, total: 5, check: { needed: true } })
    expect(h.ctx.calls).toEqual(['check:one', 'apply:one', 'check:fine', 'check:two', 'check:three'])
    expect(outcomes(report)).toEqual(['one=applied', 'fine=not-needed', 'two=skipped', 'three=not-run', 'four=not-run'])
    expect(report.stopped).toBe('quit')
    expect(report.steps[4]?.needed).toBeNull()
    // Work was skipped and the run was quit before the end: not a success.
    expect(report.exitCode).toBe(1)
  })

  it('skips a step whose prerequisite was skipped at the prompt, without checking or applying it', async () => {
    const h = harness(Modes.interactive, ['skip', 'yes'])
    const regenerate = { ...makeStep('regenerate', { needed: true }), requires: ['back-up'] }
    const report = await h.run(makeRunbook(makeStep('back-up', { needed: true }), regenerate, makeStep('other', { needed: true })))
    expect(outcomes(report)).toEqual(['back-up=skipped', 'regenerate=skipped', 'other=applied'])
    expect(report.steps[1]?.summary).toBe('skipped because back-up was skipped')
    expect(h.ctx.calls).not.toContain('apply:regenerate')
    expect(h.ctx.calls).not.toContain('check:regenerate')
    expect(report.exitCode).toBe(1)
  })

  it('runs a step whose prerequisite had nothing to do', async () => {
    const h = harness(Modes.interactive, ['yes'])
    const regenerate = { ...makeStep('regenerate', { needed: true }), requires: ['back-up'] }
    const report = await h.run(makeRunbook(makeStep('back-up', { needed: false }), regenerate))
    expect(outcomes(report)).toEqual(['back-up=not-needed', 'regenerate=applied'])
    expect(report.exitCode).toBe(0)
  })

  it('does not ask for read-only or not-needed steps', async () => {
    const h = harness(Modes.interactive, [])
    const report = await h.run(makeRunbook(makeStep('ro', { readOnly: true, needed: true }), makeStep('ok')))
    expect(h.confirm?.asked).toEqual([])
    expect(outcomes(report)).toEqual(['ro=done', 'ok=not-needed'])
  })

  it('refuses to start without a confirm function (a bug in the caller)', async () => {
    const h = harness(Modes.interactive)
    await expect(h.run(makeRunbook(makeStep('a')))).rejects.toThrow(/confirm function/)
  })
})

describe('unattended mode (--yes)', () => {
  it('checks, applies and verifies each needed step in order', async () => {
    const h = harness(Modes.unattended)
    const report = await h.run(
      makeRunbook(makeStep('a', { needed: true, verifyOk: true }), makeStep('b', { verifyOk: true }), makeStep('c', { needed: true })),
    )
    expect(h.ctx.calls).toEqual(['check:a', 'apply:a', 'verify:a', 'check:b', 'check:c', 'apply:c'])
    expect(outcomes(report)).toEqual(['a=applied', 'b=not-needed', 'c=applied'])
    expect(report.steps[0]?.summary).toBe('a changed; verified: a verified')
    expect(report.steps[0]?.verify).toEqual({ ok: true, summary: 'a verified' })
    expect(report.ok).toBe(true)
  })

  it('hands a check\'s plan to apply and later checks, and apply\'s result to verify', async () => {
    const h = harness(Modes.unattended)
    const find: Step<Ctx, string[]> = {
      id: 'find',
      title: 'Find',
      description: 'Finds things.',
      readOnly: true,
      kubectl: () => ['kubectl get secrets -A'],
      check: async () => ({ needed: false, summary: 'found 2', plan: ['kube-system/x', 'default/y'] }),
    }
    const seen: unknown[] = []
    const fix: Step<Ctx, string[], number> = {
      id: 'fix',
      title: 'Fix',
      description: 'Fixes what find found.',
      kubectl: (_ctx, plan) => (plan ?? []).map((s) => `kubectl patch secret ${s}`),
      check: async (_ctx, found) => {
        const targets = found.plan(find)
        return { needed: targets.length > 0, summary: `${targets.length} to fix`, plan: targets }
      },
      apply: async (_ctx, plan) => ({ summary: `fixed ${plan.join(', ')}`, result: plan.length }),
      verify: async (_ctx, plan, fixed) => {
        seen.push(plan, fixed)
        return { ok: fixed === plan.length, summary: `${fixed} fixed` }
      },
    }
    const report = await h.run(makeRunbook(find, fix))
    expect(report.steps[1]?.kubectl).toEqual(['kubectl patch secret kube-system/x', 'kubectl patch secret default/y'])
    expect(report.steps[1]?.summary).toBe('fixed kube-system/x, default/y; verified: 2 fixed')
    expect(seen).toEqual([['kube-system/x', 'default/y'], 2])
  })

  it('keeps every plan and result for the caller, and fails a step that reads a plan never made', async () => {
    const h = harness(Modes.unattended)
    const never: Step<Ctx, string> = { id: 'never', title: 'Never', description: 'Not in the runbook.', readOnly: true, kubectl: () => [], check: async () => ({ needed: false, summary: '', plan: 'x' }) }
    const first = makeStep('first', { needed: true })
    const reader: Step<Ctx, string> = {
      id: 'reader',
      title: 'Reader',
      description: 'Reads a plan that does not exist.',
      readOnly: true,
      kubectl: () => [],
      check: async (_ctx, found) => ({ needed: false, summary: found.plan(never), plan: '' }),
    }
    const report = await h.run(makeRunbook(first, reader))
    expect(h.findings.has(first)).toBe(true)
    expect(h.findings.has(never)).toBe(false)
    expect(report.steps[1]).toMatchObject({ outcome: 'failed', error: { kind: 'unexpected', message: expect.stringContaining('never has not been checked') } })
  })

  it('gives the planning pass (no terminal) the same plans as the run', async () => {
    const h = harness(Modes.noTerminal)
    const find: Step<Ctx, number> = { id: 'find', title: 'Find', description: 'Counts.', readOnly: true, kubectl: () => [], check: async () => ({ needed: false, summary: 'three', plan: 3 }) }
    const use: Step<Ctx, number> = {
      id: 'use',
      title: 'Use',
      description: 'Reads the count.',
      kubectl: (_ctx, plan) => [`kubectl scale --replicas=${plan ?? '?'}`],
      check: async (_ctx, found) => ({ needed: false, summary: `count ${found.plan(find)}`, plan: found.plan(find) }),
    }
    const report = await h.run(makeRunbook(find, use))
    expect(report.steps[1]).toMatchObject({ outcome: 'not-needed', summary: 'count 3', kubectl: ['kubectl scale --replicas=3'] })
  })

  it('records the injected clock and the details of each phase', async () => {
    const h = harness(Modes.unattended)
    const report = await h.run(makeRunbook(makeStep('a', { needed: true })))
    expect(report.startedAt).toBe('2024-01-01T00:00:00.000Z')
    expect(report.finishedAt).toBe('2024-01-01T00:00:01.000Z')
    expect(report.steps[0]?.details).toEqual({ check: { id: 'a' } })
  })
})

describe('no terminal and no --yes', () => {
  it('refuses with the hint before any apply when a step would change something', async () => {
    const h = harness(Modes.noTerminal)
    const run = h.run(makeRunbook(makeStep('a'), makeStep('b', { needed: true }), makeStep('c', { needed: true })))
    await expect(run).rejects.toBeInstanceOf(UsageError)
    await expect(run).rejects.toThrow(`no terminal to confirm changes (steps b, c would change the cluster): ${NO_TERMINAL_FIX}`)
    expect(h.ctx.calls.filter((c) => c.startsWith('apply'))).toEqual([])
    expect(h.ctx.calls).toEqual(['check:a', 'check:b', 'check:c'])
  })

  it('runs when nothing is needed, checking each step once', async () => {
    const h = harness(Modes.noTerminal)
    const report = await h.run(
      makeRunbook(makeStep('ro', { readOnly: true, needed: true, verifyOk: true }), makeStep('b'), makeStep('c')),
    )
    expect(h.ctx.calls).toEqual(['check:ro', 'check:b', 'check:c', 'verify:ro'])
    expect(outcomes(report)).toEqual(['ro=done', 'b=not-needed', 'c=not-needed'])
    expect(report.exitCode).toBe(0)
    expect(report.mode).toBe('no-terminal')
  })

  it('reports a check that throws during planning as that step failing', async () => {
    const h = harness(Modes.noTerminal)
    const report = await h.run(makeRunbook(makeStep('a'), makeStep('b', { checkThrows: new DomainError('API down; retry') }), makeStep('c')))
    expect(outcomes(report)).toEqual(['a=not-needed', 'b=failed', 'c=not-run'])
    expect(h.ctx.calls).toEqual(['check:a', 'check:b'])
    expect(report.exitCode).toBe(1)
  })
})

describe('failures', () => {
  it('a verify that is not ok fails the step, stops the run and exits 1', async () => {
    const h = harness(Modes.unattended)
    const report = await h.run(makeRunbook(makeStep('a', { needed: true, verifyOk: false }), makeStep('b', { needed: true })))
    expect(outcomes(report)).toEqual(['a=failed', 'b=not-run'])
    expect(report.steps[0]?.summary).toBe('verify failed: a still broken; rerun')
    expect(report.stopped).toBe('failed')
    expect(report.exitCode).toBe(1)
    expect(report.ok).toBe(false)
    expect(h.ctx.calls).not.toContain('check:b')
  })

  it('a UsageError in a check exits 2 and keeps the message', async () => {
    const h = harness(Modes.unattended)
    const report = await h.run(
      makeRunbook(makeStep('a', { checkThrows: new UsageError('secret kube-system/nope does not exist: check --secret') }), makeStep('b')),
    )
    expect(report.exitCode).toBe(2)
    expect(report.steps[0]).toMatchObject({
      outcome: 'failed',
      error: { kind: 'usage', message: 'secret kube-system/nope does not exist: check --secret' },
    })
    expect(report.steps[1]).toMatchObject({ outcome: 'not-run', summary: 'not run: an earlier step failed' })
  })

  it('a DomainError in apply exits 1', async () => {
    const h = harness(Modes.unattended)
    const report = await h.run(makeRunbook(makeStep('a', { needed: true, applyThrows: new DomainError('PDB blocks eviction; retry later') })))
    expect(report.exitCode).toBe(1)
    expect(report.steps[0]?.error).toEqual({ kind: 'domain', message: 'PDB blocks eviction; retry later' })
  })

  it('an unexpected error keeps its cause in the report', async () => {
    const h = harness(Modes.unattended)
    const boom = new Error('list secrets failed', { cause: new Error('ECONNRESET') })
    const report = await h.run(makeRunbook(makeStep('a', { checkThrows: boom })))
    expect(report.steps[0]?.error).toEqual({ kind: 'unexpected', message: 'list secrets failed: caused by: ECONNRESET' })
    expect(report.exitCode).toBe(1)
  })

  it('a needed step without apply fails with a domain error that names the manual fix', async () => {
    const h = harness(Modes.unattended)
    const report = await h.run(makeRunbook(makeStep('manual', { needed: true, noApply: true })))
    expect(report.steps[0]?.error?.kind).toBe('domain')
    expect(report.steps[0]?.summary).toMatch(/no automatic fix.*by hand.*rerun$/)
    expect(report.exitCode).toBe(1)
  })
})

describe('progress output', () => {
  it('prints [n/N] lines, descriptions, pasteable commands and outcomes on stderr only', async () => {
    const h = harness(Modes.unattended)
    await h.run(makeRunbook(makeStep('a', { needed: true }), makeStep('b')))
    const err = h.stderr.text()
    expect(err).toContain('[1/2] Title of a')
    expect(err).toContain('[2/2] Title of b')
    expect(err).toContain('      Does a because it matters.')
    expect(err).toContain('      $ kubectl get thing a')
    expect(err).toContain('applied: a changed')
    expect(err).toContain('not needed: b is fine')
    expect(h.stdout.text()).toBe('')
  })
})

describe('validateRunbook', () => {
  it.each([
    ['Not_Kebab', /not kebab-case/],
    ['dup', /appears twice/],
  ])('rejects step id %s', (id, message) => {
    const steps = id === 'dup' ? [makeStep('dup'), makeStep('dup')] : [makeStep(id)]
    expect(() => validateRunbook(makeRunbook(...steps) as Runbook<never>)).toThrow(message)
  })

  it('accepts unique kebab-case ids', () => {
    expect(() => validateRunbook(makeRunbook(makeStep('find-secrets'), makeStep('v2-fix')) as Runbook<never>)).not.toThrow()
  })
})
