// Long waits, told honestly: every wait has a deadline, says what it waits
// for and how far it got ("waiting for pods of ds/calico-node: 3/10 ready
// (45s of 5m)"). On a terminal the line updates in place; elsewhere (CI logs)
// it is a plain line at most every `everyMs`. Prefer a watch that calls
// `ticker.update` over polling; `waitWithProgress` is for when polling is all
// there is. Clock and sleep are injected so tests run in no time.
import { DomainError } from './errors.ts'
import type { Output } from './output.ts'

/** 45s, 5m, 5m30s, 1h2m. */
export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000))
  if (s < 60) return `${s}s`
  const h = Math.floor(s / 3600)
  const m = Math.floor((s % 3600) / 60)
  const rest = s % 60
  if (h > 0) return m > 0 ? `${h}h${m}m` : `${h}h`
  return rest > 0 ? `${m}m${rest}s` : `${m}m`
}

export const DEFAULT_WAIT_HINT =
  'look at what holds it up (kubectl get events, kubectl describe), then rerun: the runbook re-checks and continues where it stopped'

export function timeoutError(what: string, ms: number, progress?: string, hint = DEFAULT_WAIT_HINT): DomainError {
  return new DomainError(`timed out after ${formatDuration(ms)} waiting for ${what}${progress ? ` (${progress})` : ''}; ${hint}`)
}

/**
 * Resolves like `work`, or rejects with a DomainError naming `what` after
 * `ms`. Given a function, it receives an AbortSignal that fires on timeout,
 * so a watch or request can stop instead of leaking.
 */
export async function withDeadline<T>(
  work: Promise<T> | ((signal: AbortSignal) => Promise<T>),
  ms: number,
  what: string,
  hint?: string,
): Promise<T> {
  const controller = new AbortController()
  const promise = typeof work === 'function' ? work(controller.signal) : work
  let timer: ReturnType<typeof setTimeout> | undefined
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const err = timeoutError(what, ms, undefined, hint)
      controller.abort(err)
      reject(err)
    }, ms)
  })
  try {
    return await Promise.race([promise, deadline])
  } finally {
    clearTimeout(timer)
  }
}

export interface Count {
  ready: number
  total: number
}

export interface TickerOptions {
  output: Output
  /** What we wait for, as a noun phrase: "pods of ds/calico-node". */
  what: string
  timeoutMs: number
  /** Milliseconds clock (default Date.now). */
  now?: () => number
  /** Off a terminal, print at most one line per this many ms (default 10 s). */
  everyMs?: number
}

export interface Ticker {
  /** Report progress: a count ("3/10 ready") or free text ("rollout 2 of 3"). */
  update(progress: Count | string): void
  /** End the status line; `line` stays as a permanent line. */
  done(line?: string): void
  /** The last progress as text ("3/10 ready"), for a timeout message. */
  readonly last: string | undefined
  /** Milliseconds since the ticker started. */
  elapsed(): number
}

export function describeProgress(progress: Count | string): string {
  return typeof progress === 'string' ? progress : `${progress.ready}/${progress.total} ready`
}

export function createTicker(opts: TickerOptions): Ticker {
  const { output, what, timeoutMs } = opts
  const now = opts.now ?? Date.now
  const everyMs = opts.everyMs ?? 10_000
  const start = now()
  let last: string | undefined
  let lastPrinted: number | undefined
  return {
    get last() {
      return last
    },
    elapsed: () => now() - start,
    update(progress) {
      last = describeProgress(progress)
      const t = now()
      const line = `waiting for ${what}: ${last} (${formatDuration(t - start)} of ${formatDuration(timeoutMs)})`
      if (output.isTTY) {
        output.status(line)
      } else if (lastPrinted === undefined || t - lastPrinted >= everyMs) {
        output.status(line)
        lastPrinted = t
      }
    },
    done(line) {
      output.endStatus(line)
    },
  }
}

export interface WaitState<T = undefined> {
  done: boolean
  /** For the progress line: how many of how many are ready. */
  ready?: number
  total?: number
  /** Free-text progress when there is nothing to count. */
  note?: string
  value?: T
}

export interface WaitOptions<T> {
  what: string
  timeoutMs: number
  /** One read-only look at the state. */
  poll: () => Promise<WaitState<T>>
  output: Output
  /** Pause between polls (default 2 s). */
  intervalMs?: number
  /** The fix named in the timeout error. */
  hint?: string
  now?: () => number
  sleep?: (ms: number) => Promise<void>
  everyMs?: number
}

const realSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/**
 * Polls until `done` or the deadline, updating a progress line. Resolves
 * with the final state; rejects with a DomainError that names what it waited
 * for and how far it got.
 */
export async function waitWithProgress<T>(opts: WaitOptions<T>): Promise<WaitState<T>> {
  const { what, timeoutMs, poll, output, hint } = opts
  const now = opts.now ?? Date.now
  const sleep = opts.sleep ?? realSleep
  const intervalMs = opts.intervalMs ?? 2_000
  const ticker = createTicker({ output, what, timeoutMs, now, ...(opts.everyMs === undefined ? {} : { everyMs: opts.everyMs }) })
  for (;;) {
    const remaining = timeoutMs - ticker.elapsed()
    if (remaining <= 0) {
      ticker.done()
      throw timeoutError(what, timeoutMs, ticker.last, hint)
    }
    // A single poll that hangs must not outlive the wait's own deadline.
    const state = await withDeadline(poll(), remaining, what, hint).catch((err: unknown) => {
      ticker.done()
      throw err
    })
    const progress = state.ready !== undefined && state.total !== undefined ? { ready: state.ready, total: state.total } : state.note
    if (state.done) {
      ticker.done(`${what}: ${progress === undefined ? 'done' : describeProgress(progress)} after ${formatDuration(ticker.elapsed())}`)
      return state
    }
    ticker.update(progress ?? 'not yet')
    await sleep(Math.min(intervalMs, Math.max(0, timeoutMs - ticker.elapsed())))
  }
}

export interface ChangeWaitOptions<T> {
  what: string
  timeoutMs: number
  output: Output
  /** One look at the state as last seen (no request): throws to fail the wait. */
  evaluate: () => WaitState<T>
  /** Registers `onChange` for every change that may matter; returns the unsubscribe. */
  subscribe: (onChange: () => void) => () => void
  hint?: string
  /** Changes within this many ms are looked at once (default 200 ms). */
  coalesceMs?: number
  /** Looks again at least this often, for the progress line (default 5 s). */
  intervalMs?: number
  /**
   * `total` (default): fail `timeoutMs` after the start. `progress`: fail
   * only after `timeoutMs` without any change in the progress it reports, as
   * a Deployment's progressDeadlineSeconds does: a wait queued behind a
   * thousand others is slow, not stuck.
   */
  deadline?: 'total' | 'progress'
  /**
   * With a progress deadline: when anything the wait's source watches last
   * changed (ms, Date.now clock). While the controllers still move anything,
   * a rollout starved behind the others is not failed.
   */
  lastActivity?: () => number
  now?: () => number
  everyMs?: number
}

/** A progress deadline that passed: nothing changed for `ms`. */
export function stalledError(what: string, ms: number, progress?: string, hint = DEFAULT_WAIT_HINT): DomainError {
  return new DomainError(`no progress for ${formatDuration(ms)} waiting for ${what}${progress ? ` (${progress})` : ''}; ${hint}`)
}

/**
 * Waits on a watch rather than polling: `evaluate` runs at once, after each
 * burst of changes `subscribe` reports, and every `intervalMs`, until it
 * says done, throws, or the deadline passes (a DomainError naming what it
 * waited for and how far it got, as waitWithProgress).
 */
export function waitForChanges<T>(opts: ChangeWaitOptions<T>): Promise<WaitState<T>> {
  const { what, timeoutMs, output, hint } = opts
  const now = opts.now ?? Date.now
  const ticker = createTicker({ output, what, timeoutMs, now, ...(opts.everyMs === undefined ? {} : { everyMs: opts.everyMs }) })
  return new Promise((resolve, reject) => {
    let pending: ReturnType<typeof setTimeout> | undefined
    let settled = false
    let lastProgress: string | undefined
    const stop = () => {
      settled = true
      clearTimeout(pending)
      clearTimeout(deadline)
      clearInterval(interval)
      unsubscribe()
    }
    const expire = () => {
      if (settled) return
      look()
      if (settled) return
      const quietFor = opts.lastActivity ? Date.now() - opts.lastActivity() : Infinity
      if (opts.deadline === 'progress' && quietFor < timeoutMs) {
        deadline = setTimeout(expire, timeoutMs - quietFor)
        return
      }
      stop()
      ticker.done()
      reject(opts.deadline === 'progress' ? stalledError(what, timeoutMs, ticker.last, hint) : timeoutError(what, timeoutMs, ticker.last, hint))
    }
    const look = () => {
      pending = undefined
      if (settled) return
      let state: WaitState<T>
      try {
        state = opts.evaluate()
      } catch (err) {
        stop()
        ticker.done()
        return reject(err)
      }
      const progress = state.ready !== undefined && state.total !== undefined ? { ready: state.ready, total: state.total } : state.note
      if (!state.done) {
        const text = describeProgress(progress ?? 'not yet')
        if (opts.deadline === 'progress' && text !== lastProgress && lastProgress !== undefined) {
          clearTimeout(deadline)
          deadline = setTimeout(expire, timeoutMs)
        }
        lastProgress = text
        return ticker.update(progress ?? 'not yet')
      }
      stop()
      ticker.done(`${what}: ${progress === undefined ? 'done' : describeProgress(progress)} after ${formatDuration(ticker.elapsed())}`)
      resolve(state)
    }
    const unsubscribe = opts.subscribe(() => {
      pending ??= setTimeout(look, opts.coalesceMs ?? 200)
    })
    const interval = setInterval(look, opts.intervalMs ?? 5_000)
    let deadline = setTimeout(expire, timeoutMs)
    look()
  })
}

/**
 * The output for many waits at once: their status lines share one budget,
 * at most one line per `everyMs` off a terminal (the latest wins), so a
 * thousand concurrent rollouts print one progress line per 10 s, not a
 * hundred per second. Everything else passes through.
 */
export function sharedStatus(output: Output, everyMs = 10_000, now: () => number = Date.now): Output {
  let lastPrinted: number | undefined
  return {
    ...output,
    status(line) {
      const t = now()
      if (!output.isTTY && lastPrinted !== undefined && t - lastPrinted < everyMs) return
      lastPrinted = t
      output.status(line)
    },
  }
}
