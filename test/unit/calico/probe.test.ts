// The probe pod fix-calico pins to each node.
import { describe, expect, it } from 'vitest'
import type { V1Pod } from '@kubernetes/client-node'
import { probeImageProblem, probePod } from '../../../lib/calico/probe.ts'

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

describe('probeImageProblem', () => {
  const waitingPod = (reason: string, message?: string, podIP?: string): V1Pod => ({
    ...probePod('ktr-node', 'registry.k8s.io/pause:3.10'),
    status: {
      phase: 'Pending',
      ...(podIP ? { podIP } : {}),
      containerStatuses: [{ name: 'probe', image: 'registry.k8s.io/pause:3.10', imageID: '', ready: false, restartCount: 0, state: { waiting: { reason, ...(message ? { message } : {}) } } }],
    },
  })

  it.each([
    // What the local cluster's real kubelet reports on a node without registry access.
    [
      waitingPod('ImagePullBackOff', 'Back-off pulling image "registry.k8s.io/pause:3.10"', '10.244.0.7'),
      'ImagePullBackOff: Back-off pulling image "registry.k8s.io/pause:3.10"; the pod got IP 10.244.0.7 (the CNI plugin set up its network), but image registry.k8s.io/pause:3.10 cannot be had on node ktr-node: pass --probe-image with an image every node has or can pull',
    ],
    [
      waitingPod('ErrImagePull', 'failed to pull and unpack image\n "registry.k8s.io/pause:3.10"'),
      'ErrImagePull: failed to pull and unpack image "registry.k8s.io/pause:3.10"; image registry.k8s.io/pause:3.10 cannot be had on node ktr-node: pass --probe-image with an image every node has or can pull',
    ],
    [waitingPod('ErrImageNeverPull'), 'ErrImageNeverPull; image registry.k8s.io/pause:3.10 cannot be had on node ktr-node: pass --probe-image with an image every node has or can pull'],
  ])('says the image is the problem, and how to choose another: %#', (pod, expected) => {
    expect(probeImageProblem(pod)).toBe(expected)
  })

  it.each([
    ['still creating', waitingPod('ContainerCreating')],
    ['no status yet', probePod('ktr-node', 'registry.k8s.io/pause:3.10')],
  ])('is undefined while the image is not the problem (%s)', (_what, pod) => {
    expect(probeImageProblem(pod)).toBeUndefined()
  })
})
