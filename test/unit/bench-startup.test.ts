// The start-up bench's arithmetic and records (the measuring itself is `make bench-startup`).
import { describe, expect, it } from 'vitest'
import { describeTarget, formatLoad, historyLine, summarize, verdict, type ProcessRun } from '../bench/startup.ts'

const run = (wallMs: number, rssMb: number): ProcessRun => ({ code: 0, wallMs, rssMb, stdout: '', stderr: '' })

describe('start-up bench', () => {
  it('summarizes runs as median and max of wall time and peak RSS', () => {
    expect(summarize([run(300, 90), run(100, 80), run(200, 120)])).toEqual({ runs: 3, wallMedianMs: 200, wallMaxMs: 300, rssMedianMb: 90, rssMaxMb: 120 })
  })

  it('says by how much a target is missed: median wall time, largest peak RSS', () => {
    const figures = summarize([run(250, 90), run(450, 110), run(350, 95)])
    expect(verdict({ wallMs: 300, rssMb: 100 }, figures)).toBe('MISSED: wall +0.050 s (+17%), RSS +10 MB (+10%)')
    expect(verdict({ wallMs: 400 }, figures)).toBe('ok')
    expect(verdict({}, figures)).toBe('-')
    expect(describeTarget({ wallMs: 300, rssMb: 100 })).toBe('≤ 0.3 s, ≤ 100 MB')
  })

  it('calls a machine busy when more is runnable than it has cores', () => {
    expect(formatLoad([5.46, 6.17, 8.62], 2)).toMatch(/^5\.46 6\.17 8\.62 .*busy: more runnable than 2 cores/)
    expect(formatLoad([0.1, 0.2, 0.3], 2)).toContain('quiet')
  })

  it('writes one JSON line per run with the commit, the load and every figure or why there is none', () => {
    const line = historyLine({
      date: '2026-11-30T10:00:00.000Z',
      machine: { cpu: 'AMD EPYC', cores: 2, memoryGb: 23.5, node: 'v24.22.3', commit: 'abc1234' },
      loadAtStart: [5.461, 6, 8],
      loadAtEnd: [5, 6, 8],
      runs: 10,
      rows: [
        { name: 'verify-token --help', from: 'bundle', target: { wallMs: 200 }, figures: summarize([run(150, 57.44)]) },
        { name: 'rotate-tokens -A --yes (no-op)', from: 'source', target: { wallMs: 2000 }, skipped: 'no cluster' },
      ],
    })
    expect(line).not.toContain('\n')
    expect(JSON.parse(line)).toEqual({
      date: '2026-11-30T10:00:00.000Z',
      commit: 'abc1234',
      node: 'v24.22.3',
      machine: 'AMD EPYC x 2, 23.5 GB',
      load: { start: [5.46, 6, 8], end: [5, 6, 8] },
      runs: 10,
      rows: [
        { process: 'verify-token --help', from: 'bundle', wallMedianS: 0.15, wallMaxS: 0.15, rssMedianMb: 57.4, rssMaxMb: 57.4, verdict: 'ok' },
        { process: 'rotate-tokens -A --yes (no-op)', from: 'source', skipped: 'no cluster' },
      ],
    })
  })
})
