import { spawnSync } from 'node:child_process'
import { mkdtemp, readFile, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { diffTotals, highWaterAfter, parseRequestTotals, phaseOf, stepDurations, verdict } from '../bench/cluster-figures.ts'
import { layout, lockClusterDir, workloadsOf } from '../bench/cluster.ts'

describe('bench-cluster figures', () => {
  it('puts each step of rotate-tokens in its phase', () => {
    expect(phaseOf('find-stale-tokens')).toBe('inventory')
    expect(phaseOf('regenerate-tokens')).toBe('regenerate')
    expect(phaseOf('back-up-secrets')).toBe('regenerate')
    expect(phaseOf('verify-dependents')).toBe('restart')
    expect(phaseOf('verify')).toBe('proof')
    expect(phaseOf('preflight')).toBe('other')
  })

  it('times each step until the next progress line, the last until exit, steps without a line as 0', () => {
    expect(stepDurations([0, 100, undefined, 400], 1000, 5)).toEqual([100, 300, 0, 600, 0])
  })

  it("gives each step the peak RSS read when the next step began, the last step the process's final peak", () => {
    const marks = [10, 50, undefined, 200]
    expect([0, 1, 2, 3].map((i) => highWaterAfter(marks, i, 900))).toEqual([50, 200, 200, 900])
  })

  it('sums apiserver_request_total by verb and resource and diffs two readings', () => {
    const text = [
      '# HELP apiserver_request_total x',
      'apiserver_request_total{code="200",component="apiserver",dry_run="",group="",resource="secrets",scope="cluster",subresource="",verb="LIST",version="v1"} 3',
      'apiserver_request_total{code="200",component="apiserver",dry_run="",group="",resource="secrets",scope="namespace",subresource="",verb="LIST",version="v1"} 2',
      'apiserver_request_total{code="201",component="apiserver",dry_run="",group="",resource="pods",scope="namespace",subresource="eviction",verb="POST",version="v1"} 7',
      'apiserver_request_total{code="200",component="",dry_run="",group="",resource="",scope="",subresource="/readyz",verb="GET",version=""} 9',
      'apiserver_request_duration_seconds_count{resource="secrets",verb="LIST"} 100',
    ].join('\n')
    const totals = parseRequestTotals(text)
    expect(totals).toEqual({ 'LIST secrets': 5, 'POST pods/eviction': 7 })
    expect(diffTotals({ 'LIST secrets': 4 }, totals)).toEqual({ 'LIST secrets': 1, 'POST pods/eviction': 7 })
  })

  it('says by how much a target is missed', () => {
    expect(verdict(100, 200, 'MB')).toBe('ok')
    expect(verdict(3000, 2000, 's')).toBe('MISSED by 1.0 s (+50%)')
  })

  it('lays out N Secrets and M pods over the namespaces', () => {
    const l = layout({ secrets: 500, pods: 1500, namespaces: 50 })
    const perNs = l.perNs.daemonSet + l.perNs.statefulSet + l.perNs.bare + l.perNs.deployments.reduce((s, n) => s + n, 0)
    expect(perNs).toBe(30)
    expect(l.secretsPerNs).toBe(10)
    expect(workloadsOf(l).map((w) => w.kind)).toEqual(['daemonset', 'statefulset', 'deployment', 'deployment', 'deployment'])
    const big = layout({ secrets: 10_000, pods: 30_000, namespaces: 50 })
    expect(big.perNs.daemonSet + big.perNs.statefulSet + big.perNs.bare + big.perNs.deployments.reduce((s, n) => s + n, 0)).toBe(600)
  })

  it('lets one bench process at a time use a cluster directory, and takes over the lock of one that is gone', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ktr-bench-lock-'))
    await lockClusterDir(dir)
    expect(await readFile(join(dir, 'bench.lock'), 'utf8')).toBe(String(process.pid))
    await expect(lockClusterDir(dir)).rejects.toThrow(`another bench (pid ${process.pid}) is using ${dir}`)

    const stale = await mkdtemp(join(tmpdir(), 'ktr-bench-lock-'))
    const gone = spawnSync(process.execPath, ['-e', '']).pid
    await writeFile(join(stale, 'bench.lock'), String(gone))
    await lockClusterDir(stale)
    expect(await readFile(join(stale, 'bench.lock'), 'utf8')).toBe(String(process.pid))
  })
})
