import { describe, expect, it } from 'vitest'
import { renderInspection, renderInspections } from '../../../lib/report/tokens.ts'
import type { TokenInspection } from '../../../lib/kube/inspect-token.ts'

const base: TokenInspection = {
  source: 'secret ns/robot-token',
  status: 'unknown-key',
  reason: 'Token was signed by key abc which the cluster no longer trusts; run regenerate-tokens to issue a new token.',
  fingerprint: 'sha256:0123456789ab',
  token: { kind: 'legacy', issuer: 'kubernetes/serviceaccount', subject: 'system:serviceaccount:ns:robot', audiences: [], kid: 'abc', alg: 'RS256', fingerprint: 'sha256:0123456789ab' },
  signature: { result: 'unknown-key', kid: 'abc' },
  live: { bearerProbe: { httpStatus: 401, path: '/api/v1/namespaces/ns/pods', meaning: 'rejected' } },
}

describe('renderInspection', () => {
  it('puts the status in the heading and the reason last', () => {
    const lines = renderInspection(base).split('\n')
    expect(lines[0]).toBe('secret ns/robot-token: UNKNOWN-KEY')
    expect(lines.at(-1)).toContain('run regenerate-tokens')
  })

  it.each([
    ['signature', 'signed by abc, which the cluster no longer trusts'],
    ['bearer GET', '401 rejected'],
    ['expires', 'never'],
    ['fingerprint', 'sha256:0123456789ab'],
  ])('shows %s', (label, value) => {
    expect(renderInspection(base)).toMatch(new RegExp(`${label}\\s+${value}`))
  })

  it('leaves out what is unknown, e.g. a pending Secret has no token facts', () => {
    const text = renderInspection({ source: 'secret ns/x', status: 'pending', reason: 'holds no token yet.' })
    expect(text).not.toContain('signature')
    expect(text).not.toContain('expires')
  })

  it('says so when there is nothing to show', () => {
    expect(renderInspections([])).toBe('No tokens found.')
  })
})
