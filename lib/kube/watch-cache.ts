// One shared view of the pods and workloads a restart waits on: per resource
// and scope, one paged list, then one watch from the list's snapshot, kept
// up to date in memory (slimmed, see lib/workloads/slim.ts). Every wait
// (rollouts, evictions, re-created pods) reads it and is told when something
// in its namespace changed, so a thousand concurrent waits cost four watches,
// not a GET and a LIST per wait every two seconds.
//
// Lifetime: the cache of a Kube lives while someone holds it (withWatchCache);
// the last one out closes its watches, so a finished runbook can exit. A
// caller about to wait on many namespaces opens it cluster-wide first, so one
// watch per resource covers them all; a single wait opens only its namespace.
//
// A watch that ends cleanly (the server's timeout, client-node's 30 s of
// inactivity) resumes from the last resourceVersion seen; one that fails
// (410 Gone, a dropped connection) backs off and re-lists, as an informer does.
import type { Kube } from './clients.ts'
import type { Namespaces } from './workloads.ts'
import { listAll, type Page } from './list.ts'
import { backoffMs, DEFAULT_RETRY_POLICY, type RetryPolicy } from './retry.ts'
import { namespaceOf } from '../workloads/keys.ts'
import { slimPod, slimWorkload, type Workload } from '../workloads/slim.ts'
import type { V1ObjectMeta, V1Pod } from '@kubernetes/client-node'

export const CachedResource = { pods: 'pods', deployments: 'deployments', statefulsets: 'statefulsets', daemonsets: 'daemonsets' } as const
export type CachedResource = (typeof CachedResource)[keyof typeof CachedResource]

type Meta = { metadata?: V1ObjectMeta }

/** What changed: the resource, and the object as it is now (or was, when deleted); no object after a re-list (anything may have). */
export interface CacheChange {
  readonly resource: CachedResource
  readonly namespace: string
  readonly object?: Meta
}

/**
 * Objects of one resource by namespace and name, as the events left them.
 * Pure: apply() takes watch events, replace() a fresh list.
 */
export class ObjectStore<T extends Meta> {
  private readonly byNamespace = new Map<string, Map<string, T>>()

  get(namespace: string, name: string): T | undefined {
    return this.byNamespace.get(namespace)?.get(name)
  }

  /** The objects of a namespace (a new array: callers may keep it). */
  in(namespace: string): T[] {
    return [...(this.byNamespace.get(namespace)?.values() ?? [])]
  }

  /** ADDED/MODIFIED keep the object, DELETED drops it; whether it changed the store. */
  apply(type: string, object: T): boolean {
    const namespace = namespaceOf(object.metadata)
    const name = object.metadata?.name ?? ''
    if (type === 'DELETED') return this.byNamespace.get(namespace)?.delete(name) ?? false
    if (type !== 'ADDED' && type !== 'MODIFIED') return false
    let names = this.byNamespace.get(namespace)
    if (!names) this.byNamespace.set(namespace, (names = new Map()))
    names.set(name, object)
    return true
  }

  /** Replaces everything with a fresh list; returns the namespaces whose content may have changed. */
  replace(objects: readonly T[]): Set<string> {
    const touched = new Set(this.byNamespace.keys())
    this.byNamespace.clear()
    for (const object of objects) {
      this.apply('ADDED', object)
      touched.add(namespaceOf(object.metadata))
    }
    return touched
  }
}

/** How each resource is listed (paged, through the retrying clients) and where it is watched. */
const SOURCES: Record<CachedResource, { base: string; list: (kube: Kube, namespace: string | undefined, page: { limit: number; _continue?: string }) => Promise<Page<Meta>>; slim: (o: never) => Meta }> = {
  pods: {
    base: '/api/v1',
    list: (kube, namespace, page) => (namespace ? kube.core.listNamespacedPod({ namespace, ...page }) : kube.core.listPodForAllNamespaces(page)),
    slim: (pod: V1Pod) => slimPod(pod),
  },
  deployments: {
    base: '/apis/apps/v1',
    list: (kube, namespace, page) => (namespace ? kube.apps.listNamespacedDeployment({ namespace, ...page }) : kube.apps.listDeploymentForAllNamespaces(page)),
    slim: (w: Workload) => slimWorkload(w),
  },
  statefulsets: {
    base: '/apis/apps/v1',
    list: (kube, namespace, page) => (namespace ? kube.apps.listNamespacedStatefulSet({ namespace, ...page }) : kube.apps.listStatefulSetForAllNamespaces(page)),
    slim: (w: Workload) => slimWorkload(w),
  },
  daemonsets: {
    base: '/apis/apps/v1',
    list: (kube, namespace, page) => (namespace ? kube.apps.listNamespacedDaemonSet({ namespace, ...page }) : kube.apps.listDaemonSetForAllNamespaces(page)),
    slim: (w: Workload) => slimWorkload(w),
  },
}

export function watchPath(resource: CachedResource, namespace: string | undefined): string {
  const base = SOURCES[resource].base
  return namespace ? `${base}/namespaces/${encodeURIComponent(namespace)}/${resource}` : `${base}/${resource}`
}

/** Re-lists back off like retries, from 0.5 s up to 10 s. */
const RELIST_BACKOFF: RetryPolicy = { ...DEFAULT_RETRY_POLICY, baseMs: 500, capMs: 10_000 }

/** A watch that ended cleanly sooner than this is treated as failed (back off, re-list). */
const SHORTEST_CLEAN_WATCH_MS = 1_000

/** How one watch ended: cleanly (resume from the last resourceVersion) or not (re-list). */
type WatchEnd = 'clean' | 'failed'

/** Timeouts end a quiet watch; they lose nothing, the next watch resumes where it stopped. */
function isCleanEnd(err: unknown): boolean {
  return err === null || err === undefined || (err as { name?: string }).name === 'TimeoutError' || (err as { name?: string }).name === 'AbortError'
}

/** One resource in one scope (a namespace, or all): list, then watch, until closed. */
class Informer {
  readonly store = new ObjectStore<Meta>()
  readonly synced: Promise<void>
  private markSynced: (err?: unknown) => void = () => {}
  private abort: AbortController | undefined
  private closed = false
  private syncedYet = false

  private readonly kube: Kube
  readonly resource: CachedResource
  /** Undefined: every namespace. */
  private readonly namespace: string | undefined
  private readonly changed: (change: CacheChange) => void

  constructor(kube: Kube, resource: CachedResource, namespace: string | undefined, changed: (change: CacheChange) => void) {
    this.kube = kube
    this.resource = resource
    this.namespace = namespace
    this.changed = changed
    this.synced = new Promise((resolve, reject) => (this.markSynced = (err) => (err === undefined ? resolve() : reject(err))))
    // Rejections reach whoever awaits `synced`; the loop itself never throws.
    this.synced.catch(() => undefined)
    void this.run()
  }

  close(): void {
    this.closed = true
    this.abort?.abort()
  }

  private async run(): Promise<void> {
    let failures = 0
    while (!this.closed) {
      let resourceVersion: string | undefined
      try {
        resourceVersion = await this.relist()
      } catch (err) {
        if (!this.syncedYet) {
          // The first list failed (RBAC, a bad scope; transient errors were retried): the waits fail with its error.
          this.markSynced(err)
          this.closed = true
          return
        }
        await sleep(backoffMs(failures++, RELIST_BACKOFF, Math.random))
        continue
      }
      this.markSynced()
      failures = 0
      // Resume after clean ends; re-list after a failure.
      while (!this.closed && resourceVersion !== undefined) {
        const started = Date.now()
        const { end, lastVersion } = await this.watchOnce(resourceVersion)
        // A watch the server ends at once, again and again, must not become a tight loop.
        if (end === 'failed' || Date.now() - started < SHORTEST_CLEAN_WATCH_MS) break
        resourceVersion = lastVersion
      }
      if (!this.closed) await sleep(backoffMs(failures++, RELIST_BACKOFF, Math.random))
    }
  }

  /** A paged list into the store; returns the snapshot's resourceVersion. */
  private async relist(): Promise<string | undefined> {
    const source = SOURCES[this.resource]
    let resourceVersion: string | undefined
    const items = await listAll(async (page) => {
      const result = await source.list(this.kube, this.namespace, page)
      resourceVersion ??= result.metadata?.resourceVersion
      // Slimmed as each page arrives: the full page is garbage right after.
      return { ...result, items: result.items.map((item) => source.slim(item as never)) }
    })
    if (this.closed) return undefined
    const touched = this.store.replace(items)
    this.syncedYet = true
    for (const namespace of touched) this.changed({ resource: this.resource, namespace })
    return resourceVersion
  }

  private watchOnce(from: string): Promise<{ end: WatchEnd; lastVersion: string }> {
    const source = SOURCES[this.resource]
    let lastVersion = from
    return new Promise((resolve) => {
      let finished = false
      const finish = (end: WatchEnd) => {
        if (finished) return
        finished = true
        resolve({ end, lastVersion })
      }
      const onEvent = (type: string, object: Meta & { code?: number }) => {
        if (type === 'ERROR') {
          // 410 Gone: the resourceVersion is too old; only a re-list helps.
          this.abort?.abort()
          return finish('failed')
        }
        lastVersion = object.metadata?.resourceVersion ?? lastVersion
        if (type === 'BOOKMARK') return
        const slim = source.slim(object as never)
        if (this.store.apply(type, slim)) this.changed({ resource: this.resource, namespace: namespaceOf(slim.metadata), object: slim })
      }
      // A watch that cannot even start counts as failed: back off, re-list.
      Promise.resolve()
        .then(() =>
          this.kube
            .watch()
            .watch(watchPath(this.resource, this.namespace), { resourceVersion: from, allowWatchBookmarks: true }, onEvent, (err: unknown) => finish(isCleanEnd(err) ? 'clean' : 'failed')),
        )
        .then(
          (controller) => {
            this.abort = controller
            if (this.closed || finished) controller.abort()
          },
          () => finish('failed'),
        )
    })
  }
}

/** Unref'd: a backoff must not keep a finished run alive. */
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms).unref())

export type ChangeListener = (change: CacheChange) => void

/** The informers of one Kube, created on first use, and who listens to them. */
export class WatchCache {
  private readonly informers = new Map<string, Informer>()
  private readonly listeners = new Map<string, Set<ChangeListener>>()
  private clusterWide = false
  private holders = 0
  /** When any informer last changed the cache (Date.now). */
  lastChangeAt = Date.now()

  private readonly kube: Kube
  private readonly onIdle: () => void

  constructor(kube: Kube, onIdle: () => void) {
    this.kube = kube
    this.onIdle = onIdle
  }

  hold(where: Namespaces): void {
    this.holders++
    // Widening takes effect for informers not yet created; existing ones keep their scope.
    if (where.all) this.clusterWide = true
  }

  release(): void {
    if (--this.holders > 0) return
    for (const informer of this.informers.values()) informer.close()
    this.informers.clear()
    this.listeners.clear()
    this.onIdle()
  }

  /** Resolves once `resource` in `namespace` has been listed (the first time: a request). */
  async ready(resource: CachedResource, namespace: string): Promise<void> {
    await this.informerFor(resource, namespace).synced
  }

  get<T extends Meta>(resource: CachedResource, namespace: string, name: string): T | undefined {
    return this.informerFor(resource, namespace).store.get(namespace, name) as T | undefined
  }

  list<T extends Meta>(resource: CachedResource, namespace: string): T[] {
    return this.informerFor(resource, namespace).store.in(namespace) as T[]
  }

  /** Calls `listener` on every change in `namespace`; returns the unsubscribe. */
  subscribe(namespace: string, listener: ChangeListener): () => void {
    let set = this.listeners.get(namespace)
    if (!set) this.listeners.set(namespace, (set = new Set()))
    set.add(listener)
    return () => set.delete(listener)
  }

  private informerFor(resource: CachedResource, namespace: string): Informer {
    const wide = this.informers.get(`${resource} *`)
    if (wide) return wide
    const key = this.clusterWide ? `${resource} *` : `${resource} ${namespace}`
    let informer = this.informers.get(key)
    if (!informer) {
      informer = new Informer(this.kube, resource, this.clusterWide ? undefined : namespace, (change) => this.notify(change))
      this.informers.set(key, informer)
    }
    return informer
  }

  private notify(change: CacheChange): void {
    this.lastChangeAt = Date.now()
    for (const listener of this.listeners.get(change.namespace) ?? []) listener(change)
  }
}

const caches = new WeakMap<Kube, WatchCache>()

/**
 * Runs `work` with the shared cache of `kube`, opened over `where` (see the
 * top of this file). Nested calls share one cache; the outermost scope wins
 * for informers created inside it.
 */
export async function withWatchCache<T>(kube: Kube, where: Namespaces, work: (cache: WatchCache) => Promise<T>): Promise<T> {
  let cache = caches.get(kube)
  if (!cache) {
    const created = new WatchCache(kube, () => caches.delete(kube))
    caches.set(kube, created)
    cache = created
  }
  cache.hold(where)
  try {
    return await work(cache)
  } finally {
    cache.release()
  }
}
