// Test builders: signing keys, claims shaped like the ones Kubernetes issues,
// and signed tokens. Everything is generated at test time; no literal signed
// token is ever committed. Key IDs are computed here independently of
// lib/token/keys.ts, so tests do not check the code against itself.
import { createHash, generateKeyPairSync, sign, type KeyObject } from 'node:crypto'
import { CompactSign } from 'jose'

export type TestKeyType = 'rsa' | 'ec'

export interface TestSigningKey {
  readonly type: TestKeyType
  readonly alg: 'RS256' | 'ES256'
  readonly privateKey: KeyObject
  readonly publicKey: KeyObject
  /** The Kubernetes kid: base64url(SHA-256(DER SPKI)). */
  readonly kid: string
  readonly publicPem: string
}

export function makeSigningKey(type: TestKeyType = 'rsa'): TestSigningKey {
  const { privateKey, publicKey } =
    type === 'rsa' ? generateKeyPairSync('rsa', { modulusLength: 2048 }) : generateKeyPairSync('ec', { namedCurve: 'P-256' })
  return {
    type,
    alg: type === 'rsa' ? 'RS256' : 'ES256',
    privateKey,
    publicKey,
    kid: spkiKeyId(publicKey),
    publicPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  }
}

export function spkiKeyId(publicKey: KeyObject): string {
  return createHash('sha256').update(publicKey.export({ type: 'spki', format: 'der' })).digest('base64url')
}

// ---------------------------------------------------------------------------
// Claims

export type Claims = Record<string, unknown>

export interface LegacyClaimOptions {
  readonly namespace?: string
  readonly serviceAccount?: string
  readonly serviceAccountUid?: string
  readonly secretName?: string
}

/** Claims of a Secret-based token as kube-controller-manager writes them (pkg/serviceaccount/legacy.go). */
export function legacyClaims(options: LegacyClaimOptions = {}): Claims {
  const namespace = options.namespace ?? 'kube-system'
  const serviceAccount = options.serviceAccount ?? 'calico-node'
  return {
    iss: 'kubernetes/serviceaccount',
    'kubernetes.io/serviceaccount/namespace': namespace,
    'kubernetes.io/serviceaccount/secret.name': options.secretName ?? `${serviceAccount}-token-x7k2p`,
    'kubernetes.io/serviceaccount/service-account.name': serviceAccount,
    'kubernetes.io/serviceaccount/service-account.uid': options.serviceAccountUid ?? 'sa-uid-1',
    sub: `system:serviceaccount:${namespace}:${serviceAccount}`,
  }
}

export interface Ref {
  readonly name: string
  readonly uid: string
}

export interface BoundClaimOptions {
  readonly issuer?: string
  readonly audiences?: readonly string[]
  readonly namespace?: string
  readonly serviceAccount?: Ref
  /** null: not bound to a pod (TokenRequest without a bound object). */
  readonly pod?: Ref | null
  readonly secret?: Ref
  readonly node?: Ref | null
  readonly issuedAt?: Date
  readonly lifetimeSeconds?: number
  /** null: no warnafter (a token requested without extended expiration). */
  readonly warnAfterSeconds?: number | null
}

/** Claims of a projected token as the apiserver issues it for the kubelet (pkg/serviceaccount/claims.go). */
export function boundClaims(options: BoundClaimOptions = {}): Claims {
  const namespace = options.namespace ?? 'kube-system'
  const serviceAccount = options.serviceAccount ?? { name: 'calico-node', uid: 'sa-uid-1' }
  const issuedAt = seconds(options.issuedAt ?? new Date('2026-01-01T00:00:00Z'))
  const pod = options.pod === undefined ? { name: 'calico-node-abcde', uid: 'pod-uid-1' } : options.pod
  const node = options.node === undefined ? { name: 'worker-1', uid: 'node-uid-1' } : options.node
  const warnAfterSeconds = options.warnAfterSeconds === undefined ? 3607 : options.warnAfterSeconds
  return {
    aud: options.audiences ?? ['https://kubernetes.default.svc.cluster.local'],
    exp: issuedAt + (options.lifetimeSeconds ?? 365 * 24 * 3600),
    iat: issuedAt,
    iss: options.issuer ?? 'https://kubernetes.default.svc.cluster.local',
    jti: 'jti-1',
    nbf: issuedAt,
    sub: `system:serviceaccount:${namespace}:${serviceAccount.name}`,
    'kubernetes.io': {
      namespace,
      serviceaccount: serviceAccount,
      ...(pod ? { pod } : {}),
      ...(options.secret ? { secret: options.secret } : {}),
      ...(node ? { node } : {}),
      ...(warnAfterSeconds === null ? {} : { warnafter: issuedAt + warnAfterSeconds }),
    },
  }
}

export function seconds(date: Date): number {
  return Math.floor(date.getTime() / 1000)
}

// ---------------------------------------------------------------------------
// Tokens

export interface SignOptions {
  /** The kid header; null leaves it out (very old clusters). Default: the key's own kid. */
  readonly kid?: string | null
}

/** Signs `claims` exactly as given (wrong types included) with `key`. */
export async function signToken(claims: Claims, key: TestSigningKey, options: SignOptions = {}): Promise<string> {
  const kid = options.kid === undefined ? key.kid : options.kid
  const header = { alg: key.alg, ...(kid === null ? {} : { kid }) }
  return new CompactSign(new TextEncoder().encode(JSON.stringify(claims))).setProtectedHeader(header).sign(key.privateKey)
}

export function encodeSegment(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url')
}

/** A token with any header and claims and a fake signature: for inputs that must be refused before any crypto. */
export function craftToken(header: unknown, claims: unknown, signature = 'c2lnbmF0dXJl'): string {
  return `${encodeSegment(header)}.${encodeSegment(claims)}.${signature}`
}

/** The token as `kubectl get secret -o yaml` shows data.token, wrapped at `lineLength` like `base64` does. */
export function wrapBase64(token: string, lineLength = 76): string {
  const encoded = Buffer.from(token).toString('base64')
  return encoded.match(new RegExp(`.{1,${lineLength}}`, 'g'))?.join('\n') ?? encoded
}

// ---------------------------------------------------------------------------
// A self-signed X.509 certificate, DER-encoded by hand (node:crypto reads
// certificates but cannot make one), so the CERTIFICATE path of the PEM
// loader is tested without openssl or a committed fixture.

export function selfSignedCertificatePem(key: TestSigningKey): string {
  if (key.type !== 'rsa') throw new Error('selfSignedCertificatePem builds RSA certificates only')
  const sha256WithRsa = sequence(objectId('1.2.840.113549.1.1.11'), Buffer.from([0x05, 0x00]))
  const name = sequence(set(sequence(objectId('2.5.4.3'), der(0x0c, Buffer.from('sa-signer')))))
  const notBefore = new Date('2026-01-01T00:00:00Z')
  const notAfter = new Date('2036-01-01T00:00:00Z')
  const toBeSigned = sequence(
    der(0x02, Buffer.from([0x01])), // serial number; v1 certificate, so no version field
    sha256WithRsa,
    name,
    sequence(utcTime(notBefore), utcTime(notAfter)),
    name,
    key.publicKey.export({ type: 'spki', format: 'der' }),
  )
  const signature = sign('sha256', toBeSigned, key.privateKey)
  const certificate = sequence(toBeSigned, sha256WithRsa, der(0x03, Buffer.concat([Buffer.from([0x00]), signature])))
  const body = certificate.toString('base64').match(/.{1,64}/g)?.join('\n') ?? ''
  return `-----BEGIN CERTIFICATE-----\n${body}\n-----END CERTIFICATE-----\n`
}

function der(tag: number, content: Buffer): Buffer {
  return Buffer.concat([Buffer.from([tag]), derLength(content.length), content])
}

function derLength(length: number): Buffer {
  if (length < 0x80) return Buffer.from([length])
  const bytes: number[] = []
  for (let rest = length; rest > 0; rest = Math.floor(rest / 256)) bytes.unshift(rest % 256)
  return Buffer.from([0x80 | bytes.length, ...bytes])
}

function sequence(...parts: Buffer[]): Buffer {
  return der(0x30, Buffer.concat(parts))
}

function set(...parts: Buffer[]): Buffer {
  return der(0x31, Buffer.concat(parts))
}

function objectId(dotted: string): Buffer {
  const [first = 0, second = 0, ...rest] = dotted.split('.').map(Number)
  const bytes = [40 * first + second]
  for (const arc of rest) {
    const base128: number[] = []
    for (let value = arc; ; value = Math.floor(value / 128)) {
      base128.unshift((value % 128) | (base128.length === 0 ? 0 : 0x80))
      if (value < 128) break
    }
    bytes.push(...base128)
  }
  return der(0x06, Buffer.from(bytes))
}

function utcTime(date: Date): Buffer {
  const text = date.toISOString().replace(/[-:T]/g, '').slice(2, 14) + 'Z'
  return der(0x17, Buffer.from(text))
}
