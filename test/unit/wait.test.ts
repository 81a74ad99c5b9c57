import { afterEach, describe, expect, it, vi } from 'vitest'
import { DomainError } from '../../lib/errors.ts'
import { createOutput, memorySink } from '../../lib/output.ts'
import { createTicker, formatDuration, waitWithProgress, withDeadline, type WaitState } from '../../lib/wait.ts'

function makeOutput(isTTY: boolean) {
  const stderr = memorySink(isTTY)
  const stdout = memorySink()
  const output = createOutput({ format: 'text', stdout, stderr, isTTY, noColor: true, redactor: { redact: (t) => t } })
  return { output, stderr, stdout }
}

/** A clock the test moves by hand; `sleep` advances it instead of waiting. */
function fakeClock() {
  let t = 0
  return {
    now: () => t,
    advance: (ms: number) => {
      t += ms
    },
    sleep: async (ms: number) => {
      t += ms
    },
  }
}

describe('formatDuration', () => {
  it.each([
    [0, '0s'],
    [45_000, '45s'],
    [60_000, '1m'],
    [330_000, '5m30s'],
    [3_720_000, '1h2m'],
    [7_200_000, '2h'],
  ])('%d ms → %s', (ms, text) => {
    expect(formatDuration(ms)).toBe(text)
  })
})

describe('withDeadline', () => {
  afterEach(() => {
    vi.useRealTimers()
  })

  it('resolves with the work when it is on time', async () => {
    await expect(withDeadline(Promise.resolve(42), 1000, 'the answer')).resolves.toBe(42)
  })

  it('rejects with a DomainError naming what it waited for, and aborts the work', async () => {
    vi.useFakeTimers()
    let signal: AbortSignal | undefined
    const waiting = withDeadline(
      (s) => {
        signal = s
        return new Promise<never>(() => {})
      },
      300_000,
      'the tokens controller to refill Secret kube-system/x',
    )
    const assertion = expect(waiting).rejects.toThrow(
      /^timed out after 5m waiting for the tokens controller to refill Secret kube-system\/x; .*rerun/,
    )
    await vi.advanceTimersByTimeAsync(300_000)
    await assertion
    await expect(waiting).rejects.toBeInstanceOf(DomainError)
    expect(signal?.aborted).toBe(true)
  })

  it('passes the work’s own rejection through', async () => {
    await expect(withDeadline(Promise.reject(new Error('boom')), 1000, 'x')).rejects.toThrow('boom')
  })
})

describe('createTicker', () => {
  it('on a terminal rewrites one line in place', () => {
    const clock = fakeClock()
    const { output, stderr } = makeOutput(true)
    const ticker = createTicker({ output, what: 'pods of ds/calico-node', timeoutMs: 300_000, now: clock.now })
    clock.advance(45_000)
    ticker.update({ ready: 3, total: 10 })
    clock.advance(1_000)
    ticker.update({ ready: 4, total: 10 })
    ticker.done('pods of ds/calico-node: 10/10 ready')
    expect(stderr.text()).toBe(
      '\r\u001b[Kwaiting for pods of ds/calico-node: 3/10 ready (45s of 5m)' +
        '\r\u001b[Kwaiting for pods of ds/calico-node: 4/10 ready (46s of 5m)' +
        '\r\u001b[Kpods of ds/calico-node: 10/10 ready\n',
    )
  })

  it('elsewhere prints plain lines, at most one per interval', () => {
    const clock = fakeClock()
    const { output, stderr } = makeOutput(false)
    const ticker = createTicker({ output, what: 'rollout', timeoutMs: 60_000, now: clock.now, everyMs: 10_000 })
    for (let i = 0; i < 25; i++) {
      ticker.update(`${i} updated`)
      clock.advance(1_000)
    }
    expect(stderr.text().split('\n').filter(Boolean)).toEqual([
      'waiting for rollout: 0 updated (0s of 1m)',
      'waiting for rollout: 10 updated (10s of 1m)',
      'waiting for rollout: 20 updated (20s of 1m)',
    ])
    expect(stderr.text()).not.toContain('\r')
  })
})

describe('waitWithProgress', () => {
  it('polls until done and returns the final state', async () => {
    const clock = fakeClock()
    const { output, stderr } = makeOutput(false)
    const states: WaitState<string>[] = [
      { done: false, ready: 1, total: 3 },
      { done: false, ready: 2, total: 3 },
      { done: true, ready: 3, total: 3, value: 'uids changed' },
    ]
    let polls = 0
    const final = await waitWithProgress({
      what: 'pods of deploy/web',
      timeoutMs: 60_000,
      intervalMs: 2_000,
      poll: async () => states[polls++] ?? { done: true },
      output,
      now: clock.now,
      sleep: clock.sleep,
    })
    expect(final.value).toBe('uids changed')
    expect(polls).toBe(3)
    expect(stderr.text()).toContain('waiting for pods of deploy/web: 1/3 ready (0s of 1m)')
    expect(stderr.text()).toContain('pods of deploy/web: 3/3 ready after 4s')
  })

  it('times out with a DomainError that says how far it got and the fix', async () => {
    const clock = fakeClock()
    const { output } = makeOutput(false)
    const waiting = waitWithProgress({
      what: 'pods of ds/calico-node',
      timeoutMs: 30_000,
      poll: async () => ({ done: false, ready: 3, total: 10 }),
      output,
      now: clock.now,
      sleep: clock.sleep,
      hint: 'look at kubectl -n kube-system get events, then rerun',
    })
    await expect(waiting).rejects.toBeInstanceOf(DomainError)
    await expect(waiting).rejects.toThrow(
      'timed out after 30s waiting for pods of ds/calico-node (3/10 ready); look at kubectl -n kube-system get events, then rerun',
    )
  })
})
