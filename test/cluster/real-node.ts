// The local cluster's real node: containerd (with runc and the bridge CNI
// plugin) and a kubelet, run as host processes beside the control plane, with
// images imported from archives built here (no registry). Pods reach it only
// with the toleration below and the node selector `ktr.dev/real-node=true`,
// so tests written for the kwok nodes are unaffected.
//
// Everything lives in <cluster dir>/node; the kubelet's cgroups (/kubepods),
// the bridge (ktr0, 10.244.0.0/24) and the host IP are host-wide, so one real
// node runs per host: a lock in /run names the cluster that has it.
import { execFileSync } from 'node:child_process'
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { mkdir, writeFile } from 'node:fs/promises'
import { networkInterfaces } from 'node:os'
import { join } from 'node:path'
import type { CertPair, ClusterPki } from './pki.ts'
import { isRunning } from './processes.ts'

export const REAL_NODE_NAME = 'ktr-node'
export const REAL_NODE_LABEL = 'ktr.dev/real-node'
export const REAL_NODE_TAINT = { key: 'ktr.dev/real-node', value: 'true', effect: 'NoSchedule' } as const
/** Images the real node has (imported at start); pods use imagePullPolicy: Never. */
export const REAL_NODE_IMAGES = { pause: 'localhost/ktr/pause:1', probe: 'localhost/ktr/probe:1' } as const
const POD_SUBNET = '10.244.0.0/24'
const BRIDGE = 'ktr0'
const LOCK = '/run/ktr-real-node.lock'

/** What the harness tells tests about the real node. */
export type RealNodeInfo =
  | {
      status: 'up'
      name: string
      /** The API server as pods on the real node reach it (no kube-proxy, so not 10.0.0.1). */
      apiserverUrl: string
      /** TLS name the API server's certificate carries, to verify it at apiserverUrl. */
      apiserverServerName: string
    }
  | { status: 'off'; reason: string }

export type RealNodeMode = 'auto' | 'on' | 'off'

export function realNodeMode(env = process.env): RealNodeMode {
  const value = env.KTR_REAL_NODE
  if (value === undefined || value === '' || value === 'auto') return 'auto'
  if (value === '1' || value === 'true') return 'on'
  if (value === '0' || value === 'false') return 'off'
  throw new Error(`KTR_REAL_NODE=${value} is not a choice: use 1 (require a real node), 0 (kwok nodes only) or auto`)
}

/** Why this host cannot run the real node, or undefined when it can. */
export function hostCannotRunNode(dir: string, binDir: string): string | undefined {
  if (process.platform !== 'linux') return `the host is ${process.platform}, and a kubelet needs Linux`
  if (process.getuid?.() !== 0) return 'not root: containerd and the kubelet need root (run as root, or set KTR_REAL_NODE=0)'
  const v2 = existsSync('/sys/fs/cgroup/cgroup.controllers')
  const v1 = ['cpu', 'memory', 'pids', 'cpuset'].every((c) => existsSync(join('/sys/fs/cgroup', c)))
  if (!v1 && !v2) return 'no usable cgroups: neither cgroup v2 nor the v1 cpu, memory, pids and cpuset hierarchies are mounted under /sys/fs/cgroup'
  if (!/\boverlay\n/.test(readFileSync('/proc/filesystems', 'utf8'))) return 'the kernel has no overlay filesystem (modprobe overlay)'
  if (!hostIp()) return 'the host has no non-loopback IPv4 address for the node'
  if (!existsSync(join(binDir, 'runc')) && !hasLibseccomp()) {
    return 'runc must be built with seccomp (the kubelet asks for it on every pod sandbox) and libseccomp is missing: apt-get install libseccomp-dev pkg-config'
  }
  const holder = lockHolder()
  if (holder && holder !== dir) return `another real node runs on this host (cluster ${holder}); stop it with its \`make cluster-down\` or set KTR_REAL_NODE=0`
  return undefined
}

function hasLibseccomp(): boolean {
  try {
    execFileSync('pkg-config', ['--exists', 'libseccomp'], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

/** The address the node registers and pods use to reach the host. */
export function hostIp(): string | undefined {
  for (const addresses of Object.values(networkInterfaces())) {
    for (const a of addresses ?? []) if (a.family === 'IPv4' && !a.internal) return a.address
  }
  return undefined
}

interface LockContent {
  dir: string
  pid: number
  binary: string
}

function lockHolder(): string | undefined {
  try {
    const lock = JSON.parse(readFileSync(LOCK, 'utf8')) as LockContent
    return isRunning(lock.pid, lock.binary) ? lock.dir : undefined
  } catch {
    return undefined
  }
}

export function takeLock(dir: string, pid: number, binary: string): void {
  writeFileSync(LOCK, JSON.stringify({ dir, pid, binary } satisfies LockContent))
}

export function releaseLock(dir: string): void {
  try {
    const lock = JSON.parse(readFileSync(LOCK, 'utf8')) as LockContent
    if (lock.dir === dir) rmSync(LOCK, { force: true })
  } catch {
    // no lock
  }
}

export interface NodePaths {
  root: string
  containerdConfig: string
  containerdSocket: string
  kubeletConfig: string
  kubeletKubeconfig: string
  cniConfDir: string
}

export function nodePaths(dir: string): NodePaths {
  const root = join(dir, 'node')
  return {
    root,
    containerdConfig: join(root, 'containerd.toml'),
    containerdSocket: join(root, 'containerd', 'containerd.sock'),
    kubeletConfig: join(root, 'kubelet.yaml'),
    kubeletKubeconfig: join(root, 'kubelet.kubeconfig'),
    cniConfDir: join(root, 'cni', 'net.d'),
  }
}

export interface NodeConfigInput {
  dir: string
  cniBinDir: string
  runc: string
  pki: ClusterPki
  nodeCert: CertPair
  apiserverPort: number
  kubeletPort: number
  kubeletHealthzPort: number
  hostIp: string
}

/** Writes containerd's, the CNI's and the kubelet's configuration. */
export async function writeNodeConfigs(c: NodeConfigInput): Promise<void> {
  const p = nodePaths(c.dir)
  await mkdir(p.cniConfDir, { recursive: true })
  await mkdir(join(p.root, 'containerd'), { recursive: true })
  const toml = (s: string) => `'${s}'`
  await writeFile(
    p.containerdConfig,
    [
      'version = 3',
      `root = ${toml(join(p.root, 'containerd', 'root'))}`,
      `state = ${toml(join(p.root, 'containerd', 'state'))}`,
      // NRI and the tracing/metrics endpoints would use host-wide paths and ports.
      "disabled_plugins = ['io.containerd.nri.v1.nri']",
      '[grpc]',
      `  address = ${toml(p.containerdSocket)}`,
      '[ttrpc]',
      `  address = ${toml(`${p.containerdSocket}.ttrpc`)}`,
      '[plugins]',
      "  [plugins.'io.containerd.internal.v1.opt']",
      `    path = ${toml(join(p.root, 'containerd', 'opt'))}`,
      "  [plugins.'io.containerd.cri.v1.images']",
      "    snapshotter = 'overlayfs'",
      "    [plugins.'io.containerd.cri.v1.images'.pinned_images]",
      `      sandbox = ${toml(REAL_NODE_IMAGES.pause)}`,
      "  [plugins.'io.containerd.cri.v1.runtime']",
      '    disable_apparmor = true',
      // A negative oom_score_adj (the kubelet asks -998 for sandboxes) needs CAP_SYS_RESOURCE,
      // which these hosts' bounding set lacks: clamp to containerd's own score instead.
      '    restrict_oom_score_adj = true',
      // Network namespaces under our directory, so cleanup finds every one.
      '    netns_mounts_under_state_dir = true',
      '    tolerate_missing_hugetlb_controller = true',
      '    disable_hugetlb_controller = true',
      "    [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]",
      "      runtime_type = 'io.containerd.runc.v2'",
      "      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]",
      `        BinaryName = ${toml(c.runc)}`,
      '        SystemdCgroup = false',
      "    [plugins.'io.containerd.cri.v1.runtime'.cni]",
      `      bin_dirs = [${toml(c.cniBinDir)}]`,
      `      conf_dir = ${toml(p.cniConfDir)}`,
      "  [plugins.'io.containerd.grpc.v1.cri']",
      "    stream_server_address = '127.0.0.1'",
      '',
    ].join('\n'),
  )
  await writeFile(
    join(p.cniConfDir, '10-ktr-bridge.conflist'),
    `${JSON.stringify(
      {
        cniVersion: '1.0.0',
        name: 'ktr',
        plugins: [
          {
            type: 'bridge',
            bridge: BRIDGE,
            isGateway: true,
            ipMasq: false, // no iptables here, and pods only talk to the host
            hairpinMode: true,
            ipam: { type: 'host-local', ranges: [[{ subnet: POD_SUBNET }]], routes: [{ dst: '0.0.0.0/0' }], dataDir: join(p.root, 'cni', 'ipam') },
          },
        ],
      },
      null,
      2,
    )}\n`,
  )
  await writeFile(
    p.kubeletKubeconfig,
    [
      'apiVersion: v1',
      'kind: Config',
      'clusters:',
      '- name: local',
      '  cluster:',
      `    server: https://127.0.0.1:${c.apiserverPort}`,
      `    certificate-authority: ${c.pki.ca.cert}`,
      'users:',
      `- name: kubelet`,
      '  user:',
      `    client-certificate: ${c.nodeCert.cert}`,
      `    client-key: ${c.nodeCert.key}`,
      'contexts:',
      '- name: kubelet',
      '  context: {cluster: local, user: kubelet}',
      'current-context: kubelet',
      '',
    ].join('\n'),
  )
  const kubelet = {
    apiVersion: 'kubelet.config.k8s.io/v1beta1',
    kind: 'KubeletConfiguration',
    containerRuntimeEndpoint: `unix://${p.containerdSocket}`,
    cgroupDriver: 'cgroupfs',
    // Kubelet 1.35+ refuses cgroup v1 unless told otherwise; these hosts have v1.
    failCgroupV1: false,
    failSwapOn: false,
    address: c.hostIp,
    port: c.kubeletPort,
    readOnlyPort: 0,
    healthzBindAddress: '127.0.0.1',
    healthzPort: c.kubeletHealthzPort,
    authentication: { anonymous: { enabled: false }, webhook: { enabled: true }, x509: { clientCAFile: c.pki.ca.cert } },
    authorization: { mode: 'Webhook' },
    clusterDomain: 'cluster.local',
    podLogsDir: join(p.root, 'pod-logs'),
    registerWithTaints: [REAL_NODE_TAINT],
    // A test machine: never evict or garbage-collect the imported images.
    evictionHard: { 'memory.available': '0%', 'nodefs.available': '0%', 'nodefs.inodesFree': '0%', 'imagefs.available': '0%', 'imagefs.inodesFree': '0%' },
    imageGCHighThresholdPercent: 100,
    imageGCLowThresholdPercent: 99,
    // Mounted Secrets and projected tokens follow API changes quickly.
    syncFrequency: '10s',
    nodeStatusReportFrequency: '10s',
    serializeImagePulls: false,
    resolvConf: '/etc/resolv.conf',
  }
  await writeFile(p.kubeletConfig, `${JSON.stringify(kubelet, null, 2)}\n`)
}

export function containerdArgs(dir: string): string[] {
  return ['--config', nodePaths(dir).containerdConfig]
}

export function kubeletArgs(dir: string, ip: string): string[] {
  const p = nodePaths(dir)
  return [
    `--config=${p.kubeletConfig}`,
    `--kubeconfig=${p.kubeletKubeconfig}`,
    `--root-dir=${join(p.root, 'kubelet')}`,
    `--cert-dir=${join(p.root, 'kubelet-pki')}`,
    `--hostname-override=${REAL_NODE_NAME}`,
    `--node-ip=${ip}`,
    `--node-labels=${REAL_NODE_LABEL}=true`,
    '--v=2',
  ]
}

/** Imports the image archives into containerd's k8s.io namespace. */
export function importImages(ctr: string, dir: string, archives: string[]): void {
  for (const archive of archives) {
    execFileSync(ctr, ['--address', nodePaths(dir).containerdSocket, '-n', 'k8s.io', 'images', 'import', archive], {
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 120_000,
    })
  }
}

/**
 * Leaves nothing of the node behind once containerd and the kubelet are
 * stopped: kills what still runs in the pods' cgroups (containers whose
 * shim outlived containerd) and unmounts everything under the node's
 * directory (Secret and token tmpfs, overlay rootfs, network namespaces).
 */
export function cleanupNode(dir: string, shim: string | undefined): void {
  const root = nodePaths(dir).root
  // Processes and cgroups are host-wide: leave them alone while another cluster's node runs.
  const holder = lockHolder()
  if (holder && holder !== dir) shim = undefined
  if (shim) {
    for (const pid of readdirSync('/proc').filter((e) => /^\d+$/.test(e)).map(Number)) {
      if (isRunning(pid, shim)) killQuietly(pid)
    }
  }
  if (!holder || holder === dir) {
    for (const pid of pidsInCgroup('/sys/fs/cgroup/pids/kubepods').concat(pidsInCgroup('/sys/fs/cgroup/kubepods'))) killQuietly(pid)
  }
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((line) => line.split(' ')[4])
    .filter((m): m is string => !!m && (m === root || m.startsWith(`${root}/`)))
    .map((m) => m.replace(/\\040/g, ' '))
    .sort((a, b) => b.length - a.length)
  for (const mount of mounts) {
    try {
      execFileSync('umount', ['-l', mount], { stdio: 'ignore' })
    } catch {
      // already gone with a parent
    }
  }
  releaseLock(dir)
}

function pidsInCgroup(path: string): number[] {
  if (!existsSync(path)) return []
  const pids: number[] = []
  const walk = (p: string) => {
    try {
      for (const line of readFileSync(join(p, 'cgroup.procs'), 'utf8').split('\n')) if (line) pids.push(Number(line))
      for (const entry of readdirSync(p, { withFileTypes: true })) if (entry.isDirectory()) walk(join(p, entry.name))
    } catch {
      // vanished while walking
    }
  }
  walk(path)
  return pids
}

function killQuietly(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL')
  } catch {
    // gone
  }
}
