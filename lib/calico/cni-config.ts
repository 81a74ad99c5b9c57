// Calico's CNI network config, as a template (the cni_network_config key of
// the calico-config ConfigMap, or the operator's cni-config) or as installed
// on a node (10-calico.conf / 10-calico.conflist). Pure.
//
// Two things make plain JSON.parse + JSON.stringify the wrong tool:
//  - The template is JSON only once install-cni has filled in its
//    placeholders: since v3.4 the manifests say `"mtu": __CNI_MTU__`, a bare
//    word that JSON.parse rejects. We do not guess the values the installer
//    would use (CNI_MTU comes from the veth_mtu key, LOG_FILE_MAX_SIZE from
//    an env var): a small scanner finds placeholders that stand outside
//    strings, and only for validation they are read as `null`. Quoted
//    placeholders ("__KUBECONFIG_FILEPATH__") are left alone, so they can be
//    classified.
//  - Rewriting must leave the file as the operator (or the installer) wrote
//    it: key order, indentation, tabs, a trailing newline, the exact bytes of
//    every other value. Re-serialising would reformat it all, and would turn
//    the bare placeholders into something else. So the scanner also records
//    where each string value sits in the text, and a rewrite splices a new
//    JSON string literal over exactly the old one.
import { DomainError } from '../errors.ts'
import { isJsonObject, normalizeToken, type JsonObject } from '../token/decode.ts'
import { printable } from '../token/text.ts'
import { SERVICEACCOUNT_TOKEN_PLACEHOLDER, TokenValueKind, classifyTokenValue, type TokenValue } from './token-value.ts'

export const CniConfigFormat = {
  /** One plugin object at the top (`"type": "calico"`): 10-calico.conf, Calico v3.0 KDD and older. */
  conf: 'conf',
  /** `"plugins": [...]` with calico first (portmap, bandwidth after it): 10-calico.conflist. */
  conflist: 'conflist',
} as const
export type CniConfigFormat = (typeof CniConfigFormat)[keyof typeof CniConfigFormat]

/** Placeholders install-cni substitutes for the kubeconfig path (`__KUBECONFIG_FILENAME__`: v3.2-v3.x canal/flannel templates). */
export const KUBECONFIG_PLACEHOLDERS = ['__KUBECONFIG_FILEPATH__', '__KUBECONFIG_FILENAME__'] as const

/** The setting Calico's CNI plugin reads a bearer token from (policy section; some templates nest it in a flannel delegate). */
export const TOKEN_KEY = 'k8s_auth_token'

export class CniConfigError extends DomainError {
  override name = 'CniConfigError'
}

/** One place the config sets a token, classified (see token-value.ts). */
export type TokenField = TokenValue & {
  /** JSON path, e.g. `policy.k8s_auth_token` or `plugins[0].policy.k8s_auth_token`. */
  readonly path: string
  /** 1-based line of the value. */
  readonly line: number
}

export const KubeconfigPathKind = {
  /** Still the template: install-cni fills in `<CNI_NET_DIR>/calico-kubeconfig`. */
  placeholder: 'placeholder',
  path: 'path',
  empty: 'empty',
} as const
export type KubeconfigPathKind = (typeof KubeconfigPathKind)[keyof typeof KubeconfigPathKind]

export interface KubeconfigField {
  /** JSON path, e.g. `kubernetes.kubeconfig`. */
  readonly path: string
  readonly line: number
  readonly kind: KubeconfigPathKind
  /** The configured value, printable. */
  readonly value: string
}

export interface CniConfig {
  readonly format: CniConfigFormat
  /** Whether any plugin in it has `"type": "calico"` (at the top, in plugins[], or as a delegate). */
  readonly hasCalicoPlugin: boolean
  readonly tokenFields: readonly TokenField[]
  readonly kubeconfigFields: readonly KubeconfigField[]
  /** Placeholders standing outside strings, e.g. `__CNI_MTU__`: the text is JSON only after install-cni fills them in. */
  readonly barePlaceholders: readonly string[]
  /** The parsed config, bare placeholders read as null. */
  readonly json: JsonObject
}

const DEFAULT_SOURCE = 'CNI network config'

/**
 * Parses a CNI network config of either generation, template or installed.
 * `source` names it in errors (e.g. "ConfigMap kube-system/calico-config key
 * cni_network_config"). Throws CniConfigError when it is not a JSON object
 * even after bare placeholders are accounted for: install-cni refuses such a
 * config too.
 */
export function parseCniConfig(text: string, source: string = DEFAULT_SOURCE): CniConfig {
  const scan = scanJson(text)
  const json = parseValidated(text, scan, source)
  return {
    format: Array.isArray(json.plugins) ? CniConfigFormat.conflist : CniConfigFormat.conf,
    hasCalicoPlugin: containsCalicoPlugin(json, 0),
    tokenFields: tokenFieldsOf(scan).map(({ start: _start, end: _end, ...field }) => field),
    kubeconfigFields: scan.strings.filter(isKubeconfigValue).map(kubeconfigField),
    barePlaceholders: [...new Set(scan.barePlaceholders.map((placeholder) => placeholder.name))],
    json,
  }
}

/** Every k8s_auth_token the config sets, classified as placeholder, literal (raw or base64-wrapped JWT), empty or unrecognized. */
export function findTokenFields(text: string, source: string = DEFAULT_SOURCE): TokenField[] {
  return [...parseCniConfig(text, source).tokenFields]
}

/**
 * Returns `text` with every literal k8s_auth_token replaced: by the
 * `__SERVICEACCOUNT_TOKEN__` placeholder (the default: repairs a ConfigMap so
 * install-cni fills in a fresh token at each start), or by the given token
 * (--embed-token: an installed 10-calico.conf on a node). Placeholders, empty
 * and unrecognized values are left alone. Only the old string literal is
 * replaced, so every other byte of the text stays as it was; the text comes
 * back unchanged when there is nothing to replace. A given token is checked
 * and written in its compact form (a base64-wrapped one never authenticated).
 */
export function replaceLiteralTokens(
  text: string,
  replacement: string = SERVICEACCOUNT_TOKEN_PLACEHOLDER,
  source: string = DEFAULT_SOURCE,
): string {
  const value = replacement === SERVICEACCOUNT_TOKEN_PLACEHOLDER ? replacement : normalizeToken(replacement)
  const scan = scanJson(text)
  parseValidated(text, scan, source)
  const literal = JSON.stringify(value)
  // From the end, so earlier offsets stay valid.
  const targets = tokenFieldsOf(scan)
    .filter((field) => field.kind === TokenValueKind.literal)
    .sort((a, b) => b.start - a.start)
  let result = text
  for (const field of targets) result = result.slice(0, field.start) + literal + result.slice(field.end)
  return result
}

// ---------------------------------------------------------------------------
// Fields

type Located<T> = T & { readonly start: number; readonly end: number }

function tokenFieldsOf(scan: JsonScan): Located<TokenField>[] {
  return scan.strings
    .filter((string) => string.path.at(-1) === TOKEN_KEY)
    .map((string) => ({ ...classifyTokenValue(string.value), path: formatPath(string.path), line: string.line, start: string.start, end: string.end }))
}

function isKubeconfigValue(string: ScannedString): boolean {
  return string.path.at(-1) === 'kubeconfig' && string.path.at(-2) === 'kubernetes'
}

function kubeconfigField(string: ScannedString): KubeconfigField {
  const { value } = string
  const kind =
    value.trim() === ''
      ? KubeconfigPathKind.empty
      : KUBECONFIG_PLACEHOLDERS.some((placeholder) => value.includes(placeholder))
        ? KubeconfigPathKind.placeholder
        : KubeconfigPathKind.path
  return { path: formatPath(string.path), line: string.line, kind, value: printable(value) }
}

// Plugin configs nest at most plugins[i].delegate; anything deeper is not a plugin.
const MAX_PLUGIN_DEPTH = 4

function containsCalicoPlugin(value: unknown, depth: number): boolean {
  if (depth > MAX_PLUGIN_DEPTH) return false
  if (Array.isArray(value)) return value.some((item) => containsCalicoPlugin(item, depth + 1))
  if (!isJsonObject(value)) return false
  if (Object.hasOwn(value, 'type') && value.type === 'calico') return true
  return ['plugins', 'delegate'].some((key) => Object.hasOwn(value, key) && containsCalicoPlugin(value[key], depth + 1))
}

type PathSegment = string | number

function formatPath(path: readonly PathSegment[]): string {
  return path
    .map((segment, index) => {
      if (typeof segment === 'number') return `[${segment}]`
      if (/^[A-Za-z_][A-Za-z0-9_-]*$/.test(segment)) return index === 0 ? segment : `.${segment}`
      return `[${JSON.stringify(printable(segment, 64))}]`
    })
    .join('')
}

// ---------------------------------------------------------------------------
// Scanner: string values with their JSON path and offsets, and the bare
// placeholders. It trusts the input to be JSON-shaped; parseValidated checks
// that with JSON.parse before any of its results are used.

interface ScannedString {
  readonly path: readonly PathSegment[]
  /** Offsets of the string literal, quotes included. */
  readonly start: number
  readonly end: number
  readonly line: number
  /** The decoded value. */
  readonly value: string
}

interface BarePlaceholder {
  readonly name: string
  readonly start: number
  readonly end: number
}

interface JsonScan {
  readonly strings: readonly ScannedString[]
  readonly barePlaceholders: readonly BarePlaceholder[]
}

type Frame = { kind: 'object'; key: string | undefined; expectingKey: boolean } | { kind: 'array'; index: number }

// A placeholder as install-cni names them: __UPPER_CASE__, not part of a longer word.
const BARE_PLACEHOLDER = /__[A-Z][A-Z0-9_]*__(?![A-Za-z0-9_])/y

function scanJson(text: string): JsonScan {
  const strings: ScannedString[] = []
  const barePlaceholders: BarePlaceholder[] = []
  const stack: Frame[] = []
  let line = 1
  let index = 0
  while (index < text.length) {
    const char = text[index]
    const top = stack.at(-1)
    if (char === '"') {
      const end = endOfString(text, index)
      const value = decodeString(text.slice(index, end))
      if (top?.kind === 'object' && top.expectingKey) {
        top.key = value
      } else {
        strings.push({ path: pathOf(stack), start: index, end, line, value })
      }
      line += countNewlines(text, index, end)
      index = end
      continue
    }
    if (char === '\n') line += 1
    else if (char === '{') stack.push({ kind: 'object', key: undefined, expectingKey: true })
    else if (char === '[') stack.push({ kind: 'array', index: 0 })
    else if (char === '}' || char === ']') stack.pop()
    else if (char === ':' && top?.kind === 'object') top.expectingKey = false
    else if (char === ',' && top?.kind === 'array') top.index += 1
    else if (char === ',' && top?.kind === 'object') {
      top.key = undefined
      top.expectingKey = true
    } else if (char === '_') {
      BARE_PLACEHOLDER.lastIndex = index
      const match = BARE_PLACEHOLDER.exec(text)
      if (match) {
        barePlaceholders.push({ name: match[0], start: index, end: index + match[0].length })
        index += match[0].length
        continue
      }
    }
    index += 1
  }
  return { strings, barePlaceholders }
}

function pathOf(stack: readonly Frame[]): PathSegment[] {
  return stack.map((frame) => (frame.kind === 'array' ? frame.index : (frame.key ?? '')))
}

/** Offset just past the closing quote of the string starting at `start`, or the end of the text if it is unterminated. */
function endOfString(text: string, start: number): number {
  for (let index = start + 1; index < text.length; index += 1) {
    const char = text[index]
    if (char === '\\') index += 1
    else if (char === '"') return index + 1
  }
  return text.length
}

function decodeString(literal: string): string {
  try {
    const value: unknown = JSON.parse(literal)
    return typeof value === 'string' ? value : literal.slice(1, -1)
  } catch {
    // An invalid escape or an unterminated string: parseValidated rejects the whole text anyway.
    return literal.slice(1, -1)
  }
}

function countNewlines(text: string, start: number, end: number): number {
  let count = 0
  for (let index = text.indexOf('\n', start); index !== -1 && index < end; index = text.indexOf('\n', index + 1)) count += 1
  return count
}

/** JSON.parse with the bare placeholders read as null. Errors name the line only: the text may hold a token. */
function parseValidated(text: string, scan: JsonScan, source: string): JsonObject {
  let substituted = ''
  let from = 0
  for (const placeholder of scan.barePlaceholders) {
    substituted += text.slice(from, placeholder.start) + 'null'
    from = placeholder.end
  }
  substituted += text.slice(from)
  let value: unknown
  try {
    value = JSON.parse(substituted)
  } catch (err) {
    // V8's message quotes the text around the error, and that text may be a token: keep only the position.
    const position = err instanceof SyntaxError ? /at position (\d+)/.exec(err.message)?.[1] : undefined
    const where = position === undefined ? '' : ` at line ${countNewlines(substituted, 0, Number(position)) + 1}`
    throw new CniConfigError(
      `${source} is not valid JSON${where}, even with its __PLACEHOLDERS__ filled in; install-cni refuses it too, so correct the JSON (a missing comma or quote is the usual cause)`,
    )
  }
  if (!isJsonObject(value)) {
    throw new CniConfigError(`${source} is not a JSON object; a CNI network config is one object ({"name": ..., "type" or "plugins": ...}), so restore it from the Calico manifest`)
  }
  return value
}
