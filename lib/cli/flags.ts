// Flags, kubectl style, and where each setting comes from:
//   flags > environment (KTR_<FLAG>, kubectl's KUBECONFIG) > .env file > defaults.
// A runbook declares its own flags as data (FlagSpec); parsing, validation
// and --help all read the same spec, so they cannot drift apart.
//
// Parsed with node:util parseArgs rather than zx's minimist: parseArgs keeps
// every value a string until we convert it (minimist turns `-n 0123` into a
// number and silently accepts unknown flags and missing values), and its
// `tokens` mode tells us exactly which flag was written how (`-n` vs
// `--namespace`, inline `=value` or not), so the errors below can name what
// the person typed. We run it non-strict and do the checks ourselves, because
// strict mode's messages are long and name no fix.
import { resolve } from 'node:path'
import { parseArgs } from 'node:util'
import dotenv from 'dotenv'
import { CONFIG_FILE_LIMIT, readFileCappedSync, sizeText } from '../capped-read.ts'
import { UsageError } from '../errors.ts'
import { OutputFormats, type OutputFormat } from '../output.ts'
import { looksLikeToken, pathText, quoteValue, TOKEN_HINT } from '../token/shape.ts'

export type Env = Readonly<Record<string, string | undefined>>

export type FlagType = 'string' | 'boolean' | 'number' | 'string[]'
export type FlagDefault = string | boolean | number | readonly string[]

export interface FlagSpec {
  /** Long name, kebab-case: `--secret-name`. */
  readonly name: string
  /** One-letter short form: `-s`. */
  readonly alias?: string
  /** `string[]` is repeatable (`--secret a --secret b`; in the environment: comma-separated). */
  readonly type: FlagType
  readonly description: string
  /** Environment variable; default `KTR_<NAME>` (KTR_SECRET_NAME); false for none. */
  readonly env?: string | false
  /** Shown in --help instead of `env` when the variable is read elsewhere (KUBECONFIG). */
  readonly envHelp?: string
  readonly default?: FlagDefault
  /** The only values accepted (listed in --help and in the error). */
  readonly allowed?: readonly string[]
  /** Placeholder in --help: `--secret <namespace/name>`. */
  readonly valueName?: string
}

export interface PositionalSpec {
  readonly name: string
  readonly description: string
  readonly required?: boolean
  /** Takes any number of values (last positional only). */
  readonly variadic?: boolean
}

export interface Example {
  readonly command: string
  readonly description: string
}

export interface CliSpec<F extends readonly FlagSpec[] = readonly FlagSpec[]> {
  /** The command name in usage lines: `regenerate-tokens`. */
  readonly name: string
  readonly summary: string
  /** The runbook's own flags, besides the common ones. */
  readonly flags?: F
  readonly positionals?: readonly PositionalSpec[]
  readonly examples?: readonly Example[]
}

/** Captures a spec with its literal types, so parsed own flags are typed. */
export function defineCli<const F extends readonly FlagSpec[] = readonly []>(spec: CliSpec<F>): CliSpec<F> {
  checkSpec(spec)
  return spec
}

export const COMMON_FLAGS = [
  {
    name: 'kubeconfig',
    type: 'string',
    valueName: 'path',
    env: false,
    envHelp: 'KUBECONFIG (":"-separated list, as kubectl)',
    description: 'Kubeconfig file (default: $KUBECONFIG, else ~/.kube/config, else in-cluster).',
  },
  { name: 'context', type: 'string', valueName: 'name', description: "Kubeconfig context to use (default: the kubeconfig's current-context)." },
  { name: 'namespace', alias: 'n', type: 'string', valueName: 'ns', description: 'Work in this namespace only.' },
  { name: 'all-namespaces', alias: 'A', type: 'boolean', description: 'Work across all namespaces.' },
  {
    name: 'selector',
    alias: 'l',
    type: 'string',
    valueName: 'selector',
    description: 'Label selector that limits the objects considered, e.g. app=web,tier!=db.',
  },
  { name: 'dry-run', type: 'boolean', description: 'Show the plan: run every read-only check, change nothing.' },
  { name: 'yes', alias: 'y', type: 'boolean', description: 'Apply changes without asking (needed without a terminal).' },
  {
    name: 'output',
    alias: 'o',
    type: 'string',
    valueName: 'format',
    allowed: OutputFormats,
    default: 'text',
    description: 'Result format on stdout; json prints one JSON document.',
  },
  {
    name: 'insecure-skip-tls-verify',
    type: 'boolean',
    // Like --show-token: a credential-handling tool must never drop TLS
    // verification because of a setting nobody typed for this run.
    env: false,
    envHelp: 'none: command line only',
    description: "Accept a kubeconfig's insecure-skip-tls-verify: true (refused otherwise). Tokens under test are then never sent to the server.",
  },
  {
    name: 'show-token',
    type: 'boolean',
    // Only an explicit flag turns redaction off: an exported variable or a
    // forgotten line in a .env file (inherited by child runbooks) would do it
    // silently for every run.
    env: false,
    envHelp: 'none: command line only, never the environment or an env file',
    description: 'Print tokens in full instead of redacted (logs will keep them).',
  },
  {
    name: 'request-timeout',
    type: 'string',
    valueName: 'duration',
    default: '30s',
    description: 'How long one API request may take before it is retried or fails, as kubectl: 30s, 1m, 1m30s; 0 waits forever.',
  },
  {
    name: 'env-file',
    type: 'string',
    valueName: 'path',
    default: '.env',
    description: 'Read settings (KTR_*, KUBECONFIG) from this dotenv file, relative to the current directory.',
  },
  { name: 'help', alias: 'h', type: 'boolean', env: false, description: 'Show this help.' },
  { name: 'version', type: 'boolean', env: false, description: 'Print the version and exit.' },
] as const satisfies readonly FlagSpec[]

export interface CommonOptions {
  kubeconfig: string | undefined
  context: string | undefined
  namespace: string | undefined
  allNamespaces: boolean
  selector: string | undefined
  dryRun: boolean
  yes: boolean
  output: OutputFormat
  showToken: boolean
  insecureSkipTlsVerify: boolean
  /** --request-timeout in ms; 0: no timeout. */
  requestTimeoutMs: number
  envFile: string
}

type Camel<S extends string> = S extends `${infer Head}-${infer Tail}` ? `${Head}${Capitalize<Camel<Tail>>}` : S
type Allowed<S> = S extends { readonly allowed: readonly (infer A)[] } ? A : string
type Scalar<S extends FlagSpec> = S['type'] extends 'number' ? number : Allowed<S>
/** The parsed value of one flag: booleans default to false and lists to []; others may be undefined unless they have a default. */
export type FlagValue<S extends FlagSpec> = S['type'] extends 'boolean'
  ? boolean
  : S['type'] extends 'string[]'
    ? Allowed<S>[]
    : Scalar<S> | (S extends { readonly default: FlagDefault } ? never : undefined)
/** A runbook's own flag values, by camelCase name: `--secret-name` → `secretName`. */
export type FlagValues<F extends readonly FlagSpec[]> = { [S in F[number] as Camel<S['name']>]: FlagValue<S> }

export type ValueSource = 'flag' | 'env' | 'env-file' | 'default'

export interface ParsedCli<F extends readonly FlagSpec[] = readonly FlagSpec[]> {
  help: false
  common: CommonOptions
  flags: FlagValues<F>
  positionals: string[]
  /** Where each setting came from, by camelCase name. */
  sources: Record<string, ValueSource>
  /** The environment with the .env file's values under it: what kubeconfig loading reads. */
  env: Env
  /** The dotenv file that was read, if any. */
  envFileLoaded: string | undefined
}

/** `help: true` means: print --help (or, with `version`, the version) and do nothing else. */
export type ParseResult<F extends readonly FlagSpec[] = readonly FlagSpec[]> = { help: true; version: boolean } | ParsedCli<F>

export interface ParseInput {
  argv: readonly string[]
  env: Env
  /** Where a relative --env-file is resolved. */
  cwd: string
}

export const camelCase = (name: string) => name.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase())

/** The environment variable a flag reads, or undefined. */
export function envName(flag: FlagSpec): string | undefined {
  if (flag.env === false) return undefined
  return flag.env ?? `KTR_${flag.name.toUpperCase().replaceAll('-', '_')}`
}

/** Common flags, then the runbook's own. */
export function allFlags(spec: CliSpec): readonly FlagSpec[] {
  return [...COMMON_FLAGS, ...(spec.flags ?? [])]
}

const FLAG_NAME = /^[a-z][a-z0-9]*(?:-[a-z0-9]+)*$/

/** Programming errors in a spec (not the operator's): duplicate names or aliases, bad defaults. */
function checkSpec(spec: CliSpec): void {
  const names = new Set<string>()
  const aliases = new Set<string>()
  for (const flag of allFlags(spec)) {
    if (!FLAG_NAME.test(flag.name)) throw new Error(`${spec.name}: flag name "${flag.name}" is not kebab-case`)
    if (names.has(flag.name)) throw new Error(`${spec.name}: flag --${flag.name} is declared twice`)
    names.add(flag.name)
    if (flag.alias !== undefined) {
      if (!/^[A-Za-z]$/.test(flag.alias)) throw new Error(`${spec.name}: alias "${flag.alias}" of --${flag.name} must be one letter`)
      if (aliases.has(flag.alias)) throw new Error(`${spec.name}: alias -${flag.alias} is declared twice`)
      aliases.add(flag.alias)
    }
    if (flag.allowed && typeof flag.default === 'string' && !flag.allowed.includes(flag.default)) {
      throw new Error(`${spec.name}: default "${flag.default}" of --${flag.name} is not among its allowed values`)
    }
  }
  const positionals = spec.positionals ?? []
  if (positionals.slice(0, -1).some((p) => p.variadic)) throw new Error(`${spec.name}: only the last positional may be variadic`)
}

interface Raw {
  /** How the person wrote it, for messages: `-n`, `--namespace`. */
  rawName: string
  values: string[]
  /** Boolean flags given without a value. */
  present: boolean
}

/**
 * Parses argv for `spec` and resolves every setting by precedence. Returns
 * `{ help: true }` as soon as -h/--help appears (nothing else is validated).
 * Throws UsageError for unknown flags, missing or malformed values, values
 * outside the allowed list, -n with -A, and unexpected arguments.
 */
export function parseCli<const F extends readonly FlagSpec[]>(spec: CliSpec<F>, input: ParseInput): ParseResult<F> {
  checkSpec(spec)
  const flags = allFlags(spec)
  const byName = new Map(flags.map((f) => [f.name, f]))
  const byAlias = new Map(flags.filter((f) => f.alias).map((f) => [f.alias as string, f]))
  const { tokens } = parseArgs({
    args: [...input.argv],
    options: Object.fromEntries(
      flags.map((f) => [
        f.name,
        { type: f.type === 'boolean' ? ('boolean' as const) : ('string' as const), ...(f.alias ? { short: f.alias } : {}) },
      ]),
    ),
    strict: false,
    allowPositionals: true,
    tokens: true,
  })

  const asked = (name: string) => tokens.some((t) => t.kind === 'option' && t.name === name)
  if (asked('help')) return { help: true, version: false }
  if (asked('version')) return { help: true, version: true }

  const raw = new Map<string, Raw>()
  const positionals: string[] = []
  for (const token of tokens) {
    if (token.kind === 'positional') {
      positionals.push(token.value)
      continue
    }
    if (token.kind !== 'option') continue
    // Unknown short flags arrive under their letter: look the alias up too.
    const flag = byName.get(token.name) ?? byAlias.get(token.name)
    if (!flag || (token.rawName.startsWith('--') && flag.name !== token.name)) {
      if (looksLikeToken(token.rawName)) throw new UsageError(`unknown flag that looks like a token (not shown); ${TOKEN_HINT}`)
      throw new UsageError(`unknown flag ${token.rawName}${suggestion(token.rawName, flags)}`)
    }
    const entry = raw.get(flag.name) ?? { rawName: token.rawName, values: [], present: false }
    entry.rawName = token.rawName
    raw.set(flag.name, entry)
    let value = token.value
    // kubectl accepts -n=kube-system; parseArgs hands us "=kube-system".
    if (value !== undefined && token.inlineValue && !token.rawName.startsWith('--') && value.startsWith('=')) value = value.slice(1)
    if (flag.type === 'boolean') {
      if (value === undefined) entry.present = true
      else entry.values.push(value)
      continue
    }
    if (value === undefined || (!token.inlineValue && value.startsWith('-') && value !== '-')) {
      const got =
        value === undefined ? '' : looksLikeToken(value) ? ` (got ${quoteValue(value)})` : ` (got the flag ${value}; a value that starts with "-" is written --${flag.name}=${value})`
      throw new UsageError(`flag ${token.rawName} needs a value: ${usageOf(flag)}${got}`)
    }
    entry.values.push(value)
  }

  // Where the dotenv file is: --env-file or KTR_ENV_FILE, else ./.env if it exists.
  const envFileFlag = raw.get('env-file')?.values.at(-1)
  const envFileEnv = input.env.KTR_ENV_FILE
  const envFileGiven = envFileFlag ?? (envFileEnv || undefined)
  const envFilePath = resolve(input.cwd, envFileGiven ?? '.env')
  const fileEnv = readEnvFile(envFilePath, envFileGiven !== undefined ? (envFileFlag !== undefined ? '--env-file' : 'KTR_ENV_FILE') : undefined)

  const values: Record<string, unknown> = {}
  const sources: Record<string, ValueSource> = {}
  for (const flag of flags) {
    const key = camelCase(flag.name)
    const resolved = resolveFlag(flag, raw.get(flag.name), input.env, fileEnv ?? {})
    values[key] = resolved.value
    sources[key] = resolved.source
  }
  values.envFile = envFilePath

  resolveNamespaceConflict(values, sources)

  const expected = spec.positionals ?? []
  const variadic = expected.at(-1)?.variadic === true
  if (positionals.length > expected.length && !variadic) {
    const extra = positionals[expected.length] ?? ''
    const takes = expected.length === 0 ? 'flags only' : expected.map((p) => `<${p.name}>`).join(' ')
    // A forgotten --token-file puts the token here: describe it, never echo it.
    const hint = looksLikeToken(extra) ? `; ${TOKEN_HINT}` : ''
    throw new UsageError(`unexpected argument ${quoteValue(extra)}: ${spec.name} takes ${takes}${hint}`)
  }
  const missing = expected.find((p, i) => p.required && positionals[i] === undefined)
  if (missing) throw new UsageError(`missing argument <${missing.name}>: ${missing.description}`)

  const common: CommonOptions = {
    kubeconfig: values.kubeconfig as string | undefined,
    context: values.context as string | undefined,
    namespace: values.namespace as string | undefined,
    allNamespaces: values.allNamespaces as boolean,
    selector: values.selector as string | undefined,
    dryRun: values.dryRun as boolean,
    yes: values.yes as boolean,
    output: values.output as OutputFormat,
    showToken: values.showToken as boolean,
    insecureSkipTlsVerify: values.insecureSkipTlsVerify as boolean,
    requestTimeoutMs: parseDuration(values.requestTimeout as string, sources.requestTimeout === 'flag' ? (raw.get('request-timeout')?.rawName ?? '--request-timeout') : `KTR_REQUEST_TIMEOUT (${sources.requestTimeout === 'env' ? 'environment' : 'env file'})`),
    envFile: envFilePath,
  }
  const own = Object.fromEntries((spec.flags ?? []).map((f) => [camelCase(f.name), values[camelCase(f.name)]]))
  return {
    help: false,
    common,
    flags: own as FlagValues<F>,
    positionals,
    sources,
    env: { ...(fileEnv ?? {}), ...input.env },
    envFileLoaded: fileEnv ? envFilePath : undefined,
  }
}

const DURATION_UNITS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }

/**
 * A kubectl-style duration in ms: `30s`, `1m`, `1m30s`, `500ms`, `1h`; `0`
 * means no timeout, and a bare number counts as seconds (kubectl appends
 * "s" to one). Anything else is a usage error naming the forms.
 */
export function parseDuration(text: string, where: string): number {
  const value = text.trim()
  if (/^\d+$/.test(value)) return Number(value) * 1000
  const parts = [...value.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)]
  if (value === '' || parts.map((p) => p[0]).join('') !== value) {
    throw new UsageError(`${where}: "${text}" is not a duration; use a number with a unit, e.g. 30s, 1m or 1m30s (0: no timeout)`)
  }
  return Math.round(parts.reduce((ms, [, n, unit]) => ms + Number(n) * (DURATION_UNITS[unit ?? 's'] ?? 1000), 0))
}

/** `--namespace <ns>` / `--yes` / `-o, --output <text|json>`: how a flag is written. */
export function usageOf(flag: FlagSpec): string {
  const names = `${flag.alias ? `-${flag.alias}, ` : ''}--${flag.name}`
  if (flag.type === 'boolean') return names
  const placeholder = flag.allowed ? flag.allowed.join('|') : (flag.valueName ?? (flag.type === 'number' ? 'n' : 'value'))
  return `${names} <${placeholder}>${flag.type === 'string[]' ? '...' : ''}`
}

/**
 * The dotenv file's variables, parsed with dotenv.parse (process.env is never
 * touched). A missing default ./.env is fine (undefined); a missing file that
 * was asked for by name is a usage error.
 */
export function readEnvFile(path: string, givenBy: string | undefined): Record<string, string> | undefined {
  const source = givenBy ?? 'the default ./.env'
  let bytes: Buffer | undefined
  try {
    bytes = readFileCappedSync(path, CONFIG_FILE_LIMIT)
  } catch (err) {
    const code = (err as { code?: unknown }).code
    if (code === 'ENOENT' && givenBy === undefined) return undefined
    const why = code === 'ENOENT' ? 'does not exist' : `cannot be read (${String(code ?? err)})`
    throw new UsageError(`env file ${pathText(path)} (from ${source}) ${why}: fix the path or leave out ${givenBy ?? 'the file'}`, {
      cause: err,
    })
  }
  // `--env-file /dev/zero` would otherwise read (and grow) without end.
  if (bytes === undefined) {
    throw new UsageError(`env file ${pathText(path)} (from ${source}) is larger than ${sizeText(CONFIG_FILE_LIMIT)}, far more than a few settings: fix the path or leave out ${givenBy ?? 'the file'}`)
  }
  return dotenv.parse(bytes.toString('utf8'))
}

function resolveFlag(
  flag: FlagSpec,
  given: Raw | undefined,
  env: Env,
  fileEnv: Record<string, string>,
): { value: unknown; source: ValueSource } {
  if (given) {
    return { value: convert(flag, flag.type === 'boolean' && given.present && given.values.length === 0 ? ['true'] : given.values, given.rawName, false), source: 'flag' }
  }
  const variable = envName(flag)
  // help and env-file are not read from the .env file (the latter would be circular).
  for (const [source, vars] of [
    ['env', env],
    ['env-file', flag.name === 'env-file' ? {} : fileEnv],
  ] as const) {
    const text = variable === undefined ? undefined : vars[variable]
    if (text !== undefined && text !== '') {
      const where = `${variable} (${source === 'env' ? 'environment' : 'env file'})`
      return { value: convert(flag, [text], where, true), source }
    }
  }
  const fallback = flag.default ?? (flag.type === 'boolean' ? false : flag.type === 'string[]' ? [] : undefined)
  return { value: Array.isArray(fallback) ? [...fallback] : fallback, source: 'default' }
}

const TRUE = new Set(['true', '1', 'yes', 'on'])
const FALSE = new Set(['false', '0', 'no', 'off'])

function convert(flag: FlagSpec, texts: string[], where: string, fromEnv: boolean): unknown {
  switch (flag.type) {
    case 'boolean': {
      const text = (texts.at(-1) ?? '').toLowerCase()
      if (TRUE.has(text)) return true
      if (FALSE.has(text)) return false
      throw new UsageError(`${where}: ${quoteValue(texts.at(-1) ?? '')} is not a boolean; use true or false`)
    }
    case 'number': {
      const text = texts.at(-1) ?? ''
      const n = Number(text)
      if (text.trim() === '' || !Number.isFinite(n)) throw new UsageError(`${where}: ${quoteValue(text)} is not a number`)
      return n
    }
    case 'string': {
      // Repeating a single-valued flag: the last one wins, as in kubectl.
      const text = texts.at(-1) ?? ''
      checkAllowed(flag, text, where)
      return text
    }
    case 'string[]': {
      const list = fromEnv ? texts.flatMap((t) => t.split(',')).map((t) => t.trim()).filter((t) => t !== '') : texts
      for (const item of list) checkAllowed(flag, item, where)
      return list
    }
  }
}

function checkAllowed(flag: FlagSpec, value: string, where: string): void {
  if (flag.allowed && !flag.allowed.includes(value)) {
    throw new UsageError(`${where}: ${quoteValue(value)} is not allowed; allowed values are ${flag.allowed.join(', ')}`)
  }
}

const rank: Record<ValueSource, number> = { default: 0, 'env-file': 1, env: 2, flag: 3 }

/**
 * -n and -A exclude each other. From the same place (both flags, both in the
 * environment) that is a usage error; from different places the
 * higher-precedence one wins, so KTR_NAMESPACE in a .env does not block -A.
 */
function resolveNamespaceConflict(values: Record<string, unknown>, sources: Record<string, ValueSource>): void {
  if (values.namespace === undefined || values.allNamespaces !== true) return
  const ns = sources.namespace ?? 'default'
  const all = sources.allNamespaces ?? 'default'
  if (rank[ns] === rank[all]) {
    const where = ns === 'flag' ? '-n/--namespace and -A/--all-namespaces' : `KTR_NAMESPACE and KTR_ALL_NAMESPACES (${ns === 'env' ? 'environment' : 'env file'})`
    throw new UsageError(`${where} cannot be used together: give a namespace or all namespaces, not both`)
  }
  if (rank[ns] > rank[all]) {
    values.allNamespaces = false
    sources.allNamespaces = ns
  } else {
    values.namespace = undefined
    sources.namespace = all
  }
}

/** " (did you mean --namespace?)" for a near miss, else "". */
function suggestion(rawName: string, flags: readonly FlagSpec[]): string {
  const typed = rawName.replace(/^-+/, '').split('=')[0] ?? ''
  if (typed.length < 3) return '; see --help for the flags'
  let best: { name: string; d: number } | undefined
  for (const flag of flags) {
    const d = editDistance(typed, flag.name)
    if (d <= 2 && (!best || d < best.d)) best = { name: flag.name, d }
  }
  return best ? ` (did you mean --${best.name}?)` : '; see --help for the flags'
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    const row = [i]
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min((prev[j] ?? 0) + 1, (row[j - 1] ?? 0) + 1, (prev[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1))
    }
    prev = row
  }
  return prev[b.length] ?? 0
}

/** Every flag of `spec` at its default (as if none were given): how rotate-tokens sets up the runbooks it runs. */
export function flagDefaults<const F extends readonly FlagSpec[]>(spec: CliSpec<F>): FlagValues<F> {
  const values: Record<string, unknown> = {}
  for (const flag of spec.flags ?? []) {
    values[camelCase(flag.name)] = flag.default ?? (flag.type === 'boolean' ? false : flag.type.endsWith('[]') ? [] : undefined)
  }
  return values as FlagValues<F>
}
