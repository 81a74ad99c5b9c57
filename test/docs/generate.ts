// `make docs`: rewrites runbooks/rotate-tokens.md from the step definitions.
import { writeFile } from 'node:fs/promises'
import { checklistPath, currentChecklist } from './checklist.ts'

await writeFile(checklistPath, await currentChecklist())
process.stderr.write(`wrote ${checklistPath}\n`)
