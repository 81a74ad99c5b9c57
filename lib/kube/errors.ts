// Turns transport and auth failures into one-line operator errors that name
// the problem and the fix, instead of a client library's stack trace.
import type { KubeConfig } from '@kubernetes/client-node'
import { DomainError } from '../errors.ts'
import { statusOf } from './clients.ts'
import { transientReason } from './retry.ts'

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
  // A connection that broke under a request (a graceful shutdown's HTTP/2
  // GOAWAY, a reset): the retry layer already tried again where that was safe.
  const dropped = status === undefined && !(err instanceof DomainError) ? transientReason(err) : undefined
  if (dropped) {
    return new DomainError(
      `the API server ${server} (context ${context}) dropped the connection (${dropped}: ${innermostMessage(err)}); it is restarting or overloaded: rerun when \`kubectl get --raw /readyz\` answers ok`,
      { cause: err },
    )
  }
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
  if (status === 403) return 'grant the missing RBAC permission to your user, then rerun (deploy/rbac.yaml lists every permission the runbooks use; `kubectl auth can-i --list` shows yours)'
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

/** The message of the deepest cause: `fetch failed` says less than what made it fail. */
function innermostMessage(err: unknown): string {
  let message = err instanceof Error ? err.message : String(err)
  for (let e: unknown = (err as { cause?: unknown }).cause, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    if (e instanceof Error && e.message) message = e.message
  }
  return oneLine(message)
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

/** The parts of a Kubernetes Status body that tell refusals apart. */
export interface StatusBody {
  message?: string
  reason?: string
  details?: { causes?: Array<{ reason?: string; message?: string; field?: string }> }
}

/** The Status body of an API error (client-node keeps it as text for most statuses), or undefined. */
export function statusBodyOf(err: unknown): StatusBody | undefined {
  const body = (err as { body?: unknown } | undefined)?.body
  if (typeof body === 'object' && body !== null) return body as StatusBody
  if (typeof body !== 'string') return undefined
  try {
    const parsed: unknown = JSON.parse(body)
    return typeof parsed === 'object' && parsed !== null ? (parsed as StatusBody) : undefined
  } catch {
    return undefined
  }
}

/**
 * Why the API server refused a write, for the three refusals a runbook must
 * tell apart (all may come as 422):
 *  - `test-failed`: a JSON-patch `test` guard did not match: someone else
 *    changed the object, which is not a failure of ours. kube-apiserver
 *    (1.36 seen) drops json-patch's own words ("testing value /x failed")
 *    and answers only its generic 422 sentence with no causes (PATCH_NOT_APPLIED);
 *    our JSON patches put their `test` first and only add where the parent
 *    exists, so for them that answer means the guard failed. Causes that
 *    carry json-patch's words are read too;
 *  - `immutable`: the object has `immutable: true` ("field is immutable when
 *    `immutable` is set");
 *  - `admission`: a ValidatingAdmissionPolicy or an admission webhook denied
 *    it; `message` carries the policy's own words;
 *  - `invalid`: any other 422.
 * Undefined for anything that is none of these.
 */
/** kube-apiserver's whole answer to a JSON patch that does not apply (apimachinery's NewGenericServerResponse for 422). */
const PATCH_NOT_APPLIED = 'the server rejected our request due to an error in our request'

export type Refusal = { kind: 'test-failed' | 'immutable' | 'admission' | 'invalid'; message: string }

export function refusalOf(err: unknown): Refusal | undefined {
  const status = statusOf(err)
  const body = statusBodyOf(err)
  const message = body?.message ?? ''
  const texts = [message, ...(body?.details?.causes ?? []).map((c) => c.message ?? '')]
  const any = (pattern: RegExp) => texts.some((t) => pattern.test(t))
  if (any(/admission webhook .* denied the request|ValidatingAdmissionPolicy .* denied request|denied request: /i)) return { kind: 'admission', message: oneLine(message || texts.find(Boolean) || '') }
  if (status !== 422) return undefined
  if (any(/field is immutable when `?immutable`? is set/i)) return { kind: 'immutable', message: oneLine(message) }
  if (any(/testing value .* failed|test operation does not apply|\btest failed\b/i)) return { kind: 'test-failed', message: oneLine(texts.filter(Boolean).join(': ')) }
  if (message === PATCH_NOT_APPLIED && texts.slice(1).every((t) => !t)) return { kind: 'test-failed', message: `${PATCH_NOT_APPLIED} (a JSON patch that did not apply: its \`test\` guard found another value)` }
  return { kind: 'invalid', message: oneLine(message || 'the API server rejected the request as invalid (422)') }
}

/** One line that says what an API error was, for messages that must name two of them. */
export function describeApiError(err: unknown): string {
  const status = statusOf(err)
  if (status !== undefined) {
    const message = statusBodyOf(err)?.message
    return `${status}${message ? ` ${oneLine(message)}` : ''}`
  }
  return networkCode(err) ?? oneLine(err instanceof Error ? err.message : String(err))
}

const oneLine = (text: string) => text.replace(/\s+/g, ' ').trim()
