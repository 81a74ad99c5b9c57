// The kubelet log readers, with a stand-in journalctl on PATH: zx's `$` runs
// it for real, so the arguments it gets and the stream it writes are the
// ones a node's journalctl would see and write.
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DomainError, UsageError } from '../../../lib/errors.ts'
import { journalArgs, kubeletLogSource, parseLogSince, readKubeletLog } from '../../../lib/kubelet/read.ts'

const now = new Date('2026-11-30T12:30:00Z')
const MISSING = 'E1130 12:20:00.000000    5776 secret.go:189] Couldn\'t get secret team-a/app-token-x7k2p: secret "app-token-x7k2p" not found'
const CNI =
  'E1130 12:21:00.000000    5776 log.go:32] "RunPodSandbox from runtime service failed" err="rpc error: code = Unknown desc = failed to setup network for sandbox \\"7a1b\\": plugin type=\\"calico\\" failed (add): error getting ClusterInformation: connection is unauthorized: Unauthorized"'

describe('readKubeletLog', () => {
  let dir: string
  let bin: string
  const stdin = Readable.from([])

  /** A journalctl that records its arguments and prints `lines` (stderr `err`, exit `code`). */
  const fakeJournalctl = async (lines: string[], opts: { err?: string; code?: number } = {}) => {
    const out = join(dir, 'out.txt')
    await writeFile(out, lines.map((l) => `${l}\n`).join(''))
    await writeFile(
      join(bin, 'journalctl'),
      `#!/bin/sh\nprintf '%s\\n' "$@" > ${JSON.stringify(join(dir, 'args.txt'))}\ncat ${JSON.stringify(out)}\n${opts.err ? `echo ${JSON.stringify(opts.err)} >&2\n` : ''}exit ${opts.code ?? 0}\n`,
    )
    await chmod(join(bin, 'journalctl'), 0o755)
  }
  const env = () => ({ ...process.env, PATH: `${bin}:/usr/bin:/bin` })

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ktr-kubelet-log-'))
    bin = join(dir, 'bin')
    await import('node:fs/promises').then((fs) => fs.mkdir(bin))
  })
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  it('runs journalctl -u kubelet --since @<seconds> -o cat through zx and scans what it prints', async () => {
    await fakeJournalctl(['-- Boot 1a2b --', MISSING, 'I1130 12:20:01.000000    5776 unrelated.go:1] fine', CNI])
    const reading = await readKubeletLog(kubeletLogSource('journal'), { now, since: new Date('2026-11-30T12:00:00Z'), stdin, env: env() })
    expect(reading.source).toBe(`journalctl -u kubelet --since @${Date.parse('2026-11-30T12:00:00Z') / 1000} -o cat --no-pager`)
    const { readFile } = await import('node:fs/promises')
    expect((await readFile(join(dir, 'args.txt'), 'utf8')).trim().split('\n')).toEqual(journalArgs(new Date('2026-11-30T12:00:00Z')))
    expect(reading.scan.lines).toBe(3)
    expect(reading.scan.missingSecrets.map((s) => `${s.namespace}/${s.secret}`)).toEqual(['team-a/app-token-x7k2p'])
    expect(reading.scan.cniUnauthorized?.plugins).toEqual(['calico'])
    expect(reading.notes).toEqual([])
  })

  it('reads the last hour by default, and says so when the journal has no kubelet lines', async () => {
    await fakeJournalctl(['-- No entries --'], { err: 'Hint: You are currently not seeing messages from other users and the system.' })
    const reading = await readKubeletLog(kubeletLogSource('journal'), { now, stdin, env: env() })
    expect(reading.since).toBe('2026-11-30T11:30:00.000Z')
    expect(reading.notes).toEqual([
      'journalctl: Hint: You are currently not seeing messages from other users and the system.',
      expect.stringMatching(/^the journal has no kubelet lines since 2026-11-30T11:30:00.000Z: read it as root/),
    ])
  })

  it('a failing journalctl is a domain error that names the command and its message', async () => {
    await fakeJournalctl([], { err: 'No journal files were found.', code: 1 })
    const failure = readKubeletLog(kubeletLogSource('journal'), { now, stdin, env: env() })
    await expect(failure).rejects.toThrow(DomainError)
    await expect(failure).rejects.toThrow(/^journalctl -u kubelet --since @\d+ -o cat --no-pager failed \(exit 1: No journal files were found\.\); run it by hand/)
  })

  it('without journalctl on PATH: a usage error (exit 2) that names the way out', async () => {
    const failure = readKubeletLog(kubeletLogSource('journal'), { now, stdin, env: { ...process.env, PATH: join(dir, 'empty') } })
    await expect(failure).rejects.toThrow(UsageError)
    await expect(failure).rejects.toThrow(
      "--kubelet-log journal needs journalctl, which is not on PATH; on a machine without journald pass the kubelet's log file (--kubelet-log /var/log/kubelet.log) or pipe the log in (… | restart-dependent-pods --kubelet-log -)",
    )
  })

  it('reads a file, keeping only what was logged since --kubelet-log-since when given', async () => {
    const file = join(dir, 'kubelet.log')
    await writeFile(file, [MISSING.replace('E1130 12:20', 'E1130 09:20'), CNI].join('\n'))
    const all = await readKubeletLog(kubeletLogSource(file), { now, stdin })
    expect(all.source).toBe(file)
    expect(all.scan.missingSecrets).toHaveLength(1)
    const recent = await readKubeletLog(kubeletLogSource(file), { now, since: new Date(2026, 10, 30, 12), stdin })
    expect(recent.scan.older).toBe(1)
    expect(recent.scan.missingSecrets).toEqual([])
    expect(recent.scan.cniUnauthorized?.lines).toBe(1)
  })

  it('a file that cannot be read is a usage error naming it', async () => {
    await expect(readKubeletLog(kubeletLogSource(join(dir, 'nope.log')), { now, stdin })).rejects.toThrow(/^cannot read --kubelet-log .*nope\.log: ENOENT; check the path/)
  })

  it('reads stdin for -', async () => {
    const reading = await readKubeletLog(kubeletLogSource('-'), { now, stdin: Readable.from([`${MISSING}\n`, `${CNI}\r\n`]) })
    expect(reading.source).toBe('stdin')
    expect(reading.scan.lines).toBe(2)
    expect(reading.scan.missingSecrets.map((s) => s.secret)).toEqual(['app-token-x7k2p'])
  })
})

describe('parseLogSince', () => {
  it.each([
    ['30m', '2026-11-30T12:00:00.000Z'],
    ['2h', '2026-11-30T10:30:00.000Z'],
    ['1d', '2026-11-29T12:30:00.000Z'],
    ['2026-11-30T08:00:00Z', '2026-11-30T08:00:00.000Z'],
  ])('%s', (text, iso) => {
    expect(parseLogSince(text, now).toISOString()).toBe(iso)
  })

  it('anything else is a usage error with the accepted forms', () => {
    expect(() => parseLogSince('yesterday', now)).toThrow(/--kubelet-log-since yesterday is neither an RFC 3339 time nor a duration: write it like 2026-06-01T12:00:00Z, or 30m, 2h, 1d/)
  })
})
