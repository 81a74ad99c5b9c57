// The cluster side of restarting what depends on a token: paged lists of
// pods, their controllers, budgets and FailedMount events; the three ways to
// replace a pod (rollout restart, eviction, re-creating a bare pod); and the
// waits that prove each replacement happened, every one with a deadline and
// a progress line. Decisions live in lib/workloads (pure); this module only
// reads, writes and waits. The waits read the shared watch cache
// (watch-cache.ts), so they send no requests of their own.
import type { CoreV1Event, V1LabelSelector, V1Pod, V1PodDisruptionBudget } from '@kubernetes/client-node'
import { mapLimit, type Gate } from '../concurrency.ts'
import { kubectlCommand } from '../engine/kubectl.ts'
import { waitForChanges, waitWithProgress, type ChangeWaitOptions, type WaitState } from '../wait.ts'
import { DomainError } from '../errors.ts'
import type { Output } from '../output.ts'
import { podRef, type PodRef } from '../workloads/keys.ts'
import { controllerOf, type OwnerObjects } from '../workloads/owners.ts'
import { restartPatch, restartedAtValue } from '../workloads/restarted-at.ts'
import { evictionBody } from '../workloads/restart-plan.ts'
import { isReady, rolloutProgress } from '../workloads/rollout.ts'
import { selectorMatches } from '../workloads/selectors.ts'
import type { Workload } from '../workloads/slim.ts'
import { isNotFound, PatchType, statusOf, type Kube } from './clients.ts'
import { listAll, type Page, type PageFetcher } from './list.ts'
import { CachedResource, withWatchCache, type CacheChange, type WatchCache } from './watch-cache.ts'

/** Where to look: every namespace (one cluster-wide paged list), or these namespaces (one paged list each). */
export type Namespaces = { all: true } | { all: false; namespaces: readonly string[] }

/** Lists at most this many namespaces at a time. */
const NAMESPACE_PARALLELISM = 4

async function listIn<T>(where: Namespaces, clusterWide: PageFetcher<T>, namespaced: (namespace: string) => PageFetcher<T>): Promise<T[]> {
  if (where.all) return listAll(clusterWide)
  const lists = await mapLimit([...new Set(where.namespaces)], NAMESPACE_PARALLELISM, (namespace) => listAll(namespaced(namespace)))
  return lists.flat()
}

/** The client returns typed pages; list.ts wants the plain shape. */
const page = <T>(promise: Promise<{ items: T[]; metadata?: { _continue?: string } }>): Promise<Page<T>> => promise

/** `keep` reduces each pod as its page arrives, so a whole page is the most held at once. */
export function listPods(kube: Kube, where: Namespaces, labelSelector?: string, keep: (pod: V1Pod) => V1Pod = (pod) => pod): Promise<V1Pod[]> {
  const selector = labelSelector ? { labelSelector } : {}
  const kept = (list: Promise<{ items: V1Pod[]; metadata?: { _continue?: string } }>) => page(list.then((r) => ({ ...r, items: r.items.map(keep) })))
  return listIn(
    where,
    (p) => kept(kube.core.listPodForAllNamespaces({ ...selector, ...p })),
    (namespace) => (p) => kept(kube.core.listNamespacedPod({ namespace, ...selector, ...p })),
  )
}

/** ReplicaSets, Deployments, StatefulSets, DaemonSets and Jobs: what resolveOwner walks up through. */
export async function listOwnerObjects(kube: Kube, where: Namespaces): Promise<OwnerObjects> {
  const batch = kube.batch
  const [replicaSets, deployments, statefulSets, daemonSets, jobs] = await Promise.all([
    listIn(
      where,
      (p) => page(kube.apps.listReplicaSetForAllNamespaces(p)),
      (namespace) => (p) => page(kube.apps.listNamespacedReplicaSet({ namespace, ...p })),
    ),
    listIn(
      where,
      (p) => page(kube.apps.listDeploymentForAllNamespaces(p)),
      (namespace) => (p) => page(kube.apps.listNamespacedDeployment({ namespace, ...p })),
    ),
    listIn(
      where,
      (p) => page(kube.apps.listStatefulSetForAllNamespaces(p)),
      (namespace) => (p) => page(kube.apps.listNamespacedStatefulSet({ namespace, ...p })),
    ),
    listIn(
      where,
      (p) => page(kube.apps.listDaemonSetForAllNamespaces(p)),
      (namespace) => (p) => page(kube.apps.listNamespacedDaemonSet({ namespace, ...p })),
    ),
    listIn(
      where,
      (p) => page(batch.listJobForAllNamespaces(p)),
      (namespace) => (p) => page(batch.listNamespacedJob({ namespace, ...p })),
    ),
  ])
  return { replicaSets, deployments, statefulSets, daemonSets, jobs }
}

export function listPdbs(kube: Kube, where: Namespaces): Promise<V1PodDisruptionBudget[]> {
  return listIn(
    where,
    (p) => page(kube.policy.listPodDisruptionBudgetForAllNamespaces(p)),
    (namespace) => (p) => page(kube.policy.listNamespacedPodDisruptionBudget({ namespace, ...p })),
  )
}

/** The field selector of the kubelet's "MountVolume.SetUp failed" events. */
export const FAILED_MOUNT_EVENTS = 'involvedObject.kind=Pod,reason=FailedMount'

export function listFailedMountEvents(kube: Kube, where: Namespaces): Promise<CoreV1Event[]> {
  const fieldSelector = FAILED_MOUNT_EVENTS
  return listIn(
    where,
    (p) => page(kube.core.listEventForAllNamespaces({ fieldSelector, ...p })),
    (namespace) => (p) => page(kube.core.listNamespacedEvent({ namespace, fieldSelector, ...p })),
  )
}

// ---------------------------------------------------------------------------
// Rollout restart

export const RestartableKinds = ['Deployment', 'StatefulSet', 'DaemonSet'] as const
export type RestartableKind = (typeof RestartableKinds)[number]

export interface WorkloadRef {
  readonly kind: RestartableKind
  readonly namespace: string
  readonly name: string
}

/** `deployment/web`: how kubectl names it. */
export const resourceName = (w: WorkloadRef) => `${w.kind.toLowerCase()}/${w.name}`

export async function readWorkload(kube: Kube, w: WorkloadRef): Promise<Workload> {
  const args = { namespace: w.namespace, name: w.name }
  switch (w.kind) {
    case 'Deployment':
      return kube.apps.readNamespacedDeployment(args)
    case 'StatefulSet':
      return kube.apps.readNamespacedStatefulSet(args)
    case 'DaemonSet':
      return kube.apps.readNamespacedDaemonSet(args)
  }
}

/**
 * What `kubectl rollout restart` does: a strategic merge patch that sets the
 * pod template's kubectl.kubernetes.io/restartedAt to now. Returns the value
 * written, which the rollout wait compares against.
 */
export async function rolloutRestart(kube: Kube, w: WorkloadRef, now: Date): Promise<string> {
  const args = { namespace: w.namespace, name: w.name, body: restartPatch(now) }
  const options = kube.patchAs(PatchType.strategic)
  try {
    switch (w.kind) {
      case 'Deployment':
        await kube.apps.patchNamespacedDeployment(args, options)
        break
      case 'StatefulSet':
        await kube.apps.patchNamespacedStatefulSet(args, options)
        break
      case 'DaemonSet':
        await kube.apps.patchNamespacedDaemonSet(args, options)
        break
    }
  } catch (err) {
    if (isNotFound(err)) throw new DomainError(`${resourceName(w)} in namespace ${w.namespace} is gone (404): it was deleted since the plan was made; rerun to plan again`, { cause: err })
    throw err
  }
  return restartedAtValue(now)
}

/** A label selector as the API's `labelSelector` query parameter: `app=web,tier in (a,b),!legacy`. */
export function labelSelectorString(selector: V1LabelSelector | undefined): string | undefined {
  if (!selector) return undefined
  const parts = Object.entries(selector.matchLabels ?? {}).map(([key, value]) => `${key}=${value}`)
  for (const r of selector.matchExpressions ?? []) {
    const values = `(${(r.values ?? []).join(',')})`
    if (r.operator === 'In') parts.push(`${r.key} in ${values}`)
    else if (r.operator === 'NotIn') parts.push(`${r.key} notin ${values}`)
    else if (r.operator === 'Exists') parts.push(r.key)
    else if (r.operator === 'DoesNotExist') parts.push(`!${r.key}`)
  }
  return parts.join(',')
}

/** Seams for the waits: tests pass a fake clock and no-op sleep. */
export interface WaitSeams {
  intervalMs?: number
  now?: () => number
  sleep?: (ms: number) => Promise<void>
  everyMs?: number
}

export interface RolloutWait {
  readonly workload: WorkloadRef
  /** The restartedAt value our patch wrote. */
  readonly restartedAt: string
  /** The pods that must be gone: the dependents from before the restart. */
  readonly oldUids: readonly string[]
  readonly timeoutMs: number
  readonly output: Output
  /** Connection flags for the commands named in errors. */
  readonly kubectlArgs?: readonly string[]
  readonly seams?: WaitSeams
}

export interface RolloutDone {
  /** What the controller reports: `2 replicas updated and available`. */
  readonly detail: string
  /** The workload's pods after the rollout (none of the old ones), with their nodes. */
  readonly pods: Array<PodRef & { readonly node: string }>
}

/** `work` through `gate` when there is one. */
const through = <T>(gate: Gate | undefined, work: () => Promise<T>): Promise<T> => (gate ? gate(work) : work())

/** Above this many namespaces, one cluster-wide watch per resource is cheaper than one per namespace. */
export const PER_NAMESPACE_WATCHES = 10

/** Where the waits of a restart should watch: the namespaces of its items, or all when they are many and the run is cluster-wide. */
export function watchScope(where: Namespaces, namespaces: readonly string[]): Namespaces {
  const distinct = [...new Set(namespaces)]
  return where.all && distinct.length > PER_NAMESPACE_WATCHES ? { all: true } : { all: false, namespaces: distinct }
}

/**
 * Whether the pod is still the one the plan saw (same uid), from the shared
 * watch cache: a request for its namespace's first look, none afterwards.
 */
export function podStillThere(kube: Kube, pod: PodRef): Promise<boolean> {
  return withWatchCache(kube, { all: false, namespaces: [pod.namespace] }, async (cache) => {
    await cache.ready(CachedResource.pods, pod.namespace)
    return cache.get<V1Pod>(CachedResource.pods, pod.namespace, pod.name)?.metadata?.uid === pod.uid
  })
}

/** The resource of the cache that holds workloads of `kind`. */
export function cachedResourceOf(kind: RestartableKind): CachedResource {
  return { Deployment: CachedResource.deployments, StatefulSet: CachedResource.statefulsets, DaemonSet: CachedResource.daemonsets }[kind]
}

/** Whether a change in the cache can matter to the pods a wait looks at: theirs by uid or name, or ones the selector picks. */
export function concernsPods(change: CacheChange, which: { uids?: ReadonlySet<string>; name?: string; selector?: V1LabelSelector | undefined }): boolean {
  if (change.resource !== CachedResource.pods) return false
  const meta = change.object?.metadata
  if (!meta) return true
  return (which.uids?.has(meta.uid ?? '') ?? false) || (which.name !== undefined && meta.name === which.name) || selectorMatches(which.selector, meta.labels)
}

/**
 * Waits until the controller reports the rollout of our restart complete
 * (the same rules as `kubectl rollout status`) and none of the old pods is
 * left, not even terminating. A Deployment past its progress deadline fails
 * at once; the deadline ends in an error naming the workload and what to look at.
 * Reads the shared watch cache (watch-cache.ts): no request of its own once
 * the namespace is cached, so any number of rollouts can be waited on at once.
 */
export async function waitForRollout(kube: Kube, wait: RolloutWait): Promise<RolloutDone> {
  const { workload: w, restartedAt, output } = wait
  const args = wait.kubectlArgs ?? []
  const resource = resourceName(w)
  const what = `rollout of ${resource} in ${w.namespace}`
  const hint = `see what holds it up with ${kubectlCommand(...args, 'rollout', 'status', resource, '-n', w.namespace)} and ${kubectlCommand(...args, 'get', 'events', '-n', w.namespace, '--sort-by=.lastTimestamp')}; fix it, then rerun (pods already replaced are not restarted again)`
  const kind = cachedResourceOf(w.kind)
  const oldUids = new Set(wait.oldUids)
  return withWatchCache(kube, { all: false, namespaces: [w.namespace] }, async (cache) => {
    await Promise.all([cache.ready(kind, w.namespace), cache.ready(CachedResource.pods, w.namespace)])
    const current = () => cache.get<Workload>(kind, w.namespace, w.name)
    // The workload's pods and the old ones, kept up to date change by change: with thousands of
    // rollouts at once, re-scanning a namespace's pods for every look was most of the run's CPU and garbage.
    const selector = () => current()?.spec?.selector
    const pods = trackedPods(
      cache,
      w.namespace,
      (pod) => oldUids.has(pod.metadata?.uid ?? '') || selectorMatches(selector(), pod.metadata?.labels),
      () => JSON.stringify(selector() ?? null),
    )
    const state = await waitForChanges<RolloutDone>({
      what,
      timeoutMs: wait.timeoutMs,
      output,
      hint,
      // Every rollout runs at once: a slow one behind the others is not a stuck one,
      // nor one whose controller is starved while the others still move.
      deadline: 'progress',
      lastActivity: () => cache.lastChangeAt,
      ...changeSeams(wait.seams),
      subscribe: (onChange) =>
        cache.subscribe(w.namespace, (change) => {
          const ours = change.resource === kind && (change.object === undefined || change.object.metadata?.name === w.name)
          if (pods.changed(change) || ours) onChange()
        }),
      evaluate: (): WaitState<RolloutDone> => {
        const workload = current()
        if (!workload) throw new DomainError(`${resource} in ${w.namespace} was deleted during its rollout: nothing will replace its pods; find out who deleted it, then rerun`)
        const progress = rolloutProgress(w.kind, workload, pods.current(), restartedAt, oldUids)
        if (progress.failed) throw new DomainError(`rollout of ${resource} in ${w.namespace} failed: ${progress.detail}; ${hint}`)
        if (!progress.done) return { done: false, note: progress.note }
        return { done: true, note: progress.detail, value: { detail: progress.detail, pods: progress.pods } }
      },
    })
    return state.value ?? { detail: state.note ?? 'done', pods: [] }
  })
}

/** The pods of one namespace that a wait picks, as the cache last saw them; see trackedPods. */
export interface TrackedPods {
  /** The picked pods now. */
  current(): V1Pod[]
  /** Takes in a change of the cache; whether it may matter to the picked pods. */
  changed(change: CacheChange): boolean
}

/**
 * The pods a wait looks at, kept change by change instead of filtering the
 * namespace's pods at every look: a pod event costs one lookup by name. The
 * namespace is scanned at the first look, after a re-list (an event without
 * object), and when `criteria` (what `picks` depends on, e.g. a selector)
 * reads differently.
 */
export function trackedPods(cache: Pick<WatchCache, 'list' | 'get'>, namespace: string, picks: (pod: V1Pod) => boolean, criteria: () => string): TrackedPods {
  const kept = new Map<string, V1Pod>()
  let scannedWith: string | undefined
  return {
    current() {
      const now = criteria()
      if (scannedWith !== now) {
        kept.clear()
        for (const pod of cache.list<V1Pod>(CachedResource.pods, namespace)) if (picks(pod)) kept.set(pod.metadata?.name ?? '', pod)
        scannedWith = now
      }
      return [...kept.values()]
    },
    changed(change) {
      if (change.resource !== CachedResource.pods) return false
      const name = change.object?.metadata?.name
      if (name === undefined || scannedWith === undefined) {
        scannedWith = undefined
        return true
      }
      const before = kept.has(name)
      const pod = cache.get<V1Pod>(CachedResource.pods, namespace, name)
      if (pod && picks(pod)) kept.set(name, pod)
      else kept.delete(name)
      return before || kept.has(name) || picks(change.object as V1Pod)
    },
  }
}

/** The seams a watch-driven wait takes (the clock of its progress line; its timers are real). */
function changeSeams(seams: WaitSeams | undefined): Pick<ChangeWaitOptions<unknown>, 'now' | 'everyMs' | 'intervalMs'> {
  return {
    ...(seams?.now ? { now: seams.now } : {}),
    ...(seams?.everyMs === undefined ? {} : { everyMs: seams.everyMs }),
    ...(seams?.intervalMs === undefined ? {} : { intervalMs: seams.intervalMs }),
  }
}

// ---------------------------------------------------------------------------
// Eviction

export type EvictionResult =
  | { readonly kind: 'evicted' }
  /** The pod was already gone (404). */
  | { readonly kind: 'gone' }
  /** 429: a PodDisruptionBudget allows no disruption now; worth retrying. */
  | { readonly kind: 'blocked'; readonly budgets: readonly string[]; readonly message: string }

interface StatusBody {
  message?: string
  details?: { causes?: Array<{ reason?: string; message?: string }> }
}

function statusBody(err: unknown): StatusBody {
  const body = (err as { body?: unknown })?.body
  if (typeof body === 'string') {
    try {
      return JSON.parse(body) as StatusBody
    } catch {
      return { message: body }
    }
  }
  return body !== null && typeof body === 'object' ? (body as StatusBody) : {}
}

/** `The disruption budget web needs 2 healthy pods and has 2 currently` → web. */
const BUDGET_CAUSE = /disruption budget (\S+) needs/

/**
 * Reads an Eviction refusal: the budgets named in its causes, and the
 * message to show (the cause's, which says how many pods are healthy).
 */
export function parseEvictionRefusal(err: unknown): { budgets: string[]; message: string } {
  const body = statusBody(err)
  const causes = (body.details?.causes ?? []).filter((c) => c.reason === 'DisruptionBudget' || BUDGET_CAUSE.test(c.message ?? ''))
  const budgets = causes.map((c) => BUDGET_CAUSE.exec(c.message ?? '')?.[1]).filter((n): n is string => n !== undefined)
  const message = causes.map((c) => c.message).filter(Boolean).join('; ') || body.message || (err instanceof Error ? err.message : String(err))
  return { budgets, message }
}

/** One POST to the pod's eviction subresource (policy/v1), which honours PodDisruptionBudgets. */
export async function evictPod(kube: Kube, namespace: string, name: string, knownBudgets: readonly string[] = []): Promise<EvictionResult> {
  try {
    await kube.core.createNamespacedPodEviction({ namespace, name, body: evictionBody(namespace, name) })
    return { kind: 'evicted' }
  } catch (err) {
    const status = statusOf(err)
    if (status === 404) return { kind: 'gone' }
    if (status === 429) {
      const refusal = parseEvictionRefusal(err)
      const budgets = refusal.budgets.length > 0 ? refusal.budgets : [...knownBudgets]
      return { kind: 'blocked', budgets, message: refusal.message }
    }
    if (status === 500 && /more than one PodDisruptionBudget/i.test(statusBody(err).message ?? '')) {
      const which = knownBudgets.length > 0 ? ` (${knownBudgets.join(', ')})` : ''
      throw new DomainError(
        `cannot evict pod ${namespace}/${name}: it is selected by more than one PodDisruptionBudget${which}, which the Eviction API refuses; make the budgets' selectors disjoint, or delete the pod by hand (${kubectlCommand('delete', 'pod', name, '-n', namespace)}, which bypasses the budgets), then rerun`,
        { cause: err },
      )
    }
    throw err
  }
}

const budgetNames = (namespace: string, budgets: readonly string[]) =>
  budgets.length === 0 ? 'a PodDisruptionBudget' : budgets.map((b) => `PodDisruptionBudget ${namespace}/${b}`).join(', ')

/** What to do about a budget that keeps refusing. */
export function blockedHint(namespace: string, budgets: readonly string[], kubectlArgs: readonly string[] = []): string {
  const look = budgets.length > 0 ? kubectlCommand(...kubectlArgs, 'get', 'pdb', budgets[0]!, '-n', namespace, '-o', 'yaml') : kubectlCommand(...kubectlArgs, 'get', 'pdb', '-n', namespace)
  return `${budgetNames(namespace, budgets)} allows no disruption: wait until its pods are healthy, scale the workload up, or relax the budget (${look}); then rerun`
}

export interface EvictWait {
  readonly pod: V1Pod
  /** Budgets the plan matched to the pod, named if the refusal does not say. */
  readonly budgets?: readonly string[]
  /** For the whole eviction: retries while a budget refuses, and the wait for the replacement. */
  readonly timeoutMs: number
  readonly output: Output
  readonly kubectlArgs?: readonly string[]
  /** Between retries of a refused eviction (default 5 s, as kubectl drain). */
  readonly retryMs?: number
  readonly seams?: WaitSeams
  /** Bounds the eviction requests of many concurrent waits (see limiter). */
  readonly gate?: Gate
}

/**
 * Evicts one pod and waits until it is gone and its controller has as many
 * ready pods as before, so evicting a workload's pods one after another
 * never takes more than one down at a time. A refusal (429) is retried until
 * the deadline, which ends in an error naming the budget and what to do.
 */
export async function evictAndWait(kube: Kube, wait: EvictWait): Promise<{ outcome: 'evicted' | 'gone'; replacements: PodRef[] }> {
  const { pod, output } = wait
  const { namespace, name, uid } = podRef(pod)
  const controllerUid = controllerOf(pod.metadata)?.uid
  const ofController = (p: V1Pod) => controllerUid !== undefined && controllerOf(p.metadata)?.uid === controllerUid
  return withWatchCache(kube, { all: false, namespaces: [namespace] }, async (cache) => {
    await cache.ready(CachedResource.pods, namespace)
    const pods = () => cache.list<V1Pod>(CachedResource.pods, namespace)
    const readyBefore = pods().filter((p) => ofController(p) && isReady(p)).length

    // The timeout message carries the last refusal (which names the budget); the hint says what to do.
    const evicted = await waitWithProgress<'evicted' | 'gone'>({
      what: `eviction of pod ${namespace}/${name}`,
      timeoutMs: wait.timeoutMs,
      output,
      intervalMs: wait.retryMs ?? 5_000,
      ...wait.seams,
      hint: blockedHint(namespace, wait.budgets ?? [], wait.kubectlArgs),
      poll: async () => {
        const result = await through(wait.gate, () => evictPod(kube, namespace, name, wait.budgets))
        if (result.kind !== 'blocked') return { done: true, note: result.kind, value: result.kind }
        return { done: false, note: `refused by ${budgetNames(namespace, result.budgets)}: ${result.message}` }
      },
    })
    const outcome = evicted.value ?? 'evicted'

    const replaced = await waitForChanges<PodRef[]>({
      what: `pod ${namespace}/${name} to be replaced`,
      timeoutMs: wait.timeoutMs,
      output,
      hint: `see why with ${kubectlCommand(...(wait.kubectlArgs ?? []), 'get', 'events', '-n', namespace, '--sort-by=.lastTimestamp')}; then rerun (pods already replaced are not evicted again)`,
      deadline: 'progress',
      ...changeSeams(wait.seams),
      subscribe: (onChange) => cache.subscribe(namespace, (change) => change.resource === CachedResource.pods && onChange()),
      evaluate: () => replacementState(pods(), uid, ofController, readyBefore, controllerUid !== undefined),
    })
    return { outcome, replacements: replaced.value ?? [] }
  })
}

/** After an eviction: done when the pod `uid` is gone and its controller has `readyBefore` ready pods again. */
export function replacementState(pods: readonly V1Pod[], uid: string, ofController: (p: V1Pod) => boolean, readyBefore: number, hasController: boolean): WaitState<PodRef[]> {
  if (pods.some((p) => p.metadata?.uid === uid)) return { done: false, note: 'the old pod is still terminating' }
  const ready = pods.filter((p) => p.metadata?.uid !== uid && ofController(p) && isReady(p))
  if (ready.length < readyBefore) return { done: false, note: `${ready.length} of ${readyBefore} pods of its controller ready` }
  return { done: true, note: hasController ? `${ready.length} pods of its controller ready` : 'gone', value: ready.map(podRef) }
}

// ---------------------------------------------------------------------------
// Re-creating a bare pod

export interface RecreateWait {
  /** The pod as it is now (for its uid). */
  readonly pod: V1Pod
  /** What to create in its place: recreatedPodSpec(pod). */
  readonly replacement: V1Pod
  /** Where its backup was written, named in the error if the create fails. */
  readonly backupFile?: string
  readonly timeoutMs: number
  readonly output: Output
  readonly kubectlArgs?: readonly string[]
  readonly seams?: WaitSeams
  /** Bounds the delete and create of many concurrent re-creations (see limiter). */
  readonly gate?: Gate
}

/**
 * Deletes a bare pod (only that uid: a precondition), waits until it is
 * gone, creates it again from `replacement` under the same name and waits
 * until it runs. The caller must have backed the pod up first.
 */
export async function recreatePod(kube: Kube, wait: RecreateWait): Promise<PodRef> {
  const { pod, output } = wait
  const { namespace, name, uid } = podRef(pod)
  const args = wait.kubectlArgs ?? []
  return withWatchCache(kube, { all: false, namespaces: [namespace] }, async (cache) => {
    await cache.ready(CachedResource.pods, namespace)
    const read = () => cache.get<V1Pod>(CachedResource.pods, namespace, name)
    const subscribe = (onChange: () => void) => cache.subscribe(namespace, (change) => concernsPods(change, { name }) && onChange())

    try {
      await through(wait.gate, () => kube.core.deleteNamespacedPod({ namespace, name, body: { preconditions: { uid } } }))
    } catch (err) {
      // 404: already gone; 409: a pod of that name with another uid, someone re-created it.
      if (!isNotFound(err) && statusOf(err) !== 409) throw err
    }
    const gone = await waitForChanges<V1Pod | undefined>({
      what: `bare pod ${namespace}/${name} to be deleted`,
      timeoutMs: wait.timeoutMs,
      output,
      hint: `see what holds it (finalizers, a stopped node) with ${kubectlCommand(...args, 'get', 'pod', name, '-n', namespace, '-o', 'yaml')}; then rerun`,
      deadline: 'progress',
      ...changeSeams(wait.seams),
      subscribe,
      evaluate: () => deletionState(read(), uid),
    })
    if (gone.value) return podRef(gone.value)

    const restore = wait.backupFile ? `; create it from the backup: ${kubectlCommand(...args, 'create', '-f', wait.backupFile)} (after removing status and metadata.uid/resourceVersion)` : ''
    for (let attempt = 1; ; attempt++) {
      let created: V1Pod
      try {
        created = await through(wait.gate, () => kube.core.createNamespacedPod({ namespace, body: wait.replacement }))
      } catch (err) {
        const reason = statusBody(err).message ?? (err instanceof Error ? err.message : String(err))
        throw new DomainError(`bare pod ${namespace}/${name} was deleted but could not be created again: ${reason}${restore}`, { cause: err })
      }
      const running = runningState(created.metadata?.uid ?? '', `re-created pod ${namespace}/${name} was replaced by another pod of that name before it ran${restore}`)
      const outcome = await waitForChanges<'running' | 'vanished'>({
        what: `re-created pod ${namespace}/${name} to run`,
        timeoutMs: wait.timeoutMs,
        output,
        hint: `see why with ${kubectlCommand(...args, 'describe', 'pod', name, '-n', namespace)}; then rerun`,
        deadline: 'progress',
        ...changeSeams(wait.seams),
        subscribe,
        evaluate: () => running(read()),
      })
      if (outcome.value !== 'vanished') return podRef(created)
      // Deleted by name by whoever still acted on the old pod (a lagging kubelet or kwok): ours to put back, a few times.
      if (attempt >= RECREATE_ATTEMPTS) throw new DomainError(`re-created pod ${namespace}/${name} was deleted before it ran, ${attempt} times; find out what deletes it (kubectl get events -n ${namespace}), then rerun${restore}`)
      output.warn(`re-created pod ${namespace}/${name} was deleted before it ran; creating it again (attempt ${attempt + 1} of ${RECREATE_ATTEMPTS})`)
    }
  })
}

/** After deleting the pod `uid`: done when the name is free, or taken by another pod (its value). */
export function deletionState(current: V1Pod | undefined, uid: string): WaitState<V1Pod | undefined> {
  if (current?.metadata?.uid === uid) return { done: false, note: current.metadata.deletionTimestamp ? 'terminating' : 'still there' }
  return { done: true, note: current ? 'replaced by someone else' : 'deleted', value: current }
}

/** How many times a re-created bare pod is put back when something deletes it before it runs. */
export const RECREATE_ATTEMPTS = 3

/**
 * The check that a pod we created runs. Before the watch shows it, its
 * absence is the watch lagging; once shown, its absence means it was
 * deleted (`vanished`: the caller may create it again). Another pod under
 * its name means someone replaced it, which fails with `replaced`.
 */
export function runningState(newUid: string, replaced: string): (current: V1Pod | undefined) => WaitState<'running' | 'vanished'> {
  let seen = false
  return (current) => {
    if (current === undefined) return seen ? { done: true, note: 'deleted before it ran', value: 'vanished' } : { done: false, note: 'created, not in the watch cache yet' }
    if (current.metadata?.uid !== newUid) throw new DomainError(replaced)
    seen = true
    const phase = current.status?.phase ?? 'Pending'
    return phase === 'Running' || phase === 'Succeeded' ? { done: true, note: phase, value: 'running' } : { done: false, note: phase }
  }
}
