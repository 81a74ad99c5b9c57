// `make bench-cluster`: rotate-tokens against a real control plane, next to
// the floor (the tokens controller refilling every Secret blanked at once by
// an efficient client) and the kubectl loop an operator would write. One run,
// one cluster, the same data:
//   1. start (or reuse) the local cluster in $KTR_CLUSTER_DIR (default
//      .cache/bench-cluster of this checkout, never anybody else's cluster),
//      add kwok nodes, seed N token Secrets over 50 namespaces and M pods that
//      mount them (Deployments, StatefulSets, DaemonSets, bare pods);
//   2. rotate the signing key abruptly, run `rotate-tokens -A --yes
//      --recreate-bare-pods -o json` as make runs it (the bundle, with the
//      shebang's node flags) under GNU time (peak RSS), timing each
//      step from its `[n/N]` progress line on stderr and reading the API
//      server's apiserver_request_total before and after; just before it,
//      `regenerate-tokens -A --dry-run` alone, for the inventory's requests;
//   3. rotate again, blank all N Secrets with parallel JSON patches and one
//      watch, time until every one is refilled; then restart every workload
//      at once and re-create every bare pod, time until all M pods are
//      replaced and Ready (the floor is the sum: refill + rollout);
//   4. time kubectl per token (`kubectl get secret`) and an operator's loop
//      (`kubectl patch` each Secret, `kubectl rollout restart` each
//      workload) on a sample, extrapolated to N.
// Prints a table (targets, and by how much each is missed) and appends one
// JSON line to test/bench/history/cluster.jsonl. A benchmark, not a test: it
// asserts nothing and exits 0 unless something broke.
//
//   node test/bench/cluster.ts [--secrets N] [--pods M] [--namespaces K] [--sample S] [--client-qps Q] [--max-unavailable U] [--seed-only] [--no-history]
//   (env: BENCH_SECRETS, BENCH_PODS, BENCH_NAMESPACES, BENCH_SAMPLE, BENCH_CLIENT_QPS, BENCH_MAX_UNAVAILABLE)
//
// --max-unavailable (default 1, the API's default) is the StatefulSets' and
// DaemonSets' rollingUpdate.maxUnavailable: with 1 they replace one pod at a
// time, and at 30,000 pods (180 per StatefulSet) the rollouts alone take
// hours on this machine, for the tool and for the floor alike. 25% makes the
// 10,000/30,000 run fit a session; the output and the history line say which.
// (StatefulSets need the MaxUnavailableStatefulSet feature, beta and off by
// default in 1.36: bench clusters turn it on.)
// One bench process per cluster directory (a lock file in it). Bench
// clusters have kwok nodes only: a real node's kubelet would add load, and
// the host's one real node is the e2e suite's (its real-node tests were
// skipped while a bench cluster held it).
//
// --seed-only starts and seeds the cluster, then stops: the next run reuses
// it and measures at once. --client-qps (default 100) is the controller
// manager's and scheduler's --kube-api-qps on this cluster only: with their
// defaults (20 and 50) replacing 30,000 pods is bound by client-side rate
// limits, not by the machine. It is set when the cluster starts and applies
// to the tool's run and to the floor alike, so the ratios stay fair.
//
// Default N=500/M=1,500, not the issue's 2,000/6,000: on this shared 2-core
// machine (load 8-15) one run at 2,000/6,000 takes ~50 min, not ~20: seeding
// 6,000 pods 10 min, rotate-tokens ~17 min, the two floors ~20 min, the
// kubectl sample ~3 min. Replacing pods is bound by the controller manager,
// the scheduler and kwok sharing two cores with the API server and etcd: the
// repair restarts every pod, and so does the floor. Up to N=10,000/M=30,000
// works (seed it ahead with --seed-only); reuse a cluster only at the size it
// was seeded with (else `make cluster-down` and delete the directory).
import { spawn, execFileSync } from 'node:child_process'
import { readFileSync, rmSync } from 'node:fs'
import { mkdir, readFile, appendFile, rm, writeFile } from 'node:fs/promises'
import { request } from 'node:https'
import { cpus, loadavg, totalmem } from 'node:os'
import { dirname, join } from 'node:path'
import { createInterface } from 'node:readline'
import { parseArgs } from 'node:util'
import * as k8s from '@kubernetes/client-node'
import { mapLimit } from '../../lib/concurrency.ts'
import { startLocalCluster } from '../cluster/local.ts'
import { alignedLines, isMain, median, progress } from './harness.ts'
import { ensureBundle } from './startup.ts'
import { phaseOf, parseRequestTotals, diffTotals, stepDurations, highWaterAfter, verdict, type Totals } from './cluster-figures.ts'

const root = join(import.meta.dirname, '..', '..')
export const HISTORY_FILE = join(root, 'test', 'bench', 'history', 'cluster.jsonl')
const LABEL = 'ktr-bench'
const LABEL_VALUE = 'cluster'
const SELECTOR = `${LABEL}=${LABEL_VALUE}`
const NODE_PODS = 250
const IMAGE = 'registry.k8s.io/pause:3.10'
const KUBECTL = '/usr/bin/kubectl'
/**
 * The bench Deployments' progressDeadlineSeconds. With the default 600 s, at
 * 30,000 pods on two cores 2,760 of 3,000 Deployments ran past it while the
 * controllers worked through the backlog, and the tool (like `kubectl rollout
 * status`) fails closed on that condition: the run measured an overloaded
 * machine, not the repair. The floor never looks at the condition.
 */
const PROGRESS_DEADLINE_S = 7200

export interface Sizes {
  secrets: number
  pods: number
  namespaces: number
  sample: number
  /** The StatefulSets' and DaemonSets' rollingUpdate.maxUnavailable: '1' is the API's default, one pod at a time. */
  maxUnavailable: string
}

interface Layout {
  namespaces: string[]
  secretsPerNs: number
  /** Pods per namespace by kind. */
  perNs: { daemonSet: number; statefulSet: number; deployments: number[]; bare: number }
  dsNodes: number
  extraNodes: number
}

/** How the pods of a namespace are split: 10% bare, a DaemonSet on 10% worth of labelled nodes, 30% one StatefulSet, the rest Deployments of 5. */
export function layout({ secrets, pods, namespaces }: Pick<Sizes, 'secrets' | 'pods' | 'namespaces'>): Layout {
  const podsPerNs = Math.max(4, Math.floor(pods / namespaces))
  const dsNodes = Math.max(1, Math.round(podsPerNs * 0.1))
  const bare = Math.max(1, Math.round(podsPerNs * 0.1))
  const statefulSet = Math.max(1, Math.round(podsPerNs * 0.3))
  let rest = podsPerNs - dsNodes - bare - statefulSet
  const deployments: number[] = []
  while (rest > 0) {
    const replicas = rest >= 10 || rest <= 5 ? Math.min(5, rest) : rest
    deployments.push(replicas)
    rest -= replicas
  }
  return {
    namespaces: Array.from({ length: namespaces }, (_, i) => `ktr-bench-c-${String(i).padStart(3, '0')}`),
    secretsPerNs: Math.max(1, Math.floor(secrets / namespaces)),
    perNs: { daemonSet: dsNodes, statefulSet, deployments, bare },
    dsNodes,
    extraNodes: Math.max(dsNodes, Math.ceil((pods * 2) / NODE_PODS)),
  }
}

interface Apis {
  kc: k8s.KubeConfig
  core: k8s.CoreV1Api
  apps: k8s.AppsV1Api
}

export function apis(kubeconfigPath: string): Apis {
  const kc = new k8s.KubeConfig()
  kc.loadFromFile(kubeconfigPath)
  return { kc, core: kc.makeApiClient(k8s.CoreV1Api), apps: kc.makeApiClient(k8s.AppsV1Api) }
}

/** Creates, or leaves what exists (409): true when it created. */
async function ignoreExists(create: () => Promise<unknown>): Promise<boolean> {
  try {
    await create()
    return true
  } catch (err) {
    if ((err as { code?: number }).code !== 409) throw err
    return false
  }
}

const labels = { [LABEL]: LABEL_VALUE }
const secretName = (j: number) => `bench-token-${j}`

function podSpec(secret: string, extra: Partial<k8s.V1PodSpec> = {}): k8s.V1PodSpec {
  return {
    containers: [{ name: 'app', image: IMAGE, volumeMounts: [{ name: 'token', mountPath: '/var/run/bench' }] }],
    volumes: [{ name: 'token', secret: { secretName: secret } }],
    tolerations: [{ key: 'kwok.x-k8s.io/node', operator: 'Exists', effect: 'NoSchedule' }],
    terminationGracePeriodSeconds: 0,
    ...extra,
  }
}

/** Workloads of one namespace: [kind, name, secret] (what the kubectl loop restarts). */
export function workloadsOf(l: Layout): Array<{ kind: 'deployment' | 'statefulset' | 'daemonset'; name: string; secret: string }> {
  let next = 0
  const take = () => secretName(next++ % l.secretsPerNs)
  return [
    { kind: 'daemonset' as const, name: 'bench-ds', secret: take() },
    { kind: 'statefulset' as const, name: 'bench-sts', secret: take() },
    ...l.perNs.deployments.map((_, d) => ({ kind: 'deployment' as const, name: `bench-deploy-${d}`, secret: take() })),
  ]
}

async function seed(a: Apis, sizes: Sizes, l: Layout): Promise<void> {
  const marker = `${sizes.secrets}/${sizes.pods}/${sizes.namespaces}`
  const existing = await a.core.readNamespacedConfigMap({ namespace: 'default', name: 'ktr-bench-cluster' }).catch(() => undefined)
  // Clusters seeded before the pace was configurable rolled out one pod at a time.
  const seededPace = existing?.data?.maxUnavailable ?? '1'
  if (existing && (existing.data?.sizes !== marker || seededPace !== sizes.maxUnavailable)) {
    throw new Error(
      `this cluster was seeded with N/M/namespaces ${existing.data?.sizes} and maxUnavailable ${seededPace}, not ${marker} and ${sizes.maxUnavailable}: stop it (make cluster-down KTR_CLUSTER_DIR=...) and delete its directory, or use another KTR_CLUSTER_DIR`,
    )
  }
  const rollingUpdate = { maxUnavailable: /%$/.test(sizes.maxUnavailable) ? sizes.maxUnavailable : Number(sizes.maxUnavailable) }
  progress(`seeding ${l.extraNodes} kwok nodes, ${l.namespaces.length} namespaces, ${l.secretsPerNs * l.namespaces.length} token Secrets, ${podsTotal(l)} pods`)
  await mapLimit(
    Array.from({ length: l.extraNodes }, (_, i) => i),
    8,
    (i) =>
      ignoreExists(() =>
        a.core.createNode({
          body: {
            metadata: {
              name: `bench-node-${i}`,
              annotations: { 'kwok.x-k8s.io/node': 'fake', 'node.alpha.kubernetes.io/ttl': '0' },
              labels: { type: 'kwok', 'kubernetes.io/hostname': `bench-node-${i}`, 'kubernetes.io/os': 'linux', ...(i < l.dsNodes ? { 'ktr-bench/ds': 'yes' } : {}) },
            },
            status: { allocatable: { cpu: '1000', memory: '4Ti', pods: String(NODE_PODS) }, capacity: { cpu: '1000', memory: '4Ti', pods: String(NODE_PODS) } },
          },
        }),
      ),
  )
  await mapLimit(l.namespaces, 8, (ns) => ignoreExists(() => a.core.createNamespace({ body: { metadata: { name: ns, labels } } })))
  const secretJobs = l.namespaces.flatMap((ns) => Array.from({ length: l.secretsPerNs }, (_, j) => ({ ns, j })))
  await mapLimit(secretJobs, 16, async ({ ns, j }) => {
    await ignoreExists(() => a.core.createNamespacedServiceAccount({ namespace: ns, body: { metadata: { name: `bench-sa-${j}`, labels } } }))
    await ignoreExists(() =>
      a.core.createNamespacedSecret({
        namespace: ns,
        body: { metadata: { name: secretName(j), labels, annotations: { 'kubernetes.io/service-account.name': `bench-sa-${j}` } }, type: 'kubernetes.io/service-account-token' },
      }),
    )
  })
  progress('token Secrets created; creating workloads')
  const perNs = workloadsOf(l)
  await mapLimit(l.namespaces, 4, async (ns) => {
    for (const w of perNs) {
      const podLabels = { ...labels, app: w.name }
      const template = { metadata: { labels: podLabels }, spec: podSpec(w.secret) }
      const metadata = { name: w.name, labels }
      const selector = { matchLabels: podLabels }
      if (w.kind === 'daemonset') {
        template.spec = podSpec(w.secret, { nodeSelector: { 'ktr-bench/ds': 'yes' } })
        const updateStrategy = { type: 'RollingUpdate', rollingUpdate }
        await ignoreExists(() => a.apps.createNamespacedDaemonSet({ namespace: ns, body: { metadata, spec: { selector, template, updateStrategy } } }))
      } else if (w.kind === 'statefulset') {
        await ignoreExists(() =>
          a.apps.createNamespacedStatefulSet({
            namespace: ns,
            body: {
              metadata,
              spec: { selector, template, serviceName: w.name, replicas: l.perNs.statefulSet, podManagementPolicy: 'Parallel', updateStrategy: { type: 'RollingUpdate', rollingUpdate } },
            },
          }),
        )
      } else {
        const replicas = l.perNs.deployments[Number(w.name.split('-').at(-1))] ?? 1
        const spec = { selector, template, replicas, progressDeadlineSeconds: PROGRESS_DEADLINE_S }
        if (!(await ignoreExists(() => a.apps.createNamespacedDeployment({ namespace: ns, body: { metadata, spec } })))) {
          // Seeded before the deadline was set: not a template change, so no rollout.
          const merge = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch)
          await a.apps.patchNamespacedDeployment({ namespace: ns, name: w.name, body: { spec: { progressDeadlineSeconds: PROGRESS_DEADLINE_S } } }, merge)
        }
      }
    }
    for (let b = 0; b < l.perNs.bare; b++) {
      const secret = secretName((perNs.length + b) % l.secretsPerNs)
      await ignoreExists(() => a.core.createNamespacedPod({ namespace: ns, body: { metadata: { name: `bench-bare-${b}`, labels }, spec: podSpec(secret) } }))
    }
  })
  await checkPace(a, l.namespaces[0]!, sizes.maxUnavailable)
  await ignoreExists(() =>
    a.core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: 'ktr-bench-cluster' }, data: { sizes: marker, maxUnavailable: sizes.maxUnavailable } } }),
  )
}

/**
 * A StatefulSet's maxUnavailable needs the MaxUnavailableStatefulSet feature
 * (beta, off by default in 1.36; bench clusters turn it on, see
 * test/cluster/local.ts); an API server without it drops the field and the
 * StatefulSets would roll one pod at a time after all. Read it back.
 */
async function checkPace(a: Apis, namespace: string, maxUnavailable: string): Promise<void> {
  const sts = await a.apps.readNamespacedStatefulSet({ namespace, name: 'bench-sts' })
  const kept = sts.spec?.updateStrategy?.rollingUpdate?.maxUnavailable
  if (maxUnavailable !== '1' && String(kept) !== maxUnavailable) {
    throw new Error(`the API server dropped the StatefulSets' maxUnavailable (${maxUnavailable}; the cluster runs without --feature-gates=MaxUnavailableStatefulSet=true, e.g. one started before it was set): rerun with --max-unavailable 1, or another KTR_CLUSTER_DIR`)
  }
}

/**
 * One bench process per cluster directory: a second one (a measurement
 * started while a seeding still runs) would see the cluster mid-restart,
 * and start it afresh with an empty etcd. The lock holds the owner's pid;
 * a lock whose process is gone is taken over. Released when this process exits.
 */
export async function lockClusterDir(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true })
  const file = join(dir, 'bench.lock')
  for (;;) {
    try {
      await writeFile(file, String(process.pid), { flag: 'wx' })
      process.once('exit', () => rmSync(file, { force: true }))
      return
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
    }
    const owner = Number(await readFile(file, 'utf8').catch(() => ''))
    if (owner > 0 && isAlive(owner)) throw new Error(`another bench (pid ${owner}) is using ${dir}; wait for it or stop it, never run two on one cluster`)
    await rm(file, { force: true })
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

function podsTotal(l: Layout): number {
  const p = l.perNs
  return l.namespaces.length * (p.daemonSet + p.statefulSet + p.bare + p.deployments.reduce((s, n) => s + n, 0))
}

async function listAll<T>(page: (cont: string | undefined) => Promise<{ items: T[]; metadata?: { _continue?: string } }>): Promise<T[]> {
  const all: T[] = []
  let cont: string | undefined
  do {
    const r = await page(cont)
    all.push(...r.items)
    cont = r.metadata?._continue || undefined
  } while (cont)
  return all
}

async function benchSecrets(a: Apis): Promise<k8s.V1Secret[]> {
  return listAll((cont) => a.core.listSecretForAllNamespaces({ labelSelector: SELECTOR, limit: 500, _continue: cont }))
}

/** Waits until every bench Secret holds a token and exactly `pods` bench pods are Ready and none is terminating. */
async function waitSeeded(a: Apis, secrets: number, pods: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  let last = ''
  for (;;) {
    const s = await benchSecrets(a)
    const filled = s.filter((x) => x.data?.token).length
    const p = await listAll((cont) => a.core.listPodForAllNamespaces({ labelSelector: SELECTOR, limit: 500, _continue: cont }))
    const ready = p.filter((x) => !x.metadata?.deletionTimestamp && x.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')).length
    const now = `${filled}/${secrets} Secrets filled, ${ready}/${pods} pods Ready (${p.length} exist)`
    if (now !== last) progress(now)
    last = now
    if (filled >= secrets && ready === pods && p.length === pods) return
    if (Date.now() > deadline) throw new Error(`timed out seeding: ${now}`)
    await new Promise((r) => setTimeout(r, 3000))
  }
}

/** apiserver_request_total from /metrics with the admin client certificate. */
async function requestTotals(kc: k8s.KubeConfig): Promise<Totals> {
  const cluster = kc.getCurrentCluster()!
  const user = kc.getCurrentUser()!
  const [ca, cert, key] = await Promise.all([readFile(cluster.caFile!), readFile(user.certFile!), readFile(user.keyFile!)])
  const url = new URL('/metrics', cluster.server)
  const body = await new Promise<string>((resolve, reject) => {
    const req = request(url, { ca, cert, key, servername: 'localhost', agent: false }, (res) => {
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (c: string) => (text += c))
      res.on('end', () => (res.statusCode === 200 ? resolve(text) : reject(new Error(`/metrics: HTTP ${res.statusCode}`))))
    })
    req.on('error', reject)
    req.end()
  })
  return parseRequestTotals(body)
}

interface ToolRun {
  code: number | null
  wallMs: number
  rssMb: number
  /** highWaterMb: the process's peak RSS when the step ended (VmHWM, never decreases). */
  steps: Array<{ id: string; outcome: string; summary: string; ms: number; highWaterMb: number }>
  requests: Totals
}

/**
 * The inventory's own requests, apart: `regenerate-tokens -A --dry-run` on
 * the stale cluster just before the repair (preflight and find-stale-tokens,
 * nothing written), with /metrics read before and after. Nothing else moves
 * then, so the delta is the tool's. (Sampling /metrics around the repair's
 * own find-stale-tokens raced it: the step is over before a read returns.)
 */
async function runInventory(a: Apis, kubeconfig: string): Promise<{ ms: number; code: number | null; requests: Totals }> {
  const before = await requestTotals(a.kc)
  const t0 = performance.now()
  const args = [join(root, 'runbooks', 'regenerate-tokens.ts'), '-A', '--dry-run', '-o', 'json', '--kubeconfig', kubeconfig]
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'ignore'], env: { ...process.env, NO_COLOR: '1' } })
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve))
  const ms = performance.now() - t0
  return { ms, code, requests: diffTotals(before, await requestTotals(a.kc)) }
}

/** VmHWM (kB) of the runbook: GNU time's child (env, which execs node in place). */
function runbookHighWaterKb(timePid: number | undefined): number | undefined {
  try {
    const child = readFileSync(`/proc/${timePid}/task/${timePid}/children`, 'utf8').trim().split(' ')[0]
    const status = readFileSync(`/proc/${child}/status`, 'utf8')
    const kb = /^VmHWM:\s+(\d+) kB/m.exec(status)?.[1]
    return kb === undefined ? undefined : Number(kb)
  } catch {
    return undefined // not Linux, or the process is gone
  }
}

async function runRotateTokens(a: Apis, kubeconfig: string, scratch: string): Promise<ToolRun> {
  const rssFile = join(scratch, 'rss.txt')
  const before = await requestTotals(a.kc)
  const starts: number[] = []
  // The runbook's RSS high-water mark as each step began: which step set the peak.
  const highWaterKb: Array<number | undefined> = []
  // As `make rotate-tokens` runs it: the bundle, with the node flags of the runbooks' shebang, on this Node.
  await ensureBundle()
  const command = rotateTokensCommand()
  const args = ['-f', '%M', '-o', rssFile, ...command, '-A', '--yes', '--recreate-bare-pods', '-o', 'json']
  args.push('--kubeconfig', kubeconfig, '--report-dir', join(scratch, 'reports'), '--backup-dir', join(scratch, `backup-${Date.now()}`))
  progress(`running ${args.slice(4).join(' ')}`)
  const t0 = performance.now()
  const env = { ...process.env, NO_COLOR: '1', PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ''}` }
  const child = spawn('/usr/bin/time', args, { stdio: ['ignore', 'pipe', 'pipe'], env })
  let stdout = ''
  child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c))
  const lines = createInterface({ input: child.stderr })
  lines.on('line', (raw) => {
    // eslint-disable-next-line no-control-regex
    const line = raw.replace(/\u001b\[[0-9;]*[A-Za-z]/g, '').replace(/^\r/, '')
    const m = /^\[(\d+)\/(\d+)\] /.exec(line)
    if (!m) return
    const n = Number(m[1])
    starts[n - 1] = performance.now() - t0
    highWaterKb[n - 1] = runbookHighWaterKb(child.pid)
    progress(`rotate-tokens: ${line.trim()} (+${(starts[n - 1]! / 1000).toFixed(1)} s)`)
  })
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve))
  const wallMs = performance.now() - t0
  const after = await requestTotals(a.kc)
  const report = JSON.parse(stdout) as { steps: Array<{ id: string; outcome: string; summary: string }> }
  const rssKb = Number((await readFile(rssFile, 'utf8')).trim().split('\n').at(-1))
  const durations = stepDurations(starts, wallMs, report.steps.length)
  return {
    code,
    wallMs,
    rssMb: rssKb / 1024,
    steps: report.steps.map((s, i) => ({ id: s.id, outcome: s.outcome, summary: s.summary, ms: durations[i] ?? 0, highWaterMb: highWaterAfter(highWaterKb, i, rssKb) / 1024 })),
    requests: diffTotals(before, after),
  }
}

/** The floor: blank every bench Secret at once (32 JSON patches in flight), one watch, until the tokens controller has refilled all. */
export async function floor(a: Apis): Promise<{ ms: number; refilled: number }> {
  const secrets = await benchSecrets(a)
  const list = await a.core.listSecretForAllNamespaces({ labelSelector: SELECTOR, limit: 1 })
  const rv = list.metadata?.resourceVersion
  const state = new Map<string, 'filled' | 'blank' | 'refilled'>(secrets.map((s) => [`${s.metadata!.namespace}/${s.metadata!.name}`, 'filled']))
  const original = new Map(secrets.map((x) => [`${x.metadata!.namespace}/${x.metadata!.name}`, x.data?.token]))
  let refilled = 0
  let events = 0
  let t0 = 0
  let resolveDone: (ms: number) => void = () => {}
  const done = new Promise<number>((r) => (resolveDone = r))
  const watch = new k8s.Watch(a.kc)
  const req = await watch.watch(
    '/api/v1/secrets',
    { labelSelector: SELECTOR, resourceVersion: rv, allowWatchBookmarks: false },
    (_type: string, s: k8s.V1Secret) => {
      events++
      const key = `${s.metadata?.namespace}/${s.metadata?.name}`
      const st = state.get(key)
      if (!st) return
      if (!s.data?.token) state.set(key, 'blank')
      else if (st === 'blank') {
        state.set(key, 'refilled')
        if (++refilled === state.size) resolveDone(performance.now() - t0)
      }
    },
    (err) => {
      if (err && refilled < state.size) progress(`floor watch ended: ${String(err)}`)
    },
  )
  t0 = performance.now()
  const patch = [{ op: 'add', path: '/data/token', value: '' }]
  await mapLimit(secrets, 32, (s) =>
    a.core.patchNamespacedSecret({ namespace: s.metadata!.namespace!, name: s.metadata!.name!, body: patch }, k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.JsonPatch)),
  )
  progress(`floor: ${secrets.length} Secrets blanked in ${((performance.now() - t0) / 1000).toFixed(1)} s; waiting for the refills`)
  let lastEvents = -1
  const ticker = setInterval(() => {
    const quiet = events === lastEvents
    lastEvents = events
    const counts = { filled: 0, blank: 0, refilled: 0 }
    for (const v of state.values()) counts[v]++
    progress(`floor: ${counts.refilled} refilled, ${counts.blank} blank, ${counts.filled} not seen blank yet (${events} events)`)
    // A watch that never delivers, or stops delivering (seen after a control-plane restart): fall back to listing, a new token being one unlike the old.
    if (quiet && performance.now() - t0 > 30_000) {
      void benchSecrets(a).then((now) => {
        const fresh = now.filter((x) => x.data?.token && x.data.token !== original.get(`${x.metadata?.namespace}/${x.metadata?.name}`)).length
        progress(`floor: the watch delivered nothing for 10 s; a list shows ${fresh}/${state.size} with a new token`)
        if (fresh === state.size) resolveDone(performance.now() - t0)
      })
    }
  }, 10_000)
  const ms = await Promise.race([done, new Promise<number>((_, reject) => setTimeout(() => reject(new Error(`floor: only ${refilled}/${state.size} refilled after 15 min`)), 900_000))])
  clearInterval(ticker)
  ;(req as { abort?: () => void }).abort?.()
  return { ms, refilled }
}

/** Every bench pod: its uid, and whether it is Ready and not terminating. */
async function benchPods(a: Apis): Promise<k8s.V1Pod[]> {
  return listAll((cont) => a.core.listPodForAllNamespaces({ labelSelector: SELECTOR, limit: 500, _continue: cont }))
}

const isReadyPod = (p: k8s.V1Pod) => !p.metadata?.deletionTimestamp && (p.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True')

/**
 * The restarts' own floor: every workload restarted at once (32 strategic
 * merge patches in flight, what `kubectl rollout restart` sends) and every
 * bare pod deleted and created again, then a paged list each second until
 * none of the old pods is left and all M are Ready. What the controllers,
 * the scheduler and kwok need to replace M pods, with no tool involved.
 */
export async function rolloutFloor(a: Apis, l: Layout, M: number): Promise<{ ms: number }> {
  const old = new Set((await benchPods(a)).map((p) => p.metadata!.uid!))
  const patch = { spec: { template: { metadata: { annotations: { 'kubectl.kubernetes.io/restartedAt': new Date().toISOString().replace(/\.\d{3}Z$/, 'Z') } } } } }
  const strategic = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.StrategicMergePatch)
  const restarts = l.namespaces.flatMap((ns) => workloadsOf(l).map((w) => ({ ns, ...w })))
  const bare = l.namespaces.flatMap((ns) => Array.from({ length: l.perNs.bare }, (_, b) => ({ ns, name: `bench-bare-${b}`, secret: secretName((workloadsOf(l).length + b) % l.secretsPerNs) })))
  const t0 = performance.now()
  await mapLimit(restarts, 32, async (w) => {
    const args = { namespace: w.ns, name: w.name, body: patch }
    if (w.kind === 'deployment') await a.apps.patchNamespacedDeployment(args, strategic)
    else if (w.kind === 'statefulset') await a.apps.patchNamespacedStatefulSet(args, strategic)
    else await a.apps.patchNamespacedDaemonSet(args, strategic)
  })
  await mapLimit(bare, 32, async (p) => {
    await a.core.deleteNamespacedPod({ namespace: p.ns, name: p.name, gracePeriodSeconds: 0 })
    // The name is free once the old pod is gone: retry the create on 409 until then.
    for (;;) {
      try {
        await a.core.createNamespacedPod({ namespace: p.ns, body: { metadata: { name: p.name, labels }, spec: podSpec(p.secret) } })
        return
      } catch (err) {
        if ((err as { code?: number }).code !== 409) throw err
        await new Promise((r) => setTimeout(r, 250))
      }
    }
  })
  progress(`rollout floor: ${restarts.length} workloads patched, ${bare.length} bare pods re-created in ${s(performance.now() - t0)}; waiting for the rollouts`)
  let lastNote = ''
  for (;;) {
    const pods = await benchPods(a)
    const left = pods.filter((p) => old.has(p.metadata!.uid!)).length
    const ready = pods.filter((p) => !old.has(p.metadata!.uid!) && isReadyPod(p)).length
    if (left === 0 && ready === M && pods.length === M) return { ms: performance.now() - t0 }
    const note = `rollout floor: ${ready}/${M} new pods Ready, ${left} old left`
    if (note !== lastNote && performance.now() - t0 > 10_000) progress(note)
    lastNote = note
    if (performance.now() - t0 > 3_600_000) throw new Error(`${note} after 60 min`)
    await new Promise((r) => setTimeout(r, 1000))
  }
}

function kubectl(kubeconfig: string, args: string[]): number {
  const t = performance.now()
  execFileSync(KUBECTL, ['--kubeconfig', kubeconfig, ...args], { stdio: ['ignore', 'ignore', 'pipe'] })
  return performance.now() - t
}

/** An operator's loop on a sample: kubectl patch each Secret, then kubectl rollout restart each workload mounting one; and one kubectl call per token. */
function kubectlBaseline(kubeconfig: string, l: Layout, sample: number) {
  const secrets: Array<[string, string]> = []
  for (const ns of l.namespaces) for (let j = 0; j < l.secretsPerNs && secrets.length < sample; j++) secrets.push([ns, secretName(j)])
  const perToken = secrets.slice(0, 20).map(([ns, name]) => kubectl(kubeconfig, ['get', 'secret', '-n', ns, name, '-o', 'jsonpath={.data.token}']))
  let patchMs = 0
  for (const [ns, name] of secrets) patchMs += kubectl(kubeconfig, ['patch', 'secret', '-n', ns, name, '--type=json', '-p', '[{"op":"add","path":"/data/token","value":""}]'])
  const sampled = new Set(secrets.map(([ns, n]) => `${ns}/${n}`))
  const workloads = l.namespaces.flatMap((ns) => workloadsOf(l).filter((w) => sampled.has(`${ns}/${w.secret}`)).map((w) => ({ ns, ...w })))
  let restartMs = 0
  for (const w of workloads) restartMs += kubectl(kubeconfig, ['rollout', 'restart', '-n', w.ns, `${w.kind}/${w.name}`])
  return { perTokenMs: median(perToken), patchMs, secrets: secrets.length, restartMs, workloads: workloads.length }
}

/** `node <the shebang's flags> dist/rotate-tokens.js`, the command `make rotate-tokens` runs. */
function rotateTokensCommand(): string[] {
  const shebang = readFileSync(join(root, 'runbooks', 'rotate-tokens.ts'), 'utf8').split('\n', 1)[0]!
  const flags = shebang.replace(/^#!.* -S node/, '').trim().split(/\s+/).filter(Boolean)
  return [process.execPath, ...flags, join(root, 'dist', 'rotate-tokens.js')]
}

/** The command as the output and the history line show it. */
const shownCommand = () => ['node', ...rotateTokensCommand().slice(1, -1), 'dist/rotate-tokens.js'].join(' ')

function gitCommit(): string {
  try {
    const sha = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root, encoding: 'utf8' }).trim()
    const dirty = execFileSync('git', ['status', '--porcelain'], { cwd: root, encoding: 'utf8' }).trim() !== ''
    return dirty ? `${sha}+dirty` : sha
  } catch {
    return 'unknown'
  }
}

const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`

function envInt(name: string, fallback: number): number {
  const v = process.env[name]
  return v ? Number(v) : fallback
}

export async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      secrets: { type: 'string' },
      pods: { type: 'string' },
      namespaces: { type: 'string' },
      sample: { type: 'string' },
      'client-qps': { type: 'string' },
      'max-unavailable': { type: 'string' },
      'seed-only': { type: 'boolean' },
      'no-history': { type: 'boolean' },
    },
  })
  const sizes: Sizes = {
    secrets: Number(values.secrets ?? envInt('BENCH_SECRETS', 500)),
    pods: Number(values.pods ?? envInt('BENCH_PODS', 1500)),
    namespaces: Number(values.namespaces ?? envInt('BENCH_NAMESPACES', 50)),
    sample: Number(values.sample ?? envInt('BENCH_SAMPLE', 50)),
    maxUnavailable: values['max-unavailable'] ?? process.env.BENCH_MAX_UNAVAILABLE ?? '1',
  }
  if (!/^([1-9]\d*|[1-9]\d?%|100%)$/.test(sizes.maxUnavailable)) throw new Error(`--max-unavailable takes a count or a percentage (1, 25%), not ${sizes.maxUnavailable}`)
  if (sizes.secrets > 10_000 || sizes.pods > 30_000) throw new Error('at most --secrets 10000 --pods 30000')
  const l = layout(sizes)
  const N = l.secretsPerNs * l.namespaces.length
  const M = podsTotal(l)
  const loadStart = loadavg()
  const dir = process.env.KTR_CLUSTER_DIR ?? join(root, '.cache', 'bench-cluster')
  const scratch = join(root, '.cache', 'bench-cluster-run')
  await rm(scratch, { recursive: true, force: true })
  await mkdir(scratch, { recursive: true })
  const t0 = performance.now()
  const clientQps = Number(values['client-qps'] ?? envInt('BENCH_CLIENT_QPS', 100))
  await lockClusterDir(dir)
  const cluster = await startLocalCluster({ dir, clientQps, realNode: false })
  const a = apis(cluster.kubeconfigPath)
  await seed(a, sizes, l)
  await waitSeeded(a, N, M, 3_600_000)
  const seedMs = performance.now() - t0
  if (values['seed-only']) {
    progress(`seeded in ${s(seedMs)}; --seed-only: stopping here (the cluster keeps running in ${dir})`)
    return 0
  }
  progress(`seeded in ${s(seedMs)}; rotating the signing key abruptly`)
  await cluster.rotateServiceAccountKey({ keepOld: false })

  const inventory = await runInventory(apis(cluster.kubeconfigPath), cluster.kubeconfigPath)
  progress(`inventory alone (regenerate-tokens -A --dry-run) exited ${inventory.code} after ${s(inventory.ms)}: ${JSON.stringify(inventory.requests)}`)
  const tool = await runRotateTokens(apis(cluster.kubeconfigPath), cluster.kubeconfigPath, scratch)
  progress(`rotate-tokens exited ${tool.code} after ${s(tool.wallMs)}; peak RSS ${tool.rssMb.toFixed(0)} MB`)
  // Said now, not only in the table: the floors after it take as long again.
  progress(`rotate-tokens steps: ${tool.steps.map((st) => `${st.id} ${s(st.ms)}`).join(', ')}`)
  progress(`rotate-tokens requests: ${JSON.stringify(tool.requests)}`)
  const phases = new Map<string, number>()
  for (const step of tool.steps) phases.set(phaseOf(step.id), (phases.get(phaseOf(step.id)) ?? 0) + step.ms)

  progress('floor: rotating again, then blanking every Secret at once')
  await cluster.rotateServiceAccountKey({ keepOld: false })
  // Fresh clients: connections kept alive to the API server before its restart are dead.
  const b = apis(cluster.kubeconfigPath)
  await waitSeeded(b, N, M, 600_000)
  const refill = await floor(b)
  progress(`floor: ${refill.refilled} refilled in ${s(refill.ms)}; now every workload restarted at once`)
  const rollout = await rolloutFloor(b, l, M)
  progress(`rollout floor: ${M} pods replaced in ${s(rollout.ms)}`)
  // The repair cannot be faster than the refills plus the rollouts, both done by an efficient client.
  const fl = { ms: refill.ms + rollout.ms }

  progress(`kubectl baseline on ${Math.min(sizes.sample, N)} Secrets`)
  const kb = kubectlBaseline(cluster.kubeconfigPath, l, sizes.sample)
  const workloadsTotal = l.namespaces.length * workloadsOf(l).length
  const kubectlMs = (kb.patchMs / kb.secrets) * N + (kb.workloads ? (kb.restartMs / kb.workloads) * workloadsTotal : 0)
  const kubectlPerTokenMs = kb.perTokenMs * N

  const inventorySecretReqs = Object.entries(inventory.requests)
    .filter(([k]) => k.endsWith(' secrets'))
    .reduce((sum, [, v]) => sum + v, 0)
  const pages = Math.ceil(N / 500)
  const verifyMs = phases.get('proof') ?? 0
  // A run that failed before its proof has no verification time: a ratio over 0 s would read as a pass.
  const proofRan = tool.steps.some((st) => phaseOf(st.id) === 'proof' && st.outcome !== 'not-run')
  const rows: string[][] = [
    ['rotate-tokens, whole run', s(tool.wallMs), `≤ 1.2× floor = ${s(fl.ms * 1.2)}`, verdict(tool.wallMs, fl.ms * 1.2, 's')],
    ...['inventory', 'regenerate', 'restart', 'proof', 'other'].map((p) => [`  phase ${p}`, s(phases.get(p) ?? 0), '', '']),
    ['floor = refill + rollout', s(fl.ms), '', ''],
    ['  floor: controller refills N blanked Secrets', s(refill.ms), '', ''],
    ['  floor: controllers replace M pods, all restarted at once', s(rollout.ms), '', ''],
    ['regenerate phase / refill floor', `${((phases.get('regenerate') ?? 0) / refill.ms).toFixed(2)}×`, '', ''],
    ['restart phase / rollout floor', `${((phases.get('restart') ?? 0) / rollout.ms).toFixed(2)}×`, '', ''],
    ['whole run / floor', `${(tool.wallMs / fl.ms).toFixed(2)}×`, '≤ 1.20×', ''],
    [`kubectl loop (${kb.secrets} patches, ${kb.workloads} restarts; extrapolated to N)`, s(kubectlMs), '', ''],
    ['kubectl loop / rotate-tokens', `${(kubectlMs / tool.wallMs).toFixed(2)}×`, '', ''],
    proofRan
      ? [`verification vs kubectl per token (${s(kb.perTokenMs)} × N = ${s(kubectlPerTokenMs)})`, `${(kubectlPerTokenMs / Math.max(verifyMs, 1)).toFixed(1)}× faster`, '≥ 20× faster', verdict(verifyMs, kubectlPerTokenMs / 20, 's')]
      : ['verification vs kubectl per token', 'not measured', '≥ 20× faster', 'not measured: the proof step did not run'],
    [`inventory alone: Secret requests (N=${N}; ${pages} pages of 500)`, String(inventorySecretReqs), `O(pages), ≤ ${pages + 5}`, verdict(inventorySecretReqs, pages + 5, 'requests')],
    ['peak RSS of rotate-tokens', `${tool.rssMb.toFixed(0)} MB`, '< 300 MB', verdict(tool.rssMb, 300, 'MB')],
  ]
  const reqRows = Object.entries(tool.requests)
    .filter(([, v]) => v > 0)
    .sort((x, y) => y[1] - x[1])
    // The 15 busiest, and every request on Secrets (the tool's own work).
    .filter(([k], i) => i < 15 || / secrets(\/|$)/.test(k))
  const loadEnd = loadavg()
  const machine = `${cpus()[0]?.model ?? 'unknown'} x ${cpus().length}, ${(totalmem() / 2 ** 30).toFixed(1)} GB`
  const out = [
    `## bench-cluster: N=${N} token Secrets, M=${M} pods, ${l.namespaces.length} namespaces (${machine}; load ${loadStart.map((x) => x.toFixed(2)).join(' ')} -> ${loadEnd.map((x) => x.toFixed(2)).join(' ')})`,
    `# rotate-tokens -A --yes --recreate-bare-pods exited ${tool.code}, run as make runs it (${shownCommand()}, the bundle) on Node ${process.version}; seeding took ${s(seedMs)}; StatefulSets and DaemonSets roll out with maxUnavailable ${sizes.maxUnavailable}`,
    `# kubectl loop: measured on ${kb.secrets} Secrets and ${kb.workloads} workloads, extrapolated to ${N} Secrets and ${workloadsTotal} workloads; it does not wait for refills or rollouts and skips bare pods, so it is a lower bound`,
    ...alignedLines(['measure', 'value', 'target', 'verdict'], rows, [0, 2, 3]),
    '',
    '## steps of rotate-tokens',
    ...alignedLines(
      ['step', 'phase', 'time', 'peak RSS by its end', 'outcome', 'summary'],
      tool.steps.map((st) => [st.id, phaseOf(st.id), s(st.ms), `${st.highWaterMb.toFixed(0)} MB`, st.outcome, st.summary.slice(0, 70)]),
      [0, 1, 4, 5],
    ),
    '',
    '## API requests during the rotate-tokens run (apiserver_request_total delta; includes the controllers, scheduler and kwok replacing pods)',
    ...alignedLines(['verb resource', 'requests'], reqRows.map(([k, v]) => [k, String(v)])),
    '',
    `## API requests of the inventory alone (regenerate-tokens -A --dry-run, ${s(inventory.ms)}, exit ${inventory.code})`,
    ...alignedLines(['verb resource', 'requests'], Object.entries(inventory.requests).filter(([, v]) => v > 0).sort((x, y) => y[1] - x[1]).map(([k, v]) => [k, String(v)])),
    '',
  ]
  process.stdout.write(out.join('\n'))
  if (!values['no-history']) {
    const entry = {
      date: new Date().toISOString(),
      commit: gitCommit(),
      node: process.version,
      command: shownCommand(),
      machine,
      load: { start: loadStart.map((x) => +x.toFixed(2)), end: loadEnd.map((x) => +x.toFixed(2)) },
      N,
      M,
      namespaces: l.namespaces.length,
      exitCode: tool.code,
      seedS: +(seedMs / 1000).toFixed(1),
      toolS: +(tool.wallMs / 1000).toFixed(1),
      phasesS: Object.fromEntries([...phases].map(([k, v]) => [k, +(v / 1000).toFixed(1)])),
      steps: tool.steps.map((st) => ({ id: st.id, outcome: st.outcome, s: +(st.ms / 1000).toFixed(2), highWaterMb: +st.highWaterMb.toFixed(0) })),
      floorS: +(fl.ms / 1000).toFixed(1),
      floorRefillS: +(refill.ms / 1000).toFixed(1),
      floorRolloutS: +(rollout.ms / 1000).toFixed(1),
      clientQps,
      maxUnavailable: sizes.maxUnavailable,
      kubectl: { sampleSecrets: kb.secrets, sampleWorkloads: kb.workloads, perTokenMs: Math.round(kb.perTokenMs), extrapolatedS: +(kubectlMs / 1000).toFixed(1) },
      ratios: { toolOverFloor: +(tool.wallMs / fl.ms).toFixed(2), kubectlOverTool: +(kubectlMs / tool.wallMs).toFixed(2) },
      rssMb: +tool.rssMb.toFixed(1),
      inventorySecretRequests: inventorySecretReqs,
      inventory: { s: +(inventory.ms / 1000).toFixed(1), exitCode: inventory.code, requests: inventory.requests },
      requests: Object.fromEntries(reqRows),
    }
    await appendFile(HISTORY_FILE, `${JSON.stringify(entry)}\n`)
    progress(`appended to ${HISTORY_FILE}`)
  }
  return 0
}

if (isMain(import.meta.url)) {
  main(process.argv.slice(2)).then(
    (code) => (process.exitCode = code),
    (err: unknown) => {
      process.stderr.write(`bench-cluster: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`)
      process.exitCode = 1
    },
  )
}
