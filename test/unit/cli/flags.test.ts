import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, expectTypeOf, it } from 'vitest'
import { UsageError } from '../../../lib/errors.ts'
import { defineCli, parseCli, type Env, type ParsedCli, type ParseResult } from '../../../lib/cli/flags.ts'
import { helpText } from '../../../lib/cli/help.ts'
import { craftToken, wrapBase64 } from '../helpers/tokens.ts'

const cli = defineCli({
  name: 'test-runbook',
  summary: 'For tests.',
  flags: [
    { name: 'secret', alias: 's', type: 'string[]', valueName: 'namespace/name', description: 'A Secret.' },
    { name: 'timeout', type: 'number', default: 300, description: 'Seconds to wait.' },
    { name: 'strategy', type: 'string', allowed: ['rollout', 'evict'], default: 'rollout', description: 'How.' },
    { name: 'recreate-bare', type: 'boolean', description: 'Re-create bare pods.' },
    { name: 'note', type: 'string', env: 'MY_NOTE', description: 'Free text.' },
  ],
})

let dir: string
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'ktr-flags-'))
})
afterAll(() => rmSync(dir, { recursive: true, force: true }))

/** Parses in an empty directory (no .env) unless told otherwise; fails the test on --help. */
function parse(argv: string[], env: Env = {}, cwd = dir): ParsedCli<NonNullable<typeof cli.flags>> {
  const result = parseCli(cli, { argv, env, cwd })
  if (result.help) throw new Error('unexpected help')
  return result
}

describe('flags', () => {
  it.each<[string[], Record<string, unknown>]>([
    [['-n', 'kube-system'], { namespace: 'kube-system' }],
    [['--namespace=kube-system'], { namespace: 'kube-system' }],
    [['-n=kube-system'], { namespace: 'kube-system' }],
    [['-nkube-system'], { namespace: 'kube-system' }],
    [['-A'], { allNamespaces: true, namespace: undefined }],
    [['--all-namespaces'], { allNamespaces: true }],
    [['-y'], { yes: true }],
    [['--yes'], { yes: true }],
    [['--yes=false'], { yes: false }],
    [['-yA'], { yes: true, allNamespaces: true }],
    [['--dry-run'], { dryRun: true }],
    [['-o', 'json'], { output: 'json' }],
    [['--output=json'], { output: 'json' }],
    [['-l', 'app=web,tier!=db'], { selector: 'app=web,tier!=db' }],
    [['--context', 'kind-a', '--kubeconfig', '/k/config'], { context: 'kind-a', kubeconfig: '/k/config' }],
    [['--show-token'], { showToken: true }],
    [['-n', 'a', '-n', 'b'], { namespace: 'b' }],
    [[], { namespace: undefined, allNamespaces: false, yes: false, dryRun: false, output: 'text', showToken: false }],
  ])('%j → %o', (argv, expected) => {
    expect(parse(argv).common).toMatchObject(expected)
  })

  it.each<[string[], Record<string, unknown>]>([
    [['--secret', 'kube-system/a', '-s', 'default/b'], { secret: ['kube-system/a', 'default/b'] }],
    [[], { secret: [], timeout: 300, strategy: 'rollout', recreateBare: false, note: undefined }],
    [['--timeout', '30', '--strategy=evict', '--recreate-bare'], { timeout: 30, strategy: 'evict', recreateBare: true }],
    [['--note', '-'], { note: '-' }],
    [['--note=-x'], { note: '-x' }],
  ])('own flags %j → %o', (argv, expected) => {
    expect(parse(argv).flags).toMatchObject(expected)
  })

  it.each<[string[], RegExp]>([
    [['--bogus'], /^unknown flag --bogus; see --help/],
    [['--namspace', 'x'], /^unknown flag --namspace \(did you mean --namespace\?\)/],
    [['-Z'], /^unknown flag -Z/],
    [['--n', 'x'], /^unknown flag --n/],
    [['-n'], /^flag -n needs a value: -n, --namespace <ns>$/],
    [['--namespace', '--yes'], /^flag --namespace needs a value.*got the flag --yes.*--namespace=--yes/],
    [['-o', 'yaml'], /^-o: "yaml" is not allowed; allowed values are text, json$/],
    [['--strategy', 'delete'], /allowed values are rollout, evict/],
    [['-n', 'x', '-A'], /^-n\/--namespace and -A\/--all-namespaces cannot be used together/],
    [['--timeout', 'soon'], /^--timeout: "soon" is not a number$/],
    [['--timeout', ''], /not a number/],
    [['--yes=maybe'], /not a boolean/],
    [['extra'], /^unexpected argument "extra": test-runbook takes flags only$/],
  ])('rejects %j', (argv, message) => {
    const attempt = () => parse(argv)
    expect(attempt).toThrow(UsageError)
    expect(attempt).toThrow(message)
  })

  it('answers --help before validating anything else', () => {
    expect(parseCli(cli, { argv: ['--bogus', '-o', 'yaml', '-h'], env: {}, cwd: dir })).toEqual({ help: true, version: false })
    expect(parseCli(cli, { argv: ['--help'], env: {}, cwd: dir })).toEqual({ help: true, version: false })
    expect(parseCli(cli, { argv: ['-n', 'x', '--version'], env: {}, cwd: dir })).toEqual({ help: true, version: true })
  })

  it('types own flags from the spec', () => {
    const parsed = parse([])
    expectTypeOf(parsed.flags.secret).toEqualTypeOf<string[]>()
    expectTypeOf(parsed.flags.timeout).toEqualTypeOf<number>()
    expectTypeOf(parsed.flags.strategy).toEqualTypeOf<'rollout' | 'evict'>()
    expectTypeOf(parsed.flags.recreateBare).toEqualTypeOf<boolean>()
    expectTypeOf(parsed.flags.note).toEqualTypeOf<string | undefined>()
    expectTypeOf<ParseResult>().toHaveProperty('help')
  })

  it('checks positionals against the spec', () => {
    const withArgs = defineCli({
      name: 'verify-token',
      summary: 'x',
      positionals: [{ name: 'token-file', description: 'File holding the token.', required: true }],
    })
    expect(parseCli(withArgs, { argv: ['/tmp/t'], env: {}, cwd: dir })).toMatchObject({ positionals: ['/tmp/t'] })
    expect(() => parseCli(withArgs, { argv: [], env: {}, cwd: dir })).toThrow(/^missing argument <token-file>/)
    expect(() => parseCli(withArgs, { argv: ['a', 'b'], env: {}, cwd: dir })).toThrow(/unexpected argument "b"/)
  })

  it('rejects a spec that redeclares a common flag or alias (a bug, not a usage error)', () => {
    expect(() => defineCli({ name: 'x', summary: 'x', flags: [{ name: 'namespace', type: 'string', description: 'x' }] })).toThrow(
      /declared twice/,
    )
    expect(() => defineCli({ name: 'x', summary: 'x', flags: [{ name: 'nodes', alias: 'n', type: 'string', description: 'x' }] })).toThrow(
      /alias -n is declared twice/,
    )
  })
})

describe('values that look like tokens are never echoed', () => {
  const jwt = craftToken({ alg: 'RS256', kid: 'k' }, { sub: 'system:serviceaccount:default:x' }, 'c2lnbmF0dXJlc2lnbmF0dXJl')
  const forms = [
    ['a raw JWT', jwt],
    ['a base64-wrapped JWT (kubectl jsonpath={.data.token})', Buffer.from(jwt).toString('base64')],
    ['a 76-column wrapped JWT', wrapBase64(jwt)],
    ['a long base64 value', Buffer.from(Array.from({ length: 60 }, (_, i) => (i * 37 + 11) % 256)).toString('base64')],
  ] as const

  it.each(forms)('an unexpected argument: %s is described, with the fix', (_name, value) => {
    const attempt = () => parse([value])
    expect(attempt).toThrow(UsageError)
    expect(attempt).toThrow(/^unexpected argument a value that looks like a token \(not shown\): test-runbook takes flags only; pass tokens with --token-file -/)
    expect(() => parse([value])).not.toThrow(value.slice(0, 12))
  })

  it.each(forms)('a flag value out of its allowed list: %s is described', (_name, value) => {
    const message = (() => {
      try {
        parse(['--strategy', value])
      } catch (err) {
        return (err as Error).message
      }
      return ''
    })()
    expect(message).toMatch(/^--strategy: a value that looks like a token \(not shown\) is not allowed/)
    expect(message).not.toContain(value.slice(0, 12))
    expect(message.split('\n')).toHaveLength(1)
  })

  it.each([['kube-system'], ['/home/me/.kube/config'], ['app=web,tier!=db'], ['my-very-long-secret-name-that-is-still-a-kubernetes-name-0123456789']])(
    'quotes an ordinary value: %s',
    (value) => {
      expect(() => parse([value])).toThrow(`unexpected argument "${value}"`)
    },
  )
})

describe('--show-token comes from the command line only', () => {
  it.each<[string, Env, string]>([
    ['the environment', { KTR_SHOW_TOKEN: 'true' }, ''],
    ['an env file', {}, 'KTR_SHOW_TOKEN=1\n'],
    ['an env file named by KTR_ENV_FILE', { KTR_ENV_FILE: 'show.env' }, 'KTR_SHOW_TOKEN=yes\n'],
  ])('is ignored in %s', (_name, env, fileText) => {
    const project = mkdtempSync(join(tmpdir(), 'ktr-show-'))
    try {
      writeFileSync(join(project, env.KTR_ENV_FILE ?? '.env'), fileText)
      const parsed = parse([], env, project)
      expect(parsed.common.showToken).toBe(false)
      expect(parsed.sources.showToken).toBe('default')
      expect(parse(['--show-token'], env, project).common.showToken).toBe(true)
    } finally {
      rmSync(project, { recursive: true, force: true })
    }
  })

  it('says so in --help', () => {
    expect(helpText(cli)).toMatch(/--show-token\s+Print tokens in full[^[]*\[env: none: command line only, never the environment or an env file\]/)
  })
})

describe('configuration precedence: flags > environment > .env file > defaults', () => {
  let project: string
  beforeAll(() => {
    project = mkdtempSync(join(tmpdir(), 'ktr-env-'))
    writeFileSync(
      join(project, '.env'),
      ['KTR_NAMESPACE=from-file', 'KTR_OUTPUT=json', 'KTR_SECRET=a/x, b/y', 'KUBECONFIG=/from/file', 'MY_NOTE=file note'].join('\n'),
    )
    writeFileSync(join(project, 'other.env'), 'KTR_NAMESPACE=from-other-file\n')
  })
  afterAll(() => rmSync(project, { recursive: true, force: true }))

  it.each<[string, string[], Env, string | undefined, string]>([
    ['default', [], {}, undefined, 'default'],
    ['.env file', [], {}, 'from-file', 'env-file'],
    ['environment over .env', [], { KTR_NAMESPACE: 'from-env' }, 'from-env', 'env'],
    ['flag over both', ['-n', 'from-flag'], { KTR_NAMESPACE: 'from-env' }, 'from-flag', 'flag'],
    ['--env-file picks another file', ['--env-file', 'other.env'], {}, 'from-other-file', 'env-file'],
    ['KTR_ENV_FILE picks another file', [], { KTR_ENV_FILE: 'other.env' }, 'from-other-file', 'env-file'],
  ])('%s', (_name, argv, env, namespace, source) => {
    const cwd = _name === 'default' ? dir : project
    const parsed = parse(argv, env, cwd)
    expect(parsed.common.namespace).toBe(namespace)
    expect(parsed.sources.namespace).toBe(source)
  })

  it('reads every kind of flag from the environment and the file', () => {
    const parsed = parse([], { KTR_YES: 'true', KTR_TIMEOUT: '12', MY_NOTE: 'env note' }, project)
    expect(parsed.common).toMatchObject({ yes: true, output: 'json' })
    expect(parsed.flags).toMatchObject({ timeout: 12, secret: ['a/x', 'b/y'], note: 'env note' })
  })

  it('gives kubeconfig loading the merged environment, without touching process.env', () => {
    const before = { ...process.env }
    const parsed = parse([], { KUBECONFIG: '/from/env' }, project)
    expect(parsed.env.KUBECONFIG).toBe('/from/env')
    expect(parse([], {}, project).env.KUBECONFIG).toBe('/from/file')
    expect(parsed.envFileLoaded).toBe(join(project, '.env'))
    expect(process.env).toEqual(before)
  })

  it('names the variable and where it came from when its value is not allowed', () => {
    expect(() => parse([], { KTR_OUTPUT: 'yaml' }, dir)).toThrow(
      'KTR_OUTPUT (environment): "yaml" is not allowed; allowed values are text, json',
    )
    expect(() => parse([], { KTR_YES: 'sure' }, dir)).toThrow(/^KTR_YES \(environment\): "sure" is not a boolean/)
  })

  it('lets -A on the command line override a namespace from the environment', () => {
    const parsed = parse(['-A'], { KTR_NAMESPACE: 'from-env' }, dir)
    expect(parsed.common).toMatchObject({ allNamespaces: true, namespace: undefined })
    expect(() => parse([], { KTR_NAMESPACE: 'a', KTR_ALL_NAMESPACES: '1' }, dir)).toThrow(/cannot be used together/)
  })

  it('a missing default .env is fine; a missing --env-file is a usage error naming the path', () => {
    expect(parse([], {}, dir).envFileLoaded).toBeUndefined()
    expect(() => parse(['--env-file', 'nope.env'], {}, dir)).toThrow(UsageError)
    expect(() => parse(['--env-file', 'nope.env'], {}, dir)).toThrow(`env file ${join(dir, 'nope.env')} (from --env-file) does not exist`)
  })
})

describe('--request-timeout', () => {
  it.each<[string[], Env, number]>([
    [[], {}, 30_000],
    [['--request-timeout', '30s'], {}, 30_000],
    [['--request-timeout=1m'], {}, 60_000],
    [['--request-timeout', '1m30s'], {}, 90_000],
    [['--request-timeout', '500ms'], {}, 500],
    [['--request-timeout', '1h'], {}, 3_600_000],
    [['--request-timeout', '0'], {}, 0],
    [['--request-timeout', '5'], {}, 5_000],
    [[], { KTR_REQUEST_TIMEOUT: '2m' }, 120_000],
  ])('%j %o → %d ms', (argv, env, ms) => {
    expect(parse(argv, env).common.requestTimeoutMs).toBe(ms)
  })

  it.each<[string[], Env, RegExp]>([
    [['--request-timeout', 'soon'], {}, /^--request-timeout: "soon" is not a duration; use .*30s, 1m or 1m30s \(0: no timeout\)$/],
    [['--request-timeout', '30x'], {}, /is not a duration/],
    [['--request-timeout', '1m 30s'], {}, /is not a duration/],
    [[], { KTR_REQUEST_TIMEOUT: '-1s' }, /^KTR_REQUEST_TIMEOUT \(environment\): "-1s" is not a duration/],
  ])('%j %o is a usage error', (argv, env, message) => {
    expect(() => parse(argv, env)).toThrow(UsageError)
    expect(() => parse(argv, env)).toThrow(message)
  })
})
