import { readFile } from 'node:fs/promises'
import { describe, expect, it } from 'vitest'
import { renderChecklist } from '../../../lib/report/checklist.ts'
import { checklistPath, currentChecklist } from '../../docs/checklist.ts'

describe('renderChecklist', () => {
  it('numbers the steps and nests each child runbook under its step', () => {
    const text = renderChecklist(
      { name: 'main', summary: 'Main job.', steps: [{ id: 'look', title: 'Look', description: 'Looks.', readOnly: true }, { id: 'child', title: 'Child', description: 'Runs child.' }] },
      { child: { name: 'child', summary: 'c', steps: [{ id: 'a', title: 'A', description: 'Does a.' }] } },
    )
    expect(text).toContain('## 1. Look\n\nLooks. *(read-only)*')
    expect(text).toContain('## 2. Child')
    expect(text).toContain('1. [ ] **A** (`a`): Does a.')
  })
})

describe('runbooks/rotate-tokens.md', () => {
  it('is up to date with the step definitions (run `make docs` if this fails)', async () => {
    expect(await readFile(checklistPath, 'utf8')).toBe(await currentChecklist())
  })
})
