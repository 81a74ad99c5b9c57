// Timeouts and retries for every typed API call. One Proxy (`retrying`)
// wraps each typed API object, so no call site can forget them:
//  - every attempt gets its own deadline (--request-timeout, 0 = none);
//  - 429, 5xx and dropped connections are retried with capped exponential
//    backoff and full jitter, waiting at least what Retry-After asks;
//  - but only calls that are safe to send twice are retried. A write whose
//    first attempt may have landed is safe only if its own guard makes the
//    second one harmless: a JSON patch with a `test` op, a delete with a UID
//    or resourceVersion precondition, a create of a named object (the second
//    gets 409 AlreadyExists, which the caller handles), a write carrying the
//    resourceVersion it read. The guard is read from the request itself
//    (`safetyOf`), so a marker can never claim a guard that is not there;
//    `retrySafe(options)` marks the rare write that is idempotent without
//    one (setting a value that is the same on every attempt).
// Everything here is pure apart from the sleep and clock seams, so the policy
// is unit-tested without waiting.
import type { Observable, RequestContext, ResponseContext } from '@kubernetes/client-node'

/** client-node's Observable class, handed in by makeKube (which loads client-node lazily). */
export type ObservableClass = typeof Observable
import { DomainError } from '../errors.ts'

export interface RetryPolicy {
  /** Attempts in all, the first included. */
  attempts: number
  /** Backoff ceiling for the first retry; doubles per attempt. */
  baseMs: number
  /** No backoff (before jitter) is longer than this. */
  capMs: number
  /** A Retry-After longer than this is cut to it: the run has a deadline of its own. */
  retryAfterCapMs: number
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = { attempts: 5, baseMs: 250, capMs: 8_000, retryAfterCapMs: 60_000 }

/** Default per-request timeout, as kubectl's --request-timeout would be if it had one (its default is none). */
export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000

export interface RetrySeams {
  sleep?: (ms: number) => Promise<void>
  /** In [0, 1): the jitter. */
  random?: () => number
  /** Epoch ms: for Retry-After given as an HTTP date. */
  now?: () => number
}

export interface RetryOptions extends RetrySeams {
  policy?: RetryPolicy
  /** Per-attempt timeout in ms; 0 or undefined: none. */
  timeoutMs?: number
}

/** `read`: no side effect. `guarded`: a write the server refuses to apply twice. `unguarded`: never retried. */
export type Safety = 'read' | 'guarded' | 'unguarded'

const sleepFor = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

// ---------------------------------------------------------------------------
// Which failures are worth another attempt

const RETRY_STATUSES = new Set([429, 500, 502, 503, 504])
// Dropped or refused connections (an API server restarting), DNS hiccups, and
// undici's socket and timeout errors. ENOTFOUND and certificate errors are not
// here: they do not go away by waiting.
const RETRY_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'EPIPE',
  'ETIMEDOUT',
  'EAI_AGAIN',
  'ENETUNREACH',
  'EHOSTUNREACH',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
])

/** The HTTP status of an API error (client-node's ApiException), else undefined. DOMException's small numeric codes are not statuses. */
export function httpStatusOf(err: unknown): number | undefined {
  const code = (err as { code?: unknown } | undefined)?.code
  return typeof code === 'number' && code >= 100 && code < 600 ? code : undefined
}

/** True for the error an attempt's own deadline raises. */
export function isTimeout(err: unknown): boolean {
  return (err as { name?: unknown } | undefined)?.name === 'TimeoutError'
}

/** Why `err` is worth retrying ("503", "ECONNRESET", "timeout"), or undefined when it is not. */
export function transientReason(err: unknown): string | undefined {
  const status = httpStatusOf(err)
  if (status !== undefined) return RETRY_STATUSES.has(status) ? String(status) : undefined
  if (isTimeout(err)) return 'timeout'
  for (let e: unknown = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code
    if (typeof code === 'string' && RETRY_CODES.has(code)) return code
    if (isTimeout(e)) return 'timeout'
    const message = (e as { message?: unknown }).message
    // A GOAWAY with NO_ERROR (a graceful shutdown) is undici's InformationalError (UND_ERR_INFO), not a SocketError.
    if (typeof message === 'string' && /socket hang up|other side closed|"GOAWAY" frame received/i.test(message)) return 'connection closed'
  }
  return undefined
}

/** The wait a Retry-After header asks for (seconds or an HTTP date), in ms, or undefined. */
export function retryAfterMs(err: unknown, now: number): number | undefined {
  const headers = (err as { headers?: unknown } | undefined)?.headers
  if (!headers || typeof headers !== 'object') return undefined
  const entry = Object.entries(headers).find(([name]) => name.toLowerCase() === 'retry-after')
  const value = typeof entry?.[1] === 'string' ? entry[1].trim() : undefined
  if (!value) return undefined
  if (/^\d+$/.test(value)) return Number(value) * 1000
  const date = Date.parse(value)
  return Number.isNaN(date) ? undefined : Math.max(0, date - now)
}

/** Full jitter: uniform in [0, min(cap, base * 2^retry)) (retry counts from 0). */
export function backoffMs(retry: number, policy: RetryPolicy, random: () => number): number {
  const ceiling = Math.min(policy.capMs, policy.baseMs * 2 ** retry)
  return Math.floor(random() * ceiling)
}

/** How long to wait before retry number `retry` after `err`: at least Retry-After (capped), else the jittered backoff. */
export function delayMs(err: unknown, retry: number, policy: RetryPolicy, random: () => number, now: number): number {
  const backoff = backoffMs(retry, policy, random)
  const asked = retryAfterMs(err, now)
  return asked === undefined ? backoff : Math.min(Math.max(asked, backoff), policy.retryAfterCapMs)
}

// ---------------------------------------------------------------------------
// Which calls are safe to send twice

const marked = new WeakSet<object>()

/**
 * Marks a call's options as safe to retry: for a write that is idempotent
 * without a guard the server checks (it sets the same value on every
 * attempt). Pass the result as the call's options argument.
 */
export function retrySafe<T extends object>(options?: T): T {
  const copy = { ...(options ?? {}) } as T
  marked.add(copy)
  return copy
}

// Reviews are answered, not stored: creating one twice has no effect.
const REVIEW = /^create\w*(TokenReview|SubjectAccessReview|SelfSubjectReview|SelfSubjectRulesReview)$/

/**
 * How safe a typed call is to send again, from its method name and its
 * arguments (client-node's object-parameter style: `(param, options)`).
 */
export function safetyOf(method: string, args: readonly unknown[]): Safety {
  if (/^(read|list|get|watch)/.test(method) || REVIEW.test(method)) return 'read'
  if (args.some((a) => typeof a === 'object' && a !== null && marked.has(a))) return 'guarded'
  const body = (args[0] as { body?: unknown } | undefined)?.body
  // An eviction's 429 (a disruption budget) and 500 (several budgets) are
  // answers the caller acts on, not failures to retry here.
  if (/Eviction$/.test(method)) return 'unguarded'
  if (/^create/.test(method)) return nameOf(body) ? 'guarded' : 'unguarded'
  if (/^deleteCollection/.test(method)) return 'unguarded'
  if (/^delete/.test(method)) {
    const pre = (body as { preconditions?: { uid?: unknown; resourceVersion?: unknown } } | undefined)?.preconditions
    return pre?.uid || pre?.resourceVersion ? 'guarded' : 'unguarded'
  }
  if (/^patch/.test(method)) {
    if (Array.isArray(body)) return body.some((op) => (op as { op?: unknown } | null)?.op === 'test') ? 'guarded' : 'unguarded'
    return resourceVersionOf(body) ? 'guarded' : 'unguarded'
  }
  if (/^replace/.test(method)) return resourceVersionOf(body) ? 'guarded' : 'unguarded'
  return 'unguarded'
}

function nameOf(body: unknown): string | undefined {
  const name = (body as { metadata?: { name?: unknown } } | undefined)?.metadata?.name
  return typeof name === 'string' && name !== '' ? name : undefined
}

function resourceVersionOf(body: unknown): string | undefined {
  const rv = (body as { metadata?: { resourceVersion?: unknown } } | undefined)?.metadata?.resourceVersion
  return typeof rv === 'string' && rv !== '' ? rv : undefined
}

// ---------------------------------------------------------------------------
// The loop and the wrapper

/**
 * Runs `attempt` until it succeeds, fails for good, or the attempts run out.
 * Only `read` and `guarded` calls are retried. A call that timed out on its
 * last attempt becomes a one-line DomainError naming --request-timeout;
 * other errors are rethrown as they are, so callers still see 404 and 409.
 */
export async function withRetries<T>(what: string, safety: Safety, attempt: () => Promise<T>, options: RetryOptions = {}): Promise<T> {
  const policy = options.policy ?? DEFAULT_RETRY_POLICY
  const sleep = options.sleep ?? sleepFor
  const random = options.random ?? Math.random
  const now = options.now ?? Date.now
  for (let tried = 1; ; tried++) {
    try {
      return await attempt()
    } catch (err) {
      const reason = transientReason(err)
      if (reason === undefined) throw err
      if (safety === 'unguarded' || tried >= policy.attempts) throw giveUp(what, safety, tried, err, options.timeoutMs)
      await sleep(delayMs(err, tried - 1, policy, random, now()))
    }
  }
}

function giveUp(what: string, safety: Safety, tried: number, err: unknown, timeoutMs: number | undefined): unknown {
  if (!isTimeout(err)) return err
  const attempts = tried === 1 ? 'once' : `${tried} times`
  const maybe = safety === 'unguarded' ? ' The change may or may not have been made: rerun to re-check it.' : ''
  return new DomainError(
    `the API server did not answer ${what} within ${Math.round((timeoutMs ?? 0) / 1000)}s (tried ${attempts});${maybe} check the cluster's health, or raise --request-timeout`,
    { cause: err },
  )
}

/**
 * A per-attempt deadline, as client-node middleware: each attempt gets a
 * fresh signal, which also bounds reading the response body. Per-call
 * middleware goes to the Observable layer as it is, so it returns Observables.
 */
function timeoutMiddleware(ms: number, Observable: ObservableClass) {
  return {
    pre: (context: RequestContext) => {
      context.setSignal(AbortSignal.timeout(ms))
      return new Observable(Promise.resolve(context))
    },
    post: (response: ResponseContext) => new Observable(Promise.resolve(response)),
  }
}

interface CallOptions {
  middleware?: unknown[]
  middlewareMergeStrategy?: string
}

/** The call's options with the deadline middleware appended (kept even when the caller's strategy is "replace"). */
function withDeadline(options: unknown, ms: number, Observable: ObservableClass): CallOptions {
  const given = (options ?? {}) as CallOptions
  return { ...given, middleware: [...(given.middleware ?? []), timeoutMiddleware(ms, Observable)], middlewareMergeStrategy: given.middlewareMergeStrategy ?? 'append' }
}

/**
 * Wraps a typed API object (CoreV1Api, ...) so every method call gets the
 * timeout and the retry policy. Methods are called as `(param, options)`.
 */
export function retrying<T extends object>(api: T, Observable: ObservableClass, options: RetryOptions = {}): T {
  const timeoutMs = options.timeoutMs ?? 0
  return new Proxy(api, {
    get(target, prop, receiver) {
      const value: unknown = Reflect.get(target, prop, receiver)
      if (typeof value !== 'function' || typeof prop !== 'string') return value
      const method = value as (...args: unknown[]) => Promise<unknown>
      return (...args: unknown[]) => {
        const safety = safetyOf(prop, args)
        const call = timeoutMs > 0 ? [args[0] ?? {}, withDeadline(args[1], timeoutMs, Observable), ...args.slice(2)] : args
        return withRetries(prop, safety, () => method.apply(target, call), options)
      }
    },
  })
}
