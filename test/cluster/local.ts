// The `local` provider: a real control plane (etcd, kube-apiserver,
// kube-controller-manager, kube-scheduler) plus kwok's fake nodes and, where
// the host allows it, one real node (containerd + kubelet, see real-node.ts),
// run as plain processes in a per-cluster directory. Everything about a running
// cluster is in <dir>/state.json, so any process can attach to it, rotate its
// service-account key, or stop it.
import { execFileSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises'
import { request } from 'node:https'
import { request as httpRequest } from 'node:http'
import { dirname, join } from 'node:path'
import * as k8s from '@kubernetes/client-node'
import { binaryCacheDir, ensureBinaries, type Binaries, type BinaryName } from './binaries.ts'
import { createPki, createServiceAccountKey, issueNodeCert, type ClusterPki, type ServiceAccountKey } from './pki.ts'
import { freePort, isRunning, isSuspended, killNow, resumeProcess, startProcess, stopProcess, suspendProcess, waitUntil } from './processes.ts'
import {
  REAL_NODE_NAME,
  cleanupNode,
  containerdArgs,
  hostCannotRunNode,
  hostIp,
  importImages,
  kubeletArgs,
  nodePaths,
  realNodeMode,
  takeLock,
  writeNodeConfigs,
  type RealNodeInfo,
} from './real-node.ts'
import type { ClusterHandle, ControlPlaneComponent, FaultControls, RotateOptions } from './types.ts'
import { versions } from './versions.ts'

type Component = 'etcd' | 'kube-apiserver' | 'kube-controller-manager' | 'kube-scheduler' | 'kwok' | 'containerd' | 'kubelet'
// Start order; stop goes in reverse.
const components: Component[] = ['etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kwok', 'containerd', 'kubelet']
const nodeComponents: Component[] = ['containerd', 'kubelet']

interface LocalState {
  kubernetesVersion: string
  dir: string
  binaries: Binaries
  pki: ClusterPki
  ports: { etcd: number; etcdPeer: number; apiserver: number; controllerManager: number; scheduler: number; kwok: number }
  serviceAccountKeys: ServiceAccountKey[]
  /** Index into serviceAccountKeys of the key that signs new tokens. */
  signingKey: number
  /** Indexes of the public keys the API server accepts. */
  trustedKeys: number[]
  pids: Partial<Record<Component, number>>
  /** The real node: its address and ports when started, else why not. */
  realNode: RealNodeInfo
  node?: { hostIp: string; kubeletPort: number; kubeletHealthzPort: number }
  /** --kube-api-qps of the controller manager and scheduler; absent: their defaults (20 and 50). */
  clientQps?: number
}

export interface LocalClusterOptions {
  /** Per-cluster directory (PKI, data, logs, state). Created if missing. */
  dir: string
  /** Fake nodes to create. */
  nodes?: number
  /**
   * Requests/s the controller manager and scheduler may send (burst twice
   * that). Only for benchmarks at tens of thousands of pods, where the
   * defaults (20 and 50) rather than the machine bound how fast pods are
   * replaced; kept across restarts (key rotation).
   */
  clientQps?: number
  /**
   * false: a fresh cluster gets no real node, only kwok nodes (benchmarks:
   * a kubelet would only add load, and one host runs one real node, which
   * the e2e suite's real-node tests need). A running cluster is reused as
   * it is. Default: as KTR_REAL_NODE says.
   */
  realNode?: false
  log?: (line: string) => void
}

const defaultLog = (line: string) => process.stderr.write(`cluster: ${line}\n`)
const logHint = (dir: string, component: string) => `see ${join(dir, 'logs', `${component}.log`)}`
export const adminKubeconfigPath = (dir: string) => join(dir, 'admin.kubeconfig')
const statePath = (dir: string) => join(dir, 'state.json')

/** Starts a cluster in `dir`, or reuses the one already running there. */
export async function startLocalCluster(options: LocalClusterOptions): Promise<ClusterHandle> {
  const log = options.log ?? defaultLog
  const mode = realNodeMode()
  const existing = await readState(options.dir)
  const broken = existing ? brokenComponents(existing) : []
  const nodeChoiceChanged = existing && mode !== 'auto' && (existing.realNode.status === 'up') !== (mode === 'on')
  if (existing && broken.length === 0 && !nodeChoiceChanged && (await apiserverReady(existing))) {
    log(`reusing the cluster running in ${options.dir}`)
    reportRealNode(existing, log)
    return handleFor(existing, log)
  }
  if (existing) {
    const why = broken.length ? `broken (${broken.map((b) => b.problem).join(', ')})` : nodeChoiceChanged ? `KTR_REAL_NODE=${process.env.KTR_REAL_NODE} asks otherwise` : 'not healthy'
    log(`the cluster in ${options.dir} is ${why}: stopping what is left of it and starting afresh`)
    await stopComponents(existing)
  }
  cleanupNode(options.dir, undefined) // mounts a crashed node may have left
  await rm(options.dir, { recursive: true, force: true })
  await mkdir(options.dir, { recursive: true, mode: 0o700 })

  const cannot = mode === 'off' ? 'KTR_REAL_NODE=0' : options.realNode === false ? 'not wanted here (a benchmark cluster: kwok nodes only)' : hostCannotRunNode(options.dir, binaryCacheDir())
  if (mode === 'on' && cannot) throw new Error(`KTR_REAL_NODE=1 asks for a real node, but this host cannot run one: ${cannot}`)
  const binaries = await ensureBinaries(process.env, log, !cannot)
  log(`starting Kubernetes ${versions.kubernetes} in ${options.dir}`)
  const pki = await createPki(join(options.dir, 'pki'))
  const state: LocalState = {
    kubernetesVersion: versions.kubernetes,
    dir: options.dir,
    binaries,
    pki,
    ports: {
      etcd: await freePort(),
      etcdPeer: await freePort(),
      apiserver: await freePort(),
      controllerManager: await freePort(),
      scheduler: await freePort(),
      kwok: await freePort(),
    },
    serviceAccountKeys: [await createServiceAccountKey(pki.dir, 1)],
    signingKey: 0,
    trustedKeys: [0],
    pids: {},
    realNode: { status: 'off', reason: cannot ?? 'not started yet' },
    ...(options.clientQps === undefined ? {} : { clientQps: options.clientQps }),
  }
  if (!cannot) {
    state.node = { hostIp: hostIp()!, kubeletPort: await freePort(), kubeletHealthzPort: await freePort() }
  }
  await writeKubeconfigs(state)
  try {
    for (const component of components.filter((c) => !nodeComponents.includes(c))) await start(state, component, log)
    await createFakeNodes(state, options.nodes ?? 3, log)
    if (state.node) await startRealNode(state, log)
    await waitForDefaultServiceAccount(state)
  } catch (err) {
    await stopComponents(state)
    throw err
  }
  reportRealNode(state, log)
  log(`ready: kubeconfig ${adminKubeconfigPath(options.dir)}`)
  return handleFor(state, log)
}

async function startRealNode(state: LocalState, log: (line: string) => void): Promise<void> {
  const node = state.binaries.node!
  const { hostIp: ip, kubeletPort, kubeletHealthzPort } = state.node!
  await writeNodeConfigs({
    dir: state.dir,
    cniBinDir: node.cniBinDir,
    runc: node.paths.runc,
    pki: state.pki,
    nodeCert: await issueNodeCert(state.pki, REAL_NODE_NAME),
    apiserverPort: state.ports.apiserver,
    kubeletPort,
    kubeletHealthzPort,
    hostIp: ip,
  })
  await start(state, 'containerd', log)
  takeLock(state.dir, state.pids.containerd!, node.paths.containerd)
  importImages(node.paths.ctr, state.dir, node.images)
  log(`imported images ${node.images.map((i) => i.split('/').pop()).join(', ')} into containerd`)
  await start(state, 'kubelet', log)
  const core = adminClient(state)
  await waitUntil(
    `node ${REAL_NODE_NAME} (the kubelet) to become Ready`,
    async () => {
      const n = await core.readNode({ name: REAL_NODE_NAME })
      return n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false
    },
    180_000,
    `${logHint(state.dir, 'kubelet')} and ${logHint(state.dir, 'containerd')}`,
  )
  state.realNode = {
    status: 'up',
    name: REAL_NODE_NAME,
    apiserverUrl: `https://${ip}:${state.ports.apiserver}`,
    apiserverServerName: 'kubernetes.default.svc',
  }
  await saveState(state)
}

function reportRealNode(state: LocalState, log: (line: string) => void): void {
  if (state.realNode.status === 'up') log(`real node ${state.realNode.name} Ready (kubelet ${state.kubernetesVersion}, containerd); pods reach the API server at ${state.realNode.apiserverUrl}`)
  else log(`no real node: ${state.realNode.reason}; kwok nodes only, real-node tests not run`)
}

/**
 * Components of a running cluster that do not work: exited (a crash),
 * stopped (no process: a fault test or `make cluster-down`), or suspended
 * (SIGSTOP, left by a fault test that did not resume it). The real node's
 * components count only when the cluster has one.
 */
function brokenComponents(state: LocalState): Array<{ component: Component; problem: string }> {
  const expected = components.filter((c) => !nodeComponents.includes(c) || state.realNode.status === 'up')
  return expected.flatMap((component) => {
    const pid = state.pids[component]
    if (pid === undefined) return [{ component, problem: `${component} is not running` }]
    if (!isRunning(pid, binaryPath(state, component))) return [{ component, problem: `${component} exited` }]
    if (isSuspended(pid)) return [{ component, problem: `${component} is suspended (SIGSTOP)` }]
    return []
  })
}

/** Where the node's binaries are (containerd looks for its shim there). */
function binaryCacheDirOf(state: LocalState): string {
  return dirname(state.binaries.node!.paths.containerd)
}

/** Attaches to a cluster started by another process (same dir). */
export async function attachLocalCluster(dir: string, log = defaultLog): Promise<ClusterHandle> {
  const state = await readState(dir)
  if (!state) throw new Error(`no local cluster in ${dir}: start one with \`make cluster-up\``)
  // A dead component fails every test after it by timeout; say which one, once, here.
  const broken = brokenComponents(state)
  if (broken.length) {
    throw new Error(`the local cluster in ${dir} is broken: ${broken.map((b) => b.problem).join(', ')} (${broken.map((b) => logHint(dir, b.component)).join(', ')}); \`make cluster-up\` starts it afresh`)
  }
  return handleFor(state, log)
}

/** Stops the cluster in `dir` if there is one. */
export async function stopLocalCluster(dir: string): Promise<boolean> {
  const state = await readState(dir)
  if (!state) return false
  await stopComponents(state)
  return true
}

/** Synchronous kill for exit and signal handlers, which cannot await. */
export function killLocalClusterNow(dir: string): void {
  if (!existsSync(statePath(dir))) return
  const state = JSON.parse(readFileSync(statePath(dir), 'utf8')) as LocalState
  const kubelet = state.pids.kubelet
  if (kubelet) killNow(kubelet, binaryPath(state, 'kubelet'))
  if (state.pids.containerd) removeAllPods(state, 20_000)
  for (const component of components) {
    const pid = state.pids[component]
    if (pid) killNow(pid, binaryPath(state, component))
  }
  if (state.node) cleanupNode(dir, state.binaries.node?.paths['containerd-shim-runc-v2'])
}

/** Stops and removes every pod sandbox (CNI teardown included) through the CRI. */
function removeAllPods(state: LocalState, timeout: number): void {
  const crictl = state.binaries.node?.paths.crictl
  if (!crictl || !state.pids.containerd || !isRunning(state.pids.containerd, binaryPath(state, 'containerd'))) return
  try {
    execFileSync(crictl, ['--runtime-endpoint', `unix://${nodePaths(state.dir).containerdSocket}`, 'rmp', '--all', '--force'], { stdio: 'ignore', timeout })
  } catch {
    // cleanupNode kills and unmounts what is left
  }
}

function handleFor(state: LocalState, log: (line: string) => void): ClusterHandle & { state: LocalState } {
  // Another process may have changed the cluster since we attached: work from disk.
  const withCurrent = async (act: (current: LocalState) => Promise<void>) => {
    const current = (await readState(state.dir)) ?? state
    await act(current)
    Object.assign(state, current)
  }
  return {
    provider: 'local',
    kubeconfigPath: adminKubeconfigPath(state.dir),
    dir: state.dir,
    realNode: state.realNode,
    state,
    rotateServiceAccountKey: (opts?: RotateOptions) => withCurrent((current) => rotate(current, opts ?? {}, log)),
    faults: faultControls(withCurrent, log),
    stop: async () => {
      const current = (await readState(state.dir)) ?? state
      await stopComponents(current)
      log(`stopped the cluster in ${state.dir} (logs kept in ${join(state.dir, 'logs')})`)
    },
  }
}

function faultControls(withCurrent: (act: (current: LocalState) => Promise<void>) => Promise<void>, log: (line: string) => void): FaultControls {
  const stop = (component: ControlPlaneComponent) =>
    withCurrent(async (s) => {
      await stopComponent(s, component)
      log(`fault: stopped ${component}`)
    })
  const startAgain = (component: ControlPlaneComponent) =>
    withCurrent(async (s) => {
      const pid = s.pids[component]
      if (pid !== undefined && isRunning(pid, binaryPath(s, component))) throw new Error(`${component} is already running (pid ${pid})`)
      await start(s, component, log)
    })
  return {
    stop,
    start: startAgain,
    restart: async (component) => {
      await stop(component)
      await startAgain(component)
    },
    suspend: (component) =>
      withCurrent(async (s) => {
        suspendProcess(runningPid(s, component), binaryPath(s, component))
        log(`fault: suspended ${component} (SIGSTOP of its process group)`)
      }),
    resume: (component) =>
      withCurrent(async (s) => {
        resumeProcess(runningPid(s, component), binaryPath(s, component))
        await waitUntil(`${component} to become healthy after SIGCONT`, () => healthy(s, component), 60_000, logHint(s.dir, component))
        log(`fault: resumed ${component}`)
      }),
  }
}

function runningPid(state: LocalState, component: Component): number {
  const pid = state.pids[component]
  if (pid === undefined || !isRunning(pid, binaryPath(state, component))) throw new Error(`${component} is not running in ${state.dir}`)
  return pid
}

async function rotate(state: LocalState, { keepOld = false }: RotateOptions, log: (line: string) => void): Promise<void> {
  const key = await createServiceAccountKey(state.pki.dir, state.serviceAccountKeys.length + 1)
  state.serviceAccountKeys.push(key)
  const index = state.serviceAccountKeys.length - 1
  state.signingKey = index
  state.trustedKeys = keepOld ? [...state.trustedKeys, index] : [index]
  log(`rotating the service-account signing key to ${key.kid} (${keepOld ? 'old keys still trusted' : 'old keys dropped'})`)
  // Keys are read only at start-up: restart both users of the key. The
  // scheduler goes too, as on a real control plane: one that rides out the
  // API server's restart may relist a bare pod re-created meanwhile (same
  // name, other node) as an update and exit on purpose ("Scheduler cache is
  // corrupted"), after which nothing is scheduled and tests time out.
  const clients = ['kube-controller-manager', 'kube-scheduler'] as const
  for (const component of clients) await stopComponent(state, component)
  await stopComponent(state, 'kube-apiserver')
  await start(state, 'kube-apiserver', log)
  for (const component of clients) await start(state, component, log)
  const expected = state.trustedKeys.map((i) => state.serviceAccountKeys[i]!.kid).sort()
  await waitUntil(
    `the API server to publish keys ${expected.join(', ')}`,
    async () => JSON.stringify(await publishedKeyIds(state)) === JSON.stringify(expected),
    60_000,
    logHint(state.dir, 'kube-apiserver'),
  )
}

async function start(state: LocalState, component: Component, log: (line: string) => void): Promise<void> {
  const binary = binaryPath(state, component)
  // containerd finds its shim (containerd-shim-runc-v2) on PATH.
  const env = component === 'containerd' ? { ...process.env, PATH: `${binaryCacheDirOf(state)}:${process.env.PATH ?? ''}` } : undefined
  state.pids[component] = startProcess(join(state.dir, 'logs'), component, binary, argsFor(state, component), env)
  await saveState(state)
  await waitUntil(`${component} to become healthy`, () => healthy(state, component), 120_000, logHint(state.dir, component))
  log(`${component} is up (pid ${state.pids[component]})`)
}

async function stopComponent(state: LocalState, component: Component): Promise<void> {
  const pid = state.pids[component]
  if (pid) await stopProcess(pid, binaryPath(state, component))
  delete state.pids[component]
  await saveState(state)
}

async function stopComponents(state: LocalState): Promise<void> {
  for (const component of [...components].reverse()) {
    // Pods go before containerd does, so their network and mounts are torn down properly.
    if (component === 'containerd') removeAllPods(state, 60_000)
    await stopComponent(state, component)
  }
  if (state.node) cleanupNode(state.dir, state.binaries.node?.paths['containerd-shim-runc-v2'])
}

function binaryPath(state: LocalState, component: Component): string {
  if (component === 'containerd' || component === 'kubelet') {
    const path = state.binaries.node?.paths[component]
    if (!path) throw new Error(`the cluster in ${state.dir} has no real-node binaries: it was started without a real node`)
    return path
  }
  return state.binaries.paths[component satisfies BinaryName]
}

function argsFor(s: LocalState, component: Component): string[] {
  const { pki, ports, dir } = s
  const kubeconfig = (name: string) => join(dir, `${name}.kubeconfig`)
  switch (component) {
    case 'etcd':
      return [
        `--data-dir=${join(dir, 'etcd')}`,
        `--listen-client-urls=http://127.0.0.1:${ports.etcd}`,
        `--advertise-client-urls=http://127.0.0.1:${ports.etcd}`,
        `--listen-peer-urls=http://127.0.0.1:${ports.etcdPeer}`,
        `--initial-advertise-peer-urls=http://127.0.0.1:${ports.etcdPeer}`,
        `--initial-cluster=default=http://127.0.0.1:${ports.etcdPeer}`,
        '--unsafe-no-fsync', // a throw-away test cluster: speed over durability
      ]
    case 'kube-apiserver':
      return [
        `--etcd-servers=http://127.0.0.1:${ports.etcd}`,
        // With a real node, pods reach the API server at the host's address (there is no kube-proxy).
        `--bind-address=${s.node ? '0.0.0.0' : '127.0.0.1'}`,
        '--advertise-address=127.0.0.1',
        `--secure-port=${ports.apiserver}`,
        `--tls-cert-file=${pki.apiserver.cert}`,
        `--tls-private-key-file=${pki.apiserver.key}`,
        `--client-ca-file=${pki.ca.cert}`,
        '--service-cluster-ip-range=10.0.0.0/24',
        '--allow-privileged=true',
        '--authorization-mode=Node,RBAC',
        '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
        `--service-account-signing-key-file=${s.serviceAccountKeys[s.signingKey]!.privateKey}`,
        ...s.trustedKeys.map((i) => `--service-account-key-file=${s.serviceAccountKeys[i]!.publicKey}`),
        // The real node's name does not resolve; its InternalIP does.
        '--kubelet-preferred-address-types=InternalIP,ExternalIP,Hostname',
        `--kubelet-client-certificate=${pki.apiserverKubeletClient.cert}`,
        `--kubelet-client-key=${pki.apiserverKubeletClient.key}`,
        ...benchFeatureGates(s),
      ]
    case 'kube-controller-manager':
      return [
        `--kubeconfig=${kubeconfig('controller-manager')}`,
        `--authentication-kubeconfig=${kubeconfig('controller-manager')}`,
        `--authorization-kubeconfig=${kubeconfig('controller-manager')}`,
        '--bind-address=127.0.0.1',
        `--secure-port=${ports.controllerManager}`,
        `--tls-cert-file=${pki.localhostServing.cert}`,
        `--tls-private-key-file=${pki.localhostServing.key}`,
        '--leader-elect=false',
        '--controllers=*',
        '--use-service-account-credentials',
        // The tokens controller (legacy token Secrets) runs only with this key.
        `--service-account-private-key-file=${s.serviceAccountKeys[s.signingKey]!.privateKey}`,
        `--root-ca-file=${pki.ca.cert}`,
        `--cluster-signing-cert-file=${pki.ca.cert}`,
        `--cluster-signing-key-file=${pki.ca.key}`,
        '--service-cluster-ip-range=10.0.0.0/24',
        ...clientQpsArgs(s),
        ...benchNodeGrace(s),
        ...benchFeatureGates(s),
      ]
    case 'kube-scheduler':
      return [
        `--kubeconfig=${kubeconfig('scheduler')}`,
        `--authentication-kubeconfig=${kubeconfig('scheduler')}`,
        `--authorization-kubeconfig=${kubeconfig('scheduler')}`,
        '--bind-address=127.0.0.1',
        `--secure-port=${ports.scheduler}`,
        `--tls-cert-file=${pki.localhostServing.cert}`,
        `--tls-private-key-file=${pki.localhostServing.key}`,
        '--leader-elect=false',
        ...clientQpsArgs(s),
      ]
    case 'kwok':
      return [
        `--kubeconfig=${kubeconfig('admin')}`,
        '--manage-all-nodes=false',
        '--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake',
        `--server-address=127.0.0.1:${ports.kwok}`,
        '--node-lease-duration-seconds=40',
        `--config=${kwokConfig(s)}`,
      ]
    case 'containerd':
      return containerdArgs(dir)
    case 'kubelet':
      return kubeletArgs(dir, s.node!.hostIp)
  }
}

/**
 * On a benchmark cluster (clientQps set), kwok's node heartbeats lag behind
 * the default 50 s grace while 30,000 pods are seeded on 2 cores: the node
 * controller marks nodes NotReady and their pods Ready=False, and nothing
 * sets them Ready again (kwok's pod stages only start pods), so rollouts
 * stall for good (672 of 30,000 pods). A loaded machine is not a dead node.
 */
function benchNodeGrace(s: LocalState): string[] {
  return s.clientQps === undefined ? [] : ['--node-monitor-grace-period=10m']
}

/**
 * A benchmark cluster lets StatefulSets roll out more than one pod at a time
 * (spec.updateStrategy.rollingUpdate.maxUnavailable; beta, off by default in
 * 1.36): at 180 pods per StatefulSet one at a time takes hours, for the tool
 * and for the floor it is measured against alike. The bench seeds it only
 * when asked (--max-unavailable) and reads it back.
 */
function benchFeatureGates(s: LocalState): string[] {
  return s.clientQps === undefined ? [] : ['--feature-gates=MaxUnavailableStatefulSet=true']
}

function clientQpsArgs(s: LocalState): string[] {
  return s.clientQps === undefined ? [] : [`--kube-api-qps=${s.clientQps}`, `--kube-api-burst=${s.clientQps * 2}`]
}

function kwokConfig(s: LocalState): string {
  return ['node-initialize', 'node-heartbeat-with-lease', 'pod-ready', 'pod-complete', 'pod-delete']
    .map((stage) => join(s.binaries.kwokStages, `${stage}.yaml`))
    .join(',')
}

async function healthy(s: LocalState, component: Component): Promise<boolean> {
  const pid = s.pids[component]
  if (!pid || !isRunning(pid, binaryPath(s, component))) {
    throw new Error(`${component} exited`)
  }
  switch (component) {
    case 'etcd':
      return (await httpGet(`http://127.0.0.1:${s.ports.etcd}/health`)) === 200
    case 'kube-apiserver':
      return apiserverReady(s)
    case 'kube-controller-manager':
      return (await httpsGet(s, s.ports.controllerManager, '/healthz', false)).status === 200
    case 'kube-scheduler':
      return (await httpsGet(s, s.ports.scheduler, '/healthz', false)).status === 200
    case 'kwok':
      return (await httpGet(`http://127.0.0.1:${s.ports.kwok}/healthz`)) === 200
    case 'containerd':
      execFileSync(s.binaries.node!.paths.ctr, ['--address', nodePaths(s.dir).containerdSocket, 'version'], { stdio: 'ignore', timeout: 5000 })
      return true
    case 'kubelet':
      return (await httpGet(`http://127.0.0.1:${s.node!.kubeletHealthzPort}/healthz`)) === 200
  }
}

async function apiserverReady(s: LocalState): Promise<boolean> {
  try {
    return (await httpsGet(s, s.ports.apiserver, '/readyz', true)).status === 200
  } catch {
    return false
  }
}

async function publishedKeyIds(s: LocalState): Promise<string[]> {
  const { status, body } = await httpsGet(s, s.ports.apiserver, '/openid/v1/jwks', true)
  if (status !== 200) return []
  const jwks = JSON.parse(body) as { keys?: Array<{ kid?: string }> }
  return (jwks.keys ?? []).map((k) => k.kid ?? '').sort()
}

function httpGet(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { timeout: 2000 }, (res) => {
      res.resume()
      resolve(res.statusCode ?? 0)
    })
    req.on('timeout', () => req.destroy(new Error('timeout')))
    req.on('error', reject)
    req.end()
  })
}

/** GET over TLS verified against the cluster CA, as admin when `asAdmin`. */
function httpsGet(s: LocalState, port: number, path: string, asAdmin: boolean): Promise<{ status: number; body: string }> {
  return Promise.all([
    readFile(s.pki.ca.cert),
    asAdmin ? readFile(s.pki.admin.cert) : undefined,
    asAdmin ? readFile(s.pki.admin.key) : undefined,
  ]).then(
    ([ca, cert, key]) =>
      new Promise((resolve, reject) => {
        const req = request({ host: '127.0.0.1', port, path, ca, cert, key, servername: 'localhost', timeout: 2000 }, (res) => {
          let body = ''
          res.setEncoding('utf8')
          res.on('data', (chunk: string) => (body += chunk))
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
        })
        req.on('timeout', () => req.destroy(new Error('timeout')))
        req.on('error', reject)
        req.end()
      }),
  )
}

async function writeKubeconfigs(s: LocalState): Promise<void> {
  const users: Array<[string, { cert: string; key: string }]> = [
    ['admin', s.pki.admin],
    ['controller-manager', s.pki.controllerManager],
    ['scheduler', s.pki.scheduler],
  ]
  for (const [name, pair] of users) {
    const text = [
      'apiVersion: v1',
      'kind: Config',
      'clusters:',
      '- name: local',
      '  cluster:',
      `    server: https://127.0.0.1:${s.ports.apiserver}`,
      `    certificate-authority: ${s.pki.ca.cert}`,
      'users:',
      `- name: ${name}`,
      '  user:',
      `    client-certificate: ${pair.cert}`,
      `    client-key: ${pair.key}`,
      'contexts:',
      `- name: ktr-local`,
      '  context:',
      '    cluster: local',
      `    user: ${name}`,
      'current-context: ktr-local',
      '',
    ].join('\n')
    await writeFile(join(s.dir, `${name}.kubeconfig`), text, { mode: 0o600 })
  }
}

function adminClient(s: LocalState): k8s.CoreV1Api {
  const kc = new k8s.KubeConfig()
  kc.loadFromFile(adminKubeconfigPath(s.dir))
  return kc.makeApiClient(k8s.CoreV1Api)
}

async function createFakeNodes(s: LocalState, count: number, log: (line: string) => void): Promise<void> {
  const core = adminClient(s)
  const names = Array.from({ length: count }, (_, i) => `kwok-node-${i + 1}`)
  for (const name of names) {
    await core.createNode({
      body: {
        metadata: {
          name,
          annotations: { 'kwok.x-k8s.io/node': 'fake', 'node.alpha.kubernetes.io/ttl': '0' },
          labels: { 'kubernetes.io/hostname': name, 'kubernetes.io/os': 'linux', 'kubernetes.io/arch': 'amd64', type: 'kwok' },
        },
        status: {
          allocatable: { cpu: '32', memory: '256Gi', pods: '110' },
          capacity: { cpu: '32', memory: '256Gi', pods: '110' },
        },
      },
    })
  }
  await waitUntil(
    `${count} kwok nodes to become Ready`,
    async () => {
      const nodes = await core.listNode()
      const ready = nodes.items.filter((n) => n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'))
      return ready.length >= count
    },
    60_000,
    logHint(s.dir, 'kwok'),
  )
  log(`${count} fake nodes Ready: ${names.join(', ')}`)
}

async function waitForDefaultServiceAccount(s: LocalState): Promise<void> {
  const core = adminClient(s)
  await waitUntil(
    'the controller manager to create ServiceAccount default/default',
    async () => (await core.readNamespacedServiceAccount({ name: 'default', namespace: 'default' })).metadata?.name === 'default',
    60_000,
    logHint(s.dir, 'kube-controller-manager'),
  )
}

async function readState(dir: string): Promise<LocalState | undefined> {
  if (!existsSync(statePath(dir))) return undefined
  let state: LocalState
  try {
    state = JSON.parse(await readFile(statePath(dir), 'utf8')) as LocalState
  } catch (err) {
    throw new Error(`the cluster state ${statePath(dir)} cannot be read (${err instanceof Error ? err.message : String(err)}): stop what runs from ${dir} by hand (\`pgrep -af ${dir}\`), then delete the file`, { cause: err })
  }
  state.realNode ??= { status: 'off', reason: 'the cluster was started by a harness without real-node support' }
  return state
}

/** Whole or not at all: a harness killed while writing must not leave a truncated state, or nothing could find its processes again. */
async function saveState(s: LocalState): Promise<void> {
  const temp = `${statePath(s.dir)}.tmp-${process.pid}`
  await writeFile(temp, `${JSON.stringify(s, null, 2)}\n`, { mode: 0o600 })
  await rename(temp, statePath(s.dir))
}
