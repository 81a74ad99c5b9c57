// The rotate-tokens report: what the run found, changed, refused, and what
// still needs a person. Written to disk as JSON; rendered here for people.
import type { RunReport } from '../engine/types.ts'

export interface RotationReport {
  cluster: { context: string; server: string }
  scope: string
  startedAt: string
  preflight: { version?: string; user?: string; keyIds?: string[]; missingPermissions?: string[] }
  /** Every step of the run with its outcome, in order. */
  steps: Array<{ id: string; outcome: string; summary: string }>
  /** The backup directory of this run (the objects changed before a resumed run are in that run's report). */
  backupDir: string | undefined
  verification: { tokens: number; valid: number; notValid: Array<{ source: string; status: string; reason: string }> } | undefined
  reportFile: string | undefined
  /** What the run refused or could not do, each with its next action. */
  needsPerson: string[]
  outcome: 'ok' | 'failed' | 'quit' | 'refused before any step ran'
}

export function renderRotationSummary(rotation: RotationReport, run: RunReport): string {
  const lines = [
    `Cluster ${rotation.cluster.context} (${rotation.cluster.server})${rotation.preflight.version ? `, Kubernetes ${rotation.preflight.version}` : ''}; scope: ${rotation.scope}`,
  ]
  for (const step of rotation.steps.filter((s) => s.outcome === 'applied' || s.outcome === 'skipped' || s.outcome === 'failed')) {
    lines.push(`${step.id}: ${step.outcome}: ${step.summary}`)
  }
  if (rotation.verification) {
    const v = rotation.verification
    lines.push(`Verification: ${v.valid}/${v.tokens} token Secret(s) valid`)
    for (const bad of v.notValid) lines.push(`  still needs a person: ${bad.source}: ${bad.reason}`)
  }
  for (const item of rotation.needsPerson) lines.push(`Needs a person: ${item}`)
  if (rotation.backupDir) lines.push(`Backup: ${rotation.backupDir}`)
  if (rotation.reportFile) lines.push(`Report: ${rotation.reportFile}`)
  if (!run.ok && run.mode !== 'plan') lines.push('Rerun the same command to continue: every step re-checks the cluster and does only what is left.')
  return lines.join('\n')
}
