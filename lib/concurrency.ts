// Bounded concurrency: big clusters have thousands of objects, and the API
// server (and its priority-and-fairness limits) should see a steady few
// requests at a time, not a burst of thousands.
export async function mapLimit<T, R>(items: readonly T[], limit: number, work: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length)
  let next = 0
  const worker = async () => {
    while (next < items.length) {
      const index = next++
      results[index] = await work(items[index]!, index)
    }
  }
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker))
  return results
}

/** Runs `work` when one of its slots is free: bounds what is in flight without bounding who waits. */
export type Gate = <T>(work: () => Promise<T>) => Promise<T>

/** A gate with `slots` slots, served first come, first served. */
export function limiter(slots: number): Gate {
  let free = Math.max(1, slots)
  const queue: Array<() => void> = []
  const release = () => {
    const next = queue.shift()
    if (next) next()
    else free++
  }
  return async <T>(work: () => Promise<T>): Promise<T> => {
    if (free > 0) free--
    else await new Promise<void>((resolve) => queue.push(resolve))
    try {
      return await work()
    } finally {
      release()
    }
  }
}
