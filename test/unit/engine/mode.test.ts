import { describe, expect, it } from 'vitest'
import { resolveMode } from '../../../lib/engine/mode.ts'

describe('resolveMode', () => {
  it.each([
    [{ dryRun: true, yes: false, stdinIsTTY: false }, 'plan'],
    [{ dryRun: true, yes: true, stdinIsTTY: true }, 'plan'],
    [{ dryRun: false, yes: true, stdinIsTTY: false }, 'unattended'],
    [{ dryRun: false, yes: true, stdinIsTTY: true }, 'unattended'],
    [{ dryRun: false, yes: false, stdinIsTTY: true }, 'interactive'],
    [{ dryRun: false, yes: false, stdinIsTTY: false }, 'no-terminal'],
  ])('%o → %s', (inputs, mode) => {
    expect(resolveMode(inputs)).toBe(mode)
  })
})
