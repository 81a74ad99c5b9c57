// The hostile-input corpus: crafted tokens, JWKS documents, kubeconfigs and
// arguments, each with the one clean outcome it must get: a status (exit 0
// for valid, 1 otherwise) or a one-line expected error with its exit code
// (2 usage, 1 domain). Never a stack trace, never a second line, never the
// secret it was given. See the security review of 2026-11-30 (items 7-9 and
// its 45-input table).
import { createHmac } from 'node:crypto'
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { readBackup } from '../../../lib/backup.ts'
import { CONFIG_FILE_LIMIT } from '../../../lib/capped-read.ts'
import { defineCli, parseCli } from '../../../lib/cli/flags.ts'
import { loadKeyFile } from '../../../lib/cli/inputs.ts'
import { loadKubeConfig } from '../../../lib/cli/kube.ts'
import { exitCodeFor, isExpected } from '../../../lib/errors.ts'
import { inspectToken } from '../../../lib/kube/inspect-token.ts'
import { parseSecretRef } from '../../../lib/kube/token-secrets.ts'
import { keysFromJwks, loadPublicKeysFromPem } from '../../../lib/token/keys.ts'
import { craftToken, encodeSegment, legacyClaims, makeSigningKey, signToken, wrapBase64 } from '../helpers/tokens.ts'

const NOW = new Date('2026-06-01T12:00:00Z')
const rsa = makeSigningKey('rsa')
const ec = makeSigningKey('ec')
const untrusted = makeSigningKey('rsa')
const keys = [...loadPublicKeysFromPem(rsa.publicPem, 'sa.pub'), ...loadPublicKeysFromPem(ec.publicPem, 'ec.pub')]
const seconds = (date: string) => Math.floor(Date.parse(date) / 1000)

interface Outcome {
  /** The status, or the error's name. */
  readonly what: string
  readonly exit: number
  readonly line: string
}

/** Runs one input the way the entry point would judge it: a status, or an error mapped to its exit code. */
async function outcomeOf(action: () => unknown): Promise<Outcome> {
  try {
    const result = (await action()) as { status?: string; reason?: string } | undefined
    const status = result?.status ?? 'ok'
    return { what: status, exit: status === 'valid' || status === 'ok' ? 0 : 1, line: result?.reason ?? '' }
  } catch (err) {
    // An unexpected error is a bug: it would print a stack, so it fails every row.
    if (!isExpected(err)) throw err
    return { what: err.name, exit: exitCodeFor(err), line: err.message }
  }
}

function expectClean(outcome: Outcome, secrets: readonly string[]): void {
  expect(outcome.line).not.toMatch(/[\r\n]/)
  for (const secret of secrets) if (secret.length >= 8) expect(outcome.line).not.toContain(secret)
}

// ---------------------------------------------------------------------------
// Tokens, checked offline against an RSA and an EC key (verify-token --token-file F --key-file sa.pub --key-file ec.pub)

const valid = await signToken(legacyClaims(), rsa)
const validEc = await signToken(legacyClaims(), ec)
const [validHeader = '', validClaims = '', validSignature = ''] = valid.split('.')
const hmacForgery = (() => {
  const input = `${encodeSegment({ alg: 'HS256', kid: rsa.kid })}.${encodeSegment(legacyClaims())}`
  return `${input}.${createHmac('sha256', rsa.publicPem).update(input).digest('base64url')}`
})()

const tokens: Array<[name: string, token: () => Promise<string> | string, what: string, exit: number]> = [
  ['valid RS256', () => valid, 'valid', 0],
  ['valid ES256', () => validEc, 'valid', 0],
  ['valid, without kid', () => signToken(legacyClaims(), rsa, { kid: null }), 'valid', 0],
  ['valid, base64-wrapped at 76 columns', () => wrapBase64(valid), 'valid', 0],
  ['valid, after "Bearer "', () => `Bearer ${valid}`, 'valid', 0],
  ['valid, with a BOM and CRLF', () => `\uFEFF${valid}\r\n`, 'valid', 0],
  ['alg none', () => craftToken({ alg: 'none' }, legacyClaims(), ''), 'forged', 1],
  ['alg NONE with a signature', () => craftToken({ alg: 'NONE' }, legacyClaims()), 'forged', 1],
  ['HS256 keyed with the public key PEM', () => hmacForgery, 'forged', 1],
  ['exp as a string in the past', () => signToken({ ...legacyClaims(), exp: String(seconds('2020-01-01T00:00:00Z')) }, rsa), 'malformed', 1],
  ['exp negative', () => signToken({ ...legacyClaims(), exp: -5 }, rsa), 'malformed', 1],
  ['exp fractional', () => signToken({ ...legacyClaims(), exp: seconds('2027-01-01T00:00:00Z') + 0.5 }, rsa), 'malformed', 1],
  ['exp huge', () => signToken({ ...legacyClaims(), exp: 1e300 }, rsa), 'malformed', 1],
  ['nbf as null', () => signToken({ ...legacyClaims(), nbf: null }, rsa), 'malformed', 1],
  ['kid of the wrong type', () => craftToken({ alg: 'RS256', kid: 7 }, legacyClaims()), 'malformed', 1],
  ['an unknown alg', () => craftToken({ alg: 'RSA-OAEP', kid: rsa.kid }, legacyClaims()), 'malformed', 1],
  ['exp in the past', () => signToken({ ...legacyClaims(), exp: seconds('2026-05-01T00:00:00Z') }, rsa), 'expired', 1],
  ['nbf in the future beyond the leeway', () => signToken({ ...legacyClaims(), nbf: seconds('2026-06-01T12:05:00Z') }, rsa), 'not-yet-valid', 1],
  ['kid of an untrusted key, signed by it', () => signToken(legacyClaims(), untrusted), 'unknown-key', 1],
  ['trusted kid, signed by another key', () => signToken(legacyClaims(), untrusted, { kid: rsa.kid }), 'bad-signature', 1],
  ['ES256 header over an RSA signature', () => `${encodeSegment({ alg: 'ES256', kid: ec.kid })}.${validClaims}.${validSignature}`, 'bad-signature', 1],
  ['claims swapped under a valid signature', () => `${validHeader}.${encodeSegment({ ...legacyClaims(), sub: 'system:admin' })}.${validSignature}`, 'bad-signature', 1],
  ['two segments', () => `${validHeader}.${validClaims}`, 'InvalidTokenError', 2],
  ['four segments', () => `${valid}.x`, 'InvalidTokenError', 2],
  ['an empty signature', () => `${validHeader}.${validClaims}.`, 'InvalidTokenError', 2],
  ['claims that are not UTF-8', () => `${validHeader}.${Buffer.from([0x7b, 0xff, 0x7d]).toString('base64url')}.${validSignature}`, 'InvalidTokenError', 2],
  ['a header that is a JSON array', () => `${encodeSegment(['RS256'])}.${validClaims}.${validSignature}`, 'InvalidTokenError', 2],
  ['base64 that does not decode to a JWT', () => Buffer.from('eyJ not a token').toString('base64'), 'InvalidTokenError', 2],
  ['empty', () => '   \n', 'InvalidTokenError', 2],
  ['10 MB of "a"', () => 'a'.repeat(10 * 2 ** 20), 'InvalidTokenError', 2],
  ['10 MB of dots', () => '.'.repeat(10 * 2 ** 20), 'InvalidTokenError', 2],
  ['a 60 KB claim', () => signToken({ ...legacyClaims(), pad: 'x'.repeat(60_000) }, rsa), 'InvalidTokenError', 2],
]

describe('crafted tokens (verify-token --token-file, offline)', () => {
  it.each(tokens)('%s → %s, exit %i', async (_name, make, what, exit) => {
    const token = await make()
    const outcome = await outcomeOf(() => inspectToken('--token-file t', token, { keys, now: NOW }))
    expect({ what: outcome.what, exit: outcome.exit }).toEqual({ what, exit })
    expectClean(outcome, [token.trim(), ...token.trim().split('.')])
  })
})

// ---------------------------------------------------------------------------
// JWKS documents (what /openid/v1/jwks, or a saved copy, may hold)

const rsaJwk = { ...(rsa.publicKey.export({ format: 'jwk' }) as Record<string, unknown>), kid: rsa.kid }
const jwksRows: Array<[name: string, jwks: unknown, what: string, exit: number, says: RegExp]> = [
  ['a good document', { keys: [{ ...rsaJwk, use: 'sig', alg: 'RS256' }] }, 'ok', 0, /^$/],
  ['no keys', { keys: [] }, 'DomainError', 1, /holds no keys/],
  ['only an encryption key', { keys: [{ ...rsaJwk, use: 'enc', alg: 'RSA-OAEP' }] }, 'DomainError', 1, /no key usable to verify signatures/],
  ['a key for "encrypt" only', { keys: [{ ...rsaJwk, key_ops: ['encrypt'] }] }, 'DomainError', 1, /no key usable/],
  ['a symmetric key', { keys: [{ kty: 'oct', k: 'c2VjcmV0LXNlY3JldC1zZWNyZXQ' }] }, 'DomainError', 1, /symmetric \(oct\) key/],
  ['an HTML error page', '<html>403 Forbidden</html>', 'DomainError', 1, /is not a JWKS document/],
  ['an RSA key with an empty modulus', { keys: [{ kty: 'RSA', n: '!!', e: 'AQAB' }] }, 'DomainError', 1, /not a valid public JWK/],
]

describe('crafted JWKS documents', () => {
  it.each(jwksRows)('%s → %s, exit %i', async (_name, jwks, what, exit, says) => {
    const outcome = await outcomeOf(() => void keysFromJwks(jwks, 'jwks.json'))
    expect({ what: outcome.what, exit: outcome.exit }).toEqual({ what, exit })
    expect(outcome.line).toMatch(says)
    expectClean(outcome, ['c2VjcmV0LXNlY3JldC1zZWNyZXQ'])
  })
})

// ---------------------------------------------------------------------------
// Kubeconfigs that do not load: the error names the file and line, never a value

const STATIC_TOKEN = 's3cr3t-static-token-012'
const PASSWORD = 'hunter2-super-secret'
let dir: string
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'ktr-hostile-'))
})
afterAll(() => rmSync(dir, { recursive: true, force: true }))

const kubeconfigs: Array<[name: string, text: string, says: RegExp]> = [
  ['bad indentation next to a token and a password', `kind: Config\nusers:\n- name: u\n  user:\n    token: ${STATIC_TOKEN}\n    password: ${PASSWORD}\n   oops: x\n`, /is not valid YAML at line \d+: fix or replace the file$/],
  ['an unclosed flow mapping holding a token', `kind: Config\nusers: [{name: u, user: {token: ${STATIC_TOKEN}`, /is not valid YAML at line \d+/],
  ['a tab where YAML wants spaces', `kind: Config\nusers:\n\t- token: ${STATIC_TOKEN}\n`, /is not valid YAML at line \d+/],
  ['a duplicate key', `kind: Config\nusers: []\nusers:\n- name: u\n  user: {token: ${STATIC_TOKEN}}\n`, /is not valid YAML at line \d+/],
  ['a cluster without a server', `kind: Config\nclusters:\n- name: c\n  cluster: {certificate-authority-data: ${PASSWORD}}\n`, /is not a valid kubeconfig \(clusters\[0\]\.cluster\.server is missing\)/],
]

describe('kubeconfigs that do not load', () => {
  it.each(kubeconfigs)('%s → UsageError, exit 2, no content', async (name, text, says) => {
    const path = join(dir, `${name.replaceAll(' ', '-')}.yaml`)
    writeFileSync(path, text)
    const outcome = await outcomeOf(async () => void (await loadKubeConfig({ kubeconfig: path }, {}, { homeDir: dir })))
    expect({ what: outcome.what, exit: outcome.exit }).toEqual({ what: 'UsageError', exit: 2 })
    expect(outcome.line).toMatch(says)
    expectClean(outcome, [STATIC_TOKEN, PASSWORD, STATIC_TOKEN.slice(0, 8), PASSWORD.slice(0, 8)])
  })
})

// ---------------------------------------------------------------------------
// Arguments: a token in the wrong place is described, never echoed

const cli = defineCli({ name: 'verify-token', summary: 'x', flags: [{ name: 'secret', type: 'string[]', description: 'x' }] })
const wrapped = Buffer.from(valid).toString('base64')
const argumentRows: Array<[name: string, action: () => unknown, secret: string, says: RegExp]> = [
  ['a wrapped token as a positional (forgotten --token-file)', () => parseCli(cli, { argv: [wrapped], env: {}, cwd: '/' }), wrapped, /^unexpected argument a value that looks like a token/],
  ['a 76-column wrapped token as a positional', () => parseCli(cli, { argv: [wrapBase64(valid)], env: {}, cwd: '/' }), wrapped.slice(0, 76), /looks like a token/],
  ['a raw token as a positional', () => parseCli(cli, { argv: [valid], env: {}, cwd: '/' }), valid, /looks like a token/],
  ['a wrapped token given to --secret', () => parseSecretRef(wrapped, 'default'), wrapped, /^--secret a value that looks like a token \(not shown\)/],
  ['a wrapped token after a namespace in --secret', () => parseSecretRef(`default/${wrapped}`, 'default'), wrapped, /looks like a token/],
  ['a wrapped token given to --kubeconfig', () => loadKubeConfig({ kubeconfig: wrapped }, {}, { cwd: '/', homeDir: '/' }), wrapped, /^kubeconfig a path that looks like a token \(not shown\) \(from --kubeconfig\) does not exist/],
  ['a wrapped token given to --env-file', () => parseCli(cli, { argv: ['--env-file', wrapped], env: {}, cwd: '/' }), wrapped, /^env file a path that looks like a token \(not shown\)/],
  ['an upper-case Secret name', () => parseSecretRef('default/MyToken', 'default'), 'never-matches', /is not a valid Secret name/],
]

describe('arguments', () => {
  it.each(argumentRows)('%s → UsageError, exit 2', async (_name, action, secret, says) => {
    const outcome = await outcomeOf(action)
    expect({ what: outcome.what, exit: outcome.exit }).toEqual({ what: 'UsageError', exit: 2 })
    expect(outcome.line).toMatch(says)
    expectClean(outcome, [secret, secret.slice(0, 16)])
  })
})

// ---------------------------------------------------------------------------
// Input files without end: /dev/zero, or a file far larger than its kind ever
// is, read with a cap and answered with one line naming the file, the limit
// and the fix (exit 2 for usage inputs, 1 for a backup). Unguarded, a key
// file died with a RangeError after 512 MiB and the others read forever.

const oversized = (name: string, bytes: number): string => {
  const path = join(dir, name)
  writeFileSync(path, Buffer.alloc(bytes, 'a'))
  return path
}
const aBackupWhoseManifestIs = (name: string, manifest: (path: string) => void): string => {
  const backup = join(dir, name)
  mkdirSync(backup, { recursive: true })
  manifest(join(backup, 'manifest.json'))
  return backup
}
const envFileCli = defineCli({ name: 'x', summary: 'x', flags: [] })

const endlessFiles: Array<[name: string, action: () => unknown, exit: number, says: RegExp]> = [
  ['--key-file /dev/zero', () => loadKeyFile('/dev/zero'), 2, /^--key-file \/dev\/zero is larger than 4 MiB, .*; pass the PEM public key/],
  ['an oversized --key-file', () => loadKeyFile(oversized('big.pem', CONFIG_FILE_LIMIT + 1)), 2, /big\.pem is larger than 4 MiB/],
  ['--kubeconfig /dev/zero', () => loadKubeConfig({ kubeconfig: '/dev/zero' }, {}, { homeDir: dir }), 2, /^kubeconfig \/dev\/zero is larger than 4 MiB, .*: fix the path/],
  ['an oversized --kubeconfig', () => loadKubeConfig({ kubeconfig: oversized('big.yaml', CONFIG_FILE_LIMIT + 1) }, {}, { homeDir: dir }), 2, /big\.yaml is larger than 4 MiB/],
  ['KUBECONFIG naming /dev/zero after a good file', () => loadKubeConfig({}, { KUBECONFIG: `${kubeconfigFile()}:/dev/zero` }, { homeDir: dir }), 2, /^kubeconfig \/dev\/zero is larger than 4 MiB/],
  ['--env-file /dev/zero', () => parseCli(envFileCli, { argv: ['--env-file', '/dev/zero'], env: {}, cwd: dir }), 2, /^env file \/dev\/zero \(from --env-file\) is larger than 4 MiB/],
  ['KTR_ENV_FILE naming an oversized file', () => parseCli(envFileCli, { argv: [], env: { KTR_ENV_FILE: oversized('big.env', CONFIG_FILE_LIMIT + 1) }, cwd: dir }), 2, /big\.env \(from KTR_ENV_FILE\) is larger than 4 MiB/],
  ['--restore of a backup whose manifest is /dev/zero', () => readBackup(aBackupWhoseManifestIs('zero-backup', (p) => symlinkSync('/dev/zero', p))), 1, /^backup manifest .*manifest\.json is larger than 32 MiB/],
  ['--restore of a backup with an oversized manifest', () => readBackup(aBackupWhoseManifestIs('big-backup', (p) => writeFileSync(p, Buffer.alloc(32 * 1024 * 1024 + 1, ' ')))), 1, /manifest\.json is larger than 32 MiB/],
]

/** A kubeconfig that loads, so the cap is what stops the next KUBECONFIG entry. */
function kubeconfigFile(): string {
  const path = join(dir, 'good.yaml')
  writeFileSync(path, 'apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: "https://c.example:6443"}}]\nusers: [{name: u, user: {}}]\ncontexts: [{name: c, context: {cluster: c, user: u}}]\ncurrent-context: c\n')
  return path
}

describe('input files without end', () => {
  it.each(endlessFiles)('%s → one line naming the file and the limit', async (_name, action, exit, says) => {
    const outcome = await outcomeOf(action)
    expect(outcome.exit).toBe(exit)
    expect(outcome.line).toMatch(says)
    expectClean(outcome, [])
  })

  it('refuses a backed-up object file larger than an object can be, by name', async () => {
    const backup = aBackupWhoseManifestIs('big-object', (p) =>
      writeFileSync(p, JSON.stringify({ version: 2, runbook: 'r', createdAt: '', cluster: 'c', objects: [{ kind: 'Secret', namespace: 'ns', name: 'a', file: 'a.json', writtenAt: '' }] })),
    )
    writeFileSync(join(backup, 'a.json'), Buffer.alloc(3 * 1024 * 1024 + 1, ' '))
    const { objects } = await readBackup(backup)
    expect(objects[0]?.object).toBeUndefined()
    expect(objects[0]?.problem).toBe('its file a.json is larger than 3 MiB, too large to be a backed-up object')
  })
})
