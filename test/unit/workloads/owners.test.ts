import type { V1Pod } from '@kubernetes/client-node'
import { describe, expect, it } from 'vitest'
import { buildOwnerIndex, controllerOf, ownerLabel, resolveOwner, type OwnerObjects, type OwnerRef } from '../../../lib/workloads/owners.ts'
import {
  makeDaemonSet,
  makeDeployment,
  makeJob,
  makePod,
  makeReplicaSet,
  makeStatefulSet,
  ownerRef,
  uidOf,
} from '../helpers/objects.ts'

const objects: OwnerObjects = {
  deployments: [makeDeployment('web'), makeDeployment('paused', { paused: true })],
  replicaSets: [
    makeReplicaSet('web-7d9f', { owner: ownerRef('Deployment', 'web') }),
    makeReplicaSet('paused-5c4b', { owner: ownerRef('Deployment', 'paused') }),
    makeReplicaSet('orphan-rs'),
    makeReplicaSet('rollout-rs', { owner: ownerRef('Rollout', 'canary', { apiVersion: 'argoproj.io/v1alpha1' }) }),
    makeReplicaSet('lookalike-rs', { owner: ownerRef('Deployment', 'lookalike', { apiVersion: 'example.com/v1' }) }),
    makeReplicaSet('nodeploy-rs', { owner: ownerRef('Deployment', 'gone') }),
  ],
  statefulSets: [makeStatefulSet('db'), makeStatefulSet('db-manual', { strategy: 'OnDelete' }), makeStatefulSet('db-part', { partition: 2 })],
  daemonSets: [makeDaemonSet('calico-node', { namespace: 'kube-system' }), makeDaemonSet('legacy-agent', { strategy: 'OnDelete' })],
  jobs: [makeJob('backup-2900', { owner: ownerRef('CronJob', 'backup') }), makeJob('migrate')],
}
const index = buildOwnerIndex(objects)

const owned = (ref: ReturnType<typeof ownerRef>, namespace = 'default') => makePod('p-1', { owner: ref, namespace })

describe('resolveOwner', () => {
  it.each<[string, V1Pod, OwnerRef]>([
    [
      'Deployment, through its ReplicaSet',
      owned(ownerRef('ReplicaSet', 'web-7d9f')),
      { kind: 'Deployment', namespace: 'default', name: 'web', uid: uidOf('Deployment', 'web') },
    ],
    [
      'a paused Deployment',
      owned(ownerRef('ReplicaSet', 'paused-5c4b')),
      { kind: 'Deployment', namespace: 'default', name: 'paused', uid: uidOf('Deployment', 'paused'), paused: true },
    ],
    [
      'a Deployment not in the index (not known to be paused)',
      owned(ownerRef('ReplicaSet', 'nodeploy-rs')),
      { kind: 'Deployment', namespace: 'default', name: 'gone', uid: uidOf('Deployment', 'gone') },
    ],
    ['a ReplicaSet without owner', owned(ownerRef('ReplicaSet', 'orphan-rs')), { kind: 'ReplicaSet', namespace: 'default', name: 'orphan-rs', uid: uidOf('ReplicaSet', 'orphan-rs') }],
    [
      'a ReplicaSet of a custom controller (Argo Rollout)',
      owned(ownerRef('ReplicaSet', 'rollout-rs')),
      { kind: 'ReplicaSet', namespace: 'default', name: 'rollout-rs', uid: uidOf('ReplicaSet', 'rollout-rs') },
    ],
    [
      'a ReplicaSet owned by a "Deployment" of another API group',
      owned(ownerRef('ReplicaSet', 'lookalike-rs')),
      { kind: 'ReplicaSet', namespace: 'default', name: 'lookalike-rs', uid: uidOf('ReplicaSet', 'lookalike-rs') },
    ],
    [
      'a ReplicaSet missing from the index',
      owned(ownerRef('ReplicaSet', 'unlisted-rs')),
      { kind: 'ReplicaSet', namespace: 'default', name: 'unlisted-rs', uid: uidOf('ReplicaSet', 'unlisted-rs'), notInIndex: true },
    ],
    [
      'a ReplicaSet re-created under the same name (other uid) is not the owner',
      owned(ownerRef('ReplicaSet', 'web-7d9f', { uid: 'uid-of-the-old-rs' })),
      { kind: 'ReplicaSet', namespace: 'default', name: 'web-7d9f', uid: 'uid-of-the-old-rs', notInIndex: true },
    ],
    [
      'StatefulSet, RollingUpdate',
      owned(ownerRef('StatefulSet', 'db')),
      { kind: 'StatefulSet', namespace: 'default', name: 'db', uid: uidOf('StatefulSet', 'db'), updateStrategy: 'RollingUpdate' },
    ],
    [
      'StatefulSet, OnDelete',
      owned(ownerRef('StatefulSet', 'db-manual')),
      { kind: 'StatefulSet', namespace: 'default', name: 'db-manual', uid: uidOf('StatefulSet', 'db-manual'), updateStrategy: 'OnDelete' },
    ],
    [
      'StatefulSet, partitioned RollingUpdate',
      owned(ownerRef('StatefulSet', 'db-part')),
      { kind: 'StatefulSet', namespace: 'default', name: 'db-part', uid: uidOf('StatefulSet', 'db-part'), updateStrategy: 'RollingUpdate', partition: 2 },
    ],
    [
      'StatefulSet missing from the index (strategy unknown)',
      owned(ownerRef('StatefulSet', 'cache')),
      { kind: 'StatefulSet', namespace: 'default', name: 'cache', uid: uidOf('StatefulSet', 'cache'), notInIndex: true },
    ],
    [
      'DaemonSet, RollingUpdate',
      owned(ownerRef('DaemonSet', 'calico-node'), 'kube-system'),
      { kind: 'DaemonSet', namespace: 'kube-system', name: 'calico-node', uid: uidOf('DaemonSet', 'calico-node'), updateStrategy: 'RollingUpdate' },
    ],
    [
      'DaemonSet, OnDelete',
      owned(ownerRef('DaemonSet', 'legacy-agent')),
      { kind: 'DaemonSet', namespace: 'default', name: 'legacy-agent', uid: uidOf('DaemonSet', 'legacy-agent'), updateStrategy: 'OnDelete' },
    ],
    [
      'a DaemonSet of the same name in another namespace is not the owner',
      owned(ownerRef('DaemonSet', 'calico-node')),
      { kind: 'DaemonSet', namespace: 'default', name: 'calico-node', uid: uidOf('DaemonSet', 'calico-node'), notInIndex: true },
    ],
    ['Job', owned(ownerRef('Job', 'migrate')), { kind: 'Job', namespace: 'default', name: 'migrate', uid: uidOf('Job', 'migrate') }],
    ['CronJob, through its Job', owned(ownerRef('Job', 'backup-2900')), { kind: 'CronJob', namespace: 'default', name: 'backup', uid: uidOf('CronJob', 'backup') }],
    ['a Job missing from the index', owned(ownerRef('Job', 'unlisted')), { kind: 'Job', namespace: 'default', name: 'unlisted', uid: uidOf('Job', 'unlisted') }],
    [
      'a custom controller',
      owned(ownerRef('Rollout', 'canary', { apiVersion: 'argoproj.io/v1alpha1' })),
      { kind: 'other', namespace: 'default', name: 'canary', uid: uidOf('Rollout', 'canary'), controller: { apiVersion: 'argoproj.io/v1alpha1', kind: 'Rollout' } },
    ],
    [
      'a ReplicationController',
      owned(ownerRef('ReplicationController', 'old-rc')),
      { kind: 'other', namespace: 'default', name: 'old-rc', uid: uidOf('ReplicationController', 'old-rc'), controller: { apiVersion: 'v1', kind: 'ReplicationController' } },
    ],
    ['a bare pod', makePod('debug'), { kind: 'bare', namespace: 'default', name: 'debug', uid: uidOf('Pod', 'default-debug') }],
    [
      'owner references without a controller: still bare',
      makePod('debug', { ownerReferences: [ownerRef('ConfigMap', 'cfg', { apiVersion: 'v1', controller: false })] }),
      { kind: 'bare', namespace: 'default', name: 'debug', uid: uidOf('Pod', 'default-debug') },
    ],
    [
      'a static pod (mirror annotation, Node as controller)',
      makePod('etcd-cp-1', {
        namespace: 'kube-system',
        annotations: { 'kubernetes.io/config.mirror': '3f1c2b', 'kubernetes.io/config.source': 'file' },
        owner: ownerRef('Node', 'cp-1'),
      }),
      { kind: 'static', namespace: 'kube-system', name: 'etcd-cp-1' },
    ],
  ])('%s', (_name, pod, expected) => {
    expect(resolveOwner(pod, index)).toEqual(expected)
  })

  it('works with an empty index', () => {
    expect(resolveOwner(owned(ownerRef('ReplicaSet', 'web-7d9f')), buildOwnerIndex())).toMatchObject({ kind: 'ReplicaSet', notInIndex: true })
  })
})

describe('controllerOf', () => {
  it('picks the reference marked controller, not the first one', () => {
    const meta = { ownerReferences: [ownerRef('ConfigMap', 'cfg', { apiVersion: 'v1', controller: false }), ownerRef('ReplicaSet', 'web-7d9f')] }
    expect(controllerOf(meta)?.name).toBe('web-7d9f')
    expect(controllerOf({ ownerReferences: [ownerRef('ConfigMap', 'cfg', { controller: false })] })).toBeUndefined()
  })
})

describe('ownerLabel', () => {
  it.each<[OwnerRef, string]>([
    [{ kind: 'Deployment', namespace: 'default', name: 'web' }, 'Deployment/web'],
    [{ kind: 'other', namespace: 'default', name: 'canary', controller: { apiVersion: 'argoproj.io/v1alpha1', kind: 'Rollout' } }, 'Rollout/canary'],
    [{ kind: 'bare', namespace: 'default', name: 'debug' }, 'Pod/debug'],
    [{ kind: 'static', namespace: 'kube-system', name: 'etcd-cp-1' }, 'Pod/etcd-cp-1'],
  ])('%j → %s', (owner, expected) => {
    expect(ownerLabel(owner)).toBe(expected)
  })
})
