// A token under test is a credential: with TLS verification off
// (insecure-skip-tls-verify, accepted by --insecure-skip-tls-verify) none of
// the live checks may send it. The fake Kube records every request it gets.
import { describe, expect, it } from 'vitest'
import type { Kube } from '../../../lib/kube/clients.ts'
import { DomainError } from '../../../lib/errors.ts'
import { probeWithBearer, reviewToken, selfSubjectReview } from '../../../lib/kube/token-checks.ts'

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
