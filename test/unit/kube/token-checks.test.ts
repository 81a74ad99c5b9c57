// A token under test is a credential: with TLS verification off
// (insecure-skip-tls-verify, accepted by --insecure-skip-tls-verify) none of
// the live checks may send it. The fake Kube records every request it gets.
import { describe, expect, it } from 'vitest'
import type { Kube } from '../../../lib/kube/clients.ts'
import { DomainError } from '../../../lib/errors.ts'
import { probeWithBearer, reviewSettled, reviewToken, selfSubjectReview, type TokenReviewResult } from '../../../lib/kube/token-checks.ts'

const TOKEN = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ0ZXN0In0.c2lnbmF0dXJl'

/** A Kube whose cluster has the given TLS setting; requests are recorded, and TokenReview answers "authenticated". */
function kubeFor(skipTLSVerify: boolean): { kube: Kube; sent: string[] } {
  const sent: string[] = []
  const cluster = { name: 'c', server: 'https://c.example:6443', skipTLSVerify }
  const kc = {
    getCurrentCluster: () => cluster,
    // rawRequest starts by asking for the request options: count that as sending.
    applyToFetchOptions: async () => {
      sent.push('raw request')
      throw new Error('no network in unit tests')
    },
    applyToHTTPSOptions: async () => {
      sent.push('raw request')
      throw new Error('no network in unit tests')
    },
  }
  const authn = {
    createTokenReview: async () => {
      sent.push('TokenReview')
      return { status: { authenticated: true, user: { username: 'system:serviceaccount:ns:sa' } } }
    },
  }
  return { kube: { kc, authn } as unknown as Kube, sent }
}

const checks = [
  ['TokenReview', (kube: Kube) => reviewToken(kube, TOKEN)],
  ['the bearer probe', (kube: Kube) => probeWithBearer(kube, TOKEN)],
  ['SelfSubjectReview', (kube: Kube) => selfSubjectReview(kube, TOKEN)],
] as const

describe('live token checks over unverified TLS', () => {
  it.each(checks)('%s refuses, naming the server and the fix, and sends nothing', async (_name, check) => {
    const { kube, sent } = kubeFor(true)
    const attempt = check(kube)
    await expect(attempt).rejects.toThrow(DomainError)
    await expect(attempt).rejects.toThrow(
      'not sending a token to https://c.example:6443: its certificate is not verified (insecure-skip-tls-verify); add the cluster\'s certificate-authority to the kubeconfig',
    )
    expect(sent).toEqual([])
  })

  it('with verification on, the token is sent (the refusal is the only thing that stops it)', async () => {
    const { kube, sent } = kubeFor(false)
    await expect(reviewToken(kube, TOKEN)).resolves.toEqual({ authenticated: true, username: 'system:serviceaccount:ns:sa' })
    expect(sent).toEqual(['TokenReview'])
  })
})

describe('reviewSettled', () => {
  const STALE = { authenticated: false, error: "[invalid bearer token, Token does not match server's copy]" }
  function answers(...results: TokenReviewResult[]) {
    let t = 0
    const asked: number[] = []
    return {
      review: async () => (asked.push(t), results[Math.min(asked.length - 1, results.length - 1)]!),
      opts: { budgetMs: 5_000, now: () => t, sleep: async (ms: number) => void (t += ms) },
      asked,
    }
  }

  it("asks again while the server's cached copy lags, until the new token authenticates", async () => {
    const a = answers(STALE, STALE, { authenticated: true, username: 'system:serviceaccount:ns:svc' })
    expect(await reviewSettled(a.review, true, a.opts)).toMatchObject({ authenticated: true })
    expect(a.asked).toEqual([0, 250, 750])
  })

  it('gives up when the budget is spent, with the last answer', async () => {
    const a = answers(STALE)
    expect(await reviewSettled(a.review, true, a.opts)).toEqual(STALE)
    expect(a.asked.at(-1)).toBeGreaterThanOrEqual(5_000)
  })

  it('takes any other refusal of a new token at once', async () => {
    const a = answers({ authenticated: false, error: 'token has been invalidated' })
    expect(await reviewSettled(a.review, true, a.opts)).toMatchObject({ authenticated: false })
    expect(a.asked).toEqual([0])
  })

  it('asks again while an old token is still accepted, until it is rejected', async () => {
    const a = answers({ authenticated: true }, { authenticated: false, error: 'invalid bearer token' })
    expect(await reviewSettled(a.review, false, a.opts)).toMatchObject({ authenticated: false })
    expect(a.asked).toHaveLength(2)
  })
})
