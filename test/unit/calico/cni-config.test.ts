import { describe, expect, it } from 'vitest'
import { CniConfigError, findTokenFields, parseCniConfig, replaceLiteralTokens } from '../../../lib/calico/cni-config.ts'
import { InvalidTokenError } from '../../../lib/token/decode.ts'
import { configMapText, fill, readFixture } from '../../fixtures/calico/fixtures.ts'
import { legacyClaims, makeSigningKey, signToken, wrapBase64 } from '../helpers/tokens.ts'

const key = makeSigningKey('ec')
const token = await signToken(legacyClaims({ serviceAccount: 'calico-node' }), key)
const otherToken = await signToken(legacyClaims({ serviceAccount: 'calico-node', secretName: 'calico-node-token-new42' }), key)

const v30Kdd = configMapText('manifest-v3.0-kdd.yaml', 'cni_network_config')
const v30Etcd = configMapText('manifest-v3.0-etcd.yaml', 'cni_network_config')
const v3272 = configMapText('manifest-v3.27.2.yaml', 'cni_network_config')
const operator = configMapText('operator-v3.28.0.yaml', 'config')
const trap = configMapText('configmap-literal-token.yaml', 'cni_network_config')

/** 1-based line of the first line containing `needle`: computed from the text, not from the parser. */
function lineOf(text: string, needle: string): number {
  return text.split('\n').findIndex((line) => line.includes(needle)) + 1
}

/** A one-plugin config whose k8s_auth_token is `value`, written as a JSON string literal. */
function confWithToken(literal: string): string {
  return `{\n  "name": "k8s-pod-network",\n  "type": "calico",\n  "policy": {\n    "type": "k8s",\n    "k8s_auth_token": ${literal}\n  }\n}\n`
}

describe('parseCniConfig: both generations, from real manifests', () => {
  it.each([
    {
      name: 'v3.0 KDD template (.conf, token placeholder)',
      text: v30Kdd,
      format: 'conf',
      tokens: [{ kind: 'placeholder', path: 'policy.k8s_auth_token', line: lineOf(v30Kdd, 'k8s_auth_token') }],
      kubeconfig: [{ kind: 'placeholder', path: 'kubernetes.kubeconfig', value: '__KUBECONFIG_FILEPATH__' }],
      bare: [],
    },
    {
      name: 'v3.0 etcd template (.conflist with portmap, token placeholder)',
      text: v30Etcd,
      format: 'conflist',
      tokens: [{ kind: 'placeholder', path: 'plugins[0].policy.k8s_auth_token', line: lineOf(v30Etcd, 'k8s_auth_token') }],
      kubeconfig: [{ kind: 'placeholder', path: 'plugins[0].kubernetes.kubeconfig', value: '__KUBECONFIG_FILEPATH__' }],
      bare: [],
    },
    {
      name: 'v3.27.2 template (.conflist, no token, unquoted __CNI_MTU__)',
      text: v3272,
      format: 'conflist',
      tokens: [],
      kubeconfig: [{ kind: 'placeholder', path: 'plugins[0].kubernetes.kubeconfig', value: '__KUBECONFIG_FILEPATH__' }],
      bare: ['__CNI_MTU__'],
    },
    {
      name: 'operator v1.34 cni-config (tab-indented, compact plugins)',
      text: operator,
      format: 'conflist',
      tokens: [],
      kubeconfig: [{ kind: 'placeholder', path: 'plugins[0].kubernetes.kubeconfig', value: '__KUBECONFIG_FILEPATH__' }],
      bare: [],
    },
    {
      name: 'v3.0 KDD as installed on a node (10-calico.conf)',
      text: fill(readFixture('node/v3.0-kdd/10-calico.conf'), token),
      format: 'conf',
      tokens: [{ kind: 'literal', path: 'policy.k8s_auth_token', token, encoding: 'jwt', line: 15 }],
      kubeconfig: [{ kind: 'path', path: 'kubernetes.kubeconfig', value: '/etc/cni/net.d/calico-kubeconfig' }],
      bare: [],
    },
    {
      name: 'v3.27.2 as installed on a node (10-calico.conflist)',
      text: readFixture('node/v3.27.2/10-calico.conflist'),
      format: 'conflist',
      tokens: [],
      kubeconfig: [{ kind: 'path', path: 'plugins[0].kubernetes.kubeconfig', value: '/etc/cni/net.d/calico-kubeconfig' }],
      bare: [],
    },
  ])('$name', ({ text, format, tokens, kubeconfig, bare }) => {
    const config = parseCniConfig(text)
    expect(config.format).toBe(format)
    expect(config.hasCalicoPlugin).toBe(true)
    expect(config.tokenFields).toEqual(tokens)
    expect(config.kubeconfigFields).toMatchObject(kubeconfig)
    expect(config.barePlaceholders).toEqual(bare)
  })

  it('the v3.27.2 template is not JSON as it stands, so plain JSON.parse would fail on it', () => {
    expect(() => JSON.parse(v3272)).toThrow(SyntaxError)
    const { json } = parseCniConfig(v3272)
    expect(Array.isArray(json.plugins) && json.plugins[0]).toMatchObject({ type: 'calico', mtu: null })
  })

  it('reads the bare placeholders v3.4+ templates use for numbers and booleans', () => {
    const text = '{"plugins": [{"type": "calico", "mtu": __CNI_MTU__, "log_file_max_size": __LOG_FILE_MAX_SIZE__, "require_mtu_file": __REQUIRE_MTU_FILE__}]}'
    const config = parseCniConfig(text)
    expect(config.barePlaceholders).toEqual(['__CNI_MTU__', '__LOG_FILE_MAX_SIZE__', '__REQUIRE_MTU_FILE__'])
    expect(config.json).toEqual({ plugins: [{ type: 'calico', mtu: null, log_file_max_size: null, require_mtu_file: null }] })
  })

  it('leaves a placeholder inside a string a string', () => {
    const config = parseCniConfig('{"type": "calico", "nodename": "__KUBERNETES_NODE_NAME__", "mtu": __CNI_MTU__}')
    expect(config.barePlaceholders).toEqual(['__CNI_MTU__'])
    expect(config.json).toEqual({ type: 'calico', nodename: '__KUBERNETES_NODE_NAME__', mtu: null })
  })

  it('does not take a word that merely contains underscores for a placeholder', () => {
    expect(() => parseCniConfig('{"type": "calico", "mtu": __CNI_MTU__x}')).toThrow(CniConfigError)
  })

  it('finds k8s_auth_token at the top level and in a flannel delegate (canal templates)', () => {
    const top = parseCniConfig('{"type": "calico", "k8s_auth_token": "__SERVICEACCOUNT_TOKEN__"}')
    expect(top.tokenFields).toMatchObject([{ path: 'k8s_auth_token', kind: 'placeholder' }])
    const canal = parseCniConfig(
      '{"name": "canal", "plugins": [{"type": "flannel", "delegate": {"type": "calico", "policy": {"type": "k8s", "k8s_auth_token": ""}, ' +
        '"kubernetes": {"kubeconfig": "/etc/cni/net.d/__KUBECONFIG_FILENAME__"}}}]}',
    )
    expect(canal.hasCalicoPlugin).toBe(true)
    expect(canal.tokenFields).toMatchObject([{ path: 'plugins[0].delegate.policy.k8s_auth_token', kind: 'empty' }])
    expect(canal.kubeconfigFields).toMatchObject([{ path: 'plugins[0].delegate.kubernetes.kubeconfig', kind: 'placeholder' }])
  })

  it('indexes plugins[] by position, whatever comes before calico', () => {
    const text = `{"plugins": [{"type": "portmap"}, {"type": "bandwidth", "capabilities": ["a", "b"]}, {"type": "calico", "policy": {"k8s_auth_token": ${JSON.stringify(token)}}}]}`
    expect(findTokenFields(text)).toMatchObject([{ path: 'plugins[2].policy.k8s_auth_token', kind: 'literal' }])
  })

  it('tells a config without a calico plugin apart', () => {
    const flannel = parseCniConfig('{"name": "cbr0", "cniVersion": "0.3.1", "plugins": [{"type": "flannel"}, {"type": "portmap"}]}')
    expect(flannel.hasCalicoPlugin).toBe(false)
    expect(flannel.tokenFields).toEqual([])
  })

  it('classifies an empty kubeconfig path', () => {
    expect(parseCniConfig('{"type": "calico", "kubernetes": {"kubeconfig": ""}}').kubeconfigFields).toMatchObject([{ kind: 'empty', value: '' }])
  })
})

describe('findTokenFields: placeholder, literal, empty', () => {
  it.each([
    { name: 'the installer placeholder', literal: () => '"__SERVICEACCOUNT_TOKEN__"', expected: { kind: 'placeholder' } },
    { name: 'a raw JWT', literal: () => JSON.stringify(token), expected: { kind: 'literal', token, encoding: 'jwt' } },
    { name: 'a JWT after "Bearer "', literal: () => JSON.stringify(`Bearer ${token}`), expected: { kind: 'literal', token, encoding: 'jwt' } },
    { name: 'a base64-wrapped JWT (data.token pasted as is)', literal: () => JSON.stringify(Buffer.from(token).toString('base64')), expected: { kind: 'literal', token, encoding: 'base64' } },
    { name: 'a base64-wrapped JWT with line breaks', literal: () => JSON.stringify(wrapBase64(token, 64)), expected: { kind: 'literal', token, encoding: 'base64' } },
    { name: 'base64 with escaped slashes', literal: () => JSON.stringify(Buffer.from(token).toString('base64')).replaceAll('/', '\\/'), expected: { kind: 'literal', token, encoding: 'base64' } },
    { name: 'an empty string', literal: () => '""', expected: { kind: 'empty' } },
    { name: 'whitespace', literal: () => '"  "', expected: { kind: 'empty' } },
    { name: 'another placeholder', literal: () => '"__TOKEN__"', expected: { kind: 'unrecognized' } },
    { name: 'a truncated JWT', literal: () => JSON.stringify(token.split('.').slice(0, 2).join('.')), expected: { kind: 'unrecognized' } },
    { name: 'prose', literal: () => '"paste the token here"', expected: { kind: 'unrecognized' } },
  ])('$name', ({ literal, expected }) => {
    const fields = findTokenFields(confWithToken(literal()))
    expect(fields).toEqual([{ ...expected, path: 'policy.k8s_auth_token', line: 6 }])
  })

  it('finds the literal in the trap ConfigMap, base64-wrapped or not', () => {
    expect(findTokenFields(fill(trap, token))).toMatchObject([{ kind: 'literal', token, encoding: 'jwt' }])
    expect(findTokenFields(fill(trap, Buffer.from(token).toString('base64')))).toMatchObject([{ kind: 'literal', token, encoding: 'base64' }])
  })
})

describe('replaceLiteralTokens', () => {
  it('restores the trap ConfigMap to the manifest byte for byte', () => {
    expect(replaceLiteralTokens(fill(trap, token))).toBe(v30Kdd)
    expect(replaceLiteralTokens(fill(trap, Buffer.from(token).toString('base64')))).toBe(v30Kdd)
  })

  it('replaces only the literal and keeps tabs, spacing, key order and unquoted placeholders', () => {
    const text =
      '{\n\t"type":"calico",   "mtu": __CNI_MTU__,\n' +
      `\t"policy" : { "k8s_auth_token" :\t${JSON.stringify(token)} , "type": "k8s" },\n` +
      '\t"delegate": {"type": "calico", "k8s_auth_token": "__SERVICEACCOUNT_TOKEN__"},\n' +
      `\t"note": ${JSON.stringify(token)}\n}`
    const expected =
      '{\n\t"type":"calico",   "mtu": __CNI_MTU__,\n' +
      '\t"policy" : { "k8s_auth_token" :\t"__SERVICEACCOUNT_TOKEN__" , "type": "k8s" },\n' +
      '\t"delegate": {"type": "calico", "k8s_auth_token": "__SERVICEACCOUNT_TOKEN__"},\n' +
      `\t"note": ${JSON.stringify(token)}\n}`
    expect(replaceLiteralTokens(text)).toBe(expected)
  })

  it('replaces every literal when a key appears twice', () => {
    const text = `{"type": "calico", "policy": {"k8s_auth_token": ${JSON.stringify(token)}, "k8s_auth_token": ${JSON.stringify(token)}}}`
    expect(replaceLiteralTokens(text)).toBe('{"type": "calico", "policy": {"k8s_auth_token": "__SERVICEACCOUNT_TOKEN__", "k8s_auth_token": "__SERVICEACCOUNT_TOKEN__"}}')
  })

  it('embeds a given token in compact form (--embed-token on a node)', () => {
    const installed = fill(readFixture('node/v3.0-kdd/10-calico.conf'), token)
    expect(replaceLiteralTokens(installed, otherToken)).toBe(fill(readFixture('node/v3.0-kdd/10-calico.conf'), otherToken))
    expect(replaceLiteralTokens(installed, wrapBase64(otherToken))).toBe(fill(readFixture('node/v3.0-kdd/10-calico.conf'), otherToken))
  })

  it('returns the text unchanged when there is no literal token', () => {
    for (const text of [v30Kdd, v30Etcd, v3272, operator, confWithToken('""'), confWithToken('"__TOKEN__"')]) {
      expect(replaceLiteralTokens(text)).toBe(text)
    }
  })

  it('refuses a replacement that is not a token', () => {
    expect(() => replaceLiteralTokens(fill(trap, token), 'not-a-token')).toThrow(InvalidTokenError)
  })
})

describe('errors', () => {
  it.each([
    // JSON.parse notices the missing comma at the next key, on line 3.
    { name: 'a missing comma', text: `{\n  "type": "calico"\n  "k8s_auth_token": ${JSON.stringify(token)}\n}`, line: 3 },
    { name: 'a stray word next to the token', text: `{"type": "calico",\n"k8s_auth_token": ${JSON.stringify(token)} x}`, line: undefined },
    { name: 'an unterminated string', text: `{"type": "calico", "k8s_auth_token": "${token}`, line: undefined },
  ])('names the source and never quotes the text ($name)', ({ text, line }) => {
    const error = captureError(() => parseCniConfig(text, 'ConfigMap kube-system/calico-config key cni_network_config'))
    expect(error).toBeInstanceOf(CniConfigError)
    expect(error.message).toMatch(/^ConfigMap kube-system\/calico-config key cni_network_config is not valid JSON/)
    if (line !== undefined) expect(error.message).toContain(`at line ${line}`)
    expect(error.message).not.toContain(token.slice(0, 20))
    expect(error.message).not.toContain(token.split('.')[1])
  })

  it('refuses JSON that is not an object', () => {
    expect(() => parseCniConfig('[{"type": "calico"}]')).toThrow(/is not a JSON object/)
    expect(() => replaceLiteralTokens('"just a string"')).toThrow(CniConfigError)
  })
})

function captureError(action: () => unknown): Error {
  try {
    action()
  } catch (err) {
    if (err instanceof Error) return err
    throw err
  }
  throw new Error('expected an error')
}
