// Test builders: API errors as client-node 2 raises them, with the Status
// bodies the API server really sends.
import { ApiException } from '@kubernetes/client-node'

/** An ApiException as client-node 2 raises it for a status its generated code does not declare: the Status body as text. */
export function statusError(code: number, message: string, causes: Array<{ reason?: string; message?: string; field?: string }> = []): ApiException<unknown> {
  const body = JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', message, reason: code === 422 ? 'Invalid' : 'Forbidden', code, details: { causes } })
  return new ApiException(code, 'Unknown API Status Code!', body, {})
}

// The messages below are what the API server sends (k8s.io/apiserver patch handler + evanphx/json-patch,
// core validation of immutable Secrets, ValidatingAdmissionPolicy and webhook admission).
/** What kube-apiserver 1.36 really answers to a failed `test` op: the generic sentence, reason Invalid, no causes (json-patch's words are dropped). */
export const testOpFailed = () => statusError(422, 'the server rejected our request due to an error in our request')
/** The same with json-patch's words as a cause, as a server that keeps them would send. */
export const testOpFailedWithCause = () =>
  statusError(422, 'the server rejected our request due to an error in our request', [{ reason: 'UnexpectedServerResponse', message: 'testing value /data/token failed: test failed' }])
export const immutableRefused = () =>
  statusError(422, 'Secret "a" is invalid: data: Forbidden: field is immutable when `immutable` is set', [{ reason: 'FieldValueForbidden', message: 'Forbidden: field is immutable when `immutable` is set', field: 'data' }])
export const policyDenied = () =>
  statusError(422, "secrets \"a\" is forbidden: ValidatingAdmissionPolicy 'protect-tokens' with binding 'protect-tokens' denied request: token Secrets are managed by the platform team")
export const webhookDenied = () => statusError(403, 'admission webhook "guard.example.com" denied the request: change freeze until Monday')
