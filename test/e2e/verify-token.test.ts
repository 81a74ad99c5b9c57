// verify-token against the real cluster: a fresh token is valid, an abrupt key
// rotation makes it unknown-key (exit 1), a graceful one keeps it valid, --all
// reports every Secret, and no token ever reaches the output.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { writeFile, mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createNamespace, createTokenSecret, deleteNamespace, useCluster, type TestCluster } from './support/cluster.ts'
import { jsonOf, runRunbook, type CliResult } from './support/cli.ts'

interface Results {
  results: Array<{ source: string; status: string; reason: string; fingerprint?: string; live?: { bearerProbe?: { httpStatus: number } } }>
  steps: Array<{ outcome: string }>
}

describe('verify-token', () => {
  let cluster: TestCluster
  let namespace: string
  let token: string
  const outputs: CliResult[] = []
  const verify = async (...args: string[]) => {
    const result = await runRunbook('verify-token', args, { kubeconfig: cluster.kubeconfigPath })
    outputs.push(result)
    return result
  }

  beforeAll(async () => {
    cluster = await useCluster()
    namespace = await createNamespace(cluster.core, 'verify')
    for (const sa of ['alpha', 'beta']) await cluster.core.createNamespacedServiceAccount({ namespace, body: { metadata: { name: sa } } })
    token = await createTokenSecret(cluster.core, namespace, 'alpha-token', 'alpha')
    await createTokenSecret(cluster.core, namespace, 'beta-token', 'beta')
    await cluster.core.createNamespacedSecret({ namespace, body: { metadata: { name: 'not-a-token' }, stringData: { password: 'x' } } })
  })
  afterAll(async () => {
    if (cluster && namespace) await deleteNamespace(cluster.core, namespace)
  })

  it('reports a fresh token as valid, with the bearer check authenticated (403: no RBAC)', async () => {
    const result = await verify('--secret', `${namespace}/alpha-token`, '-o', 'json')
    expect(result.code, result.stderr).toBe(0)
    const { results } = jsonOf<Results>(result)
    expect(results).toHaveLength(1)
    expect(results[0]).toMatchObject({ source: `secret ${namespace}/alpha-token`, status: 'valid' })
    expect(results[0]!.live?.bearerProbe?.httpStatus).toBe(403)
  })

  it('checks a token given on stdin, base64-wrapped as kubectl shows it', async () => {
    const wrapped = Buffer.from(token).toString('base64')
    const result = await runRunbook('verify-token', ['--token-file', '-'], { kubeconfig: cluster.kubeconfigPath, input: `${wrapped}\n` })
    outputs.push(result)
    expect(result.code, result.stderr).toBe(0)
    expect(result.stdout).toContain('VALID')
  })

  it('reports every token Secret of a namespace with --all', async () => {
    const result = await verify('--all', '-n', namespace, '-o', 'json')
    expect(result.code, result.stderr).toBe(0)
    const sources = jsonOf<Results>(result).results.map((r) => r.source).sort()
    expect(sources).toEqual([`secret ${namespace}/alpha-token`, `secret ${namespace}/beta-token`])
  })

  it('changes nothing and says so with --dry-run', async () => {
    const result = await verify('--all', '-n', namespace, '--dry-run', '-o', 'json')
    expect(result.code, result.stderr).toBe(0)
    const outcomes = jsonOf<Results>(result).steps.map((s) => s.outcome)
    expect(outcomes).not.toContain('applied')
  })

  it.each([
    ['a missing Secret', ['--secret', 'NS/nope'], /Secret .*\/nope not found/],
    ['a Secret that is not a token Secret', ['--secret', 'NS/not-a-token'], /is of type Opaque, not kubernetes.io\/service-account-token/],
    ['a malformed token', ['--token', 'not-a-jwt'], /not a JWT/],
    ['no input', [], /nothing to check/],
  ])('exits 2 with a one-line error for %s', async (_what, args, message) => {
    const result = await verify(...args.map((a) => a.replace('NS', namespace)))
    expect(result.code).toBe(2)
    expect(result.stderr).toMatch(message)
    expect(result.stderr).not.toMatch(/\n\s+at /) // no stack trace
  })

  it('exits 1 with a one-line error when the cluster is unreachable', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ktr-'))
    const kubeconfig = join(dir, 'kubeconfig')
    await writeFile(
      kubeconfig,
      'apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]\nusers: [{name: u, user: {token: x}}]\ncontexts: [{name: c, context: {cluster: c, user: u}}]\ncurrent-context: c\n',
    )
    const result = await runRunbook('verify-token', ['--secret', 'default/x'], { kubeconfig })
    expect(result.code).toBe(1)
    expect(result.stderr).toMatch(/cannot reach the API server https:\/\/127\.0\.0\.1:1 .*ECONNREFUSED/)
  })

  it('reports the unknown key after an abrupt rotation (exit 1), and a graceful rotation keeps new tokens valid', async () => {
    await cluster.handle.rotateServiceAccountKey({ keepOld: false })
    const stale = await verify('--secret', `${namespace}/alpha-token`, '-o', 'json')
    expect(stale.code).toBe(1)
    const [result] = jsonOf<Results>(stale).results
    expect(result!.status).toBe('unknown-key')
    expect(result!.reason).toMatch(/no longer trusts.*run regenerate-tokens/)
    expect(result!.live?.bearerProbe?.httpStatus).toBe(401)

    const fresh = await createTokenSecret(cluster.core, namespace, 'gamma-token', 'alpha')
    await cluster.handle.rotateServiceAccountKey({ keepOld: true })
    const graceful = await verify('--secret', `${namespace}/gamma-token`)
    expect(graceful.code, graceful.stderr).toBe(0)
    expect(fresh).not.toBe(token)
  })

  it('never printed a token', () => {
    expect(outputs.length).toBeGreaterThan(5)
    for (const { stdout, stderr } of outputs) {
      expect(stdout + stderr).not.toContain(token)
      expect(stdout + stderr).not.toMatch(/eyJ[\w-]{10,}\.eyJ[\w-]{10,}\.[\w-]{20,}/)
    }
  })
})
