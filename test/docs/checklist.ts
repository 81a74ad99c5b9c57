// Builds the Markdown checklist from the runbooks' own step definitions.
// Importing a runbook runs nothing (its entry-point guard sees it is imported).
import { join } from 'node:path'
import { renderChecklist } from '../../lib/report/checklist.ts'

export const checklistPath = join(import.meta.dirname, '..', '..', 'runbooks', 'rotate-tokens.md')

export async function currentChecklist(): Promise<string> {
  const [rotate, regenerate, restart, calico] = await Promise.all([
    import('../../runbooks/rotate-tokens.ts'),
    import('../../runbooks/regenerate-tokens.ts'),
    import('../../runbooks/restart-dependent-pods.ts'),
    import('../../runbooks/fix-calico.ts'),
  ])
  return renderChecklist(
    rotate.runbook,
    {
      'regenerate-tokens': regenerate.runbook,
      'restart-dependent-pods': restart.runbook,
      'fix-calico': calico.runbook,
    },
    rotate.restoreRunbook,
  )
}
