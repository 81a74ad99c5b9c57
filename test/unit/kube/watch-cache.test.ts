// The shared watch cache: the store events leave behind, and the informer's
// life (one list, then a watch that resumes; closed with its last holder).
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { ObjectStore, watchPath, withWatchCache, type CacheChange } from '../../../lib/kube/watch-cache.ts'
import { fakeCluster } from '../helpers/fake-watch.ts'
import { makePod } from '../helpers/objects.ts'

const pod = (name: string, namespace = 'a', uid = name) => makePod(name, { namespace, uid })

describe('ObjectStore', () => {
  it('keeps added and modified objects by namespace, drops deleted ones, and says whether it changed', () => {
    const store = new ObjectStore()
    expect(store.apply('ADDED', pod('p1'))).toBe(true)
    expect(store.apply('MODIFIED', pod('p1', 'a', 'p1-v2'))).toBe(true)
    expect(store.apply('ADDED', pod('p2', 'b'))).toBe(true)
    expect(store.apply('BOOKMARK', pod('p3'))).toBe(false)
    expect(store.get('a', 'p1')?.metadata?.uid).toBe('p1-v2')
    expect(store.in('a').map((p) => p.metadata?.name)).toEqual(['p1'])
    expect(store.apply('DELETED', pod('p1'))).toBe(true)
    expect(store.apply('DELETED', pod('p1'))).toBe(false)
    expect(store.in('a')).toEqual([])
  })

  it('replace() swaps in a fresh list and names every namespace that may have changed', () => {
    const store = new ObjectStore()
    store.apply('ADDED', pod('old', 'gone'))
    const touched = store.replace([pod('p1', 'a'), pod('p2', 'b')])
    expect([...touched].sort()).toEqual(['a', 'b', 'gone'])
    expect(store.in('gone')).toEqual([])
  })
})

describe('watchPath', () => {
  it.each([
    ['pods', undefined, '/api/v1/pods'],
    ['pods', 'kube-system', '/api/v1/namespaces/kube-system/pods'],
    ['daemonsets', 'calico-system', '/apis/apps/v1/namespaces/calico-system/daemonsets'],
    ['deployments', undefined, '/apis/apps/v1/deployments'],
  ] as const)('%s in %s → %s', (resource, namespace, path) => {
    expect(watchPath(resource, namespace)).toBe(path)
  })
})

describe('withWatchCache', () => {
  beforeEach(() => {
    vi.useFakeTimers()
  })
  afterEach(() => {
    vi.useRealTimers()
  })

  it('lists once, follows the watch, tells the namespace listeners, and closes with its last holder', async () => {
    const cluster = fakeCluster({ pods: [pod('p1', 'a'), pod('p2', 'b')] })
    const seen: CacheChange[] = []
    await withWatchCache(cluster.kube, { all: true }, async (outer) => {
      await withWatchCache(cluster.kube, { all: false, namespaces: ['a'] }, async (inner) => {
        expect(inner).toBe(outer)
        await inner.ready('pods', 'a')
        await inner.ready('pods', 'b')
      })
      outer.subscribe('a', (change) => seen.push(change))
      await vi.advanceTimersByTimeAsync(10)
      cluster.emit('pods', 'ADDED', pod('p3', 'a'))
      cluster.emit('pods', 'DELETED', pod('p2', 'b'))
      expect(outer.list('pods', 'a').map((p) => p.metadata?.name)).toEqual(['p1', 'p3'])
      expect(outer.list('pods', 'b')).toEqual([])
      expect(cluster.openWatches()).toBe(1)
    })
    expect(cluster.lists).toEqual({ pods: 1 })
    expect(seen.map((c) => c.object?.metadata?.name)).toEqual(['p3'])
    expect(cluster.openWatches()).toBe(0)
  })

  it('watches only the namespace asked for when nobody opened it cluster-wide', async () => {
    const cluster = fakeCluster({ pods: [pod('p1', 'a'), pod('p2', 'b')] })
    await withWatchCache(cluster.kube, { all: false, namespaces: ['a'] }, async (cache) => {
      await cache.ready('pods', 'a')
      expect(cache.list('pods', 'a')).toHaveLength(1)
      await vi.advanceTimersByTimeAsync(10)
      cluster.emit('pods', 'ADDED', pod('p9', 'b'))
      expect(cache.list('pods', 'a')).toHaveLength(1)
    })
  })

  it('fails the waits with the first list error (RBAC), instead of retrying forever', async () => {
    const forbidden = Object.assign(new Error('HTTP 403'), { code: 403 })
    const cluster = fakeCluster(
      {},
      {
        core: {
          listNamespacedPod: async () => {
            throw forbidden
          },
        },
      },
    )
    await expect(withWatchCache(cluster.kube, { all: false, namespaces: ['a'] }, (cache) => cache.ready('pods', 'a'))).rejects.toBe(forbidden)
  })
})
