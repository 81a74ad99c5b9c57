import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Observable, type V1Secret } from '@kubernetes/client-node'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { Backup, type SavedCopy } from '../../../lib/backup.ts'
import { DomainError } from '../../../lib/errors.ts'
import { BACKUP_DIR_ANNOTATION, REGENERATED_AT_ANNOTATION } from '../../../lib/annotations.ts'
import { retrying, safetyOf } from '../../../lib/kube/retry.ts'
import { blankToken, freshCopy, recreateSecret, sealAgain, type SecretClient } from '../../../lib/regenerate/apply.ts'
import { immutableRefused, policyDenied, statusError, testOpFailed, webhookDenied } from '../helpers/api-errors.ts'

const now = new Date('2026-12-01T10:00:00Z')
const b64 = (s: string) => Buffer.from(s).toString('base64')

/** A token Secret as the API returns it, with everything a recreate must keep. */
function liveSecret(overrides: Partial<V1Secret> = {}): V1Secret {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    type: 'kubernetes.io/service-account-token',
    metadata: {
      name: 'robot-token',
      namespace: 'ns',
      uid: 'uid-1',
      resourceVersion: '100',
      creationTimestamp: new Date('2025-01-01T00:00:00Z'),
      managedFields: [{ manager: 'kube-controller-manager' }],
      labels: { team: 'a' },
      annotations: { 'kubernetes.io/service-account.name': 'robot', 'kubernetes.io/service-account.uid': 'sa-uid' },
      ownerReferences: [{ apiVersion: 'v1', kind: 'ConfigMap', name: 'owner', uid: 'owner-uid' }],
      finalizers: ['example.com/keep'],
    },
    data: { token: b64('old-token'), 'ca.crt': b64('CA'), namespace: b64('ns'), extra: b64('x') },
    ...overrides,
  }
}

type Call = { method: string; args: unknown[] }
/** The three client methods regeneration uses; each answers from its script in turn (an Error rejects), then succeeds. */
function fakeCore(script: Partial<Record<'patchNamespacedSecret' | 'deleteNamespacedSecret' | 'createNamespacedSecret', unknown[]>> = {}) {
  const calls: Call[] = []
  const answer = (method: keyof typeof script) => (...args: unknown[]) => {
    calls.push({ method, args })
    const next = script[method]?.shift()
    return next instanceof Error ? Promise.reject(next) : Promise.resolve(next ?? {})
  }
  const core = {
    patchNamespacedSecret: answer('patchNamespacedSecret'),
    deleteNamespacedSecret: answer('deleteNamespacedSecret'),
    createNamespacedSecret: answer('createNamespacedSecret'),
  } as unknown as SecretClient
  return { core, patchAs: (type: string) => ({ contentType: type }) as never, calls, bodies: (method: string) => calls.filter((c) => c.method === method).map((c) => (c.args[0] as { body: unknown }).body) }
}

let dir: string
let backup: Backup
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'ktr-apply-'))
  backup = new Backup(join(dir, 'b'), 'regenerate-tokens', 'c', () => now)
})
afterEach(() => rmSync(dir, { recursive: true, force: true }))

const saveOf = (secret: V1Secret): Promise<SavedCopy> => backup.save('Secret', secret)

describe('blankToken (in place)', () => {
  it('blanks the token behind a test of the old value, and stamps regenerated-at', async () => {
    const secret = liveSecret()
    const fake = fakeCore()
    expect(await blankToken(fake, secret, now, await saveOf(secret))).toBe('blanked')
    const [patch] = fake.bodies('patchNamespacedSecret') as Array<Array<{ op: string; path: string; value?: unknown }>>
    expect(patch?.[0]).toEqual({ op: 'test', path: '/data/token', value: b64('old-token') })
    expect(patch).toContainEqual({ op: 'add', path: '/data/token', value: '' })
    // The backup directory of its copy, for the report of a resumed run.
    expect(patch).toContainEqual({ op: 'add', path: '/metadata/annotations/kube-token-runbooks.io~1backup-dir', value: backup.dir })
    expect(safetyOf('patchNamespacedSecret', fake.calls[0]!.args)).toBe('guarded')
  })

  it('a failed test guard means someone else changed it: already-changed', async () => {
    const secret = liveSecret()
    expect(await blankToken(fakeCore({ patchNamespacedSecret: [testOpFailed()] }), secret, now, await saveOf(secret))).toBe('already-changed')
  })

  it('refuses an immutable Secret before sending anything, naming the fix', async () => {
    const secret = liveSecret({ immutable: true })
    const fake = fakeCore()
    await expect(blankToken(fake, secret, now, await saveOf(secret))).rejects.toThrow(/^Secret ns\/robot-token is immutable \(immutable: true\), so its token cannot be blanked in place; rerun with --strategy recreate$/)
    expect(fake.calls).toEqual([])
  })

  it('an immutable refusal from the server names the fix too', async () => {
    const secret = liveSecret()
    await expect(blankToken(fakeCore({ patchNamespacedSecret: [immutableRefused()] }), secret, now, await saveOf(secret))).rejects.toThrow(/--strategy recreate$/)
  })

  it('an admission denial fails with the policy’s own message', async () => {
    const secret = liveSecret()
    const blank = blankToken(fakeCore({ patchNamespacedSecret: [policyDenied()] }), secret, now, await saveOf(secret))
    await expect(blank).rejects.toThrow(DomainError)
    await expect(blankToken(fakeCore({ patchNamespacedSecret: [policyDenied()] }), secret, now, await saveOf(secret))).rejects.toThrow(
      /^an admission policy refused to blank the token of Secret ns\/robot-token: .*protect-tokens.*managed by the platform team; ask its owner/,
    )
  })

  it('a Secret deleted meanwhile is gone', async () => {
    const secret = liveSecret()
    expect(await blankToken(fakeCore({ patchNamespacedSecret: [statusError(404, 'not found')] }), secret, now, await saveOf(secret))).toBe('gone')
  })

  it('will not change a version whose copy is not on disk', async () => {
    const saved = await saveOf(liveSecret())
    const newer = liveSecret({ metadata: { ...liveSecret().metadata, resourceVersion: '101' } })
    const fake = fakeCore()
    await expect(blankToken(fake, newer, now, saved)).rejects.toThrow(/is not a copy of Secret ns\/robot-token at resourceVersion 101: back up this version/)
    expect(fake.calls).toEqual([])
  })
})

describe('recreateSecret', () => {
  it('deletes only the backed-up version (UID and resourceVersion preconditions) and creates it with everything but the token', async () => {
    const secret = liveSecret()
    const fake = fakeCore()
    expect(await recreateSecret(fake, secret, now, await saveOf(secret))).toBe('recreated')
    expect(fake.calls.map((c) => c.method)).toEqual(['deleteNamespacedSecret', 'createNamespacedSecret'])
    expect(fake.bodies('deleteNamespacedSecret')[0]).toEqual({ preconditions: { uid: 'uid-1', resourceVersion: '100' } })
    const created = fake.bodies('createNamespacedSecret')[0] as V1Secret
    expect(created.metadata).toEqual({
      name: 'robot-token',
      namespace: 'ns',
      labels: { team: 'a' },
      annotations: {
        'kubernetes.io/service-account.name': 'robot',
        'kubernetes.io/service-account.uid': 'sa-uid',
        [REGENERATED_AT_ANNOTATION]: now.toISOString(),
        [BACKUP_DIR_ANNOTATION]: backup.dir,
      },
      ownerReferences: [{ apiVersion: 'v1', kind: 'ConfigMap', name: 'owner', uid: 'owner-uid' }],
      finalizers: ['example.com/keep'],
    })
    expect(created.data).toEqual({ 'ca.crt': b64('CA'), namespace: b64('ns'), extra: b64('x') })
    expect(created.type).toBe('kubernetes.io/service-account-token')
    // Both writes are ones the retry wrapper may send twice.
    for (const call of fake.calls) expect(safetyOf(call.method, call.args)).toBe('guarded')
  })

  it('creates an immutable Secret mutable (the controller must write its token); sealAgain makes it immutable afterwards', async () => {
    const secret = liveSecret({ immutable: true })
    const fake = fakeCore()
    await recreateSecret(fake, secret, now, await saveOf(secret))
    expect((fake.bodies('createNamespacedSecret')[0] as V1Secret).immutable).toBeUndefined()
    expect(await sealAgain(fake, secret)).toBe(true)
    expect(fake.bodies('patchNamespacedSecret')[0]).toEqual({ immutable: true })
    expect(safetyOf('patchNamespacedSecret', fake.calls.at(-1)!.args)).toBe('guarded')
    expect(await sealAgain(fakeCore(), liveSecret())).toBe(false)
  })

  it('a create that fails transiently is retried (through the client wrapper) and succeeds', async () => {
    const secret = liveSecret()
    const fake = fakeCore({ createNamespacedSecret: [statusError(503, 'unavailable'), statusError(500, 'etcd leader changed')] })
    const core = retrying(fake.core, Observable, { sleep: () => Promise.resolve(), random: () => 0 })
    expect(await recreateSecret({ core, patchAs: fake.patchAs }, secret, now, await saveOf(secret))).toBe('recreated')
    expect(fake.bodies('createNamespacedSecret')).toHaveLength(3)
    expect((fake.bodies('createNamespacedSecret')[2] as V1Secret).data?.token).toBeUndefined()
  })

  it('a create that fails for good puts the Secret back from the backup, token included, and fails naming the error', async () => {
    const secret = liveSecret()
    const fake = fakeCore({ createNamespacedSecret: [webhookDenied()] })
    await expect(recreateSecret(fake, secret, now, await saveOf(secret))).rejects.toThrow(
      /^could not create Secret ns\/robot-token again \(403 admission webhook "guard\.example\.com" denied the request: change freeze until Monday\); it was put back from the backup as it was, old token included: fix the cause and rerun$/,
    )
    const [, putBack] = fake.bodies('createNamespacedSecret') as V1Secret[]
    expect(putBack?.data?.token).toBe(b64('old-token'))
    expect(putBack?.metadata?.ownerReferences).toHaveLength(1)
    expect(putBack?.metadata?.uid).toBeUndefined()
    expect(putBack?.metadata?.resourceVersion).toBeUndefined()
    expect(putBack?.metadata?.creationTimestamp).toBeUndefined()
    expect(putBack?.metadata?.managedFields).toBeUndefined()
  })

  it('when putting it back fails too, it names both errors and the backup file to create it from', async () => {
    const secret = liveSecret()
    const saved = await saveOf(secret)
    const fake = fakeCore({ createNamespacedSecret: [statusError(403, 'exceeded quota: secrets'), statusError(403, 'exceeded quota: secrets (again)')] })
    const err = (await recreateSecret(fake, secret, now, saved).catch((e: unknown) => e)) as Error
    expect(err).toBeInstanceOf(DomainError)
    expect(err.message).toMatch(/^Secret ns\/robot-token is deleted: creating it again failed \(403 exceeded quota: secrets\) and putting the backup back failed too \(403 exceeded quota: secrets \(again\)\)/)
    expect(err.message).toContain(`kubectl create -f -`)
    expect(err.message).toContain(saved.path)
    expect(err.message).not.toContain('\n')
  })

  it('a Secret changed since its backup is not deleted: already-changed', async () => {
    const secret = liveSecret()
    const fake = fakeCore({ deleteNamespacedSecret: [statusError(409, 'Precondition failed: UID in precondition')] })
    expect(await recreateSecret(fake, secret, now, await saveOf(secret))).toBe('already-changed')
    expect(fake.calls.map((c) => c.method)).toEqual(['deleteNamespacedSecret'])
  })

  it('a rerun after a crash between delete and create creates it (delete answers 404)', async () => {
    const secret = liveSecret()
    const fake = fakeCore({ deleteNamespacedSecret: [statusError(404, 'not found')] })
    expect(await recreateSecret(fake, secret, now, await saveOf(secret))).toBe('recreated')
    expect(fake.bodies('createNamespacedSecret')).toHaveLength(1)
  })

  it('a create answered 409 (our own retried create, or the name taken) is not put back', async () => {
    const secret = liveSecret()
    const fake = fakeCore({ createNamespacedSecret: [statusError(409, 'already exists')] })
    expect(await recreateSecret(fake, secret, now, await saveOf(secret))).toBe('recreated')
    expect(fake.bodies('createNamespacedSecret')).toHaveLength(1)
  })

  it('will not delete without proof that this version is backed up', async () => {
    const secret = liveSecret()
    const other = await saveOf(liveSecret({ metadata: { ...liveSecret().metadata, name: 'other' } }))
    const fake = fakeCore()
    await expect(recreateSecret(fake, secret, now, other)).rejects.toThrow(/is not a copy of Secret ns\/robot-token/)
    expect(fake.calls).toEqual([])
  })
})

describe('freshCopy', () => {
  it('drops the token and server-set fields only', () => {
    const copy = freshCopy(liveSecret(), now)
    expect(Object.keys(copy.metadata ?? {}).sort()).toEqual(['annotations', 'finalizers', 'labels', 'name', 'namespace', 'ownerReferences'])
    expect(copy.data?.token).toBeUndefined()
  })
})
