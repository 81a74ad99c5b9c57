// --kubelet-log, read once before any connection: its preconditions
// (journalctl on PATH, stdin not a terminal) are usage errors (exit 2); then
// the log is read, and what it says about the CNI is a warning right away.
import { UsageError } from '../errors.ts'
import { describeCniUnauthorized } from '../kubelet/evidence.ts'
import { checkKubeletLogSource, JOURNAL, kubeletLogSource, KubeletLogSourceKind, parseLogSince, readKubeletLog, type KubeletLogReading } from '../kubelet/read.ts'
import type { Output } from '../output.ts'
import { plural } from '../workloads/proof.ts'
import type { Flags } from './context.ts'

export interface LogFlagIO {
  stdin: NodeJS.ReadableStream & { isTTY?: boolean }
  env: NodeJS.ProcessEnv
  now: () => Date
}

export async function readLogFlag(flags: Flags, io: LogFlagIO, output: Output): Promise<KubeletLogReading | undefined> {
  if (flags.kubeletLog === undefined) return undefined
  const source = kubeletLogSource(flags.kubeletLog)
  if (source.kind === KubeletLogSourceKind.stdin && io.stdin.isTTY) {
    throw new UsageError('--kubelet-log - reads the log from stdin, which is a terminal here: pipe the log in (journalctl -u kubelet -o cat | restart-dependent-pods --kubelet-log - …), or pass journal or a file')
  }
  await checkKubeletLogSource(source, io.env)
  const now = io.now()
  const since = flags.kubeletLogSince !== undefined ? parseLogSince(flags.kubeletLogSince, now) : undefined
  output.info(`kubelet log: reading ${source.kind === KubeletLogSourceKind.journal ? `the ${JOURNAL} (journalctl -u kubelet)` : source.kind === KubeletLogSourceKind.stdin ? 'stdin' : source.path}${since ? ` since ${since.toISOString()}` : ''}`)
  const reading = await readKubeletLog(source, { now, stdin: io.stdin, env: io.env, ...(since ? { since } : {}) })
  const { scan } = reading
  output.info(`kubelet log: ${plural(scan.lines, 'line')} read, ${plural(scan.missingSecrets.length, 'Secret')} not found${scan.cniUnauthorized ? `, CNI Unauthorized in ${plural(scan.cniUnauthorized.lines, 'line')}` : ''}`)
  for (const note of reading.notes) output.warn(`kubelet log: ${note}`)
  if (scan.cniUnauthorized) output.warn(`kubelet log: ${describeCniUnauthorized(scan.cniUnauthorized)}`)
  return reading
}
