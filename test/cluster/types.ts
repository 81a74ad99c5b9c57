// The contract every cluster provider of the e2e harness fulfils. Tests only
// see this: the same suite runs on the local control plane, kind, or an
// existing cluster given by KUBECONFIG.

import type { RealNodeInfo } from './real-node.ts'

export type ProviderName = 'local' | 'kind' | 'existing'

export interface RotateOptions {
  /** Keep trusting the old public key (graceful rotation). Default: drop it (abrupt). */
  keepOld?: boolean
}

/** The components of the local control plane that fault tests can act on. */
export type ControlPlaneComponent = 'etcd' | 'kube-apiserver' | 'kube-controller-manager' | 'kube-scheduler' | 'kwok'

/**
 * Fault injection for tests, on the local provider only (its processes are
 * ours; a kind node's or an existing cluster's are not). Every call works
 * from the cluster's state on disk, like rotateServiceAccountKey, and leaves
 * the state true: a component left stopped or suspended makes the next
 * `make cluster-up` start afresh and attach fail loudly, so a test that dies
 * half-way cannot hand a crippled cluster to the tests after it.
 */
export interface FaultControls {
  /** SIGTERM the component's process group (SIGKILL after 10 s); resolves once it is gone. */
  stop(component: ControlPlaneComponent): Promise<void>
  /** Starts a stopped component again, same flags and ports; resolves once it is healthy. */
  start(component: ControlPlaneComponent): Promise<void>
  /** stop, then start. */
  restart(component: ControlPlaneComponent): Promise<void>
  /**
   * SIGSTOP the component's process group: not a graceful pause. The process
   * keeps its pid, its sockets and its open watches, but runs no code, so it
   * answers nothing and acts on nothing: a hung component, not a dead one.
   */
  suspend(component: ControlPlaneComponent): Promise<void>
  /** SIGCONT the process group; resolves once the component is healthy again. */
  resume(component: ControlPlaneComponent): Promise<void>
}

export interface ClusterHandle {
  readonly provider: ProviderName
  /** Admin kubeconfig (system:masters). */
  readonly kubeconfigPath: string
  /** Where logs, PKI and state of this cluster live (absent for `existing`). */
  readonly dir?: string
  /** The local provider's real node (kubelet + containerd), or why there is none. */
  readonly realNode?: RealNodeInfo
  /**
   * Regenerate the service-account signing key: restart kube-apiserver and
   * kube-controller-manager with a new key pair. Resolves once the API server
   * serves the new key at /openid/v1/jwks and the controller manager is back.
   */
  rotateServiceAccountKey(opts?: RotateOptions): Promise<void>
  /** Fault injection (local provider only); absent where the harness does not own the processes. */
  readonly faults?: FaultControls
  /** Stop every process this handle started. Idempotent. */
  stop(): Promise<void>
}
