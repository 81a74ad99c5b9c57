#!/usr/bin/env -S node --max-semi-space-size=16 --max-old-space-size=1536
// (V8 heap sized for big clusters, see "Memory" in README.md: young generation
// 2 x 16 MB; a heap limit of 1.5 GB makes old space grow ~1.8x its live size, not 4x.)
// verify-token: is this service-account token good? Checks the signature
// against the cluster's current keys (or --key-file, offline), asks the API
// server (TokenReview, the classic bearer GET, SelfSubjectReview), and gives
// every token a status and a reason that ends with the fix.
import type { Session } from '../lib/cli/session.ts'
import { readTokenFile } from '../lib/cli/inputs.ts'
import { KEY_FILE_FLAG, keyCommands, loadVerificationKeys } from '../lib/cli/keys.ts'
import { defineCli, loadKubeConfig, namespaceScope, runbookMain, runMain, type MainIO, type ParsedCli, type Main } from '../lib/cli/index.ts'
import { mapLimit } from '../lib/concurrency.ts'
import { kubectlCommand, RunFindings, type Findings, type Runbook, type Step } from '../lib/engine/index.ts'
import { UsageError } from '../lib/errors.ts'
import { makeKube, type Kube } from '../lib/kube/clients.ts'
import { withApiErrors as api } from '../lib/kube/errors.ts'
import { inspectStoredToken, inspectToken, UnclassifiedStatus, type TokenInspection } from '../lib/kube/inspect-token.ts'
import { fetchJwks } from '../lib/kube/token-checks.ts'
import {
  listServiceAccounts,
  listTokenSecrets,
  parseSecretRef,
  readTokenSecret,
  secretFacts,
  secretKey,
  serviceAccountIndex,
  tokenOf,
  type Scope,
} from '../lib/kube/token-secrets.ts'
import type { Redactor } from '../lib/redact.ts'
import { normalizeToken } from '../lib/token/decode.ts'
import { describeKeys, type VerificationKey } from '../lib/token/keys.ts'
import { TokenStatus } from '../lib/token/status.ts'
import { renderInspections } from '../lib/report/tokens.ts'

export const cli = defineCli({
  name: 'verify-token',
  summary: 'Prove whether service-account tokens are good: signature, expiry, and what the API server says.',
  flags: [
    {
      name: 'token',
      type: 'string',
      valueName: 'jwt',
      description: 'A token to check: raw, or base64-wrapped as in `kubectl get secret -o yaml`. Visible to anyone who can list processes (ps, /proc): prefer `--token-file -` and pipe it in.',
    },
    { name: 'token-file', type: 'string', valueName: 'path|-', description: 'Read the token from a file, or from stdin with -.' },
    { name: 'secret', type: 'string[]', valueName: 'namespace/name', description: 'Check the token of this service-account token Secret (repeatable).' },
    { name: 'all', type: 'boolean', description: 'Check every service-account token Secret in scope (-n, -A, -l).' },
    { ...KEY_FILE_FLAG, description: `${KEY_FILE_FLAG.description} With --token/--token-file only, nothing contacts a cluster.` },
    { name: 'offline', type: 'boolean', description: 'Never contact the cluster: signature and times only (needs --key-file).' },
  ],
  examples: [
    { command: 'verify-token --secret kube-system/build-robot-token', description: 'one Secret, live' },
    { command: 'verify-token --all -A -o json', description: 'every token Secret in the cluster, for a script' },
    { command: 'kubectl get secret x -o jsonpath={.data.token} | verify-token --token-file - --key-file sa.pub', description: 'offline' },
  ],
})

export type Flags = ParsedCli<NonNullable<(typeof cli)['flags']>>['flags']

/** What verify-token is handed before the run; the keys, the tokens and the verdicts are its steps' plans. */
export interface Ctx {
  flags: Flags
  /** -l: label selector for --all. */
  selector?: string
  redactor: Redactor
  now: () => Date
  stdin: MainIO['stdin']
  cwd: string
  /** Undefined when offline. */
  kube?: Kube
  /** The session's /openid/v1/jwks, read once per run (undefined offline). */
  clusterJwks?: () => Promise<unknown>
  scope: Scope
}

/** load-keys: the keys signatures are checked with (undefined: none, offline without --key-file). */
export interface KeysPlan {
  keys?: VerificationKey[]
  source?: string
}

/** One token to inspect: from a flag, a file or a Secret (which may hold none yet). */
export interface TokenInput {
  source: string
  token?: string
  secret?: Parameters<typeof secretFacts>[0]
}

/** collect-tokens: the tokens in input order, and the ServiceAccounts their Secrets name. */
export interface TokensPlan {
  inputs: TokenInput[]
  accounts?: Map<string, string>
}

/** check-tokens: each token's verdict. */
export interface VerdictsPlan {
  results: TokenInspection[]
}

const LIVE_CHECK_PARALLELISM = 8

export const loadKeys: Step<Ctx, KeysPlan> = {
  id: 'load-keys',
  title: 'Load the verification keys',
  description: "Reads the public keys the API server verifies tokens with, so each token's signature and key ID can be checked offline.",
  readOnly: true,
  kubectl: (ctx) => keyCommands(ctx.flags.keyFile, kubectlCommand),
  check: async (ctx) => {
    const set = await loadVerificationKeys(ctx.flags.keyFile, clusterKeys(ctx), { mustMatchCluster: false })
    if (!set) return { needed: false, summary: 'no keys: offline without --key-file', details: { kids: [] }, plan: {} }
    return { needed: false, summary: describeKeys(set), details: { kids: set.keys.map((k) => k.kid) }, plan: { keys: set.keys, source: set.source } }
  },
}

export const collectTokens: Step<Ctx, TokensPlan> = {
  id: 'collect-tokens',
  title: 'Collect the tokens',
  description: 'Reads the tokens to check from the flags, files or Secrets named; a token is never printed, only its fingerprint.',
  readOnly: true,
  kubectl: (ctx) => collectCommands(ctx),
  check: async (ctx) => {
    const tokens = await collect(ctx)
    return { needed: false, summary: `${tokens.inputs.length} token(s) to check`, plan: tokens }
  },
}

export const checkTokens: Step<Ctx, VerdictsPlan> = {
  id: 'check-tokens',
  title: 'Check each token',
  description:
    'Verifies each signature and expiry, then presents the token to the API server (TokenReview, a GET with the token as bearer: 401 rejected, 403 good but not allowed, and SelfSubjectReview).',
  readOnly: true,
  kubectl: (ctx) => [
    `${kubectlCommand('create', '-o', 'yaml', '-f', '-')} <<< '{"apiVersion":"authentication.k8s.io/v1","kind":"TokenReview","spec":{"token":"'"$TOKEN"'"}}'`,
    `curl --cacert ca.crt -H "Authorization: Bearer $TOKEN" ${ctx.kube?.kc.getCurrentCluster()?.server ?? 'https://<apiserver>'}/api/v1/namespaces/<namespace>/pods`,
    `${kubectlCommand('auth', 'whoami')} --token="$TOKEN"`,
  ],
  check: async (ctx, found) => {
    const { keys } = found.plan(loadKeys)
    const { inputs, accounts } = found.plan(collectTokens)
    const results = await mapLimit(inputs, LIVE_CHECK_PARALLELISM, (input) => inspect(ctx, keys, accounts, input))
    return { needed: false, summary: countStatuses(results), plan: { results } }
  },
  verify: async (_ctx, { results }) => {
    const bad = results.filter((r) => r.status !== TokenStatus.valid)
    return {
      ok: results.length > 0 && bad.length === 0,
      summary:
        results.length === 0
          ? 'no token found in scope: nothing was verified'
          : bad.length === 0
            ? `all ${results.length} token(s) are valid`
            : `${bad.length} of ${results.length} token(s) are not valid: ${bad[0]!.reason}`,
    }
  },
}

export const steps = { loadKeys, collectTokens, checkTokens }

export const runbook: Runbook<Ctx> = { name: cli.name, summary: cli.summary, steps: Object.values(steps) }

async function inspect(ctx: Ctx, keys: VerificationKey[] | undefined, accounts: Map<string, string> | undefined, input: TokenInput): Promise<TokenInspection> {
  const secret = input.secret ? secretFacts(input.secret, accounts) : undefined
  if (input.token === undefined) {
    return {
      source: input.source,
      status: UnclassifiedStatus.pending,
      reason: `${input.source} holds no token yet; check that kube-controller-manager runs with --service-account-private-key-file, then run regenerate-tokens.`,
      ...(secret ? { secret } : {}),
    }
  }
  const opts = { keys, now: ctx.now(), ...(ctx.kube ? { kube: ctx.kube } : {}), ...(secret ? { secret } : {}) }
  // A token the operator typed must decode (exit 2 otherwise); one read from
  // the cluster is a finding about that Secret.
  return api(ctx.kube?.kc, () => (input.secret ? inspectStoredToken(input.source, input.token!, opts) : inspectToken(input.source, input.token!, opts)))
}

async function collect(ctx: Ctx): Promise<TokensPlan> {
  const { flags } = ctx
  const inputs: TokenInput[] = []
  if (flags.token !== undefined) inputs.push({ source: '--token', token: register(ctx, normalizeToken(flags.token)) })
  if (flags.tokenFile !== undefined) {
    const raw = await readTokenFile(flags.tokenFile, ctx.stdin)
    inputs.push({ source: flags.tokenFile === '-' ? 'stdin' : flags.tokenFile, token: register(ctx, normalizeToken(raw)) })
  }
  if (!ctx.kube) return { inputs }
  const kube = ctx.kube
  const defaultNamespace = ctx.scope.all ? 'default' : ctx.scope.namespace
  for (const ref of flags.secret) {
    const { namespace, name } = parseSecretRef(ref, defaultNamespace)
    const secret = await api(kube.kc, () => readTokenSecret(kube, namespace, name))
    inputs.push(secretInput(ctx, secret))
  }
  if (flags.all) {
    const secrets = await api(kube.kc, () => listTokenSecrets(kube, ctx.scope, ctx.selector))
    for (const secret of secrets) inputs.push(secretInput(ctx, secret))
  }
  if (!flags.all && flags.secret.length === 0) return { inputs }
  const accounts = serviceAccountIndex(await api(kube.kc, () => listServiceAccounts(kube, ctx.scope.all || flags.secret.length > 0 ? { all: true } : ctx.scope)))
  return { inputs, accounts }
}

function secretInput(ctx: Ctx, secret: NonNullable<TokenInput['secret']>): TokenInput {
  const token = tokenOf(secret)
  return { source: `secret ${secretKey(secret)}`, secret, ...(token ? { token: register(ctx, token) } : {}) }
}

function register(ctx: Ctx, token: string): string {
  ctx.redactor.register(token)
  return token
}

function collectCommands(ctx: Ctx): string[] {
  const commands = ctx.flags.secret.map((ref) => {
    const { namespace, name } = parseSecretRef(ref, ctx.scope.all ? 'default' : ctx.scope.namespace)
    return `${kubectlCommand('get', 'secret', name, '-n', namespace, '-o', 'jsonpath={.data.token}')} | base64 --decode`
  })
  if (ctx.flags.all) {
    const scope = ctx.scope.all ? ['-A'] : ['-n', ctx.scope.namespace]
    commands.push(kubectlCommand('get', 'secrets', ...scope, '--field-selector', 'type=kubernetes.io/service-account-token', ...(ctx.selector ? ['-l', ctx.selector] : [])))
  }
  return commands
}

function countStatuses(results: TokenInspection[]): string {
  const counts = new Map<string, number>()
  for (const r of results) counts.set(r.status, (counts.get(r.status) ?? 0) + 1)
  return [...counts].map(([status, n]) => `${n} ${status}`).join(', ') || 'no tokens'
}

/** The cluster's JWKS through the API-error wrapper; undefined offline. */
function clusterKeys(ctx: Readonly<Ctx>): (() => Promise<unknown>) | undefined {
  const { kube, clusterJwks } = ctx
  return kube && clusterJwks && (() => api(kube.kc, clusterJwks))
}

/** Run alone, verify-token has no session: the cluster's keys are read through its own client (once, by load-keys). */
function withJwks(kube: Kube): Pick<Ctx, 'kube' | 'clusterJwks'> {
  return { kube, clusterJwks: () => fetchJwks(kube) }
}

function validateInputs(flags: Flags): void {
  // A malformed --secret is a usage error before any request (a token pasted there is described, never sent).
  for (const ref of flags.secret) parseSecretRef(ref, 'default')
  const given = [flags.token !== undefined, flags.tokenFile !== undefined, flags.secret.length > 0, flags.all].filter(Boolean).length
  if (given === 0) throw new UsageError('nothing to check: give --token, --token-file, --secret or --all')
  if (flags.offline && (flags.secret.length > 0 || flags.all)) throw new UsageError('--offline cannot read Secrets: drop --offline, or pass the token with --token/--token-file')
  if (flags.offline && flags.keyFile.length === 0) throw new UsageError('--offline needs --key-file to verify signatures with')
}

/** Offline when asked, or when key files are given and nothing needs the cluster. */
function needsCluster(flags: Flags): boolean {
  if (flags.offline) return false
  return flags.secret.length > 0 || flags.all || flags.keyFile.length === 0
}

/** verify-token on top of a session (rotate-tokens' proof): every token Secret in the session's scope. */
export function contextOfSession(session: Session, flags: Flags, io: Pick<MainIO, 'stdin' | 'cwd'>): Ctx {
  return {
    flags,
    ...(session.selector ? { selector: session.selector } : {}),
    redactor: session.redactor,
    now: session.now,
    stdin: io.stdin,
    cwd: io.cwd,
    kube: session.kube,
    clusterJwks: session.clusterJwks,
    scope: session.scope,
  }
}

/**
 * Every step's check in order, as the engine would run them read-only: the
 * inspections. Its own findings, so these steps' ids never meet those of the
 * run that calls it (rotate-tokens' proof).
 */
export async function inspectAll(ctx: Ctx): Promise<TokenInspection[]> {
  const record = new RunFindings()
  const found: Findings = record
  for (const step of runbook.steps) record.recordPlan(step.id, (await step.check(ctx, found)).plan)
  return found.plan(checkTokens).results
}

/** The verdicts of this run, none when check-tokens did not run. */
const resultsOf = (found: Findings): TokenInspection[] => (found.has(checkTokens) ? found.plan(checkTokens).results : [])

/** The runbook's whole run, for its own entry point and for `kube-token-runbooks <runbook>`. */
export const main: Main = (io) =>
  runbookMain(io, {
    cli,
    runbook,
    context: async ({ cli: parsed, redactor }) => {
      validateInputs(parsed.flags)
      const kc = needsCluster(parsed.flags) ? await loadKubeConfig(parsed.common, parsed.env, { cwd: io.cwd }) : undefined
      return {
        flags: parsed.flags,
        ...(parsed.common.selector ? { selector: parsed.common.selector } : {}),
        redactor: redactor as Redactor,
        now: io.now,
        stdin: io.stdin,
        cwd: io.cwd,
        ...(kc ? withJwks(await makeKube(kc, { requestTimeoutMs: parsed.common.requestTimeoutMs })) : {}),
        scope: kc ? namespaceScope(parsed.common, kc) : { all: false, namespace: 'default' },
      }
    },
    extendReport: (_report, _ctx, found) => ({ results: resultsOf(found) }),
    renderText: (_report, _ctx, found) => renderInspections(resultsOf(found)),
  })

await runMain(import.meta.url, main)
