import type { V1Secret } from '@kubernetes/client-node'
import { afterEach, describe, expect, it, vi } from 'vitest'
import type { Kube } from '../../../lib/kube/clients.ts'
import { waitForTokenRefills, type WatchFn } from '../../../lib/kube/wait-secrets.ts'
import { makeSecret } from '../helpers/objects.ts'

/** A fake clock that only moves when the code sleeps or a watch "runs". */
function harness(lists: V1Secret[][], watchRuns: Array<{ ms: number; how: 'done' | 'timer' | 'ended' }>) {
  let clock = 0
  const sleeps: number[] = []
  let listed = 0
  const kube = {
    core: {
      listNamespacedSecret: () => Promise.resolve({ items: lists[Math.min(listed++, lists.length - 1)] ?? [], metadata: { resourceVersion: String(listed) } }),
    },
  } as unknown as Kube
  const watch: WatchFn = (_kube, _scope, _rv, ms) => {
    const run = watchRuns.shift() ?? { ms, how: 'timer' as const }
    clock += Math.min(run.ms, ms)
    return Promise.resolve(run.how)
  }
  return {
    kube,
    sleeps,
    get listed() {
      return listed
    },
    opts: {
      scope: { all: false as const, namespace: 'default' },
      watch,
      now: () => clock,
      random: () => 0.999,
      sleep: (ms: number) => {
        sleeps.push(ms)
        clock += ms
        return Promise.resolve()
      },
    },
  }
}

const empty = makeSecret('a', { token: '' })
empty.data = { token: '' }
const filled = makeSecret('a', { token: 'new' })

describe('waitForTokenRefills', () => {
  it('backs off, growing, before re-listing after watches that fail at once', async () => {
    const h = harness([[empty], [empty], [empty], [filled]], [
      { ms: 0, how: 'ended' },
      { ms: 0, how: 'ended' },
      { ms: 0, how: 'ended' },
    ])
    const result = await waitForTokenRefills(h.kube, new Set(['default/a']), { ...h.opts, timeoutMs: 60_000 })
    expect(result.get('default/a')).toBe('new')
    expect(h.sleeps).toHaveLength(3)
    expect(h.sleeps[0]).toBeLessThan(h.sleeps[1]!)
    expect(h.sleeps[1]).toBeLessThan(h.sleeps[2]!)
    expect(h.listed).toBe(4)
  })

  it('re-lists at once after a watch that ran its course (no failure)', async () => {
    const h = harness([[empty], [filled]], [{ ms: 30_000, how: 'timer' }])
    await waitForTokenRefills(h.kube, new Set(['default/a']), { ...h.opts, timeoutMs: 120_000 })
    expect(h.sleeps).toEqual([])
  })

  it('never sleeps past the deadline, and then fails naming the Secret', async () => {
    const h = harness([[empty]], Array.from({ length: 50 }, () => ({ ms: 0, how: 'ended' as const })))
    await expect(waitForTokenRefills(h.kube, new Set(['default/a']), { ...h.opts, timeoutMs: 20_000 })).rejects.toThrow(/did not refill 1 Secret\(s\) within 20s: default\/a/)
    expect(h.sleeps.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(20_000)
  })

  describe('the real watch', () => {
    afterEach(() => {
      vi.useRealTimers()
    })

    /** A kube whose lists are served in turn and whose watches only record what they were given. */
    function watchingKube(lists: V1Secret[][]) {
      let listed = 0
      const watches: Array<{ emit: (phase: string, s: V1Secret) => void; aborted: boolean }> = []
      const kube = {
        core: {
          listNamespacedSecret: () => Promise.resolve({ items: lists[Math.min(listed++, lists.length - 1)] ?? [], metadata: { resourceVersion: String(listed) } }),
        },
        watch: () => ({
          watch: (_path: string, _query: object, emit: (phase: string, s: V1Secret) => void) => {
            const controller = new AbortController()
            const w = { emit, aborted: false }
            controller.signal.addEventListener('abort', () => (w.aborted = true))
            watches.push(w)
            return Promise.resolve(controller)
          },
        }),
      } as unknown as Kube
      return {
        kube,
        watches,
        get listed() {
          return listed
        },
      }
    }

    it('ends a watch that stays silent 30 s and re-lists; events keep it open', async () => {
      vi.useFakeTimers()
      const h = watchingKube([[empty], [filled]])
      const result = waitForTokenRefills(h.kube, new Set(['default/a']), { scope: { all: false, namespace: 'default' }, timeoutMs: 600_000 })
      await vi.advanceTimersByTimeAsync(20_000)
      expect(h.watches).toHaveLength(1)
      // An event for a Secret still blank: the watch lives on, its silence counted from here.
      h.watches[0]!.emit('MODIFIED', empty)
      await vi.advanceTimersByTimeAsync(25_000)
      expect(h.listed).toBe(1)
      expect(h.watches[0]!.aborted).toBe(false)
      await vi.advanceTimersByTimeAsync(5_000)
      expect(h.watches[0]!.aborted).toBe(true)
      expect(h.listed).toBe(2)
      expect((await result).get('default/a')).toBe('new')
    })
  })
})
