// The runbooks' node flags live in their shebang lines; `make <runbook>` runs
// the bundle with the flags it reads from rotate-tokens' shebang, so every
// runbook must carry the same line, and it must hold only `--name=value` flags.
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'

const dir = join(import.meta.dirname, '..', '..', '..', 'runbooks')
const shebangs = readdirSync(dir)
  .filter((f) => f.endsWith('.ts'))
  .map((f) => ({ file: f, line: readFileSync(join(dir, f), 'utf8').split('\n', 1)[0]! }))

describe('runbook shebangs', () => {
  it('are one line, shared by every runbook', () => {
    expect(shebangs.length).toBeGreaterThanOrEqual(6)
    const rotate = shebangs.find((s) => s.file === 'rotate-tokens.ts')!.line
    for (const s of shebangs) expect({ file: s.file, line: s.line }).toEqual({ file: s.file, line: rotate })
  })

  it('start node through env -S with V8 heap flags the Makefile can pass on', () => {
    const line = shebangs[0]!.line
    expect(line).toMatch(/^#!\/usr\/bin\/env -S node( --[a-z-]+=\d+)+$/)
    expect(line).toContain('--max-old-space-size=')
    expect(readFileSync(join(dir, '..', 'Makefile'), 'utf8')).toContain("sed -n '1s/^\\#!.* -S node//p' runbooks/rotate-tokens.ts")
  })
})
