import { mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { beforeAll, describe, expect, it } from 'vitest'
import { keyCommands, loadVerificationKeys } from '../../../lib/cli/keys.ts'
import { describeKeys } from '../../../lib/token/keys.ts'
import { UsageError } from '../../../lib/errors.ts'
import { makeSigningKey, type TestSigningKey } from '../helpers/tokens.ts'

const jwksOf = (...keys: TestSigningKey[]) => ({ keys: keys.map((k) => ({ ...k.publicKey.export({ format: 'jwk' }), kid: k.kid, alg: k.alg, use: 'sig' })) })

describe('loadVerificationKeys', () => {
  const current = makeSigningKey()
  const retired = makeSigningKey()
  let dir: string
  let currentPem: string
  let retiredPem: string
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ktr-keys-'))
    currentPem = join(dir, 'sa.pub')
    retiredPem = join(dir, 'old-sa.pub')
    await writeFile(currentPem, current.publicPem)
    await writeFile(retiredPem, retired.publicPem)
  })

  it("uses the cluster's JWKS without key files", async () => {
    const set = await loadVerificationKeys([], async () => jwksOf(current), { mustMatchCluster: true })
    expect(set?.keys.map((k) => k.kid)).toEqual([current.kid])
    expect(set?.source).toBe('/openid/v1/jwks')
    expect(describeKeys(set!)).toBe(`1 key(s) from /openid/v1/jwks: ${current.kid}`)
  })

  it('has no keys offline without key files', async () => {
    expect(await loadVerificationKeys([], undefined, { mustMatchCluster: true })).toBeUndefined()
  })

  it('fails closed when the cluster publishes no usable key', async () => {
    await expect(loadVerificationKeys([], async () => ({ keys: [] }), { mustMatchCluster: true })).rejects.toThrow()
  })

  it('reads key files offline, without asking a cluster', async () => {
    const set = await loadVerificationKeys([currentPem], undefined, { mustMatchCluster: true })
    expect(set).toEqual({ keys: [expect.objectContaining({ kid: current.kid })], source: currentPem })
  })

  it('accepts key files that share a key with the cluster', async () => {
    const set = await loadVerificationKeys([currentPem], async () => jwksOf(current, retired), { mustMatchCluster: true })
    expect(set?.keys.map((k) => k.kid)).toEqual([current.kid])
    expect(set?.note).toBeUndefined()
  })

  it('refuses key files the cluster does not publish when the keys decide changes, naming both sides', async () => {
    const load = loadVerificationKeys([retiredPem], async () => jwksOf(current), { mustMatchCluster: true })
    await expect(load).rejects.toBeInstanceOf(UsageError)
    await expect(load).rejects.toThrow(new RegExp(`${retired.kid}.*none of which the API server publishes \\(${current.kid}\\)`))
  })

  it('only notes the mismatch when the keys decide nothing (verify-token)', async () => {
    const set = await loadVerificationKeys([retiredPem], async () => jwksOf(current), { mustMatchCluster: false })
    expect(set?.keys.map((k) => k.kid)).toEqual([retired.kid])
    expect(set?.note).toMatch(/none of which the API server publishes/)
  })

  it('uses key files, noting it, on a cluster that does not serve the JWKS (before 1.21)', async () => {
    const set = await loadVerificationKeys([currentPem], async () => Promise.reject(new Error('GET /openid/v1/jwks answered 404')), { mustMatchCluster: true })
    expect(set?.keys.map((k) => k.kid)).toEqual([current.kid])
    expect(set?.note).toMatch(/not compared/)
  })
})

describe('keyCommands', () => {
  it('shows each key file, quoted, or the JWKS request', () => {
    expect(keyCommands(["my keys/sa.pub"], (...args) => ['kubectl', ...args].join(' '))).toEqual(["openssl pkey -pubin -in 'my keys/sa.pub' -noout -text"])
    expect(keyCommands([], (...args) => ['kubectl', ...args].join(' '))).toEqual(['kubectl get --raw /openid/v1/jwks'])
  })
})
