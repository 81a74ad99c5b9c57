// Which token Secrets need a new token, decided from facts gathered elsewhere
// (pure, so it is table-tested). By default only Secrets whose token does not
// verify against the cluster's current keys; --all-tokens takes every one.
// Secrets whose ServiceAccount is gone or was re-created are reported and
// left alone: the tokens controller deletes them, and a new token for a
// missing identity helps nobody.
import type { V1Secret } from '@kubernetes/client-node'
import type { SignatureCheck } from '../token/signature.ts'
import { SA_NAME_ANNOTATION, SA_UID_ANNOTATION, secretKey } from '../secrets.ts'

export const Verdict = {
  /** Holds a token signed by a current key, still within its lifetime. */
  current: 'current',
  /** Needs a new token: signed by an untrusted key, bad signature, malformed, expired, or forced. */
  stale: 'stale',
  /** Empty: the controller should fill it; we wait for it like for a regenerated one. */
  empty: 'empty',
  /** Its ServiceAccount is missing or has another UID: reported, not touched. */
  orphaned: 'orphaned',
} as const
export type Verdict = (typeof Verdict)[keyof typeof Verdict]

export interface SecretAssessment {
  key: string
  serviceAccount: string
  verdict: Verdict
  /** Why, in words, e.g. "signed by key abc, which the cluster no longer trusts". */
  why: string
}

export interface AssessmentFacts {
  token: string | undefined
  /** Undefined when the token did not decode; `decodeError` says why. */
  signature?: SignatureCheck
  decodeError?: string
  expiresAt?: string
  /** ServiceAccount UIDs by namespace/name. */
  accounts: ReadonlyMap<string, string>
  allTokens: boolean
  now: Date
}

export function assessSecret(secret: V1Secret, facts: AssessmentFacts): SecretAssessment {
  const key = secretKey(secret)
  const namespace = secret.metadata?.namespace ?? ''
  const annotations = secret.metadata?.annotations ?? {}
  const serviceAccount = annotations[SA_NAME_ANNOTATION] ?? ''
  const base = { key, serviceAccount }
  const liveUid = facts.accounts.get(`${namespace}/${serviceAccount}`)
  if (!serviceAccount || liveUid === undefined) {
    return { ...base, verdict: Verdict.orphaned, why: `ServiceAccount ${namespace}/${serviceAccount || '(none)'} does not exist` }
  }
  const expectedUid = annotations[SA_UID_ANNOTATION]
  if (expectedUid && expectedUid !== liveUid) {
    return { ...base, verdict: Verdict.orphaned, why: `ServiceAccount ${namespace}/${serviceAccount} was re-created (UID ${liveUid}, Secret names ${expectedUid})` }
  }
  if (!facts.token) return { ...base, verdict: Verdict.empty, why: 'holds no token yet' }
  if (facts.decodeError) return { ...base, verdict: Verdict.stale, why: `holds no usable token: ${facts.decodeError}` }
  const problem = signatureProblem(facts.signature) ?? expiryProblem(facts.expiresAt, facts.now)
  if (problem) return { ...base, verdict: Verdict.stale, why: problem }
  if (facts.allTokens) return { ...base, verdict: Verdict.stale, why: 'valid, regenerated because of --all-tokens' }
  return { ...base, verdict: Verdict.current, why: `signed by current key ${facts.signature?.result === 'verified' ? facts.signature.kid : ''}`.trim() }
}

function signatureProblem(signature: SignatureCheck | undefined): string | undefined {
  switch (signature?.result) {
    case 'verified':
      return undefined
    case 'unknown-key':
      return `signed by key ${signature.kid ?? '(no kid)'}, which the cluster no longer trusts`
    case 'bad-signature':
      return `its signature does not verify with key ${signature.kid}`
    case 'no-keys':
    case undefined:
      return 'no verification keys to check it with'
  }
}

function expiryProblem(expiresAt: string | undefined, now: Date): string | undefined {
  return expiresAt && Date.parse(expiresAt) <= now.getTime() ? `expired at ${expiresAt}` : undefined
}

/** "3 stale in 2 namespaces, 1 empty, 1 orphaned (not touched), 9 current" */
export function summarizeAssessments(assessments: readonly SecretAssessment[]): string {
  const by = (v: Verdict) => assessments.filter((a) => a.verdict === v)
  const stale = by(Verdict.stale)
  const namespaces = new Set(stale.map((a) => a.key.split('/')[0]))
  const parts = [
    `${stale.length} stale${stale.length ? ` in ${namespaces.size} namespace${namespaces.size === 1 ? '' : 's'}` : ''}`,
    by(Verdict.empty).length ? `${by(Verdict.empty).length} empty` : '',
    by(Verdict.orphaned).length ? `${by(Verdict.orphaned).length} orphaned (not touched)` : '',
    `${by(Verdict.current).length} current`,
  ]
  return `${assessments.length} token Secret(s): ${parts.filter(Boolean).join(', ')}`
}
