// Service-account token Secrets as plain objects: their well-known names,
// `<namespace>/<name>` refs, the token a Secret holds and the facts the
// classifier needs. Pure: the reads live in lib/kube/token-secrets.ts.
import type { V1Secret, V1ServiceAccount } from '@kubernetes/client-node'
import { UsageError } from './errors.ts'
import type { SecretFacts } from './token/status.ts'

export const TOKEN_SECRET_TYPE = 'kubernetes.io/service-account-token'
export const SA_NAME_ANNOTATION = 'kubernetes.io/service-account.name'
export const SA_UID_ANNOTATION = 'kubernetes.io/service-account.uid'
export const INVALID_SINCE_LABEL = 'kubernetes.io/legacy-token-invalid-since'
export const LAST_USED_LABEL = 'kubernetes.io/legacy-token-last-used'

export type Scope = { all: true } | { all: false; namespace: string }

export const secretKey = (s: { metadata?: { namespace?: string; name?: string } }) => `${s.metadata?.namespace}/${s.metadata?.name}`

/** Parses `<namespace>/<name>`; a bare name takes `defaultNamespace`. */
export function parseSecretRef(ref: string, defaultNamespace: string): { namespace: string; name: string } {
  const parts = ref.split('/')
  if (parts.length === 1 && parts[0]) return { namespace: defaultNamespace, name: parts[0] }
  if (parts.length === 2 && parts[0] && parts[1]) return { namespace: parts[0], name: parts[1] }
  throw new UsageError(`--secret ${ref} is not <namespace>/<name>: write it like kube-system/my-token`)
}

/** The token a Secret holds, or undefined while the tokens controller has not filled it. */
export function tokenOf(secret: V1Secret): string | undefined {
  const encoded = secret.data?.token
  return encoded ? Buffer.from(encoded, 'base64').toString('utf8') : undefined
}

/** Index of ServiceAccount UIDs by namespace/name, for the orphaned-Secret check. */
export function serviceAccountIndex(accounts: V1ServiceAccount[]): Map<string, string> {
  return new Map(accounts.map((sa) => [secretKey(sa), sa.metadata?.uid ?? '']))
}

export function secretFacts(secret: V1Secret, accounts: Map<string, string> | undefined): SecretFacts {
  const namespace = secret.metadata?.namespace ?? ''
  const labels = secret.metadata?.labels ?? {}
  const annotations = secret.metadata?.annotations ?? {}
  const saName = annotations[SA_NAME_ANNOTATION]
  const saUid = annotations[SA_UID_ANNOTATION]
  const liveUid = saName && accounts ? accounts.get(`${namespace}/${saName}`) : undefined
  return {
    namespace,
    name: secret.metadata?.name ?? '',
    ...(labels[INVALID_SINCE_LABEL] ? { invalidSince: labels[INVALID_SINCE_LABEL] } : {}),
    ...(labels[LAST_USED_LABEL] ? { lastUsed: labels[LAST_USED_LABEL] } : {}),
    ...(accounts && saName ? { serviceAccountExists: liveUid !== undefined } : {}),
    ...(accounts && saName && saUid && liveUid !== undefined ? { serviceAccountUidMatches: liveUid === saUid } : {}),
  }
}
