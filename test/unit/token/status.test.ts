import { readFile } from 'node:fs/promises'
import { describe, expect, it } from 'vitest'
import type { TokenDescription } from '../../../lib/token/describe.ts'
import type { SignatureCheck } from '../../../lib/token/signature.ts'
import { classifyToken, decide, decisionTableMarkdown, LIVE_TABLE, TokenStatus, type SecretFacts, type TokenCheck } from '../../../lib/token/status.ts'

const NOW = new Date('2026-06-01T12:00:00Z')
const OLD_KID = 'old-kid-AAAA'
const NEW_KID = 'new-kid-BBBB'

// Small builders: plain descriptions, as describeToken would return them.
function legacyToken(overrides: Partial<TokenDescription> = {}): TokenDescription {
  return {
    kind: 'legacy',
    issuer: 'kubernetes/serviceaccount',
    subject: 'system:serviceaccount:kube-system:calico-node',
    namespace: 'kube-system',
    serviceAccount: { name: 'calico-node', uid: 'sa-uid-1' },
    boundTo: { kind: 'Secret', name: 'calico-node-token-x7k2p' },
    audiences: [],
    kid: NEW_KID,
    alg: 'RS256',
    fingerprint: 'sha256:0123456789ab',
    ...overrides,
  }
}

function boundToken(overrides: Partial<TokenDescription> = {}): TokenDescription {
  return {
    ...legacyToken(),
    kind: 'bound',
    issuer: 'https://kubernetes.default.svc.cluster.local',
    boundTo: { kind: 'Pod', name: 'calico-node-abcde', uid: 'pod-uid-1' },
    audiences: ['https://kubernetes.default.svc.cluster.local'],
    issuedAt: '2026-06-01T11:30:00.000Z',
    notBefore: '2026-06-01T11:30:00.000Z',
    warnAfter: '2026-06-01T12:30:07.000Z',
    expiresAt: '2027-06-01T11:30:00.000Z',
    ...overrides,
  }
}

const verified: SignatureCheck = { result: 'verified', kid: NEW_KID, source: '/openid/v1/jwks' }
const unknownKey: SignatureCheck = { result: 'unknown-key', kid: OLD_KID }
const badSignature: SignatureCheck = { result: 'bad-signature', kid: NEW_KID }
const noKeys: SignatureCheck = { result: 'no-keys' }
const secret: SecretFacts = { namespace: 'kube-system', name: 'calico-node-token-x7k2p', serviceAccountExists: true, serviceAccountUidMatches: true }
const authenticated = { authenticated: true, username: 'system:serviceaccount:kube-system:calico-node' }
const unauthorized = { httpStatus: 401 }

type Row = [name: string, check: TokenCheck, status: TokenStatus, reason: RegExp]

const notAuthenticated = { authenticated: false }
const forbidden = { httpStatus: 403 }
const ok = { httpStatus: 200 }
const expiredBound = boundToken({ expiresAt: '2026-05-01T00:00:00.000Z' })

const rows: Row[] = [
  // conflicting: never valid (review 2026-11-30, item 8)
  ['a verified token TokenReview refuses but presenting gets 403 (a proxy?)', { description: legacyToken(), signature: verified, tokenReview: notAuthenticated, bearerProbe: forbidden }, 'conflicting', /^The live checks disagree \(when presented \(HTTP 403\) and through TokenReview \(not authenticated\)\).*not a proxy that answers for it, then check again\.$/],
  ['a token TokenReview refuses but presenting gets 200', { description: legacyToken(), signature: verified, tokenReview: notAuthenticated, bearerProbe: ok }, 'conflicting', /live checks disagree/],
  ['a token TokenReview authenticates but presenting gets 401', { description: legacyToken(), signature: verified, tokenReview: authenticated, bearerProbe: unauthorized }, 'conflicting', /live checks disagree/],
  ['a token SelfSubjectReview answers but presenting gets 401', { description: legacyToken(), signature: verified, selfSubjectReview: { username: 'u' }, bearerProbe: unauthorized }, 'conflicting', /live checks disagree/],
  ['a token the API server accepts (200) but our keys do not know', { description: legacyToken({ kid: OLD_KID }), signature: unknownKey, bearerProbe: ok }, 'conflicting', /^The API server accepts the token when presented \(HTTP 200\), but its key old-kid-AAAA is not among the keys checked here.*fetch the keys from the same API server/],
  ['a token TokenReview authenticates but our key for its kid does not verify', { description: legacyToken(), signature: badSignature, tokenReview: authenticated }, 'conflicting', /through TokenReview, but key new-kid-BBBB checked here does not verify it, .*no proxy answers in its place\.$/],
  // a 403 alone is not acceptance
  ['a bad signature answered 403 (review repro: a proxy made it "valid")', { description: legacyToken(), signature: badSignature, bearerProbe: forbidden }, 'bad-signature', /HTTP 403 when presented is not taken as acceptance without a verified signature or TokenReview\)\.$/],
  ['an unknown key answered 403', { description: legacyToken({ kid: OLD_KID }), signature: unknownKey, bearerProbe: forbidden }, 'unknown-key', /no longer trusts.*not taken as acceptance/],
  ['no keys, answered 403', { description: legacyToken(), signature: noKeys, bearerProbe: forbidden }, 'unverified', /cannot be judged.*not taken as acceptance/],
  ['a verified token answered 403 that our clock says expired', { description: expiredBound, signature: verified, bearerProbe: forbidden }, 'expired', /^Token expired at 2026-05-01/],
  ['a verified token TokenReview authenticates, answered 403 (RBAC)', { description: legacyToken(), signature: verified, tokenReview: authenticated, bearerProbe: forbidden }, 'valid', /accepts it through TokenReview as system:serviceaccount/],
  ['no keys, TokenReview authenticates', { description: legacyToken(), signature: noKeys, tokenReview: authenticated }, 'valid', /never expires, and the API server accepts it through TokenReview/],

  // valid
  ['a verified legacy token, no live check', { description: legacyToken(), signature: verified }, 'valid', /^Token is valid: signed by trusted key new-kid-BBBB, never expires, not checked live; nothing to do\.$/],
  ['a verified token TokenReview authenticates', { description: legacyToken(), signature: verified, tokenReview: authenticated }, 'valid', /never expires, and the API server accepts it through TokenReview as system:serviceaccount:kube-system:calico-node; nothing to do\.$/],
  ['a verified token answered 403 (no RBAC, but authenticated)', { description: boundToken(), signature: verified, bearerProbe: { httpStatus: 403 } }, 'valid', /expires 2027-06-01T11:30:00\.000Z, and the API server accepts it when presented \(HTTP 403\); nothing to do\.$/],
  ['a token answered 200', { description: boundToken(), signature: verified, bearerProbe: { httpStatus: 200 } }, 'valid', /accepts it when presented \(HTTP 200\)/],
  ['a token SelfSubjectReview accepts, with no keys', { description: legacyToken(), signature: undefined, selfSubjectReview: { username: 'system:serviceaccount:kube-system:calico-node' } }, 'valid', /^Token is valid: never expires, and the API server accepts it through SelfSubjectReview as system:serviceaccount:kube-system:calico-node; nothing to do\.$/],
  ['a token within the clock leeway of exp', { description: boundToken({ expiresAt: '2026-06-01T11:59:30.000Z', warnAfter: undefined }), signature: verified }, 'valid', /nothing to do\.$/],
  ['a token within the clock leeway of nbf', { description: boundToken({ notBefore: '2026-06-01T12:00:45.000Z', issuedAt: '2026-06-01T12:00:45.000Z' }), signature: verified }, 'valid', /nothing to do\.$/],
  ['a bound token past warnafter (not refreshed)', { description: boundToken({ warnAfter: '2026-06-01T11:00:00.000Z' }), signature: verified }, 'valid', /past its refresh time \(warnafter 2026-06-01T11:00:00\.000Z\).*; run restart-dependent-pods to restart pod kube-system\/calico-node-abcde, so the kubelet issues it a new token\.$/],
  ['a token the API server accepts though our clock says expired', { description: boundToken({ expiresAt: '2026-06-01T10:00:00.000Z' }), signature: verified, tokenReview: authenticated }, 'valid', /although by this machine's clock it has expired; check this machine's clock \(NTP\)\.$/],

  // unknown-key: the reason this toolkit exists
  ['a legacy token signed by a dropped key', { description: legacyToken({ kid: OLD_KID }), signature: unknownKey }, 'unknown-key', /^Token was signed by key old-kid-AAAA which the cluster no longer trusts \(its signing key was regenerated\); run regenerate-tokens to issue a new token\.$/],
  ['a bound token signed by a dropped key', { description: boundToken({ kid: OLD_KID }), signature: unknownKey }, 'unknown-key', /no longer trusts .*; run restart-dependent-pods to restart pod kube-system\/calico-node-abcde, so the kubelet issues it a new token\.$/],
  ['a kid-less token no key verifies', { description: legacyToken({ kid: undefined }), signature: { result: 'unknown-key' } }, 'unknown-key', /^Token has no key ID and none of the trusted keys verifies it, so it was signed by a key which the cluster no longer trusts/],
  ['an unknown-key token the API server rejects (the rejection explained)', { description: legacyToken({ kid: OLD_KID }), signature: unknownKey, bearerProbe: unauthorized }, 'unknown-key', /run regenerate-tokens/],
  ['an unknown-key token that is also expired', { description: boundToken({ expiresAt: '2026-01-01T00:00:00.000Z' }), signature: unknownKey }, 'unknown-key', /no longer trusts/],
  ['a bound token bound to a Secret', { description: boundToken({ boundTo: { kind: 'Secret', name: 'reader' } }), signature: unknownKey }, 'unknown-key', /; request a new token bound to Secret kube-system\/reader \(kubectl create token calico-node -n kube-system --bound-object-kind Secret --bound-object-name reader\)\.$/],
  ['a bound token bound to nothing (TokenRequest by a program)', { description: boundToken({ boundTo: undefined }), signature: unknownKey }, 'unknown-key', /; restart whatever requested it \(kubectl create token calico-node -n kube-system issues a new one\)\.$/],
  ['a token of unknown kind', { description: { ...legacyToken(), kind: 'unknown' }, signature: unknownKey }, 'unknown-key', /; replace it with a token issued by this cluster\.$/],

  // bad-signature
  ['a token whose kid matches but whose signature does not', { description: legacyToken(), signature: badSignature }, 'bad-signature', /^Token carries the ID of trusted key new-kid-BBBB but that key does not verify its signature, so it is forged or corrupted; do not use it, and run regenerate-tokens to issue a new token\.$/],
  ['a forged token the API server also rejects', { description: legacyToken(), signature: badSignature, bearerProbe: unauthorized }, 'bad-signature', /forged or corrupted/],
  ['a forged token that claims to be expired (claims cannot be believed)', { description: boundToken({ expiresAt: '2026-01-01T00:00:00.000Z' }), signature: badSignature }, 'bad-signature', /forged or corrupted/],
  ['a token whose key jose cannot use', { description: legacyToken(), signature: { ...badSignature, detail: 'RS256 requires key modulusLength to be 2048 bits or larger' } }, 'bad-signature', /cannot be used to verify it \(RS256 requires key modulusLength to be 2048 bits or larger\), so its signature is unproven; check it with a TokenReview, or run regenerate-tokens/],

  // expired / not-yet-valid
  ['an expired bound token', { description: boundToken({ expiresAt: '2026-06-01T11:58:00.000Z' }), signature: verified }, 'expired', /^Token expired at 2026-06-01T11:58:00\.000Z; run restart-dependent-pods to restart pod kube-system\/calico-node-abcde, so the kubelet issues it a new token\.$/],
  ['an expired token with no keys to check', { description: boundToken({ expiresAt: '2026-05-01T00:00:00.000Z' }), signature: noKeys }, 'expired', /^Token expired at/],
  ['an expired token the API server rejects', { description: boundToken({ expiresAt: '2026-05-01T00:00:00.000Z' }), signature: verified, tokenReview: { authenticated: false, error: 'service account token has expired' } }, 'expired', /^Token expired at/],
  ['a token with nbf in the future', { description: boundToken({ notBefore: '2026-06-01T12:05:00.000Z' }), signature: verified }, 'not-yet-valid', /^Token is not valid before 2026-06-01T12:05:00\.000Z, .*; fix the clock skew between this machine, the nodes and the control plane \(NTP\), then check again\.$/],
  ['a token issued in the future', { description: boundToken({ notBefore: undefined, issuedAt: '2026-06-01T13:00:00.000Z' }), signature: verified }, 'not-yet-valid', /not valid before 2026-06-01T13:00:00\.000Z/],

  // Secret facts
  ['a token whose Secret carries legacy-token-invalid-since', { description: legacyToken(), signature: verified, secret: { ...secret, invalidSince: '2026-05-01', lastUsed: '2025-01-02' }, bearerProbe: unauthorized }, 'invalidated', /^Secret kube-system\/calico-node-token-x7k2p is labelled kubernetes\.io\/legacy-token-invalid-since=2026-05-01 \(unused legacy token, last used 2025-01-02\), so the API server rejects its token; if something still uses it, remove the label \(kubectl label secret -n kube-system calico-node-token-x7k2p kubernetes\.io\/legacy-token-invalid-since-\)\.$/],
  ['an invalidated token that is also signed by a dropped key', { description: legacyToken({ kid: OLD_KID }), signature: unknownKey, secret: { ...secret, invalidSince: '2026-05-01' } }, 'invalidated', /no recorded use\).*legacy-token-invalid-since-\), then run regenerate-tokens, because its token is not signed by a trusted key either\.$/],
  ['a token whose ServiceAccount is gone', { description: legacyToken({ kid: OLD_KID }), signature: unknownKey, secret: { ...secret, serviceAccountExists: false, invalidSince: '2026-05-01' } }, 'orphaned', /^ServiceAccount kube-system\/calico-node no longer exists, so the API server rejects this token and the tokens controller will delete Secret kube-system\/calico-node-token-x7k2p; re-create the ServiceAccount and run regenerate-tokens, or delete the Secret if nothing uses it\.$/],
  ['a token whose ServiceAccount was re-created', { description: legacyToken(), signature: verified, secret: { ...secret, serviceAccountUidMatches: false }, tokenReview: authenticated }, 'orphaned', /^ServiceAccount kube-system\/calico-node was re-created after Secret kube-system\/calico-node-token-x7k2p was issued \(its UID no longer matches\).*; run regenerate-tokens to issue a token for the current ServiceAccount\.$/],
  ['a Secret with healthy facts', { description: legacyToken(), signature: verified, secret }, 'valid', /nothing to do\.$/],

  // rejected
  ['a verified legacy token answered 401 (offline and live disagree)', { description: legacyToken(), signature: verified, bearerProbe: unauthorized }, 'rejected', /^Token signature verifies against trusted key new-kid-BBBB, yet the API server rejects it when presented \(HTTP 401\), so it was revoked rather than mis-signed: its Secret kube-system\/calico-node-token-x7k2p was deleted or now holds another token, or its ServiceAccount was re-created; run regenerate-tokens to issue a new token\.$/],
  ['a verified bound token TokenReview refuses, with its error', { description: boundToken(), signature: verified, tokenReview: { authenticated: false, error: 'service account token has been\ninvalidated' } }, 'rejected', /rejects it through TokenReview \("service account token has been invalidated"\), .*the Pod kube-system\/calico-node-abcde it is bound to is gone, or its ServiceAccount was re-created; run restart-dependent-pods/],
  ['a token rejected live with no keys', { description: legacyToken(), signature: undefined, bearerProbe: unauthorized }, 'rejected', /^The API server rejects the token when presented \(HTTP 401\) and no verification keys were available to tell why; run regenerate-tokens to issue a new token\.$/],
  ['an inconclusive probe leaves it to TokenReview', { description: legacyToken(), signature: noKeys, bearerProbe: { httpStatus: 503 }, tokenReview: { authenticated: false } }, 'rejected', /through TokenReview and no verification keys/],

  // unverified
  ['a token with no keys and no live check', { description: legacyToken(), signature: noKeys }, 'unverified', /^No verification keys and no live check were available, so the token cannot be judged; give the check the cluster's public keys/],
  ['a token with keys unavailable and only an inconclusive probe', { description: boundToken(), signature: undefined, bearerProbe: { httpStatus: 500 } }, 'unverified', /cannot be judged/],
]

describe('classifyToken', () => {
  it.each(rows)('%s → %s', (_name, check, status, reason) => {
    const classification = classifyToken(check, NOW)
    expect(classification.status).toBe(status)
    expect(classification.reason).toMatch(reason)
  })

  it('covers every status', () => {
    expect(new Set(rows.map(([, , status]) => status))).toEqual(new Set(Object.values(TokenStatus)))
  })

  it.each(rows)('gives one line that ends a sentence: %s', (_name, check) => {
    const { reason } = classifyToken(check, NOW)
    expect(reason).not.toMatch(/[\r\n]/)
    expect(reason).toMatch(/; [^;]+\.$/)
  })

  it('escapes an attacker-chosen kid before printing it', () => {
    const { reason } = classifyToken({ description: legacyToken(), signature: { result: 'unknown-key', kid: 'k\u001b[2J\nfake: line' } }, NOW)
    expect(reason).toContain('k\\u001b[2J\\u000afake: line')
  })

  it('depends only on its inputs and the given time', () => {
    const check: TokenCheck = { description: boundToken({ expiresAt: '2026-06-01T13:00:00.000Z', warnAfter: undefined }), signature: verified }
    expect(classifyToken(check, NOW).status).toBe('valid')
    expect(classifyToken(check, new Date('2026-06-01T14:00:00Z')).status).toBe('expired')
  })
})

describe('the decision table', () => {
  const lives = ['accepted', 'rejected', 'conflict', 'forbidden', 'none'] as const
  const signatures = ['verified', 'unknown-key', 'bad-signature', 'no-keys'] as const
  const lifetimes = ['ok', 'expired', 'not-yet-valid'] as const
  const combinations = lives.flatMap((live) => signatures.flatMap((signature) => lifetimes.map((lifetime) => [live, signature, lifetime] as const)))

  it.each(combinations)('has a row for live %s, signature %s, lifetime %s', (live, signature, lifetime) => {
    expect(() => decide(live, signature, lifetime)).not.toThrow()
  })

  it('never passes a disagreement, and never passes on a 403 without a verified signature', () => {
    for (const [live, signature, lifetime] of combinations) {
      const { verdict } = decide(live, signature, lifetime)
      const passes = verdict === 'valid' || verdict === 'accepted-clock' || verdict === 'valid-offline'
      if (live === 'conflict' || (live === 'accepted' && (signature === 'unknown-key' || signature === 'bad-signature'))) expect(verdict).toBe('conflicting')
      if (live === 'forbidden' && passes) expect([signature, lifetime]).toEqual(['verified', 'ok'])
      if (live === 'rejected') expect(passes).toBe(false)
    }
  })

  it('counts a 403 as acceptance only with TokenReview unavailable, and a TokenReview refusal always wins over it', () => {
    expect(LIVE_TABLE.unavailable.forbidden).toBe('forbidden')
    expect(LIVE_TABLE.unauthenticated.forbidden).toBe('conflict')
    expect(LIVE_TABLE.authenticated.unauthorized).toBe('conflict')
  })

  it('is the table README.md shows (paste decisionTableMarkdown() between the markers if this fails)', async () => {
    const readme = await readFile(new URL('../../../README.md', import.meta.url), 'utf8')
    const shown = /<!-- decision-table:start -->\n([\s\S]*?)\n<!-- decision-table:end -->/.exec(readme)?.[1]
    expect(shown).toBe(decisionTableMarkdown())
  })
})
