// The Markdown runbook an operator can follow by hand, generated from the
// step definitions themselves so it cannot drift from what the code does
// (test/unit/report/checklist.test.ts fails when runbooks/rotate-tokens.md is
// out of date; `make docs` rewrites it).

export interface ChecklistStep {
  id: string
  title: string
  description: string
  readOnly?: true
}

export interface ChecklistRunbook {
  name: string
  summary: string
  steps: readonly ChecklistStep[]
}

export function renderChecklist(main: ChecklistRunbook, children: Readonly<Record<string, ChecklistRunbook>>, restore?: ChecklistRunbook): string {
  const lines = [
    `# Runbook: ${main.name}`,
    '',
    '<!-- Generated from the step definitions by `make docs`; do not edit by hand. -->',
    '',
    main.summary,
    '',
    `Run it all with \`./runbooks/${main.name}.ts -A\` (asks before each change) or \`make ${main.name} ARGS="-A --yes"\`.`,
    `To follow it by hand, print this checklist with your cluster's objects and the exact kubectl commands: \`./runbooks/${main.name}.ts -A --dry-run\`.`,
    'Every step re-checks the cluster first, so after an interruption (Ctrl-C, a crash, a lost terminal) run the same command again: it continues where it stopped.',
    '',
  ]
  main.steps.forEach((step, i) => {
    lines.push(`## ${i + 1}. ${step.title}`, '', `${step.description}${step.readOnly ? ' *(read-only)*' : ''}`, '')
    const child = children[step.id]
    if (child) {
      lines.push(`By hand: \`./runbooks/${child.name}.ts --dry-run\` shows the commands, \`./runbooks/${child.name}.ts\` runs them. Its steps:`, '')
      child.steps.forEach((sub, j) => lines.push(`${j + 1}. [ ] **${sub.title}** (\`${sub.id}\`): ${sub.description}`))
      lines.push('')
    } else {
      lines.push(`- [ ] \`${step.id}\` done`, '')
    }
  })
  if (restore) {
    lines.push('## Undo: `--restore <backup-dir>`', '', restore.summary, '')
    restore.steps.forEach((sub, j) => lines.push(`${j + 1}. [ ] **${sub.title}** (\`${sub.id}\`): ${sub.description}`))
    lines.push('')
  }
  return lines.join('\n')
}
