// verify-token with --key-file needs no cluster: run the real script as a
// subprocess with generated keys and tokens, and no kubeconfig at all.
import { mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { beforeAll, describe, expect, it } from 'vitest'
import { jsonOf, runRunbook } from '../../e2e/support/cli.ts'
import { legacyClaims, makeSigningKey, signToken, type TestSigningKey } from '../helpers/tokens.ts'

describe('verify-token offline (--key-file)', () => {
  let dir: string
  let current: TestSigningKey
  let retired: TestSigningKey
  const noCluster = { env: { KUBECONFIG: '/nonexistent/kubeconfig', HOME: '/nonexistent' } }

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ktr-offline-'))
    current = makeSigningKey('rsa')
    retired = makeSigningKey('rsa')
    await writeFile(join(dir, 'sa.pub'), current.publicPem)
  })

  it('reports a token signed by the given key as valid, and shows its fingerprint but never the token', async () => {
    const token = await signToken(legacyClaims(), current)
    const result = await runRunbook('verify-token', ['--token', token, '--key-file', join(dir, 'sa.pub'), '-o', 'json'], noCluster)
    expect(result.code, result.stderr).toBe(0)
    const { results } = jsonOf<{ results: Array<{ status: string; fingerprint: string }> }>(result)
    expect(results[0]!.status).toBe('valid')
    expect(results[0]!.fingerprint).toMatch(/^sha256:[0-9a-f]{12}$/)
    expect(result.stdout + result.stderr).not.toContain(token)
  }, 60_000)

  it('reports a token signed by a retired key as unknown-key and exits 1', async () => {
    const token = await signToken(legacyClaims(), retired)
    const result = await runRunbook('verify-token', ['--token-file', '-', '--key-file', join(dir, 'sa.pub')], { ...noCluster, input: token })
    expect(result.code).toBe(1)
    expect(result.stdout).toContain('UNKNOWN-KEY')
    expect(result.stdout).toMatch(/run regenerate-tokens/)
  }, 60_000)

  // A forged token gets the verdict it gets when found in a Secret (lib/kube/inspect-token.ts says why).
  it.each([
    ['an HMAC token', ['--token', 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln'], /HMAC/],
    ['alg none', ['--token', 'eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.'], /unsigned/],
  ])('reports %s as forged and exits 1, without a stack trace', async (_what, args, message) => {
    const result = await runRunbook('verify-token', [...args, '--key-file', join(dir, 'sa.pub')], noCluster)
    expect(result.code, result.stderr).toBe(1)
    expect(result.stdout).toContain('FORGED')
    expect(result.stdout).toMatch(message)
    expect(result.stdout + result.stderr).not.toMatch(/\n\s+at /)
  }, 60_000)

  it.each([
    ['an empty token file', ['--token-file', '-'], /is empty/],
    ['a missing key file', ['--token', 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln', '--key-file', '/nonexistent.pem'], /cannot read --key-file/],
    ['an unknown flag', ['--tokn', 'x'], /unknown flag/i],
  ])('exits 2 for %s without a stack trace', async (_what, args, message) => {
    const result = await runRunbook('verify-token', [...args, ...(args.includes('--key-file') ? [] : ['--key-file', join(dir, 'sa.pub')])], noCluster)
    expect(result.code).toBe(2)
    expect(result.stderr).toMatch(message)
    expect(result.stderr).not.toMatch(/\n\s+at /)
  }, 60_000)
})
