// --restore: put backed-up token Secrets back. Only useful while the old
// signing key is still trusted (a graceful rotation): a restored token signed
// by a retired key would be rejected, so such Secrets are refused.
import type * as k8s from '@kubernetes/client-node'
import type { BackedUpObject } from './backup.ts'
import { isNotFound, PatchType, type Kube } from './kube/clients.ts'
import { tokenOf } from './secrets.ts'
import { decodeToken } from './token/decode.ts'
import type { VerificationKey } from './token/keys.ts'
import { verifySignature } from './token/signature.ts'

export const RestoreAction = {
  /** Current token differs: write the backed-up token back. */
  restore: 'restore',
  /** The Secret is gone: create it from the backup. */
  create: 'create',
  /** Already holds the backed-up token. */
  same: 'same',
  /** The backed-up token was signed by a key the cluster no longer trusts. */
  refuse: 'refuse',
} as const
export type RestoreAction = (typeof RestoreAction)[keyof typeof RestoreAction]

export interface RestoreItem {
  entry: BackedUpObject
  backup: k8s.V1Secret
  action: RestoreAction
  why: string
}

export async function planRestore(kube: Kube, objects: Array<{ entry: BackedUpObject; object: unknown }>, keys: readonly VerificationKey[]): Promise<RestoreItem[]> {
  const items: RestoreItem[] = []
  for (const { entry, object } of objects) {
    if (entry.kind !== 'Secret') continue
    const backup = object as k8s.V1Secret
    const saved = tokenOf(backup)
    const signature = saved ? await verifySignature(decodeToken(saved), keys) : undefined
    if (!saved || signature?.result !== 'verified') {
      items.push({ entry, backup, action: RestoreAction.refuse, why: `the backed-up token is signed by a key the cluster no longer trusts (${signature?.result ?? 'no token'}); restoring it would break its users` })
      continue
    }
    const current = await kube.core.readNamespacedSecret({ namespace: entry.namespace, name: entry.name }).catch((err: unknown) => (isNotFound(err) ? undefined : Promise.reject(err)))
    if (!current) items.push({ entry, backup, action: RestoreAction.create, why: 'the Secret is gone' })
    else if (tokenOf(current) === saved) items.push({ entry, backup, action: RestoreAction.same, why: 'already holds the backed-up token' })
    else items.push({ entry, backup, action: RestoreAction.restore, why: 'holds another token' })
  }
  return items
}

export async function applyRestore(kube: Kube, item: RestoreItem): Promise<void> {
  const { namespace, name } = item.entry
  if (item.action === RestoreAction.restore) {
    await kube.core.patchNamespacedSecret(
      { namespace, name, body: [{ op: 'add', path: '/data/token', value: item.backup.data!.token }] },
      kube.patchAs(PatchType.json),
    )
  } else if (item.action === RestoreAction.create) {
    const { labels, annotations } = item.backup.metadata ?? {}
    await kube.core.createNamespacedSecret({
      namespace,
      body: { metadata: { name, namespace, ...(labels ? { labels } : {}), ...(annotations ? { annotations } : {}) }, type: item.backup.type ?? 'kubernetes.io/service-account-token', data: item.backup.data ?? {} },
    })
  }
}
