// restart-dependent-pods in words: the one-line summary of what discovery
// found, the text result (the Secrets, the kubelet log, the plan, what
// happened to each item) and the fields it adds to the JSON report. Pure.
import { REGENERATED_AT_ANNOTATION } from '../annotations.ts'
import { describeCniUnauthorized, LoggedSecretStatus, type LoggedSecretCheck } from '../kubelet/evidence.ts'
import type { KubeletLogReading } from '../kubelet/read.ts'
import type { Discovery } from '../restart/discover.ts'
import type { Restarted } from '../restart/execute.ts'
import type { Scope } from '../secrets.ts'
import { DependencyKind, describeReason } from '../workloads/dependents.ts'
import { plural } from '../workloads/proof.ts'
import { renderPlanText, type RestartPlan } from '../workloads/restart-plan.ts'
import { summarizeResults } from '../workloads/restart-results.ts'

/** What the run knew when discovery ran: the scope, --bound-before, --kubelet-log. */
export interface DiscoverySettings {
  readonly scope: Scope
  readonly boundBefore?: Date
  readonly kubeletLog?: KubeletLogReading
}

/** find-dependent-pods' summary: how many pods hold an old token, and why. */
export function describeDiscovery(settings: DiscoverySettings, found: Discovery): string {
  const { boundBefore, kubeletLog } = settings
  const logged = kubeletLog ? `; ${describeLogged(kubeletLog, found.logged)}` : ''
  if (found.secrets.length === 0 && !boundBefore && found.dependents.length === 0) {
    const where = settings.scope.all ? 'any namespace' : `namespace ${settings.scope.namespace}`
    return `no token Secret in ${where} carries ${REGENERATED_AT_ANNOTATION}: nothing depends on a regenerated token (run regenerate-tokens first, or name Secrets with --secret)${logged}`
  }
  const kinds = new Map<string, number>()
  for (const d of found.dependents) {
    for (const kind of new Set(d.reasons.map((r) => r.kind))) kinds.set(kind, (kinds.get(kind) ?? 0) + 1)
  }
  const before = boundBefore?.toISOString() ?? ''
  const words: Record<string, [one: string, many: string]> = {
    [DependencyKind.referencesSecret]: ['names a regenerated Secret and started before it', 'name a regenerated Secret and started before it'],
    [DependencyKind.missingSecret]: ['is stuck on a missing Secret', 'are stuck on a missing Secret'],
    [DependencyKind.boundTokenBefore]: [`holds a bound token from before ${before}`, `hold a bound token from before ${before}`],
  }
  const why = [...kinds].map(([kind, n]) => `${n} ${words[kind]?.[n === 1 ? 0 : 1] ?? kind}`).join(', ')
  const head = `${plural(found.dependents.length, 'pod')} hold${found.dependents.length === 1 ? 's' : ''} an old token${why ? ` (${why})` : ''}`
  const secrets = `${plural(found.secrets.length, 'regenerated token Secret')} in scope`
  const fresh = found.upToDate.length > 0 ? `; ${plural(found.upToDate.length, 'pod')} started after the regeneration already ${found.upToDate.length === 1 ? 'has' : 'have'} the new token` : ''
  return `${head}; ${secrets}${fresh}${logged}`
}

/** `kubelet log: 2 Secrets not found (1 gone from the API, 1 present), CNI Unauthorized in 4 lines: run fix-calico`. */
function describeLogged(reading: KubeletLogReading, checks: readonly LoggedSecretCheck[]): string {
  const counts = Object.values(LoggedSecretStatus)
    .map((status) => [status, checks.filter((c) => c.status === status).length] as const)
    .filter(([, n]) => n > 0)
    .map(([status, n]) => `${n} ${status === LoggedSecretStatus.missing ? 'gone from the API' : status}`)
  const secrets = checks.length === 0 ? 'no Secret reported missing' : `${plural(checks.length, 'Secret')} not found (${counts.join(', ')})`
  const cni = reading.scan.cniUnauthorized ? `, CNI Unauthorized in ${plural(reading.scan.cniUnauthorized.lines, 'line')}: run fix-calico` : ''
  return `kubelet log: ${secrets}${cni}`
}

/** find-dependent-pods' details in the report. */
export function discoveryDetails(found: Discovery) {
  return {
    secrets: found.secrets,
    dependents: found.dependents.map((d) => ({ ...d.pod, reasons: d.reasons.map(describeReason) })),
    upToDate: found.upToDate,
    ...(found.logged.length > 0 ? { kubeletLog: found.logged } : {}),
  }
}

/** What the steps found and did in this run, as far as they got: the report's material. */
export interface RestartRun extends Omit<DiscoverySettings, 'scope'> {
  readonly found?: Discovery
  readonly plan?: RestartPlan
  readonly restarted?: Restarted
  /** What verify-dependents' fresh plan still found. */
  readonly remaining?: RestartPlan
}

/** The text result: the Secrets, the plan, and what happened to each item. */
export function renderRestartText(run: RestartRun): string {
  const out: string[] = []
  const { found, restarted } = run
  if (found && found.secrets.length > 0) {
    out.push('Regenerated token Secrets:')
    for (const s of found.secrets) {
      const extra = [s.replaces ? `replaces ${s.replaces}` : '', s.note ?? ''].filter(Boolean).join('; ')
      out.push(`  ${s.key}  regenerated-at ${s.regeneratedAt ?? '(unknown)'}${extra ? `  (${extra})` : ''}`)
    }
    out.push('')
  }
  if (run.boundBefore) out.push(`Bound tokens issued before ${run.boundBefore.toISOString()} count as old.`, '')
  if (run.kubeletLog) out.push(...renderKubeletLog(run.kubeletLog, found?.logged ?? []), '')
  if (run.plan) out.push('Plan:', renderPlanText(run.plan))
  const results = restarted?.results ?? []
  if (results.length > 0) {
    const rows = [['NAMESPACE', 'WORKLOAD', 'ACTION', 'OUTCOME', 'DETAIL'], ...results.map((r) => [r.namespace, r.workload, r.action, r.outcome, r.detail])]
    const widths = [0, 1, 2, 3].map((c) => Math.max(...rows.map((row) => (row[c] ?? '').length)))
    out.push('', 'Results:', ...rows.map((row) => row.map((cell, c) => (c < 4 ? cell.padEnd(widths[c] ?? 0) : cell)).join('  ').trimEnd()))
    out.push('', summarizeResults(results))
  }
  if (restarted?.backupDir) out.push(`Backups of every object changed: ${restarted.backupDir}`)
  return out.join('\n').trim()
}

/** The kubelet log's part of the text result: where it was read, each Secret it names, the CNI errors. */
function renderKubeletLog(reading: KubeletLogReading, checks: readonly LoggedSecretCheck[]): string[] {
  const { scan } = reading
  const since = reading.since ? ` since ${reading.since}` : ''
  const older = scan.older > 0 ? `, ${scan.older} older left out` : ''
  const out = [`Kubelet log (${reading.source}${since}): ${plural(scan.lines, 'line')} read${older}`]
  for (const check of checks) {
    const pods = check.pods.length > 0 ? `; pods ${check.pods.join(', ')}` : ''
    out.push(`  Secret ${check.secret}: ${check.status}: ${check.reason} (${plural(check.lines, 'line')}${check.lastSeen ? `, last ${check.lastSeen}` : ''}${pods})`)
  }
  if (checks.length === 0) out.push('  no Secret reported missing')
  if (scan.cniUnauthorized) out.push(`  CNI: ${describeCniUnauthorized(scan.cniUnauthorized)}`)
  for (const note of reading.notes) out.push(`  note: ${note}`)
  return out
}

/** The fields restart-dependent-pods adds to the JSON report. */
export function restartReportFields(run: RestartRun): Record<string, unknown> {
  const { kubeletLog } = run
  return {
    secrets: run.found?.secrets ?? [],
    ...(kubeletLog
      ? {
          kubeletLog: {
            source: kubeletLog.source,
            ...(kubeletLog.since ? { since: kubeletLog.since } : {}),
            lines: kubeletLog.scan.lines,
            older: kubeletLog.scan.older,
            secrets: run.found?.logged ?? [],
            cniUnauthorized: kubeletLog.scan.cniUnauthorized ? { ...kubeletLog.scan.cniUnauthorized, advice: describeCniUnauthorized(kubeletLog.scan.cniUnauthorized) } : null,
            notes: kubeletLog.notes,
          },
        }
      : {}),
    plan: run.plan ?? null,
    results: run.restarted?.results ?? [],
    ...(run.remaining ? { remaining: run.remaining } : {}),
    ...(run.restarted?.backupDir ? { backupDir: run.restarted.backupDir } : {}),
  }
}
