import type { V1Secret } from '@kubernetes/client-node'
import { beforeAll, describe, expect, it } from 'vitest'
import type { BackedUpObject, ReadEntry } from '../../lib/backup.ts'
import { safetyOf } from '../../lib/kube/retry.ts'
import { applyRestore, pickEntries, planRestore, restoreFailures, restorePatch, RestoreAction, type RestoreItem } from '../../lib/restore.ts'
import { loadPublicKeysFromPem, type VerificationKey } from '../../lib/token/keys.ts'
import { statusError, testOpFailed } from './helpers/api-errors.ts'
import { legacyClaims, makeSigningKey, signToken, type TestSigningKey } from './helpers/tokens.ts'

const b64 = (s: string) => Buffer.from(s).toString('base64')
let trusted: TestSigningKey
let retired: TestSigningKey
let keys: VerificationKey[]
beforeAll(() => {
  trusted = makeSigningKey('ec')
  retired = makeSigningKey('ec')
  keys = loadPublicKeysFromPem(trusted.publicPem, 'test')
})

const tokenFor = (namespace: string, secretName: string, key = trusted) => signToken(legacyClaims({ namespace, secretName, serviceAccount: 'robot' }), key)

function secret(namespace: string, name: string, token: string | undefined, meta: { uid?: string; resourceVersion?: string } = {}): V1Secret {
  return {
    kind: 'Secret',
    apiVersion: 'v1',
    type: 'kubernetes.io/service-account-token',
    metadata: { namespace, name, uid: meta.uid ?? `uid-${name}`, resourceVersion: meta.resourceVersion ?? '100', labels: { team: 'a' } },
    ...(token === undefined ? {} : { data: { token: b64(token), 'ca.crt': b64('CA') } }),
  }
}

function entry(namespace: string, name: string, extra: Partial<BackedUpObject> = {}): BackedUpObject {
  return { kind: 'Secret', namespace, name, uid: `uid-${name}`, resourceVersion: '100', file: `secret/${namespace}/${name}/100-uid-${name}.json`, writtenAt: '', ...extra }
}

/** readNamespacedSecret answers from `live` (missing: 404); writes are recorded and answered from `fail`. */
function fakeCluster(live: Record<string, V1Secret>, fail: { patch?: unknown; create?: unknown } = {}) {
  const writes: Array<{ method: string; args: unknown[] }> = []
  const core = {
    readNamespacedSecret: ({ namespace, name }: { namespace: string; name: string }) => {
      const found = live[`${namespace}/${name}`]
      return found ? Promise.resolve(found) : Promise.reject(statusError(404, 'not found'))
    },
    patchNamespacedSecret: (...args: unknown[]) => (writes.push({ method: 'patchNamespacedSecret', args }), fail.patch ? Promise.reject(fail.patch) : Promise.resolve({})),
    createNamespacedSecret: (...args: unknown[]) => (writes.push({ method: 'createNamespacedSecret', args }), fail.create ? Promise.reject(fail.create) : Promise.resolve({})),
  }
  return { kube: { core, patchAs: (type: string) => ({ contentType: type }) } as never, writes }
}

describe('planRestore', () => {
  it('restores, re-creates, or leaves alone what already matches', async () => {
    const [a, b, c] = await Promise.all([tokenFor('ns', 'a'), tokenFor('ns', 'b'), tokenFor('ns', 'c')])
    const objects: ReadEntry[] = [
      { entry: entry('ns', 'a'), object: secret('ns', 'a', a) },
      { entry: entry('ns', 'b'), object: secret('ns', 'b', b) },
      { entry: entry('ns', 'c'), object: secret('ns', 'c', c) },
    ]
    const { kube } = fakeCluster({ 'ns/a': secret('ns', 'a', 'newer', { resourceVersion: '200' }), 'ns/c': secret('ns', 'c', c) })
    const items = await planRestore(kube, objects, keys)
    expect(items.map((i) => [i.entry.name, i.action])).toEqual([['a', 'restore'], ['b', 'create'], ['c', 'same']])
    expect(items[0]?.seen).toEqual({ uid: 'uid-a', resourceVersion: '200', token: b64('newer') })
    expect(restoreFailures(items)).toEqual([])
  })

  it.each<[string, () => Promise<ReadEntry>, RegExp]>([
    ['a file problem from readBackup', async () => ({ entry: entry('ns', 'a'), problem: 'its file path "/etc/passwd" is not inside the backup directory' }), /not inside the backup directory/],
    ['a file that holds another Secret', async () => ({ entry: entry('ns', 'a'), object: secret('ns', 'victim', await tokenFor('ns', 'victim')) }), /holds Secret ns\/victim, not ns\/a/],
    ['a file that holds another kind', async () => ({ entry: entry('ns', 'a'), object: { kind: 'ConfigMap', metadata: { namespace: 'ns', name: 'a' } } }), /holds a ConfigMap, not a Secret/],
    ['another Secret of that name (uid)', async () => ({ entry: entry('ns', 'a'), object: secret('ns', 'a', await tokenFor('ns', 'a'), { uid: 'someone-else' }) }), /another Secret of that name/],
    ['a token issued for another Secret', async () => ({ entry: entry('ns', 'a'), object: secret('ns', 'a', await tokenFor('ns', 'other')) }), /issued for Secret ns\/other, not this one/],
    ['a token issued in another namespace', async () => ({ entry: entry('ns', 'a'), object: secret('ns', 'a', await tokenFor('kube-system', 'a')) }), /issued for Secret kube-system\/a/],
    ['a malformed token', async () => ({ entry: entry('ns', 'a'), object: secret('ns', 'a', 'not.a.jwt') }), /backed-up token is malformed/],
    ['no token', async () => ({ entry: entry('ns', 'a'), object: secret('ns', 'a', undefined) }), /holds no token/],
    ['a token signed by a retired key', async () => ({ entry: entry('ns', 'a'), object: secret('ns', 'a', await tokenFor('ns', 'a', retired)) }), /no longer trusts/],
  ])('refuses %s, by name, and goes on with the others', async (_, make, why) => {
    const good = await tokenFor('ns', 'good')
    const { kube } = fakeCluster({})
    const items = await planRestore(kube, [await make(), { entry: entry('ns', 'good'), object: secret('ns', 'good', good) }], keys)
    expect(items[0]).toMatchObject({ action: RestoreAction.refuse })
    expect(items[0]?.why).toMatch(why)
    expect(items[1]?.action).toBe(RestoreAction.create)
    expect(restoreFailures(items)).toEqual([expect.stringMatching(/^ns\/a: /)])
  })
})

describe('pickEntries', () => {
  const versions: ReadEntry[] = [
    { entry: entry('ns', 'a', { resourceVersion: '100' }) },
    { entry: entry('ns', 'b', { resourceVersion: '5' }) },
    { entry: entry('ns', 'a', { resourceVersion: '101' }) },
    { entry: { ...entry('ns', 'cm'), kind: 'ConfigMap' } },
  ]
  it('takes the oldest copy of each Secret by default (the original), the newest when asked', () => {
    expect(pickEntries(versions).map((o) => `${o.entry.name}@${o.entry.resourceVersion}`)).toEqual(['a@100', 'b@5'])
    expect(pickEntries(versions, 'newest').map((o) => `${o.entry.name}@${o.entry.resourceVersion}`)).toEqual(['a@101', 'b@5'])
  })
})

describe('applyRestore', () => {
  async function planned(live: V1Secret | undefined): Promise<RestoreItem> {
    const saved = await tokenFor('ns', 'a')
    const { kube } = fakeCluster(live ? { 'ns/a': live } : {})
    const [item] = await planRestore(kube, [{ entry: entry('ns', 'a'), object: secret('ns', 'a', saved) }], keys)
    return item!
  }

  it('writes the token behind tests of the UID and the token the plan saw', async () => {
    const item = await planned(secret('ns', 'a', 'newer'))
    const cluster = fakeCluster({})
    expect(await applyRestore(cluster.kube, item)).toBe(true)
    const { args } = cluster.writes[0]!
    expect((args[0] as { body: unknown }).body).toEqual([
      { op: 'test', path: '/metadata/uid', value: 'uid-a' },
      { op: 'test', path: '/data/token', value: b64('newer') },
      { op: 'add', path: '/data/token', value: item.backup.data!.token },
    ])
    expect(safetyOf('patchNamespacedSecret', args)).toBe('guarded')
  })

  it('without a token at plan time it tests the resourceVersion instead', async () => {
    const item = await planned(secret('ns', 'a', undefined, { resourceVersion: '300' }))
    expect(restorePatch(item)[1]).toEqual({ op: 'test', path: '/metadata/resourceVersion', value: '300' })
  })

  it('a token that changed after the plan is not overwritten: the item is refused and the restore is a failure', async () => {
    const item = await planned(secret('ns', 'a', 'newer'))
    expect(await applyRestore(fakeCluster({}, { patch: testOpFailed() }).kube, item)).toBe(false)
    expect(item.action).toBe(RestoreAction.refuse)
    expect(restoreFailures([item])).toEqual([expect.stringMatching(/^ns\/a: it changed after the plan; not overwritten/)])
  })

  it('re-creates a gone Secret with all it held, without server-set fields', async () => {
    const item = await planned(undefined)
    const cluster = fakeCluster({})
    expect(await applyRestore(cluster.kube, item)).toBe(true)
    const body = (cluster.writes[0]!.args[0] as { body: V1Secret }).body
    expect(body.metadata).toEqual({ namespace: 'ns', name: 'a', labels: { team: 'a' } })
    expect(body.data?.['ca.crt']).toBe(b64('CA'))
  })

  it('a Secret created by someone else meanwhile (409, another token) is refused', async () => {
    const item = await planned(undefined)
    const cluster = fakeCluster({ 'ns/a': secret('ns', 'a', 'theirs') }, { create: statusError(409, 'already exists') })
    expect(await applyRestore(cluster.kube, item)).toBe(false)
    expect(item.why).toMatch(/another Secret was created under its name/)
  })
})
