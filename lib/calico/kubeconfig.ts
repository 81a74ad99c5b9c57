// The calico-kubeconfig file install-cni (and, since v3.23, calico-node's
// token refresher) writes into the node's CNI config directory: a kubeconfig
// with one user whose `token:` is what the CNI plugin presents to the API
// server. Pure.
//
// Rewriting is done on the text, one `token:` line, not by loading and
// dumping the YAML: a dump would drop the "# Kubeconfig file for Calico CNI
// plugin." header, reorder and re-quote keys, and reflow the long
// certificate-authority-data. The rewrite is then checked by parsing the
// result: everything but the token must read the same.
import { load as loadYaml } from 'js-yaml'
import { DomainError } from '../errors.ts'
import { isJsonObject, normalizeToken, type JsonObject } from '../token/decode.ts'
import { printable } from '../token/text.ts'
import { TokenValueKind, classifyTokenValue, type TokenValue } from './token-value.ts'

export const CALICO_KUBECONFIG_NAME = 'calico-kubeconfig'

export class KubeconfigError extends DomainError {
  override name = 'KubeconfigError'
}

export interface KubeconfigUser {
  readonly name?: string
  /** Absent when the user has no `token` string (client certificates, tokenFile). */
  readonly token?: TokenValue
}

export interface CalicoKubeconfig {
  readonly server?: string
  readonly currentContext?: string
  readonly users: readonly KubeconfigUser[]
  /**
   * The token the CNI plugin presents: that of the user the current context
   * names, or of the only user when there is no usable current context.
   */
  readonly token?: TokenValue
}

// Calico writes a few KiB (most of it the CA); anything far larger is not its file.
export const MAX_KUBECONFIG_BYTES = 256 * 1024

// Every message about this file ends with the fix that always works.
const REINSTALL = 'restart the calico-node pod on this node so its install-cni rewrites the file'

/** Parses a calico-kubeconfig. `source` names the file in errors (e.g. "worker-1:/etc/cni/net.d/calico-kubeconfig"). */
export function parseKubeconfig(text: string, source: string = CALICO_KUBECONFIG_NAME): CalicoKubeconfig {
  const config = loadKubeconfig(text, source)
  const users = arrayOf(config.users).map(userOf)
  const currentContext = stringOf(config['current-context'])
  const contextUser = currentContext === undefined ? undefined : contextUserOf(config, currentContext)
  const named = contextUser === undefined ? undefined : users.find((user) => user.name === contextUser)
  const user = named ?? (users.length === 1 ? users[0] : undefined)
  return withoutUndefined({
    server: serverOf(config, currentContext),
    currentContext: currentContext === undefined ? undefined : printable(currentContext),
    users: users.map((entry) => withoutUndefined({ ...entry, name: entry.name === undefined ? undefined : printable(entry.name) })),
    token: user?.token,
  })
}

/** The compact JWT the CNI plugin presents, or undefined when the file holds no literal token. */
export function kubeconfigToken(text: string, source: string = CALICO_KUBECONFIG_NAME): string | undefined {
  const { token } = parseKubeconfig(text, source)
  return token?.kind === TokenValueKind.literal ? token.token : undefined
}

// `token: value`, in a mapping or as the first key of a sequence item; a trailing comment and spaces are kept.
const TOKEN_LINE = /^([ \t]*(?:-[ \t]+)?token:)([ \t]*)(\S.*?)((?:[ \t]+#.*)?[ \t]*)$/

/**
 * Returns `text` with the user's token replaced by `token` (checked, written
 * in compact form), keeping the line's quoting and every other byte. Refuses
 * (KubeconfigError) a file that is not shaped as Calico writes it: one user
 * with a token on one `token:` line.
 */
export function withToken(text: string, token: string, source: string = CALICO_KUBECONFIG_NAME): string {
  const compact = normalizeToken(token)
  const before = loadKubeconfig(text, source)
  const usersWithToken = arrayOf(before.users).filter((user) => rawTokenOf(user) !== undefined).length
  if (usersWithToken === 0) throw new KubeconfigError(`${source} has no users[].user.token to replace; ${REINSTALL}`)

  const parts = text.split(/(\r?\n)/)
  let tokenLines = 0
  for (let index = 0; index < parts.length; index += 2) {
    const match = TOKEN_LINE.exec(parts[index] ?? '')
    if (!match) continue
    const [, key = '', gap = '', value = '', tail = ''] = match
    parts[index] = `${key}${gap}${quoteLike(value, compact)}${tail}`
    tokenLines += 1
  }
  if (usersWithToken !== 1 || tokenLines !== 1) {
    throw new KubeconfigError(
      `${source} has ${usersWithToken} users with a token on ${tokenLines} token: lines, where Calico writes exactly one; it was edited by hand, so ${REINSTALL}`,
    )
  }

  const result = parts.join('')
  const after = loadKubeconfig(result, source)
  if (rawTokenOf(arrayOf(after.users).find((user) => rawTokenOf(user) !== undefined)) !== compact || !sameExceptTokens(before, after)) {
    throw new KubeconfigError(`${source} keeps its token in a form this tool cannot rewrite line by line (a block scalar or flow mapping); ${REINSTALL}`)
  }
  return result
}

// ---------------------------------------------------------------------------

function loadKubeconfig(text: string, source: string): JsonObject {
  if (text.trim() === '') throw new KubeconfigError(`${source} is empty; ${REINSTALL}`)
  if (text.length > MAX_KUBECONFIG_BYTES) {
    throw new KubeconfigError(`${source} is ${text.length} bytes, far more than the few KiB Calico writes; ${REINSTALL}`)
  }
  let value: unknown
  try {
    value = loadYaml(text)
  } catch (err) {
    // js-yaml's message and mark carry the text around the error, which may be the token: keep reason and line only.
    throw new KubeconfigError(`${source} is not valid YAML${yamlErrorWhere(err)}; ${REINSTALL}`)
  }
  if (!isJsonObject(value) || value.kind !== 'Config') {
    throw new KubeconfigError(`${source} is not a kubeconfig (no "kind: Config" mapping); ${REINSTALL}`)
  }
  return value
}

function yamlErrorWhere(err: unknown): string {
  if (!isJsonObject(err)) return ''
  const reason = typeof err.reason === 'string' ? `: ${printable(err.reason, 80)}` : ''
  const mark = err.mark
  const line = isJsonObject(mark) && typeof mark.line === 'number' ? ` at line ${mark.line + 1}` : ''
  return `${reason}${line}`
}

function userOf(entry: unknown): KubeconfigUser {
  const raw = rawTokenOf(entry)
  return withoutUndefined({
    name: isJsonObject(entry) ? stringOf(entry.name) : undefined,
    token: raw === undefined ? undefined : classifyTokenValue(raw),
  })
}

function rawTokenOf(entry: unknown): string | undefined {
  if (!isJsonObject(entry) || !isJsonObject(entry.user)) return undefined
  return stringOf(entry.user.token)
}

function contextUserOf(config: JsonObject, name: string): string | undefined {
  const entry = arrayOf(config.contexts).find((context) => isJsonObject(context) && context.name === name)
  return isJsonObject(entry) && isJsonObject(entry.context) ? stringOf(entry.context.user) : undefined
}

function serverOf(config: JsonObject, currentContext: string | undefined): string | undefined {
  const clusters = arrayOf(config.clusters)
  const contextEntry = arrayOf(config.contexts).find((context) => isJsonObject(context) && context.name === currentContext)
  const clusterName = isJsonObject(contextEntry) && isJsonObject(contextEntry.context) ? stringOf(contextEntry.context.cluster) : undefined
  const cluster = clusters.find((entry) => isJsonObject(entry) && entry.name === clusterName) ?? (clusters.length === 1 ? clusters[0] : undefined)
  const server = isJsonObject(cluster) && isJsonObject(cluster.cluster) ? stringOf(cluster.cluster.server) : undefined
  return server === undefined ? undefined : printable(server)
}

/** Keeps the quoting of the old value: "…", '…' or plain (a JWT needs none). */
function quoteLike(oldValue: string, value: string): string {
  if (oldValue.startsWith('"')) return `"${value}"`
  if (oldValue.startsWith("'")) return `'${value}'`
  return value
}

function sameExceptTokens(before: JsonObject, after: JsonObject): boolean {
  return JSON.stringify(blankTokens(before)) === JSON.stringify(blankTokens(after))
}

function blankTokens(config: JsonObject): JsonObject {
  const users = arrayOf(config.users).map((entry) =>
    isJsonObject(entry) && isJsonObject(entry.user) && Object.hasOwn(entry.user, 'token') ? { ...entry, user: { ...entry.user, token: '' } } : entry,
  )
  return { ...config, users }
}

function arrayOf(value: unknown): unknown[] {
  return Array.isArray(value) ? value : []
}

function stringOf(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined
}

function withoutUndefined<T extends object>(object: T): T {
  return Object.fromEntries(Object.entries(object).filter(([, value]) => value !== undefined)) as T
}
