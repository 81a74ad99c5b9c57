import { ApiException, KubeConfig } from '@kubernetes/client-node'
import { describe, expect, it } from 'vitest'
import { describeApiError, explainApiError, refusalOf } from '../../../lib/kube/errors.ts'
import { immutableRefused, policyDenied, statusError, testOpFailed, testOpFailedWithCause, webhookDenied } from '../helpers/api-errors.ts'

describe('refusalOf', () => {
  it.each<[string, ApiException<unknown>, string, RegExp]>([
    ['a failed JSON-patch test, as kube-apiserver answers it (no causes)', testOpFailed(), 'test-failed', /did not apply: its `test` guard/],
    ['a failed JSON-patch test with json-patch\'s words as a cause', testOpFailedWithCause(), 'test-failed', /testing value \/data\/token failed/],
    ['a test op on a missing path', statusError(422, 'the server rejected our request due to an error in our request', [{ message: 'test operation does not apply: is missing path: /data/token' }]), 'test-failed', /missing path/],
    ['an immutable Secret', immutableRefused(), 'immutable', /field is immutable/],
    ['a ValidatingAdmissionPolicy', policyDenied(), 'admission', /protect-tokens.*managed by the platform team/],
    ['a webhook (403)', webhookDenied(), 'admission', /guard\.example\.com.*change freeze/],
    ['any other 422', statusError(422, 'Secret "a" is invalid: metadata.labels: Invalid value'), 'invalid', /metadata\.labels/],
    ['the generic 422 sentence with a field cause (not a patch that did not apply)', statusError(422, 'the server rejected our request due to an error in our request', [{ message: 'data: Invalid value', field: 'data' }]), 'invalid', /rejected our request/],
  ])('%s', (_, err, kind, message) => {
    const refusal = refusalOf(err)
    expect(refusal?.kind).toBe(kind)
    expect(refusal?.message).toMatch(message)
  })

  it('a policy message that mentions a failed test is still an admission denial', () => {
    const err = statusError(422, "ValidatingAdmissionPolicy 'p' with binding 'b' denied request: test failed for /data")
    expect(refusalOf(err)?.kind).toBe('admission')
  })

  it.each([
    ['404', statusError(404, 'secrets "a" not found')],
    ['409', statusError(409, 'Operation cannot be fulfilled')],
    ['a network error', new TypeError('fetch failed')],
  ])('is undefined for %s', (_, err) => {
    expect(refusalOf(err)).toBeUndefined()
  })

  it('reads a Status body that is already an object', () => {
    const err = new ApiException(422, 'x', { message: 'm', details: { causes: [{ message: 'testing value /a failed: test failed' }] } }, {})
    expect(refusalOf(err)?.kind).toBe('test-failed')
  })
})

describe('describeApiError', () => {
  it.each<[string, unknown, string]>([
    ['a Status', statusError(403, 'secrets is forbidden:\n exceeded quota'), '403 secrets is forbidden: exceeded quota'],
    ['a network code', new TypeError('fetch failed', { cause: Object.assign(new Error('x'), { code: 'ECONNRESET' }) }), 'ECONNRESET'],
    ['a plain error', new Error('boom'), 'boom'],
  ])('%s', (_, err, expected) => {
    expect(describeApiError(err)).toBe(expected)
  })
})

describe('explainApiError', () => {
  const kc = new KubeConfig()
  kc.loadFromOptions({ clusters: [{ name: 'c', server: 'https://api.example:6443' }], users: [{ name: 'u' }], contexts: [{ name: 'ctx', cluster: 'c', user: 'u' }], currentContext: 'ctx' })
  const socketError = (message: string, code: string) => new TypeError('fetch failed', { cause: Object.assign(new Error(message), { code }) })

  it('names a connection the API server dropped (its HTTP/2 GOAWAY on a graceful shutdown) instead of a bare "fetch failed"', () => {
    const explained = explainApiError(socketError('HTTP/2: "GOAWAY" frame received with code 0', 'UND_ERR_SOCKET'), kc)
    expect(explained.message).toBe(
      'the API server https://api.example:6443 (context ctx) dropped the connection (UND_ERR_SOCKET: HTTP/2: "GOAWAY" frame received with code 0); it is restarting or overloaded: rerun when `kubectl get --raw /readyz` answers ok',
    )
  })

  it('names a graceful GOAWAY on the shared HTTP/2 connection (undici raises it as UND_ERR_INFO) the same way', () => {
    const explained = explainApiError(socketError('HTTP/2: "GOAWAY" frame received with code 0', 'UND_ERR_INFO'), kc)
    expect(explained.message).toMatch(/^the API server https:\/\/api\.example:6443 \(context ctx\) dropped the connection \(connection closed: HTTP\/2: "GOAWAY" frame received with code 0\)/)
  })

  it.each([
    ['a refused connection', socketError('connect ECONNREFUSED 127.0.0.1:6443', 'ECONNREFUSED'), /^cannot reach the API server https:\/\/api\.example:6443 \(context ctx\): ECONNREFUSED/],
    ['a 503', statusError(503, 'etcdserver: leader changed'), /answered 503: etcdserver: leader changed; the control plane is failing/],
  ])('still names %s as before', (_, err, message) => {
    expect(explainApiError(err, kc).message).toMatch(message)
  })
})
