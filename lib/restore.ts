// --restore: put backed-up token Secrets back. Only useful while the old
// signing key is still trusted (a graceful rotation): a restored token signed
// by a retired key would be rejected, so such Secrets are refused.
//
// The backup is not trusted blindly (someone may have edited or swapped it):
//  - a file outside the backup directory is refused (readBackup);
//  - the object's own kind, namespace and name must be the entry's, and its
//    token's `secret.name` and namespace claims must name that Secret, so a
//    manifest cannot aim a token at another Secret;
//  - a write carries a JSON-patch `test` of what the plan saw (the UID, and
//    the token or the resourceVersion), so a token that changed after the
//    plan is never overwritten silently: the item is refused instead.
// Each object's OLDEST entry is restored (the state before the first run
// touched it); `pick: 'newest'` restores the last copy instead.
// A refused item is a failure: `restoreFailures` lists them for the caller.
import type * as k8s from '@kubernetes/client-node'
import type { BackedUpObject, ReadEntry } from './backup.ts'
import { isNotFound, PatchType, statusOf, type Kube } from './kube/clients.ts'
import { refusalOf } from './kube/errors.ts'
import { tokenOf } from './secrets.ts'
import { decodeToken } from './token/decode.ts'
import type { VerificationKey } from './token/keys.ts'
import { verifySignature } from './token/signature.ts'
import { creatableCopy } from './regenerate/apply.ts'

export const RestoreAction = {
  /** Current token differs: write the backed-up token back. */
  restore: 'restore',
  /** The Secret is gone: create it from the backup. */
  create: 'create',
  /** Already holds the backed-up token. */
  same: 'same',
  /** Cannot or must not be restored; `why` says which. */
  refuse: 'refuse',
} as const
export type RestoreAction = (typeof RestoreAction)[keyof typeof RestoreAction]

export interface RestoreItem {
  entry: BackedUpObject
  backup: k8s.V1Secret
  action: RestoreAction
  why: string
  /** What the plan saw in the cluster, tested by the write. */
  seen?: { uid: string; resourceVersion?: string; token?: string }
}

export interface RestoreOptions {
  /** Which copy of an object backed up more than once: the oldest (default, the original) or the newest. */
  pick?: 'oldest' | 'newest'
}

type SecretReader = { core: Pick<Kube['core'], 'readNamespacedSecret'> }
type SecretWriter = Pick<Kube, 'patchAs'> & { core: Pick<Kube['core'], 'readNamespacedSecret' | 'patchNamespacedSecret' | 'createNamespacedSecret'> }

const NAMESPACE_CLAIM = 'kubernetes.io/serviceaccount/namespace'
const SECRET_NAME_CLAIM = 'kubernetes.io/serviceaccount/secret.name'

/** One entry per Secret: its oldest copy (manifest order is write order), or the newest when asked. */
export function pickEntries(objects: readonly ReadEntry[], pick: 'oldest' | 'newest' = 'oldest'): ReadEntry[] {
  const chosen = new Map<string, ReadEntry>()
  for (const item of objects) {
    if (item.entry.kind !== 'Secret') continue
    const key = `${item.entry.namespace}/${item.entry.name}`
    if (pick === 'newest' || !chosen.has(key)) chosen.set(key, item)
  }
  return [...chosen.values()]
}

/** Why this backed-up Secret must not be restored to the entry's place, or undefined. */
export function mismatch(entry: BackedUpObject, object: unknown): string | undefined {
  const o = (object ?? {}) as k8s.V1Secret
  const m = o.metadata ?? {}
  if (o.kind !== 'Secret') return `its file holds a ${String(o.kind ?? 'object without kind')}, not a Secret`
  if (m.namespace !== entry.namespace || m.name !== entry.name) return `its file holds Secret ${m.namespace ?? '?'}/${m.name ?? '?'}, not ${entry.namespace}/${entry.name}`
  if (entry.uid && m.uid !== entry.uid) return `its file holds another Secret of that name (uid ${m.uid ?? '?'}, the manifest says ${entry.uid})`
  const saved = tokenOf(o)
  if (!saved) return 'the backed-up Secret holds no token'
  let claims: Record<string, unknown>
  try {
    claims = decodeToken(saved).claims
  } catch (err) {
    return `the backed-up token is malformed (${(err as Error).message})`
  }
  if (claims[NAMESPACE_CLAIM] !== entry.namespace || claims[SECRET_NAME_CLAIM] !== entry.name) {
    return `the backed-up token was issued for Secret ${String(claims[NAMESPACE_CLAIM] ?? '?')}/${String(claims[SECRET_NAME_CLAIM] ?? '?')}, not this one`
  }
  return undefined
}

export async function planRestore(kube: SecretReader, objects: readonly ReadEntry[], keys: readonly VerificationKey[], options: RestoreOptions = {}): Promise<RestoreItem[]> {
  const items: RestoreItem[] = []
  for (const { entry, object, problem } of pickEntries(objects, options.pick)) {
    const backup = (object ?? {}) as k8s.V1Secret
    const refuse = (why: string) => items.push({ entry, backup, action: RestoreAction.refuse, why })
    const wrong = problem ?? mismatch(entry, object)
    if (wrong) {
      refuse(wrong)
      continue
    }
    const saved = tokenOf(backup)!
    const signature = await verifySignature(decodeToken(saved), keys)
    if (signature.result !== 'verified') {
      refuse(`the backed-up token is signed by a key the cluster no longer trusts (${signature.result}); restoring it would break its users`)
      continue
    }
    const current = await kube.core.readNamespacedSecret({ namespace: entry.namespace, name: entry.name }).catch((err: unknown) => (isNotFound(err) ? undefined : Promise.reject(err)))
    if (!current) {
      items.push({ entry, backup, action: RestoreAction.create, why: 'the Secret is gone' })
      continue
    }
    const seen = {
      uid: current.metadata?.uid ?? '',
      ...(current.metadata?.resourceVersion ? { resourceVersion: current.metadata.resourceVersion } : {}),
      ...(current.data?.token !== undefined ? { token: current.data.token } : {}),
    }
    if (tokenOf(current) === saved) items.push({ entry, backup, action: RestoreAction.same, why: 'already holds the backed-up token', seen })
    else items.push({ entry, backup, action: RestoreAction.restore, why: 'holds another token', seen })
  }
  return items
}

/** The JSON patch that writes the backed-up token, guarded by what the plan saw. */
export function restorePatch(item: RestoreItem): object[] {
  const seen = item.seen
  if (!seen?.uid) throw new Error(`restore of ${item.entry.namespace}/${item.entry.name} has no plan-time state to guard the write with`)
  return [
    { op: 'test', path: '/metadata/uid', value: seen.uid },
    seen.token !== undefined ? { op: 'test', path: '/data/token', value: seen.token } : { op: 'test', path: '/metadata/resourceVersion', value: seen.resourceVersion ?? '' },
    { op: 'add', path: seen.token !== undefined ? '/data/token' : '/data', value: seen.token !== undefined ? item.backup.data!.token : { ...item.backup.data } },
  ]
}

/**
 * Puts one planned item back. A Secret that changed after the plan (the
 * guard failed, it was deleted, or another one was created under its name)
 * is not overwritten: the item becomes `refuse` with the reason, and the
 * function returns false.
 */
export async function applyRestore(kube: SecretWriter, item: RestoreItem): Promise<boolean> {
  const { namespace, name } = item.entry
  const changed = (what: string) => {
    item.action = RestoreAction.refuse
    item.why = `${what} after the plan; not overwritten: rerun the restore to see its current state`
    return false
  }
  if (item.action === RestoreAction.restore) {
    try {
      await kube.core.patchNamespacedSecret({ namespace, name, body: restorePatch(item) }, kube.patchAs(PatchType.json))
    } catch (err) {
      if (isNotFound(err)) return changed('it was deleted')
      if (refusalOf(err)?.kind === 'test-failed') return changed('it changed')
      throw err
    }
  } else if (item.action === RestoreAction.create) {
    try {
      await kube.core.createNamespacedSecret({ namespace, body: creatableCopy(item.backup) })
    } catch (err) {
      if (statusOf(err) !== 409) throw err
      // AlreadyExists: ours, if its answer was lost and the call retried; else someone else's.
      const current = await kube.core.readNamespacedSecret({ namespace, name }).catch(() => undefined)
      if (!current || tokenOf(current) !== tokenOf(item.backup)) return changed('another Secret was created under its name')
    }
  }
  return item.action !== RestoreAction.refuse
}

/** The items that were not restored, as `namespace/name: why` lines: any makes the restore a failure. */
export function restoreFailures(items: readonly RestoreItem[]): string[] {
  return items.filter((i) => i.action === RestoreAction.refuse).map((i) => `${i.entry.namespace}/${i.entry.name}: ${i.why}`)
}
