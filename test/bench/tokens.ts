// Benchmark: the token core at the scale of a big cluster (10,000 legacy
// token Secrets), in memory, no cluster:
//   decodeToken + describeToken   10,000 tokens
//   verifySignature               10,000 tokens, 2 trusted keys; half signed by a key no longer trusted;
//                                 one at a time, and 50 at a time as regenerate-tokens does
//   assessSecret                  10,000 Secrets (what regenerate-tokens decides per Secret)
//   Redactor.register             250, 500 and 1,000 tokens (regenerate-tokens registers every token it reads)
//   Redactor.redact               1,000 registered tokens over a 5 MB log: in one call (as --output json
//                                 writes its result) and line by line (as progress lines are written)
//
//   node --expose-gc test/bench/tokens.ts
//
// Prints the table to stdout (median of a few runs), progress to stderr; exit
// 0. Tokens are RS256 like kube-controller-manager's: all 10,000 are signed
// when a calibration batch says that takes under 20 s here, else 1,000
// distinct ones are reused (decoding and verifying cache nothing, so the
// timings are the same either way).
import { loadPublicKeysFromPem } from '../../lib/token/keys.ts'
import { decodeToken, type DecodedToken } from '../../lib/token/decode.ts'
import { describeToken } from '../../lib/token/describe.ts'
import { verifySignature, type SignatureCheck } from '../../lib/token/signature.ts'
import { assessSecret, type AssessmentFacts } from '../../lib/regenerate/select.ts'
import { tokenOf } from '../../lib/kube/token-secrets.ts'
import { Redactor } from '../../lib/redact.ts'
import { mapLimit } from '../../lib/concurrency.ts'
import { legacyClaims, makeSigningKey, signToken, type TestSigningKey } from '../unit/helpers/tokens.ts'
import { makeSecret, uidOf } from '../unit/helpers/objects.ts'
import { environmentHeader, formatTable, isMain, measure, progress, seededRandom, suffix, timed, type Row } from './harness.ts'
import type { V1Secret } from '@kubernetes/client-node'

export const SECRETS = 10_000
export const NAMESPACES = 300
export const REGISTERED_TOKENS = 1_000
const REGISTER_SIZES = [250, 500, REGISTERED_TOKENS]
export const LOG_BYTES = 5 * 2 ** 20
/** Sign every token only if that is projected to take less than this. */
const SIGN_ALL_BUDGET_MS = 20_000
const WARM_UP = 20
const CALIBRATION = 300
/** When not signing all: distinct tokens, reused round-robin; the registered ones plus unregistered ones. */
const DISTINCT_FALLBACK = 1_100

interface Fixture {
  readonly secrets: V1Secret[]
  /** The token each Secret holds (undefined: empty Secret), in Secret order. */
  readonly tokens: Array<string | undefined>
  readonly accounts: Map<string, string>
  /** Every distinct token signed, in signing order. */
  readonly distinct: readonly string[]
  readonly current: TestSigningKey
  readonly notes: string[]
}

interface SecretShape {
  readonly namespace: string
  readonly serviceAccount: string
  readonly name: string
  /** Signed by the key the cluster still trusts (else by the regenerated-away one). */
  readonly trusted: boolean
  readonly orphaned: boolean
  readonly empty: boolean
}

/** 10,000 token Secrets over 300 namespaces; one service account each, 1% orphaned, 1% not filled yet. */
function secretShapes(random: () => number): SecretShape[] {
  return Array.from({ length: SECRETS }, (_, i) => {
    const namespace = `team-${String(i % NAMESPACES).padStart(3, '0')}`
    const serviceAccount = `app-${Math.floor(i / NAMESPACES)}`
    return {
      namespace,
      serviceAccount,
      name: `${serviceAccount}-token-${suffix(random)}`,
      trusted: i % 2 === 0,
      orphaned: i % 100 === 17,
      empty: i % 100 === 42,
    }
  })
}

async function buildFixture(): Promise<Fixture> {
  const notes: string[] = []
  const random = seededRandom(1)
  const current = makeSigningKey('rsa')
  const old = makeSigningKey('rsa')
  const shapes = secretShapes(random)
  const sign = (shape: SecretShape) =>
    signToken(
      legacyClaims({
        namespace: shape.namespace,
        serviceAccount: shape.serviceAccount,
        serviceAccountUid: uidOf('ServiceAccount', shape.serviceAccount),
        secretName: shape.name,
      }),
      shape.trusted ? current : old,
    )

  // Calibrate (after a warm-up, so JIT compilation does not count): the signing time decides whether all 10,000 are distinct.
  const warmUp = await timed(() => Promise.all(shapes.slice(0, WARM_UP).map(sign)))
  const calibration = await timed(() => Promise.all(shapes.slice(WARM_UP, WARM_UP + CALIBRATION).map(sign)))
  const projectedMs = (calibration.ms / CALIBRATION) * SECRETS
  const signAll = projectedMs < SIGN_ALL_BUDGET_MS
  const count = signAll ? SECRETS : DISTINCT_FALLBACK
  const rest = await timed(() => Promise.all(shapes.slice(WARM_UP + CALIBRATION, count).map(sign)))
  const signed = [...warmUp.value, ...calibration.value, ...rest.value]
  const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`
  const signingMs = warmUp.ms + calibration.ms + rest.ms
  notes.push(
    signAll
      ? `setup: signed all ${SECRETS.toLocaleString('en-US')} RS256 tokens in ${seconds(signingMs)} (projected ${seconds(projectedMs)} < ${seconds(SIGN_ALL_BUDGET_MS)})`
      : `setup: signing all was projected at ${seconds(projectedMs)}; signed ${count.toLocaleString('en-US')} distinct RS256 tokens in ${seconds(signingMs)} and reused them`,
  )
  progress(notes[0] ?? '')

  const tokens = shapes.map((shape, i) => (shape.empty ? undefined : signed[i % count]))
  const secrets = shapes.map((shape, i) => {
    const secret = makeSecret(shape.name, { namespace: shape.namespace, serviceAccount: shape.serviceAccount, token: tokens[i] ?? '' })
    // An empty Secret has no data until the tokens controller fills it.
    if (shape.empty) delete secret.data
    return secret
  })
  const accounts = new Map<string, string>()
  for (const shape of shapes) {
    if (!shape.orphaned) accounts.set(`${shape.namespace}/${shape.serviceAccount}`, uidOf('ServiceAccount', shape.serviceAccount))
  }
  return { secrets, tokens, accounts, distinct: signed, current, notes }
}

// ---------------------------------------------------------------------------
// A 5 MB log: what a regenerate-tokens run at this scale prints (with --debug),
// sprinkled with tokens: registered ones raw and base64-wrapped as a Secret
// shows them, plus JWTs the redactor only knows by their shape.

function buildLog(registered: readonly string[], unregistered: readonly string[], random: () => number): string[] {
  const lines: string[] = []
  let bytes = 0
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T
  for (let i = 0; bytes < LOG_BYTES; i++) {
    const namespace = `team-${String(i % NAMESPACES).padStart(3, '0')}`
    const secret = `app-${i % 37}-token-${suffix(random)}`
    const time = `2026-01-01T00:${String(Math.floor(i / 600) % 60).padStart(2, '0')}:${String(Math.floor(i / 10) % 60).padStart(2, '0')}Z`
    let line: string
    if (i % 50 === 0) line = `${time} debug  GET /api/v1/namespaces/${namespace}/secrets/${secret} 200: data.token=${pick(registered)}`
    else if (i % 200 === 1) line = `${time} debug  data:\n  token: ${Buffer.from(pick(registered)).toString('base64')}`
    else if (i % 500 === 2) line = `${time} debug  Authorization: Bearer ${pick(unregistered)}`
    else if (i % 3 === 0) line = `${time} [3/7] regenerate-tokens: Secret ${namespace}/${secret}: signed by key 7Yq0c-Zs9wFJ3n4m, which the cluster no longer trusts`
    else if (i % 3 === 1) line = `${time} pod ${namespace}/web-7d9f8b6c5-${suffix(random)} uid ${uidLike(random)} references Secret ${namespace}/${secret} (volume token)`
    else line = `${time} $ kubectl patch secret ${secret} -n ${namespace} --type=merge -p '{"data":{"token":null}}'`
    lines.push(line)
    bytes += line.length + 1
  }
  return lines
}

function uidLike(random: () => number): string {
  const hex = () => Math.floor(random() * 16).toString(16)
  return [8, 4, 4, 4, 12].map((length) => Array.from({ length }, hex).join('')).join('-')
}

// ---------------------------------------------------------------------------

export async function benchTokens(): Promise<string> {
  const fixture = await buildFixture()
  const { secrets, tokens, accounts, distinct, current } = fixture
  const keys = [
    ...loadPublicKeysFromPem(current.publicPem, 'sa.pub'),
    // A second trusted key, as a JWKS holds during a planned rotation; signed nothing here.
    ...loadPublicKeysFromPem(makeSigningKey('rsa').publicPem, 'sa-next.pub'),
  ]
  const raw = secrets.map((secret) => tokenOf(secret)).filter((token): token is string => token !== undefined)
  const rows: Row[] = []

  rows.push(await measure('tokenOf (Secret data.token, base64)', secrets.length, () => secrets.map((secret) => tokenOf(secret))))
  rows.push(await measure('decodeToken + describeToken', raw.length, () => raw.map((token) => describeToken(decodeToken(token)))))

  const decoded: DecodedToken[] = raw.map((token) => decodeToken(token))
  // One after another (the cost of one check), then 50 at a time as regenerate-tokens' assess step runs
  // them: jose verifies through WebCrypto, whose work runs on libuv's thread pool.
  let checks: SignatureCheck[] = []
  rows.push(await measure('verifySignature (2 keys, half unknown-key)', decoded.length, async () => {
    checks = []
    for (const token of decoded) checks.push(await verifySignature(token, keys))
    return checks
  }, { runs: 3, warmUp: false }))
  rows.push(await measure('  the same, mapLimit 50', decoded.length, () => mapLimit(decoded, 50, (token) => verifySignature(token, keys)), {
    runs: 3,
    warmUp: false,
  }))
  const verified = checks.filter((check) => check.result === 'verified').length
  const unknown = checks.filter((check) => check.result === 'unknown-key').length

  // The facts regenerate-tokens gathers per Secret, ready before the timed loop.
  const now = new Date('2026-06-01T00:00:00Z')
  let next = 0
  const facts: AssessmentFacts[] = tokens.map((token) => {
    const base = { token, accounts, allTokens: false, now }
    return token === undefined ? base : { ...base, signature: checks[next++] }
  })
  rows.push(await measure('assessSecret', secrets.length, () => secrets.map((secret, i) => assessSecret(secret, facts[i] as AssessmentFacts))))

  // Redactor: register re-sorts every form on each call, so it is measured at three sizes.
  for (const count of REGISTER_SIZES) {
    const batch = distinct.slice(0, count)
    rows.push(await measure(`Redactor.register x ${batch.length}`, batch.length, () => {
      const redactor = new Redactor()
      for (const token of batch) redactor.register(token)
      return redactor
    }, { runs: 3 }))
  }
  const registered = distinct.slice(0, REGISTERED_TOKENS)
  const redactor = new Redactor()
  for (const token of registered) redactor.register(token)
  const unregistered = distinct.slice(REGISTERED_TOKENS, REGISTERED_TOKENS + 50)
  const lines = buildLog(registered, unregistered.length > 0 ? unregistered : registered, seededRandom(2))
  const log = lines.join('\n')
  const mb = (text: string) => (text.length / 2 ** 20).toFixed(1)
  // One call over a whole document is what `--output json` does with its result.
  const fifth = lines.slice(0, Math.ceil(lines.length / 5))
  const smallLog = fifth.join('\n')
  rows.push(await measure(`Redactor.redact, one call (${mb(smallLog)} MB)`, fifth.length, () => redactor.redact(smallLog), { runs: 3 }))
  rows.push(await measure(`Redactor.redact, one call (${mb(log)} MB)`, lines.length, () => redactor.redact(log), { runs: 1, warmUp: false }))
  rows.push(await measure(`Redactor.redact, line by line (${mb(log)} MB)`, lines.length, () => lines.map((line) => redactor.redact(line)), { runs: 3, warmUp: false }))

  const notes = [
    ...fixture.notes,
    `verifySignature: ${verified} verified, ${unknown} unknown-key (no crypto: no key has its kid), ${checks.length - verified - unknown} other`,
    `Redactor: ${registered.length} tokens registered (4 forms each) for redact; n = log lines (${lines.length.toLocaleString('en-US')} in ${mb(log)} MB)`,
  ]
  return formatTable('tokens: 10,000 legacy token Secrets', rows, notes)
}

if (isMain(import.meta.url)) {
  process.stdout.write(`${environmentHeader()}\n\n${await benchTokens()}`)
}
