import { describe, expect, it } from 'vitest'
import { assessCniToken } from '../../../lib/calico/assess.ts'
import { InvalidTokenError } from '../../../lib/token/decode.ts'
import { loadPublicKeysFromPem } from '../../../lib/token/keys.ts'
import { verifySignature } from '../../../lib/token/signature.ts'
import { boundClaims, legacyClaims, makeSigningKey, signToken, wrapBase64 } from '../helpers/tokens.ts'

const key = makeSigningKey('rsa')
const issuedAt = new Date('2026-03-01T10:00:00Z')
const cniPlugin = { name: 'calico-cni-plugin', uid: 'sa-uid-2' }
// What calico-node's TokenRequest gets: 24 h, no pod binding.
const bound = await signToken(boundClaims({ serviceAccount: cniPlugin, pod: null, node: null, issuedAt, lifetimeSeconds: 24 * 3600, warnAfterSeconds: null }), key)
const legacy = await signToken(legacyClaims({ namespace: 'kube-system', serviceAccount: 'calico-node' }), key)
const operatorBound = await signToken(boundClaims({ namespace: 'calico-system', serviceAccount: cniPlugin, pod: null, node: null, issuedAt, lifetimeSeconds: 3600 }), key)
const stranger = await signToken(legacyClaims({ namespace: 'kube-system', serviceAccount: 'default' }), key)

const atIssue = new Date('2026-03-01T10:00:00Z')
const expiry = new Date('2026-03-02T10:00:00Z')

describe('assessCniToken', () => {
  it.each([
    { name: 'bound calico-cni-plugin token, any CNI account', token: bound, expected: { namespace: 'kube-system' }, matches: true },
    { name: 'legacy calico-node token (v3.0 era)', token: legacy, expected: { namespace: 'kube-system' }, matches: true },
    { name: 'operator token in calico-system', token: operatorBound, expected: { namespace: 'calico-system' }, matches: true },
    { name: 'operator token checked against kube-system', token: operatorBound, expected: { namespace: 'kube-system' }, matches: false },
    { name: 'the default account', token: stranger, expected: { namespace: 'kube-system' }, matches: false },
    { name: 'calico-node when detection says calico-cni-plugin', token: legacy, expected: { namespace: 'kube-system', serviceAccounts: ['calico-cni-plugin'] }, matches: false },
  ])('checks the subject: $name', ({ token, expected, matches }) => {
    expect(assessCniToken(token, expected, atIssue).subjectMatches).toBe(matches)
  })

  it('describes a bound token and its expiry', () => {
    const assessment = assessCniToken(bound, { namespace: 'kube-system' }, atIssue)
    expect(assessment).toMatchObject({
      description: { kind: 'bound', subject: 'system:serviceaccount:kube-system:calico-cni-plugin', kid: key.kid },
      expectedSubjects: ['system:serviceaccount:kube-system:calico-node', 'system:serviceaccount:kube-system:calico-cni-plugin'],
      subjectMatches: true,
      expired: false,
      expiresAt: '2026-03-02T10:00:00.000Z',
      secondsLeft: 24 * 3600,
    })
  })

  it.each([
    { name: 'a second before exp', now: new Date(expiry.getTime() - 1000), expired: false, secondsLeft: 1 },
    { name: 'half a second before exp', now: new Date(expiry.getTime() - 500), expired: false, secondsLeft: 0 },
    { name: 'at exp', now: expiry, expired: true, secondsLeft: 0 },
    { name: 'an hour after exp', now: new Date(expiry.getTime() + 3600_000), expired: true, secondsLeft: -3600 },
  ])('is expired from exp on: $name', ({ now, expired, secondsLeft }) => {
    expect(assessCniToken(bound, { namespace: 'kube-system' }, now)).toMatchObject({ expired, secondsLeft })
  })

  it('never expires a legacy token', () => {
    const assessment = assessCniToken(legacy, { namespace: 'kube-system' }, new Date('2099-01-01T00:00:00Z'))
    expect(assessment.expired).toBe(false)
    expect(assessment).not.toHaveProperty('expiresAt')
    expect(assessment).not.toHaveProperty('secondsLeft')
  })

  it('accepts the base64-wrapped form and returns what verifySignature needs', async () => {
    const assessment = assessCniToken(wrapBase64(bound), { namespace: 'kube-system' }, atIssue)
    expect(assessment.decoded.compact).toBe(bound)
    const check = await verifySignature(assessment.decoded, loadPublicKeysFromPem(key.publicPem, 'sa.pub'))
    expect(check).toMatchObject({ result: 'verified', kid: key.kid })
    const other = makeSigningKey('rsa')
    expect(await verifySignature(assessment.decoded, loadPublicKeysFromPem(other.publicPem, 'sa.pub'))).toMatchObject({ result: 'unknown-key' })
  })

  it('refuses what is not a token', () => {
    expect(() => assessCniToken('__SERVICEACCOUNT_TOKEN__', { namespace: 'kube-system' }, atIssue)).toThrow(InvalidTokenError)
  })
})
