// restart-dependent-pods in words: the summary of a discovery, and the text
// result from what the steps found and did.
import { describe, expect, it } from 'vitest'
import { describeDiscovery, renderRestartText, restartReportFields } from '../../../lib/report/restart.ts'
import type { Discovery } from '../../../lib/restart/discover.ts'
import { DependencyKind, type DependentPod } from '../../../lib/workloads/dependents.ts'
import { ResultOutcomes, type RestartResult } from '../../../lib/workloads/restart-results.ts'

const SCOPE = { all: false, namespace: 'team-a' } as const

function discovery(parts: Partial<Discovery> = {}): Discovery {
  return { secrets: [], pods: [], dependents: [], upToDate: [], renamedSecrets: new Map(), logged: [], ...parts }
}

const secret = { key: 'team-a/app-token', namespace: 'team-a', name: 'app-token', regeneratedAt: '2026-01-01T12:00:00Z' }
const REASONS = {
  stuck: { kind: DependencyKind.missingSecret, secret: 'team-a/gone', source: 'event' },
  bound: { kind: DependencyKind.boundTokenBefore, volume: 'kube-api-access-1', startedAt: '2026-01-01T00:00:00Z', boundBefore: '2026-01-01T12:00:00Z' },
} as const
const dependent = (name: string, reason: keyof typeof REASONS = 'stuck'): DependentPod => ({ pod: { namespace: 'team-a', name, uid: `uid-${name}` }, reasons: [REASONS[reason]] })

describe('describeDiscovery', () => {
  it.each([
    ['nothing regenerated', discovery(), {}, /^no token Secret in namespace team-a carries .*: nothing depends on a regenerated token \(run regenerate-tokens first, or name Secrets with --secret\)$/],
    ['one stuck pod', discovery({ secrets: [secret], dependents: [dependent('web-1')] }), {}, /^1 pod holds an old token \(1 is stuck on a missing Secret\); 1 regenerated token Secret in scope$/],
    [
      'bound tokens, some pods already fresh',
      discovery({ dependents: [dependent('a', 'bound'), dependent('b', 'bound')], upToDate: [{ namespace: 'team-a', name: 'c', uid: 'uid-c' }] }),
      { boundBefore: new Date('2026-01-01T12:00:00Z') },
      /^2 pods hold an old token \(2 hold a bound token from before 2026-01-01T12:00:00.000Z\); 0 regenerated token Secrets in scope; 1 pod started after the regeneration already has the new token$/,
    ],
  ])('%s', (_what, found, settings, line) => {
    expect(describeDiscovery({ scope: SCOPE, ...settings }, found)).toMatch(line)
  })
})

describe('renderRestartText and restartReportFields', () => {
  const result: RestartResult = {
    namespace: 'team-a',
    workload: 'Deployment/web',
    action: 'rollout-restart',
    outcome: ResultOutcomes.restarted,
    pods: [{ namespace: 'team-a', name: 'web-1', uid: 'uid-web-1' }],
    replacements: [],
    detail: 'restarted at 2026-01-01T12:01:00Z',
  }

  it('shows the Secrets, each result and where the backups are', () => {
    const text = renderRestartText({ found: discovery({ secrets: [secret] }), restarted: { results: [result], backupDir: '/backups/1' } })
    expect(text.split('\n')).toEqual([
      'Regenerated token Secrets:',
      '  team-a/app-token  regenerated-at 2026-01-01T12:00:00Z',
      '',
      '',
      'Results:',
      'NAMESPACE  WORKLOAD        ACTION           OUTCOME    DETAIL',
      'team-a     Deployment/web  rollout-restart  restarted  restarted at 2026-01-01T12:01:00Z',
      '',
      '1 workload restarted (1 pod replaced)',
      'Backups of every object changed: /backups/1',
    ])
  })

  it('is empty when no step ran, and the report says so with empty fields', () => {
    expect(renderRestartText({})).toBe('')
    expect(restartReportFields({})).toEqual({ secrets: [], plan: null, results: [] })
  })
})
