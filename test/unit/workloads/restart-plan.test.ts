import type { V1LabelSelector, V1Pod, V1PodDisruptionBudget } from '@kubernetes/client-node'
import { describe, expect, it } from 'vitest'
import { findDependentPods } from '../../../lib/workloads/dependents.ts'
import { buildOwnerIndex, type OwnerObjects } from '../../../lib/workloads/owners.ts'
import { secretReferencesOf } from '../../../lib/workloads/references.ts'
import {
  BARE_POD_REFUSED,
  evictionCommand,
  planRestarts,
  recreatedPodSpec,
  restartInProgress,
  renderPlanText,
  summarizePlan,
  type PlanContext,
  type PlanCounts,
  type RestartAction,
} from '../../../lib/workloads/restart-plan.ts'
import {
  container,
  ephemeralContainer,
  makeDaemonSet,
  makeDeployment,
  makeJob,
  makePdb,
  makePod,
  makeReplicaSet,
  makeStatefulSet,
  ownerRef,
  secretEnv,
  secretEnvFrom,
  secretVolume,
} from '../helpers/objects.ts'

const TOKEN = 'app-token-x7k2p'

/** A pod that mounts the regenerated token Secret of its namespace. */
function dependentPod(name: string, options: Parameters<typeof makePod>[1] = {}): V1Pod {
  return makePod(name, { volumes: [secretVolume('token', TOKEN)], ...options })
}

function plan(pods: V1Pod[], objects: OwnerObjects = {}, context: Partial<PlanContext> = {}) {
  const namespaces = new Set(pods.map((pod) => pod.metadata?.namespace ?? 'default'))
  const targetSecrets = new Set([...namespaces].map((namespace) => `${namespace}/${TOKEN}`))
  const dependents = findDependentPods({ pods, targetSecrets })
  return planRestarts(dependents, { pods, owners: buildOwnerIndex(objects), ...context })
}

const evictLine = (namespace: string, name: string) =>
  `printf '%s\\n' '{"apiVersion":"policy/v1","kind":"Eviction","metadata":{"name":"${name}","namespace":"${namespace}"}}' | kubectl create --raw /api/v1/namespaces/${namespace}/pods/${name}/eviction -f -`

const rsOf = (deployment: string) => makeReplicaSet(`${deployment}-7d9f`, { owner: ownerRef('Deployment', deployment) })

describe('planRestarts: one action per kind of owner', () => {
  it.each<[string, V1Pod, OwnerObjects, Partial<PlanContext>, RestartAction, string[], RegExp | undefined]>([
    [
      'Deployment (via its ReplicaSet): rollout restart',
      dependentPod('web-7d9f-abcde', { owner: ownerRef('ReplicaSet', 'web-7d9f') }),
      { replicaSets: [rsOf('web')] },
      {},
      'rollout-restart',
      ['kubectl rollout restart deployment/web -n default'],
      undefined,
    ],
    [
      'a paused Deployment: evict',
      dependentPod('paused-7d9f-abcde', { owner: ownerRef('ReplicaSet', 'paused-7d9f') }),
      { replicaSets: [rsOf('paused')], deployments: [makeDeployment('paused', { paused: true })] },
      {},
      'evict',
      [evictLine('default', 'paused-7d9f-abcde')],
      /Deployment default\/paused is paused, so a rollout restart would not roll/,
    ],
    [
      'a ReplicaSet without Deployment: evict',
      dependentPod('solo-rs-abcde', { owner: ownerRef('ReplicaSet', 'solo-rs') }),
      { replicaSets: [makeReplicaSet('solo-rs')] },
      {},
      'evict',
      [evictLine('default', 'solo-rs-abcde')],
      /ReplicaSet default\/solo-rs has no Deployment; it re-creates evicted pods/,
    ],
    [
      'StatefulSet, RollingUpdate: rollout restart',
      dependentPod('db-0', { owner: ownerRef('StatefulSet', 'db') }),
      { statefulSets: [makeStatefulSet('db')] },
      {},
      'rollout-restart',
      ['kubectl rollout restart statefulset/db -n default'],
      undefined,
    ],
    [
      'StatefulSet, OnDelete: evict',
      dependentPod('db-0', { owner: ownerRef('StatefulSet', 'db') }),
      { statefulSets: [makeStatefulSet('db', { strategy: 'OnDelete' })] },
      {},
      'evict',
      [evictLine('default', 'db-0')],
      /StatefulSet default\/db updates OnDelete: a rollout restart would replace no pod/,
    ],
    [
      'StatefulSet, partitioned: evict',
      dependentPod('db-0', { owner: ownerRef('StatefulSet', 'db') }),
      { statefulSets: [makeStatefulSet('db', { partition: 1 })] },
      {},
      'evict',
      [evictLine('default', 'db-0')],
      /rolling update partition 1: a rollout restart would skip pods with a lower ordinal/,
    ],
    [
      'StatefulSet not listed: evict (works with either strategy)',
      dependentPod('db-0', { owner: ownerRef('StatefulSet', 'db') }),
      {},
      {},
      'evict',
      [evictLine('default', 'db-0')],
      /StatefulSet default\/db was not among the listed objects, so its update strategy is unknown/,
    ],
    [
      'DaemonSet, RollingUpdate: rollout restart',
      dependentPod('calico-node-abcde', { namespace: 'kube-system', owner: ownerRef('DaemonSet', 'calico-node') }),
      { daemonSets: [makeDaemonSet('calico-node', { namespace: 'kube-system' })] },
      {},
      'rollout-restart',
      ['kubectl rollout restart daemonset/calico-node -n kube-system'],
      undefined,
    ],
    [
      'DaemonSet, OnDelete: evict',
      dependentPod('agent-abcde', { owner: ownerRef('DaemonSet', 'agent') }),
      { daemonSets: [makeDaemonSet('agent', { strategy: 'OnDelete' })] },
      {},
      'evict',
      [evictLine('default', 'agent-abcde')],
      /DaemonSet default\/agent updates OnDelete/,
    ],
    [
      'Job: report',
      dependentPod('migrate-abcde', { owner: ownerRef('Job', 'migrate') }),
      { jobs: [makeJob('migrate')] },
      {},
      'report',
      ['kubectl get job/migrate -n default'],
      /^Job default\/migrate picks up the new token on its next run$/,
    ],
    [
      'CronJob (via its Job): report',
      dependentPod('backup-2900-abcde', { owner: ownerRef('Job', 'backup-2900') }),
      { jobs: [makeJob('backup-2900', { owner: ownerRef('CronJob', 'backup') })] },
      {},
      'report',
      ['kubectl get cronjob/backup -n default'],
      /^CronJob default\/backup picks up the new token on its next run$/,
    ],
    [
      'a custom controller: evict',
      dependentPod('canary-abcde', { owner: ownerRef('Rollout', 'canary', { apiVersion: 'argoproj.io/v1alpha1' }) }),
      {},
      {},
      'evict',
      [evictLine('default', 'canary-abcde')],
      /controlled by Rollout \(argoproj.io\/v1alpha1\) canary/,
    ],
    ['a bare pod: refused', dependentPod('debug'), {}, {}, 'refuse', [], /^bare pod: it would not come back; rerun with --recreate-bare-pods$/],
    [
      'a static pod: skipped',
      dependentPod('etcd-cp-1', { namespace: 'kube-system', annotations: { 'kubernetes.io/config.mirror': 'abc' }, owner: ownerRef('Node', 'cp-1') }),
      {},
      {},
      'skip',
      [],
      /^static pod: the kubelet runs it from a manifest file/,
    ],
  ])('%s', (_name, pod, objects, context, action, kubectl, note) => {
    const { items } = plan([pod], objects, context)
    expect(items).toHaveLength(1)
    expect(items[0]?.action).toBe(action)
    expect(items[0]?.kubectl).toEqual(kubectl)
    expect(items[0]?.pods.map((p) => p.pod.name)).toEqual([pod.metadata?.name])
    if (note) expect(items[0]?.notes.join('\n')).toMatch(note)
    else expect(items[0]?.notes).toEqual([])
  })

  it('prefixes the connection flags to every command', () => {
    const pods = [dependentPod('web-7d9f-abcde', { owner: ownerRef('ReplicaSet', 'web-7d9f') }), dependentPod('solo-rs-abcde', { owner: ownerRef('ReplicaSet', 'solo-rs') })]
    const { items } = plan(pods, { replicaSets: [rsOf('web'), makeReplicaSet('solo-rs')] }, { kubectlArgs: ['--context', 'prod cluster'] })
    expect(items.flatMap((item) => item.kubectl)).toEqual([
      "kubectl --context 'prod cluster' rollout restart deployment/web -n default",
      `printf '%s\\n' '{"apiVersion":"policy/v1","kind":"Eviction","metadata":{"name":"solo-rs-abcde","namespace":"default"}}' | kubectl --context 'prod cluster' create --raw /api/v1/namespaces/default/pods/solo-rs-abcde/eviction -f -`,
    ])
  })
})

describe('planRestarts: per owner, not per pod', () => {
  it('plans a DaemonSet referenced by several pods once, listing them all', () => {
    const pods = ['c', 'a', 'b'].map((suffix) =>
      dependentPod(`calico-node-${suffix}`, { namespace: 'kube-system', owner: ownerRef('DaemonSet', 'calico-node') }),
    )
    const result = plan(pods, { daemonSets: [makeDaemonSet('calico-node', { namespace: 'kube-system' })] })
    expect(result.items).toHaveLength(1)
    expect(result.items[0]?.pods.map((p) => p.pod.name)).toEqual(['calico-node-a', 'calico-node-b', 'calico-node-c'])
    expect(result.items[0]?.kubectl).toEqual(['kubectl rollout restart daemonset/calico-node -n kube-system'])
    expect(result.items[0]?.why).toBe('references Secret kube-system/app-token-x7k2p (volume)')
    expect(result.counts.rolloutRestart).toBe(1)
  })

  it('plans a Deployment once across its ReplicaSets (an unfinished rollout has two)', () => {
    const pods = [
      dependentPod('web-old-aaaaa', { owner: ownerRef('ReplicaSet', 'web-old') }),
      dependentPod('web-new-bbbbb', { owner: ownerRef('ReplicaSet', 'web-new') }),
    ]
    const objects = {
      replicaSets: [makeReplicaSet('web-old', { owner: ownerRef('Deployment', 'web') }), makeReplicaSet('web-new', { owner: ownerRef('Deployment', 'web') })],
    }
    const { items } = plan(pods, objects)
    expect(items.map((item) => [item.action, item.owner.name, item.pods.length])).toEqual([['rollout-restart', 'web', 2]])
  })

  it('evicts every dependent pod of an OnDelete StatefulSet, one command each, in one item', () => {
    const pods = [dependentPod('db-1', { owner: ownerRef('StatefulSet', 'db') }), dependentPod('db-0', { owner: ownerRef('StatefulSet', 'db') })]
    const result = plan(pods, { statefulSets: [makeStatefulSet('db', { strategy: 'OnDelete' })] })
    expect(result.items).toHaveLength(1)
    expect(result.items[0]?.kubectl).toEqual([evictLine('default', 'db-0'), evictLine('default', 'db-1')])
    expect(result.counts.evict).toBe(2)
  })

  it('reports a CronJob once, however many of its pods run', () => {
    const pods = [dependentPod('backup-2900-a', { owner: ownerRef('Job', 'backup-2900') }), dependentPod('backup-2900-b', { owner: ownerRef('Job', 'backup-2900') })]
    const result = plan(pods, { jobs: [makeJob('backup-2900', { owner: ownerRef('CronJob', 'backup') })] })
    expect(result.counts.report).toBe(1)
    expect(result.summary).toBe('1 job reported')
  })

  it('keeps bare pods apart, one item each', () => {
    const result = plan([dependentPod('debug-a'), dependentPod('debug-b')])
    expect(result.items.map((item) => item.pods.map((p) => p.pod.name))).toEqual([['debug-a'], ['debug-b']])
    expect(result.summary).toBe('2 bare pods refused')
  })

  it('merges the reasons of all pods into one line, each said once', () => {
    const pods = [
      dependentPod('web-7d9f-a', { owner: ownerRef('ReplicaSet', 'web-7d9f') }),
      makePod('web-7d9f-b', {
        owner: ownerRef('ReplicaSet', 'web-7d9f'),
        volumes: [secretVolume('token', TOKEN)],
        containers: [container('app', { env: [secretEnv('T', TOKEN)] })],
      }),
    ]
    const { items } = plan(pods, { replicaSets: [rsOf('web')] })
    expect(items[0]?.why).toBe('references Secret default/app-token-x7k2p (volume); references Secret default/app-token-x7k2p (env)')
  })

  it('plans a pod listed twice once', () => {
    const pod = dependentPod('debug')
    const dependents = findDependentPods({ pods: [pod], targetSecrets: new Set([`default/${TOKEN}`]) })
    const result = planRestarts([...dependents, ...dependents], { pods: [pod], owners: buildOwnerIndex() })
    expect(result.items).toHaveLength(1)
    expect(result.counts.refuse).toBe(1)
  })

  it('says which pod is missing when a dependent is not among the pods (a caller bug)', () => {
    const dependents = [{ pod: { namespace: 'default', name: 'ghost', uid: 'uid-ghost' }, reasons: [] }]
    expect(() => planRestarts(dependents, { pods: [], owners: buildOwnerIndex() })).toThrow(/dependent pod default\/ghost \(uid uid-ghost\) is not among the pods/)
  })
})

describe('planRestarts: PodDisruptionBudgets', () => {
  // An OnDelete StatefulSet: its pods are evicted, so budgets matter.
  const pods = [
    dependentPod('db-0', { owner: ownerRef('StatefulSet', 'db'), labels: { app: 'db', tier: 'data' } }),
    dependentPod('db-1', { owner: ownerRef('StatefulSet', 'db'), labels: { app: 'db', tier: 'data' } }),
  ]
  const objects = { statefulSets: [makeStatefulSet('db', { strategy: 'OnDelete' })] }
  const pdb = (name: string, selector: V1LabelSelector, disruptionsAllowed: number | null = 1, namespace = 'default') =>
    makePdb(name, { selector, disruptionsAllowed, namespace })

  it.each<[string, V1PodDisruptionBudget[], string[], boolean, RegExp | undefined]>([
    ['none', [], [], false, undefined],
    ['matchLabels, disruptions allowed', [pdb('db', { matchLabels: { app: 'db' } })], ['db'], false, undefined],
    [
      'matchLabels, 0 disruptions allowed',
      [pdb('db', { matchLabels: { app: 'db' } }, 0)],
      ['db'],
      true,
      /^PodDisruptionBudget default\/db allows 0 disruptions now: evictions are refused \(429\) until it allows one$/,
    ],
    ['no status yet', [pdb('db', { matchLabels: { app: 'db' } }, null)], ['db'], true, /^PodDisruptionBudget default\/db has no status yet: evictions are refused/],
    ['matchExpressions In', [pdb('data', { matchExpressions: [{ key: 'tier', operator: 'In', values: ['data', 'cache'] }] }, 0)], ['data'], true, /default\/data allows 0/],
    ['matchExpressions NotIn (excluded)', [pdb('not-data', { matchExpressions: [{ key: 'tier', operator: 'NotIn', values: ['data'] }] }, 0)], [], false, undefined],
    ['matchExpressions Exists', [pdb('has-tier', { matchExpressions: [{ key: 'tier', operator: 'Exists' }] })], ['has-tier'], false, undefined],
    ['matchExpressions DoesNotExist (excluded)', [pdb('no-tier', { matchExpressions: [{ key: 'tier', operator: 'DoesNotExist' }] }, 0)], [], false, undefined],
    ['an empty selector selects every pod of its namespace', [pdb('all', {}, 0)], ['all'], true, /default\/all allows 0/],
    ['a matching selector in another namespace', [pdb('db', { matchLabels: { app: 'db' } }, 0, 'other')], [], false, undefined],
    ['a selector for other pods', [pdb('web', { matchLabels: { app: 'web' } }, 0)], [], false, undefined],
    [
      'two budgets over the same pods',
      [pdb('db-b', { matchLabels: { app: 'db' } }), pdb('db-a', { matchExpressions: [{ key: 'tier', operator: 'In', values: ['data'] }] })],
      ['db-a', 'db-b'],
      true,
      /^pod db-0 is selected by 2 PodDisruptionBudgets \(db-a, db-b\): the Eviction API refuses such pods \(500\)$/m,
    ],
  ])('%s', (_name, pdbs, names, mayBlock, warning) => {
    const [item] = plan(pods, objects, { pdbs }).items
    expect(item?.action).toBe('evict')
    expect(item?.pdbs.map((match) => match.name)).toEqual(names)
    expect(item?.pdbMayBlock).toBe(mayBlock)
    if (warning) expect(item?.warnings.join('\n')).toMatch(warning)
    else expect(item?.warnings).toEqual([])
  })

  it('records which pods each budget selects and what it allows', () => {
    const [item] = plan(pods, objects, { pdbs: [pdb('db', { matchLabels: { app: 'db' } }, 0)] }).items
    expect(item?.pdbs).toEqual([{ namespace: 'default', name: 'db', disruptionsAllowed: 0, pods: ['db-0', 'db-1'] }])
  })

  it('lists budgets on a rollout but does not flag them: rollouts do not consult budgets', () => {
    const pod = dependentPod('web-7d9f-abcde', { owner: ownerRef('ReplicaSet', 'web-7d9f'), labels: { app: 'web' } })
    const [item] = plan([pod], { replicaSets: [rsOf('web')] }, { pdbs: [makePdb('web', { disruptionsAllowed: 0 })] }).items
    expect(item?.action).toBe('rollout-restart')
    expect(item?.pdbs.map((match) => match.name)).toEqual(['web'])
    expect(item?.pdbMayBlock).toBe(false)
    expect(item?.warnings).toEqual([])
    expect(item?.notes).toEqual(['PodDisruptionBudget default/web allows 0 disruptions now; a rollout does not consult budgets, its own maxUnavailable paces it'])
  })

  it('does not attach budgets to bare pods, which are never evicted', () => {
    const [item] = plan([dependentPod('debug', { labels: { app: 'debug' } })], {}, { pdbs: [makePdb('all', { selector: {}, disruptionsAllowed: 0 })] }).items
    expect(item?.pdbs).toEqual([])
    expect(item?.pdbMayBlock).toBe(false)
  })
})

describe('planRestarts: bare pods with --recreate-bare-pods', () => {
  it('re-creates the pod from its spec, with the renamed Secret', () => {
    const renamedSecrets = new Map([['default/default-token-old11', 'default/default-token-new22']])
    const pod = makePod('debug', { volumes: [secretVolume('default-token-old11')] })
    const dependents = findDependentPods({ pods: [pod], targetSecrets: new Set(), renamedSecrets })
    const result = planRestarts(dependents, { pods: [pod], owners: buildOwnerIndex(), recreateBarePods: true, renamedSecrets })
    const [item] = result.items
    expect(item?.action).toBe('recreate')
    expect(result.summary).toBe('1 bare pod to re-create')
    expect(item?.notes).toEqual(['bare pod: deleted and created again from its spec (status, node and identity stripped)', 'the new pod names the re-created Secrets'])
    expect(item?.recreate && secretReferencesOf(item.recreate).map((r) => r.secret)).toEqual(['default-token-new22'])
    expect(item?.kubectl[0]).toBe('kubectl get pod debug -n default -o yaml > default.debug.pod.yaml')
    expect(item?.kubectl[1]).toBe(`printf '%s\\n' '${JSON.stringify(item?.recreate)}' | kubectl replace --force -f -`)
    expect(item?.pdbMayBlock).toBe(false)
  })
})

describe('recreatedPodSpec', () => {
  const pod = makePod('debug', {
    namespace: 'tools',
    labels: { app: 'debug' },
    annotations: { note: 'keep' },
    owner: undefined,
    ownerReferences: [ownerRef('ConfigMap', 'cfg', { apiVersion: 'v1', controller: false })],
    nodeName: 'worker-3',
    volumes: [secretVolume('token', 'old-token')],
    containers: [container('app', { envFrom: [secretEnvFrom('old-token')] })],
    ephemeralContainers: [ephemeralContainer('dbg')],
  })
  const renamed = new Map([['tools/old-token', 'tools/new-token']])

  it('keeps name, namespace, labels, annotations and spec; drops identity, status, node and ephemeral containers', () => {
    const created = recreatedPodSpec(pod, renamed)
    expect(created.apiVersion).toBe('v1')
    expect(created.kind).toBe('Pod')
    expect(created.metadata).toEqual({ name: 'debug', namespace: 'tools', labels: { app: 'debug' }, annotations: { note: 'keep' } })
    expect(created.status).toBeUndefined()
    expect(created.spec?.nodeName).toBeUndefined()
    expect(created.spec?.ephemeralContainers).toBeUndefined()
    expect(created.spec?.serviceAccountName).toBe('default')
    expect(created.spec?.containers.map((c) => c.name)).toEqual(['app'])
    expect(secretReferencesOf(created).map((r) => `${r.via}:${r.secret}`)).toEqual(['volume:new-token', 'envFrom:new-token'])
  })

  it('leaves the old pod untouched', () => {
    const before = structuredClone(pod)
    const created = recreatedPodSpec(pod, renamed)
    created.metadata!.labels!.app = 'changed'
    expect(pod).toEqual(before)
  })

  it('keeps Secret names without renames', () => {
    expect(secretReferencesOf(recreatedPodSpec(pod)).map((r) => r.secret)).toEqual(['old-token', 'old-token'])
  })
})

describe('evictionCommand', () => {
  it('is a POSIX pipe that POSTs a policy/v1 Eviction to the pod', () => {
    expect(evictionCommand('kube-system', 'coredns-abc12')).toBe(
      `printf '%s\\n' '{"apiVersion":"policy/v1","kind":"Eviction","metadata":{"name":"coredns-abc12","namespace":"kube-system"}}' | kubectl create --raw /api/v1/namespaces/kube-system/pods/coredns-abc12/eviction -f -`,
    )
  })
})

describe('the whole plan: counts, summary and order', () => {
  // 9 Deployments (one with three dependent pods), an OnDelete StatefulSet with
  // two, a bare pod, a static pod and a CronJob's pod.
  const deployments = ['web', 'api', 'auth', 'billing', 'cart', 'search', 'mail', 'queue']
  const pods: V1Pod[] = [
    ...deployments.map((name) => dependentPod(`${name}-7d9f-abcde`, { owner: ownerRef('ReplicaSet', `${name}-7d9f`) })),
    ...['x', 'y', 'z'].map((s) => dependentPod(`coredns-7d9f-${s}`, { namespace: 'kube-system', owner: ownerRef('ReplicaSet', 'coredns-7d9f') })),
    dependentPod('db-1', { owner: ownerRef('StatefulSet', 'db') }),
    dependentPod('db-0', { owner: ownerRef('StatefulSet', 'db') }),
    dependentPod('debug'),
    dependentPod('etcd-cp-1', { namespace: 'kube-system', annotations: { 'kubernetes.io/config.mirror': 'abc' } }),
    dependentPod('backup-2900-abcde', { owner: ownerRef('Job', 'backup-2900') }),
  ]
  const objects: OwnerObjects = {
    replicaSets: [
      ...deployments.map(rsOf),
      makeReplicaSet('coredns-7d9f', { namespace: 'kube-system', owner: ownerRef('Deployment', 'coredns') }),
    ],
    statefulSets: [makeStatefulSet('db', { strategy: 'OnDelete' })],
    jobs: [makeJob('backup-2900', { owner: ownerRef('CronJob', 'backup') })],
  }
  const result = plan(pods, objects)

  it('counts workloads for rollouts and jobs, pods for the rest', () => {
    expect(result.counts).toEqual({ rolloutRestart: 9, rolloutWait: 0, evict: 2, recreate: 0, refuse: 1, skip: 1, report: 1 })
    expect(result.summary).toBe('9 workloads to restart, 2 pods to evict, 1 bare pod refused, 1 static pod skipped, 1 job reported')
  })

  it('sorts by namespace, kind, name', () => {
    expect(result.items.map((item) => `${item.owner.namespace} ${item.owner.kind} ${item.owner.name} ${item.action}`)).toEqual([
      'default CronJob backup report',
      'default Deployment api rollout-restart',
      'default Deployment auth rollout-restart',
      'default Deployment billing rollout-restart',
      'default Deployment cart rollout-restart',
      'default Deployment mail rollout-restart',
      'default Deployment queue rollout-restart',
      'default Deployment search rollout-restart',
      'default Deployment web rollout-restart',
      'default bare debug refuse',
      'default StatefulSet db evict',
      'kube-system Deployment coredns rollout-restart',
      'kube-system static etcd-cp-1 skip',
    ])
  })

  it('is the same plan whatever order the pods and dependents come in', () => {
    const reversed = [...pods].reverse()
    const dependents = findDependentPods({ pods: reversed, targetSecrets: new Set([`default/${TOKEN}`, `kube-system/${TOKEN}`]) }).reverse()
    expect(planRestarts(dependents, { pods: reversed, owners: buildOwnerIndex(objects) })).toEqual(result)
  })

  it('renders the summary, a table and the commands', () => {
    const text = renderPlanText(result)
    const lines = text.split('\n')
    expect(lines[0]).toBe(result.summary)
    expect(lines[2]).toBe('NAMESPACE    WORKLOAD            ACTION           PODS')
    expect(lines[3]).toBe('default      CronJob/backup      report           1')
    expect(lines).toContain('kube-system  Deployment/coredns  rollout-restart  3')
    expect(lines).toContain('default      Pod/debug           refuse           1')
    expect(text).toContain(
      [
        'kube-system Deployment/coredns: rollout-restart',
        '  pods: coredns-7d9f-x, coredns-7d9f-y, coredns-7d9f-z',
        '  why: references Secret kube-system/app-token-x7k2p (volume)',
        '  $ kubectl rollout restart deployment/coredns -n kube-system',
      ].join('\n'),
    )
    expect(text).toContain(['default Pod/debug: refuse', '  pods: debug', '  why: references Secret default/app-token-x7k2p (volume)', `  note: ${BARE_POD_REFUSED}`].join('\n'))
    expect(text).toContain(`  $ ${evictLine('default', 'db-0')}\n  $ ${evictLine('default', 'db-1')}`)
  })

  it('renders budget warnings', () => {
    const blocked = plan(
      [dependentPod('db-0', { owner: ownerRef('StatefulSet', 'db'), labels: { app: 'db' } })],
      { statefulSets: [makeStatefulSet('db', { strategy: 'OnDelete' })] },
      { pdbs: [makePdb('db', { disruptionsAllowed: 0 })] },
    )
    expect(renderPlanText(blocked)).toContain('  warning: PodDisruptionBudget default/db allows 0 disruptions now: evictions are refused (429) until it allows one')
  })

  it('says there is nothing to do in one line', () => {
    const empty = planRestarts([], { pods: [], owners: buildOwnerIndex() })
    expect(empty.items).toEqual([])
    expect(renderPlanText(empty)).toBe('nothing to restart: no pod depends on a changed token')
  })
})

describe('summarizePlan', () => {
  const zero: PlanCounts = { rolloutRestart: 0, rolloutWait: 0, evict: 0, recreate: 0, refuse: 0, skip: 0, report: 0 }
  it.each<[Partial<PlanCounts>, string]>([
    [{}, 'nothing to restart: no pod depends on a changed token'],
    [{ rolloutRestart: 1 }, '1 workload to restart'],
    [{ rolloutWait: 1 }, '1 rollout already restarted, to wait for'],
    [{ evict: 1, refuse: 2 }, '1 pod to evict, 2 bare pods refused'],
    [{ recreate: 2, skip: 2, report: 3 }, '2 bare pods to re-create, 2 static pods skipped, 3 jobs reported'],
    [{ rolloutRestart: 2, evict: 3, recreate: 1, refuse: 1, skip: 1, report: 1 }, '2 workloads to restart, 3 pods to evict, 1 bare pod to re-create, 1 bare pod refused, 1 static pod skipped, 1 job reported'],
  ])('%j → %s', (counts, expected) => {
    expect(summarizePlan({ ...zero, ...counts })).toBe(expected)
  })
})

describe('a workload already restarted after the regeneration is waited for, not restarted again (issue 15, item 5)', () => {
  const REGENERATED = '2026-11-30T10:00:00.500Z'
  const regeneratedAt = new Map([[`default/${TOKEN}`, REGENERATED]])
  const oldPod = () => dependentPod('web-7d9f-abcde', { owner: ownerRef('ReplicaSet', 'web-7d9f') })
  const planWith = (restartedAt: string | undefined, context: Partial<PlanContext> = { regeneratedAt }) =>
    plan([oldPod()], { replicaSets: [rsOf('web')], deployments: [makeDeployment('web', restartedAt ? { restartedAt } : {})] }, context)

  it('plans wait-rollout when the template was restarted after the regeneration', () => {
    const result = planWith('2026-11-30T10:00:07Z')
    expect(result.items).toHaveLength(1)
    const [item] = result.items
    expect(item?.action).toBe('wait-rollout')
    expect(item?.restartedAt).toBe('2026-11-30T10:00:07Z')
    expect(item?.kubectl).toEqual(['kubectl rollout status deployment/web -n default'])
    expect(item?.notes.join('\n')).toContain('already restarted at 2026-11-30T10:00:07Z, after the regeneration')
    expect(result.counts).toMatchObject({ rolloutRestart: 0, rolloutWait: 1 })
    expect(result.summary).toBe('1 rollout already restarted, to wait for')
  })

  it('counts a restart in the same second as the regeneration (the annotation has whole seconds)', () => {
    expect(planWith('2026-11-30T10:00:00Z').items[0]?.action).toBe('wait-rollout')
  })

  it.each<[string, string | undefined, Partial<PlanContext>]>([
    ['no restartedAt on the template', undefined, { regeneratedAt }],
    ['a restart from before the regeneration', '2026-11-30T09:59:59Z', { regeneratedAt }],
    ['no regenerated-at known for the Secret', '2026-11-30T10:00:07Z', { regeneratedAt: new Map([[`default/${TOKEN}`, undefined]]) }],
    ['no regenerated-at map at all', '2026-11-30T10:00:07Z', {}],
  ])('restarts when there is %s', (_what, restartedAt, context) => {
    const item = planWith(restartedAt, context).items[0]
    expect(item?.action).toBe('rollout-restart')
    expect(item?.restartedAt).toBeUndefined()
    expect(item?.kubectl).toEqual(['kubectl rollout restart deployment/web -n default'])
  })

  it('restarts when one of the Secrets was regenerated after the restart', () => {
    const other = 'other-token'
    const pod = makePod('web-7d9f-abcde', { owner: ownerRef('ReplicaSet', 'web-7d9f'), volumes: [secretVolume('token', TOKEN), secretVolume('other', other)] })
    const dependents = findDependentPods({ pods: [pod], targetSecrets: new Set([`default/${TOKEN}`, `default/${other}`]) })
    const owners = buildOwnerIndex({ replicaSets: [rsOf('web')], deployments: [makeDeployment('web', { restartedAt: '2026-11-30T10:00:07Z' })] })
    const late = new Map([
      [`default/${TOKEN}`, REGENERATED],
      [`default/${other}`, '2026-11-30T10:05:00Z'],
    ])
    expect(planRestarts(dependents, { pods: [pod], owners, regeneratedAt: late }).items[0]?.action).toBe('rollout-restart')
    expect(planRestarts(dependents, { pods: [pod], owners, regeneratedAt: new Map([...late, [`default/${other}`, REGENERATED]]) }).items[0]?.action).toBe('wait-rollout')
  })

  it('applies to StatefulSets and DaemonSets too, not to evictions', () => {
    const sts = makeStatefulSet('db', { restartedAt: '2026-11-30T10:00:07Z' })
    const ds = makeDaemonSet('agent', { restartedAt: '2026-11-30T10:00:07Z' })
    const onDelete = makeStatefulSet('old', { strategy: 'OnDelete', restartedAt: '2026-11-30T10:00:07Z' })
    const pods = [
      dependentPod('db-0', { owner: ownerRef('StatefulSet', 'db') }),
      dependentPod('agent-x', { owner: ownerRef('DaemonSet', 'agent') }),
      dependentPod('old-0', { owner: ownerRef('StatefulSet', 'old') }),
    ]
    const result = plan(pods, { statefulSets: [sts, onDelete], daemonSets: [ds] }, { regeneratedAt })
    expect(result.items.map((item) => [item.owner.name, item.action])).toEqual([
      ['agent', 'wait-rollout'],
      ['db', 'wait-rollout'],
      ['old', 'evict'],
    ])
  })

  it('restartInProgress: bound tokens date against --bound-before; a missing Secret never waits', () => {
    const template = makeDeployment('web', { restartedAt: '2026-11-30T10:00:07Z' }).spec?.template
    const bound = [{ pod: { namespace: 'default', name: 'p', uid: 'u' }, reasons: [{ kind: 'bound-token-before' as const, volume: 'kube-api-access-x', startedAt: '2026-11-30T09:00:00Z', boundBefore: '2026-11-30T10:00:05Z' }] }]
    expect(restartInProgress(template, bound, new Map())).toBe('2026-11-30T10:00:07Z')
    const missing = [{ pod: { namespace: 'default', name: 'p', uid: 'u' }, reasons: [{ kind: 'missing-secret' as const, secret: 'default/gone', source: 'lookup' as const }] }]
    expect(restartInProgress(template, missing, new Map())).toBeUndefined()
    expect(restartInProgress(template, [], regeneratedAt)).toBeUndefined()
  })
})
