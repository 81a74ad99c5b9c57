// restart-dependent-pods without a cluster: its flag handling (the real
// script as a subprocess: usage errors exit 2 before any cluster is needed)
// and its --help. The parts are tested where they live (test/unit/restart,
// test/unit/workloads/restart-results.test.ts).
import { dirname } from 'node:path'
import { describe, expect, it } from 'vitest'
import { runRunbook } from '../../e2e/support/cli.ts'

const noCluster = { env: { KUBECONFIG: '/nonexistent/kubeconfig', HOME: '/nonexistent' } }

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
