// Waiting for the tokens controller to refill Secrets: one list, then one
// watch over all token Secrets in scope (not a poll per Secret), re-listing
// if the watch drops, until every target holds a new token or the deadline.
// A watch that fails or ends at once (an API server restarting, a proxy that
// drops long requests) backs off before the next re-list, so a broken watch
// cannot turn into a tight list loop against a struggling server.
import type * as k8s from '@kubernetes/client-node'
import { DomainError } from '../errors.ts'
import type { Ticker } from '../wait.ts'
import type { Kube } from './clients.ts'
import { listAll } from './list.ts'
import { backoffMs, DEFAULT_RETRY_POLICY, type RetryPolicy } from './retry.ts'
import { secretKey, tokenOf, TOKEN_SECRET_TYPE, type Scope } from './token-secrets.ts'

export interface RefillOptions {
  scope: Scope
  timeoutMs: number
  ticker?: Ticker
  /** Seams for tests: the wait between a failed watch and the next re-list, its jitter, the clock. */
  sleep?: (ms: number) => Promise<void>
  random?: () => number
  now?: () => number
  /** Seam for tests: the watch (default: a real watch through kube.kc). */
  watch?: WatchFn
}

/**
 * Watches token Secrets in `scope` from `resourceVersion` until `onSecret`
 * returns true (`done`), `ms` pass or the watch stays silent too long
 * (`timer`: the caller re-lists), or it ends by itself (`ended`).
 */
export type WatchFn = (kube: Kube, scope: Scope, resourceVersion: string | undefined, ms: number, onSecret: (s: k8s.V1Secret) => boolean) => Promise<'done' | 'timer' | 'ended'>

/** Watch restarts back off like retries, from 0.5 s up to 10 s; a watch that lived this long resets the backoff. */
const WATCH_BACKOFF: RetryPolicy = { ...DEFAULT_RETRY_POLICY, baseMs: 500, capMs: 10_000 }
const HEALTHY_WATCH_MS = 10_000
/**
 * A watch with no event (not even a bookmark) for this long may have stalled
 * silently: end it and re-list. Only then: while refills stream in, a
 * re-list on a schedule would fetch every token Secret again (20 pages at
 * 10,000) every half minute for nothing.
 */
const SILENT_WATCH_MS = 30_000

/**
 * Resolves with the token of every target (namespace/name → token) once each
 * holds one. Call it after blanking or recreating the targets: from then on
 * any token they hold is a refill. (A refill can equal the old token: legacy
 * tokens have no iat or jti, so the same key signs the same bytes.)
 */
export async function waitForTokenRefills(kube: Kube, targets: ReadonlySet<string>, opts: RefillOptions): Promise<Map<string, string>> {
  const filled = new Map<string, string>()
  const now = opts.now ?? Date.now
  const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)))
  const deadline = now() + opts.timeoutMs
  let failures = 0
  const consider = (secret: k8s.V1Secret) => {
    const key = secretKey(secret)
    const token = tokenOf(secret)
    if (targets.has(key) && token) filled.set(key, token)
    opts.ticker?.update({ ready: filled.size, total: targets.size })
  }
  while (filled.size < targets.size) {
    const { items, resourceVersion } = await listSnapshot(kube, opts.scope)
    items.forEach(consider)
    if (filled.size === targets.size) break
    const remaining = deadline - now()
    if (remaining <= 0) throw notRefilled(targets, filled, opts.timeoutMs)
    // Watch from the list's own snapshot, so no change between the two is missed.
    const started = now()
    const ended = await (opts.watch ?? watchUntil)(kube, opts.scope, resourceVersion, remaining, (secret) => {
      consider(secret)
      return filled.size === targets.size
    })
    if (filled.size === targets.size) break
    if (now() >= deadline) throw notRefilled(targets, filled, opts.timeoutMs)
    // The watch broke (or the server closed it) early: wait before re-listing.
    failures = ended === 'ended' && now() - started < HEALTHY_WATCH_MS ? failures + 1 : 0
    if (failures > 0) await sleep(Math.min(backoffMs(failures - 1, WATCH_BACKOFF, opts.random ?? Math.random), Math.max(0, deadline - now())))
  }
  return filled
}

/** A paged list and the resourceVersion of its snapshot (every page of a paged list is served from the first page's snapshot). */
async function listSnapshot(kube: Kube, scope: Scope): Promise<{ items: k8s.V1Secret[]; resourceVersion: string | undefined }> {
  const fieldSelector = `type=${TOKEN_SECRET_TYPE}`
  let resourceVersion: string | undefined
  const items = await listAll(async (page) => {
    const result = scope.all
      ? await kube.core.listSecretForAllNamespaces({ fieldSelector, ...page })
      : await kube.core.listNamespacedSecret({ namespace: scope.namespace, fieldSelector, ...page })
    resourceVersion ??= result.metadata?.resourceVersion
    return result
  })
  return { items, resourceVersion }
}

const watchUntil: WatchFn = (kube, scope, resourceVersion, ms, onSecret) => {
  const path = scope.all ? '/api/v1/secrets' : `/api/v1/namespaces/${scope.namespace}/secrets`
  return new Promise((resolve) => {
    let controller: AbortController | undefined
    let finished = false
    const finish = (how: 'done' | 'timer' | 'ended') => {
      if (finished) return
      finished = true
      clearTimeout(timer)
      clearTimeout(silence)
      controller?.abort()
      resolve(how)
    }
    const timer = setTimeout(() => finish('timer'), ms)
    let silence = setTimeout(() => finish('timer'), SILENT_WATCH_MS)
    kube.watch()
      .watch(
        path,
        { fieldSelector: `type=${TOKEN_SECRET_TYPE}`, ...(resourceVersion ? { resourceVersion } : {}), allowWatchBookmarks: true },
        (phase, object: k8s.V1Secret) => {
          clearTimeout(silence)
          silence = setTimeout(() => finish('timer'), SILENT_WATCH_MS)
          if ((phase === 'ADDED' || phase === 'MODIFIED') && onSecret(object)) finish('done')
        },
        // The watch ended (server timeout, dropped connection, 410 Gone): the caller re-lists.
        () => finish('ended'),
      )
      .then(
        (c) => {
          controller = c
          if (finished) c.abort()
        },
        () => finish('ended'),
      )
  })
}

function notRefilled(targets: ReadonlySet<string>, filled: Map<string, string>, timeoutMs: number): DomainError {
  const pending = [...targets.keys()].filter((k) => !filled.has(k))
  const shown = pending.slice(0, 5).join(', ') + (pending.length > 5 ? ` and ${pending.length - 5} more` : '')
  return new DomainError(
    `the tokens controller did not refill ${pending.length} Secret(s) within ${Math.round(timeoutMs / 1000)}s: ${shown}. ` +
      'Check that kube-controller-manager is running and was started with --service-account-private-key-file ' +
      '(kubectl -n kube-system get pods -l component=kube-controller-manager; its log names tokens-controller errors), then rerun regenerate-tokens: it continues where it stopped',
  )
}
