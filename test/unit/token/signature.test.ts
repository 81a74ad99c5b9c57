import { generateKeyPairSync, sign } from 'node:crypto'
import { CompactSign, SignJWT } from 'jose'
import { describe, expect, it } from 'vitest'
import { decodeToken, InvalidTokenError, type DecodedToken } from '../../../lib/token/decode.ts'
import type { VerificationKey } from '../../../lib/token/keys.ts'
import { verifySignature } from '../../../lib/token/signature.ts'
import { boundClaims, encodeSegment, legacyClaims, makeSigningKey, signToken, spkiKeyId, type TestSigningKey } from '../helpers/tokens.ts'

const oldKey = makeSigningKey('rsa')
const newKey = makeSigningKey('rsa')
const ecKey = makeSigningKey('ec')

function trusted(...keys: TestSigningKey[]): VerificationKey[] {
  return keys.map((key) => ({ kid: key.kid, publicKey: key.publicKey, source: 'sa.pub' }))
}

async function verify(token: string, keys: VerificationKey[]): ReturnType<typeof verifySignature> {
  return verifySignature(decodeToken(token), keys)
}

describe('verifySignature', () => {
  it.each([
    ['an RSA legacy token', oldKey],
    ['an ECDSA bound token', ecKey],
  ])('verifies %s signed by a trusted key', async (_name, key) => {
    const token = await signToken(key === ecKey ? boundClaims() : legacyClaims(), key)
    expect(await verify(token, trusted(newKey, key))).toEqual({ result: 'verified', kid: key.kid, source: 'sa.pub' })
  })

  it('reports unknown-key for a token signed by a key the cluster no longer trusts', async () => {
    const token = await signToken(legacyClaims(), oldKey)
    expect(await verify(token, trusted(newKey, ecKey))).toEqual({ result: 'unknown-key', kid: oldKey.kid })
  })

  it('reports bad-signature when the kid matches but another key signed it', async () => {
    const forged = await signToken(legacyClaims(), oldKey, { kid: newKey.kid })
    expect(await verify(forged, trusted(newKey))).toEqual({ result: 'bad-signature', kid: newKey.kid })
  })

  it('reports bad-signature for claims altered after signing', async () => {
    const [header, , signature] = (await signToken(legacyClaims(), newKey)).split('.')
    const altered = `${header}.${encodeSegment(legacyClaims({ namespace: 'default' }))}.${signature}`
    expect(await verify(altered, trusted(newKey))).toEqual({ result: 'bad-signature', kid: newKey.kid })
  })

  it('reports bad-signature, with the reason, when the alg does not fit the key with that kid', async () => {
    const ecSigned = await signToken(boundClaims(), ecKey, { kid: newKey.kid })
    const check = await verify(ecSigned, trusted(newKey))
    expect(check).toMatchObject({ result: 'bad-signature', kid: newKey.kid })
    expect(check).toHaveProperty('detail')
  })

  it('reports no-keys when there is nothing to check against', async () => {
    expect(await verify(await signToken(legacyClaims(), newKey), [])).toEqual({ result: 'no-keys' })
  })

  describe('a token without kid (very old clusters)', () => {
    it('is verified by whichever key signed it', async () => {
      const token = await signToken(legacyClaims(), newKey, { kid: null })
      expect(await verify(token, trusted(oldKey, ecKey, newKey))).toEqual({ result: 'verified', kid: newKey.kid, source: 'sa.pub' })
    })

    it('is unknown-key when no key verifies it', async () => {
      const token = await signToken(legacyClaims(), oldKey, { kid: null })
      expect(await verify(token, trusted(newKey, ecKey))).toEqual({ result: 'unknown-key' })
    })
  })

  it('tries every key that shares the kid, as the apiserver does', async () => {
    const token = await signToken(legacyClaims(), newKey, { kid: 'shared' })
    const keys = [
      { kid: 'shared', publicKey: oldKey.publicKey, source: 'a' },
      { kid: 'shared', publicKey: newKey.publicKey, source: 'b' },
    ]
    expect(await verify(token, keys)).toEqual({ result: 'verified', kid: 'shared', source: 'b' })
  })

  describe('HMAC forgery with the public key as the secret', () => {
    const secret = new TextEncoder().encode(newKey.publicPem)

    it('is refused when decoding', async () => {
      const forged = await new SignJWT(legacyClaims()).setProtectedHeader({ alg: 'HS256', kid: newKey.kid }).sign(secret)
      expect(() => decodeToken(forged)).toThrow(InvalidTokenError)
      expect(() => decodeToken(forged)).toThrow(/signed with HMAC \(HS256\)/)
    })

    it('is never verified, even by a caller that built the DecodedToken by hand', async () => {
      const payload = new TextEncoder().encode(JSON.stringify(legacyClaims()))
      const forged = await new CompactSign(payload).setProtectedHeader({ alg: 'HS256', kid: newKey.kid }).sign(secret)
      const [header = '', claims = ''] = forged.split('.')
      const handBuilt = {
        compact: forged,
        header: { alg: 'RS256', kid: newKey.kid },
        claims: legacyClaims(),
        signingInput: `${header}.${claims}`,
        signature: new Uint8Array(),
      } satisfies DecodedToken
      expect(await verifySignature(handBuilt, trusted(newKey))).toMatchObject({ result: 'bad-signature', kid: newKey.kid })
    })
  })

  it('reports bad-signature with the reason for an RSA key below 2048 bits, which jose refuses to use', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 1024 })
    const kid = spkiKeyId(publicKey)
    // jose refuses to sign with such a key too, so sign with node:crypto (RS256 is PKCS#1 v1.5 over SHA-256).
    const signingInput = `${encodeSegment({ alg: 'RS256', kid })}.${encodeSegment(legacyClaims())}`
    const token = `${signingInput}.${sign('sha256', Buffer.from(signingInput), privateKey).toString('base64url')}`
    const check = await verify(token, [{ kid, publicKey, source: 'old-sa.pub' }])
    expect(check).toEqual({ result: 'bad-signature', kid, detail: 'RS256 requires key modulusLength to be 2048 bits or larger' })
  })
})
