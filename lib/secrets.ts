// Service-account token Secrets as plain objects: their well-known names,
// `<namespace>/<name>` refs, the token a Secret holds and the facts the
// classifier needs. Pure: the reads live in lib/kube/token-secrets.ts.
import type { V1Secret, V1ServiceAccount } from '@kubernetes/client-node'
import { UsageError } from './errors.ts'
import { looksLikeToken, quoteValue, TOKEN_HINT } from './token/shape.ts'
import type { SecretFacts } from './token/status.ts'

export const TOKEN_SECRET_TYPE = 'kubernetes.io/service-account-token'
export const SA_NAME_ANNOTATION = 'kubernetes.io/service-account.name'
export const SA_UID_ANNOTATION = 'kubernetes.io/service-account.uid'
export const INVALID_SINCE_LABEL = 'kubernetes.io/legacy-token-invalid-since'
export const LAST_USED_LABEL = 'kubernetes.io/legacy-token-last-used'

export type Scope = { all: true } | { all: false; namespace: string }

export const secretKey = (s: { metadata?: { namespace?: string; name?: string } }) => `${s.metadata?.namespace}/${s.metadata?.name}`

/**
 * Parses `<namespace>/<name>`; a bare name takes `defaultNamespace`. Both are
 * checked as the API server would (a namespace is a DNS-1123 label, a Secret
 * name a DNS-1123 subdomain) before anything is sent: a value that is not a
 * name (a pasted token, say) would otherwise travel in a URL into the API
 * server's audit log and come back in its "not found" error.
 */
export function parseSecretRef(ref: string, defaultNamespace: string): { namespace: string; name: string } {
  const quoted = `--secret ${quoteValue(ref)}`
  if (looksLikeToken(ref)) throw new UsageError(`${quoted} is not <namespace>/<name>; ${TOKEN_HINT}, and name Secrets like kube-system/my-token`)
  const parts = ref.split('/')
  const [first, second] = parts
  const parsed =
    parts.length === 1 && first ? { namespace: defaultNamespace, name: first } : parts.length === 2 && first && second ? { namespace: first, name: second } : undefined
  if (!parsed) throw new UsageError(`${quoted} is not <namespace>/<name>: write it like kube-system/my-token`)
  if (!isDns1123Label(parsed.namespace)) {
    throw new UsageError(`${quoted}: namespace ${quoteValue(parsed.namespace)} is not a valid namespace name (${LABEL_RULE}); write it like kube-system/my-token`)
  }
  if (!isDns1123Subdomain(parsed.name)) {
    throw new UsageError(`${quoted}: ${quoteValue(parsed.name)} is not a valid Secret name (${SUBDOMAIN_RULE}); write it like kube-system/my-token`)
  }
  return parsed
}

const LABEL_RULE = "at most 63 lowercase letters, digits and '-', starting and ending with a letter or digit"
const SUBDOMAIN_RULE = "at most 253 lowercase letters, digits, '-' and '.', each dot-separated part starting and ending with a letter or digit"
// The length is checked first, so these run on at most 253 characters.
const DNS1123_LABEL = /^[a-z0-9](?:[-a-z0-9]*[a-z0-9])?$/

/** k8s.io/apimachinery validation.IsDNS1123Label: what a namespace name must be. */
export function isDns1123Label(value: string): boolean {
  return value.length <= 63 && DNS1123_LABEL.test(value)
}

/** k8s.io/apimachinery validation.IsDNS1123Subdomain: what a Secret name must be. */
export function isDns1123Subdomain(value: string): boolean {
  return value.length <= 253 && value.split('.').every((part) => part !== '' && DNS1123_LABEL.test(part))
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
