// The measuring half of the benchmark scripts: time an operation a few
// times, report the median, and read the heap after a garbage collection with
// the operation's result still alive (so "heap" is what the inputs plus one
// result keep). Results go to stdout as a table; progress goes to stderr.
// No assertions: the numbers are for people (see run-all.ts, `make bench`).
import { cpus } from 'node:os'
import { isEntryPoint } from '../../lib/cli/main.ts'

export interface Row {
  readonly operation: string
  /** Items one run handles (tokens, Secrets, pods, log lines...). */
  readonly n: number
  /** Median wall time of one run. */
  readonly totalMs: number
  readonly heapUsedMb: number
  readonly rssMb: number
  /** How many timed runs the median is of. */
  readonly runs: number
}

export interface MeasureOptions {
  /** Timed runs; the median is reported. Default 5. */
  readonly runs?: number
  /** One untimed run first, so the timed ones run optimized code. Default true; off for runs of seconds, where it is noise. */
  readonly warmUp?: boolean
}

/** Whether the script was started with --expose-gc (node --expose-gc). */
export const gcExposed = typeof globalThis.gc === 'function'

export function collectGarbage(): void {
  globalThis.gc?.()
}

/** Keeps the last result reachable until the heap has been read (written, never read: a module variable is not optimized away). */
let _retained: unknown

/**
 * Runs `operation` `runs` times (a collection before each, so one run's
 * garbage is not collected on the next one's clock) and reports the median
 * time, and the heap and RSS after the last run with its result still alive.
 */
export async function measure(name: string, n: number, operation: () => unknown, options: MeasureOptions = {}): Promise<Row> {
  const runs = options.runs ?? 5
  if (options.warmUp ?? true) await operation()
  const times: number[] = []
  for (let run = 0; run < runs; run++) {
    _retained = undefined
    collectGarbage()
    const start = performance.now()
    _retained = await operation()
    times.push(performance.now() - start)
  }
  collectGarbage()
  const memory = process.memoryUsage()
  _retained = undefined
  const row = { operation: name, n, totalMs: median(times), heapUsedMb: memory.heapUsed / 2 ** 20, rssMb: memory.rss / 2 ** 20, runs }
  progress(`${name}: ${row.totalMs.toFixed(1)} ms (median of ${runs})`)
  return row
}

/** Times a one-off step (setup), without repetition. */
export async function timed<T>(operation: () => T | Promise<T>): Promise<{ value: T; ms: number }> {
  const start = performance.now()
  const value = await operation()
  return { value, ms: performance.now() - start }
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = Math.floor(sorted.length / 2)
  if (sorted.length === 0) return Number.NaN
  return sorted.length % 2 === 1 ? (sorted[middle] ?? Number.NaN) : ((sorted[middle - 1] ?? 0) + (sorted[middle] ?? 0)) / 2
}

/**
 * The machine, in a few lines: numbers from different machines are not
 * comparable. Call it before building fixtures: it reads the heap the loaded
 * modules alone take, which every "heap used" figure includes.
 */
export function environmentHeader(): string {
  const cpu = cpus()
  collectGarbage()
  const heapMb = (process.memoryUsage().heapUsed / 2 ** 20).toFixed(1)
  return [
    `node ${process.version} (${process.platform}/${process.arch})`,
    `cpu  ${cpu[0]?.model ?? 'unknown'} x ${cpu.length}`,
    `gc   ${gcExposed ? 'exposed: heap read after a full collection' : 'not exposed (run with node --expose-gc): heap includes garbage'}`,
    `heap ${heapMb} MB before any fixture (the modules loaded)`,
  ].join('\n')
}

/** The rows as an aligned plain-text table (pastes into a ticket or a PR). */
export function formatTable(title: string, rows: readonly Row[], notes: readonly string[] = []): string {
  const header = ['operation', 'n', 'total ms', 'per item µs', 'heap used MB', 'RSS MB', 'runs']
  const cells = rows.map((row) => [
    row.operation,
    row.n.toLocaleString('en-US'),
    row.totalMs.toFixed(1),
    ((row.totalMs * 1000) / row.n).toFixed(2),
    row.heapUsedMb.toFixed(1),
    row.rssMb.toFixed(1),
    String(row.runs),
  ])
  return [`## ${title}`, ...notes.map((note) => `# ${note}`), ...alignedLines(header, cells), ''].join('\n')
}

/**
 * A header, a rule and the rows, in columns: the columns listed in
 * `leftAligned` (names, verdicts) padded on the right, the others (figures)
 * on the left.
 */
export function alignedLines(header: readonly string[], cells: ReadonlyArray<readonly string[]>, leftAligned: readonly number[] = [0]): string[] {
  const all = [header, ...cells]
  const widths = header.map((_, column) => Math.max(...all.map((line) => (line[column] ?? '').length)))
  const format = (line: readonly string[]) =>
    line
      .map((cell, column) => (leftAligned.includes(column) ? cell.padEnd(widths[column] ?? 0) : cell.padStart(widths[column] ?? 0)))
      .join('  ')
      .trimEnd()
  const rule = widths.map((width) => '-'.repeat(width)).join('  ')
  return [format(header), rule, ...cells.map(format)]
}

export function progress(line: string): void {
  process.stderr.write(`bench: ${line}\n`)
}

/** Whether `importMetaUrl` is the script node was started with (importing a bench script runs nothing). */
export function isMain(importMetaUrl: string): boolean {
  return isEntryPoint(importMetaUrl, process.argv[1])
}

/** A deterministic pseudo-random generator (mulberry32), so every run builds the same cluster. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** `length` characters of [a-z0-9], like the suffixes Kubernetes generates (x7k2p). */
export function suffix(random: () => number, length = 5): string {
  const alphabet = 'bcdfghjklmnpqrstvwxz2456789'
  let text = ''
  for (let i = 0; i < length; i++) text += alphabet[Math.floor(random() * alphabet.length)]
  return text
}
