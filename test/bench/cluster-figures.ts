// The arithmetic of `make bench-cluster` (test/bench/cluster.ts), apart from
// the cluster so it can be unit-tested: which phase a step belongs to, step
// durations from the times their `[n/N]` progress lines appeared, the API
// server's request counters, and the verdict against a target.

export type Phase = 'inventory' | 'regenerate' | 'restart' | 'proof' | 'other'

const phases: Record<string, Phase> = {
  'find-stale-tokens': 'inventory',
  'back-up-secrets': 'regenerate',
  'regenerate-tokens': 'regenerate',
  'find-dependent-pods': 'restart',
  'plan-restarts': 'restart',
  'restart-workloads': 'restart',
  'verify-dependents': 'restart',
  verify: 'proof',
}

export function phaseOf(stepId: string): Phase {
  return phases[stepId] ?? 'other'
}

/**
 * Each step's time from the offsets (ms since start) at which step i's
 * progress line appeared: until the next step's line, the last one until the
 * process ended. Steps without a line (not run) take 0.
 */
export function stepDurations(starts: ReadonlyArray<number | undefined>, endMs: number, count: number): number[] {
  return Array.from({ length: count }, (_, i) => {
    const start = starts[i]
    if (start === undefined) return 0
    const next = starts.slice(i + 1).find((t) => t !== undefined) ?? endMs
    return next - start
  })
}

/**
 * The peak RSS a process had reached when step i ended, from the high-water
 * marks read as each step began (`marks[i]`: at step i's start): the next
 * step's mark that was read, else the process's final peak. Marks never
 * decrease, so a later one is an upper bound for an earlier step's end.
 */
export function highWaterAfter(marks: ReadonlyArray<number | undefined>, i: number, finalPeak: number): number {
  return marks.slice(i + 1).find((m) => m !== undefined) ?? finalPeak
}

/** Request counts keyed "VERB resource[/subresource]". */
export type Totals = Record<string, number>

/** Sums apiserver_request_total of a /metrics text by verb and resource (over codes, scopes, versions). */
export function parseRequestTotals(metrics: string): Totals {
  const totals: Totals = {}
  for (const line of metrics.split('\n')) {
    if (!line.startsWith('apiserver_request_total{')) continue
    const close = line.lastIndexOf('}')
    const labels = Object.fromEntries([...line.slice(line.indexOf('{') + 1, close).matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]))
    const value = Number(line.slice(close + 1).trim())
    if (!labels.resource || !Number.isFinite(value)) continue
    const key = `${labels.verb} ${labels.resource}${labels.subresource ? `/${labels.subresource}` : ''}`
    totals[key] = (totals[key] ?? 0) + value
  }
  return totals
}

export function diffTotals(before: Totals, after: Totals): Totals {
  const out: Totals = {}
  for (const [key, value] of Object.entries(after)) {
    const delta = value - (before[key] ?? 0)
    if (delta !== 0) out[key] = delta
  }
  return out
}

/** "ok" when `value` ≤ `limit`, else by how much it is missed. `unit` 's' means both are milliseconds shown in seconds. */
export function verdict(value: number, limit: number, unit: string): string {
  if (value <= limit) return 'ok'
  const over = value - limit
  const amount = unit === 's' ? `${(over / 1000).toFixed(1)} s` : `${Math.round(over)} ${unit}`
  return `MISSED by ${amount} (+${Math.round((over / limit) * 100)}%)`
}
