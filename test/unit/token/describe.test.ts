import { describe, expect, it } from 'vitest'
import { decodeToken } from '../../../lib/token/decode.ts'
import { describeToken } from '../../../lib/token/describe.ts'
import { fingerprint } from '../../../lib/token/fingerprint.ts'
import { boundClaims, craftToken, legacyClaims, makeSigningKey, signToken, type Claims } from '../helpers/tokens.ts'

const key = makeSigningKey('ec')

async function describeClaims(claims: Claims): Promise<ReturnType<typeof describeToken>> {
  return describeToken(decodeToken(await signToken(claims, key)))
}

/** An unsigned-looking token is enough to exercise claim parsing; describe never checks signatures. */
function describeCrafted(claims: unknown, header: Record<string, unknown> = { alg: 'RS256', kid: 'kid-1' }): ReturnType<typeof describeToken> {
  return describeToken(decodeToken(craftToken(header, claims)))
}

describe('describeToken', () => {
  it('describes a legacy (Secret-based) token', async () => {
    const token = await signToken(legacyClaims({ namespace: 'kube-system', serviceAccount: 'calico-node', secretName: 'calico-node-token-x7k2p' }), key)
    expect(describeToken(decodeToken(token))).toEqual({
      kind: 'legacy',
      issuer: 'kubernetes/serviceaccount',
      subject: 'system:serviceaccount:kube-system:calico-node',
      namespace: 'kube-system',
      serviceAccount: { name: 'calico-node', uid: 'sa-uid-1' },
      boundTo: { kind: 'Secret', name: 'calico-node-token-x7k2p' },
      audiences: [],
      kid: key.kid,
      alg: 'ES256',
      fingerprint: fingerprint(token),
    })
  })

  it('describes a bound (projected) token', async () => {
    const token = await signToken(boundClaims({ issuedAt: new Date('2026-03-01T10:00:00Z'), lifetimeSeconds: 3607 }), key)
    expect(describeToken(decodeToken(token))).toEqual({
      kind: 'bound',
      issuer: 'https://kubernetes.default.svc.cluster.local',
      subject: 'system:serviceaccount:kube-system:calico-node',
      namespace: 'kube-system',
      serviceAccount: { name: 'calico-node', uid: 'sa-uid-1' },
      boundTo: { kind: 'Pod', name: 'calico-node-abcde', uid: 'pod-uid-1' },
      node: { name: 'worker-1', uid: 'node-uid-1' },
      audiences: ['https://kubernetes.default.svc.cluster.local'],
      issuedAt: '2026-03-01T10:00:00.000Z',
      notBefore: '2026-03-01T10:00:00.000Z',
      expiresAt: '2026-03-01T11:00:07.000Z',
      warnAfter: '2026-03-01T11:00:07.000Z',
      tokenId: 'jti-1',
      kid: key.kid,
      alg: 'ES256',
      fingerprint: fingerprint(token),
    })
  })

  it.each([
    ['bound to a Secret', boundClaims({ pod: null, secret: { name: 'reader', uid: 'secret-uid' } }), { kind: 'Secret', name: 'reader', uid: 'secret-uid' }],
    ['bound to nothing (kubectl create token)', boundClaims({ pod: null, node: null }), undefined],
  ])('describes a bound token %s', async (_name, claims, boundTo) => {
    expect((await describeClaims(claims)).boundTo).toEqual(boundTo)
  })

  it.each([
    ['a foreign OIDC token', { iss: 'https://accounts.example.com', sub: 'alice', aud: 'app' }, 'unknown'],
    ['the legacy issuer without legacy claims', { iss: 'kubernetes/serviceaccount', sub: 'x' }, 'unknown'],
    ['legacy claims under another issuer', { ...legacyClaims(), iss: 'someone-else' }, 'unknown'],
    ['a kubernetes.io claim that is not an object', { 'kubernetes.io': 'pod' }, 'unknown'],
    ['a kubernetes.io claim that is an object', { 'kubernetes.io': {} }, 'bound'],
  ])('classifies %s as %s', (_name, claims, kind) => {
    expect(describeCrafted(claims).kind).toBe(kind)
  })

  it('takes namespace and ServiceAccount from sub when the Kubernetes claims lack them', () => {
    const description = describeCrafted({ sub: 'system:serviceaccount:team-a:builder', 'kubernetes.io': {} })
    expect(description).toMatchObject({ namespace: 'team-a', serviceAccount: { name: 'builder' } })
  })

  it.each([
    ['aud as a string', { aud: 'api' }, ['api']],
    ['aud as an array, non-strings dropped', { aud: ['api', 7, null, '', 'vault'] }, ['api', 'vault']],
    ['aud as an object', { aud: { a: 1 } }, []],
  ])('reads %s', (_name, claims, audiences) => {
    expect(describeCrafted(claims).audiences).toEqual(audiences)
  })

  // Claims of the wrong type count as absent; nothing throws. (exp, nbf and iat are checked by decodeToken: see decode.test.ts.)
  it.each([
    ['iss as a number', { iss: 42 }, 'issuer'],
    ['sub as an object', { sub: { name: 'x' } }, 'subject'],
    ['legacy namespace as an array', { ...legacyClaims(), 'kubernetes.io/serviceaccount/namespace': ['kube-system'], sub: 'x' }, 'namespace'],
    ['legacy secret.name as a number', { ...legacyClaims(), 'kubernetes.io/serviceaccount/secret.name': 1 }, 'boundTo'],
    ['bound serviceaccount as a string', { 'kubernetes.io': { serviceaccount: 'calico-node' } }, 'serviceAccount'],
    ['bound pod without a name', { 'kubernetes.io': { pod: { uid: 'u' } } }, 'boundTo'],
    ['bound node as an array', { 'kubernetes.io': { node: ['worker-1'] } }, 'node'],
    ['bound warnafter as a string', { 'kubernetes.io': { warnafter: 'soon' } }, 'warnAfter'],
  ])('treats %s as absent', (_name, claims, field) => {
    expect(describeCrafted(claims)).not.toHaveProperty(field)
  })

  it('keeps a name whose uid has the wrong type', () => {
    expect(describeCrafted({ 'kubernetes.io': { serviceaccount: { name: 'sa', uid: 12 } } }).serviceAccount).toEqual({ name: 'sa' })
  })

  it('makes claims safe to print: control characters escaped, length capped', () => {
    const description = describeCrafted(
      { iss: 'evil\u001b]0;pwned\u0007\nnext line', sub: 'x'.repeat(10_000) },
      { alg: 'RS256', kid: 'kid\r\nInjected: yes' },
    )
    expect(description.issuer).toBe('evil\\u001b]0;pwned\\u0007\\u000anext line')
    expect(description.kid).toBe('kid\\u000d\\u000aInjected: yes')
    expect(description.subject?.length).toBeLessThanOrEqual(257)
  })

  it('reads NumericDates', () => {
    expect(describeCrafted({ exp: 1767225600, nbf: 0, iat: 1767225000 })).toMatchObject({
      expiresAt: '2026-01-01T00:00:00.000Z',
      notBefore: '1970-01-01T00:00:00.000Z',
      issuedAt: '2025-12-31T23:50:00.000Z',
    })
  })
})
