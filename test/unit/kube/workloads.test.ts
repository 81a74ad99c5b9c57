// The cluster side of restarts, against fake clients and a fake clock: what
// an Eviction refusal means, when a rollout is done, and what the errors say.
import { ApiException, KubeConfig, type V1Deployment, type V1Pod } from '@kubernetes/client-node'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { DomainError } from '../../../lib/errors.ts'
import type { Kube } from '../../../lib/kube/clients.ts'
import {
  evictAndWait,
  evictPod,
  labelSelectorString,
  parseEvictionRefusal,
  concernsPods,
  deletionState,
  recreatePod,
  replacementState,
  rolloutRestart,
  runningState,
  trackedPods,
  waitForRollout,
  watchScope,
  type WaitSeams,
} from '../../../lib/kube/workloads.ts'
import { ObjectStore, withWatchCache, type CacheChange } from '../../../lib/kube/watch-cache.ts'
import { serverClock } from '../../../lib/kube/raw.ts'
import type { Gate } from '../../../lib/concurrency.ts'
import { createOutput, memorySink } from '../../../lib/output.ts'
import { RESTARTED_AT_ANNOTATION } from '../../../lib/workloads/restarted-at.ts'
import { recreatedPodSpec } from '../../../lib/workloads/restart-plan.ts'
import { fakeCluster } from '../helpers/fake-watch.ts'
import { makeDeployment, makePod, ownerRef } from '../helpers/objects.ts'

const RESTARTED_AT = '2026-01-01T12:00:00Z'

/** The body the API server sent for a refused eviction (captured from the local cluster). */
const REFUSED_BODY = JSON.stringify({
  kind: 'Status',
  apiVersion: 'v1',
  metadata: {},
  status: 'Failure',
  message: "Cannot evict pod as it would violate the pod's disruption budget.",
  reason: 'TooManyRequests',
  details: { causes: [{ reason: 'DisruptionBudget', message: 'The disruption budget web needs 2 healthy pods and has 2 currently' }] },
  code: 429,
})

const apiError = (code: number, body: unknown = '') => new ApiException(code, `HTTP ${code}`, body, {})

function fakeKube(parts: { core?: Record<string, unknown>; apps?: Record<string, unknown> }): Kube {
  return { kc: new KubeConfig(), core: parts.core ?? {}, apps: parts.apps ?? {}, patchAs: (type: string) => ({ contentType: type }) } as unknown as Kube
}

/** A clock that only moves when the wait sleeps. */
function fakeClock(): WaitSeams & { now: () => number } {
  let t = 0
  return {
    now: () => t,
    sleep: async (ms: number) => {
      t += ms
    },
    intervalMs: 1_000,
  }
}

function output() {
  const stderr = memorySink()
  return { stderr, output: createOutput({ format: 'text', stdout: memorySink(), stderr, isTTY: false, noColor: true, redactor: { redact: (t) => t } }) }
}

function ready(pod: V1Pod): V1Pod {
  pod.status = { ...pod.status, conditions: [{ type: 'Ready', status: 'True' }] }
  return pod
}

describe('labelSelectorString', () => {
  it.each([
    [{ matchLabels: { app: 'web' } }, 'app=web'],
    [{ matchLabels: { app: 'web', tier: 'front' } }, 'app=web,tier=front'],
    [
      {
        matchExpressions: [
          { key: 'env', operator: 'In', values: ['a', 'b'] },
          { key: 'zone', operator: 'NotIn', values: ['x'] },
          { key: 'managed', operator: 'Exists' },
          { key: 'legacy', operator: 'DoesNotExist' },
        ],
      },
      'env in (a,b),zone notin (x),managed,!legacy',
    ],
    [undefined, undefined],
  ])('%j → %s', (selector, text) => {
    expect(labelSelectorString(selector)).toBe(text)
  })
})

describe('parseEvictionRefusal', () => {
  it('names the budget from the causes, with their message', () => {
    expect(parseEvictionRefusal(apiError(429, REFUSED_BODY))).toEqual({
      budgets: ['web'],
      message: 'The disruption budget web needs 2 healthy pods and has 2 currently',
    })
  })

  it('falls back to the status message when there are no causes', () => {
    expect(parseEvictionRefusal(apiError(429, { message: 'too many requests' }))).toEqual({ budgets: [], message: 'too many requests' })
  })
})

describe('evictPod', () => {
  const evicting = (result: () => Promise<unknown>) => {
    const createNamespacedPodEviction = vi.fn(result)
    return { kube: fakeKube({ core: { createNamespacedPodEviction } }), createNamespacedPodEviction }
  }

  it('posts a policy/v1 Eviction for the pod', async () => {
    const { kube, createNamespacedPodEviction } = evicting(async () => ({}))
    expect(await evictPod(kube, 'ns', 'web-1')).toEqual({ kind: 'evicted' })
    expect(createNamespacedPodEviction).toHaveBeenCalledWith({
      namespace: 'ns',
      name: 'web-1',
      body: { apiVersion: 'policy/v1', kind: 'Eviction', metadata: { name: 'web-1', namespace: 'ns' } },
    })
  })

  it.each([
    ['a pod already gone (404)', apiError(404), { kind: 'gone' }],
    ['a refusal (429), naming the budget', apiError(429, REFUSED_BODY), { kind: 'blocked', budgets: ['web'], message: expect.stringContaining('needs 2 healthy pods') }],
    ['a refusal without causes, naming the budgets the plan knew', apiError(429, '{}'), { kind: 'blocked', budgets: ['known'], message: expect.any(String) }],
  ])('reads %s', async (_what, err, expected) => {
    const { kube } = evicting(async () => {
      throw err
    })
    expect(await evictPod(kube, 'ns', 'web-1', ['known'])).toEqual(expected)
  })

  it('explains a pod under two budgets (500), which retrying cannot fix', async () => {
    const { kube } = evicting(async () => {
      throw apiError(500, JSON.stringify({ message: 'This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.' }))
    })
    const err = await evictPod(kube, 'ns', 'web-1', ['a', 'b']).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(DomainError)
    expect((err as Error).message).toMatch(/selected by more than one PodDisruptionBudget \(a, b\).*kubectl delete pod web-1 -n ns/)
  })

  it('rethrows anything else', async () => {
    const { kube } = evicting(async () => {
      throw apiError(403)
    })
    await expect(evictPod(kube, 'ns', 'web-1')).rejects.toMatchObject({ code: 403 })
  })
})

describe('rolloutRestart', () => {
  it('sends the restartedAt strategic merge patch and returns the value written', async () => {
    const patchNamespacedDeployment = vi.fn(async () => ({}))
    const kube = fakeKube({ apps: { patchNamespacedDeployment } })
    const value = await rolloutRestart(kube, { kind: 'Deployment', namespace: 'ns', name: 'web' }, new Date('2026-01-01T12:00:00.789Z'))
    expect(value).toBe(RESTARTED_AT)
    expect(patchNamespacedDeployment).toHaveBeenCalledWith(
      { namespace: 'ns', name: 'web', body: { spec: { template: { metadata: { annotations: { [RESTARTED_AT_ANNOTATION]: RESTARTED_AT } } } } } },
      expect.anything(),
    )
  })

  it('says the workload is gone on 404', async () => {
    const kube = fakeKube({
      apps: {
        patchNamespacedStatefulSet: async () => {
          throw apiError(404)
        },
      },
    })
    await expect(rolloutRestart(kube, { kind: 'StatefulSet', namespace: 'ns', name: 'db' }, new Date())).rejects.toThrow(/statefulset\/db in namespace ns is gone.*rerun/)
  })
})

describe('waitForRollout', () => {
  const oldPod = makePod('web-old', { uid: 'old', labels: { app: 'web' } })
  const newPods = [ready(makePod('web-a', { uid: 'new-a', labels: { app: 'web' } })), ready(makePod('web-b', { uid: 'new-b', labels: { app: 'web' } }))]
  const deployment = (status: V1Deployment['status'], generation = 2): V1Deployment =>
    makeDeployment('web', { replicas: 2, generation, restartedAt: RESTARTED_AT, status: { observedGeneration: generation, ...status } })

  beforeEach(() => {
    vi.useFakeTimers()
  })
  afterEach(() => {
    vi.useRealTimers()
  })

  const wait = (kube: Kube, timeoutMs = 60_000, name = 'web') => {
    const { output: out, stderr } = output()
    const run = waitForRollout(kube, {
      workload: { kind: 'Deployment', namespace: 'default', name },
      restartedAt: RESTARTED_AT,
      oldUids: ['old'],
      timeoutMs,
      output: out,
      seams: { everyMs: 0 },
    })
    run.catch(() => undefined)
    return { run, stderr }
  }

  it('waits on the watch until the controller reports the rollout done and the old pods are gone, without a GET', async () => {
    const cluster = fakeCluster({ deployments: [deployment({ replicas: 3, updatedReplicas: 1, availableReplicas: 2 })], pods: [oldPod, ...newPods] })
    const { run, stderr } = wait(cluster.kube)
    await vi.advanceTimersByTimeAsync(10)
    expect(stderr.text()).toContain('waiting for rollout of deployment/web in default: 1 of 2 replicas updated; 1 old pod(s) still there: web-old')
    cluster.emit('deployments', 'MODIFIED', deployment({ replicas: 2, updatedReplicas: 2, availableReplicas: 2 }))
    await vi.advanceTimersByTimeAsync(500)
    expect(stderr.text()).toContain('2 replicas updated and available; 1 old pod(s) still there: web-old')
    cluster.emit('pods', 'MODIFIED', makePod('web-old', { uid: 'old', labels: { app: 'web' }, deletionTimestamp: new Date() }))
    cluster.emit('pods', 'DELETED', oldPod)
    await vi.advanceTimersByTimeAsync(500)
    const done = await run
    expect(done.pods.map((p) => p.uid)).toEqual(['new-a', 'new-b'])
    expect(done.detail).toBe('2 replicas updated and available')
    expect(cluster.lists).toEqual({ deployments: 1, pods: 1 })
    expect(cluster.openWatches()).toBe(0)
  })

  it('shares one list and one watch per resource between concurrent rollouts', async () => {
    const other = makeDeployment('api', { replicas: 1, generation: 2, restartedAt: RESTARTED_AT, status: { observedGeneration: 2, replicas: 1, updatedReplicas: 1, availableReplicas: 1 } })
    const cluster = fakeCluster({ deployments: [deployment({ replicas: 2, updatedReplicas: 1 }), other], pods: [oldPod, ...newPods] })
    const both = withWatchCache(cluster.kube, { all: true }, async () => {
      const runs = [wait(cluster.kube).run, wait(cluster.kube, 60_000, 'api').run]
      await vi.advanceTimersByTimeAsync(10)
      expect(cluster.openWatches()).toBe(2)
      cluster.emit('deployments', 'MODIFIED', deployment({ replicas: 2, updatedReplicas: 2, availableReplicas: 2 }))
      cluster.emit('pods', 'DELETED', oldPod)
      await vi.advanceTimersByTimeAsync(500)
      return Promise.all(runs)
    })
    const [web, api] = await both
    expect(web?.detail).toBe('2 replicas updated and available')
    expect(api?.detail).toBe('1 replicas updated and available')
    expect(cluster.lists).toEqual({ deployments: 1, pods: 1 })
    expect(cluster.openWatches()).toBe(0)
  })

  it('fails at once when the Deployment exceeded its progress deadline, naming what to check', async () => {
    const cluster = fakeCluster({
      deployments: [deployment({ conditions: [{ type: 'Progressing', status: 'False', reason: 'ProgressDeadlineExceeded', message: 'ReplicaSet "web-2" has timed out progressing.' }] })],
      pods: [oldPod],
    })
    const { run } = wait(cluster.kube)
    await vi.advanceTimersByTimeAsync(10)
    await expect(run).rejects.toThrow(/rollout of deployment\/web in default failed: progress deadline exceeded.*kubectl rollout status deployment\/web -n default/)
  })

  it('fails when the workload is deleted during its rollout', async () => {
    const cluster = fakeCluster({ deployments: [deployment({ replicas: 2, updatedReplicas: 1 })], pods: [oldPod] })
    const { run } = wait(cluster.kube)
    await vi.advanceTimersByTimeAsync(10)
    cluster.emit('deployments', 'DELETED', deployment({}))
    await vi.advanceTimersByTimeAsync(500)
    await expect(run).rejects.toThrow(/deployment\/web in default was deleted during its rollout/)
  })

  it('fails after the deadline without progress, naming the workload and how far it got; progress restarts the deadline', async () => {
    const cluster = fakeCluster({ deployments: [deployment({ replicas: 2, updatedReplicas: 0 })], pods: [oldPod, ...newPods] })
    const { run } = wait(cluster.kube, 10_000)
    await vi.advanceTimersByTimeAsync(8_000)
    cluster.emit('deployments', 'MODIFIED', deployment({ replicas: 2, updatedReplicas: 1 }))
    await vi.advanceTimersByTimeAsync(8_000)
    expect(cluster.openWatches()).toBe(2)
    await vi.advanceTimersByTimeAsync(3_000)
    const err = await run.catch((e: unknown) => e)
    expect(err).toBeInstanceOf(DomainError)
    expect((err as Error).message).toMatch(/^no progress for 10s waiting for rollout of deployment\/web in default \(1 of 2 replicas updated; 1 old pod\(s\) still there: web-old\); see what holds it up/)
    expect(cluster.openWatches()).toBe(0)
  })
})

describe('evictAndWait', () => {
  const owner = ownerRef('ReplicaSet', 'web-5d9')
  const pod = ready(makePod('web-5d9-aaaaa', { uid: 'old', owner }))
  const sibling = ready(makePod('web-5d9-bbbbb', { uid: 'sib', owner }))
  const replacement = ready(makePod('web-5d9-ccccc', { uid: 'new', owner }))

  it('retries a refused eviction until the deadline, then names the budget and what to do', async () => {
    const cluster = fakeCluster(
      { pods: [pod, sibling] },
      {
        core: {
          createNamespacedPodEviction: async () => {
            throw apiError(429, REFUSED_BODY)
          },
        },
      },
    )
    const { output: out } = output()
    const err = await evictAndWait(cluster.kube, { pod, budgets: ['web'], timeoutMs: 30_000, output: out, seams: fakeClock() }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(DomainError)
    const message = (err as Error).message
    expect(message).toContain('waiting for eviction of pod default/web-5d9-aaaaa (refused by PodDisruptionBudget default/web: The disruption budget web needs 2 healthy pods')
    expect(message).toContain('kubectl get pdb web -n default -o yaml')
    expect(cluster.openWatches()).toBe(0)
  })

  it('evicts through the gate, then waits on the watch until the old pod is gone and its controller is as ready as before', async () => {
    let writes = 0
    const gate: Gate = (work) => {
      writes++
      return work()
    }
    const cluster = fakeCluster({ pods: [pod, sibling] }, { core: { createNamespacedPodEviction: async () => ({}) } })
    const { output: out } = output()
    const run = evictAndWait(cluster.kube, { pod, timeoutMs: 30_000, output: out, gate })
    await new Promise((resolve) => setTimeout(resolve, 20))
    cluster.emit('pods', 'DELETED', pod)
    cluster.emit('pods', 'ADDED', replacement)
    const result = await run
    expect(writes).toBe(1)
    expect(result.outcome).toBe('evicted')
    expect(result.replacements.map((p) => p.uid).sort()).toEqual(['new', 'sib'])
  })
})

describe('recreatePod', () => {
  it('deletes only that pod (uid precondition), creates the replacement and waits on the watch until it runs', async () => {
    const pod = makePod('lonely', { uid: 'old' })
    const replacement = recreatedPodSpec(pod)
    const deleteNamespacedPod = vi.fn(async () => ({}))
    const createNamespacedPod = vi.fn(async () => makePod('lonely', { uid: 'new', phase: 'Pending' }))
    const readNamespacedPod = vi.fn()
    const cluster = fakeCluster({ pods: [pod] }, { core: { deleteNamespacedPod, createNamespacedPod, readNamespacedPod } })
    const { output: out } = output()
    const run = recreatePod(cluster.kube, { pod, replacement, timeoutMs: 30_000, output: out })
    await new Promise((resolve) => setTimeout(resolve, 20))
    cluster.emit('pods', 'DELETED', pod)
    await new Promise((resolve) => setTimeout(resolve, 300))
    cluster.emit('pods', 'ADDED', makePod('lonely', { uid: 'new', phase: 'Pending' }))
    cluster.emit('pods', 'MODIFIED', makePod('lonely', { uid: 'new' }))
    const created = await run
    expect(created).toEqual({ namespace: 'default', name: 'lonely', uid: 'new' })
    expect(deleteNamespacedPod).toHaveBeenCalledWith({ namespace: 'default', name: 'lonely', body: { preconditions: { uid: 'old' } } })
    expect(createNamespacedPod).toHaveBeenCalledWith({ namespace: 'default', body: replacement })
    expect(readNamespacedPod).not.toHaveBeenCalled()
  })

  it('creates the pod again when something deletes it by name before it runs (a kubelet acting on the old pod)', async () => {
    const pod = makePod('lonely', { uid: 'old' })
    const uids = ['new-1', 'new-2']
    const createNamespacedPod = vi.fn(async () => makePod('lonely', { uid: uids.shift()!, phase: 'Pending' }))
    const cluster = fakeCluster({ pods: [pod] }, { core: { deleteNamespacedPod: async () => ({}), createNamespacedPod } })
    const { output: out, stderr } = output()
    const run = recreatePod(cluster.kube, { pod, replacement: recreatedPodSpec(pod), timeoutMs: 30_000, output: out })
    await new Promise((resolve) => setTimeout(resolve, 20))
    cluster.emit('pods', 'DELETED', pod)
    await new Promise((resolve) => setTimeout(resolve, 300))
    cluster.emit('pods', 'ADDED', makePod('lonely', { uid: 'new-1', phase: 'Pending' }))
    await new Promise((resolve) => setTimeout(resolve, 300))
    cluster.emit('pods', 'DELETED', makePod('lonely', { uid: 'new-1', phase: 'Pending' }))
    await new Promise((resolve) => setTimeout(resolve, 300))
    cluster.emit('pods', 'ADDED', makePod('lonely', { uid: 'new-2' }))
    expect(await run).toEqual({ namespace: 'default', name: 'lonely', uid: 'new-2' })
    expect(createNamespacedPod).toHaveBeenCalledTimes(2)
    expect(stderr.text()).toContain('re-created pod default/lonely was deleted before it ran; creating it again (attempt 2 of 3)')
  })

  it('names the backup when the pod was deleted but cannot be created again', async () => {
    const pod = makePod('lonely', { uid: 'old' })
    const cluster = fakeCluster(
      { pods: [] },
      {
        core: {
          deleteNamespacedPod: async () => ({}),
          createNamespacedPod: async () => {
            throw apiError(422, JSON.stringify({ message: 'Pod "lonely" is invalid: spec.containers: Required value' }))
          },
        },
      },
    )
    const { output: out } = output()
    await expect(
      recreatePod(cluster.kube, { pod, replacement: recreatedPodSpec(pod), backupFile: '/backups/pod/default/lonely.json', timeoutMs: 30_000, output: out, seams: fakeClock() }),
    ).rejects.toThrow(/bare pod default\/lonely was deleted but could not be created again: Pod "lonely" is invalid.*kubectl create -f \/backups\/pod\/default\/lonely.json/)
  })
})

describe('deletionState and runningState', () => {
  it.each([
    ['the pod still there', makePod('p', { uid: 'old' }), { done: false, note: 'still there' }],
    ['the pod terminating', makePod('p', { uid: 'old', deletionTimestamp: new Date() }), { done: false, note: 'terminating' }],
    ['the name free', undefined, { done: true, note: 'deleted', value: undefined }],
  ])('after a delete: %s', (_what, current, expected) => {
    expect(deletionState(current, 'old')).toEqual(expected)
  })

  it('after a delete: another pod under the name is someone else\'s re-creation', () => {
    const other = makePod('p', { uid: 'theirs' })
    expect(deletionState(other, 'old')).toMatchObject({ done: true, note: 'replaced by someone else', value: other })
  })

  it('a created pod the watch has not shown yet is awaited; one it showed and then lost was deleted (vanished)', () => {
    const running = runningState('new', 'replaced')
    expect(running(undefined)).toEqual({ done: false, note: 'created, not in the watch cache yet' })
    expect(running(makePod('p', { uid: 'new', phase: 'Pending' }))).toEqual({ done: false, note: 'Pending' })
    expect(running(makePod('p', { uid: 'new' }))).toEqual({ done: true, note: 'Running', value: 'running' })
    expect(running(undefined)).toEqual({ done: true, note: 'deleted before it ran', value: 'vanished' })
  })

  it('a created pod replaced by another uid fails', () => {
    expect(() => runningState('new', 'replaced')(makePod('p', { uid: 'other' }))).toThrow('replaced')
  })
})

describe('replacementState', () => {
  const owner = ownerRef('ReplicaSet', 'web-5d9')
  const mine = (p: V1Pod) => p.metadata?.ownerReferences?.[0]?.uid === owner.uid
  const old = ready(makePod('a', { uid: 'old', owner }))
  const sibling = ready(makePod('b', { uid: 'sib', owner }))
  const fresh = makePod('c', { uid: 'new', owner })

  it.each([
    ['the old pod still there', [old, sibling], { done: false, note: 'the old pod is still terminating' }],
    ['fewer ready than before', [sibling, fresh], { done: false, note: '1 of 2 pods of its controller ready' }],
    ['as many ready as before', [sibling, ready(makePod('c', { uid: 'new', owner }))], { done: true, note: '2 pods of its controller ready' }],
  ])('%s', (_what, pods, expected) => {
    expect(replacementState(pods, 'old', mine, 2, true)).toMatchObject(expected)
  })
})

describe('watchScope and concernsPods', () => {
  const many = Array.from({ length: 11 }, (_, i) => `ns-${i}`)
  it.each([
    ['a cluster-wide run over many namespaces watches everything', { all: true } as const, many, { all: true }],
    ['a cluster-wide run over few namespaces watches those', { all: true } as const, ['a', 'b', 'a'], { all: false, namespaces: ['a', 'b'] }],
    ['a namespaced run watches its namespaces, however many', { all: false, namespaces: many } as const, many, { all: false, namespaces: many }],
  ])('%s', (_what, where, namespaces, expected) => {
    expect(watchScope(where, namespaces)).toEqual(expected)
  })

  it.each([
    ['a pod the selector picks', { labels: { app: 'web' } }, true],
    ['an old pod by uid', { uid: 'old', labels: { app: 'other' } }, true],
    ['an unrelated pod', { uid: 'x', labels: { app: 'other' } }, false],
  ])('%s', (_what, metadata, expected) => {
    expect(concernsPods({ resource: 'pods', namespace: 'default', object: { metadata } }, { uids: new Set(['old']), selector: { matchLabels: { app: 'web' } } })).toBe(expected)
  })

  it('a re-list (no object) concerns every wait; a workload change concerns no pod wait', () => {
    expect(concernsPods({ resource: 'pods', namespace: 'default' }, {})).toBe(true)
    expect(concernsPods({ resource: 'deployments', namespace: 'default', object: {} }, { name: 'x' })).toBe(false)
  })
})

describe('trackedPods', () => {
  const pod = (name: string, app: string, uid = name) => ({ metadata: { name, namespace: 'default', uid, labels: { app } } }) as V1Pod
  function setup() {
    const store = new ObjectStore<V1Pod>()
    let scans = 0
    const cache = {
      list: <T,>() => (scans++, store.in('default') as T[]),
      get: <T,>(_resource: string, namespace: string, name: string) => store.get(namespace, name) as T | undefined,
    }
    let app = 'web'
    const tracked = trackedPods(cache as never, 'default', (p) => p.metadata?.labels?.app === app, () => app)
    const event = (type: string, p: V1Pod): boolean => {
      store.apply(type, p)
      return tracked.changed({ resource: 'pods', namespace: 'default', object: p } as CacheChange)
    }
    return { store, tracked, event, scans: () => scans, pick: (next: string) => (app = next) }
  }
  const names = (pods: V1Pod[]) => pods.map((p) => p.metadata?.name).sort()

  it('scans the namespace once, then follows each pod event by name', () => {
    const { store, tracked, event, scans } = setup()
    store.apply('ADDED', pod('web-1', 'web'))
    store.apply('ADDED', pod('db-1', 'db'))
    expect(names(tracked.current())).toEqual(['web-1'])
    expect(event('ADDED', pod('web-2', 'web'))).toBe(true)
    expect(event('ADDED', pod('db-2', 'db'))).toBe(false)
    expect(event('DELETED', pod('web-1', 'web'))).toBe(true)
    // A pod relabelled out of the selection leaves it, and that matters to the wait.
    expect(event('MODIFIED', pod('web-2', 'other'))).toBe(true)
    expect(names(tracked.current())).toEqual([])
    // A new pod under an old name is the pod the cache holds now.
    expect(event('ADDED', pod('web-1', 'web', 'second'))).toBe(true)
    expect(tracked.current().map((p) => p.metadata?.uid)).toEqual(['second'])
    expect(scans()).toBe(1)
  })

  it('scans again after a re-list and when what it picks by changes', () => {
    const { store, tracked, scans, pick } = setup()
    store.apply('ADDED', pod('web-1', 'web'))
    store.apply('ADDED', pod('db-1', 'db'))
    tracked.current()
    store.apply('ADDED', pod('web-9', 'web'))
    expect(tracked.changed({ resource: 'pods', namespace: 'default' })).toBe(true)
    expect(names(tracked.current())).toEqual(['web-1', 'web-9'])
    pick('db')
    expect(names(tracked.current())).toEqual(['db-1'])
    expect(scans()).toBe(3)
    expect(tracked.changed({ resource: 'deployments', namespace: 'default', object: {} })).toBe(false)
  })
})

describe('serverClock', () => {
  it('asks the server once and adds the time elapsed here', async () => {
    let t = 1_000
    const kc = new KubeConfig()
    const read = vi.fn(async () => {
      t += 200 // the request's own time: the reading stays at or after the server's clock
      return new Date('2026-01-01T00:00:00Z')
    })
    const clock = await serverClock(kc, () => new Date(0), () => t, read)
    t += 90_000
    expect(clock().toISOString()).toBe('2026-01-01T00:01:30.200Z')
    expect(read).toHaveBeenCalledTimes(1)
  })
})
