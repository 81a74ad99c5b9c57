// The probe pod fix-calico pins to each node.
import { describe, expect, it } from 'vitest'
import { probePod } from '../../../lib/calico/probe.ts'

describe('probePod', () => {
  it('is pinned to the node, tolerates every taint, carries no token, and is labelled for clean-up', () => {
    const pod = probePod('worker-1', 'registry.k8s.io/pause:3.10')
    expect(pod.spec).toMatchObject({
      nodeName: 'worker-1',
      automountServiceAccountToken: false,
      restartPolicy: 'Never',
      tolerations: [{ operator: 'Exists' }],
      containers: [expect.objectContaining({ image: 'registry.k8s.io/pause:3.10' })],
    })
    expect(pod.spec?.hostNetwork).toBeUndefined() // it must go through the CNI plugin
    expect(pod.metadata?.labels).toMatchObject({ 'kube-token-runbooks.io/cni-probe': 'true' })
  })
})
