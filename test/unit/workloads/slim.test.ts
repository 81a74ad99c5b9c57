// What a discovery keeps of the pods it lists: whole where a backup or a
// re-creation may need them, else a part that the plan and the proof judge
// exactly as they judge the whole pod.
import { describe, expect, it } from 'vitest'
import { buildOwnerIndex } from '../../../lib/workloads/owners.ts'
import { keyChangeCutoff, unprovenBoundTokens } from '../../../lib/workloads/proof.ts'
import { planRestarts } from '../../../lib/workloads/restart-plan.ts'
import { isWholePod, keepsWholePod, slimListedPod } from '../../../lib/workloads/slim.ts'
import { findDependentPods } from '../../../lib/workloads/dependents.ts'
import { makeDeployment, makePod, makeReplicaSet, makeStatefulSet, ownerRef, secretVolume } from '../helpers/objects.ts'

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

  it('drops the containers and their statuses, and is never taken for a whole pod', () => {
    const slim = slimListedPod(pods[0]!)
    expect(slim.spec?.containers).toEqual([])
    expect(slim.status?.containerStatuses).toBeUndefined()
    expect(slim.metadata?.managedFields).toBeUndefined()
    expect(isWholePod(slim)).toBe(false)
    expect(isWholePod(pods[0]!)).toBe(true)
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
