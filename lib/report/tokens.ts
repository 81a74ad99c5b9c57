// Human rendering of token inspections: one block per token, the facts an
// operator needs (never the token), the status and the reason with its fix.
import type { TokenInspection } from '../kube/inspect-token.ts'

export function renderInspections(results: readonly TokenInspection[]): string {
  if (results.length === 0) return 'No tokens found.'
  return results.map(renderInspection).join('\n\n')
}

export function renderInspection(r: TokenInspection): string {
  const t = r.token
  const rows: Array<[string, string | undefined]> = [
    ['kind', t?.kind],
    ['fingerprint', r.fingerprint],
    ['key id', t?.kid ?? (t ? '(none)' : undefined)],
    ['issuer', t?.issuer],
    ['subject', t?.subject],
    ['bound to', t?.boundTo ? `${t.boundTo.kind} ${t.boundTo.name}` : undefined],
    ['node', t?.node?.name],
    ['issued', t?.issuedAt],
    ['expires', t?.expiresAt ?? (t ? 'never' : undefined)],
    ['signature', r.signature ? signatureLine(r.signature) : t ? 'not checked (no keys)' : undefined],
    ['TokenReview', r.live?.tokenReview ? (r.live.tokenReview.authenticated ? `authenticated as ${r.live.tokenReview.username}` : `not authenticated${r.live.tokenReview.error ? `: ${r.live.tokenReview.error}` : ''}`) : undefined],
    ['bearer GET', r.live?.bearerProbe ? `${r.live.bearerProbe.httpStatus} ${r.live.bearerProbe.meaning}` : undefined],
    ['whoami', r.live?.selfSubjectReview?.username],
    ['last used', r.secret?.lastUsed],
    ['invalid since', r.secret?.invalidSince],
  ]
  const width = Math.max(...rows.map(([k]) => k.length))
  return [
    `${r.source}: ${r.status.toUpperCase()}`,
    ...rows.filter(([, v]) => v !== undefined && v !== '').map(([k, v]) => `  ${k.padEnd(width)}  ${v}`),
    `  ${r.reason}`,
  ].join('\n')
}

function signatureLine(s: NonNullable<TokenInspection['signature']>): string {
  switch (s.result) {
    case 'verified':
      return `verified by ${s.kid}`
    case 'unknown-key':
      return `signed by ${s.kid ?? 'a key without kid'}, which the cluster no longer trusts`
    case 'bad-signature':
      return `does not verify with key ${s.kid}`
    case 'no-keys':
      return 'not checked (no keys)'
  }
}
