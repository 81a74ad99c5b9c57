// A fake API server for the shared watch cache: paged lists served from the
// objects given, and watches the test drives with emit(). Counts what the
// cache asked for, so tests can say "one list, one watch, no GET".
import { KubeConfig, type V1ObjectMeta } from '@kubernetes/client-node'
import type { Kube } from '../../../lib/kube/clients.ts'
import type { CachedResource } from '../../../lib/kube/watch-cache.ts'

type Obj = { metadata?: V1ObjectMeta }

interface Handler {
  readonly path: string
  readonly callback: (type: string, object: unknown) => void
}

export interface FakeCluster {
  readonly kube: Kube
  /** Delivers a watch event to every open watch on `resource` that covers the object's namespace. */
  emit(resource: CachedResource, type: 'ADDED' | 'MODIFIED' | 'DELETED', object: Obj): void
  /** Lists served, by resource. */
  readonly lists: Record<string, number>
  /** Watches open now. */
  openWatches(): number
}

export function fakeCluster(initial: Partial<Record<CachedResource, Obj[]>>, parts: { core?: Record<string, unknown>; apps?: Record<string, unknown> } = {}): FakeCluster {
  const handlers = new Set<Handler>()
  const lists: Record<string, number> = {}
  const listOf = (resource: CachedResource) => async (args: { namespace?: string }) => {
    lists[resource] = (lists[resource] ?? 0) + 1
    const items = (initial[resource] ?? []).filter((o) => args.namespace === undefined || (o.metadata?.namespace ?? 'default') === args.namespace)
    return { items: structuredClone(items), metadata: { resourceVersion: '100' } }
  }
  const kube = {
    kc: new KubeConfig(),
    patchAs: (type: string) => ({ contentType: type }),
    core: { listNamespacedPod: listOf('pods'), listPodForAllNamespaces: listOf('pods'), ...parts.core },
    apps: {
      listNamespacedDeployment: listOf('deployments'),
      listDeploymentForAllNamespaces: listOf('deployments'),
      listNamespacedStatefulSet: listOf('statefulsets'),
      listStatefulSetForAllNamespaces: listOf('statefulsets'),
      listNamespacedDaemonSet: listOf('daemonsets'),
      listDaemonSetForAllNamespaces: listOf('daemonsets'),
      ...parts.apps,
    },
    watch: () => ({
      watch: async (path: string, _params: unknown, callback: Handler['callback']) => {
        const handler = { path, callback }
        handlers.add(handler)
        const controller = new AbortController()
        controller.signal.addEventListener('abort', () => handlers.delete(handler))
        return controller
      },
    }),
  } as unknown as Kube
  let version = 100
  return {
    kube,
    lists,
    openWatches: () => handlers.size,
    emit(resource, type, object) {
      const namespace = object.metadata?.namespace ?? 'default'
      const copy = structuredClone({ ...object, metadata: { ...object.metadata, resourceVersion: String(++version) } })
      for (const h of handlers) {
        const covers = h.path.endsWith(`/${resource}`) && (!h.path.includes('/namespaces/') || h.path.includes(`/namespaces/${namespace}/`))
        if (covers) h.callback(type, copy)
      }
    },
  }
}
