import { createHash, createPublicKey, generateKeyPairSync } from 'node:crypto'
import { calculateJwkThumbprint, type JWK } from 'jose'
import { describe, expect, it } from 'vitest'
import { DomainError, UsageError } from '../../../lib/errors.ts'
import { keyIdOf, keysFromJwks, loadPublicKeysFromPem } from '../../../lib/token/keys.ts'
import { makeSigningKey, selfSignedCertificatePem } from '../helpers/tokens.ts'

const rsa = makeSigningKey('rsa')
const ec = makeSigningKey('ec')

/** Computed straight from node:crypto, the way keyIDFromPublicKey in pkg/serviceaccount/jwt.go does it. */
function expectedKid(pem: string): string {
  const der = createPublicKey(pem).export({ type: 'spki', format: 'der' })
  return createHash('sha256').update(der).digest('base64url')
}

function exportJwk(key: typeof rsa): JWK {
  return key.publicKey.export({ format: 'jwk' }) as JWK
}

describe('keyIdOf', () => {
  it.each([['RSA', rsa], ['ECDSA', ec]])('is base64url(SHA-256(DER SPKI)) of an %s key', (_name, key) => {
    expect(keyIdOf(key.publicKey)).toBe(expectedKid(key.publicPem))
    expect(keyIdOf(key.publicKey)).toMatch(/^[A-Za-z0-9_-]{43}$/)
  })

  it('is not the RFC 7638 JWK thumbprint', async () => {
    expect(keyIdOf(rsa.publicKey)).not.toBe(await calculateJwkThumbprint(exportJwk(rsa)))
  })

  it('gives a private key the kid of its public key', () => {
    expect(keyIdOf(rsa.privateKey)).toBe(keyIdOf(rsa.publicKey))
  })
})

describe('loadPublicKeysFromPem', () => {
  const pkcs1Public = rsa.publicKey.export({ type: 'pkcs1', format: 'pem' }).toString()
  const pkcs8Private = rsa.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()
  const pkcs1Private = rsa.privateKey.export({ type: 'pkcs1', format: 'pem' }).toString()
  const sec1Private = ec.privateKey.export({ type: 'sec1', format: 'pem' }).toString()

  it.each([
    ['PUBLIC KEY (RSA)', rsa.publicPem, rsa],
    ['PUBLIC KEY (ECDSA)', ec.publicPem, ec],
    ['RSA PUBLIC KEY', pkcs1Public, rsa],
    ['PRIVATE KEY', pkcs8Private, rsa],
    ['RSA PRIVATE KEY', pkcs1Private, rsa],
    ['EC PRIVATE KEY', sec1Private, ec],
    ['CERTIFICATE', selfSignedCertificatePem(rsa), rsa],
    ['CRLF line endings', rsa.publicPem.replace(/\n/g, '\r\n'), rsa],
  ])('reads a %s block', (_name, pem, key) => {
    const [loaded, ...rest] = loadPublicKeysFromPem(pem, 'sa.pub')
    expect(rest).toEqual([])
    expect(loaded?.kid).toBe(key.kid)
    expect(loaded?.publicKey.type).toBe('public')
    expect(loaded?.publicKey.equals(key.publicKey)).toBe(true)
    expect(loaded?.source).toBe('sa.pub')
  })

  it('reads every key of a multi-key file, skips other blocks and text, and lists a key once', () => {
    const ecParameters = '-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n'
    const text = `# old key\n${rsa.publicPem}\n${ecParameters}# new key\n${ec.publicPem}${pkcs8Private}`
    expect(loadPublicKeysFromPem(text, 'sa.pub').map((key) => key.kid)).toEqual([rsa.kid, ec.kid])
  })

  it.each([
    ['no PEM at all', 'not a key', /^keys\/sa\.pub holds no PEM block; pass a PEM file/],
    ['only non-key blocks', '-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n', /holds no key among EC PARAMETERS; /],
    ['a corrupted key block', '-----BEGIN PUBLIC KEY-----\nAAAAnotakey\n-----END PUBLIC KEY-----\n', /^keys\/sa\.pub: PEM block 1 \(PUBLIC KEY\) cannot be parsed \(.*\); check that the file is intact$/],
    ['an unterminated block', rsa.publicPem.replace('-----END PUBLIC KEY-----', ''), /holds no key among|holds no PEM block/],
    [
      'an encrypted private key',
      rsa.privateKey.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'secret' }).toString(),
      /PEM block 1 \(ENCRYPTED PRIVATE KEY\) is encrypted/,
    ],
    [
      'a key type that cannot sign tokens',
      generateKeyPairSync('x25519').publicKey.export({ type: 'spki', format: 'pem' }).toString(),
      /is a x25519 key, which cannot sign service-account tokens/,
    ],
  ])('refuses %s with a usage error naming the file', (_name, text, message) => {
    const attempt = (): unknown => loadPublicKeysFromPem(text, 'keys/sa.pub')
    expect(attempt).toThrow(UsageError)
    expect(attempt).toThrow(message)
  })
})

describe('keysFromJwks', () => {
  it('reads the keys of /openid/v1/jwks with their kid', () => {
    const jwks = {
      keys: [
        { ...exportJwk(rsa), kid: rsa.kid, use: 'sig', alg: 'RS256' },
        { ...exportJwk(ec), kid: ec.kid, use: 'sig', alg: 'ES256' },
      ],
    }
    const keys = keysFromJwks(jwks)
    expect(keys.map((key) => [key.kid, key.source])).toEqual([[rsa.kid, '/openid/v1/jwks'], [ec.kid, '/openid/v1/jwks']])
    expect(keys[0]?.publicKey.equals(rsa.publicKey)).toBe(true)
  })

  it('uses the kid the document gives, and computes one when it gives none', () => {
    const keys = keysFromJwks({ keys: [{ ...exportJwk(rsa), kid: 'external-signer-1' }, exportJwk(ec)] }, 'jwks.json')
    expect(keys.map((key) => key.kid)).toEqual(['external-signer-1', ec.kid])
  })

  it('reduces a private JWK to its public key', () => {
    const [key] = keysFromJwks({ keys: [{ ...(rsa.privateKey.export({ format: 'jwk' }) as JWK), kid: rsa.kid }] })
    expect(key?.publicKey.type).toBe('public')
  })

  it('keeps two different keys that share a kid, and drops a repeated key', () => {
    const keys = keysFromJwks({ keys: [{ ...exportJwk(rsa), kid: 'k' }, { ...exportJwk(ec), kid: 'k' }, { ...exportJwk(rsa), kid: 'k' }] })
    expect(keys).toHaveLength(2)
  })

  it.each([
    ['use "enc"', { use: 'enc' }],
    ['an encryption alg', { alg: 'RSA-OAEP' }],
    ['a symmetric alg', { alg: 'HS256' }],
    ['key_ops without verify', { key_ops: ['encrypt', 'wrapKey'] }],
  ])('ignores a key not for signatures (%s) and keeps the others', (_name, marks) => {
    const keys = keysFromJwks({ keys: [{ ...exportJwk(rsa), kid: 'enc-key', ...marks }, { ...exportJwk(ec), kid: ec.kid }] })
    expect(keys.map((key) => key.kid)).toEqual([ec.kid])
  })

  it('keeps a key marked for signatures', () => {
    const keys = keysFromJwks({ keys: [{ ...exportJwk(rsa), kid: rsa.kid, use: 'sig', key_ops: ['verify'], alg: 'PS256' }] })
    expect(keys.map((key) => key.kid)).toEqual([rsa.kid])
  })

  it.each([
    ['null', null, /is not a JWKS document \(no "keys" array\)/],
    ['an array', [], /is not a JWKS document/],
    ['keys that is not an array', { keys: {} }, /is not a JWKS document/],
    ['a key that is not an object', { keys: ['x'] }, /key 1 is not a JSON object/],
    ['a symmetric key', { keys: [{ kty: 'oct', k: 'c2VjcmV0' }] }, /key 1 is a symmetric \(oct\) key/],
    ['a kid that is not a string', { keys: [{ ...exportJwk(rsa), kid: 5 }] }, /key 1 has a kid that is not a non-empty string/],
    ['broken key material', { keys: [{ kty: 'RSA', n: '!!', e: 'AQAB', kid: 'x' }] }, /key 1 is not a valid public JWK/],
    ['an unknown key type', { keys: [{ kty: 'XYZ', kid: 'x' }] }, /key 1 is not a valid public JWK/],
    ['no keys at all', { keys: [] }, /holds no keys, so no token can be checked against it; check what serves/],
    ['only an encryption key', { keys: [{ ...exportJwk(rsa), use: 'enc', alg: 'RSA-OAEP' }] }, /holds no key usable to verify signatures \(all 1 are marked for another use/],
    ['only keys for other operations', { keys: [{ ...exportJwk(rsa), key_ops: ['encrypt'] }, { ...exportJwk(ec), key_ops: 'verify' }] }, /all 2 are marked/],
  ])('refuses %s with a domain error naming the source', (_name, jwks, message) => {
    const attempt = (): unknown => keysFromJwks(jwks, 'https://10.0.0.1:6443/openid/v1/jwks')
    expect(attempt).toThrow(DomainError)
    expect(attempt).toThrow(message)
    expect(attempt).toThrow(/^https:\/\/10\.0\.0\.1:6443\/openid\/v1\/jwks/)
  })
})
