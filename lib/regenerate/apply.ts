// The two ways to make the tokens controller issue a new legacy token, both
// idempotent so a rerun after a crash completes the job, and both asking for
// proof (a SavedCopy) that the exact version they change is backed up:
//  - in place: blank data.token (guarded by a JSON-patch `test` of the old
//    value, so a token someone already replaced is left alone); the controller
//    refills the same Secret, so pod specs naming it stay valid. Refused for
//    an immutable Secret, whose data cannot change: use recreate;
//  - recreate: delete (guarded by UID and resourceVersion, so only the
//    version on disk is deleted) and create it again under the same name
//    with everything but its token; since 1.24 nothing else would. If the
//    create fails for good, the backed-up Secret is put back as it was, so a
//    failed recreate never loses a Secret.
// Both stamp REGENERATED_AT_ANNOTATION for restart-dependent-pods.
import type * as k8s from '@kubernetes/client-node'
import { backupDirOf, type SavedCopy } from '../backup.ts'
import { DomainError } from '../errors.ts'
import { BACKUP_DIR_ANNOTATION, REGENERATED_AT_ANNOTATION } from '../annotations.ts'
import { isNotFound, PatchType, statusOf, type Kube } from '../kube/clients.ts'
import { describeApiError, refusalOf } from '../kube/errors.ts'
import { retrySafe } from '../kube/retry.ts'

export const Strategy = { inPlace: 'in-place', recreate: 'recreate' } as const
export type Strategy = (typeof Strategy)[keyof typeof Strategy]

/** `/` in a JSON-patch path segment is written `~1`. */
const annotationPath = (name: string) => `/metadata/annotations/${name.replace('~', '~0').replace('/', '~1')}`

/** `gone`: the Secret was deleted meanwhile (its namespace is going away, or someone removed it). */
export type RegenerateOutcome = 'blanked' | 'recreated' | 'already-changed' | 'gone'

/** The few client methods regeneration uses: tests pass a small fake as `{ core }`. */
export type SecretClient = Pick<Kube['core'], 'patchNamespacedSecret' | 'deleteNamespacedSecret' | 'createNamespacedSecret'>
type SecretApi = Pick<Kube, 'patchAs'> & { core: SecretClient }

const keyOf = (secret: k8s.V1Secret) => `${secret.metadata?.namespace ?? ''}/${secret.metadata?.name ?? ''}`

/** The proof must be for this very version: a copy of an older one would not bring this one back. */
function requireCopy(secret: k8s.V1Secret, saved: SavedCopy): void {
  const m = secret.metadata ?? {}
  if (saved.kind !== 'Secret' || saved.namespace !== m.namespace || saved.name !== m.name || saved.uid !== m.uid || saved.resourceVersion !== m.resourceVersion) {
    throw new Error(`the backup ${saved.file} is not a copy of Secret ${keyOf(secret)} at resourceVersion ${m.resourceVersion ?? '?'}: back up this version before changing it`)
  }
}

export function immutableError(secret: k8s.V1Secret): DomainError {
  return new DomainError(`Secret ${keyOf(secret)} is immutable (immutable: true), so its token cannot be blanked in place; rerun with --strategy recreate`)
}

export async function blankToken({ core, patchAs }: SecretApi, secret: k8s.V1Secret, now: Date, saved: SavedCopy): Promise<RegenerateOutcome> {
  requireCopy(secret, saved)
  if (secret.immutable === true) throw immutableError(secret)
  const { namespace = '', name = '' } = secret.metadata ?? {}
  const previous = secret.data?.token
  const patch: object[] = [
    ...(previous ? [{ op: 'test', path: '/data/token', value: previous }] : []),
    { op: 'add', path: secret.data ? '/data/token' : '/data', value: secret.data ? '' : { token: '' } },
    ...(secret.metadata?.annotations ? [] : [{ op: 'add', path: '/metadata/annotations', value: {} }]),
    { op: 'add', path: annotationPath(REGENERATED_AT_ANNOTATION), value: now.toISOString() },
    { op: 'add', path: annotationPath(BACKUP_DIR_ANNOTATION), value: backupDirOf(saved) },
  ]
  try {
    await core.patchNamespacedSecret({ namespace, name, body: patch }, patchAs(PatchType.json))
    return 'blanked'
  } catch (err) {
    if (isNotFound(err)) return 'gone'
    const refusal = refusalOf(err)
    // The `test` op failed: the token is no longer the one we saw (refilled or replaced meanwhile).
    if (refusal?.kind === 'test-failed') return 'already-changed'
    if (refusal?.kind === 'immutable') throw immutableError(secret)
    if (refusal?.kind === 'admission') throw new DomainError(`an admission policy refused to blank the token of Secret ${keyOf(secret)}: ${refusal.message}; ask its owner to allow the change, then rerun`, { cause: err })
    if (refusal) throw new DomainError(`the API server refused to blank the token of Secret ${keyOf(secret)}: ${refusal.message}`, { cause: err })
    throw err
  }
}

export async function recreateSecret({ core }: SecretApi, secret: k8s.V1Secret, now: Date, saved: SavedCopy): Promise<RegenerateOutcome> {
  requireCopy(secret, saved)
  const { namespace = '', name = '', uid, resourceVersion } = secret.metadata ?? {}
  if (!uid) throw new Error(`Secret ${keyOf(secret)} has no uid: it was not read from the API server`)
  try {
    await core.deleteNamespacedSecret({ namespace, name, body: { preconditions: { uid, ...(resourceVersion ? { resourceVersion } : {}) } } })
  } catch (err) {
    // 409: the Secret changed since it was backed up (or a newer one took its name): not ours to delete.
    if (statusOf(err) === 409) return 'already-changed'
    // 404: already deleted, by an earlier interrupted run: create it again below.
    if (!isNotFound(err)) throw err
  }
  let createError: unknown
  try {
    await core.createNamespacedSecret({ namespace, body: freshCopy(secret, now, backupDirOf(saved)) })
    return 'recreated'
  } catch (err) {
    createError = err
  }
  // 409 AlreadyExists: a Secret stands under this name now (our own create
  // that answered too late, or someone else's): it is not lost.
  if (statusOf(createError) === 409) return 'recreated'
  try {
    await core.createNamespacedSecret({ namespace, body: creatableCopy(secret) })
  } catch (putBackError) {
    if (statusOf(putBackError) !== 409) {
      throw new DomainError(
        `Secret ${keyOf(secret)} is deleted: creating it again failed (${describeApiError(createError)}) and putting the backup back failed too (${describeApiError(putBackError)}); ` +
          `fix the cause, then create it from ${saved.path}: jq 'del(.metadata.uid, .metadata.resourceVersion, .metadata.creationTimestamp)' ${saved.path} | kubectl create -f -`,
        { cause: createError },
      )
    }
  }
  throw new DomainError(
    `could not create Secret ${keyOf(secret)} again (${describeApiError(createError)}); it was put back from the backup as it was, old token included: fix the cause and rerun`,
    { cause: createError },
  )
}

/** Server-set fields a create must not carry. */
const SERVER_SET = ['uid', 'resourceVersion', 'creationTimestamp', 'managedFields', 'generation', 'selfLink', 'deletionTimestamp', 'deletionGracePeriodSeconds'] as const

/** The Secret as a create accepts it: everything it holds (labels, annotations, ownerReferences, finalizers, every data key, type, immutable), server-set fields dropped. */
export function creatableCopy(secret: k8s.V1Secret): k8s.V1Secret {
  const metadata: Record<string, unknown> = { ...(secret.metadata ?? {}) }
  for (const field of SERVER_SET) delete metadata[field]
  const { status: _status, ...rest } = secret as k8s.V1Secret & { status?: unknown }
  return { ...rest, apiVersion: 'v1', kind: 'Secret', metadata: metadata as k8s.V1ObjectMeta }
}

/**
 * The same Secret without a token: every label, annotation, ownerReference,
 * finalizer, data key and the type kept, stamped regenerated-at. Not
 * `immutable`, even when the original was: the tokens controller must write
 * the new token into it, which an immutable Secret forbids. `sealAgain`
 * restores `immutable: true` once the token is back.
 */
export function freshCopy(secret: k8s.V1Secret, now: Date, backupDir?: string): k8s.V1Secret {
  const copy = creatableCopy(secret)
  const { token: _token, ...data } = secret.data ?? {}
  const { immutable: _immutable, data: _data, ...rest } = copy
  return {
    ...rest,
    type: secret.type ?? 'kubernetes.io/service-account-token',
    ...(Object.keys(data).length ? { data } : {}),
    metadata: {
      ...copy.metadata,
      annotations: { ...copy.metadata?.annotations, [REGENERATED_AT_ANNOTATION]: now.toISOString(), ...(backupDir ? { [BACKUP_DIR_ANNOTATION]: backupDir } : {}) },
    },
  }
}

/** After the refill: make a recreated Secret immutable again if its original was. Idempotent (it sets the same value each time). */
export async function sealAgain({ core, patchAs }: Pick<Kube, 'patchAs'> & { core: Pick<SecretClient, 'patchNamespacedSecret'> }, original: k8s.V1Secret): Promise<boolean> {
  if (original.immutable !== true) return false
  const { namespace = '', name = '' } = original.metadata ?? {}
  await core.patchNamespacedSecret({ namespace, name, body: { immutable: true } }, retrySafe(patchAs(PatchType.merge)))
  return true
}

export async function regenerate(kube: Kube, secret: k8s.V1Secret, strategy: Strategy, now: Date, saved: SavedCopy): Promise<RegenerateOutcome> {
  return strategy === Strategy.recreate ? recreateSecret(kube, secret, now, saved) : blankToken(kube, secret, now, saved)
}
