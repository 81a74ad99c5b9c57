import { describe, expect, it } from 'vitest'
import type { V1Secret } from '@kubernetes/client-node'
import { assessSecret, summarizeAssessments, Verdict, type AssessmentFacts } from '../../../lib/regenerate/select.ts'
import { freshCopy } from '../../../lib/regenerate/apply.ts'
import { REGENERATED_AT_ANNOTATION } from '../../../lib/annotations.ts'

function makeTokenSecret(name: string, sa = 'robot', uid?: string): V1Secret {
  return {
    metadata: {
      name,
      namespace: 'ns',
      uid: 'secret-uid',
      resourceVersion: '42',
      labels: { team: 'a' },
      annotations: { 'kubernetes.io/service-account.name': sa, ...(uid ? { 'kubernetes.io/service-account.uid': uid } : {}) },
    },
    type: 'kubernetes.io/service-account-token',
    data: { token: 'eA==' },
  }
}

const now = new Date('2026-11-28T12:00:00Z')
const facts = (over: Partial<AssessmentFacts> = {}): AssessmentFacts => ({
  token: 'x.y.z',
  signature: { result: 'verified', kid: 'current', source: 'jwks' },
  accounts: new Map([['ns/robot', 'sa-uid']]),
  allTokens: false,
  now,
  ...over,
})

describe('assessSecret', () => {
  it.each([
    ['a token signed by a current key', makeTokenSecret('a'), facts(), Verdict.current],
    ['a token signed by a retired key', makeTokenSecret('a'), facts({ signature: { result: 'unknown-key', kid: 'old' } }), Verdict.stale],
    ['a token whose signature does not verify', makeTokenSecret('a'), facts({ signature: { result: 'bad-signature', kid: 'current' } }), Verdict.stale],
    ['an expired token', makeTokenSecret('a'), facts({ expiresAt: '2026-01-01T00:00:00Z' }), Verdict.stale],
    ['a malformed token', makeTokenSecret('a'), facts({ signature: undefined, decodeError: 'not a JWT' }), Verdict.stale],
    ['no keys to check with', makeTokenSecret('a'), facts({ signature: { result: 'no-keys' } }), Verdict.stale],
    ['an empty Secret', makeTokenSecret('a'), facts({ token: undefined }), Verdict.empty],
    ['a current token with --all-tokens', makeTokenSecret('a'), facts({ allTokens: true }), Verdict.stale],
    ['a missing ServiceAccount', makeTokenSecret('a', 'ghost'), facts(), Verdict.orphaned],
    ['a re-created ServiceAccount (UID mismatch)', makeTokenSecret('a', 'robot', 'older-uid'), facts(), Verdict.orphaned],
    ['a matching UID annotation', makeTokenSecret('a', 'robot', 'sa-uid'), facts({ signature: { result: 'unknown-key', kid: 'old' } }), Verdict.stale],
  ])('%s', (_what, secret, f, verdict) => {
    expect(assessSecret(secret, f).verdict).toBe(verdict)
  })

  it('leaves orphaned Secrets alone even with --all-tokens', () => {
    expect(assessSecret(makeTokenSecret('a', 'ghost'), facts({ allTokens: true })).verdict).toBe(Verdict.orphaned)
  })

  it('says which key signed a stale token', () => {
    expect(assessSecret(makeTokenSecret('a'), facts({ signature: { result: 'unknown-key', kid: 'old-kid' } })).why).toContain('old-kid')
  })
})

describe('summarizeAssessments', () => {
  it('counts verdicts and the namespaces of stale Secrets', () => {
    const a = (key: string, verdict: Verdict) => ({ key, serviceAccount: 'x', verdict, why: '' })
    expect(summarizeAssessments([a('a/x', 'stale'), a('b/y', 'stale'), a('b/z', 'current'), a('c/q', 'orphaned')])).toBe(
      '4 token Secret(s): 2 stale in 2 namespaces, 1 orphaned (not touched), 1 current',
    )
  })
})

describe('freshCopy', () => {
  it('keeps name, labels, annotations and type; drops the token and server-set fields; stamps regenerated-at', () => {
    const copy = freshCopy(makeTokenSecret('a', 'robot', 'sa-uid'), now)
    expect(copy.data).toBeUndefined()
    expect(copy.metadata).toEqual({
      name: 'a',
      namespace: 'ns',
      labels: { team: 'a' },
      annotations: {
        'kubernetes.io/service-account.name': 'robot',
        'kubernetes.io/service-account.uid': 'sa-uid',
        [REGENERATED_AT_ANNOTATION]: now.toISOString(),
      },
    })
    expect(copy.type).toBe('kubernetes.io/service-account-token')
  })
})
