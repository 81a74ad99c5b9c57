import { ApiException, Observable } from '@kubernetes/client-node'
import { describe, expect, it } from 'vitest'
import {
  backoffMs,
  DEFAULT_RETRY_POLICY,
  delayMs,
  retryAfterMs,
  retrying,
  retrySafe,
  safetyOf,
  transientReason,
  withRetries,
  type RetryPolicy,
} from '../../../lib/kube/retry.ts'

const policy: RetryPolicy = { attempts: 4, baseMs: 100, capMs: 1_000, retryAfterCapMs: 5_000 }
const NOW = Date.parse('2026-12-01T00:00:00Z')

function apiError(code: number, headers: Record<string, string> = {}): ApiException<unknown> {
  return new ApiException(code, 'failed', '{}', headers)
}

function networkError(code: string): Error {
  return new TypeError('fetch failed', { cause: Object.assign(new Error(code), { code }) })
}

const timeoutError = () => new DOMException('The operation was aborted due to timeout', 'TimeoutError')

/** A call that fails with `errors` in turn, then returns 'ok'; the sleeps it caused are recorded without waiting. */
function scripted(errors: unknown[]) {
  let calls = 0
  const sleeps: number[] = []
  return {
    attempt: () => {
      const err = errors[calls++]
      return err === undefined ? Promise.resolve('ok') : Promise.reject(err)
    },
    get calls() {
      return calls
    },
    sleeps,
    seams: { policy, sleep: (ms: number) => (sleeps.push(ms), Promise.resolve()), random: () => 0.5, now: () => NOW },
  }
}

describe('transientReason', () => {
  it.each<[string, unknown, string | undefined]>([
    ['429', apiError(429), '429'],
    ['500', apiError(500), '500'],
    ['503', apiError(503), '503'],
    ['504', apiError(504), '504'],
    ['501 is not transient', apiError(501), undefined],
    ['404', apiError(404), undefined],
    ['409', apiError(409), undefined],
    ['422', apiError(422), undefined],
    ['ECONNRESET under fetch failed', networkError('ECONNRESET'), 'ECONNRESET'],
    ['ECONNREFUSED (a restarting API server)', networkError('ECONNREFUSED'), 'ECONNREFUSED'],
    ['undici socket closed', networkError('UND_ERR_SOCKET'), 'UND_ERR_SOCKET'],
    ['socket hang up', new Error('socket hang up'), 'connection closed'],
    [
      "an HTTP/2 GOAWAY on a graceful shutdown (undici's UND_ERR_INFO)",
      new TypeError('fetch failed', { cause: Object.assign(new Error('HTTP/2: "GOAWAY" frame received with code 0'), { code: 'UND_ERR_INFO' }) }),
      'connection closed',
    ],
    ['another informational error is not', new TypeError('fetch failed', { cause: Object.assign(new Error('Request information'), { code: 'UND_ERR_INFO' }) }), undefined],
    ['our own deadline', timeoutError(), 'timeout'],
    ['ENOTFOUND does not heal by waiting', networkError('ENOTFOUND'), undefined],
    ['a certificate error', networkError('DEPTH_ZERO_SELF_SIGNED_CERT'), undefined],
    ['a plain bug', new TypeError('x is undefined'), undefined],
  ])('%s', (_, err, expected) => {
    expect(transientReason(err)).toBe(expected)
  })
})

describe('Retry-After', () => {
  it.each<[string, Record<string, string>, number | undefined]>([
    ['seconds', { 'retry-after': '3' }, 3_000],
    ['any header case', { 'Retry-After': '2' }, 2_000],
    ['an HTTP date', { 'retry-after': new Date(NOW + 4_000).toUTCString() }, 4_000],
    ['a date in the past', { 'retry-after': new Date(NOW - 4_000).toUTCString() }, 0],
    ['garbage', { 'retry-after': 'soon' }, undefined],
    ['absent', {}, undefined],
  ])('%s', (_, headers, expected) => {
    expect(retryAfterMs(apiError(429, headers), NOW)).toBe(expected)
  })

  it('waits at least what Retry-After asks, even when the backoff is shorter', () => {
    expect(delayMs(apiError(429, { 'retry-after': '3' }), 0, policy, () => 0.5, NOW)).toBe(3_000)
  })

  it('cuts a Retry-After longer than the cap', () => {
    expect(delayMs(apiError(429, { 'retry-after': '3600' }), 0, policy, () => 0.5, NOW)).toBe(5_000)
  })
})

describe('backoff', () => {
  it('doubles per retry with full jitter, up to the cap', () => {
    const top = () => 0.999999
    expect([0, 1, 2, 3, 4, 10].map((retry) => backoffMs(retry, policy, top))).toEqual([99, 199, 399, 799, 999, 999])
  })

  it('is uniform from zero: random 0 waits nothing, random 0.5 half the ceiling', () => {
    expect(backoffMs(3, policy, () => 0)).toBe(0)
    expect(backoffMs(3, policy, () => 0.5)).toBe(400)
  })

  it('never exceeds the cap however many retries', () => {
    for (let retry = 0; retry < 60; retry++) expect(backoffMs(retry, DEFAULT_RETRY_POLICY, () => 0.999999)).toBeLessThan(DEFAULT_RETRY_POLICY.capMs)
  })
})

describe('withRetries', () => {
  it('retries a read through 503 and a dropped connection, sleeping the jittered backoff', async () => {
    const call = scripted([apiError(503), networkError('ECONNRESET')])
    await expect(withRetries('listNamespacedSecret', 'read', call.attempt, call.seams)).resolves.toBe('ok')
    expect(call.calls).toBe(3)
    expect(call.sleeps).toEqual([50, 100])
  })

  it('honours Retry-After on a 429', async () => {
    const call = scripted([apiError(429, { 'retry-after': '2' })])
    await withRetries('readNamespacedSecret', 'read', call.attempt, call.seams)
    expect(call.sleeps).toEqual([2_000])
  })

  it('gives up after the attempts and rethrows the last error as it is (callers still see its status)', async () => {
    const last = apiError(500)
    const call = scripted([apiError(503), apiError(503), apiError(503), last])
    await expect(withRetries('readNamespacedSecret', 'read', call.attempt, call.seams)).rejects.toBe(last)
    expect(call.calls).toBe(policy.attempts)
    expect(call.sleeps).toHaveLength(policy.attempts - 1)
  })

  it('does not retry what waiting cannot fix', async () => {
    const call = scripted([apiError(404)])
    await expect(withRetries('readNamespacedSecret', 'read', call.attempt, call.seams)).rejects.toMatchObject({ code: 404 })
    expect(call.calls).toBe(1)
  })

  it('retries a guarded write', async () => {
    const call = scripted([networkError('ECONNRESET')])
    await expect(withRetries('patchNamespacedSecret', 'guarded', call.attempt, call.seams)).resolves.toBe('ok')
    expect(call.calls).toBe(2)
  })

  it.each([apiError(500), apiError(429), networkError('ECONNRESET'), timeoutError()])('never retries an unguarded write (%s)', async (err) => {
    const call = scripted([err])
    await expect(withRetries('patchNamespacedDeployment', 'unguarded', call.attempt, call.seams)).rejects.toBeTruthy()
    expect(call.calls).toBe(1)
    expect(call.sleeps).toEqual([])
  })

  it('turns a last timeout into one line naming --request-timeout', async () => {
    const call = scripted([timeoutError(), timeoutError(), timeoutError(), timeoutError()])
    await expect(withRetries('listSecretForAllNamespaces', 'read', call.attempt, { ...call.seams, timeoutMs: 30_000 })).rejects.toThrow(
      /^the API server did not answer listSecretForAllNamespaces within 30s \(tried 4 times\); .*raise --request-timeout$/,
    )
  })

  it('says an unguarded write that timed out may have landed', async () => {
    const call = scripted([timeoutError()])
    await expect(withRetries('patchNamespacedDeployment', 'unguarded', call.attempt, { ...call.seams, timeoutMs: 5_000 })).rejects.toThrow(/may or may not have been made: rerun/)
  })
})

describe('safetyOf', () => {
  const jsonPatch = (ops: object[]) => [{ name: 'a', namespace: 'n', body: ops }]
  it.each<[string, string, unknown[], string]>([
    ['read', 'readNamespacedSecret', [{ name: 'a', namespace: 'n' }], 'read'],
    ['list', 'listSecretForAllNamespaces', [{}], 'read'],
    ['getCode', 'getCode', [], 'read'],
    ['TokenReview', 'createTokenReview', [{ body: {} }], 'read'],
    ['SelfSubjectAccessReview', 'createSelfSubjectAccessReview', [{ body: {} }], 'read'],
    ['SelfSubjectReview', 'createSelfSubjectReview', [{ body: {} }], 'read'],
    ['JSON patch with a test op', 'patchNamespacedSecret', jsonPatch([{ op: 'test', path: '/data/token', value: 'x' }, { op: 'add', path: '/data/token', value: '' }]), 'guarded'],
    ['JSON patch without a test op', 'patchNamespacedSecret', jsonPatch([{ op: 'add', path: '/data/token', value: '' }]), 'unguarded'],
    ['merge patch', 'patchNamespacedDeployment', [{ name: 'a', namespace: 'n', body: { spec: {} } }], 'unguarded'],
    ['merge patch carrying a resourceVersion', 'patchNamespacedConfigMap', [{ name: 'a', namespace: 'n', body: { metadata: { resourceVersion: '7' } } }], 'guarded'],
    ['delete with a UID precondition', 'deleteNamespacedSecret', [{ name: 'a', namespace: 'n', body: { preconditions: { uid: 'u' } } }], 'guarded'],
    ['delete with an empty precondition', 'deleteNamespacedSecret', [{ name: 'a', namespace: 'n', body: { preconditions: {} } }], 'unguarded'],
    ['delete without a body', 'deleteNamespacedPod', [{ name: 'a', namespace: 'n' }], 'unguarded'],
    ['deleteCollection', 'deleteCollectionNamespacedSecret', [{ namespace: 'n', body: { preconditions: { uid: 'u' } } }], 'unguarded'],
    ['create of a named object', 'createNamespacedSecret', [{ namespace: 'n', body: { metadata: { name: 'a' } } }], 'guarded'],
    ['create with generateName', 'createNamespacedPod', [{ namespace: 'n', body: { metadata: { generateName: 'a-' } } }], 'unguarded'],
    ['eviction (429/500 are answers)', 'createNamespacedPodEviction', [{ name: 'a', namespace: 'n', body: { metadata: { name: 'a' } } }], 'unguarded'],
    ['replace with a resourceVersion', 'replaceNamespacedSecret', [{ name: 'a', namespace: 'n', body: { metadata: { resourceVersion: '9' } } }], 'guarded'],
    ['replace without', 'replaceNamespacedSecret', [{ name: 'a', namespace: 'n', body: { metadata: {} } }], 'unguarded'],
    ['an unguarded write marked retrySafe', 'patchNamespacedDeployment', [{ name: 'a', namespace: 'n', body: {} }, retrySafe()], 'guarded'],
  ])('%s', (_, method, args, expected) => {
    expect(safetyOf(method, args)).toBe(expected)
  })

  it('retrySafe keeps the options it is given (a copy)', () => {
    const options = { middlewareMergeStrategy: 'append' as const }
    const marked = retrySafe(options)
    expect(marked).toEqual(options)
    expect(marked).not.toBe(options)
    expect(safetyOf('patchNamespacedDeployment', [{}, options])).toBe('unguarded')
  })
})

describe('retrying (the wrapper around a typed API object)', () => {
  function fakeApi(failures: unknown[]) {
    const seen: unknown[][] = []
    const api = {
      readNamespacedSecret(...args: unknown[]) {
        seen.push(args)
        const err = failures.shift()
        return err ? Promise.reject(err) : Promise.resolve({ metadata: { name: 'a' } })
      },
      patchNamespacedDeployment(...args: unknown[]) {
        seen.push(args)
        const err = failures.shift()
        return err ? Promise.reject(err) : Promise.resolve({})
      },
      kind: 'fake',
    }
    return { api, seen }
  }
  const seams = { policy, sleep: () => Promise.resolve(), random: () => 0 }

  it('retries reads and leaves unguarded writes alone', async () => {
    const read = fakeApi([apiError(503)])
    await expect(retrying(read.api, Observable, seams).readNamespacedSecret({ name: 'a', namespace: 'n' })).resolves.toEqual({ metadata: { name: 'a' } })
    expect(read.seen).toHaveLength(2)
    const write = fakeApi([apiError(503)])
    await expect(retrying(write.api, Observable, seams).patchNamespacedDeployment({ name: 'a', namespace: 'n', body: {} })).rejects.toMatchObject({ code: 503 })
    expect(write.seen).toHaveLength(1)
  })

  it('adds a deadline middleware to each attempt, after the caller’s own, and passes other properties through', async () => {
    const { api, seen } = fakeApi([])
    const own = { pre: () => undefined, post: () => undefined }
    const wrapped = retrying(api, Observable, { ...seams, timeoutMs: 1_000 })
    await wrapped.readNamespacedSecret({ name: 'a', namespace: 'n' }, { middleware: [own], middlewareMergeStrategy: 'replace' })
    const options = seen[0]?.[1] as { middleware: unknown[]; middlewareMergeStrategy: string }
    expect(options.middleware).toHaveLength(2)
    expect(options.middleware[0]).toBe(own)
    expect(options.middlewareMergeStrategy).toBe('replace')
    expect(wrapped.kind).toBe('fake')
  })

  it('the deadline middleware sets a fresh abort signal on the request', async () => {
    const { api, seen } = fakeApi([])
    await retrying(api, Observable, { ...seams, timeoutMs: 1_000 }).readNamespacedSecret({ name: 'a', namespace: 'n' })
    const [deadline] = (seen[0]?.[1] as { middleware: Array<{ pre: (c: unknown) => { toPromise(): Promise<unknown> } }> }).middleware
    let signal: AbortSignal | undefined
    await deadline!.pre({ setSignal: (s: AbortSignal) => (signal = s) }).toPromise()
    expect(signal).toBeInstanceOf(AbortSignal)
    expect(signal?.aborted).toBe(false)
  })

  it('with timeout 0 passes the arguments untouched', async () => {
    const { api, seen } = fakeApi([])
    await retrying(api, Observable, { ...seams, timeoutMs: 0 }).readNamespacedSecret({ name: 'a', namespace: 'n' })
    expect(seen[0]).toEqual([{ name: 'a', namespace: 'n' }])
  })
})
