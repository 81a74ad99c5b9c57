import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PassThrough } from 'node:stream'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { defineCli } from '../../../lib/cli/flags.ts'
import { execute, defaultRedactor, type MainIO } from '../../../lib/cli/main.ts'
import { insecureTlsWarning } from '../../../lib/cli/kube.ts'
import { runbookMain } from '../../../lib/cli/runbook-main.ts'
import { scriptedConfirm } from '../../../lib/engine/prompt.ts'
import type { Runbook } from '../../../lib/engine/types.ts'
import { memorySink } from '../../../lib/output.ts'

// A two-step runbook over an in-memory "cluster": a Secret whose token is stale.
interface Ctx {
  cluster: { token: string }
  applied: string[]
  note: string | undefined
}
const runbook: Runbook<Ctx> = {
  name: 'fix-token',
  summary: 'Fixes a stale token.',
  steps: [
    {
      id: 'read-token',
      title: 'Read the token',
      description: 'Reads the token so later steps can compare.',
      readOnly: true,
      kubectl: () => ['kubectl get secret x -o jsonpath={.data.token}'],
      check: async (ctx) => ({ needed: false, summary: `token is ${ctx.cluster.token}` }),
    },
    {
      id: 'regenerate',
      title: 'Regenerate the token',
      description: 'Blanks the token so the controller re-signs it.',
      kubectl: () => ['kubectl patch secret x'],
      check: async (ctx) => ({ needed: ctx.cluster.token.startsWith('stale'), summary: 'token is stale' }),
      apply: async (ctx) => {
        ctx.applied.push('regenerate')
        ctx.cluster.token = 'fresh'
        return { summary: 'token regenerated' }
      },
    },
  ],
}
const cli = defineCli({
  name: 'fix-token',
  summary: runbook.summary,
  flags: [{ name: 'note', type: 'string', description: 'A note for the report.' }],
})

let cwd: string
beforeAll(() => {
  cwd = mkdtempSync(join(tmpdir(), 'ktr-main-'))
})
afterAll(() => rmSync(cwd, { recursive: true, force: true }))

function setup(argv: string[], { tty = false, token = 'stale-eyJsecret' } = {}) {
  const stdout = memorySink()
  const stderr = memorySink(tty)
  const stdin = Object.assign(new PassThrough(), { isTTY: tty })
  const io: MainIO = { argv, env: {}, cwd, stdin, stdout, stderr, now: () => new Date(0), redactor: defaultRedactor() }
  const ctx: Ctx = { cluster: { token }, applied: [], note: undefined }
  const confirm = scriptedConfirm(['yes'])
  let contextBuilt = false
  const main = (io: MainIO) =>
    runbookMain(io, {
      cli,
      runbook,
      confirm,
      redactor: (parsed) => ({ redact: (t: string) => (parsed.common.showToken ? t : t.replaceAll('eyJsecret', '<redacted>')) }),
      context: ({ cli }) => {
        contextBuilt = true
        ctx.note = cli.flags.note
        return ctx
      },
      extendReport: (_report, c) => ({ note: c.note, runbook: 'must not override' }),
    })
  return { io, stdout, stderr, ctx, confirm, run: () => execute(main, io), contextBuilt: () => contextBuilt }
}

describe('runbookMain', () => {
  it('--help prints the help on stdout, builds nothing, exits 0', async () => {
    const h = setup(['--help'])
    await expect(h.run()).resolves.toBe(0)
    expect(h.stdout.text()).toMatch(/^Usage: fix-token \[flags\]/)
    expect(h.stdout.text()).toContain('2. regenerate')
    expect(h.contextBuilt()).toBe(false)
  })

  it('--dry-run -o json: one JSON document on stdout with the plan, extras added, tokens redacted, nothing applied', async () => {
    const h = setup(['--dry-run', '-o', 'json', '--note', 'ticket-42'])
    await expect(h.run()).resolves.toBe(0)
    const doc = JSON.parse(h.stdout.text())
    expect(doc).toMatchObject({ runbook: 'fix-token', mode: 'plan', ok: true, exitCode: 0, note: 'ticket-42' })
    expect(doc.steps.map((s: { outcome: string }) => s.outcome)).toEqual(['done', 'planned'])
    expect(h.stdout.text()).not.toContain('eyJsecret')
    expect(h.stdout.text()).toContain('<redacted>')
    expect(h.ctx.applied).toEqual([])
    expect(h.stderr.text()).toContain('[2/2] Regenerate the token')
    expect(h.stderr.text()).toContain('Plan: 1 to apply, 1 checked (dry run: nothing was changed)')
  })

  it('--show-token lets tokens through the runbook’s redactor', async () => {
    const h = setup(['--dry-run', '--show-token'])
    await h.run()
    expect(h.stdout.text()).toContain('token is stale-eyJsecret')
  })

  it('without a terminal and without --yes refuses (exit 2) and changes nothing', async () => {
    const h = setup([])
    await expect(h.run()).resolves.toBe(2)
    expect(h.stderr.text()).toBe(
      'error: no terminal to confirm changes (step regenerate would change the cluster): rerun with --yes to apply without asking, or --dry-run to see the plan (see --help)\n',
    )
    expect(h.stdout.text()).toBe('')
    expect(h.ctx.applied).toEqual([])
  })

  it('without a terminal and nothing to change, succeeds without --yes', async () => {
    const h = setup([], { token: 'fresh' })
    await expect(h.run()).resolves.toBe(0)
    expect(h.stdout.text().trim().split('\n').at(-1)).toBe('Nothing to do: everything is already in order.')
  })

  it('--yes applies; a second run finds nothing to do', async () => {
    const h = setup(['--yes'])
    await expect(h.run()).resolves.toBe(0)
    expect(h.ctx.applied).toEqual(['regenerate'])
    expect(h.stdout.text()).toContain('1 applied, 1 done')
    const again = setup(['-y'], { token: h.ctx.cluster.token })
    await again.run()
    expect(again.stdout.text()).toContain('Nothing to do')
  })

  it('--insecure-skip-tls-verify: the loud warning, once, before the context (the kubeconfig) is built', async () => {
    const h = setup(['--dry-run', '--insecure-skip-tls-verify'])
    await expect(h.run()).resolves.toBe(0)
    const warnings = h.stderr.text().split('\n').filter((line) => line.includes('--insecure-skip-tls-verify'))
    expect(warnings).toEqual([`warning: ${insecureTlsWarning()}`])
    expect(h.stderr.text().indexOf('warning: TLS verification')).toBe(0)
  })

  it('without --insecure-skip-tls-verify, no TLS warning', async () => {
    const h = setup(['--dry-run'])
    await h.run()
    expect(h.stderr.text()).not.toContain('TLS verification')
  })

  it('on a terminal asks through the injected prompt', async () => {
    const h = setup([], { tty: true })
    await expect(h.run()).resolves.toBe(0)
    expect(h.confirm.asked.map((q) => q.step.id)).toEqual(['regenerate'])
    expect(h.ctx.applied).toEqual(['regenerate'])
  })

  it('by default redacts with lib/redact.ts, and --show-token turns that off', async () => {
    // Built here rather than written out, so no token-shaped literal sits in the repository.
    const segment = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url')
    const jwt = [segment({ alg: 'RS256' }), segment({ sub: 'system:sa' }), Buffer.from('signature-bytes').toString('base64url')].join('.')
    const stdout = memorySink()
    const leaky: Runbook<null> = {
      name: 'leaky',
      summary: 'Prints a token.',
      steps: [
        {
          id: 'show',
          title: 'Show',
          description: 'Shows the token.',
          readOnly: true,
          kubectl: () => [],
          check: async () => ({ needed: false, summary: `token ${jwt}` }),
        },
      ],
    }
    const run = (argv: string[]) =>
      execute(
        (io) => runbookMain(io, { cli: defineCli({ name: 'leaky', summary: 'x' }), runbook: leaky, context: () => null }),
        { argv, env: {}, cwd, stdin: new PassThrough(), stdout, stderr: memorySink(), now: () => new Date(0), redactor: defaultRedactor() },
      )
    await expect(run([])).resolves.toBe(0)
    expect(stdout.text()).not.toContain(jwt)
    expect(stdout.text()).toContain('<redacted token')
    await run(['--show-token'])
    expect(stdout.text()).toContain(jwt)
  })

  it('a bad flag is a usage error before anything runs', async () => {
    const h = setup(['-o', 'yaml'])
    await expect(h.run()).resolves.toBe(2)
    expect(h.stderr.text()).toBe('error: -o: "yaml" is not allowed; allowed values are text, json (see --help)\n')
    expect(h.contextBuilt()).toBe(false)
  })
})
