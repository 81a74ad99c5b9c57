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
 * Decides the status. The first rule that applies wins, in this order:
 *
 *  1. orphaned, 2. invalidated: facts about the Secret. They say *why* the API
 *     server rejects the token, and their fix must come first: a regenerated
 *     token is rejected too while the ServiceAccount is gone or the label is on.
 *  3. valid, when the API server accepts the token live: what the cluster does
 *     now is the truth about acceptance; where an offline check disagrees (our
 *     keys, our clock), the reason says so.
 *  4. bad-signature, 5. unknown-key: the token can never be accepted again.
 *     bad-signature first, because then none of its claims can be believed;
 *     unknown-key before expiry, because it is the cause this toolkit is about
 *     and an expiry is moot for a token no key will accept.
 *  6. expired, 7. not-yet-valid: readable without keys.
 *  8. rejected: the API server refuses a token we found nothing wrong with
 *     (and says so when the signature verified offline).
 *  9. valid on the signature alone, 10. unverified when nothing could be checked.
 */
export function classifyToken(input: TokenCheck, now: Date): Classification {
  const { description, secret } = input
  const live = liveVerdict(input)
  return (
    (secret && orphaned(description, secret)) ??
    (secret && invalidated(input, secret)) ??
    (live?.accepted ? acceptedLive(input, live, now) : undefined) ??
    signatureProblem(input) ??
    lifetimeProblem(description, now) ??
    (live ? rejectedLive(input, live) : undefined) ??
    (input.signature?.result === SignatureResult.verified ? validOffline(description, input.signature.kid, now) : undefined) ??
    unverified()
  )
}

// ---------------------------------------------------------------------------
// Live checks

interface LiveVerdict {
  readonly accepted: boolean
  /** How we know, to follow "accepts it" / "rejects it": "when presented (HTTP 401)", "through TokenReview". */
  readonly evidence: string
  readonly username?: string
  readonly apiError?: string
}

/**
 * One verdict from the live checks. Presenting the token is what a workload
 * does, so a conclusive bearer probe wins, then a SelfSubjectReview, then
 * TokenReview (the apiserver's opinion through another door).
 */
function liveVerdict({ bearerProbe, selfSubjectReview, tokenReview }: TokenCheck): LiveVerdict | undefined {
  const username = selfSubjectReview?.username ?? tokenReview?.username
  const apiError = tokenReview?.error ? printable(oneLine(tokenReview.error)) : undefined
  const withDetails = (verdict: LiveVerdict): LiveVerdict => ({
    ...verdict,
    ...(username ? { username: printable(username) } : {}),
    ...(apiError && !verdict.accepted ? { apiError } : {}),
  })
  const probed = bearerProbe ? probeVerdict(bearerProbe.httpStatus) : undefined
  if (probed !== undefined) return withDetails({ accepted: probed, evidence: `when presented (HTTP ${bearerProbe?.httpStatus})` })
  if (selfSubjectReview) return withDetails({ accepted: true, evidence: 'through SelfSubjectReview' })
  if (tokenReview) return withDetails({ accepted: tokenReview.authenticated, evidence: 'through TokenReview' })
  return undefined
}

/** 401: the token is bad. 2xx or 403: the token is good (403 only lacks RBAC). Anything else (429, 5xx) says nothing. */
function probeVerdict(httpStatus: number): boolean | undefined {
  if (httpStatus === 401) return false
  if (httpStatus === 403 || (httpStatus >= 200 && httpStatus < 300)) return true
  return undefined
}

function acceptedLive(input: TokenCheck, live: LiveVerdict, now: Date): Classification {
  const { description, signature } = input
  const accepted = `the API server accepts it ${live.evidence}${live.username ? ` as ${live.username}` : ''}`
  if (signature?.result === SignatureResult.unknownKey || signature?.result === SignatureResult.badSignature) {
    const offline = signature.result === SignatureResult.unknownKey ? `its key ${kidText(signature.kid)} is not among the keys checked here` : `key ${kidText(signature.kid)} checked here does not verify it`
    return valid(
      `Token is accepted: ${accepted}, but ${offline}, so those keys are not the ones the API server uses; ` +
        'fetch the keys from the same API server (/openid/v1/jwks) and, on a multi-server control plane, check that every API server runs with the same keys.',
    )
  }
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
