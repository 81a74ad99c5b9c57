// The glue every runbook's main shares: parse flags (or print --help),
// install the redactor, build the Output and the runbook's context, pick
// the mode, run the engine, print the result, return the exit code.
import { createOutput, type Output, type TextRedactor } from '../output.ts'
import { Redactor } from '../redact.ts'
import type { ExitCode } from '../errors.ts'
import { resolveMode } from '../engine/mode.ts'
import { createTerminalConfirm, type Confirm } from '../engine/prompt.ts'
import { RunFindings, runRunbook } from '../engine/run.ts'
import { renderReport, summarize } from '../engine/summary.ts'
import { Modes, type Findings, type RunReport, type Runbook } from '../engine/types.ts'
import { parseCli, type CliSpec, type FlagSpec, type ParsedCli } from './flags.ts'
import { helpText } from './help.ts'
import { insecureTlsWarning } from './kube.ts'
import { VERSION } from './version.ts'
import { isDebug, type MainIO } from './main.ts'

export interface ContextArgs<F extends readonly FlagSpec[], R extends TextRedactor> {
  cli: ParsedCli<F>
  output: Output
  redactor: R
  io: MainIO
}

export interface RunbookMainOptions<C, F extends readonly FlagSpec[], R extends TextRedactor = Redactor> {
  cli: CliSpec<F>
  /** The steps --help lists, and the ones that run unless `pick` chooses others. */
  runbook: Runbook<C>
  /** Chooses the runbook once flags are parsed (rotate-tokens: --restore is another job). */
  pick?: (cli: ParsedCli<F>) => Runbook<C>
  /**
   * After the engine, whatever the outcome (also a failure or a refusal):
   * writes what must outlive the run (rotate-tokens' report file). Returns a
   * line for stderr. Never called from inside a step: checks stay read-only.
   * `found`: the plans and results of the steps that ran.
   */
  afterRun?: (report: RunReport | undefined, ctx: C, found: Findings) => Promise<string | undefined>
  /** Seam: this run's redactor (default `new Redactor({ showTokens: cli.common.showToken })`). */
  redactor?: (cli: ParsedCli<F>) => R
  /** Builds the runbook's context (clients, options) once flags are known. */
  context: (args: ContextArgs<F, R>) => Promise<C> | C
  /** Extra top-level fields for the report (they appear in --output json), from the steps' plans and results (`found`). */
  extendReport?: (report: RunReport, ctx: C, found: Findings) => Record<string, unknown>
  /** Text output only: the runbook's own findings, printed on stdout before the step report. */
  renderText?: (report: RunReport, ctx: C, found: Findings) => string
  /** Seam: the interactive prompt (default: ask on io.stdin, write to io.stderr). */
  confirm?: Confirm
}

export async function runbookMain<C, const F extends readonly FlagSpec[], R extends TextRedactor = Redactor>(
  io: MainIO,
  opts: RunbookMainOptions<C, F, R>,
): Promise<ExitCode> {
  const parsed = parseCli(opts.cli, io)
  if (parsed.help) {
    io.stdout.write(parsed.version ? `${opts.cli.name} ${VERSION}\n` : helpText(opts.cli, opts.runbook.steps))
    return 0
  }
  const redactor = opts.redactor ? opts.redactor(parsed) : (new Redactor({ showTokens: parsed.common.showToken }) as TextRedactor as R)
  io.redactor = redactor
  const output = createOutput({
    format: parsed.common.output,
    stdout: io.stdout,
    stderr: io.stderr,
    isTTY: io.stderr.isTTY === true,
    noColor: Boolean(parsed.env.NO_COLOR),
    redactor,
  })
  if (parsed.common.insecureSkipTlsVerify) output.warn(insecureTlsWarning())
  const mode = resolveMode({ dryRun: parsed.common.dryRun, yes: parsed.common.yes, stdinIsTTY: io.stdin.isTTY === true })
  const ctx = await opts.context({ cli: parsed, output, redactor, io })
  const confirm = mode === Modes.interactive ? (opts.confirm ?? createTerminalConfirm({ input: io.stdin, output: io.stderr })) : undefined
  const runbook = opts.pick ? opts.pick(parsed) : opts.runbook
  const interrupt = onInterrupt(io, output)
  // The steps' plans and results, kept past the run for the report.
  const found = new RunFindings()
  let report: RunReport | undefined
  try {
    report = await runRunbook(runbook, ctx, {
      findings: found,
      mode,
      output,
      now: io.now,
      debug: isDebug(io.env),
      signal: interrupt.signal,
      ...(confirm ? { confirm } : {}),
    })
  } finally {
    interrupt.dispose()
    const line = await opts.afterRun?.(report, ctx, found)
    if (line) output.info(line)
  }
  if (output.format === 'json') {
    // The engine's fields win over a runbook's extras of the same name.
    output.result({ ...opts.extendReport?.(report, ctx, found), ...report })
    output.info(summarize(report))
  } else {
    output.result(report, (r) => [opts.renderText?.(r, ctx, found), renderReport(r)].filter(Boolean).join('\n\n'))
  }
  return report.exitCode
}

/**
 * Ctrl-C (or SIGTERM) while a runbook runs: the step under way finishes (a
 * half-done write or an abandoned wait is worse than a few more seconds), no
 * further step starts, the summary and report say what is left, and the exit
 * code is 130. A second Ctrl-C stops at once.
 */
function onInterrupt(io: MainIO, output: Output): { signal: AbortSignal; dispose: () => void } {
  const controller = new AbortController()
  if (!io.signals) return { signal: controller.signal, dispose: () => undefined }
  const handler = () => {
    if (controller.signal.aborted) {
      output.warn('interrupted again: stopping now; rerun the same command to continue')
      process.exit(130)
    }
    output.warn('interrupt: finishing the current step, then stopping (Ctrl-C again to stop now)')
    controller.abort()
  }
  process.on('SIGINT', handler)
  process.on('SIGTERM', handler)
  return {
    signal: controller.signal,
    dispose: () => {
      process.off('SIGINT', handler)
      process.off('SIGTERM', handler)
    },
  }
}
