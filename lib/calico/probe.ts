// fix-calico's probe pods, as values: the pod pinned to one node and the
// outcomes a probe can have. Pure; lib/kube/calico.ts creates and watches them.
import type * as k8s from '@kubernetes/client-node'

export const PROBE_LABEL = 'kube-token-runbooks.io/cni-probe'

export const ProbeOutcome = {
  /** The pod got a sandbox (network) and ran. */
  ok: 'ok',
  /** A sandbox error mentions Unauthorized: the node's CNI token is rejected. */
  unauthorized: 'unauthorized',
  /** Another sandbox or start error. */
  failed: 'failed',
  /** Neither running nor an error within the deadline. */
  timeout: 'timeout',
} as const
export type ProbeOutcome = (typeof ProbeOutcome)[keyof typeof ProbeOutcome]

export interface ProbeResult {
  readonly node: string
  readonly pod: string
  readonly outcome: ProbeOutcome
  readonly detail: string
}

/** A small pod pinned to `node` (nodeName: no scheduler), tolerating every taint, with no token of its own. */
export function probePod(node: string, image: string): k8s.V1Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      generateName: 'ktr-cni-probe-',
      labels: { [PROBE_LABEL]: 'true', 'app.kubernetes.io/managed-by': 'kube-token-runbooks' },
    },
    spec: {
      nodeName: node,
      restartPolicy: 'Never',
      automountServiceAccountToken: false,
      terminationGracePeriodSeconds: 0,
      tolerations: [{ operator: 'Exists' }],
      containers: [{ name: 'probe', image, resources: { requests: { cpu: '1m', memory: '8Mi' }, limits: { memory: '16Mi' } } }],
    },
  }
}
