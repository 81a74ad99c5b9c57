// The two ways to make the tokens controller issue a new legacy token, both
// idempotent so a rerun after a crash completes the job:
//  - in place: blank data.token (guarded by a JSON-patch `test` of the old
//    value, so a token someone already replaced is left alone); the controller
//    refills the same Secret, so pod specs naming it stay valid;
//  - recreate: delete (guarded by UID) and create it again under the same
//    name with its labels and annotations; since 1.24 nothing else would.
// Both stamp REGENERATED_AT_ANNOTATION for restart-dependent-pods.
import type * as k8s from '@kubernetes/client-node'
import { REGENERATED_AT_ANNOTATION } from '../annotations.ts'
import { isNotFound, PatchType, statusOf, type Kube } from '../kube/clients.ts'

export const Strategy = { inPlace: 'in-place', recreate: 'recreate' } as const
export type Strategy = (typeof Strategy)[keyof typeof Strategy]

/** `/` in a JSON-patch path segment is written `~1`. */
const annotationPath = `/metadata/annotations/${REGENERATED_AT_ANNOTATION.replace('~', '~0').replace('/', '~1')}`

/** `gone`: the Secret was deleted meanwhile (its namespace is going away, or someone removed it). */
export type RegenerateOutcome = 'blanked' | 'recreated' | 'already-changed' | 'gone'

export async function blankToken(kube: Kube, secret: k8s.V1Secret, now: Date): Promise<RegenerateOutcome> {
  const { namespace = '', name = '' } = secret.metadata ?? {}
  const previous = secret.data?.token
  const patch: object[] = [
    ...(previous ? [{ op: 'test', path: '/data/token', value: previous }] : []),
    { op: 'add', path: secret.data ? '/data/token' : '/data', value: secret.data ? '' : { token: '' } },
    ...(secret.metadata?.annotations ? [] : [{ op: 'add', path: '/metadata/annotations', value: {} }]),
    { op: 'add', path: annotationPath, value: now.toISOString() },
  ]
  try {
    await kube.core.patchNamespacedSecret({ namespace, name, body: patch }, kube.patchAs(PatchType.json))
    return 'blanked'
  } catch (err) {
    // 422 from the `test` op: the token is no longer the one we saw (refilled or replaced meanwhile).
    if (statusOf(err) === 422) return 'already-changed'
    if (isNotFound(err)) return 'gone'
    throw err
  }
}

export async function recreateSecret(kube: Kube, secret: k8s.V1Secret, now: Date): Promise<RegenerateOutcome> {
  const { namespace = '', name = '', uid } = secret.metadata ?? {}
  try {
    await kube.core.deleteNamespacedSecret({ namespace, name, body: { preconditions: uid ? { uid } : {} } })
  } catch (err) {
    // 404: already deleted by an earlier, interrupted run. 409: a newer object under that name exists.
    if (statusOf(err) === 409) return 'already-changed'
    if (!isNotFound(err)) throw err
  }
  try {
    await kube.core.createNamespacedSecret({ namespace, body: freshCopy(secret, now) })
  } catch (err) {
    if (statusOf(err) !== 409) throw err
  }
  return 'recreated'
}

/** The same Secret without a token: identity, labels, annotations and type kept; server-set fields dropped. */
export function freshCopy(secret: k8s.V1Secret, now: Date): k8s.V1Secret {
  const { name, namespace, labels, annotations } = secret.metadata ?? {}
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    type: secret.type ?? 'kubernetes.io/service-account-token',
    metadata: {
      ...(name ? { name } : {}),
      ...(namespace ? { namespace } : {}),
      ...(labels ? { labels } : {}),
      annotations: { ...annotations, [REGENERATED_AT_ANNOTATION]: now.toISOString() },
    },
  }
}

export async function regenerate(kube: Kube, secret: k8s.V1Secret, strategy: Strategy, now: Date): Promise<RegenerateOutcome> {
  return strategy === Strategy.recreate ? recreateSecret(kube, secret, now) : blankToken(kube, secret, now)
}
