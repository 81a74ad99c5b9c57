import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { delimiter, join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { UsageError } from '../../../lib/errors.ts'
import { kubeconfigError, loadKubeConfig, loadKubeConfigWithSource, namespaceScope } from '../../../lib/cli/kube.ts'

/** A kubeconfig with one cluster/user/context per name; the first is current unless told. */
function makeKubeconfig(names: string[], opts: { current?: string; server?: string; namespace?: string } = {}): string {
  const current = opts.current ?? names[0] ?? ''
  return [
    'apiVersion: v1',
    'kind: Config',
    `current-context: "${current}"`,
    'clusters:',
    ...names.flatMap((n) => [`- name: ${n}`, '  cluster:', `    server: ${opts.server ?? `https://${n}.example:6443`}`]),
    'users:',
    ...names.flatMap((n) => [`- name: ${n}`, '  user:', `    token: not-a-real-token-${n}`]),
    'contexts:',
    ...names.flatMap((n) => [
      `- name: ${n}`,
      '  context:',
      `    cluster: ${n}`,
      `    user: ${n}`,
      ...(opts.namespace ? [`    namespace: ${opts.namespace}`] : []),
    ]),
  ].join('\n')
}

let dir: string
let emptyHome: string
const write = (name: string, text: string) => {
  const path = join(dir, name)
  writeFileSync(path, text)
  return path
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'ktr-kube-'))
  emptyHome = join(dir, 'empty-home')
  mkdirSync(emptyHome)
})
afterAll(() => rmSync(dir, { recursive: true, force: true }))

describe('loadKubeConfig', () => {
  it('loads the --kubeconfig file and its current context', async () => {
    const path = write('one.yaml', makeKubeconfig(['kind-a', 'kind-b']))
    const kc = await loadKubeConfig({ kubeconfig: path }, { KUBECONFIG: '/ignored' }, { homeDir: emptyHome })
    expect(kc.getCurrentContext()).toBe('kind-a')
    expect(kc.getCurrentCluster()?.server).toBe('https://kind-a.example:6443')
    expect(kc.getCurrentCluster()?.skipTLSVerify).toBe(false)
  })

  it('switches to --context', async () => {
    const path = write('two.yaml', makeKubeconfig(['kind-a', 'kind-b']))
    expect((await loadKubeConfig({ kubeconfig: path, context: 'kind-b' }, {}, { homeDir: emptyHome })).getCurrentContext()).toBe('kind-b')
  })

  it('rejects an unknown --context, listing the available ones', async () => {
    const path = write('three.yaml', makeKubeconfig(['kind-a', 'kind-b']))
    const attempt = () => loadKubeConfig({ kubeconfig: path, context: 'prod' }, {}, { homeDir: emptyHome })
    await expect(attempt()).rejects.toThrow(UsageError)
    await expect(attempt()).rejects.toThrow('context "prod" not found in the kubeconfig; available contexts: kind-a, kind-b')
  })

  it('rejects a missing --kubeconfig file, naming the path', async () => {
    const attempt = () => loadKubeConfig({ kubeconfig: 'nope.yaml' }, {}, { cwd: dir, homeDir: emptyHome })
    await expect(attempt()).rejects.toThrow(UsageError)
    await expect(attempt()).rejects.toThrow(`kubeconfig ${join(dir, 'nope.yaml')} (from --kubeconfig) does not exist: fix the path`)
  })

  it('rejects a file that is not a kubeconfig', async () => {
    const path = write('garbage.yaml', 'clusters: [ {')
    await expect(loadKubeConfig({ kubeconfig: path }, {}, { homeDir: emptyHome })).rejects.toThrow(`kubeconfig ${path} is not valid YAML at line 1: fix or replace the file`)
  })

  it('names the line of a YAML error but quotes none of the file (it holds credentials)', async () => {
    const secrets = ['s3cr3t-static-token-012', 'hunter2-super-secret']
    const text = [
      'apiVersion: v1',
      'kind: Config',
      'users:',
      '- name: u',
      '  user:',
      `    token: ${secrets[0]}`,
      `    password: ${secrets[1]}`,
      '   bad: indentation',
    ].join('\n')
    const path = write('leaky.yaml', text)
    let message = ''
    try {
      await loadKubeConfig({ kubeconfig: path }, {}, { homeDir: emptyHome })
    } catch (err) {
      expect(err).toBeInstanceOf(UsageError)
      expect((err as Error).cause).toBeUndefined()
      message = (err as Error).message
    }
    expect(message).toMatch(/^kubeconfig .*leaky\.yaml is not valid YAML at line \d+: fix or replace the file$/)
    for (const secret of secrets) expect(message).not.toContain(secret.slice(0, 6))
  })

  it.each([
    ['a field check of client-node', new Error('users[0].name is missing'), 'is not a valid kubeconfig (users[0].name is missing)'],
    ['any other error, whose message may hold content', new Error('unexpected value s3cr3t'), 'is not a valid kubeconfig: fix'],
    ['a file-system error', Object.assign(new Error('EACCES: permission denied, open /x/s3cr3t'), { code: 'EACCES' }), 'cannot be read (EACCES)'],
  ])('describes %s without echoing unknown text', (_name, err, expected) => {
    const message = kubeconfigError('/k/config', err).message
    expect(message).toContain(expected)
    expect(message).not.toContain('s3cr3t')
  })

  it('merges a KUBECONFIG list as kubectl does: missing files skipped, first definition and current-context win', async () => {
    const first = write('first.yaml', makeKubeconfig(['shared', 'only-first'], { current: 'only-first', server: 'https://first:6443' }))
    const second = write('second.yaml', makeKubeconfig(['shared', 'only-second'], { current: 'only-second', server: 'https://second:6443' }))
    const env = { KUBECONFIG: [join(dir, 'missing.yaml'), first, second].join(delimiter) }
    const { kc, source } = await loadKubeConfigWithSource({}, env, { homeDir: emptyHome })
    expect(kc.getCurrentContext()).toBe('only-first')
    expect(kc.getContexts().map((c) => c.name).sort()).toEqual(['only-first', 'only-second', 'shared'])
    expect(kc.getCluster('shared')?.server).toBe('https://first:6443')
    expect(source).toEqual({ kind: 'file', paths: [first, second] })
  })

  it('rejects a KUBECONFIG whose files are all missing', async () => {
    await expect(loadKubeConfig({}, { KUBECONFIG: '/no/a:/no/b' }, { homeDir: emptyHome })).rejects.toThrow(/no file named in KUBECONFIG exists/)
  })

  it('falls back to ~/.kube/config', async () => {
    const home = join(dir, 'home')
    mkdirSync(join(home, '.kube'), { recursive: true })
    writeFileSync(join(home, '.kube', 'config'), makeKubeconfig(['home-ctx']))
    expect((await loadKubeConfig({}, { KUBERNETES_SERVICE_HOST: '10.0.0.1' }, { homeDir: home })).getCurrentContext()).toBe('home-ctx')
  })

  it('uses the pod’s service account in a cluster, with TLS verified against its CA', async () => {
    const sa = join(dir, 'sa')
    mkdirSync(sa)
    writeFileSync(join(sa, 'token'), 'x')
    writeFileSync(join(sa, 'namespace'), 'ops\n')
    const { kc, source } = await loadKubeConfigWithSource(
      {},
      { KUBERNETES_SERVICE_HOST: 'fd00::1', KUBERNETES_SERVICE_PORT: '443' },
      { homeDir: emptyHome, serviceAccountDir: sa },
    )
    expect(source).toEqual({ kind: 'in-cluster' })
    expect(kc.getCurrentCluster()).toMatchObject({ server: 'https://[fd00::1]:443', caFile: join(sa, 'ca.crt'), skipTLSVerify: false })
    expect(namespaceScope({}, kc)).toEqual({ all: false, namespace: 'ops' })
  })

  it('says what to do when there is no configuration at all', async () => {
    await expect(loadKubeConfig({}, {}, { homeDir: emptyHome, serviceAccountDir: join(dir, 'none') })).rejects.toThrow(
      /^no kubeconfig found: .*pass --kubeconfig <path> or set KUBECONFIG$/,
    )
  })

  it('rejects a kubeconfig without a usable current-context', async () => {
    const path = write('nocurrent.yaml', makeKubeconfig(['a', 'b'], { current: '' }))
    await expect(loadKubeConfig({ kubeconfig: path }, {}, { homeDir: emptyHome })).rejects.toThrow(
      'the kubeconfig sets no current-context: pass --context <name> (available contexts: a, b)',
    )
  })
})

describe('TLS verification', () => {
  const insecure = () =>
    write(
      'insecure.yaml',
      'apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: "https://c.example:6443", insecure-skip-tls-verify: true}}]\nusers: [{name: u, user: {token: t}}]\ncontexts: [{name: c, context: {cluster: c, user: u}}]\ncurrent-context: c\n',
    )

  it('refuses a kubeconfig that turns verification off, naming the fix', async () => {
    await expect(loadKubeConfig({ kubeconfig: insecure() }, {}, { homeDir: emptyHome })).rejects.toThrow(
      /sets insecure-skip-tls-verify for cluster c: add its certificate-authority instead, or pass --insecure-skip-tls-verify/,
    )
  })

  it('accepts it only with --insecure-skip-tls-verify on the command line', async () => {
    const kc = await loadKubeConfig({ kubeconfig: insecure(), insecureSkipTlsVerify: true }, {}, { homeDir: emptyHome })
    expect(kc.getCurrentCluster()?.skipTLSVerify).toBe(true)
  })

  it('refuses NODE_TLS_REJECT_UNAUTHORIZED=0 outright', async () => {
    const path = write('secure.yaml', makeKubeconfig(['a']))
    await expect(loadKubeConfig({ kubeconfig: path }, { NODE_TLS_REJECT_UNAUTHORIZED: '0' }, { homeDir: emptyHome })).rejects.toThrow(UsageError)
  })
})

describe('namespaceScope', () => {
  const kc = () => loadKubeConfig({ kubeconfig: write('ns.yaml', makeKubeconfig(['c'], { namespace: 'team' })) }, {}, { homeDir: emptyHome })
  it.each([
    [{ allNamespaces: true }, { all: true }],
    [{ namespace: 'kube-system' }, { all: false, namespace: 'kube-system' }],
    [{}, { all: false, namespace: 'team' }],
  ])('%o → %o', async (opts, scope) => {
    expect(namespaceScope(opts, await kc())).toEqual(scope)
  })
})
