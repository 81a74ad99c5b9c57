// Reading a node's kubelet log (--kubelet-log), on the node itself: from
// journald through `journalctl -u kubelet --since … -o cat` (run with zx's
// `$`, see lib/shell.ts), from a file the kubelet writes on machines without
// journald, or from stdin (`journalctl -u k3s-agent | … --kubelet-log -`).
// Read-only, and streamed line by line into the scanner (lib/kubelet/log.ts),
// so a long journal costs the findings, not its size.
import { createReadStream } from 'node:fs'
import { createInterface } from 'node:readline'
import { DomainError, UsageError } from '../errors.ts'
import { commandLines, requireCommand } from '../shell.ts'
import { parseRfc3339 } from '../workloads/regenerated.ts'
import { kubeletLogScanner, type KubeletLogScan } from './log.ts'

/** `--kubelet-log journal`: read journald's kubelet unit. */
export const JOURNAL = 'journal'
export const KUBELET_UNIT = 'kubelet'
/** Without --kubelet-log-since, the journal is read this far back: stuck pods and failing sandboxes log every minute or two. */
export const DEFAULT_JOURNAL_SINCE_MS = 60 * 60 * 1000

export const KubeletLogSourceKind = { journal: 'journal', file: 'file', stdin: 'stdin' } as const
export type KubeletLogSourceKind = (typeof KubeletLogSourceKind)[keyof typeof KubeletLogSourceKind]

export interface KubeletLogSource {
  readonly kind: KubeletLogSourceKind
  /** The file, for kind file. */
  readonly path?: string
}

/** --kubelet-log's value: `journal`, `-` (stdin), or a file path (`./journal` for a file of that name). */
export function kubeletLogSource(value: string): KubeletLogSource {
  if (value === JOURNAL) return { kind: KubeletLogSourceKind.journal }
  if (value === '-') return { kind: KubeletLogSourceKind.stdin }
  if (value.trim() === '') throw new UsageError('--kubelet-log is empty: pass journal, a file path, or - for stdin')
  return { kind: KubeletLogSourceKind.file, path: value }
}

const DURATION = /^(\d+)(s|m|h|d)$/
const UNIT_MS = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const

/** --kubelet-log-since: an RFC 3339 time, or a duration back from now (`90m`, `2h`, `1d`). */
export function parseLogSince(text: string, now: Date): Date {
  const duration = DURATION.exec(text.trim())
  if (duration) return new Date(now.getTime() - Number(duration[1]) * UNIT_MS[duration[2] as keyof typeof UNIT_MS])
  const ms = parseRfc3339(text)
  if (ms === undefined) throw new UsageError(`--kubelet-log-since ${text} is neither an RFC 3339 time nor a duration: write it like 2026-06-01T12:00:00Z, or 30m, 2h, 1d`)
  return new Date(ms)
}

/** The command line that reads the kubelet's journal since `since`: what the runbook runs, and what a person can run. */
export function journalArgs(since: Date): string[] {
  // `@<seconds>`: an instant, whatever the node's time zone.
  return ['-u', KUBELET_UNIT, '--since', `@${Math.floor(since.getTime() / 1000)}`, '-o', 'cat', '--no-pager']
}

export interface KubeletLogReading {
  /** Where it was read: `journalctl -u kubelet --since @… -o cat --no-pager`, a path, or `stdin`. */
  readonly source: string
  /** Lines logged before this were left out (the journal's own filter, or the klog time of a file's lines). */
  readonly since?: string
  readonly scan: KubeletLogScan
  /** What the reading itself says (journalctl's hints, an empty journal). */
  readonly notes: readonly string[]
}

export interface ReadKubeletLogOptions {
  readonly now: Date
  /** --kubelet-log-since; for the journal, DEFAULT_JOURNAL_SINCE_MS back from now without it. */
  readonly since?: Date
  readonly stdin: NodeJS.ReadableStream
  readonly env?: NodeJS.ProcessEnv
  readonly signal?: AbortSignal
}

const NO_JOURNALCTL_FIX =
  "on a machine without journald pass the kubelet's log file (--kubelet-log /var/log/kubelet.log) or pipe the log in (… | restart-dependent-pods --kubelet-log -)"

/**
 * Checks what can be checked before any work (exit 2): journalctl on PATH
 * for the journal. A file is opened when read, which names it on failure.
 */
export async function checkKubeletLogSource(source: KubeletLogSource, env: NodeJS.ProcessEnv = process.env): Promise<void> {
  if (source.kind === KubeletLogSourceKind.journal) await requireCommand('journalctl', `--kubelet-log ${JOURNAL}`, NO_JOURNALCTL_FIX, env)
}

/** Reads and scans the kubelet's log. Throws UsageError for a file that cannot be read, DomainError when journalctl fails. */
export async function readKubeletLog(source: KubeletLogSource, options: ReadKubeletLogOptions): Promise<KubeletLogReading> {
  switch (source.kind) {
    case KubeletLogSourceKind.journal:
      return readJournal(options)
    case KubeletLogSourceKind.stdin:
      return readStream(options.stdin, 'stdin', options)
    case KubeletLogSourceKind.file:
      return readFile(source.path ?? '', options)
  }
}

async function readJournal(options: ReadKubeletLogOptions): Promise<KubeletLogReading> {
  const env = options.env ?? process.env
  await checkKubeletLogSource({ kind: KubeletLogSourceKind.journal }, env)
  const since = options.since ?? new Date(options.now.getTime() - DEFAULT_JOURNAL_SINCE_MS)
  const args = journalArgs(since)
  const source = ['journalctl', ...args].join(' ')
  // journalctl filtered by the journal's own timestamps: the scanner needs no --since of its own.
  const scanner = kubeletLogScanner({ now: options.now })
  const run = await commandLines('journalctl', args, { env: { ...env, SYSTEMD_COLORS: '0', SYSTEMD_PAGER: '' }, ...(options.signal ? { signal: options.signal } : {}) })
  let entries = 0
  for await (const line of run.lines) {
    // journalctl's own remarks (`-- No entries --`, `-- Boot … --`) are not the kubelet's.
    if (/^-- .* --$/.test(line)) continue
    entries++
    scanner.add(line)
  }
  const end = await run.done()
  const said = end.stderr.trim().split('\n')[0] ?? ''
  if (end.exitCode !== 0) {
    throw new DomainError(
      `${source} failed (exit ${end.exitCode ?? 'signal'}${said ? `: ${said}` : ''}); run it by hand to see why (as root or a member of systemd-journal), or pass the kubelet's log file with --kubelet-log <file>`,
    )
  }
  const scan = scanner.result()
  const notes = [
    ...(said ? [`journalctl: ${said}`] : []),
    ...(entries === 0
      ? [`the journal has no ${KUBELET_UNIT} lines since ${since.toISOString()}: read it as root (or a member of systemd-journal), widen --kubelet-log-since, or, where the kubelet runs under another unit (k3s, microk8s), pipe that unit's journal in with --kubelet-log -`]
      : []),
  ]
  return { source, since: since.toISOString(), scan, notes }
}

async function readFile(path: string, options: ReadKubeletLogOptions): Promise<KubeletLogReading> {
  const stream = createReadStream(path, { encoding: 'utf8' })
  // Opening fails asynchronously: wait for it, so a wrong path is a usage error naming it.
  await new Promise<void>((resolve, reject) => {
    stream.once('ready', () => resolve())
    stream.once('error', (err: NodeJS.ErrnoException) => reject(new UsageError(`cannot read --kubelet-log ${path}: ${err.code ?? err.message}; check the path (and run as a user that may read it)`, { cause: err })))
  })
  return readStream(stream, path, options)
}

async function readStream(stream: NodeJS.ReadableStream, source: string, options: ReadKubeletLogOptions): Promise<KubeletLogReading> {
  const scanner = kubeletLogScanner({ now: options.now, ...(options.since ? { since: options.since } : {}) })
  const lines = createInterface({ input: stream, crlfDelay: Infinity })
  try {
    for await (const line of lines) scanner.add(line)
  } catch (err) {
    throw new UsageError(`cannot read --kubelet-log ${source}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, { cause: err })
  }
  const scan = scanner.result()
  const notes = scan.lines === 0 ? [`--kubelet-log ${source} is empty: nothing to learn from it`] : []
  return { source, ...(options.since ? { since: options.since.toISOString() } : {}), scan, notes }
}
