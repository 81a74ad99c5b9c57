// What a discovery keeps of the pods it lists: whole where a backup or a
// re-creation may need them, else a part that the plan and the proof judge
// exactly as they judge the whole pod.
import { describe, expect, it } from 'vitest'
import { buildOwnerIndex } from '../../../lib/workloads/owners.ts'
import { keyChangeCutoff, unprovenBoundTokens } from '../../../lib/workloads/proof.ts'
import { planRestarts } from '../../../lib/workloads/restart-plan.ts'
import { isWholePod, keepsWholePod, slimListedPod } from '../../../lib/workloads/slim.ts'
import { findDependentPods, isStuckCreating } from '../../../lib/workloads/dependents.ts'
import {
  configMapEnv,
  container,
  makeDeployment,
  makeEvent,
  makePod,
  makeReplicaSet,
  makeStatefulSet,
  ownerRef,
  secretEnv,
  secretEnvFrom,
  secretNotFoundMessage,
  secretVolume,
} from '../helpers/objects.ts'

const NOW = new Date('2026-11-30T12:00:00Z')

describe('keepsWholePod', () => {
  it.each([
    ['a bare pod (re-created from its spec)', makePod('bare'), true],
    ['a pod of another controller (evicted, backed up first)', makePod('custom', { owner: ownerRef('Rollout', 'canary', { apiVersion: 'argoproj.io/v1alpha1' }) }), true],
    ['a pod owned without a controller reference', makePod('adopted', { ownerReferences: [ownerRef('ReplicaSet', 'web-1', { controller: false })] }), true],
    ['a ReplicaSet pod (restarted through its Deployment)', makePod('web-1-abc', { owner: ownerRef('ReplicaSet', 'web-1') }), false],
    ['a StatefulSet pod', makePod('db-0', { owner: ownerRef('StatefulSet', 'db') }), false],
    ['a DaemonSet pod', makePod('agent-x', { owner: ownerRef('DaemonSet', 'agent') }), false],
    ['a Job pod (reported, never restarted)', makePod('migrate-x', { owner: ownerRef('Job', 'migrate') }), false],
  ] as const)('%s: %s', (_what, pod, whole) => {
    expect(keepsWholePod(pod)).toBe(whole)
  })
})

describe('slimListedPod', () => {
  const token = secretVolume('token', 'app-token')
  const pods = [
    makePod('web-1-abc', { owner: ownerRef('ReplicaSet', 'web-1'), volumes: [token], startTime: '2026-11-30T09:00:00Z', labels: { app: 'web' } }),
    makePod('db-0', { owner: ownerRef('StatefulSet', 'db'), startTime: '2026-11-30T08:00:00Z', labels: { app: 'db' } }),
    makePod('db-1', { owner: ownerRef('StatefulSet', 'db'), phase: 'Succeeded', labels: { app: 'db' } }),
    makePod('db-2', { owner: ownerRef('StatefulSet', 'db'), startTime: '2026-11-30T11:30:00Z', deletionTimestamp: '2026-11-30T11:59:00Z', labels: { app: 'db' } }),
  ]
  const owners = buildOwnerIndex({ replicaSets: [makeReplicaSet('web-1', { owner: ownerRef('Deployment', 'web') })], deployments: [makeDeployment('web')], statefulSets: [makeStatefulSet('db')] })

  it('drops images, env values, managed fields and the other statuses, and is never taken for a whole pod', () => {
    const pod = makePod('api-1-x', { owner: ownerRef('ReplicaSet', 'api-1'), containers: [container('app', { env: [secretEnv('TOKEN', 'api-token'), configMapEnv('MODE', 'settings'), { name: 'PLAIN', value: 'x' }] })] })
    const slim = slimListedPod(pod)
    expect(slim.spec?.containers).toEqual([{ name: 'app', env: [secretEnv('TOKEN', 'api-token')] }])
    expect(slim.status?.containerStatuses).toEqual([{ name: 'app', state: {} }])
    expect(slim.metadata?.managedFields).toBeUndefined()
    expect(isWholePod(slim)).toBe(false)
    expect(isWholePod(pod)).toBe(true)
  })

  it('keeps what the judgement reads: every Secret reference, and the waiting reasons of a pod stuck creating', () => {
    const rs = ownerRef('ReplicaSet', 'api-1')
    const referencing = [
      makePod('api-1-env', { owner: rs, containers: [container('app', { env: [secretEnv('TOKEN', 'api-token'), configMapEnv('MODE', 'settings')] })] }),
      makePod('api-1-from', { owner: rs, initContainers: [container('init', { envFrom: [secretEnvFrom('api-token', 'API_')] })] }),
      makePod('api-1-pull', { owner: rs, imagePullSecrets: ['api-token'] }),
      makePod('api-1-stuck', { owner: rs, phase: 'Pending', waiting: 'ContainerCreating', volumes: [secretVolume('gone', 'deleted-token')] }),
      makePod('api-1-other', { owner: rs, containers: [container('app', { env: [secretEnv('OTHER', 'other-token')] })] }),
    ]
    const events = [makeEvent(referencing[3]!, { message: secretNotFoundMessage('gone', 'deleted-token') })]
    const judge = (list: typeof referencing) =>
      findDependentPods({ pods: list, targetSecrets: new Set(['default/api-token', 'default/deleted-token']), events, loggedMissingSecrets: new Set(['default/deleted-token']) })
    const whole = judge(referencing)
    expect(whole.map((d) => d.pod.name).sort()).toEqual(['api-1-env', 'api-1-from', 'api-1-pull', 'api-1-stuck'])
    expect(judge(referencing.map(slimListedPod))).toEqual(whole)
    expect(referencing.map(slimListedPod).map(isStuckCreating)).toEqual(referencing.map(isStuckCreating))
  })

  it('keeps what the proof reads: projected token volumes, start time, phase and deletion', () => {
    const cutoff = keyChangeCutoff({ regeneratedAt: [], staleFound: true, now: NOW })
    const whole = unprovenBoundTokens(pods, cutoff)
    // web-1-abc mounts only its Secret: no projected token to doubt.
    expect(whole.map((l) => l.pod.name)).toEqual(['db-0'])
    expect(unprovenBoundTokens(pods.map(slimListedPod), cutoff)).toEqual(whole)
  })

  it('keeps what the plan reads: owners and labels', () => {
    const dependents = findDependentPods({ pods, targetSecrets: new Set(['default/app-token']), events: [] })
    expect(dependents.map((d) => d.pod.name)).toEqual(['web-1-abc'])
    const context = { owners, recreateBarePods: false, renamedSecrets: new Map<string, string>(), kubectlArgs: [], regeneratedAt: new Map() }
    const whole = planRestarts(dependents, { ...context, pods })
    expect(whole.items.map((i) => [i.owner.kind, i.owner.name, i.action])).toEqual([['Deployment', 'web', 'rollout-restart']])
    expect(planRestarts(dependents, { ...context, pods: pods.map(slimListedPod) })).toEqual(whole)
  })
})
