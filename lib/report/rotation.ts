// The rotate-tokens report: what the run found, changed, refused, and what
// still needs a person. Written to disk as JSON; rendered here for people.
import type { RunReport } from '../engine/types.ts'

export interface RotationReport {
  cluster: { context: string; server: string }
  /** The kubeconfig's user entry; preflight.user is who the API server sees. */
  user: string
  scope: string
  startedAt: string
  preflight: { version?: string; user?: string; keyIds?: string[]; missingPermissions?: string[] }
  /** Every step of the run with its outcome, in order. */
  steps: Array<{ id: string; outcome: string; summary: string }>
  /** The backup directory of this run, whether or not anything was written to it. */
  backupDir: string | undefined
  /** Every backup directory on disk that holds objects of this repair (a resumed run's earlier ones too). */
  backupDirs: string[]
  /** The pods the final proof found possibly on an old token, one line each with its next action. */
  podsLeft: string[]
  verification: { tokens: number; valid: number; notValid: Array<{ source: string; status: string; reason: string }> } | undefined
  reportFile: string | undefined
  outcome: 'ok' | 'failed' | 'quit' | 'refused before any step ran'
}

export function renderRotationSummary(rotation: RotationReport, run: RunReport): string {
  const lines = [
    `Cluster ${rotation.cluster.context} (${rotation.cluster.server})${rotation.preflight.version ? `, Kubernetes ${rotation.preflight.version}` : ''}; user: ${rotation.preflight.user ?? rotation.user}; scope: ${rotation.scope}`,
  ]
  for (const step of rotation.steps.filter((s) => s.outcome === 'applied' || s.outcome === 'skipped' || s.outcome === 'failed')) {
    lines.push(`${step.id}: ${step.outcome}: ${step.summary}`)
  }
  if (rotation.verification) {
    const v = rotation.verification
    lines.push(`Verification: ${v.valid}/${v.tokens} token Secret(s) valid`)
    for (const bad of v.notValid) lines.push(`  still needs a person: ${bad.source}: ${bad.reason}`)
  }
  for (const item of rotation.podsLeft) lines.push(`Needs a person: ${item}`)
  for (const dir of rotation.backupDirs) lines.push(`Backup: ${dir}`)
  if (rotation.reportFile) lines.push(`Report: ${rotation.reportFile}`)
  const restore = rotation.steps.some((s) => s.id === 'restore-secrets')
  if (!run.ok && run.mode !== 'plan' && run.stopped !== 'quit' && run.stopped !== 'interrupted' && restore) {
    lines.push('A refused Secret keeps its current token: a rerun refuses it again (its backed-up token is not accepted by this cluster).')
  } else if (!run.ok && run.mode !== 'plan') {
    lines.push(nextStep(rotation.podsLeft))
  }
  return lines.join('\n')
}

/**
 * What to run next: the flags the advice above asks for, if any (a plain
 * rerun would not help a refused bare pod), else a plain rerun.
 */
export function nextStep(advice: readonly string[]): string {
  const text = advice.join('\n')
  const flags = [
    ...(text.includes('--recreate-bare-pods') ? ['--recreate-bare-pods'] : []),
    ...[...new Set([...text.matchAll(/--bound-before (\S+?)[;,)]?(?:\s|$)/g)].map((m) => m[1]!))].slice(0, 1).map((t) => `--bound-before ${t}`),
  ]
  return flags.length > 0
    ? `To finish: rerun the same command with ${flags.join(' ')} (or do by hand what is listed above); every step re-checks the cluster and does only what is left.`
    : 'Rerun the same command to continue: every step re-checks the cluster and does only what is left.'
}
