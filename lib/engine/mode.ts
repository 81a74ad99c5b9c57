// Which mode a run is in, from the flags and whether a person can answer.
import { Modes, type Mode } from './types.ts'

export interface ModeInputs {
  dryRun: boolean
  yes: boolean
  /** Can we ask a person (stdin is a terminal)? */
  stdinIsTTY: boolean
}

/**
 * --dry-run wins over everything (it never changes anything, so it needs no
 * confirmation); then --yes; then a terminal to ask on. Without any of these
 * the run may still do read-only work: the engine refuses only when a step
 * would change something (Modes.noTerminal).
 */
export function resolveMode({ dryRun, yes, stdinIsTTY }: ModeInputs): Mode {
  if (dryRun) return Modes.plan
  if (yes) return Modes.unattended
  return stdinIsTTY ? Modes.interactive : Modes.noTerminal
}
