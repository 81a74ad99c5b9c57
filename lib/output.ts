// Everything a runbook prints goes through one Output: progress and prose to
// stderr, results to stdout, and every byte through the redactor first.
// `--output json` keeps stdout to exactly one JSON document; colour appears
// only on a terminal without NO_COLOR. Streams are injected (tests pass
// strings-collecting sinks), so nothing here reaches for process.* itself.
import { jsonChunks } from './report/json-chunks.ts'

/** What Output needs from lib/redact.ts's Redactor (kept local so this module does not depend on it). */
export interface TextRedactor {
  redact(text: string): string
}

/** A place to write text: process.stdout/stderr, or a test's collector. */
export interface TextSink {
  write(chunk: string): unknown
  isTTY?: boolean
}

export const OutputFormats = ['text', 'json'] as const
export type OutputFormat = (typeof OutputFormats)[number]

export interface OutputOptions {
  format: OutputFormat
  stdout: TextSink
  stderr: TextSink
  /** Is stderr (where a person reads progress) a terminal? */
  isTTY: boolean
  /** NO_COLOR is set (https://no-color.org): never colour. */
  noColor: boolean
  redactor: TextRedactor
}

/** Colour helpers; each is the identity when colour is off. */
export interface Style {
  bold(text: string): string
  dim(text: string): string
  green(text: string): string
  red(text: string): string
  yellow(text: string): string
  cyan(text: string): string
}

export interface Output {
  readonly format: OutputFormat
  readonly isTTY: boolean
  readonly color: boolean
  readonly style: Style
  /** A progress line on stderr (`[2/5] Regenerate tokens`). */
  progress(line: string): void
  /** Prose for the person on stderr. */
  info(line: string): void
  /** `warning: <line>` on stderr. */
  warn(line: string): void
  /** `error: <line>` on stderr. */
  error(line: string): void
  /**
   * A transient status line (a wait's ticker): on a terminal it overwrites
   * itself in place; elsewhere each call is one plain line (callers throttle).
   */
  status(line: string): void
  /** Ends a transient status line, leaving `line` (if given) as a permanent one. */
  endStatus(line?: string): void
  /**
   * The result, on stdout: `renderText(value)` in text format, one JSON
   * document in json format (called at most once then).
   */
  result<T>(value: T, renderText?: (value: T) => string): void
}

const ansi = (open: number, close: number) => (text: string) => `\u001b[${open}m${text}\u001b[${close}m`
const colourStyle: Style = {
  bold: ansi(1, 22),
  dim: ansi(2, 22),
  green: ansi(32, 39),
  red: ansi(31, 39),
  yellow: ansi(33, 39),
  cyan: ansi(36, 39),
}
const identity = (text: string) => text
const plainStyle: Style = { bold: identity, dim: identity, green: identity, red: identity, yellow: identity, cyan: identity }

/** Carriage return + erase to end of line: rewinds a transient status line. */
const CLEAR_LINE = '\r\u001b[K'

export function createOutput(opts: OutputOptions): Output {
  const { format, stdout, stderr, isTTY, redactor } = opts
  const color = isTTY && !opts.noColor
  const style = color ? colourStyle : plainStyle
  let statusShown = false
  let resultWritten = false

  const write = (sink: TextSink, text: string) => {
    sink.write(redactor.redact(text))
  }
  // A permanent line must not be glued onto a transient one.
  const clearStatus = () => {
    if (statusShown) {
      stderr.write(CLEAR_LINE)
      statusShown = false
    }
  }
  const line = (text: string) => {
    clearStatus()
    write(stderr, ensureNewline(text))
  }

  return {
    format,
    isTTY,
    color,
    style,
    progress: line,
    info: line,
    warn: (text) => line(`${style.yellow('warning:')} ${text}`),
    error: (text) => line(`${style.red('error:')} ${text}`),
    status(text) {
      if (isTTY) {
        // One physical line: drop anything after a newline so \r can rewind it.
        write(stderr, `${CLEAR_LINE}${text.split('\n')[0] ?? ''}`)
        statusShown = true
      } else {
        write(stderr, ensureNewline(text))
      }
    },
    endStatus(text) {
      clearStatus()
      if (text !== undefined) write(stderr, ensureNewline(text))
    },
    result(value, renderText) {
      clearStatus()
      if (format === 'json') {
        if (resultWritten) throw new Error('Output.result called twice with --output json: stdout must hold one JSON document')
        resultWritten = true
        // In chunks, not one string: a 30,000-pod report is ~30 MB of JSON.
        for (const chunk of jsonChunks(value, jsonReplacer)) write(stdout, chunk)
        write(stdout, '\n')
        return
      }
      const text = renderText ? renderText(value) : typeof value === 'string' ? value : JSON.stringify(value, jsonReplacer, 2)
      if (text !== '') write(stdout, ensureNewline(text))
    },
  }
}

/** Errors serialise as `{ name, message }` instead of `{}`; bigints as strings. */
function jsonReplacer(_key: string, value: unknown): unknown {
  if (value instanceof Error) return { name: value.name, message: value.message }
  if (typeof value === 'bigint') return value.toString()
  return value
}

function ensureNewline(text: string): string {
  return text.endsWith('\n') ? text : `${text}\n`
}

/** Collects what an Output writes; for tests and for capturing a runbook's output. */
export function memorySink(isTTY = false): TextSink & { text(): string } {
  const chunks: string[] = []
  return {
    isTTY,
    write(chunk: string) {
      chunks.push(chunk)
      return true
    },
    text: () => chunks.join(''),
  }
}
