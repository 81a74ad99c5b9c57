// Which cluster, as kubectl decides it:
//   --kubeconfig <path> > KUBECONFIG (a list; first file to set a name wins)
//   > ~/.kube/config > in-cluster (KUBERNETES_SERVICE_HOST and a mounted token)
// then --context, else the kubeconfig's current-context. Errors are usage
// errors that name the path or context and the fix. TLS verification is never
// turned off here: the kubeconfig's own settings are used as written.
import { existsSync, readFileSync } from 'node:fs'
import { homedir } from 'node:os'
import { delimiter, dirname, join, resolve } from 'node:path'
import type { Cluster, Context, KubeConfig, User } from '@kubernetes/client-node'
import { CONFIG_FILE_LIMIT, readFileCappedSync, sizeText } from '../capped-read.ts'
import { loadClientNode } from '../kube/clients.ts'
import { UsageError } from '../errors.ts'
import { pathText, quoteValue } from '../token/shape.ts'
import type { Env } from './flags.ts'

export interface KubeConfigOptions {
  kubeconfig?: string | undefined
  context?: string | undefined
  /** --insecure-skip-tls-verify was given on the command line. */
  insecureSkipTlsVerify?: boolean
}

/** Seams for tests; defaults are the real home directory and the pod's service-account mount. */
export interface KubeConfigSeams {
  cwd?: string
  homeDir?: string
  serviceAccountDir?: string
}

export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount'

/** Where the configuration came from, for messages ("context kind-x from /home/me/.kube/config"). */
export type KubeConfigSource = { kind: 'file'; paths: string[] } | { kind: 'in-cluster' }

export async function loadKubeConfig(opts: KubeConfigOptions, env: Env, seams: KubeConfigSeams = {}): Promise<KubeConfig> {
  return (await loadKubeConfigWithSource(opts, env, seams)).kc
}

export async function loadKubeConfigWithSource(
  opts: KubeConfigOptions,
  env: Env,
  seams: KubeConfigSeams = {},
): Promise<{ kc: KubeConfig; source: KubeConfigSource }> {
  const { KubeConfig: KubeConfigClass } = await loadClientNode()
  const newKubeConfig = () => new KubeConfigClass()
  const cwd = seams.cwd ?? process.cwd()
  const home = seams.homeDir ?? homedir()
  const saDir = seams.serviceAccountDir ?? SERVICE_ACCOUNT_DIR
  let kc: KubeConfig
  let source: KubeConfigSource

  if (opts.kubeconfig) {
    const path = resolve(cwd, opts.kubeconfig)
    if (!existsSync(path)) throw new UsageError(`kubeconfig ${pathText(path)} (from --kubeconfig) does not exist: fix the path`)
    kc = mergeFiles([path], newKubeConfig)
    source = { kind: 'file', paths: [path] }
  } else if (env.KUBECONFIG) {
    const listed = env.KUBECONFIG.split(delimiter).filter(Boolean).map((p) => resolve(cwd, p))
    // kubectl skips listed files that do not exist; so do we, unless none does.
    const present = listed.filter((p) => existsSync(p))
    if (present.length === 0) {
      throw new UsageError(
        `no file named in KUBECONFIG exists (${listed.map(pathText).join(', ')}): fix KUBECONFIG or pass --kubeconfig <path>`,
      )
    }
    kc = mergeFiles(present, newKubeConfig)
    source = { kind: 'file', paths: present }
  } else if (existsSync(join(home, '.kube', 'config'))) {
    const path = join(home, '.kube', 'config')
    kc = mergeFiles([path], newKubeConfig)
    source = { kind: 'file', paths: [path] }
  } else if (env.KUBERNETES_SERVICE_HOST && existsSync(join(saDir, 'token'))) {
    kc = inCluster(env, saDir, newKubeConfig())
    source = { kind: 'in-cluster' }
  } else {
    throw new UsageError(
      `no kubeconfig found: ${join(home, '.kube', 'config')} does not exist, KUBECONFIG is not set and this is not a pod; pass --kubeconfig <path> or set KUBECONFIG`,
    )
  }

  selectContext(kc, opts.context)
  refuseUnverifiedTls(kc, opts, env)
  return { kc, source }
}

/**
 * TLS verification stays on. A kubeconfig that turns it off is refused unless
 * --insecure-skip-tls-verify is on this command line (then every run warns);
 * NODE_TLS_REJECT_UNAUTHORIZED=0 would turn it off for every connection of the
 * process, so it is refused outright.
 */
function refuseUnverifiedTls(kc: KubeConfig, opts: KubeConfigOptions, env: Env): void {
  if (env.NODE_TLS_REJECT_UNAUTHORIZED === '0') {
    throw new UsageError('NODE_TLS_REJECT_UNAUTHORIZED=0 turns off TLS verification for every connection: unset it (this tool sends credentials and tokens)')
  }
  const cluster = kc.getCurrentCluster()
  if (cluster?.skipTLSVerify && !opts.insecureSkipTlsVerify) {
    throw new UsageError(
      `the kubeconfig sets insecure-skip-tls-verify for cluster ${cluster.name}: add its certificate-authority instead, or pass --insecure-skip-tls-verify to accept the risk for this run`,
    )
  }
}

/**
 * The loud line every run prints when --insecure-skip-tls-verify is given
 * (runbookMain prints it, once, before the kubeconfig is even read): the flag
 * lets a kubeconfig without verification through refuseUnverifiedTls, and the
 * operator must see that on every run, whichever runbook it is.
 */
export function insecureTlsWarning(): string {
  return 'TLS verification may be OFF (--insecure-skip-tls-verify): a kubeconfig cluster with insecure-skip-tls-verify is accepted for this run, and anyone in the path can read your credentials; tokens under test are never sent to such a server'
}

/** Reads and merges kubeconfig files the way kubectl does: the first file to define a name or a current-context wins. */
function mergeFiles(paths: string[], newKubeConfig: () => KubeConfig): KubeConfig {
  const clusters = new Map<string, Cluster>()
  const users = new Map<string, User>()
  const contexts = new Map<string, Context>()
  let currentContext = ''
  for (const path of paths) {
    const one = newKubeConfig()
    const text = readKubeconfigText(path)
    try {
      one.loadFromString(text)
    } catch (err) {
      throw kubeconfigError(path, err)
    }
    // As client-node's loadFromFile: certificate and key paths are relative to the kubeconfig's directory.
    one.makePathsAbsolute(dirname(path))
    for (const c of one.getClusters()) if (!clusters.has(c.name)) clusters.set(c.name, c)
    for (const u of one.getUsers()) if (!users.has(u.name)) users.set(u.name, u)
    for (const c of one.getContexts()) if (!contexts.has(c.name)) contexts.set(c.name, c)
    if (!currentContext) currentContext = one.getCurrentContext() ?? ''
  }
  const kc = newKubeConfig()
  kc.loadFromOptions({ clusters: [...clusters.values()], users: [...users.values()], contexts: [...contexts.values()], currentContext })
  return kc
}

/**
 * A kubeconfig's text, read with the cap: loadFromFile would read
 * `--kubeconfig /dev/zero` (or a FIFO, or a KUBECONFIG entry pointing at one)
 * without end.
 */
function readKubeconfigText(path: string): string {
  let bytes: Buffer | undefined
  try {
    bytes = readFileCappedSync(path, CONFIG_FILE_LIMIT)
  } catch (err) {
    throw kubeconfigError(path, err)
  }
  if (bytes === undefined) {
    throw new UsageError(`kubeconfig ${pathText(path)} is larger than ${sizeText(CONFIG_FILE_LIMIT)}, far more than a kubeconfig holds: fix the path (--kubeconfig or KUBECONFIG)`)
  }
  return bytes.toString('utf8')
}

/** client-node's own checks name a field or a duplicate name, never a value. */
const FIELD_MESSAGE = /^(?:(?:clusters|users|contexts)\[\d+\][\w.]* is missing|Duplicate (?:cluster|user|context): [\w.:@/-]{1,253})$/

/**
 * A kubeconfig that cannot be loaded, described without its content: the
 * YAML parser's message quotes the lines around the error, and a kubeconfig
 * holds tokens, passwords and keys. Not even kept as the cause, which a debug
 * print would show.
 */
export function kubeconfigError(path: string, err: unknown): UsageError {
  const fix = 'fix or replace the file'
  const { name, mark, code, message } = (err ?? {}) as { name?: unknown; mark?: { line?: unknown }; code?: unknown; message?: unknown }
  if (name === 'YAMLException' || mark !== undefined) {
    const line = typeof mark?.line === 'number' ? ` at line ${mark.line + 1}` : ''
    return new UsageError(`kubeconfig ${path} is not valid YAML${line}: ${fix}`)
  }
  if (typeof code === 'string' && /^E[A-Z]+$/.test(code)) return new UsageError(`kubeconfig ${path} cannot be read (${code}): ${fix}`)
  if (typeof message === 'string' && FIELD_MESSAGE.test(message)) return new UsageError(`kubeconfig ${path} is not a valid kubeconfig (${message}): ${fix}`)
  return new UsageError(`kubeconfig ${path} is not a valid kubeconfig: ${fix}`)
}

/**
 * The pod's own identity, like client-node's loadFromCluster but reading the
 * injected environment. The API server's certificate is checked against the
 * mounted ca.crt.
 */
function inCluster(env: Env, saDir: string, kc: KubeConfig): KubeConfig {
  const host = env.KUBERNETES_SERVICE_HOST ?? ''
  const port = env.KUBERNETES_SERVICE_PORT ?? '443'
  const server = `https://${host.includes(':') ? `[${host}]` : host}:${port}`
  const nsFile = join(saDir, 'namespace')
  const namespace = existsSync(nsFile) ? readFileSync(nsFile, 'utf8').trim() : undefined
  kc.loadFromOptions({
    clusters: [{ name: 'in-cluster', server, caFile: join(saDir, 'ca.crt'), skipTLSVerify: false }],
    users: [{ name: 'in-cluster', authProvider: { name: 'tokenFile', config: { tokenFile: join(saDir, 'token') } } }],
    contexts: [{ name: 'in-cluster', cluster: 'in-cluster', user: 'in-cluster', ...(namespace ? { namespace } : {}) }],
    currentContext: 'in-cluster',
  })
  return kc
}

function selectContext(kc: KubeConfig, wanted: string | undefined): void {
  const names = kc.getContexts().map((c) => c.name)
  const available = names.length > 0 ? `available contexts: ${names.join(', ')}` : 'the kubeconfig has no contexts'
  if (wanted !== undefined) {
    if (!kc.getContextObject(wanted)) throw new UsageError(`context ${quoteValue(wanted)} not found in the kubeconfig; ${available}`)
    kc.setCurrentContext(wanted)
  } else if (!kc.getCurrentContext() || !kc.getContextObject(kc.getCurrentContext())) {
    const current = kc.getCurrentContext()
    throw new UsageError(
      `${current ? `current-context "${current}" is not defined in the kubeconfig` : 'the kubeconfig sets no current-context'}: pass --context <name> (${available})`,
    )
  }
  const context = kc.getContextObject(kc.getCurrentContext())
  if (context && !kc.getCluster(context.cluster)) {
    throw new UsageError(`context "${context.name}" names cluster "${context.cluster}", which the kubeconfig does not define: fix the kubeconfig or pick another --context`)
  }
}

/**
 * The namespace scope a runbook works in: -A → all; -n → that one; else the
 * context's namespace, else "default" (as kubectl).
 */
export function namespaceScope(
  opts: { namespace?: string | undefined; allNamespaces?: boolean },
  kc: KubeConfig,
): { all: true } | { all: false; namespace: string } {
  if (opts.allNamespaces) return { all: true }
  if (opts.namespace) return { all: false, namespace: opts.namespace }
  return { all: false, namespace: kc.getContextObject(kc.getCurrentContext())?.namespace || 'default' }
}
