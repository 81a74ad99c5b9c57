// Verification keys, from the two places a cluster keeps them: the PEM files
// given to --service-account-key-file (or its signing key), and the JWKS the
// apiserver serves at /openid/v1/jwks. Each key carries the kid Kubernetes
// stamps on the tokens it signs, so a token can be matched to its key.
import { createHash, createPrivateKey, createPublicKey, X509Certificate, type KeyObject } from 'node:crypto'
import { DomainError, UsageError } from '../errors.ts'
import { ASYMMETRIC_ALGORITHMS, isJsonObject } from './decode.ts'
import { printable } from './text.ts'

export interface VerificationKey {
  readonly kid: string
  readonly publicKey: KeyObject
  /** Where the key came from (a file name, "/openid/v1/jwks"), for messages. */
  readonly source: string
}

export const DEFAULT_JWKS_SOURCE = '/openid/v1/jwks'

/** A run's verification keys and where they came from (loaded by lib/cli/keys.ts). */
export interface KeySet {
  readonly keys: VerificationKey[]
  /** "/openid/v1/jwks" or the files, for summaries. */
  readonly source: string
  /** Set when key files were given and could not be compared with the cluster's keys. */
  readonly note?: string
}

/** "2 key(s) from /openid/v1/jwks: kid-a, kid-b". */
export function describeKeys(set: KeySet): string {
  const kids = set.keys.map((k) => k.kid)
  return `${kids.length} key(s) from ${set.source}: ${kids.join(', ') || '-'}${set.note ? ` (${set.note})` : ''}`
}

/**
 * The key ID Kubernetes gives a key: base64url(SHA-256(DER SubjectPublicKeyInfo)),
 * as keyIDFromPublicKey in k8s.io/kubernetes pkg/serviceaccount/jwt.go. This is
 * not the RFC 7638 JWK thumbprint. A private key is reduced to its public key first.
 */
export function keyIdOf(key: KeyObject): string {
  if (key.type === 'secret') throw new TypeError('keyIdOf needs an asymmetric key, got a secret key')
  const publicKey = key.type === 'private' ? createPublicKey(key) : key
  const spki = publicKey.export({ type: 'spki', format: 'der' })
  return createHash('sha256').update(spki).digest('base64url')
}

// Key types a service-account issuer can sign with; the apiserver itself reads RSA and ECDSA only.
const SIGNING_KEY_TYPES: ReadonlySet<string> = new Set(['rsa', 'rsa-pss', 'ec', 'ed25519'])

// ---------------------------------------------------------------------------
// PEM files

/** PEM labels and how to get a public key from each, as client-go keyutil.ParsePublicKeysPEM accepts them. */
const PEM_READERS: Readonly<Record<string, (block: string) => KeyObject>> = {
  'PUBLIC KEY': (block) => createPublicKey(block),
  'RSA PUBLIC KEY': (block) => createPublicKey(block),
  // The apiserver accepts the signing (private) key file as a key file too.
  'PRIVATE KEY': (block) => createPublicKey(createPrivateKey(block)),
  'RSA PRIVATE KEY': (block) => createPublicKey(createPrivateKey(block)),
  'EC PRIVATE KEY': (block) => createPublicKey(createPrivateKey(block)),
  CERTIFICATE: (block) => new X509Certificate(block).publicKey,
}

interface PemBlock {
  readonly label: string
  readonly text: string
}

/**
 * Every public key in a PEM file: public keys (PKIX or PKCS#1), private keys
 * (their public half) and certificates. Blocks of other kinds (EC PARAMETERS)
 * are skipped, as the apiserver skips them. Throws a UsageError naming `source`
 * when the file holds no key or a key block cannot be read.
 */
export function loadPublicKeysFromPem(text: string, source: string): VerificationKey[] {
  const blocks = pemBlocks(text)
  const keys: VerificationKey[] = []
  blocks.forEach((block, index) => {
    const publicKey = readPemBlock(block, `${source}: PEM block ${index + 1} (${block.label})`)
    if (publicKey) keys.push({ kid: keyIdOf(publicKey), publicKey, source })
  })
  if (keys.length === 0) {
    const found = blocks.length === 0 ? 'no PEM block' : `no key among ${blocks.map((block) => block.label).join(', ')}`
    throw new UsageError(`${source} holds ${found}; pass a PEM file with the service-account public key (for example /etc/kubernetes/pki/sa.pub)`)
  }
  return uniqueKeys(keys)
}

/** Splits PEM text into blocks line by line: linear, and tolerant of CRLF and text between blocks. */
function pemBlocks(text: string): PemBlock[] {
  const blocks: PemBlock[] = []
  let open: { label: string; lines: string[] } | undefined
  for (const rawLine of text.split('\n')) {
    const line = rawLine.trim()
    const begin = /^-----BEGIN ([A-Z0-9 ]+)-----$/.exec(line)
    if (begin?.[1] !== undefined) {
      open = { label: begin[1], lines: [line] }
      continue
    }
    if (!open) continue
    open.lines.push(line)
    if (line === `-----END ${open.label}-----`) {
      blocks.push({ label: open.label, text: `${open.lines.join('\n')}\n` })
      open = undefined
    }
  }
  return blocks
}

function readPemBlock(block: PemBlock, where: string): KeyObject | undefined {
  if (block.label === 'ENCRYPTED PRIVATE KEY') {
    throw new UsageError(`${where} is encrypted, which the apiserver cannot read either; pass the public key file instead`)
  }
  const read = PEM_READERS[block.label]
  if (!read) return undefined
  let publicKey: KeyObject
  try {
    publicKey = read(block.text)
  } catch (cause) {
    throw new UsageError(`${where} cannot be parsed (${errorMessage(cause)}); check that the file is intact`, { cause })
  }
  checkSigningKeyType(publicKey, where, UsageError)
  return publicKey
}

// ---------------------------------------------------------------------------
// JWKS

/**
 * The keys of a JWKS document as served at /openid/v1/jwks. The kid is the
 * JWK's own `kid` (the apiserver sets it to keyIdOf the key); a JWK without
 * one gets keyIdOf. A malformed document is a DomainError naming `source`:
 * it came from the cluster (or a file saved from it), not from a typo.
 */
export function keysFromJwks(jwks: unknown, source: string = DEFAULT_JWKS_SOURCE): VerificationKey[] {
  const fix = `check what serves ${source} (it should be the apiserver's service-account issuer)`
  const keyList = isJsonObject(jwks) && Object.hasOwn(jwks, 'keys') ? jwks.keys : undefined
  if (!Array.isArray(keyList)) throw new DomainError(`${source} is not a JWKS document (no "keys" array); ${fix}`)
  const keys = keyList.flatMap((jwk, index) => keyFromJwk(jwk, `${source}: key ${index + 1}`, fix, source) ?? [])
  // With no key, every token would look signed by an unknown key and be regenerated: stop instead.
  if (keys.length === 0) {
    const found = keyList.length === 0 ? 'no keys' : `no key usable to verify signatures (all ${keyList.length} are marked for another use: use, key_ops or alg)`
    throw new DomainError(`${source} holds ${found}, so no token can be checked against it; ${fix}`)
  }
  return uniqueKeys(keys)
}

/**
 * Whether a JWK may verify signatures (RFC 7517 4.2-4.4): `use` "sig" if
 * given, `key_ops` including "verify" if given, and a signature `alg` if
 * given. An encryption key must never vouch for a token, even if its bits
 * would verify one.
 */
function isSigningJwk(jwk: Record<string, unknown>): boolean {
  const { use, key_ops: operations, alg } = jwk
  if (use !== undefined && use !== 'sig') return false
  if (operations !== undefined && !(Array.isArray(operations) && operations.includes('verify'))) return false
  return alg === undefined || ASYMMETRIC_ALGORITHMS.some((known) => known === alg)
}

/** The key, or undefined for a JWK that is not for verifying signatures (ignored, like a verifier would). */
function keyFromJwk(jwk: unknown, where: string, fix: string, source: string): VerificationKey | undefined {
  if (!isJsonObject(jwk)) throw new DomainError(`${where} is not a JSON object; ${fix}`)
  if (!isSigningJwk(jwk)) return undefined
  if (jwk.kty === 'oct') throw new DomainError(`${where} is a symmetric (oct) key, which must never verify service-account tokens; ${fix}`)
  const kid = Object.hasOwn(jwk, 'kid') ? jwk.kid : undefined
  if (kid !== undefined && (typeof kid !== 'string' || kid === '')) throw new DomainError(`${where} has a kid that is not a non-empty string; ${fix}`)
  let publicKey: KeyObject
  try {
    publicKey = createPublicKey({ key: publicJwkMembers(jwk), format: 'jwk' })
  } catch (cause) {
    throw new DomainError(`${where} is not a valid public JWK (${errorMessage(cause)}); ${fix}`, { cause })
  }
  // Node decodes base64url leniently: "n": "!!" makes an RSA key with a 0-bit modulus rather than an error.
  if (publicKey.asymmetricKeyDetails?.modulusLength === 0) throw new DomainError(`${where} is not a valid public JWK (empty RSA modulus); ${fix}`)
  checkSigningKeyType(publicKey, where, DomainError)
  return { kid: kid ?? keyIdOf(publicKey), publicKey, source }
}

/**
 * Only the public members: a JWK that carries private ones (d, p, q...) is
 * reduced to its public half, and metadata (kid, use, alg, x5c) is not part of the key.
 */
function publicJwkMembers(jwk: Record<string, unknown>): Record<string, string> {
  const members = ['kty', 'crv', 'n', 'e', 'x', 'y']
  return Object.fromEntries(members.filter((name) => typeof jwk[name] === 'string').map((name) => [name, jwk[name] as string]))
}

// ---------------------------------------------------------------------------

function checkSigningKeyType(publicKey: KeyObject, where: string, ErrorKind: typeof UsageError | typeof DomainError): void {
  const type = publicKey.asymmetricKeyType ?? 'unknown'
  if (!SIGNING_KEY_TYPES.has(type)) {
    throw new ErrorKind(`${where} is a ${type} key, which cannot sign service-account tokens; pass the RSA or ECDSA service-account key`)
  }
}

/**
 * A key listed twice (a private key next to its public key, say) is one key.
 * Two different keys under one kid both stay: the apiserver tries every key
 * with the token's kid, and so does verifySignature.
 */
function uniqueKeys(keys: VerificationKey[]): VerificationKey[] {
  const seen = new Set<string>()
  return keys.filter((key) => {
    const identity = `${key.kid} ${keyIdOf(key.publicKey)}`
    return !seen.has(identity) && seen.add(identity)
  })
}

function errorMessage(error: unknown): string {
  return printable(error instanceof Error ? error.message : String(error), 120)
}
