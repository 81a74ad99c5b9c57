import { PassThrough } from 'node:stream'
import { fileURLToPath } from 'node:url'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { DomainError, UsageError } from '../../../lib/errors.ts'
import { execute, defaultRedactor, isEntryPoint, runMain, type Main, type MainIO } from '../../../lib/cli/main.ts'
import { memorySink } from '../../../lib/output.ts'

function makeIO(env: Record<string, string> = {}) {
  const stdout = memorySink()
  const stderr = memorySink()
  const io: MainIO = {
    argv: [],
    env,
    cwd: '/',
    stdin: new PassThrough(),
    stdout,
    stderr,
    now: () => new Date(0),
    redactor: defaultRedactor(),
  }
  return { io, stdout, stderr }
}

const thrower = (err: unknown): Main => () => {
  throw err
}

describe('execute: errors become exit codes and one clear message', () => {
  it.each<[string, Main, number, RegExp]>([
    ['success', () => undefined, 0, /^$/],
    ['an explicit 0', () => 0, 0, /^$/],
    ['a failed run', () => 1, 1, /^$/],
    ['a usage code', () => 2, 2, /^$/],
    [
      'a UsageError',
      thrower(new UsageError('-o: "yaml" is not allowed; allowed values are text, json')),
      2,
      /^error: -o: "yaml" is not allowed; allowed values are text, json \(see --help\)\n$/,
    ],
    [
      'a DomainError',
      thrower(new DomainError('Secret kube-system/x has no token; run regenerate-tokens first')),
      1,
      /^error: Secret kube-system\/x has no token; run regenerate-tokens first\n$/,
    ],
    [
      'an unexpected error with causes',
      thrower(new Error('listing Secrets failed', { cause: new Error('socket hang up', { cause: new Error('ECONNRESET') }) })),
      1,
      /^error: unexpected failure: listing Secrets failed\n {2}caused by: socket hang up\n {2}caused by: ECONNRESET\n.*KTR_DEBUG=1/,
    ],
    ['a thrown string', thrower('weird'), 1, /^error: unexpected failure: weird\n/],
  ])('%s', async (_name, main, code, stderrText) => {
    const { io, stderr, stdout } = makeIO()
    await expect(execute(main, io)).resolves.toBe(code)
    expect(stderr.text()).toMatch(stderrText)
    expect(stderr.text()).not.toMatch(/\n\s+at /)
    expect(stdout.text()).toBe('')
  })

  it('prints the stack of an unexpected error only with KTR_DEBUG=1', async () => {
    const { io, stderr } = makeIO({ KTR_DEBUG: '1' })
    await execute(thrower(new Error('bug')), io)
    expect(stderr.text()).toMatch(/\n\s+at /)
  })

  it('never prints a stack for expected errors, even with KTR_DEBUG=1', async () => {
    const { io, stderr } = makeIO({ KTR_DEBUG: '1' })
    await execute(thrower(new DomainError('x; do y')), io)
    expect(stderr.text()).toBe('error: x; do y\n')
  })

  it('passes error text through the redactor the runbook installed', async () => {
    const { io, stderr } = makeIO()
    const main: Main = (io) => {
      io.redactor = { redact: (t) => t.replaceAll('s3cr3t', '***') }
      throw new DomainError('token s3cr3t was rejected; regenerate it')
    }
    await execute(main, io)
    expect(stderr.text()).toBe('error: token *** was rejected; regenerate it\n')
  })

  it('masks JWT-shaped text before a runbook installs its redactor', async () => {
    const { io, stderr } = makeIO()
    const jwt = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW0ifQ.c2lnbmF0dXJl'
    await execute(thrower(new UsageError(`malformed token ${jwt}`)), io)
    expect(stderr.text()).toMatch(/^error: malformed token <redacted token [^>]+> \(see --help\)\n$/)
    expect(stderr.text()).not.toContain(jwt)
  })
})

describe('runMain: the entry-point guard', () => {
  const self = fileURLToPath(import.meta.url)
  afterEach(() => {
    process.exitCode = undefined
  })

  it('does nothing when the file is imported, not executed', async () => {
    const main = vi.fn()
    await expect(runMain(import.meta.url, main, { argv1: '/somewhere/else.ts' })).resolves.toBeUndefined()
    expect(main).not.toHaveBeenCalled()
    expect(process.exitCode).toBeUndefined()
  })

  it('runs main with the seams when the file is the script, and sets process.exitCode', async () => {
    const { io, stderr } = makeIO()
    const main = vi.fn<Main>(() => {
      throw new UsageError('unknown flag --bogus')
    })
    const code = await runMain(import.meta.url, main, { ...io, argv: ['--bogus'], argv1: self })
    expect(code).toBe(2)
    expect(process.exitCode).toBe(2)
    expect(main.mock.calls[0]?.[0].argv).toEqual(['--bogus'])
    expect(stderr.text()).toBe('error: unknown flag --bogus (see --help)\n')
  })

  it.each([
    [self, true],
    [self.replace(/\.ts$/, ''), true],
    [`${self}.bak`, false],
    [undefined, false],
  ])('isEntryPoint(argv1=%s) → %s', (argv1, expected) => {
    expect(isEntryPoint(import.meta.url, argv1)).toBe(expected)
  })
})
