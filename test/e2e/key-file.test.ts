// --key-file for the runbooks that change things because of the keys: the way
// in on clusters that do not serve /openid/v1/jwks, and a stale key file that
// would make good tokens look stale stops the run before anything changes.
import { createPublicKey, generateKeyPairSync, type JsonWebKey } from 'node:crypto'
import { mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { rawRequest } from '../../lib/kube/raw.ts'
import { createNamespace, createTokenSecret, deleteNamespace, tokenReview, useCluster, type TestCluster } from './support/cluster.ts'
import { jsonOf, runRunbook } from './support/cli.ts'

describe('--key-file', () => {
  let cluster: TestCluster
  let namespace: string
  let dir: string
  let currentPem: string
  let strangerPem: string
  const secretVersions = async () => (await cluster.core.listNamespacedSecret({ namespace })).items.map((s) => JSON.stringify([s.metadata!.name, s.data])).sort()

  beforeAll(async () => {
    cluster = await useCluster()
    namespace = await createNamespace(cluster.core, 'keyfile')
    await cluster.core.createNamespacedServiceAccount({ namespace, body: { metadata: { name: 'app' } } })
    await createTokenSecret(cluster.core, namespace, 'app-token', 'app')
    dir = await mkdtemp(join(tmpdir(), 'ktr-keyfile-'))
    // The cluster's current key as a PEM file, as an operator would copy sa.pub off a control-plane node.
    const jwks = JSON.parse((await rawRequest(cluster.kc, '/openid/v1/jwks')).body) as { keys: JsonWebKey[] }
    currentPem = join(dir, 'sa.pub')
    await writeFile(currentPem, jwks.keys.map((jwk) => createPublicKey({ key: jwk, format: 'jwk' }).export({ type: 'spki', format: 'pem' })).join(''))
    strangerPem = join(dir, 'stale-sa.pub')
    await writeFile(strangerPem, generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ type: 'spki', format: 'pem' }))
  })
  afterAll(async () => {
    if (namespace) await deleteNamespace(cluster.core, namespace)
  })

  it('refuses a key file the cluster does not publish (exit 2), naming it, and changes nothing', async () => {
    const before = await secretVersions()
    const result = await runRunbook('regenerate-tokens', ['-n', namespace, '--all-tokens', '--yes', '--key-file', strangerPem, '--backup-dir', join(dir, 'refused')], { kubeconfig: cluster.kubeconfigPath })
    expect(result.code, result.stderr.slice(-2000)).toBe(2)
    expect(`${result.stdout}${result.stderr}`).toMatch(/stale-sa\.pub holds key\(s\) .*none of which the API server publishes/)
    expect(await secretVersions()).toEqual(before)
  })

  it("regenerates and proves with the cluster's key given as a file", async () => {
    const result = await runRunbook('regenerate-tokens', ['-n', namespace, '--all-tokens', '--yes', '--key-file', currentPem, '--backup-dir', join(dir, 'run'), '-o', 'json'], {
      kubeconfig: cluster.kubeconfigPath,
    })
    expect(result.code, result.stderr.slice(-2000)).toBe(0)
    const report = jsonOf<{ steps: Array<{ id: string; outcome: string; kubectl: string[] }> }>(result)
    expect(report.steps.find((s) => s.id === 'regenerate-tokens')?.outcome).toBe('applied')
    expect(report.steps.find((s) => s.id === 'find-stale-tokens')?.kubectl.join('\n')).toContain('sa.pub')
    const fresh = Buffer.from((await cluster.core.readNamespacedSecret({ namespace, name: 'app-token' })).data!.token!, 'base64').toString()
    expect((await tokenReview(cluster.authn, fresh)).authenticated).toBe(true)
  })
})
