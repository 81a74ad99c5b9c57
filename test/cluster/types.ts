// The contract every cluster provider of the e2e harness fulfils. Tests only
// see this: the same suite runs on the local control plane, kind, or an
// existing cluster given by KUBECONFIG.

import type { RealNodeInfo } from './real-node.ts'

export type ProviderName = 'local' | 'kind' | 'existing'

export interface RotateOptions {
  /** Keep trusting the old public key (graceful rotation). Default: drop it (abrupt). */
  keepOld?: boolean
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
  /** Stop every process this handle started. Idempotent. */
  stop(): Promise<void>
}
