import { describe, expect, it } from 'vitest'
import { setTimeout as sleep } from 'node:timers/promises'
import { limiter, mapLimit } from '../../lib/concurrency.ts'
import { listAll } from '../../lib/kube/list.ts'

describe('mapLimit', () => {
  it.each([1, 3, 10])('keeps order and never runs more than %i at once', async (limit) => {
    let running = 0
    let peak = 0
    const out = await mapLimit([5, 1, 4, 2, 3, 0], limit, async (n) => {
      running++
      peak = Math.max(peak, running)
      await sleep(n)
      running--
      return n * 10
    })
    expect(out).toEqual([50, 10, 40, 20, 30, 0])
    expect(peak).toBeLessThanOrEqual(limit)
  })
})

describe('listAll', () => {
  it('follows continue tokens until the last page', async () => {
    const pages: Record<string, { items: number[]; metadata?: { _continue?: string } }> = {
      '': { items: [1, 2], metadata: { _continue: 'a' } },
      a: { items: [3], metadata: { _continue: 'b' } },
      b: { items: [4] },
    }
    const asked: Array<string | undefined> = []
    const items = await listAll(async ({ _continue, limit }) => {
      expect(limit).toBe(2)
      asked.push(_continue)
      return pages[_continue ?? '']!
    }, 2)
    expect(items).toEqual([1, 2, 3, 4])
    expect(asked).toEqual([undefined, 'a', 'b'])
  })
})

describe('limiter', () => {
  it('never runs more than its slots at once, serves in order, and frees a slot when work fails', async () => {
    const gate = limiter(2)
    let running = 0
    let peak = 0
    const order: number[] = []
    const job = (n: number) =>
      gate(async () => {
        running++
        peak = Math.max(peak, running)
        order.push(n)
        await sleep(2)
        running--
        if (n === 1) throw new Error('boom')
        return n
      })
    const results = await Promise.allSettled([0, 1, 2, 3, 4].map(job))
    expect(peak).toBe(2)
    expect(order).toEqual([0, 1, 2, 3, 4])
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled', 'fulfilled', 'fulfilled'])
  })
})
