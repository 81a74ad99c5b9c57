// The Calico files in a node's CNI config directory (/etc/cni/net.d), from a
// listing the I/O layer reads (a debug pod or SSH): which files are Calico's,
// which tokens the node presents, and what to write so it presents a fresh
// one. Pure; the I/O layer writes atomically and keeps a backup.
//
// Rewriting files on a node is the stopgap. The fix that lasts is to restart
// calico-node: install-cni then writes these files again from the ConfigMap
// and a token of its own, and overwrites any hand edit.
import { posix } from 'node:path'
import { DomainError } from '../errors.ts'
import { normalizeToken } from '../token/decode.ts'
import { CniConfigError, KubeconfigPathKind, parseCniConfig, replaceLiteralTokens, type CniConfig } from './cni-config.ts'
import { CALICO_KUBECONFIG_NAME, parseKubeconfig, withToken } from './kubeconfig.ts'
import { TokenValueKind, type TokenValue } from './token-value.ts'

export interface NodeFile {
  readonly name: string
  readonly text: string
}

export interface NodeFileWrite {
  readonly name: string
  readonly newText: string
}

/** The names install-cni writes: .conflist by default since v3.16 (Go installer), .conf before (install-cni.sh). */
export const CALICO_CONF_NAMES = ['10-calico.conflist', '10-calico.conf'] as const

// libcni's ConfFiles: the container runtime loads the first of these, by name.
const CNI_CONFIG_EXTENSIONS = ['.conf', '.conflist', '.json'] as const

export interface CalicoNodeFiles {
  /** The Calico CNI config the runtime loads: the first by name among Calico's. */
  readonly conf?: NodeFile
  /** Other Calico CNI configs, e.g. a 10-calico.conf an upgrade left behind. The runtime ignores them. */
  readonly otherConfs: readonly NodeFile[]
  readonly kubeconfig?: NodeFile
  /** What is expected but absent, by file name. */
  readonly missing: readonly string[]
  /** A CNI config of another plugin that sorts before Calico's: the runtime loads it instead. */
  readonly shadowedBy?: string
}

export interface NodeFileOptions {
  /** Names the node in errors. */
  readonly node?: string
}

/**
 * Finds Calico's files in a CNI config directory listing. A config counts as
 * Calico's by its usual name or, under any other name the runtime would load,
 * by a plugin of type "calico" in it (CNI_CONF_NAME can be anything).
 * calico-kubeconfig is looked up under the name the config points to.
 */
export function findCalicoFiles(files: readonly NodeFile[]): CalicoNodeFiles {
  const cniConfigs = files.filter((file) => CNI_CONFIG_EXTENSIONS.some((extension) => file.name.endsWith(extension))).sort(byName)
  const calicoConfs = cniConfigs.filter(isCalicoConf)
  const [conf, ...otherConfs] = calicoConfs
  const kubeconfigName = conf === undefined ? CALICO_KUBECONFIG_NAME : kubeconfigNameOf(conf)
  const kubeconfig = kubeconfigName === undefined ? undefined : files.find((file) => file.name === kubeconfigName)
  const missing = [
    ...(conf === undefined ? [CALICO_CONF_NAMES.join(' or ')] : []),
    ...(kubeconfigName !== undefined && kubeconfig === undefined ? [kubeconfigName] : []),
  ]
  const first = cniConfigs[0]
  return withoutUndefined({
    conf,
    otherConfs,
    kubeconfig,
    missing,
    shadowedBy: conf !== undefined && first !== undefined && first.name !== conf.name ? first.name : undefined,
  })
}

/** One token setting on the node, classified. Literal ones are what the node presents. */
export interface NodeToken {
  readonly file: string
  /** `policy.k8s_auth_token`, `plugins[0].policy.k8s_auth_token`, `users[0].user.token`. */
  readonly setting: string
  readonly value: TokenValue
}

/**
 * Every token setting in the node's Calico files: k8s_auth_token in the CNI
 * config (v3.0 and older; the plugin prefers it to the kubeconfig) and the
 * kubeconfig user's token. Throws CniConfigError/KubeconfigError for a file
 * that cannot be read.
 */
export function nodeTokens(files: readonly NodeFile[], options: NodeFileOptions = {}): NodeToken[] {
  const { conf, kubeconfig } = findCalicoFiles(files)
  const tokens: NodeToken[] = []
  if (conf !== undefined) {
    for (const field of parseCniConfig(conf.text, sourceOf(conf, options)).tokenFields) {
      const { path, line: _line, ...value } = field
      tokens.push({ file: conf.name, setting: path, value })
    }
  }
  if (kubeconfig !== undefined) {
    parseKubeconfig(kubeconfig.text, sourceOf(kubeconfig, options)).users.forEach((user, index) => {
      if (user.token !== undefined) tokens.push({ file: kubeconfig.name, setting: `users[${index}].user.token`, value: user.token })
    })
  }
  return tokens
}

/**
 * The writes that make the node present `freshToken`: every literal
 * k8s_auth_token in the loaded Calico config and the kubeconfig user's token.
 * Files that already hold it are left out, so an empty list means nothing to
 * do. Throws DomainError when the listing holds no Calico file at all.
 */
export function planNodeRewrite(files: readonly NodeFile[], freshToken: string, options: NodeFileOptions = {}): NodeFileWrite[] {
  const compact = normalizeToken(freshToken)
  const { conf, kubeconfig } = findCalicoFiles(files)
  if (conf === undefined && kubeconfig === undefined) {
    const where = options.node === undefined ? 'the CNI config directory' : `the CNI config directory of node ${options.node}`
    throw new DomainError(
      `no Calico CNI files among the ${files.length} files in ${where} (looked for ${CALICO_CONF_NAMES.join(', ')} and ${CALICO_KUBECONFIG_NAME}); ` +
        'check that Calico runs on this node and that the directory listed is its CNI_NET_DIR (/etc/cni/net.d by default)',
    )
  }
  const writes: NodeFileWrite[] = []
  if (conf !== undefined) {
    const newText = replaceLiteralTokens(conf.text, compact, sourceOf(conf, options))
    if (newText !== conf.text) writes.push({ name: conf.name, newText })
  }
  if (kubeconfig !== undefined) {
    const { token } = parseKubeconfig(kubeconfig.text, sourceOf(kubeconfig, options))
    const current = token?.kind === TokenValueKind.literal ? token.token : undefined
    if (current !== compact) writes.push({ name: kubeconfig.name, newText: withToken(kubeconfig.text, compact, sourceOf(kubeconfig, options)) })
  }
  return writes
}

// ---------------------------------------------------------------------------

function isCalicoConf(file: NodeFile): boolean {
  if ((CALICO_CONF_NAMES as readonly string[]).includes(file.name)) return true
  const config = tryParse(file)
  return config?.hasCalicoPlugin ?? false
}

/** The kubeconfig file name the config points to; undefined when it names none (the plugin then needs no kubeconfig). */
function kubeconfigNameOf(conf: NodeFile): string | undefined {
  const config = tryParse(conf)
  // A config we cannot read still came from install-cni, which always writes calico-kubeconfig next to it.
  if (config === undefined) return CALICO_KUBECONFIG_NAME
  const field = config.kubeconfigFields.find((candidate) => candidate.kind !== KubeconfigPathKind.empty)
  if (field === undefined) return config.tokenFields.length > 0 ? undefined : CALICO_KUBECONFIG_NAME
  return field.kind === KubeconfigPathKind.path ? posix.basename(field.value) : CALICO_KUBECONFIG_NAME
}

/** For discovery only: a file that is not a readable CNI config is not Calico's (unless it has Calico's name). */
function tryParse(file: NodeFile): CniConfig | undefined {
  try {
    return parseCniConfig(file.text, file.name)
  } catch (err) {
    if (err instanceof CniConfigError) return undefined
    throw err
  }
}

function sourceOf(file: NodeFile, options: NodeFileOptions): string {
  return options.node === undefined ? file.name : `${file.name} on node ${options.node}`
}

function byName(a: NodeFile, b: NodeFile): number {
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0
}

function withoutUndefined<T extends object>(object: T): T {
  return Object.fromEntries(Object.entries(object).filter(([, value]) => value !== undefined)) as T
}
