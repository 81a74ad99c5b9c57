// The cluster side of restarts, against fake clients and a fake clock: what
// an Eviction refusal means, when a rollout is done, and what the errors say.
import { ApiException, KubeConfig, type V1Deployment, type V1Pod } from '@kubernetes/client-node'
import { describe, expect, it, vi } from 'vitest'
import { DomainError } from '../../../lib/errors.ts'
import type { Kube } from '../../../lib/kube/clients.ts'
import {
  evictAndWait,
  evictPod,
  labelSelectorString,
  parseEvictionRefusal,
  recreatePod,
  rolloutRestart,
  waitForRollout,
  type WaitSeams,
} from '../../../lib/kube/workloads.ts'
import { createOutput, memorySink } from '../../../lib/output.ts'
import { RESTARTED_AT_ANNOTATION } from '../../../lib/workloads/restarted-at.ts'
import { recreatedPodSpec } from '../../../lib/workloads/restart-plan.ts'
import { makeDeployment, makePod, ownerRef } from '../helpers/objects.ts'

const RESTARTED_AT = '2026-01-01T12:00:00Z'

/** The body the API server sent for a refused eviction (captured from the local cluster). */
const REFUSED_BODY = JSON.stringify({
  kind: 'Status',
  apiVersion: 'v1',
  metadata: {},
  status: 'Failure',
  message: "Cannot evict pod as it would violate the pod's disruption budget.",
  reason: 'TooManyRequests',
  details: { causes: [{ reason: 'DisruptionBudget', message: 'The disruption budget web needs 2 healthy pods and has 2 currently' }] },
  code: 429,
})

const apiError = (code: number, body: unknown = '') => new ApiException(code, `HTTP ${code}`, body, {})

function fakeKube(parts: { core?: Record<string, unknown>; apps?: Record<string, unknown> }): Kube {
  return { kc: new KubeConfig(), core: parts.core ?? {}, apps: parts.apps ?? {}, patchAs: (type: string) => ({ contentType: type }) } as unknown as Kube
}

/** A clock that only moves when the wait sleeps. */
function fakeClock(): WaitSeams & { now: () => number } {
  let t = 0
  return {
    now: () => t,
    sleep: async (ms: number) => {
      t += ms
    },
    intervalMs: 1_000,
  }
}

function output() {
  const stderr = memorySink()
  return { stderr, output: createOutput({ format: 'text', stdout: memorySink(), stderr, isTTY: false, noColor: true, redactor: { redact: (t) => t } }) }
}

function ready(pod: V1Pod): V1Pod {
  pod.status = { ...pod.status, conditions: [{ type: 'Ready', status: 'True' }] }
  return pod
}

describe('labelSelectorString', () => {
  it.each([
    [{ matchLabels: { app: 'web' } }, 'app=web'],
    [{ matchLabels: { app: 'web', tier: 'front' } }, 'app=web,tier=front'],
    [
      {
        matchExpressions: [
          { key: 'env', operator: 'In', values: ['a', 'b'] },
          { key: 'zone', operator: 'NotIn', values: ['x'] },
          { key: 'managed', operator: 'Exists' },
          { key: 'legacy', operator: 'DoesNotExist' },
        ],
      },
      'env in (a,b),zone notin (x),managed,!legacy',
    ],
    [undefined, undefined],
  ])('%j → %s', (selector, text) => {
    expect(labelSelectorString(selector)).toBe(text)
  })
})

describe('parseEvictionRefusal', () => {
  it('names the budget from the causes, with their message', () => {
    expect(parseEvictionRefusal(apiError(429, REFUSED_BODY))).toEqual({
      budgets: ['web'],
      message: 'The disruption budget web needs 2 healthy pods and has 2 currently',
    })
  })

  it('falls back to the status message when there are no causes', () => {
    expect(parseEvictionRefusal(apiError(429, { message: 'too many requests' }))).toEqual({ budgets: [], message: 'too many requests' })
  })
})

describe('evictPod', () => {
  const evicting = (result: () => Promise<unknown>) => {
    const createNamespacedPodEviction = vi.fn(result)
    return { kube: fakeKube({ core: { createNamespacedPodEviction } }), createNamespacedPodEviction }
  }

  it('posts a policy/v1 Eviction for the pod', async () => {
    const { kube, createNamespacedPodEviction } = evicting(async () => ({}))
    expect(await evictPod(kube, 'ns', 'web-1')).toEqual({ kind: 'evicted' })
    expect(createNamespacedPodEviction).toHaveBeenCalledWith({
      namespace: 'ns',
      name: 'web-1',
      body: { apiVersion: 'policy/v1', kind: 'Eviction', metadata: { name: 'web-1', namespace: 'ns' } },
    })
  })

  it.each([
    ['a pod already gone (404)', apiError(404), { kind: 'gone' }],
    ['a refusal (429), naming the budget', apiError(429, REFUSED_BODY), { kind: 'blocked', budgets: ['web'], message: expect.stringContaining('needs 2 healthy pods') }],
    ['a refusal without causes, naming the budgets the plan knew', apiError(429, '{}'), { kind: 'blocked', budgets: ['known'], message: expect.any(String) }],
  ])('reads %s', async (_what, err, expected) => {
    const { kube } = evicting(async () => {
      throw err
    })
    expect(await evictPod(kube, 'ns', 'web-1', ['known'])).toEqual(expected)
  })

  it('explains a pod under two budgets (500), which retrying cannot fix', async () => {
    const { kube } = evicting(async () => {
      throw apiError(500, JSON.stringify({ message: 'This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.' }))
    })
    const err = await evictPod(kube, 'ns', 'web-1', ['a', 'b']).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(DomainError)
    expect((err as Error).message).toMatch(/selected by more than one PodDisruptionBudget \(a, b\).*kubectl delete pod web-1 -n ns/)
  })

  it('rethrows anything else', async () => {
    const { kube } = evicting(async () => {
      throw apiError(403)
    })
    await expect(evictPod(kube, 'ns', 'web-1')).rejects.toMatchObject({ code: 403 })
  })
})

describe('rolloutRestart', () => {
  it('sends the restartedAt strategic merge patch and returns the value written', async () => {
    const patchNamespacedDeployment = vi.fn(async () => ({}))
    const kube = fakeKube({ apps: { patchNamespacedDeployment } })
    const value = await rolloutRestart(kube, { kind: 'Deployment', namespace: 'ns', name: 'web' }, new Date('2026-01-01T12:00:00.789Z'))
    expect(value).toBe(RESTARTED_AT)
    expect(patchNamespacedDeployment).toHaveBeenCalledWith(
      { namespace: 'ns', name: 'web', body: { spec: { template: { metadata: { annotations: { [RESTARTED_AT_ANNOTATION]: RESTARTED_AT } } } } } },
      expect.anything(),
    )
  })

  it('says the workload is gone on 404', async () => {
    const kube = fakeKube({
      apps: {
        patchNamespacedStatefulSet: async () => {
          throw apiError(404)
        },
      },
    })
    await expect(rolloutRestart(kube, { kind: 'StatefulSet', namespace: 'ns', name: 'db' }, new Date())).rejects.toThrow(/statefulset\/db in namespace ns is gone.*rerun/)
  })
})

describe('waitForRollout', () => {
  const oldPod = makePod('web-old', { uid: 'old', labels: { app: 'web' } })
  const newPods = [makePod('web-a', { uid: 'new-a', labels: { app: 'web' } }), makePod('web-b', { uid: 'new-b', labels: { app: 'web' } })]
  const deployment = (status: V1Deployment['status'], generation = 2): V1Deployment =>
    makeDeployment('web', { replicas: 2, generation, restartedAt: RESTARTED_AT, status: { observedGeneration: generation, ...status } })

  function scripted(deployments: V1Deployment[], podLists: V1Pod[][]) {
    let d = 0
    let p = 0
    const listNamespacedPod = vi.fn(async () => ({ items: podLists[Math.min(p++, podLists.length - 1)] }))
    const kube = fakeKube({
      apps: { readNamespacedDeployment: async () => deployments[Math.min(d++, deployments.length - 1)] },
      core: { listNamespacedPod },
    })
    return { kube, listNamespacedPod }
  }
  const wait = (kube: Kube, timeoutMs = 60_000) => {
    const { output: out, stderr } = output()
    const run = waitForRollout(kube, {
      workload: { kind: 'Deployment', namespace: 'default', name: 'web' },
      restartedAt: RESTARTED_AT,
      oldUids: ['old'],
      timeoutMs,
      output: out,
      seams: { ...fakeClock(), everyMs: 0 },
    })
    return { run, stderr }
  }

  it('waits until the controller reports the rollout done and the old pods are gone', async () => {
    const { kube, listNamespacedPod } = scripted(
      [
        deployment({ replicas: 3, updatedReplicas: 1, availableReplicas: 2 }),
        deployment({ replicas: 2, updatedReplicas: 2, availableReplicas: 2 }),
        deployment({ replicas: 2, updatedReplicas: 2, availableReplicas: 2 }),
      ],
      [[oldPod, ...newPods], [{ ...oldPod, metadata: { ...oldPod.metadata, deletionTimestamp: new Date() } }, ...newPods], newPods],
    )
    const { run, stderr } = wait(kube)
    const done = await run
    expect(done.pods.map((p) => p.uid)).toEqual(['new-a', 'new-b'])
    expect(done.detail).toBe('2 replicas updated and available')
    expect(listNamespacedPod).toHaveBeenCalledWith({ namespace: 'default', labelSelector: 'app=web', limit: 500 })
    expect(stderr.text()).toContain('waiting for rollout of deployment/web in default: 1 of 2 replicas updated; 1 old pod(s) still there: web-old')
    expect(stderr.text()).toContain('2 replicas updated and available; 1 old pod(s) still there: web-old')
  })

  it('fails at once when the Deployment exceeded its progress deadline, naming what to check', async () => {
    const { kube } = scripted(
      [deployment({ conditions: [{ type: 'Progressing', status: 'False', reason: 'ProgressDeadlineExceeded', message: 'ReplicaSet "web-2" has timed out progressing.' }] })],
      [[oldPod]],
    )
    await expect(wait(kube).run).rejects.toThrow(/rollout of deployment\/web in default failed: progress deadline exceeded.*kubectl rollout status deployment\/web -n default/)
  })

  it('ends at the deadline with an error naming the workload and how far it got', async () => {
    const { kube } = scripted([deployment({ replicas: 2, updatedReplicas: 1 })], [[oldPod, ...newPods]])
    const err = await wait(kube, 10_000).run.catch((e: unknown) => e)
    expect(err).toBeInstanceOf(DomainError)
    expect((err as Error).message).toMatch(/^timed out after 10s waiting for rollout of deployment\/web in default \(1 of 2 replicas updated; 1 old pod\(s\) still there: web-old\); see what holds it up/)
  })
})

describe('evictAndWait', () => {
  const owner = ownerRef('ReplicaSet', 'web-5d9')
  const pod = ready(makePod('web-5d9-aaaaa', { uid: 'old', owner }))
  const sibling = ready(makePod('web-5d9-bbbbb', { uid: 'sib', owner }))
  const replacement = ready(makePod('web-5d9-ccccc', { uid: 'new', owner }))

  it('retries a refused eviction until the deadline, then names the budget and what to do', async () => {
    const kube = fakeKube({
      core: {
        listNamespacedPod: async () => ({ items: [pod, sibling] }),
        createNamespacedPodEviction: async () => {
          throw apiError(429, REFUSED_BODY)
        },
      },
    })
    const { output: out } = output()
    const err = await evictAndWait(kube, { pod, budgets: ['web'], timeoutMs: 30_000, output: out, seams: fakeClock() }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(DomainError)
    const message = (err as Error).message
    expect(message).toContain('waiting for eviction of pod default/web-5d9-aaaaa (refused by PodDisruptionBudget default/web: The disruption budget web needs 2 healthy pods')
    expect(message).toContain('kubectl get pdb web -n default -o yaml')
  })

  it('evicts, then waits until the old pod is gone and its controller is as ready as before', async () => {
    const lists = [[pod, sibling], [pod, sibling], [sibling], [sibling, replacement]]
    let i = 0
    const kube = fakeKube({
      core: {
        listNamespacedPod: async () => ({ items: lists[Math.min(i++, lists.length - 1)] }),
        createNamespacedPodEviction: async () => ({}),
      },
    })
    const { output: out } = output()
    const result = await evictAndWait(kube, { pod, timeoutMs: 30_000, output: out, seams: fakeClock() })
    expect(result.outcome).toBe('evicted')
    expect(result.replacements.map((p) => p.uid).sort()).toEqual(['new', 'sib'])
  })
})

describe('recreatePod', () => {
  it('deletes only that pod (uid precondition), creates the replacement and waits until it runs', async () => {
    const pod = makePod('lonely', { uid: 'old' })
    const replacement = recreatedPodSpec(pod)
    const reads: Array<V1Pod | 'gone'> = [pod, 'gone', makePod('lonely', { uid: 'new', phase: 'Pending' }), makePod('lonely', { uid: 'new' })]
    let r = 0
    const deleteNamespacedPod = vi.fn(async () => ({}))
    const createNamespacedPod = vi.fn(async () => makePod('lonely', { uid: 'new', phase: 'Pending' }))
    const kube = fakeKube({
      core: {
        deleteNamespacedPod,
        createNamespacedPod,
        readNamespacedPod: async () => {
          const next = reads[Math.min(r++, reads.length - 1)]
          if (next === 'gone') throw apiError(404)
          return next
        },
      },
    })
    const { output: out } = output()
    const created = await recreatePod(kube, { pod, replacement, timeoutMs: 30_000, output: out, seams: fakeClock() })
    expect(created).toEqual({ namespace: 'default', name: 'lonely', uid: 'new' })
    expect(deleteNamespacedPod).toHaveBeenCalledWith({ namespace: 'default', name: 'lonely', body: { preconditions: { uid: 'old' } } })
    expect(createNamespacedPod).toHaveBeenCalledWith({ namespace: 'default', body: replacement })
  })

  it('names the backup when the pod was deleted but cannot be created again', async () => {
    const pod = makePod('lonely', { uid: 'old' })
    const kube = fakeKube({
      core: {
        deleteNamespacedPod: async () => ({}),
        readNamespacedPod: async () => {
          throw apiError(404)
        },
        createNamespacedPod: async () => {
          throw apiError(422, JSON.stringify({ message: 'Pod "lonely" is invalid: spec.containers: Required value' }))
        },
      },
    })
    const { output: out } = output()
    await expect(
      recreatePod(kube, { pod, replacement: recreatedPodSpec(pod), backupFile: '/backups/pod/default/lonely.json', timeoutMs: 30_000, output: out, seams: fakeClock() }),
    ).rejects.toThrow(/bare pod default\/lonely was deleted but could not be created again: Pod "lonely" is invalid.*kubectl create -f \/backups\/pod\/default\/lonely.json/)
  })
})
