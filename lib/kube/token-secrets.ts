// Reading service-account token Secrets and the facts about them that the
// classifier needs. Cluster-wide, paged lists: one request per 500 objects,
// never one per namespace or per Secret.
import type { V1Secret, V1ServiceAccount } from '@kubernetes/client-node'
import { TOKEN_SECRET_TYPE, type Scope } from '../secrets.ts'
import { UsageError } from '../errors.ts'
import { isNotFound, type Kube } from './clients.ts'
import { listAll } from './list.ts'

// The pure half (names, refs, the token of a Secret) lives in lib/secrets.ts; re-exported for the runbooks.
export * from '../secrets.ts'

export async function listTokenSecrets(kube: Kube, scope: Scope, labelSelector?: string): Promise<V1Secret[]> {
  const fieldSelector = `type=${TOKEN_SECRET_TYPE}`
  const selector = labelSelector ? { labelSelector } : {}
  return scope.all
    ? listAll((page) => kube.core.listSecretForAllNamespaces({ fieldSelector, ...selector, ...page }))
    : listAll((page) => kube.core.listNamespacedSecret({ namespace: scope.namespace, fieldSelector, ...selector, ...page }))
}

export async function listServiceAccounts(kube: Kube, scope: Scope): Promise<V1ServiceAccount[]> {
  return scope.all
    ? listAll((page) => kube.core.listServiceAccountForAllNamespaces(page))
    : listAll((page) => kube.core.listNamespacedServiceAccount({ namespace: scope.namespace, ...page }))
}

/** Reads one Secret the operator named; a missing or non-token Secret is a usage error. */
export async function readTokenSecret(kube: Kube, namespace: string, name: string): Promise<V1Secret> {
  let secret: V1Secret
  try {
    secret = await kube.core.readNamespacedSecret({ namespace, name })
  } catch (err) {
    if (isNotFound(err)) {
      throw new UsageError(`Secret ${namespace}/${name} not found: list token Secrets with kubectl get secrets -n ${namespace} --field-selector type=${TOKEN_SECRET_TYPE}`)
    }
    throw err
  }
  if (secret.type !== TOKEN_SECRET_TYPE) {
    throw new UsageError(`Secret ${namespace}/${name} is of type ${secret.type ?? '(none)'}, not ${TOKEN_SECRET_TYPE}: name a service-account token Secret`)
  }
  return secret
}
