// The engine's public face: what a runbook file imports.
export * from './types.ts'
export { resolveMode, type ModeInputs } from './mode.ts'
export { runRunbook, validateRunbook, RunFindings, NO_TERMINAL_FIX, type RunOptions } from './run.ts'
export { summarize, renderReport, countOutcomes, nothingToDo, outcomeLabel, NOTHING_TO_DO, type OutcomeCounts } from './summary.ts'
export {
  createTerminalConfirm,
  scriptedConfirm,
  parseAnswer,
  confirmQuestion,
  Answers,
  type Answer,
  type Confirm,
  type ConfirmRequest,
} from './prompt.ts'
export {
  withDeadline,
  waitWithProgress,
  createTicker,
  formatDuration,
  timeoutError,
  describeProgress,
  DEFAULT_WAIT_HINT,
  type Count,
  type Ticker,
  type TickerOptions,
  type WaitOptions,
  type WaitState,
} from '../wait.ts'
export { shellQuote, kubectlCommand, connectionArgs } from './kubectl.ts'
export { errorKind, messageOf, causeMessages, toStepError, PartlyApplied } from './failure.ts'
export { within } from './compose.ts'
