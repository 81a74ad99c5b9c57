// Regenerate and prove: the one way a runbook gets new tokens into token
// Secrets (regenerate-tokens for any Secret, fix-calico for the CNI
// account's). Each Secret is backed up right before it changes, changed with
// the strategy's guarded write, and the tokens controller's refills are
// awaited with one watch. The proof is the same everywhere: the new token is
// signed by a current key and authenticates, and the old one is rejected.
import type { V1Secret } from '@kubernetes/client-node'
import type { SavedCopy } from '../backup.ts'
import { mapLimit } from '../concurrency.ts'
import type { Kube } from '../kube/clients.ts'
import { withApiErrors } from '../kube/errors.ts'
import { serverTime } from '../kube/raw.ts'
import { reviewSettled, reviewToken } from '../kube/token-checks.ts'
import { secretKey, tokenOf } from '../kube/token-secrets.ts'
import { waitForTokenRefills } from '../kube/wait-secrets.ts'
import type { Scope } from '../secrets.ts'
import { decodeToken } from '../token/decode.ts'
import type { VerificationKey } from '../token/keys.ts'
import { verifySignature } from '../token/signature.ts'
import { createTicker, type Ticker } from '../wait.ts'
import type { Output } from '../output.ts'
import type { Redactor } from '../redact.ts'
import type { Backup } from '../backup.ts'
import type { Applied } from '../engine/types.ts'
import { regenerate, sealAgain, type RegenerateOutcome, type Strategy } from './apply.ts'

export interface RegenerateOptions {
  readonly strategy: Strategy
  readonly maxParallel: number
  readonly timeoutMs: number
  /** Backs up one Secret (a version already on disk is not written again). */
  readonly save: (secret: V1Secret) => Promise<SavedCopy>
  /** Falls back to this clock if the API server's Date header is missing. */
  readonly clock: () => Date
  /** Progress of the refill wait; the caller ends it. */
  readonly ticker: Ticker
}

export interface Regenerated {
  /** Per `namespace/name`: what the write did (`gone`: deleted meanwhile, reported and not awaited). */
  readonly outcomes: Map<string, RegenerateOutcome>
  /** Per `namespace/name`: the new token the controller wrote. */
  readonly refilled: Map<string, string>
}

/** What a regeneration step brings from its run: where progress goes, what backs up, what hides the new tokens. */
export interface RegenerateRun {
  readonly output: Output
  readonly redactor: Redactor
  readonly backup: Backup
  readonly now: () => Date
  readonly strategy: Strategy
  readonly maxParallel: number
  readonly timeoutSeconds: number
}

/**
 * A regeneration step's apply (regenerate-tokens, fix-calico): regenerate
 * and wait with progress on the run's output, every new token registered
 * with the redactor before anything prints it.
 */
export async function regenerateStep(kube: Kube, secrets: readonly V1Secret[], run: RegenerateRun): Promise<Applied<Regenerated>> {
  const ticker = createTicker({ output: run.output, what: 'the tokens controller to refill the Secrets', timeoutMs: run.timeoutSeconds * 1000 })
  let done: Regenerated
  try {
    done = await regenerateAndWait(kube, secrets, {
      strategy: run.strategy,
      maxParallel: run.maxParallel,
      timeoutMs: run.timeoutSeconds * 1000,
      save: (s) => run.backup.save('Secret', s),
      clock: run.now,
      ticker,
    })
  } finally {
    ticker.done()
  }
  for (const token of done.refilled.values()) run.redactor.register(token)
  return { summary: `${done.refilled.size} Secret(s) hold a new token`, result: done, details: { outcomes: Object.fromEntries(done.outcomes) } }
}

/**
 * Changes every Secret (bounded), then waits for the tokens controller to
 * refill each one still there. Records into `into` as it goes, so a run that
 * fails halfway still reports what it changed.
 */
export async function regenerateAndWait(
  kube: Kube,
  secrets: readonly V1Secret[],
  opts: RegenerateOptions,
  into: Regenerated = { outcomes: new Map(), refilled: new Map() },
): Promise<Regenerated> {
  // Stamped as regenerated-at and compared with pod start times: the cluster's clock, not ours.
  const now = await withApiErrors(kube.kc, () => serverTime(kube.kc, opts.clock))
  const { outcomes } = into
  await mapLimit(secrets, opts.maxParallel, async (secret) => {
    if (!tokenOf(secret)) return // empty: the controller fills it anyway; nothing to change
    const saved = await opts.save(secret)
    outcomes.set(secretKey(secret), await withApiErrors(kube.kc, () => regenerate(kube, secret, opts.strategy, now, saved)))
  })
  const targets = new Set(secrets.map(secretKey).filter((key) => outcomes.get(key) !== 'gone'))
  const refilled = await withApiErrors(kube.kc, () => waitForTokenRefills(kube, targets, { scope: refillScope(secrets), timeoutMs: opts.timeoutMs, ticker: opts.ticker }))
  for (const [key, token] of refilled) into.refilled.set(key, token)
  // A re-created Secret was left mutable so the controller could write its token: seal again what was sealed.
  const recreated = secrets.filter((s) => outcomes.get(secretKey(s)) === 'recreated' && refilled.has(secretKey(s)))
  await mapLimit(recreated, opts.maxParallel, (secret) => withApiErrors(kube.kc, () => sealAgain(kube, secret)))
  return into
}

/** Watch one namespace when every Secret is in it, else the whole cluster. */
function refillScope(secrets: readonly V1Secret[]): Scope {
  const namespaces = new Set(secrets.map((s) => s.metadata?.namespace ?? ''))
  return namespaces.size === 1 ? { all: false, namespace: [...namespaces][0]! } : { all: true }
}

/** What is wrong with one Secret after the regeneration, or undefined when it is proven. */
export async function proveRegenerated(kube: Kube, keys: readonly VerificationKey[], secret: V1Secret, done: Regenerated): Promise<string | undefined> {
  const key = secretKey(secret)
  if (done.outcomes.get(key) === 'gone') return undefined
  const fresh = done.refilled.get(key)
  if (!fresh) return `${key}: no new token`
  const signature = await verifySignature(decodeToken(fresh), keys)
  if (signature.result !== 'verified') return `${key}: the new token is not signed by a current key (${signature.result})`
  const review = await reviewSettled(() => reviewToken(kube, fresh), true)
  if (!review.authenticated) return `${key}: TokenReview does not authenticate the new token (${review.error ?? 'no reason given'})`
  // Signed by the same (current) key, a legacy token comes out byte-identical: nothing old to reject.
  const previous = tokenOf(secret)
  if (previous && previous !== fresh && (await reviewSettled(() => reviewToken(kube, previous), false)).authenticated) return `${key}: the previous token is still accepted`
  return undefined
}

/** The proof over every regenerated Secret: its problems, one line each (empty: all proven). */
export async function proveAll(kube: Kube, keys: readonly VerificationKey[], secrets: readonly V1Secret[], done: Regenerated, maxParallel: number): Promise<string[]> {
  const problems = await mapLimit(secrets, maxParallel, (secret) => withApiErrors(kube.kc, () => proveRegenerated(kube, keys, secret, done)))
  return problems.filter((p): p is string => p !== undefined)
}
