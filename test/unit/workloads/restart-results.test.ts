// The one line that sums up what happened to the items of a restart plan.
import { describe, expect, it } from 'vitest'
import { summarizeResults, type RestartResult } from '../../../lib/workloads/restart-results.ts'

describe('summarizeResults', () => {
  const result = (outcome: RestartResult['outcome'], pods = 1): RestartResult => ({
    namespace: 'ns',
    workload: 'Deployment/web',
    action: 'rollout-restart',
    outcome,
    pods: Array.from({ length: pods }, (_, i) => ({ namespace: 'ns', name: `p${i}`, uid: `u${i}` })),
    replacements: [],
    detail: '',
  })

  it.each([
    [[], 'nothing restarted'],
    [[result('restarted', 2), result('restarted', 1)], '2 workloads restarted (3 pods replaced)'],
    [[result('restarted'), result('refused')], '1 workload restarted (1 pod replaced), 1 bare pod refused: rerun with --recreate-bare-pods'],
    [[result('restarted'), result('waited', 2)], '1 workload restarted (1 pod replaced), 1 rollout already restarted and waited for (2 pods replaced)'],
    [[result('evicted', 3), result('recreated'), result('failed')], '3 pods evicted, 1 bare pod re-created, 1 failed'],
    [[result('skipped'), result('reported'), result('reported')], '1 static pod skipped, 2 jobs reported (next run gets the new token)'],
  ])('%#: %s', (results, line) => {
    expect(summarizeResults(results)).toBe(line)
  })
})
