// The `kind` provider: a kind cluster (Kubernetes in Docker) made from
// kind-config.yaml, for users' CI and machines with a Docker engine. The
// cluster is the source of truth: a handle keeps no state on disk except the
// kubeconfig it writes, so any process can attach to the cluster by name.
//
// Untested on the machines this project is developed on (no Docker engine, no
// registry): written from kind's and kubeadm's documentation and sources.
// References: https://kind.sigs.k8s.io/docs/user/quick-start/ and
// https://kubernetes.io/docs/tasks/administer-cluster/kubeadm/kubeadm-certs/
import { createHash, createPublicKey, generateKeyPairSync, randomBytes } from 'node:crypto'
import { mkdir, rename, writeFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import * as k8s from '@kubernetes/client-node'
import { $, which } from 'zx'
import type { ClusterHandle, RotateOptions } from './types.ts'

/** The kind release kind-config.yaml's node image was built with; keep .github/workflows/ci.yml in step. */
export const KIND_VERSION = 'v0.33.0'
export const DEFAULT_KIND_CLUSTER = 'ktr-e2e'
export const KIND_CONFIG_PATH = fileURLToPath(new URL('../../kind-config.yaml', import.meta.url))

export interface KindClusterOptions {
  /** Cluster name. Default: KIND_CLUSTER_NAME (kind's own variable), else `ktr-e2e`. */
  name?: string
  /** Where the kubeconfig is written. Default: `.cache/kind/<name>` in the working directory. */
  dir?: string
  /** Attach to the cluster only (test workers): fail instead of creating one. */
  reuseOnly?: boolean
  /** Keep a cluster this handle created when `stop()` runs. Default: KIND_KEEP=1. */
  keep?: boolean
  /** Deadline of one key rotation. kube-apiserver restarts and the controller manager retakes its lease. */
  rotateTimeoutMs?: number
  log?: (line: string) => void
}

// kubeadm's layout on the control-plane node (kind runs kubeadm).
const pki = '/etc/kubernetes/pki'
const manifestDir = '/etc/kubernetes/manifests'
// Outside the kubelet's staticPodPath, so a parked manifest is no pod at all.
const parkDir = '/etc/kubernetes/ktr-parked'
const saKey = `${pki}/sa.key`
const saPub = `${pki}/sa.pub`
const saOldPub = `${pki}/sa-old.pub`
const currentKeyFlag = `--service-account-key-file=${saPub}`
/** The flag a graceful rotation adds to kube-apiserver.yaml, right after kubeadm's own. */
export const OLD_KEY_FLAG = `--service-account-key-file=${saOldPub}`
// Both read the key files only at start-up, so both restart.
const restarted = ['kube-apiserver', 'kube-controller-manager'] as const

const quiet = $({ quiet: true })
// kind's own progress goes to stderr, and zx echoes the command first.
const loud = $({ verbose: true })
const defaultLog = (line: string) => process.stderr.write(`kind: ${line}\n`)

/** Creates the kind cluster (or reuses the one by that name) and writes its kubeconfig. */
export async function startKindCluster(opts: KindClusterOptions = {}): Promise<ClusterHandle> {
  const name = opts.name ?? process.env.KIND_CLUSTER_NAME ?? DEFAULT_KIND_CLUSTER
  const dir = opts.dir ?? join(process.cwd(), '.cache', 'kind', name)
  const kubeconfigPath = join(dir, 'kubeconfig')
  const log = opts.log ?? defaultLog
  await requireTools()

  let created = false
  if (await clusterExists(name)) {
    log(`reusing kind cluster ${name}`)
  } else if (opts.reuseOnly) {
    throw new Error(`there is no kind cluster named ${name}: start the e2e suite with E2E_PROVIDER=kind, or run \`kind create cluster --name ${name} --config ${KIND_CONFIG_PATH}\``)
  } else {
    await warnOnOtherKindVersion(log)
    log(`creating kind cluster ${name} from ${KIND_CONFIG_PATH} (a few minutes; the first run pulls the node image)`)
    await mkdir(dir, { recursive: true, mode: 0o700 })
    // --kubeconfig keeps kind away from ~/.kube/config; --wait covers the control plane only.
    await loud`kind create cluster --name ${name} --config ${KIND_CONFIG_PATH} --kubeconfig ${kubeconfigPath} --wait 5m`
    created = true
  }
  await writeKubeconfig(name, kubeconfigPath)
  await waitForWorkloadReadiness(kubeconfigPath, log)
  log(`ready: kubeconfig ${kubeconfigPath}`)

  let stopped = false
  const rotateTimeoutMs = opts.rotateTimeoutMs ?? 150_000
  return {
    provider: 'kind',
    kubeconfigPath,
    dir,
    rotateServiceAccountKey: (rotate?: RotateOptions) => rotateKey({ name, kubeconfigPath, log, rotateTimeoutMs }, rotate ?? {}),
    stop: async () => {
      if (!created || stopped) return
      stopped = true
      if (opts.keep ?? process.env.KIND_KEEP === '1') {
        log(`keeping kind cluster ${name}; delete it with: kind delete cluster --name ${name}`)
        return
      }
      log(`deleting kind cluster ${name}`)
      await loud`kind delete cluster --name ${name}`
    },
  }
}

// --- the cluster -------------------------------------------------------------

async function requireTools(): Promise<void> {
  if (!(await which('kind', { nothrow: true }))) {
    throw new Error(`kind is not on PATH: install ${KIND_VERSION} with \`go install sigs.k8s.io/kind@${KIND_VERSION}\` (https://kind.sigs.k8s.io/docs/user/quick-start/#installation)`)
  }
  if (!(await which('docker', { nothrow: true }))) {
    throw new Error('docker is not on PATH: kind needs a Docker engine (https://docs.docker.com/engine/install/)')
  }
}

async function clusterExists(name: string): Promise<boolean> {
  // Prints one name per line, and nothing on stdout when there is none.
  const out = await quiet`kind get clusters`.catch((err: unknown) => {
    throw new Error('`kind get clusters` failed: is the Docker engine running (`docker info`)?', { cause: err })
  })
  return out.stdout.split('\n').some((line) => line.trim() === name)
}

async function warnOnOtherKindVersion(log: (line: string) => void): Promise<void> {
  const found = /v\d+\.\d+\.\d+\S*/.exec((await quiet`kind version`).stdout)?.[0]
  if (found !== KIND_VERSION) {
    log(`warning: kind ${found ?? '(unknown version)'} found, but kind-config.yaml pins a node image built for kind ${KIND_VERSION}`)
  }
}

/** Always from the cluster itself, so a reused cluster gets its current API server port. */
async function writeKubeconfig(name: string, path: string): Promise<void> {
  const { stdout } = await quiet`kind get kubeconfig --name ${name}`
  await mkdir(dirname(path), { recursive: true, mode: 0o700 })
  // Test workers rewrite the same file while others read it: replace it whole.
  const tmp = `${path}.${process.pid}.tmp`
  await writeFile(tmp, stdout, { mode: 0o600 })
  await rename(tmp, path)
}

/** `--wait` only covers the control plane: workers must be Ready and namespaces usable before tests run. */
async function waitForWorkloadReadiness(kubeconfigPath: string, log: (line: string) => void): Promise<void> {
  const core = clientsFor(kubeconfigPath).core
  const deadline = Date.now() + 300_000
  const hint = 'are its node containers running (`kind get nodes`, `docker ps -a`)? If not, delete the cluster and start again'
  await waitUntil('every node to be Ready', deadline, async () => {
    const nodes = (await core.listNode()).items
    const notReady = nodes.filter((n) => !n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'))
    if (notReady.length) throw new Error(`not Ready: ${notReady.map((n) => n.metadata?.name).join(', ')}`)
    return nodes.length > 0
  }, hint)
  await waitUntil('the ServiceAccount default/default', deadline, async () => {
    await core.readNamespacedServiceAccount({ name: 'default', namespace: 'default' })
    return true
  }, hint)
  log('all nodes are Ready')
}

// --- key rotation ------------------------------------------------------------

interface RotateContext {
  name: string
  kubeconfigPath: string
  log: (line: string) => void
  rotateTimeoutMs: number
}

/**
 * Gives the control plane a new service-account key pair, the way an operator
 * regenerates /etc/kubernetes/pki/sa.{key,pub} on a kubeadm cluster:
 *  1. a new RSA key pair replaces sa.key and sa.pub; with keepOld the public
 *     keys trusted so far are kept in sa-old.pub and kube-apiserver gets a
 *     second --service-account-key-file for it, otherwise both go away;
 *  2. kube-apiserver and kube-controller-manager restart, because they read the
 *     keys only at start-up;
 *  3. it waits until /openid/v1/jwks serves exactly the expected key ids and the
 *     controller manager signs a fresh token Secret with the new key.
 *
 * The restart moves both manifests out of /etc/kubernetes/manifests, waits
 * until the kubelet has stopped their containers, replaces the files while
 * nothing runs, and moves the manifests back: the kubeadm docs' way to restart
 * a static pod. Why not the alternatives: `crictl stop` makes the kubelet
 * restart the container in place under crash-loop back-off, which grows with
 * each rotation; editing kube-apiserver.yaml restarts only that pod, and
 * nothing at all when its content stays the same (two abrupt rotations).
 */
async function rotateKey(c: RotateContext, { keepOld = false }: RotateOptions): Promise<void> {
  const deadline = Date.now() + c.rotateTimeoutMs
  const node = await controlPlaneContainer(c.name)
  const hint = `look at \`docker exec ${node} crictl ps -a\` and \`kind export logs --name ${c.name}\``
  c.log(`rotating the service-account key on ${node}: ${keepOld ? 'graceful, the old public key stays trusted' : 'abrupt, the old public key is dropped'}`)

  const manifest = await readNodeFile(node, `${manifestDir}/kube-apiserver.yaml`)
  const trustsOld = hasOldKeyFlag(manifest)
  const newManifest = withOldKeyTrusted(manifest, keepOld) // fails early on a layout we do not know
  // With keepOld, every public key trusted until now stays trusted (as the local provider does).
  const keptPublicKeys = keepOld ? [trustsOld ? await readNodeFile(node, saOldPub) : '', await readNodeFile(node, saPub)] : []
  // Like kubeadm's: RSA 2048, PKCS#1 private key, SPKI public key. Made here
  // rather than with openssl on the node: kind asks not to depend on what its
  // node image contains.
  const pair = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    privateKeyEncoding: { type: 'pkcs1', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  })

  c.log('stopping kube-apiserver and kube-controller-manager (their manifests move out of the kubelet’s sight)')
  try {
    await quiet`docker exec ${node} mkdir -p ${parkDir}`
    for (const pod of restarted) await quiet`docker exec ${node} mv ${`${manifestDir}/${pod}.yaml`} ${`${parkDir}/${pod}.yaml`}`
    await waitUntil('the kubelet to stop kube-apiserver and kube-controller-manager', deadline, async () => {
      const { stdout } = await quiet`docker exec ${node} crictl ps --quiet --name ${'^kube-(apiserver|controller-manager)$'}`
      return stdout.trim() === ''
    }, hint)

    c.log(`writing new ${saKey} and ${saPub}${keepOld ? ` (old public keys in ${saOldPub})` : ''}`)
    if (keepOld) await writeNodeFile(node, saOldPub, joinPem(keptPublicKeys), '644')
    else await quiet`docker exec ${node} rm -f ${saOldPub}`
    await writeNodeFile(node, saKey, pair.privateKey, '600')
    await writeNodeFile(node, saPub, pair.publicKey, '644')
    await writeNodeFile(node, `${parkDir}/kube-apiserver.yaml`, newManifest, '600')
  } finally {
    // Whatever happened, the manifests go back: a control plane without them stays down.
    await unpark(node)
  }
  c.log('starting kube-apiserver and kube-controller-manager')

  // The expectation comes from the files as the node has them now.
  const [newKid] = keyIdsOf(await readNodeFile(node, saPub))
  if (!newKid) throw new Error(`${node}:${saPub} holds no public key after the rotation; ${hint}`)
  const expected = unique([newKid, ...(keepOld ? keyIdsOf(await readNodeFile(node, saOldPub)) : [])])
  const { core, openid } = clientsFor(c.kubeconfigPath)

  // Polling, not a watch: the API server is down for part of this wait.
  await waitUntil(`/openid/v1/jwks to serve exactly the key ids ${expected.join(', ')}`, deadline, async () => {
    const served = unique(await publishedKeyIds(openid))
    if (served.join() !== expected.join()) throw new Error(`served: ${served.join(', ') || 'none'}`)
    return true
  }, hint)
  c.log(`kube-apiserver serves ${expected.length === 1 ? 'the new key' : `the new key and ${expected.length - 1} old one(s)`}`)

  await waitForControllerManager(core, newKid, deadline, hint)
  c.log(`kube-controller-manager signs with the new key ${newKid}`)
}

/** A fresh legacy token Secret proves the controller manager is back and signs with `kid`. */
async function waitForControllerManager(core: k8s.CoreV1Api, kid: string, deadline: number, hint: string): Promise<void> {
  const namespace = 'kube-system'
  const name = `ktr-rotation-probe-${randomBytes(4).toString('hex')}`
  await core.createNamespacedSecret({
    namespace,
    body: {
      metadata: { name, annotations: { 'kubernetes.io/service-account.name': 'default' } },
      type: 'kubernetes.io/service-account-token',
    },
  })
  try {
    await waitUntil(`kube-controller-manager to fill Secret ${namespace}/${name} with a token signed by key ${kid}`, deadline, async () => {
      const token = (await core.readNamespacedSecret({ name, namespace })).data?.token
      if (!token) return false
      const signedWith = kidOfJwt(Buffer.from(token, 'base64').toString('utf8'))
      if (signedWith !== kid) throw new Error(`the token is signed by key ${signedWith ?? '(no kid)'}`)
      return true
    }, hint)
  } finally {
    await core.deleteNamespacedSecret({ name, namespace }).catch((err: unknown) => {
      if ((err as { code?: number }).code !== 404) throw err
    })
  }
}

async function controlPlaneContainer(cluster: string): Promise<string> {
  // kind labels its node containers; the first control plane is <cluster>-control-plane.
  const { stdout } = await quiet`docker ps --filter ${`label=io.x-k8s.kind.cluster=${cluster}`} --filter label=io.x-k8s.kind.role=control-plane --format ${'{{.Names}}'}`
  const [node] = stdout.split('\n').map((s) => s.trim()).filter(Boolean).sort()
  if (!node) throw new Error(`kind cluster ${cluster} has no running control-plane container: see \`kind get nodes --name ${cluster}\``)
  return node
}

async function unpark(node: string): Promise<void> {
  const failures: unknown[] = []
  for (const pod of restarted) {
    await quiet`docker exec ${node} mv ${`${parkDir}/${pod}.yaml`} ${`${manifestDir}/${pod}.yaml`}`.catch((err: unknown) => failures.push(err))
  }
  if (failures.length) {
    throw new Error(`could not move every manifest from ${node}:${parkDir} back to ${manifestDir}: move them by hand, or delete the cluster`, { cause: failures[0] })
  }
}

async function readNodeFile(node: string, path: string): Promise<string> {
  const out = await quiet`docker exec ${node} cat ${path}`.catch((err: unknown) => {
    throw new Error(`could not read ${node}:${path}`, { cause: err })
  })
  return out.stdout
}

/**
 * An empty file with the final mode first, so the private key is never
 * readable by others; then dd fills it from stdin (it reads fd 0 whatever
 * that is, where opening /dev/stdin fails on a socket).
 */
async function writeNodeFile(node: string, path: string, content: string, mode: string): Promise<void> {
  await quiet`docker exec ${node} install -m ${mode} /dev/null ${path}`
  await $({ quiet: true, input: content })`docker exec -i ${node} dd ${`of=${path}`} status=none`
}

function clientsFor(kubeconfigPath: string): { core: k8s.CoreV1Api; openid: k8s.OpenidApi } {
  const kc = new k8s.KubeConfig()
  kc.loadFromFile(kubeconfigPath)
  return { core: kc.makeApiClient(k8s.CoreV1Api), openid: kc.makeApiClient(k8s.OpenidApi) }
}

async function publishedKeyIds(openid: k8s.OpenidApi): Promise<string[]> {
  // Typed as a string, but the generated client JSON-parses the
  // application/jwk-set+json body, so it is usually an object already.
  const raw: unknown = await openid.getServiceAccountIssuerOpenIDKeyset()
  const jwks = (typeof raw === 'string' ? JSON.parse(raw) : raw) as { keys?: Array<{ kid?: string }> }
  return (jwks.keys ?? []).map((key) => key.kid ?? '')
}

/** Polls `probe` about once a second until it returns true or the deadline passes. */
async function waitUntil(what: string, deadline: number, probe: () => Promise<boolean>, hint?: string): Promise<void> {
  const started = Date.now()
  for (;;) {
    let last = ''
    try {
      if (await probe()) return
    } catch (err) {
      last = err instanceof Error ? err.message : String(err)
    }
    if (Date.now() >= deadline) {
      const waited = Math.round((Date.now() - started) / 1000)
      throw new Error(`timed out after ${waited}s waiting for ${what}${last ? ` (last: ${last})` : ''}${hint ? `; ${hint}` : ''}`)
    }
    await sleep(1000)
  }
}

// --- pure helpers (unit-testable) ----------------------------------------------

/**
 * The kube-apiserver manifest with the flag for sa-old.pub present (`trust`) or
 * absent. kubeadm writes one argument per line (`    - --flag=value`); the new
 * line goes right after kubeadm's own --service-account-key-file, with its indent.
 */
export function withOldKeyTrusted(manifest: string, trust: boolean): string {
  const lines = manifest.split('\n').filter((line) => line.trim() !== `- ${OLD_KEY_FLAG}`)
  const at = lines.findIndex((line) => line.trim() === `- ${currentKeyFlag}`)
  if (at < 0) {
    throw new Error(`the kube-apiserver manifest has no \`${currentKeyFlag}\` argument: not the kubeadm layout this harness edits`)
  }
  if (trust) {
    const anchor = lines[at]!
    lines.splice(at + 1, 0, `${anchor.slice(0, anchor.indexOf('-'))}- ${OLD_KEY_FLAG}`)
  }
  return lines.join('\n')
}

export function hasOldKeyFlag(manifest: string): boolean {
  return manifest.split('\n').some((line) => line.trim() === `- ${OLD_KEY_FLAG}`)
}

/** Kubernetes' key id of every public key in a PEM file: base64url(SHA-256(DER SPKI)). */
export function keyIdsOf(pem: string): string[] {
  const blocks = pem.match(/-----BEGIN ([A-Z ]+)-----[\s\S]*?-----END \1-----/g) ?? []
  return blocks.map((block) => {
    const der = createPublicKey(block).export({ type: 'spki', format: 'der' })
    return createHash('sha256').update(der).digest('base64url')
  })
}

/** The `kid` in a JWT's header, or undefined. */
export function kidOfJwt(token: string): string | undefined {
  try {
    const header = JSON.parse(Buffer.from(token.split('.')[0] ?? '', 'base64url').toString('utf8')) as { kid?: unknown }
    return typeof header.kid === 'string' ? header.kid : undefined
  } catch {
    return undefined
  }
}

function joinPem(parts: string[]): string {
  return parts.map((p) => p.trim()).filter(Boolean).join('\n') + '\n'
}

function unique(values: string[]): string[] {
  return [...new Set(values)].sort()
}
