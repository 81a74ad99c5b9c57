import { describe, expect, it } from 'vitest'
import { KubeconfigError, kubeconfigToken, parseKubeconfig, withToken } from '../../../lib/calico/kubeconfig.ts'
import { InvalidTokenError } from '../../../lib/token/decode.ts'
import { fill, readFixture } from '../../fixtures/calico/fixtures.ts'
import { boundClaims, makeSigningKey, signToken, wrapBase64 } from '../helpers/tokens.ts'

const key = makeSigningKey('rsa')
const cniPlugin = { name: 'calico-cni-plugin', uid: 'sa-uid-2' }
const staleToken = await signToken(boundClaims({ serviceAccount: cniPlugin, pod: null, node: null }), key)
const freshToken = await signToken(boundClaims({ serviceAccount: cniPlugin, pod: null, node: null, issuedAt: new Date('2026-02-01T00:00:00Z') }), key)

const fixtures = [
  { name: 'v3.0 install-cni.sh (token quoted, server in brackets)', path: 'node/v3.0-kdd/calico-kubeconfig', server: 'https://[10.96.0.1]:443' },
  { name: 'v3.27.2 Go installer (token plain, no final newline)', path: 'node/v3.27.2/calico-kubeconfig', server: 'https://[10.96.0.1]:443' },
  { name: 'v3.27.2 calico-node token refresher (CA quoted)', path: 'node/v3.27.2-refreshed/calico-kubeconfig', server: 'https://10.96.0.1:443' },
]

describe('parseKubeconfig', () => {
  it.each(fixtures)('reads the token Calico wrote: $name', ({ path, server }) => {
    const parsed = parseKubeconfig(fill(readFixture(path), staleToken))
    expect(parsed).toEqual({
      server,
      currentContext: 'calico-context',
      users: [{ name: 'calico', token: { kind: 'literal', token: staleToken, encoding: 'jwt' } }],
      token: { kind: 'literal', token: staleToken, encoding: 'jwt' },
    })
    expect(kubeconfigToken(fill(readFixture(path), staleToken))).toBe(staleToken)
  })

  it('reports a token that is not one, and then has no token in use', () => {
    const text = readFixture('node/v3.27.2/calico-kubeconfig')
    expect(parseKubeconfig(text).token).toEqual({ kind: 'unrecognized' })
    expect(kubeconfigToken(text)).toBeUndefined()
    expect(parseKubeconfig(fill(text, '""')).token).toEqual({ kind: 'empty' })
  })

  it('takes the token of the user the current context names', () => {
    const text = [
      'apiVersion: v1',
      'kind: Config',
      'clusters:',
      '- name: local',
      '  cluster: {server: "https://10.96.0.1:443"}',
      'users:',
      '- name: other',
      `  user: {token: ${staleToken}}`,
      '- name: calico',
      `  user: {token: ${freshToken}}`,
      'contexts:',
      '- name: calico-context',
      '  context: {cluster: local, user: calico}',
      'current-context: calico-context',
    ].join('\n')
    expect(kubeconfigToken(text)).toBe(freshToken)
    expect(parseKubeconfig(text).server).toBe('https://10.96.0.1:443')
  })

  it('has no token in use when the current context names no user and there are several', () => {
    const text = `kind: Config\nusers:\n- name: a\n  user: {token: ${staleToken}}\n- name: b\n  user: {token: ${freshToken}}\n`
    expect(parseKubeconfig(text).token).toBeUndefined()
  })
})

describe('withToken', () => {
  it.each(fixtures)('swaps only the token, keeping every other byte: $name', ({ path }) => {
    const before = fill(readFixture(path), staleToken)
    expect(withToken(before, freshToken)).toBe(fill(readFixture(path), freshToken))
  })

  it('writes a base64-wrapped or Bearer token in compact form', () => {
    const before = fill(readFixture('node/v3.27.2/calico-kubeconfig'), staleToken)
    const expected = fill(readFixture('node/v3.27.2/calico-kubeconfig'), freshToken)
    expect(withToken(before, wrapBase64(freshToken))).toBe(expected)
    expect(withToken(before, `Bearer ${freshToken}`)).toBe(expected)
  })

  it.each([
    { name: 'single quotes', line: `    token: '${'__TOKEN__'}'`, expected: (t: string) => `    token: '${t}'` },
    { name: 'a trailing comment and spaces', line: '    token: __TOKEN__  # from install-cni  ', expected: (t: string) => `    token: ${t}  # from install-cni  ` },
    { name: 'CRLF line endings', line: '    token: "__TOKEN__"\r', expected: (t: string) => `    token: "${t}"\r` },
  ])('keeps the line as written: $name', ({ line, expected }) => {
    const text = ['apiVersion: v1\r', 'kind: Config\r', 'users:\r', '- name: calico\r', '  user:\r', line, 'current-context: calico-context\r', ''].join('\n')
    const result = withToken(fill(text, staleToken), freshToken)
    expect(result.split('\n')[5]).toBe(expected(freshToken))
    expect(result.replace(freshToken, '__TOKEN__')).toBe(text)
  })

  it('replaces an empty quoted token', () => {
    const text = fill(readFixture('node/v3.0-kdd/calico-kubeconfig'), '')
    expect(withToken(text, freshToken)).toBe(fill(readFixture('node/v3.0-kdd/calico-kubeconfig'), freshToken))
  })

  it.each([
    { name: 'no token at all', text: 'apiVersion: v1\nkind: Config\nusers:\n- name: calico\n  user:\n    client-certificate-data: QUJD\n', message: /has no users\[\]\.user\.token/ },
    { name: 'two users with tokens', text: `kind: Config\nusers:\n- name: a\n  user:\n    token: ${'A.B.C'}\n- name: b\n  user:\n    token: ${'D.E.F'}\n`, message: /2 users with a token/ },
    { name: 'another token: key elsewhere', text: 'kind: Config\nusers:\n- name: calico\n  user:\n    token: x.y.z\n    auth-provider:\n      config:\n        token: abc\n', message: /1 users with a token on 2 token: lines/ },
    { name: 'a block scalar', text: 'kind: Config\nusers:\n- name: calico\n  user:\n    token: >-\n      x.y.z\n', message: /cannot rewrite line by line/ },
    { name: 'a flow mapping', text: 'kind: Config\nusers:\n- name: calico\n  user: {token: x.y.z}\n', message: /0 token: lines/ },
  ])('refuses a file Calico did not write: $name', ({ text, message }) => {
    expect(() => withToken(text, freshToken)).toThrow(KubeconfigError)
    expect(() => withToken(text, freshToken)).toThrow(message)
    expect(() => withToken(text, freshToken)).toThrow(/restart the calico-node pod on this node/)
  })

  it('refuses when the one token: line it found is not the user\'s', () => {
    // The user's token sits in a flow mapping; the block-style token: line belongs to something else.
    const text = `kind: Config\nusers:\n- name: calico\n  user: {token: ${freshToken}}\npreferences:\n  token: unrelated\n`
    expect(() => withToken(text, freshToken)).toThrow(/cannot rewrite line by line/)
  })

  it('refuses a replacement that is not a token', () => {
    expect(() => withToken(fill(readFixture('node/v3.27.2/calico-kubeconfig'), staleToken), 'nope')).toThrow(InvalidTokenError)
  })
})

describe('errors', () => {
  it.each([
    { name: 'empty', text: '  \n', message: /^worker-1:calico-kubeconfig is empty;/ },
    { name: 'not YAML', text: `kind: Config\nusers: [\n  {token: ${'TOKEN'}\n`, message: /^worker-1:calico-kubeconfig is not valid YAML: .* at line \d+;/ },
    { name: 'not a kubeconfig', text: 'apiVersion: v1\nkind: Pod\nmetadata: {name: x}\n', message: /is not a kubeconfig/ },
    { name: 'a list', text: '- a\n- b\n', message: /is not a kubeconfig/ },
    { name: 'huge', text: `kind: Config\n#${'x'.repeat(300 * 1024)}\n`, message: /far more than the few KiB Calico writes/ },
  ])('names the file and says how to recover: $name', ({ text, message }) => {
    expect(() => parseKubeconfig(text.replace('TOKEN', staleToken), 'worker-1:calico-kubeconfig')).toThrow(message)
  })

  it('never quotes the file in a YAML error', () => {
    const text = `kind: Config\nusers:\n- name: calico\n  user:\n    token: "${staleToken}\n`
    let message = ''
    try {
      parseKubeconfig(text)
    } catch (err) {
      message = err instanceof Error ? err.message : ''
    }
    expect(message).toMatch(/not valid YAML/)
    expect(message).not.toContain(staleToken.split('.')[1])
  })
})
