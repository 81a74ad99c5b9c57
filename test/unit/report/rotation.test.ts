import { describe, expect, it } from 'vitest'
import { nextStep } from '../../../lib/report/rotation.ts'

describe('nextStep', () => {
  it.each([
    ['nothing asks for a flag: a plain rerun', ['kube-system/x: token rejected'], /^Rerun the same command to continue/],
    ['a refused bare pod: the flag it needs', ['pod a/debug (Pod/debug): ...; rerun with --recreate-bare-pods, or re-create it yourself'], /^To finish: rerun the same command with --recreate-bare-pods \(/],
    [
      'both, the time once',
      [
        'pod a/debug: x; rerun with --recreate-bare-pods, or re-create it yourself',
        'pod a/site-1: y; restart it, or rerun with --bound-before 2026-11-30T13:09:00.000Z to have it restarted',
        'pod a/site-2: y; restart it, or rerun with --bound-before 2026-11-30T13:09:00.000Z to have it restarted',
      ],
      /^To finish: rerun the same command with --recreate-bare-pods --bound-before 2026-11-30T13:09:00\.000Z \(/,
    ],
  ])('%s', (_what, advice, expected) => {
    expect(nextStep(advice)).toMatch(expected)
  })
})
