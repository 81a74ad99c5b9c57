import { describe, expect, it } from 'vitest'
import { findCalicoFiles, nodeTokens, planNodeRewrite, type NodeFile } from '../../../lib/calico/node-files.ts'
import { DomainError } from '../../../lib/errors.ts'
import { InvalidTokenError } from '../../../lib/token/decode.ts'
import { fill, fillFiles, nodeDir, readFixture } from '../../fixtures/calico/fixtures.ts'
import { boundClaims, legacyClaims, makeSigningKey, signToken } from '../helpers/tokens.ts'

const key = makeSigningKey('ec')
const legacyToken = await signToken(legacyClaims({ serviceAccount: 'calico-node' }), key)
const freshToken = await signToken(boundClaims({ serviceAccount: { name: 'calico-cni-plugin', uid: 'sa-uid-2' }, pod: null, node: null }), key)

const v30 = fillFiles(nodeDir('v3.0-kdd'), legacyToken)
const v3272 = fillFiles(nodeDir('v3.27.2'), legacyToken)
const loopback: NodeFile = { name: '99-loopback.conf', text: '{"cniVersion": "0.3.1", "name": "lo", "type": "loopback"}' }
const flannel: NodeFile = { name: '10-flannel.conflist', text: '{"name": "cbr0", "cniVersion": "0.3.1", "plugins": [{"type": "flannel"}, {"type": "portmap"}]}' }

function names(files: readonly NodeFile[]): string[] {
  return files.map((file) => file.name)
}

function without(files: readonly NodeFile[], name: string): NodeFile[] {
  return files.filter((file) => file.name !== name)
}

describe('findCalicoFiles', () => {
  it.each([
    { name: 'v3.0 node', files: [...v30, loopback], conf: '10-calico.conf', kubeconfig: 'calico-kubeconfig', missing: [] },
    { name: 'v3.27.2 node', files: [loopback, ...v3272], conf: '10-calico.conflist', kubeconfig: 'calico-kubeconfig', missing: [] },
    { name: 'kubeconfig missing', files: without(v3272, 'calico-kubeconfig'), conf: '10-calico.conflist', kubeconfig: undefined, missing: ['calico-kubeconfig'] },
    { name: 'config missing', files: without(v3272, '10-calico.conflist'), conf: undefined, kubeconfig: 'calico-kubeconfig', missing: ['10-calico.conflist or 10-calico.conf'] },
    { name: 'empty directory', files: [], conf: undefined, kubeconfig: undefined, missing: ['10-calico.conflist or 10-calico.conf', 'calico-kubeconfig'] },
    { name: 'another plugin only', files: [flannel, loopback], conf: undefined, kubeconfig: undefined, missing: ['10-calico.conflist or 10-calico.conf', 'calico-kubeconfig'] },
  ])('$name', ({ files, conf, kubeconfig, missing }) => {
    const found = findCalicoFiles(files)
    expect(found.conf?.name).toBe(conf)
    expect(found.kubeconfig?.name).toBe(kubeconfig)
    expect(found.missing).toEqual(missing)
  })

  it('recognises a Calico config under another CNI_CONF_NAME by its content', () => {
    const renamed = v3272.map((file) => (file.name === '10-calico.conflist' ? { ...file, name: '05-pod-network.conflist' } : file))
    expect(findCalicoFiles([...renamed, loopback]).conf?.name).toBe('05-pod-network.conflist')
  })

  it('looks for the kubeconfig under the name the config points to', () => {
    const conf = v3272.find((file) => file.name === '10-calico.conflist')
    if (conf === undefined) throw new Error('fixture lacks 10-calico.conflist')
    const repointed = { ...conf, text: conf.text.replace('/etc/cni/net.d/calico-kubeconfig', '/etc/cni/net.d/calico-kubeconfig-v2') }
    const found = findCalicoFiles([repointed, { name: 'calico-kubeconfig-v2', text: 'kind: Config' }])
    expect(found.kubeconfig?.name).toBe('calico-kubeconfig-v2')
    expect(findCalicoFiles([repointed]).missing).toEqual(['calico-kubeconfig-v2'])
  })

  it('expects no kubeconfig when the config names none and carries the token itself', () => {
    const tokenOnly = { name: '10-calico.conf', text: `{"type": "calico", "policy": {"type": "k8s", "k8s_auth_token": "${legacyToken}"}}` }
    expect(findCalicoFiles([tokenOnly]).missing).toEqual([])
  })

  it('picks the config the runtime loads when an upgrade left 10-calico.conf behind (it sorts before .conflist)', () => {
    const conf = v30.find((file) => file.name === '10-calico.conf')
    if (conf === undefined) throw new Error('fixture lacks 10-calico.conf')
    const found = findCalicoFiles([...v3272, conf])
    expect(found.conf?.name).toBe('10-calico.conf')
    expect(names(found.otherConfs)).toEqual(['10-calico.conflist'])
  })

  it('names another plugin whose config sorts first: the runtime loads that one instead', () => {
    expect(findCalicoFiles([...v3272, { ...flannel, name: '00-flannel.conflist' }]).shadowedBy).toBe('00-flannel.conflist')
    expect(findCalicoFiles([...v3272, loopback]).shadowedBy).toBeUndefined()
  })

  it('still takes a broken 10-calico.conflist for Calico\'s, and skips a broken file of another name', () => {
    const broken = { name: '10-calico.conflist', text: '{"plugins": [' }
    expect(findCalicoFiles([broken, { name: '05-broken.conf', text: 'not json' }]).conf?.name).toBe('10-calico.conflist')
  })
})

describe('nodeTokens', () => {
  it('finds both tokens a v3.0 node presents: k8s_auth_token and the kubeconfig user', () => {
    expect(nodeTokens(v30)).toEqual([
      { file: '10-calico.conf', setting: 'policy.k8s_auth_token', value: { kind: 'literal', token: legacyToken, encoding: 'jwt' } },
      { file: 'calico-kubeconfig', setting: 'users[0].user.token', value: { kind: 'literal', token: legacyToken, encoding: 'jwt' } },
    ])
  })

  it('finds only the kubeconfig token on a v3.27.2 node', () => {
    expect(nodeTokens(v3272)).toEqual([{ file: 'calico-kubeconfig', setting: 'users[0].user.token', value: { kind: 'literal', token: legacyToken, encoding: 'jwt' } }])
  })

  it('returns nothing for missing files, and names the node when a file is unreadable', () => {
    expect(nodeTokens([])).toEqual([])
    expect(() => nodeTokens([{ name: 'calico-kubeconfig', text: 'kind: [' }], { node: 'worker-1' })).toThrow(/^calico-kubeconfig on node worker-1 is not valid YAML/)
  })
})

describe('planNodeRewrite', () => {
  it('rewrites both files of a v3.0 node, byte for byte except the token', () => {
    expect(planNodeRewrite(v30, freshToken)).toEqual([
      { name: '10-calico.conf', newText: fill(readFixture('node/v3.0-kdd/10-calico.conf'), freshToken) },
      { name: 'calico-kubeconfig', newText: fill(readFixture('node/v3.0-kdd/calico-kubeconfig'), freshToken) },
    ])
  })

  it('rewrites only the kubeconfig of a v3.27.2 node', () => {
    expect(planNodeRewrite(v3272, freshToken)).toEqual([{ name: 'calico-kubeconfig', newText: fill(readFixture('node/v3.27.2/calico-kubeconfig'), freshToken) }])
  })

  it('has nothing to do when the node already presents the token, in any form it was given', () => {
    const done = fillFiles(nodeDir('v3.0-kdd'), freshToken)
    expect(planNodeRewrite(done, freshToken)).toEqual([])
    expect(planNodeRewrite(done, Buffer.from(freshToken).toString('base64'))).toEqual([])
  })

  it('rewrites what exists when a file is missing', () => {
    expect(planNodeRewrite(without(v30, 'calico-kubeconfig'), freshToken).map((write) => write.name)).toEqual(['10-calico.conf'])
    expect(planNodeRewrite(without(v30, '10-calico.conf'), freshToken).map((write) => write.name)).toEqual(['calico-kubeconfig'])
  })

  it('leaves an empty k8s_auth_token alone (the plugin then uses the kubeconfig)', () => {
    const files = [{ name: '10-calico.conf', text: fill(readFixture('node/v3.0-kdd/10-calico.conf'), '') }, ...without(v30, '10-calico.conf')]
    expect(planNodeRewrite(files, freshToken).map((write) => write.name)).toEqual(['calico-kubeconfig'])
  })

  it('refuses a directory without Calico files, naming the node', () => {
    expect(() => planNodeRewrite([loopback], freshToken, { node: 'worker-2' })).toThrow(DomainError)
    expect(() => planNodeRewrite([loopback], freshToken, { node: 'worker-2' })).toThrow(
      /^no Calico CNI files among the 1 files in the CNI config directory of node worker-2 .*CNI_NET_DIR/,
    )
  })

  it('refuses a fresh token that is not one', () => {
    expect(() => planNodeRewrite(v30, 'fresh')).toThrow(InvalidTokenError)
  })
})
