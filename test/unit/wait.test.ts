import { afterEach, describe, expect, it, vi } from 'vitest'
import { DomainError } from '../../lib/errors.ts'
import { createOutput, memorySink } from '../../lib/output.ts'
import { createTicker, DEFAULT_WAIT_HINT, formatDuration, sharedStatus, waitForChanges, waitWithProgress, withDeadline, type WaitState } from '../../lib/wait.ts'

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

describe('waitForChanges', () => {
  afterEach(() => {
    vi.useRealTimers()
  })

  /** A source of changes the test fires by hand, and a state it sets. */
  function source<T>(initial: WaitState<T>) {
    let state = initial
    let listener: (() => void) | undefined
    let looks = 0
    return {
      set: (next: WaitState<T>) => {
        state = next
        listener?.()
      },
      get looks() {
        return looks
      },
      subscribed: () => listener !== undefined,
      evaluate: () => {
        looks++
        return state
      },
      subscribe: (onChange: () => void) => {
        listener = onChange
        return () => (listener = undefined)
      },
    }
  }

  it('looks once per burst of changes, resolves when done and unsubscribes', async () => {
    vi.useFakeTimers()
    const { output, stderr } = makeOutput(false)
    const s = source<string>({ done: false, ready: 0, total: 2 })
    const run = waitForChanges({ what: 'pods of web', timeoutMs: 60_000, output, evaluate: s.evaluate, subscribe: s.subscribe, everyMs: 0 })
    expect(s.looks).toBe(1)
    s.set({ done: false, ready: 1, total: 2 })
    s.set({ done: true, ready: 2, total: 2, value: 'ok' })
    await vi.advanceTimersByTimeAsync(250)
    const state = await run
    expect(s.looks).toBe(2)
    expect(state.value).toBe('ok')
    expect(s.subscribed()).toBe(false)
    expect(stderr.text()).toContain('pods of web: 2/2 ready after 0s')
  })

  it('rejects at the deadline with how far it got, and when evaluate throws', async () => {
    vi.useFakeTimers()
    const { output } = makeOutput(false)
    const s = source({ done: false, note: '1 of 2 replicas updated' })
    const run = waitForChanges({ what: 'rollout of web', timeoutMs: 5_000, output, evaluate: s.evaluate, subscribe: s.subscribe, hint: 'look at it' })
    run.catch(() => undefined)
    await vi.advanceTimersByTimeAsync(5_000)
    await expect(run).rejects.toThrow(new DomainError('timed out after 5s waiting for rollout of web (1 of 2 replicas updated); look at it'))
    expect(s.subscribed()).toBe(false)

    const failing = waitForChanges({
      what: 'x',
      timeoutMs: 5_000,
      output,
      evaluate: () => {
        throw new DomainError('deleted')
      },
      subscribe: () => () => undefined,
    })
    await expect(failing).rejects.toThrow('deleted')
  })
})

describe('waitForChanges with a progress deadline', () => {
  afterEach(() => {
    vi.useRealTimers()
  })

  it('restarts the deadline whenever the progress changes, and says it stalled', async () => {
    vi.useFakeTimers()
    const { output } = makeOutput(false)
    let state: WaitState = { done: false, ready: 0, total: 3 }
    let fire = () => {}
    const run = waitForChanges({
      what: 'pods of web',
      timeoutMs: 5_000,
      output,
      deadline: 'progress',
      evaluate: () => state,
      subscribe: (onChange) => {
        fire = onChange
        return () => undefined
      },
    })
    run.catch(() => undefined)
    for (const ready of [1, 2]) {
      await vi.advanceTimersByTimeAsync(4_000)
      state = { done: false, ready, total: 3 }
      fire()
    }
    await vi.advanceTimersByTimeAsync(4_000)
    state = { ...state }
    await vi.advanceTimersByTimeAsync(1_500)
    await expect(run).rejects.toThrow(new DomainError(`no progress for 5s waiting for pods of web (2/3 ready); ${DEFAULT_WAIT_HINT}`))
  })
})

describe('waitForChanges with a progress deadline and activity elsewhere', () => {
  afterEach(() => {
    vi.useRealTimers()
  })

  it('does not fail while what the source watches still moves, and fails once it has been quiet for the deadline', async () => {
    vi.useFakeTimers()
    const { output } = makeOutput(false)
    let lastActivity = Date.now()
    const run = waitForChanges({
      what: 'rollout of web',
      timeoutMs: 5_000,
      output,
      deadline: 'progress',
      lastActivity: () => lastActivity,
      evaluate: () => ({ done: false, note: 'waiting for the controller to observe generation 2 (it has seen 1)' }),
      subscribe: () => () => undefined,
    })
    run.catch(() => undefined)
    await vi.advanceTimersByTimeAsync(4_000)
    lastActivity = Date.now()
    await vi.advanceTimersByTimeAsync(4_000)
    let failed = false
    void run.catch(() => (failed = true))
    await vi.advanceTimersByTimeAsync(0)
    expect(failed).toBe(false)
    await vi.advanceTimersByTimeAsync(1_500)
    await expect(run).rejects.toThrow(/^no progress for 5s waiting for rollout of web/)
  })
})

describe('sharedStatus', () => {
  it('lets one status line through per interval off a terminal, whoever sends it', () => {
    const { output, stderr } = makeOutput(false)
    const clock = fakeClock()
    const shared = sharedStatus(output, 10_000, clock.now)
    shared.status('a')
    shared.status('b')
    clock.advance(10_000)
    shared.status('c')
    shared.info('always')
    expect(stderr.text().split('\n').filter(Boolean)).toEqual(['a', 'c', 'always'])
  })
})
