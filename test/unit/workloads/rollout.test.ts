import type { V1DaemonSet, V1Deployment, V1StatefulSet } from '@kubernetes/client-node'
import { describe, expect, it } from 'vitest'
import {
  daemonSetRolloutComplete,
  daemonSetRolloutStatus,
  deploymentRolloutComplete,
  deploymentRolloutStatus,
  isTerminating,
  podsRemaining,
  podsReplaced,
  statefulSetRolloutComplete,
  rolloutProgress,
  statefulSetRolloutStatus,
} from '../../../lib/workloads/rollout.ts'
import { slimPod, slimWorkload } from '../../../lib/workloads/slim.ts'
import { makeDaemonSet, makeDeployment, makePod, makeStatefulSet } from '../helpers/objects.ts'

const RESTARTED_AT = '2026-06-01T12:00:00Z'
const restarted = { restartedAt: RESTARTED_AT, generation: 2 }

describe('deploymentRolloutStatus', () => {
  const done = { observedGeneration: 2, replicas: 3, updatedReplicas: 3, availableReplicas: 3, readyReplicas: 3 }
  it.each<[string, V1Deployment, boolean, RegExp]>([
    ['complete', makeDeployment('web', { ...restarted, replicas: 3, status: done }), true, /^3 replicas updated and available$/],
    ['not restarted yet', makeDeployment('web', { replicas: 3, status: done }), false, /does not carry the restart yet/],
    [
      'restarted before our restart',
      makeDeployment('web', { ...restarted, restartedAt: '2026-05-01T00:00:00Z', replicas: 3, status: done }),
      false,
      /does not carry the restart yet/,
    ],
    ['controller behind', makeDeployment('web', { ...restarted, replicas: 3, status: { ...done, observedGeneration: 1 } }), false, /observe generation 2 \(it has seen 1\)/],
    ['replicas still updating', makeDeployment('web', { ...restarted, replicas: 3, status: { ...done, updatedReplicas: 1, replicas: 4 } }), false, /^1 of 3 replicas updated$/],
    ['old replicas left', makeDeployment('web', { ...restarted, replicas: 3, status: { ...done, replicas: 4 } }), false, /^1 old replicas pending termination$/],
    ['not all available', makeDeployment('web', { ...restarted, replicas: 3, status: { ...done, availableReplicas: 2 } }), false, /^2 of 3 updated replicas available$/],
    ['scaled to zero', makeDeployment('web', { ...restarted, replicas: 0, status: { observedGeneration: 2 } }), true, /^0 replicas/],
    [
      'progress deadline exceeded',
      makeDeployment('web', {
        ...restarted,
        replicas: 3,
        status: {
          ...done,
          updatedReplicas: 1,
          conditions: [{ type: 'Progressing', status: 'False', reason: 'ProgressDeadlineExceeded', message: 'ReplicaSet "web-5c4b" has timed out progressing.' }],
        },
      }),
      false,
      /^progress deadline exceeded: ReplicaSet "web-5c4b" has timed out progressing\.$/,
    ],
  ])('%s', (_name, deploy, complete, detail) => {
    const status = deploymentRolloutStatus(deploy, RESTARTED_AT)
    expect(status.complete).toBe(complete)
    expect(status.detail).toMatch(detail)
    expect(deploymentRolloutComplete(deploy, new Date(RESTARTED_AT))).toBe(complete)
  })

  it('marks a deadline exceeded as failed', () => {
    const deploy = makeDeployment('web', {
      ...restarted,
      status: { observedGeneration: 2, conditions: [{ type: 'Progressing', status: 'False', reason: 'ProgressDeadlineExceeded' }] },
    })
    expect(deploymentRolloutStatus(deploy, RESTARTED_AT).failed).toBe(true)
  })
})

describe('statefulSetRolloutStatus', () => {
  const done = { observedGeneration: 2, replicas: 3, readyReplicas: 3, updatedReplicas: 3, currentRevision: 'db-6f7c', updateRevision: 'db-6f7c' }
  it.each<[string, V1StatefulSet, boolean, RegExp]>([
    ['complete', makeStatefulSet('db', { ...restarted, replicas: 3, status: done }), true, /^3 pods ready at revision db-6f7c$/],
    ['not restarted yet', makeStatefulSet('db', { replicas: 3, status: done }), false, /does not carry the restart yet/],
    ['controller behind', makeStatefulSet('db', { ...restarted, replicas: 3, status: { ...done, observedGeneration: 1 } }), false, /observe generation 2/],
    ['pods not ready', makeStatefulSet('db', { ...restarted, replicas: 3, status: { ...done, readyReplicas: 2 } }), false, /^2 of 3 pods ready$/],
    [
      'revisions differ',
      makeStatefulSet('db', { ...restarted, replicas: 3, status: { ...done, updatedReplicas: 2, updateRevision: 'db-8a9b' } }),
      false,
      /^2 of 3 pods at revision db-8a9b$/,
    ],
    [
      'partitioned, the pods above the partition updated',
      makeStatefulSet('db', { ...restarted, replicas: 3, partition: 2, status: { ...done, updatedReplicas: 1, updateRevision: 'db-8a9b' } }),
      true,
      /^1 pods at or above partition 2 updated and 3 ready$/,
    ],
    [
      'partitioned, not yet',
      makeStatefulSet('db', { ...restarted, replicas: 3, partition: 1, status: { ...done, updatedReplicas: 1, updateRevision: 'db-8a9b' } }),
      false,
      /^1 of 2 pods updated \(partition 1\)$/,
    ],
    ['OnDelete: rollouts replace no pod', makeStatefulSet('db', { ...restarted, strategy: 'OnDelete', replicas: 3, status: done }), false, /OnDelete.*podsReplaced/],
  ])('%s', (_name, sts, complete, detail) => {
    const status = statefulSetRolloutStatus(sts, RESTARTED_AT)
    expect(status.complete).toBe(complete)
    expect(status.detail).toMatch(detail)
    expect(statefulSetRolloutComplete(sts, RESTARTED_AT)).toBe(complete)
  })
})

describe('daemonSetRolloutStatus', () => {
  const done = { observedGeneration: 2, desiredNumberScheduled: 3, updatedNumberScheduled: 3, numberAvailable: 3 }
  it.each<[string, V1DaemonSet, boolean, RegExp]>([
    ['complete', makeDaemonSet('calico-node', { ...restarted, status: done }), true, /^3 pods updated and available$/],
    ['not restarted yet', makeDaemonSet('calico-node', { status: done }), false, /does not carry the restart yet/],
    ['controller behind', makeDaemonSet('calico-node', { ...restarted, status: { ...done, observedGeneration: 1 } }), false, /observe generation 2/],
    ['not all scheduled', makeDaemonSet('calico-node', { ...restarted, status: { ...done, updatedNumberScheduled: 2 } }), false, /^2 of 3 updated pods scheduled$/],
    ['not all available', makeDaemonSet('calico-node', { ...restarted, status: { ...done, numberAvailable: 1 } }), false, /^1 of 3 updated pods available$/],
    ['OnDelete', makeDaemonSet('calico-node', { ...restarted, strategy: 'OnDelete', status: done }), false, /OnDelete/],
  ])('%s', (_name, ds, complete, detail) => {
    const status = daemonSetRolloutStatus(ds, RESTARTED_AT)
    expect(status.complete).toBe(complete)
    expect(status.detail).toMatch(detail)
    expect(daemonSetRolloutComplete(ds, RESTARTED_AT)).toBe(complete)
  })
})

describe('podsReplaced', () => {
  const before = ['uid-a', 'uid-b']
  const pod = (name: string, uid: string, deleting = false) => makePod(name, { uid, ...(deleting ? { deletionTimestamp: '2026-06-01T12:00:30Z' } : {}) })
  it.each<[string, ReturnType<typeof makePod>[], boolean, string[]]>([
    ['all new uids', [pod('db-0', 'uid-c'), pod('db-1', 'uid-d')], true, []],
    ['same name, new uid (a StatefulSet pod)', [pod('db-0', 'uid-c')], true, []],
    ['one old pod left', [pod('db-0', 'uid-a'), pod('db-1', 'uid-d')], false, ['db-0']],
    ['an old pod still terminating', [pod('db-0', 'uid-c'), pod('db-1', 'uid-b', true)], false, ['db-1']],
    ['no pods at all (old ones gone)', [], true, []],
  ])('%s', (_name, after, replaced, remaining) => {
    expect(podsReplaced(before, after)).toBe(replaced)
    expect(podsRemaining(new Set(before), after).map((p) => p.name)).toEqual(remaining)
  })
})

describe('rolloutProgress', () => {
  const status = { observedGeneration: 2, replicas: 2, updatedReplicas: 2, availableReplicas: 2 }
  const web = makeDeployment('web', { ...restarted, replicas: 2, status })
  const ready = (name: string, uid: string, labels = { app: 'web' }) => {
    const pod = makePod(name, { uid, labels, nodeName: 'n1' })
    pod.status = { ...pod.status, conditions: [{ type: 'Ready', status: 'True' }] }
    return pod
  }
  const fresh = [ready('web-a', 'a'), ready('web-b', 'b')]

  it('is done when the controller is and no old pod is left; names the selected pods, not other workloads', () => {
    const progress = rolloutProgress('Deployment', web, [...fresh, ready('api-x', 'x', { app: 'api' })], RESTARTED_AT, ['old'])
    expect(progress).toMatchObject({ done: true, detail: '2 replicas updated and available' })
    expect(progress.pods).toEqual([
      { namespace: 'default', name: 'web-a', uid: 'a', node: 'n1' },
      { namespace: 'default', name: 'web-b', uid: 'b', node: 'n1' },
    ])
  })

  it.each([
    ['an old pod terminating', [...fresh, makePod('web-old', { uid: 'old', deletionTimestamp: new Date() })], '2 replicas updated and available; 1 old pod(s) still there: web-old'],
    ['the controller behind', fresh, 'waiting for the controller to observe generation 3 (it has seen 2)'],
  ])('is not done with %s', (what, pods, note) => {
    const workload = what.startsWith('the controller') ? makeDeployment('web', { restartedAt: RESTARTED_AT, generation: 3, replicas: 2, status }) : web
    expect(rolloutProgress('Deployment', workload, pods, RESTARTED_AT, ['old'])).toMatchObject({ done: false, note })
  })

  it('reports a failed rollout (progress deadline) as failed, not as waiting', () => {
    const stuck = makeDeployment('web', { ...restarted, status: { observedGeneration: 2, conditions: [{ type: 'Progressing', status: 'False', reason: 'ProgressDeadlineExceeded', message: 'timed out' }] } })
    expect(rolloutProgress('Deployment', stuck, [], RESTARTED_AT, [])).toMatchObject({ done: false, failed: true })
  })

  it('never completes an OnDelete StatefulSet (eviction replaces its pods)', () => {
    const sts = makeStatefulSet('db', { ...restarted, strategy: 'OnDelete' })
    expect(rolloutProgress('StatefulSet', sts, [], RESTARTED_AT, [])).toMatchObject({ done: false, note: expect.stringContaining('OnDelete') })
  })
})

describe('slimPod and slimWorkload', () => {
  it('keep what the waits read and drop the specs', () => {
    const pod = makePod('web-a', { uid: 'a', nodeName: 'n1', deletionTimestamp: new Date('2026-01-01T00:00:00Z') })
    pod.status = { ...pod.status, conditions: [{ type: 'Ready', status: 'True' }] }
    const slim = slimPod(pod)
    expect(slim.spec).toEqual({ containers: [], nodeName: 'n1' })
    expect(slim.metadata).not.toHaveProperty('managedFields', expect.anything())
    expect([isTerminating(slim), slim.metadata?.uid, slim.metadata?.labels, slim.status?.phase]).toEqual([true, 'a', pod.metadata?.labels, 'Running'])

    const status = { observedGeneration: 2, replicas: 2, updatedReplicas: 2, availableReplicas: 2 }
    const web = makeDeployment('web', { ...restarted, replicas: 2, status })
    const slimWeb = slimWorkload(web)
    expect(slimWeb.spec?.template).toEqual({ metadata: { annotations: { 'kubectl.kubernetes.io/restartedAt': RESTARTED_AT } } })
    expect(deploymentRolloutStatus(slimWeb, RESTARTED_AT)).toEqual(deploymentRolloutStatus(web, RESTARTED_AT))
    const sts = makeStatefulSet('db', { ...restarted, strategy: 'OnDelete' })
    expect(statefulSetRolloutStatus(slimWorkload(sts), RESTARTED_AT)).toEqual(statefulSetRolloutStatus(sts, RESTARTED_AT))
  })
})
