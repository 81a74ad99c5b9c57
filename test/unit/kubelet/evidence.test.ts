import { describe, expect, it } from 'vitest'
import { checkLoggedSecrets, describeCniUnauthorized, placeLoggedSecrets, type SecretLookup } from '../../../lib/kubelet/evidence.ts'
import type { KubeletLogScan, LoggedMissingSecret } from '../../../lib/kubelet/log.ts'
import { makePod } from '../helpers/objects.ts'

const UID = '522bb6de-10e0-4ee0-a602-e4110b54b465'
const entry = (secret: string, more: Partial<LoggedMissingSecret> = {}): LoggedMissingSecret => ({ secret, pods: [], volumes: [], lines: 1, sample: '', ...more })
const scanOf = (...missingSecrets: LoggedMissingSecret[]): KubeletLogScan => ({ lines: 10, older: 0, missingSecrets })

describe('placeLoggedSecrets', () => {
  const pods = [makePod('mounter-1', { namespace: 'team-a', uid: UID }), makePod('web-1', { namespace: 'team-b' }), makePod('web-1', { namespace: 'team-c' })]

  it.each<[string, LoggedMissingSecret, Array<string | undefined>]>([
    ['the namespace a line says', entry('x-token-abcde', { namespace: 'team-z' }), ['team-z/x-token-abcde']],
    ["the pod's, found by UID", entry('x-token-abcde', { pods: [{ name: 'renamed', uid: UID }] }), ['team-a/x-token-abcde']],
    ["the pod's, found by namespace and name", entry('x-token-abcde', { pods: [{ namespace: 'team-b', name: 'web-1' }] }), ['team-b/x-token-abcde']],
    ['every pod of that name when the line gives no namespace: each is looked up', entry('x-token-abcde', { pods: [{ name: 'web-1' }] }), ['team-b/x-token-abcde', 'team-c/x-token-abcde']],
    ['both the line and the pod', entry('x-token-abcde', { namespace: 'team-z', pods: [{ uid: UID }] }), ['team-a/x-token-abcde', 'team-z/x-token-abcde']],
    ['nowhere: no namespace, no pod in the list', entry('x-token-abcde', { pods: [{ name: 'gone-pod', uid: '00000000-0000-0000-0000-000000000000' }] }), [undefined]],
  ])('%s', (_name, logged, keys) => {
    expect(placeLoggedSecrets(scanOf(logged), pods).map((p) => p.key)).toEqual(keys)
  })
})

describe('checkLoggedSecrets', () => {
  it('acts only on what the API server says is gone; everything else is reported and left alone', () => {
    const placed = placeLoggedSecrets(
      scanOf(
        entry('gone-token-abcde', { namespace: 'team-a', pods: [{ name: 'app-1', uid: UID }], lines: 4, lastSeen: '2026-11-30T12:00:00.000Z' }),
        entry('back-token-abcde', { namespace: 'team-a' }),
        entry('far-token-abcde', { namespace: 'team-x' }),
        entry('secret-token-abcde', { namespace: 'team-a' }),
        entry('lost-token-abcde', { pods: [{ name: 'nowhere' }] }),
      ),
      [],
    )
    const lookups = new Map<string, SecretLookup>([
      ['team-a/gone-token-abcde', { found: false }],
      ['team-a/back-token-abcde', { found: true }],
      ['team-a/secret-token-abcde', { error: 'HTTP 403' }],
    ])
    const { checks, confirmedMissing } = checkLoggedSecrets({ placed, inScope: (ns) => ns === 'team-a', lookups })
    expect([...confirmedMissing]).toEqual(['team-a/gone-token-abcde'])
    expect(checks.map((c) => [c.secret, c.status])).toEqual([
      ['team-a/gone-token-abcde', 'missing'],
      ['team-a/back-token-abcde', 'present'],
      ['team-x/far-token-abcde', 'out-of-scope'],
      ['team-a/secret-token-abcde', 'unverified'],
      ['lost-token-abcde', 'unplaced'],
    ])
    expect(checks.find((c) => c.status === 'missing')).toMatchObject({ pods: ['app-1'], lines: 4, lastSeen: '2026-11-30T12:00:00.000Z' })
    expect(checks.find((c) => c.status === 'out-of-scope')?.reason).toBe("namespace team-x is outside this run's scope: not looked up; rerun with -n team-x or -A")
    expect(checks.find((c) => c.status === 'unverified')?.reason).toBe('could not be checked against the API server (HTTP 403): not acted on')
    expect(checks.find((c) => c.status === 'unplaced')?.reason).toMatch(/^no line says its namespace and no pod in scope is the one logged \(nowhere\): not acted on/)
  })
})

describe('describeCniUnauthorized', () => {
  it('points at fix-calico for Calico', () => {
    expect(
      describeCniUnauthorized({ lines: 4, plugins: ['calico'], operations: ['add'], pods: [{ namespace: 'team-a', name: 'web-1' }], lastSeen: '2026-11-30T12:05:00.000Z', sample: '' }),
    ).toBe(
      "4 kubelet log lines show the CNI plugin (calico) rejected as Unauthorized, last at 2026-11-30T12:05:00.000Z, for team-a/web-1: the node's CNI token is stale, and restarting pods does not fix that; run fix-calico",
    )
  })

  it('names another plugin, and lists a few pods only', () => {
    const pods = Array.from({ length: 7 }, (_, i) => ({ namespace: 'ns', name: `p${i}` }))
    expect(describeCniUnauthorized({ lines: 1, plugins: ['cilium-cni'], operations: [], pods, sample: '' })).toBe(
      "1 kubelet log line shows the CNI plugin (cilium-cni) rejected as Unauthorized, for ns/p0, ns/p1, ns/p2, ns/p3, ns/p4 and 2 more: the node's CNI token is stale, and restarting pods does not fix that; renew the token of the cilium-cni CNI plugin",
    )
  })
})
