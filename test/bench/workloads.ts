// Benchmark: the Secret → Pod → owner graph and the restart plan at the scale
// of a big cluster, in memory, no cluster. 300 namespaces of 100 pods each
// (30,000), every pod owned: 7 Deployments (via ReplicaSets, an old one
// scaled to 0 beside each), 2 StatefulSets and a DaemonSet of 10 pods; one
// PodDisruptionBudget per Deployment and StatefulSet (2,700); 10,000 token
// Secrets, and in each namespace one workload (10% of the pods) mounts one.
//   buildOwnerIndex               7,200 controllers
//   findDependentPods             Secret references (3,000 dependents); every pod holding a bound
//                                 token from before a rotation (30,000); the 3,000 referencing pods stuck in
//                                 ContainerCreating, against a FailedMount event each
//   findDependentPods             12,000 stuck pods against 12,000 FailedMount events (a cluster whose token
//                                 Secrets were deleted: every pod naming one hangs in ContainerCreating)
//   planRestarts, renderPlanText  for the first two (and planRestarts without budgets, to tell their cost apart)
// Each is measured on a quarter of the cluster as well (75 namespaces): when
// the per-item time grows with the cluster, the cost is super-linear.
//
//   node --expose-gc test/bench/workloads.ts
//
// Prints the table to stdout (median of a few runs), progress to stderr; exit 0.
import type {
  CoreV1Event,
  V1DaemonSet,
  V1Deployment,
  V1ObjectMeta,
  V1Pod,
  V1PodDisruptionBudget,
  V1ReplicaSet,
  V1StatefulSet,
  V1Volume,
} from '@kubernetes/client-node'
import { findDependentPods, type DependentPod } from '../../lib/workloads/dependents.ts'
import { buildOwnerIndex } from '../../lib/workloads/owners.ts'
import { planRestarts, renderPlanText, type PlanContext, type RestartPlan } from '../../lib/workloads/restart-plan.ts'
import {
  configMapEnv,
  configMapVolume,
  container,
  kubeApiAccessVolume,
  makeDaemonSet,
  makeDeployment,
  makeEvent,
  makePdb,
  makePod,
  makeReplicaSet,
  makeStatefulSet,
  ownerRef,
  secretEnv,
  secretNotFoundMessage,
  secretVolume,
  uidOf,
} from '../unit/helpers/objects.ts'
import { environmentHeader, formatTable, isMain, measure, progress, seededRandom, suffix, timed, type Row } from './harness.ts'

export const NAMESPACES = 300
export const TOKEN_SECRETS = 10_000
const PODS_PER_WORKLOAD = 10
const DEPLOYMENTS = ['api', 'web', 'worker', 'auth', 'billing', 'search', 'frontend'] as const
const STATEFUL_SETS = ['db', 'queue'] as const
const DAEMON_SET = 'log-agent'
/** Workloads per namespace, in the order `referencing` counts them. */
const WORKLOADS = DEPLOYMENTS.length + STATEFUL_SETS.length + 1
const CREATED = new Date('2026-01-01T00:00:00Z')
/** The signing key was rotated after every pod started: all bound tokens are old. */
const ROTATED_AT = new Date('2026-06-01T00:00:00Z')

interface Cluster {
  readonly namespaces: number
  readonly pods: V1Pod[]
  /** The pods naming a token Secret, as they look when stuck in ContainerCreating because it is gone. */
  readonly stuckPods: V1Pod[]
  readonly events: CoreV1Event[]
  readonly owners: {
    readonly replicaSets: V1ReplicaSet[]
    readonly deployments: V1Deployment[]
    readonly statefulSets: V1StatefulSet[]
    readonly daemonSets: V1DaemonSet[]
  }
  readonly pdbs: V1PodDisruptionBudget[]
  /** `namespace/name` of every token Secret (all regenerated). */
  readonly targetSecrets: Set<string>
}

/** Gives an object built by a test builder a uid unique in the cluster (the builders derive it from kind and name only). */
function withUid<T extends { metadata?: V1ObjectMeta }>(object: T, uid: string): T {
  if (object.metadata) object.metadata.uid = uid
  return object
}

function buildCluster(namespaces: number): Cluster {
  const random = seededRandom(namespaces)
  const cluster: Cluster = {
    namespaces,
    pods: [],
    stuckPods: [],
    events: [],
    owners: { replicaSets: [], deployments: [], statefulSets: [], daemonSets: [] },
    pdbs: [],
    targetSecrets: new Set(),
  }
  // The token Secrets of the whole cluster, spread over its namespaces (a quarter cluster has a quarter of them).
  const secretsOf: string[][] = Array.from({ length: namespaces }, () => [])
  const secretCount = Math.round((TOKEN_SECRETS * namespaces) / NAMESPACES)
  for (let i = 0; i < secretCount; i++) {
    const ns = i % namespaces
    const name = `app-${Math.floor(i / namespaces)}-token-${suffix(random)}`
    secretsOf[ns]?.push(name)
    cluster.targetSecrets.add(`${namespaceName(ns)}/${name}`)
  }

  for (let ns = 0; ns < namespaces; ns++) {
    const namespace = namespaceName(ns)
    const tokenSecrets = secretsOf[ns] ?? []
    // One workload per namespace mounts a token Secret; which one rotates, so every kind does somewhere.
    const referencing = ns % WORKLOADS
    let workload = 0
    const addPods = (app: string, owner: ReturnType<typeof ownerRef>, podName: (i: number) => string, labels: Record<string, string>) => {
      const secret = workload === referencing ? tokenSecrets[ns % Math.max(tokenSecrets.length, 1)] : undefined
      for (let i = 0; i < PODS_PER_WORKLOAD; i++) {
        const name = podName(i)
        const shape = { namespace, name, app, owner, labels, secret, nodeName: `node-${(ns * 7 + i) % 1000}` }
        const pod = buildPod(shape, false)
        cluster.pods.push(pod)
        if (secret === undefined) continue
        const stuck = buildPod(shape, true)
        cluster.stuckPods.push(stuck)
        cluster.events.push(makeEvent(stuck, { message: secretNotFoundMessage('legacy-token', secret), name: `${name}.18a2b3c4d5e6f7a8` }))
      }
      workload++
    }

    for (const [d, app] of DEPLOYMENTS.entries()) {
      const deploymentUid = uidOf('Deployment', `${namespace}-${app}`)
      const paused = ns % 20 === 0 && d === 0
      cluster.owners.deployments.push(withUid(makeDeployment(app, { namespace, replicas: PODS_PER_WORKLOAD, paused }), deploymentUid))
      const toDeployment = ownerRef('Deployment', app, { uid: deploymentUid })
      // The current ReplicaSet and the one the previous rollout left at 0 replicas.
      for (const [r, replicas] of [PODS_PER_WORKLOAD, 0].entries()) {
        const hash = suffix(random, 10)
        const rsName = `${app}-${hash}`
        const rsUid = uidOf('ReplicaSet', `${namespace}-${rsName}`)
        const labels = { app, 'pod-template-hash': hash }
        cluster.owners.replicaSets.push(withUid(makeReplicaSet(rsName, { namespace, owner: toDeployment, replicas, labels }), rsUid))
        if (r === 0) addPods(app, ownerRef('ReplicaSet', rsName, { uid: rsUid }), () => `${rsName}-${suffix(random)}`, labels)
      }
      cluster.pdbs.push(makePdb(`${app}-pdb`, { namespace, selector: { matchLabels: { app } }, disruptionsAllowed: (ns + d) % 7 === 0 ? 0 : 1 }))
    }
    for (const [s, app] of STATEFUL_SETS.entries()) {
      const uid = uidOf('StatefulSet', `${namespace}-${app}`)
      const strategy = ns % 3 === 0 && s === 1 ? 'OnDelete' : 'RollingUpdate'
      const partition = ns % 5 === 0 && s === 0 ? 2 : 0
      const labels = { app }
      cluster.owners.statefulSets.push(
        withUid(makeStatefulSet(app, { namespace, replicas: PODS_PER_WORKLOAD, strategy, partition, labels }), uid),
      )
      addPods(app, ownerRef('StatefulSet', app, { uid }), (i) => `${app}-${i}`, labels)
      cluster.pdbs.push(makePdb(`${app}-pdb`, { namespace, selector: { matchLabels: { app } }, disruptionsAllowed: 1 }))
    }
    const daemonSetUid = uidOf('DaemonSet', `${namespace}-${DAEMON_SET}`)
    const daemonLabels = { app: DAEMON_SET }
    cluster.owners.daemonSets.push(withUid(makeDaemonSet(DAEMON_SET, { namespace, labels: daemonLabels }), daemonSetUid))
    addPods(DAEMON_SET, ownerRef('DaemonSet', DAEMON_SET, { uid: daemonSetUid }), () => `${DAEMON_SET}-${suffix(random)}`, daemonLabels)
  }
  return cluster
}

function namespaceName(index: number): string {
  return `team-${String(index).padStart(3, '0')}`
}

interface PodShape {
  readonly namespace: string
  readonly name: string
  readonly app: string
  readonly owner: ReturnType<typeof ownerRef>
  readonly labels: Record<string, string>
  /** The token Secret it mounts (and, in namespaces whose number ends in 1 or 3, also reads into an env var). */
  readonly secret: string | undefined
  readonly nodeName: string
}

/** A pod as the API returns it: two containers with env from ConfigMaps and an application Secret, the kube-api-access volume. */
function buildPod(shape: PodShape, stuck: boolean): V1Pod {
  const { namespace, name, app, secret } = shape
  const volumes: V1Volume[] = [kubeApiAccessVolume(`kube-api-access-${name.slice(-5)}`), configMapVolume('config', `${app}-config`)]
  const env = [
    { name: 'LOG_LEVEL', value: 'info' },
    configMapEnv('FEATURE_FLAGS', `${app}-config`, 'flags'),
    secretEnv('DB_PASSWORD', 'db-credentials', 'password'),
  ]
  if (secret !== undefined) {
    volumes.push(secretVolume('legacy-token', secret))
    if (namespace.endsWith('1') || namespace.endsWith('3')) env.push(secretEnv('KUBE_TOKEN', secret))
  }
  return makePod(name, {
    namespace,
    uid: uidOf('Pod', `${namespace}-${name}${stuck ? '-stuck' : ''}`),
    labels: shape.labels,
    owner: shape.owner,
    serviceAccountName: app,
    nodeName: shape.nodeName,
    containers: [container(app, { env }), container('proxy', { env: [{ name: 'UPSTREAM', value: 'http://localhost:8080' }] })],
    volumes,
    createdAt: CREATED,
    ...(stuck ? { phase: 'Pending', waiting: 'ContainerCreating', startTime: null } : {}),
  })
}

// ---------------------------------------------------------------------------

function planContext(cluster: Cluster, owners: ReturnType<typeof buildOwnerIndex>): PlanContext {
  return { pods: cluster.pods, owners, pdbs: cluster.pdbs, recreateBarePods: false, kubectlArgs: [] }
}

function podsIn(plan: RestartPlan): number {
  return plan.items.reduce((sum, item) => sum + item.pods.length, 0)
}

async function benchScale(namespaces: number, notes: string[]): Promise<Row[]> {
  const built = await timed(() => buildCluster(namespaces))
  const cluster = built.value
  const { pods, owners } = cluster
  const label = (text: string) => `${text} [${namespaces} ns]`
  const controllers = owners.replicaSets.length + owners.deployments.length + owners.statefulSets.length + owners.daemonSets.length
  progress(`built ${pods.length} pods, ${controllers} controllers, ${cluster.pdbs.length} PDBs in ${namespaces} namespaces (${built.ms.toFixed(0)} ms)`)
  const rows: Row[] = []

  rows.push(await measure(label('buildOwnerIndex'), controllers, () => buildOwnerIndex(owners)))
  const index = buildOwnerIndex(owners)

  let byReference: DependentPod[] = []
  rows.push(await measure(label('findDependentPods: Secret refs'), pods.length, () => {
    byReference = findDependentPods({ pods, targetSecrets: cluster.targetSecrets })
    return byReference
  }))
  let byBoundToken: DependentPod[] = []
  rows.push(await measure(label('findDependentPods: bound-before'), pods.length, () => {
    byBoundToken = findDependentPods({ pods, targetSecrets: cluster.targetSecrets, boundBefore: ROTATED_AT })
    return byBoundToken
  }, { runs: 3 }))
  // The stuck pods alone (the others cost what they cost in the rows above), against every FailedMount event listed.
  const stuckOnly = cluster.stuckPods
  let stuck: DependentPod[] = []
  rows.push(await measure(label('findDependentPods: stuck + events'), stuckOnly.length, () => {
    stuck = findDependentPods({ pods: stuckOnly, targetSecrets: cluster.targetSecrets, events: cluster.events })
    return stuck
  }, { runs: 3 }))

  const context = planContext(cluster, index)
  let refPlan: RestartPlan = planRestarts([], context)
  rows.push(await measure(label('planRestarts: Secret refs'), byReference.length, () => {
    refPlan = planRestarts(byReference, context)
    return refPlan
  }, { runs: 3 }))
  let boundPlan: RestartPlan = refPlan
  rows.push(await measure(label('planRestarts: bound-before'), byBoundToken.length, () => {
    boundPlan = planRestarts(byBoundToken, context)
    return boundPlan
  }, { runs: 3, warmUp: namespaces < NAMESPACES }))
  // The same without PodDisruptionBudgets: the difference is what matching budgets costs.
  rows.push(await measure(label('  without PDBs'), byBoundToken.length, () => planRestarts(byBoundToken, { ...context, pdbs: [] }), { runs: 3 }))
  let text = ''
  rows.push(await measure(label('renderPlanText: Secret refs'), podsIn(refPlan), () => (text = renderPlanText(refPlan))))
  const refText = text
  rows.push(await measure(label('renderPlanText: bound-before'), podsIn(boundPlan), () => (text = renderPlanText(boundPlan)), { runs: 3 }))

  notes.push(
    `${namespaces} ns: ${pods.length.toLocaleString('en-US')} pods, ${controllers.toLocaleString('en-US')} controllers, ` +
      `${cluster.pdbs.length.toLocaleString('en-US')} PDBs, ${cluster.targetSecrets.size.toLocaleString('en-US')} token Secrets, ` +
      `${cluster.events.length.toLocaleString('en-US')} FailedMount events; dependents ${byReference.length.toLocaleString('en-US')} by Secret, ` +
      `${byBoundToken.length.toLocaleString('en-US')} bound-before, ${stuck.length.toLocaleString('en-US')} stuck; ` +
      `plans: ${refPlan.items.length} items (${(refText.length / 2 ** 10).toFixed(0)} KiB text), ` +
      `${boundPlan.items.length} items (${(text.length / 2 ** 20).toFixed(1)} MiB text)`,
    `  ${namespaces} ns bound-before plan: ${boundPlan.summary}`,
  )
  return rows
}

/** Stuck pods in the many-stuck-pods row: every one names a deleted token Secret and has its FailedMount event. */
export const STUCK_PODS = 12_000

/** `count` stuck pods over the 300 namespaces, each naming its own missing token Secret, with one FailedMount event each. */
function buildStuckPods(count: number): { pods: V1Pod[]; events: CoreV1Event[]; targetSecrets: Set<string> } {
  const random = seededRandom(count)
  const pods: V1Pod[] = []
  const events: CoreV1Event[] = []
  const targetSecrets = new Set<string>()
  for (let i = 0; i < count; i++) {
    const namespace = namespaceName(i % NAMESPACES)
    const app = DEPLOYMENTS[i % DEPLOYMENTS.length] ?? 'api'
    const secret = `${app}-token-${suffix(random)}`
    const name = `${app}-${suffix(random, 10)}-${suffix(random)}`
    const owner = ownerRef('ReplicaSet', `${app}-rs`, { uid: uidOf('ReplicaSet', `${namespace}-${app}`) })
    const pod = buildPod({ namespace, name, app, owner, labels: { app }, secret, nodeName: `node-${i % 1000}` }, true)
    pods.push(pod)
    events.push(makeEvent(pod, { message: secretNotFoundMessage('legacy-token', secret) }))
    targetSecrets.add(`${namespace}/${secret}`)
  }
  return { pods, events, targetSecrets }
}

async function benchManyStuck(notes: string[]): Promise<Row> {
  const built = await timed(() => buildStuckPods(STUCK_PODS))
  const { pods, events, targetSecrets } = built.value
  progress(`built ${pods.length} stuck pods and ${events.length} FailedMount events (${built.ms.toFixed(0)} ms)`)
  let found: DependentPod[] = []
  const row = await measure(`findDependentPods: ${STUCK_PODS.toLocaleString('en-US')} stuck + events`, pods.length, () => {
    found = findDependentPods({ pods, targetSecrets, events })
    return found
  }, { runs: 3, warmUp: false })
  notes.push(`many stuck: ${pods.length.toLocaleString('en-US')} stuck pods, ${events.length.toLocaleString('en-US')} FailedMount events; ${found.length.toLocaleString('en-US')} dependents`)
  return row
}

export async function benchWorkloads(): Promise<string> {
  const notes = ['n = controllers (buildOwnerIndex), pods listed (findDependentPods; stuck: the stuck pods), dependent pods (planRestarts, renderPlanText)']
  const quarter = await benchScale(NAMESPACES / 4, notes)
  const full = await benchScale(NAMESPACES, notes)
  // Side by side: the quarter cluster's row above the full one's.
  const rows = quarter.flatMap((row, i) => [row, ...(full[i] ? [full[i]] : [])])
  rows.push(await benchManyStuck(notes))
  return formatTable(`workloads: ${(NAMESPACES * WORKLOADS * PODS_PER_WORKLOAD).toLocaleString('en-US')} pods in ${NAMESPACES} namespaces`, rows, notes)
}

if (isMain(import.meta.url)) {
  process.stdout.write(`${environmentHeader()}\n\n${await benchWorkloads()}`)
}
