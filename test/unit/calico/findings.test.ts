// fix-calico's plans: what each check hands on (and to whom), the restart it
// predicts from plans still to be applied, and the report's facts gathered
// from the plans and results of the steps that ran.
import { describe, expect, it } from 'vitest'
import { warningsOn, type Basis, type ConfigState, type Ctx, type Flags } from '../../../lib/calico/context.ts'
import { detectCalico } from '../../../lib/calico/detect.ts'
import { checkConfigFix, checkRegenerate, factsOf } from '../../../lib/calico/findings.ts'
import { Modes, RunFindings } from '../../../lib/engine/index.ts'
import { pendingChanges } from '../../../lib/kube/calico-fix.ts'
import { steps } from '../../../runbooks/fix-calico.ts'
import { loadObjects } from '../../fixtures/calico/fixtures.ts'
import { makeSecret } from '../helpers/objects.ts'

const install = detectCalico(loadObjects('manifest-v3.0-kdd.yaml'))!
const basis: Basis = { install, keys: [] }
const stale = makeSecret('calico-node-token', { namespace: 'kube-system', serviceAccount: 'calico-node', token: 'x' })
const account = { install, secrets: [stale], assessments: [], stale: [stale] }
const staleConfig: ConfigState = {
  source: 'ConfigMap kube-system/calico-config key cni_network_config',
  summary: 'STALE',
  findings: [{ path: 'policy.k8s_auth_token', line: 3, encoding: 'raw', status: 'unknown-key', reason: 'old key', stale: true }],
}

/** Just the services these pure checks use; `said` collects the warnings. */
function ctxOf(overrides: Partial<Ctx> = {}): Ctx & { said: string[] } {
  const said: string[] = []
  const flags = { embedToken: false, restart: false, keyFile: [], offline: false, probe: false, probeImage: 'pause', probeNamespace: 'default', timeout: 300, maxParallel: 8 } satisfies Flags
  return { said, flags, nodeLocal: false, kube: {} as Ctx['kube'], warnings: warningsOn({ warn: (line) => said.push(line) }), ...overrides } as Ctx & { said: string[] }
}

describe('checkRegenerate', () => {
  it('hands the stale Secrets and the keys to apply and verify', () => {
    const check = checkRegenerate(ctxOf(), basis, account)
    expect(check).toMatchObject({ needed: true, summary: '1 token Secret(s) need a new token: kube-system/calico-node-token' })
    expect(check.plan).toEqual({ ...basis, stale: [stale] })
  })

  it('says there is no Calico when detection found none', () => {
    expect(checkRegenerate(ctxOf(), { keys: [] }, { ...account, stale: [] })).toMatchObject({ needed: false, summary: 'no Calico here' })
  })
})

describe('checkConfigFix', () => {
  it('plans the fix with the Secret --embed-token would read', () => {
    const check = checkConfigFix(ctxOf(), basis, { install, config: staleConfig }, account)
    expect(check.needed).toBe(true)
    expect(check.plan).toMatchObject({ fix: true, stale: staleConfig.findings, accountSecret: 'calico-node-token' })
  })

  it('only warns in node-local mode, once however often it is checked', () => {
    const ctx = ctxOf({ nodeLocal: true })
    for (let i = 0; i < 2; i++) expect(checkConfigFix(ctx, basis, { install, config: staleConfig }, account)).toMatchObject({ needed: false, plan: { fix: false } })
    expect(ctx.said).toHaveLength(1)
    expect(ctx.warnings.lines).toEqual(ctx.said)
  })
})

describe('pendingChanges', () => {
  const regenerate = { ...basis, stale: [stale] }
  const configFix = { ...basis, stale: staleConfig.findings, fix: true }
  it.each([
    [Modes.plan, ['regenerate-cni-tokens', 'fix-cni-config']],
    [Modes.noTerminal, ['regenerate-cni-tokens', 'fix-cni-config']],
    // Applied by now (or skipped at the prompt): the restart reads their effect from the cluster.
    [Modes.unattended, []],
    [Modes.interactive, []],
  ])('in mode %s: %j', (mode, expected) => {
    expect(pendingChanges(mode, regenerate, configFix)).toEqual(expected)
  })

  it('counts nothing from a step that was not checked or will change nothing', () => {
    expect(pendingChanges(Modes.plan, undefined, { ...configFix, fix: false })).toEqual([])
  })
})

describe('factsOf', () => {
  it('reads the latest reading of each fact from the steps that ran', () => {
    const found = new RunFindings()
    found.recordPlan(steps.detectCalico.id, { install })
    found.recordPlan(steps.checkCniConfig.id, { install, config: staleConfig })
    found.recordPlan(steps.checkCniAccount.id, account)
    found.recordPlan(steps.readNodeTokens.id, { nodes: [] })
    found.recordResult(steps.regenerateCniTokens.id, { outcomes: new Map([['kube-system/calico-node-token', 'blanked']]), refilled: new Map() })
    found.recordResult(steps.fixCniConfig.id, { change: 'policy.k8s_auth_token → __SERVICEACCOUNT_TOKEN__' })
    const fixed = { ...staleConfig, summary: 'fixed', findings: [] }
    found.recordPlan(steps.verifyCniTokens.id, { install, config: fixed, account: { ...account, stale: [] }, nodes: [] })
    const facts = factsOf(found, steps)
    expect(facts).toMatchObject({ install, config: fixed, configChange: 'policy.k8s_auth_token → __SERVICEACCOUNT_TOKEN__', account: { stale: [] }, nodeFilesWritten: [], probes: [] })
    expect(facts.outcomes.get('kube-system/calico-node-token')).toBe('blanked')
  })

  it('is empty-handed, not failing, when the run stopped before the first step', () => {
    expect(factsOf(new RunFindings(), steps)).toEqual({ outcomes: new Map(), nodesBefore: [], nodesAfter: [], nodeFilesWritten: [], probes: [] })
  })
})
