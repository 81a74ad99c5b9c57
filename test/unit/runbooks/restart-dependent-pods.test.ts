// restart-dependent-pods without a cluster: its flag handling (the real
// script as a subprocess: usage errors exit 2 before any cluster is needed)
// and the words of its summary.
import { dirname } from 'node:path'
import { describe, expect, it } from 'vitest'
import { UsageError } from '../../../lib/errors.ts'
import { parseBoundBefore, podNamespaces, summarizeResults, type RestartResult } from '../../../runbooks/restart-dependent-pods.ts'
import { runRunbook } from '../../e2e/support/cli.ts'

const noCluster = { env: { KUBECONFIG: '/nonexistent/kubeconfig', HOME: '/nonexistent' } }
const NOW = new Date('2026-01-01T12:00:00Z')

describe('parseBoundBefore', () => {
  it.each([
    [undefined, undefined],
    ['now', NOW],
    ['NOW', NOW],
    ['2025-12-31T23:00:00Z', new Date('2025-12-31T23:00:00Z')],
    ['2026-01-01T13:00:00+01:00', NOW],
  ])('%s → %s', (text, date) => {
    expect(parseBoundBefore(text, NOW)).toEqual(date)
  })

  it.each(['yesterday', '2026-01-01', '1767268800'])('refuses %s with the expected form', (text) => {
    expect(() => parseBoundBefore(text, NOW)).toThrow(UsageError)
    expect(() => parseBoundBefore(text, NOW)).toThrow(/not an RFC 3339 time: write it like 2026-06-01T12:00:00Z, or now/)
  })
})

describe('podNamespaces', () => {
  it.each([
    ['-A: everywhere', { all: true } as const, [], false, { all: true }],
    ['the namespace in scope', { all: false, namespace: 'team-a' } as const, [], false, { all: false, namespaces: ['team-a'] }],
    ["--secret without -n: the Secrets' namespaces only", { all: false, namespace: 'default' } as const, ['kube-system/a', 'kube-system/b', 'calico-system/c'], false, { all: false, namespaces: ['kube-system', 'calico-system'] }],
    ['--secret with -n: both', { all: false, namespace: 'team-a' } as const, ['kube-system/a'], true, { all: false, namespaces: ['team-a', 'kube-system'] }],
    ['a bare --secret name: the namespace in scope', { all: false, namespace: 'team-a' } as const, ['a'], false, { all: false, namespaces: ['team-a'] }],
  ])('%s', (_what, scope, secrets, namespaceGiven, expected) => {
    expect(podNamespaces(scope, secrets, namespaceGiven)).toEqual(expected)
  })
})

describe('summarizeResults', () => {
  const result = (outcome: RestartResult['outcome'], pods = 1): RestartResult => ({
    namespace: 'ns',
    workload: 'Deployment/web',
    action: 'rollout-restart',
    outcome,
    pods: Array.from({ length: pods }, (_, i) => ({ namespace: 'ns', name: `p${i}`, uid: `u${i}` })),
    replacements: [],
    detail: '',
  })

  it.each([
    [[], 'nothing restarted'],
    [[result('restarted', 2), result('restarted', 1)], '2 workloads restarted (3 pods replaced)'],
    [[result('restarted'), result('refused')], '1 workload restarted (1 pod replaced), 1 bare pod refused: rerun with --recreate-bare-pods'],
    [[result('restarted'), result('waited', 2)], '1 workload restarted (1 pod replaced), 1 rollout already restarted and waited for (2 pods replaced)'],
    [[result('evicted', 3), result('recreated'), result('failed')], '3 pods evicted, 1 bare pod re-created, 1 failed'],
    [[result('skipped'), result('reported'), result('reported')], '1 static pod skipped, 2 jobs reported (next run gets the new token)'],
  ])('%#: %s', (results, line) => {
    expect(summarizeResults(results)).toBe(line)
  })
})

describe.concurrent('restart-dependent-pods flags (subprocess, no cluster)', () => {
  it.each([
    ['a malformed --bound-before', ['--bound-before', 'yesterday'], /--bound-before yesterday is not an RFC 3339 time/],
    ['--max-parallel 0', ['--max-parallel', '0'], /--max-parallel 0 must be a whole number of at least 1/],
    ['a fractional --timeout', ['--timeout', '1.5'], /--timeout 1.5 must be a whole number/],
    ['an unknown flag', ['--recreate-bare-pod'], /unknown flag --recreate-bare-pod \(did you mean --recreate-bare-pods\?\)/],
    ['--kubelet-log-since alone', ['--kubelet-log-since', '2h'], /--kubelet-log-since needs --kubelet-log \(journal, a file, or -\)/],
    ['a malformed --kubelet-log-since', ['--kubelet-log', 'journal', '--kubelet-log-since', 'yesterday'], /--kubelet-log-since yesterday is neither an RFC 3339 time nor a duration/],
    ['an unreadable --kubelet-log file', ['--kubelet-log', '/nonexistent/kubelet.log'], /cannot read --kubelet-log \/nonexistent\/kubelet.log: ENOENT; check the path/],
  ])('exits 2 for %s, with a one-line error', async (_what, args, message) => {
    const result = await runRunbook('restart-dependent-pods', args, noCluster)
    expect(result.code).toBe(2)
    expect(result.stderr).toMatch(message)
    expect(result.stderr).not.toMatch(/\n\s+at /)
  }, 60_000)

  it('exits 2 without journalctl for --kubelet-log journal, with one line naming the way out', async () => {
    // Only node on PATH: no journalctl (and no cluster: the check comes first).
    const result = await runRunbook('restart-dependent-pods', ['--kubelet-log', 'journal', '--dry-run'], { env: { ...noCluster.env, PATH: dirname(process.execPath) } })
    expect(result.code).toBe(2)
    expect(result.stderr.trim().split('\n')).toEqual([
      "error: --kubelet-log journal needs journalctl, which is not on PATH; on a machine without journald pass the kubelet's log file (--kubelet-log /var/log/kubelet.log) or pipe the log in (… | restart-dependent-pods --kubelet-log -) (see --help)",
    ])
  }, 60_000)

  it('lists its steps and flags in --help', async () => {
    const result = await runRunbook('restart-dependent-pods', ['--help'], noCluster)
    expect(result.code).toBe(0)
    for (const word of ['find-dependent-pods', 'plan-restarts', 'restart-workloads', 'verify-dependents', '--recreate-bare-pods', '--bound-before', '--max-parallel', 'default: 32', 'default: 300', '--kubelet-log <journal|file|->', '--kubelet-log-since']) {
      expect(result.stdout).toContain(word)
    }
  }, 60_000)
})
