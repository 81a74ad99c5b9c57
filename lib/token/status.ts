// The classifier: from everything known about one token (what it says, the
// offline signature check, what the cluster answered, what its Secret looks
// like) to one status and one sentence that ends with the fix. Pure: the I/O
// layer gathers the facts and passes them in, with the time.
import type { TokenDescription } from './describe.ts'
import { TokenKind } from './describe.ts'
import { SignatureResult, type SignatureCheck } from './signature.ts'
import { oneLine, printable } from './text.ts'

export const TokenStatus = {
  /** Signed by a trusted key, within its lifetime and, when checked live, accepted by the API server. */
  valid: 'valid',
  /** Signed by a key the cluster no longer trusts: the signing key was regenerated. */
  unknownKey: 'unknown-key',
  /** A trusted key has its kid but does not verify it: forged or corrupted. */
  badSignature: 'bad-signature',
  expired: 'expired',
  /** nbf or iat lies in the future: clocks disagree. */
  notYetValid: 'not-yet-valid',
  /** Its Secret carries kubernetes.io/legacy-token-invalid-since: the apiserver's legacy-token clean-up disabled it. */
  invalidated: 'invalidated',
  /** Its ServiceAccount is gone or was re-created (UID mismatch): the tokens controller deletes such Secrets. */
  orphaned: 'orphaned',
  /** Signature fine (or unknown) but the API server rejects it: revoked, Secret's token replaced, bound object gone. */
  rejected: 'rejected',
  /** No keys and no live check: cannot tell. */
  unverified: 'unverified',
  /** The checks contradict each other (TokenReview vs presenting it, or the API server accepts what our keys do not verify): never a pass. */
  conflicting: 'conflicting',
} as const
export type TokenStatus = (typeof TokenStatus)[keyof typeof TokenStatus]

/** TokenReview (authentication.k8s.io/v1) status for the token; only when the review itself was allowed and answered. */
export interface TokenReviewFact {
  readonly authenticated: boolean
  readonly username?: string
  readonly error?: string
}

/** The token presented as a workload presents it: GET /api/v1/namespaces/<ns>/pods with `Authorization: Bearer`. */
export interface BearerProbeFact {
  readonly httpStatus: number
}

/** A SelfSubjectReview made with the token that succeeded (a 401 is reported as a bearer probe). */
export interface SelfSubjectReviewFact {
  readonly username: string
}

/** The legacy token Secret the token was read from. */
export interface SecretFacts {
  readonly namespace: string
  readonly name: string
  /** Value of the kubernetes.io/legacy-token-invalid-since label. */
  readonly invalidSince?: string
  /** Value of the kubernetes.io/legacy-token-last-used label. */
  readonly lastUsed?: string
  /** Whether the ServiceAccount the Secret is annotated with exists (undefined: not looked up). */
  readonly serviceAccountExists?: boolean
  /** Whether that ServiceAccount's UID matches the Secret's service-account.uid annotation. */
  readonly serviceAccountUidMatches?: boolean
}

export interface TokenCheck {
  readonly description: TokenDescription
  /** Undefined when no keys could be had; the same as { result: 'no-keys' }. */
  readonly signature: SignatureCheck | undefined
  readonly tokenReview?: TokenReviewFact
  readonly bearerProbe?: BearerProbeFact
  readonly selfSubjectReview?: SelfSubjectReviewFact
  readonly secret?: SecretFacts
}

export interface Classification {
  readonly status: TokenStatus
  /** One sentence: the problem, then the fix. */
  readonly reason: string
}

/** go-jose's DefaultLeeway, which the apiserver's exp/nbf/iat checks use. */
export const CLOCK_SKEW_LEEWAY_MS = 60_000

const INVALID_SINCE_LABEL = 'kubernetes.io/legacy-token-invalid-since'

/**
 * How the live checks combine, by TokenReview's answer (rows) and what
 * presenting the token got (columns: 2xx or a SelfSubjectReview that
 * answered, 403, 401, anything else or not tried). A 403 only says that
 * *something* refused the request: the API server for lack of RBAC after
 * authenticating the token, or a front proxy for any token. So a 403 is
 * acceptance only with corroboration: TokenReview says authenticated, or
 * (`forbidden`, resolved in DECISION_TABLE) TokenReview is unavailable and
 * the signature verifies. Checks that contradict each other are a
 * `conflict`, never a pass.
 */
export const LIVE_TABLE = {
  authenticated: { ok: 'accepted', forbidden: 'accepted', unauthorized: 'conflict', inconclusive: 'accepted' },
  unauthenticated: { ok: 'conflict', forbidden: 'conflict', unauthorized: 'rejected', inconclusive: 'rejected' },
  unavailable: { ok: 'accepted', forbidden: 'forbidden', unauthorized: 'rejected', inconclusive: 'none' },
} as const satisfies Record<ReviewEvidence, Record<PresentedEvidence, LiveOutcome>>

export type ReviewEvidence = 'authenticated' | 'unauthenticated' | 'unavailable'
export type PresentedEvidence = 'ok' | 'forbidden' | 'unauthorized' | 'inconclusive'
export type LiveOutcome = 'accepted' | 'rejected' | 'conflict' | 'forbidden' | 'none'
export type SignatureEvidence = 'verified' | 'unknown-key' | 'bad-signature' | 'no-keys'
export type LifetimeEvidence = 'ok' | 'expired' | 'not-yet-valid'
/** The statuses the table gives; `accepted-clock`: valid, but this machine's clock says otherwise. */
export type Verdict = TokenStatus | 'valid-offline' | 'accepted-clock'

export interface DecisionRow {
  readonly live: readonly LiveOutcome[]
  readonly signature: readonly SignatureEvidence[]
  readonly lifetime: readonly LifetimeEvidence[]
  readonly verdict: Verdict
}

const ALL_LIVE: readonly LiveOutcome[] = ['accepted', 'rejected', 'conflict', 'forbidden', 'none']
const ALL_SIGNATURES: readonly SignatureEvidence[] = ['verified', 'unknown-key', 'bad-signature', 'no-keys']
const ALL_LIFETIMES: readonly LifetimeEvidence[] = ['ok', 'expired', 'not-yet-valid']
const NOT_ACCEPTED: readonly LiveOutcome[] = ['rejected', 'forbidden', 'none']

/**
 * The decision, after the Secret facts (orphaned, then invalidated: they say
 * why the API server rejects the token, and their fix comes first). First
 * matching row wins; README.md "How verify-token decides" shows the same
 * table (a test keeps them equal).
 *
 *  - Live disagreement, or the API server accepting a token our keys do not
 *    verify: conflicting, never valid (a proxy that answers everything, or
 *    keys from another server).
 *  - Accepted live: valid. If our clock says expired, the API server's
 *    clock is the better witness (valid, with a clock warning).
 *  - Otherwise bad-signature, then unknown-key (no claim of a mis-signed
 *    token can be believed; an expiry is moot for a token no key accepts),
 *    then expired / not-yet-valid, then rejected when the API server refuses
 *    a token we found nothing wrong with, then valid on the signature alone,
 *    and unverified when nothing could be checked.
 */
export const DECISION_TABLE: readonly DecisionRow[] = [
  { live: ['conflict'], signature: ALL_SIGNATURES, lifetime: ALL_LIFETIMES, verdict: 'conflicting' },
  { live: ['accepted'], signature: ['unknown-key', 'bad-signature'], lifetime: ALL_LIFETIMES, verdict: 'conflicting' },
  { live: ['accepted'], signature: ['verified', 'no-keys'], lifetime: ['ok'], verdict: 'valid' },
  { live: ['accepted'], signature: ['verified', 'no-keys'], lifetime: ['expired', 'not-yet-valid'], verdict: 'accepted-clock' },
  { live: ['forbidden'], signature: ['verified'], lifetime: ['ok'], verdict: 'valid' },
  { live: NOT_ACCEPTED, signature: ['bad-signature'], lifetime: ALL_LIFETIMES, verdict: 'bad-signature' },
  { live: NOT_ACCEPTED, signature: ['unknown-key'], lifetime: ALL_LIFETIMES, verdict: 'unknown-key' },
  { live: NOT_ACCEPTED, signature: ['verified', 'no-keys'], lifetime: ['expired'], verdict: 'expired' },
  { live: NOT_ACCEPTED, signature: ['verified', 'no-keys'], lifetime: ['not-yet-valid'], verdict: 'not-yet-valid' },
  { live: ['rejected'], signature: ['verified', 'no-keys'], lifetime: ['ok'], verdict: 'rejected' },
  { live: ['forbidden', 'none'], signature: ['verified'], lifetime: ['ok'], verdict: 'valid-offline' },
  { live: ['forbidden', 'none'], signature: ['no-keys'], lifetime: ['ok'], verdict: 'unverified' },
]

/** The row for one combination; the table is total (a test checks every combination). */
export function decide(live: LiveOutcome, signature: SignatureEvidence, lifetime: LifetimeEvidence): DecisionRow {
  const row = DECISION_TABLE.find((r) => r.live.includes(live) && r.signature.includes(signature) && r.lifetime.includes(lifetime))
  if (!row) throw new Error(`DECISION_TABLE has no row for ${live}/${signature}/${lifetime}`)
  return row
}

const VERDICT_LABELS: Partial<Record<Verdict, string>> = { 'accepted-clock': 'valid (warns: check this clock)', 'valid-offline': 'valid (not checked live)' }

/** The decision table as Markdown, for README.md. */
export function decisionTableMarkdown(): string {
  const cell = (values: readonly string[], all: readonly string[]) => (values.length === all.length ? 'any' : values.join(', '))
  const liveRows = (Object.keys(LIVE_TABLE) as ReviewEvidence[]).map(
    (review) => `| ${review} | ${(['ok', 'forbidden', 'unauthorized', 'inconclusive'] as const).map((presented) => LIVE_TABLE[review][presented]).join(' | ')} |`,
  )
  return [
    '| TokenReview | presented: 2xx | 403 | 401 | other / none |',
    '|---|---|---|---|---|',
    ...liveRows,
    '',
    '| live | signature | lifetime | status |',
    '|---|---|---|---|',
    ...DECISION_TABLE.map((row) => `| ${cell(row.live, ALL_LIVE)} | ${cell(row.signature, ALL_SIGNATURES)} | ${cell(row.lifetime, ALL_LIFETIMES)} | ${VERDICT_LABELS[row.verdict] ?? row.verdict} |`),
  ].join('\n')
}

export function classifyToken(input: TokenCheck, now: Date): Classification {
  const { description, secret } = input
  const secretProblem = (secret && orphaned(description, secret)) ?? (secret && invalidated(input, secret))
  if (secretProblem) return secretProblem
  const live = liveEvidence(input)
  const lifetime = lifetimeProblem(description, now)
  const { verdict } = decide(live.outcome, signatureEvidence(input.signature), lifetimeOf(lifetime))
  switch (verdict) {
    case 'conflicting':
      return conflicting(input, live)
    case TokenStatus.valid:
    case 'accepted-clock':
      return acceptedLive(input, live, now)
    case TokenStatus.badSignature:
    case TokenStatus.unknownKey:
      return withForbiddenNote(signatureProblem(input) ?? unverified(), live)
    case TokenStatus.expired:
    case TokenStatus.notYetValid:
      return lifetime ?? unverified()
    case TokenStatus.rejected:
      return rejectedLive(input, live)
    case 'valid-offline':
      return input.signature?.result === SignatureResult.verified ? validOffline(description, input.signature.kid, now) : unverified()
    default:
      return withForbiddenNote(unverified(), live)
  }
}

function signatureEvidence(signature: SignatureCheck | undefined): SignatureEvidence {
  return signature?.result ?? SignatureResult.noKeys
}

function lifetimeOf(problem: Classification | undefined): LifetimeEvidence {
  if (problem?.status === TokenStatus.expired) return 'expired'
  return problem?.status === TokenStatus.notYetValid ? 'not-yet-valid' : 'ok'
}

// ---------------------------------------------------------------------------
// Live checks

interface LiveVerdict {
  readonly outcome: LiveOutcome
  /** How we know, to follow "accepts it" / "rejects it": "when presented (HTTP 401)", "through TokenReview". */
  readonly evidence: string
  readonly username?: string
  readonly apiError?: string
}

function liveEvidence({ bearerProbe, selfSubjectReview, tokenReview }: TokenCheck): LiveVerdict {
  const review: ReviewEvidence = tokenReview === undefined ? 'unavailable' : tokenReview.authenticated ? 'authenticated' : 'unauthenticated'
  const probed = bearerProbe ? presentedEvidence(bearerProbe.httpStatus) : 'inconclusive'
  // Two presentations of the same token, one answered and one refused with 401: they disagree.
  const presentedConflict = selfSubjectReview !== undefined && probed === 'unauthorized'
  const presented: PresentedEvidence = selfSubjectReview !== undefined && probed !== 'unauthorized' ? 'ok' : probed
  const outcome: LiveOutcome = presentedConflict ? 'conflict' : LIVE_TABLE[review][presented]
  const pieces = [
    ...(bearerProbe ? [`when presented (HTTP ${bearerProbe.httpStatus})`] : []),
    ...(selfSubjectReview ? ['through SelfSubjectReview'] : []),
    ...(tokenReview ? [`through TokenReview (${tokenReview.authenticated ? 'authenticated' : 'not authenticated'})`] : []),
  ]
  const username = selfSubjectReview?.username ?? tokenReview?.username
  const apiError = tokenReview?.error ? printable(oneLine(tokenReview.error)) : undefined
  return {
    outcome,
    evidence: evidenceText(outcome, review, presented, bearerProbe?.httpStatus, selfSubjectReview !== undefined, pieces),
    ...(username ? { username: printable(username) } : {}),
    ...(apiError && outcome !== 'accepted' ? { apiError } : {}),
  }
}

/** The check that decided, in the words the reasons use; every check made when none decided alone. */
function evidenceText(outcome: LiveOutcome, review: ReviewEvidence, presented: PresentedEvidence, httpStatus: number | undefined, ssr: boolean, all: string[]): string {
  const whenPresented = `when presented (HTTP ${httpStatus})`
  if (outcome === 'accepted') return review === 'authenticated' ? 'through TokenReview' : ssr ? 'through SelfSubjectReview' : whenPresented
  if (outcome === 'rejected') return presented === 'unauthorized' ? whenPresented : 'through TokenReview'
  return all.join(' and ')
}

/** 401: refused. 2xx: accepted. 403: refused by something, maybe only RBAC. Anything else (429, 5xx) says nothing. */
function presentedEvidence(httpStatus: number): PresentedEvidence {
  if (httpStatus === 401) return 'unauthorized'
  if (httpStatus === 403) return 'forbidden'
  return httpStatus >= 200 && httpStatus < 300 ? 'ok' : 'inconclusive'
}

function conflicting(input: TokenCheck, live: LiveVerdict): Classification {
  const { signature } = input
  if (live.outcome === 'accepted' && (signature?.result === SignatureResult.unknownKey || signature?.result === SignatureResult.badSignature)) {
    const offline = signature.result === SignatureResult.unknownKey ? `its key ${kidText(signature.kid)} is not among the keys checked here` : `key ${kidText(signature.kid)} checked here does not verify it`
    return {
      status: TokenStatus.conflicting,
      reason:
        `The API server accepts the token ${live.evidence}, but ${offline}, so either those keys are not the ones the API server uses or something other than the API server answered; ` +
        'fetch the keys from the same API server (/openid/v1/jwks), check that every API server runs with the same keys, and that no proxy answers in its place.',
    }
  }
  return {
    status: TokenStatus.conflicting,
    reason:
      `The live checks disagree (${live.evidence}${live.apiError ? `, "${live.apiError}"` : ''}), so the token cannot be judged; ` +
      'check that the kubeconfig reaches the API server itself and not a proxy that answers for it, then check again.',
  }
}

/** A 403 that was not counted as acceptance, said where the status would otherwise leave it unexplained. */
function withForbiddenNote(classification: Classification, live: LiveVerdict): Classification {
  if (live.outcome !== 'forbidden' || classification.status === TokenStatus.valid) return classification
  return { ...classification, reason: `${classification.reason.replace(/\.$/, '')} (HTTP 403 when presented is not taken as acceptance without a verified signature or TokenReview).` }
}

function acceptedLive(input: TokenCheck, live: LiveVerdict, now: Date): Classification {
  const { description, signature } = input
  const accepted = `the API server accepts it ${live.evidence}${live.username ? ` as ${live.username}` : ''}`
  const clockProblem = lifetimeProblem(description, now)
  if (clockProblem) {
    const state = clockProblem.status === TokenStatus.expired ? 'it has expired' : 'it is not valid yet'
    return valid(`Token is accepted: ${accepted}, although by this machine's clock ${state}; check this machine's clock (NTP).`)
  }
  const checkedOffline = signature?.result === SignatureResult.verified ? `signed by trusted key ${kidText(signature.kid)}, ` : ''
  return validWithLifetime(description, `${checkedOffline}${lifetimeText(description)}, and ${accepted}`, now)
}

function rejectedLive(input: TokenCheck, live: LiveVerdict): Classification {
  const { description, signature } = input
  const apiSays = `${live.evidence}${live.apiError ? ` ("${live.apiError}")` : ''}`
  if (signature?.result === SignatureResult.verified) {
    return {
      status: TokenStatus.rejected,
      reason:
        `Token signature verifies against trusted key ${kidText(signature.kid)}, yet the API server rejects it ${apiSays}, ` +
        `so it was revoked rather than mis-signed: ${revokedCause(description)}; ${newTokenFix(description)}.`,
    }
  }
  return {
    status: TokenStatus.rejected,
    reason: `The API server rejects the token ${apiSays} and no verification keys were available to tell why; ${newTokenFix(description)}.`,
  }
}

/** What revokes a well-signed token of this kind (apiserver --service-account-lookup). */
function revokedCause(description: TokenDescription): string {
  if (description.kind === TokenKind.legacy) return `its Secret${objectText(description, description.boundTo?.name)} was deleted or now holds another token, or its ServiceAccount was re-created`
  if (description.boundTo) return `the ${description.boundTo.kind}${objectText(description, description.boundTo.name)} it is bound to is gone, or its ServiceAccount was re-created`
  return 'its ServiceAccount was deleted or re-created, or the issuer or audience is not accepted'
}

// ---------------------------------------------------------------------------
// Secret facts

function orphaned(description: TokenDescription, secret: SecretFacts): Classification | undefined {
  const serviceAccount = `ServiceAccount ${description.namespace ?? secret.namespace}/${description.serviceAccount?.name ?? '<unknown>'}`
  const secretName = `${secret.namespace}/${secret.name}`
  if (secret.serviceAccountExists === false) {
    return {
      status: TokenStatus.orphaned,
      reason:
        `${serviceAccount} no longer exists, so the API server rejects this token and the tokens controller will delete Secret ${secretName}; ` +
        're-create the ServiceAccount and run regenerate-tokens, or delete the Secret if nothing uses it.',
    }
  }
  if (secret.serviceAccountUidMatches === false) {
    return {
      status: TokenStatus.orphaned,
      reason:
        `${serviceAccount} was re-created after Secret ${secretName} was issued (its UID no longer matches), so the API server rejects this token ` +
        'and the tokens controller will delete the Secret; run regenerate-tokens to issue a token for the current ServiceAccount.',
    }
  }
  return undefined
}

function invalidated(input: TokenCheck, secret: SecretFacts): Classification | undefined {
  if (secret.invalidSince === undefined) return undefined
  const lastUsed = secret.lastUsed ? `last used ${printable(secret.lastUsed)}` : 'no recorded use'
  const removeLabel = `kubectl label secret -n ${secret.namespace} ${secret.name} ${INVALID_SINCE_LABEL}-`
  // Removing the label brings the old token back; if that token is untrusted anyway, it needs replacing too.
  const alsoReplace = signatureProblem(input) ? ', then run regenerate-tokens, because its token is not signed by a trusted key either' : ''
  return {
    status: TokenStatus.invalidated,
    reason:
      `Secret ${secret.namespace}/${secret.name} is labelled ${INVALID_SINCE_LABEL}=${printable(secret.invalidSince)} (unused legacy token, ${lastUsed}), ` +
      `so the API server rejects its token; if something still uses it, remove the label (${removeLabel})${alsoReplace}.`,
  }
}

// ---------------------------------------------------------------------------
// Offline facts

function signatureProblem({ description, signature }: TokenCheck): Classification | undefined {
  if (signature?.result === SignatureResult.badSignature) {
    const problem = signature.detail
      ? `that key cannot be used to verify it (${signature.detail}), so its signature is unproven; check it with a TokenReview, or`
      : 'that key does not verify its signature, so it is forged or corrupted; do not use it, and'
    return {
      status: TokenStatus.badSignature,
      reason: `Token carries the ID of trusted key ${kidText(signature.kid)} but ${problem} ${newTokenFix(description)}.`,
    }
  }
  if (signature?.result === SignatureResult.unknownKey) {
    const signedBy =
      signature.kid === undefined
        ? 'Token has no key ID and none of the trusted keys verifies it, so it was signed by a key which'
        : `Token was signed by key ${kidText(signature.kid)} which`
    return {
      status: TokenStatus.unknownKey,
      reason: `${signedBy} the cluster no longer trusts (its signing key was regenerated); ${newTokenFix(description)}.`,
    }
  }
  return undefined
}

/** exp, nbf and iat against `now`, with the apiserver's leeway. */
function lifetimeProblem(description: TokenDescription, now: Date): Classification | undefined {
  const time = now.getTime()
  if (description.expiresAt !== undefined && time > Date.parse(description.expiresAt) + CLOCK_SKEW_LEEWAY_MS) {
    return { status: TokenStatus.expired, reason: `Token expired at ${description.expiresAt}; ${newTokenFix(description)}.` }
  }
  const startsAt = [description.notBefore, description.issuedAt].find((date) => date !== undefined && time + CLOCK_SKEW_LEEWAY_MS < Date.parse(date))
  if (startsAt !== undefined) {
    return {
      status: TokenStatus.notYetValid,
      reason: `Token is not valid before ${startsAt}, so it was issued by a clock ahead of this machine's; fix the clock skew between this machine, the nodes and the control plane (NTP), then check again.`,
    }
  }
  return undefined
}

function validOffline(description: TokenDescription, kid: string, now: Date): Classification {
  return validWithLifetime(description, `signed by trusted key ${kidText(kid)}, ${lifetimeText(description)}, not checked live`, now)
}

/** A valid token past warnafter has not been refreshed: the kubelet refreshes well before it. */
function validWithLifetime(description: TokenDescription, facts: string, now: Date): Classification {
  const warnAfter = description.warnAfter
  if (warnAfter !== undefined && now.getTime() > Date.parse(warnAfter)) {
    return valid(
      `Token is valid: ${facts}, but it is past its refresh time (warnafter ${warnAfter}), so whatever holds it has stopped refreshing it ` +
        `and it lives on only through the apiserver's extended expiration; ${newTokenFix(description)}.`,
    )
  }
  return valid(`Token is valid: ${facts}; nothing to do.`)
}

function unverified(): Classification {
  return {
    status: TokenStatus.unverified,
    reason: 'No verification keys and no live check were available, so the token cannot be judged; give the check the cluster\'s public keys (/openid/v1/jwks or sa.pub) or permission to create TokenReviews.',
  }
}

// ---------------------------------------------------------------------------
// Wording

/** How to get a new token, by kind: the tail of most reasons. */
function newTokenFix(description: TokenDescription): string {
  const namespace = description.namespace ?? '<namespace>'
  const serviceAccount = description.serviceAccount?.name ?? '<serviceaccount>'
  const { boundTo } = description
  if (description.kind === TokenKind.legacy) return 'run regenerate-tokens to issue a new token'
  if (description.kind === TokenKind.unknown) return 'replace it with a token issued by this cluster'
  if (boundTo?.kind === 'Pod') return `run restart-dependent-pods to restart pod ${namespace}/${boundTo.name}, so the kubelet issues it a new token`
  if (boundTo?.kind === 'Secret') {
    return `request a new token bound to Secret ${namespace}/${boundTo.name} (kubectl create token ${serviceAccount} -n ${namespace} --bound-object-kind Secret --bound-object-name ${boundTo.name})`
  }
  return `restart whatever requested it (kubectl create token ${serviceAccount} -n ${namespace} issues a new one)`
}

function lifetimeText(description: TokenDescription): string {
  return description.expiresAt === undefined ? 'never expires' : `expires ${description.expiresAt}`
}

function objectText(description: TokenDescription, name: string | undefined): string {
  return name === undefined ? '' : ` ${description.namespace ?? '<namespace>'}/${name}`
}

/** kids come from the token header, so they are the attacker's text. */
function kidText(kid: string | undefined): string {
  return kid === undefined ? '<no kid>' : printable(kid, 64)
}

function valid(reason: string): Classification {
  return { status: TokenStatus.valid, reason }
}
