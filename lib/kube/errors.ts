// Turns transport and auth failures into one-line operator errors that name
// the problem and the fix, instead of a client library's stack trace.
import type { KubeConfig } from '@kubernetes/client-node'
import { DomainError } from '../errors.ts'
import { statusOf } from './clients.ts'

const unreachableCodes = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EHOSTUNREACH', 'ETIMEDOUT', 'ECONNRESET', 'EAI_AGAIN'])

export function explainApiError(err: unknown, kc: KubeConfig): Error {
  const server = kc.getCurrentCluster()?.server ?? '(no server)'
  const context = kc.getCurrentContext()
  const code = networkCode(err)
  if (code && unreachableCodes.has(code)) {
    return new DomainError(
      `cannot reach the API server ${server} (context ${context}): ${code}; check --kubeconfig/--context and that the cluster is up`,
      { cause: err },
    )
  }
  if (code && /CERT|SELF_SIGNED|UNABLE_TO_VERIFY/.test(code)) {
    return new DomainError(
      `the API server ${server} presented a certificate the kubeconfig's CA does not trust (${code}); fix certificate-authority in the kubeconfig (TLS verification stays on)`,
      { cause: err },
    )
  }
  const status = statusOf(err)
  if (status === 401) {
    return new DomainError(
      `the API server ${server} rejected your credentials (401); refresh the kubeconfig's credentials for context ${context}`,
      { cause: err },
    )
  }
  // Any other answer with a status fails the step with the server's own words
  // (they name the verb and resource: `secrets is forbidden: ... cannot list
  // resource "secrets"`) and the fix; 404 stays raw, callers decide what
  // "gone" means. A run must never read an error as "nothing found".
  if (status !== undefined && status !== 404 && status !== 409 && status !== 422) {
    return new DomainError(`the API server ${server} answered ${status}: ${statusMessage(err)}; ${fixFor(status)}`, { cause: err })
  }
  return err instanceof Error ? err : new Error(String(err))
}

function fixFor(status: number): string {
  if (status === 403) return 'grant the missing RBAC permission to your user, then rerun (`kubectl auth can-i --list` shows yours)'
  if (status === 429) return 'the API server is throttling; rerun in a moment'
  if (status >= 500) return 'the control plane is failing; rerun when `kubectl get --raw /readyz` answers ok'
  return 'rerun with KTR_DEBUG=1 for details'
}

/** The Status message of an ApiException's body, on one line and short; never the raw body (it may echo a token). */
function statusMessage(err: unknown): string {
  const body = (err as { body?: unknown }).body
  let message: unknown
  try {
    message = typeof body === 'string' ? (JSON.parse(body) as { message?: unknown }).message : (body as { message?: unknown } | undefined)?.message
  } catch {
    message = undefined
  }
  return typeof message === 'string' && message ? message.replace(/\s+/g, ' ').slice(0, 300) : 'no Status message'
}

function networkCode(err: unknown): string | undefined {
  for (let e: unknown = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code
    if (typeof code === 'string') return code
  }
  return undefined
}

/** Runs an API call, turning unreachable-cluster and credential failures into one-line operator errors. */
export async function withApiErrors<T>(kc: KubeConfig | undefined, call: () => Promise<T>): Promise<T> {
  try {
    return await call()
  } catch (err) {
    throw kc ? explainApiError(err, kc) : err
  }
}
