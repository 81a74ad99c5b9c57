// Who are we, and may we do what the run needs? SelfSubjectReview and one
// SelfSubjectAccessReview per permission (a few dozen requests, bounded).
import { mapLimit } from '../concurrency.ts'
import type { Permission } from '../preflight/permissions.ts'
import { statusOf, type Kube } from './clients.ts'

export async function whoAmI(kube: Kube): Promise<string | undefined> {
  try {
    const review = await kube.authn.createSelfSubjectReview({ body: { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' } })
    return review.status?.userInfo?.username
  } catch (err) {
    if (statusOf(err) === 404) return undefined // before Kubernetes 1.28
    throw err
  }
}

export async function missingPermissions(kube: Kube, wanted: readonly Permission[]): Promise<Permission[]> {
  const allowed = await mapLimit(wanted, 8, async (p) => {
    const review = await kube.authz.createSelfSubjectAccessReview({
      body: {
        spec: p.nonResourceURL
          ? { nonResourceAttributes: { verb: p.verb, path: p.nonResourceURL } }
          : {
              resourceAttributes: {
                verb: p.verb,
                group: p.group,
                resource: p.resource,
                ...(p.subresource ? { subresource: p.subresource } : {}),
                ...(p.name ? { name: p.name } : {}),
                ...(p.namespace ? { namespace: p.namespace } : {}),
              },
            },
      },
    })
    return review.status?.allowed === true
  })
  return wanted.filter((_, i) => !allowed[i])
}
