// Chooses the cluster the e2e suite and `make cluster-*` run against:
//   E2E_PROVIDER=local     control plane built from Go modules (default)
//   E2E_PROVIDER=kind      a kind cluster (users' CI; needs Docker)
//   E2E_PROVIDER=existing  the cluster KUBECONFIG points at (also chosen when
//                          KUBECONFIG is set and E2E_PROVIDER is not)
import { join } from 'node:path'
import { cacheRoot } from './binaries.ts'
import { attachLocalCluster, startLocalCluster, stopLocalCluster } from './local.ts'
import type { RealNodeInfo } from './real-node.ts'
import type { ClusterHandle, ProviderName } from './types.ts'

export type { ClusterHandle, ControlPlaneComponent, FaultControls, ProviderName, RotateOptions } from './types.ts'
export type { RealNodeInfo } from './real-node.ts'

/** What a test process needs to attach to the cluster global setup started. */
export interface ClusterInfo {
  provider: ProviderName
  kubeconfigPath: string
  dir?: string
  /** The real node, or why the real-node tests do not run (set by the e2e global setup). */
  realNode?: RealNodeInfo
}

/** The real node of a cluster handle; only the local provider starts one. */
export function realNodeOf(cluster: ClusterHandle): RealNodeInfo {
  return cluster.realNode ?? { status: 'off', reason: `E2E_PROVIDER=${cluster.provider}: only the local provider starts a real node` }
}

export function chooseProvider(env = process.env): ProviderName {
  const wanted = env.E2E_PROVIDER
  if (wanted === 'local' || wanted === 'kind' || wanted === 'existing') return wanted
  if (wanted) throw new Error(`E2E_PROVIDER=${wanted} is not a provider: use local, kind or existing`)
  return env.KUBECONFIG ? 'existing' : 'local'
}

/** The directory of the long-lived cluster `make cluster-up` manages. */
export function defaultClusterDir(env = process.env): string {
  return env.KTR_CLUSTER_DIR ?? join(cacheRoot(env), 'clusters', 'default')
}

export async function startCluster(provider: ProviderName, dir: string): Promise<ClusterHandle> {
  switch (provider) {
    case 'local':
      return startLocalCluster({ dir })
    case 'kind': {
      const { startKindCluster } = await import('./kind.ts')
      return startKindCluster({})
    }
    case 'existing':
      return existingCluster()
  }
}

export async function attachCluster(info: ClusterInfo): Promise<ClusterHandle> {
  switch (info.provider) {
    case 'local':
      return attachLocalCluster(info.dir!)
    case 'kind': {
      const { startKindCluster } = await import('./kind.ts')
      return startKindCluster({ reuseOnly: true })
    }
    case 'existing':
      return existingCluster()
  }
}

export { stopLocalCluster }

function existingCluster(env = process.env): ClusterHandle {
  const kubeconfigPath = env.KUBECONFIG
  if (!kubeconfigPath) throw new Error('E2E_PROVIDER=existing needs KUBECONFIG to point at the cluster')
  return {
    provider: 'existing',
    kubeconfigPath,
    rotateServiceAccountKey: async () => {
      throw new Error(
        'an existing cluster (KUBECONFIG) cannot have its service-account key rotated by the test harness: ' +
          'run the key-rotation tests with E2E_PROVIDER=local or kind',
      )
    },
    stop: async () => {},
  }
}
