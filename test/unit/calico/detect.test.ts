import type { V1DaemonSet, V1EnvVar } from '@kubernetes/client-node'
import { describe, expect, it } from 'vitest'
import { detectCalico, parseCalicoVersion, parseImage, versionAtLeast, type CalicoObjects } from '../../../lib/calico/detect.ts'
import { fill, loadObjects } from '../../fixtures/calico/fixtures.ts'
import { legacyClaims, makeSigningKey, signToken } from '../helpers/tokens.ts'

const v30Kdd = loadObjects('manifest-v3.0-kdd.yaml')
const v30Etcd = loadObjects('manifest-v3.0-etcd.yaml')
const v3272 = loadObjects('manifest-v3.27.2.yaml')
const operator = loadObjects('operator-v3.28.0.yaml')
const none: CalicoObjects = { configMaps: [], daemonSets: [], serviceAccounts: [] }

/** A copy of `objects` whose calico-node DaemonSet went through `change`. */
function withDaemonSet(objects: CalicoObjects, change: (daemonSet: V1DaemonSet) => void): CalicoObjects {
  const daemonSets = objects.daemonSets.map((daemonSet) => {
    const copy = structuredClone(daemonSet)
    change(copy)
    return copy
  })
  return { ...objects, daemonSets }
}

function setNodeImage(image: string): (daemonSet: V1DaemonSet) => void {
  return (daemonSet) => {
    const container = daemonSet.spec?.template.spec?.containers.find((candidate) => candidate.name === 'calico-node')
    if (container === undefined) throw new Error('fixture lacks the calico-node container')
    container.image = image
  }
}

function addEnv(containerName: string, variable: V1EnvVar): (daemonSet: V1DaemonSet) => void {
  return (daemonSet) => {
    const spec = daemonSet.spec?.template.spec
    const container = [...(spec?.initContainers ?? []), ...(spec?.containers ?? [])].find((candidate) => candidate.name === containerName)
    if (container === undefined) throw new Error(`fixture lacks container ${containerName}`)
    container.env = [...(container.env ?? []), variable]
  }
}

function withoutKinds(objects: CalicoObjects, drop: { configMaps?: boolean; serviceAccount?: string }): CalicoObjects {
  return {
    configMaps: drop.configMaps ? [] : objects.configMaps,
    daemonSets: objects.daemonSets,
    serviceAccounts: objects.serviceAccounts.filter((account) => account.metadata?.name !== drop.serviceAccount),
  }
}

describe('detectCalico', () => {
  it.each([
    {
      name: 'manifest v3.0 KDD: .conf with the pod token embedded',
      objects: v30Kdd,
      expected: {
        kind: 'manifest',
        namespace: 'kube-system',
        version: { major: 3, minor: 0, patch: 8, text: 'v3.0.8' },
        image: { repository: 'quay.io/calico/node', tag: 'v3.0.8' },
        cniConfig: { configMap: { name: 'calico-config', key: 'cni_network_config' } },
        cniServiceAccount: 'calico-node',
        cniServiceAccountBasis: 'daemonset',
        cniNetDir: '/etc/cni/net.d',
        expected: { format: 'conf', fileName: '10-calico.conf', embedsToken: true, basis: 'config' },
        warnings: [],
      },
    },
    {
      name: 'manifest v3.0 etcd: a .conflist that still embeds the token',
      objects: v30Etcd,
      expected: {
        kind: 'manifest',
        cniServiceAccount: 'calico-node',
        expected: { format: 'conflist', fileName: '10-calico.conflist', embedsToken: true, basis: 'config' },
        warnings: [],
      },
    },
    {
      name: 'manifest v3.27.2 with calico-cni-plugin',
      objects: v3272,
      expected: {
        kind: 'manifest',
        namespace: 'kube-system',
        version: { major: 3, minor: 27, patch: 2, text: 'v3.27.2' },
        image: { repository: 'docker.io/calico/node', tag: 'v3.27.2' },
        cniServiceAccount: 'calico-cni-plugin',
        cniServiceAccountBasis: 'version',
        expected: { format: 'conflist', fileName: '10-calico.conflist', embedsToken: false, basis: 'config' },
        warnings: [],
      },
    },
    {
      name: 'operator v3.28.0 in calico-system',
      objects: operator,
      expected: {
        kind: 'operator',
        namespace: 'calico-system',
        daemonSet: 'calico-node',
        version: { major: 3, minor: 28, patch: 0, text: 'v3.28.0' },
        cniConfig: { configMap: { name: 'cni-config', key: 'config' } },
        cniServiceAccount: 'calico-cni-plugin',
        cniNetDir: '/etc/cni/net.d',
        expected: { format: 'conflist', fileName: '10-calico.conflist', embedsToken: false, basis: 'config' },
        warnings: [],
      },
    },
  ])('$name', ({ objects, expected }) => {
    expect(detectCalico(objects)).toMatchObject(expected)
  })

  it('hands over the CNI config template it found', () => {
    expect(detectCalico(v30Kdd)?.cniConfig.text).toContain('"k8s_auth_token": "__SERVICEACCOUNT_TOKEN__"')
    expect(detectCalico(operator)?.cniConfig.text).toMatch(/^\{\n\t\t\t {2}"name": "k8s-pod-network"/)
  })

  it.each([
    { name: 'nothing listed', objects: none },
    { name: 'only the calico-config ConfigMap (DaemonSet deleted)', objects: { ...none, configMaps: v30Kdd.configMaps } },
    { name: 'a calico-node DaemonSet in another namespace', objects: { ...none, daemonSets: [{ ...v3272.daemonSets[0], metadata: { name: 'calico-node', namespace: 'default' } }] } },
    { name: 'another DaemonSet in kube-system', objects: { ...none, daemonSets: [{ metadata: { name: 'kube-proxy', namespace: 'kube-system' } }] } },
  ])('finds no Calico: $name', ({ objects }) => {
    expect(detectCalico(objects)).toBeUndefined()
  })

  it('detects an operator install whose ConfigMap is absent, from the version', () => {
    expect(detectCalico(withoutKinds(operator, { configMaps: true }))).toMatchObject({
      kind: 'operator',
      cniConfig: { configMap: { name: 'cni-config', key: 'config' } },
      expected: { format: 'conflist', fileName: '10-calico.conflist', embedsToken: false, basis: 'version' },
      warnings: [],
    })
  })

  it('detects a manifest install whose ConfigMap is gone, and warns that calico-node cannot start', () => {
    const detected = detectCalico(withoutKinds(v30Kdd, { configMaps: true }))
    expect(detected).toMatchObject({ kind: 'manifest', expected: { format: 'conf', fileName: '10-calico.conf', embedsToken: true, basis: 'version' } })
    expect(detected?.warnings).toEqual([expect.stringMatching(/^ConfigMap kube-system\/calico-config \(key cni_network_config\) is missing.*restored/)])
  })

  it('prefers the operator install while a migration leaves both, and says so', () => {
    const detected = detectCalico({
      configMaps: [...v3272.configMaps, ...operator.configMaps],
      daemonSets: [...v3272.daemonSets, ...operator.daemonSets],
      serviceAccounts: [...v3272.serviceAccounts, ...operator.serviceAccounts],
    })
    expect(detected?.kind).toBe('operator')
    expect(detected?.warnings).toEqual([expect.stringContaining('both kube-system and calico-system')])
  })

  it('warns when v3.26+ lacks the calico-cni-plugin ServiceAccount, and still names it', () => {
    const detected = detectCalico(withoutKinds(v3272, { serviceAccount: 'calico-cni-plugin' }))
    expect(detected?.cniServiceAccount).toBe('calico-cni-plugin')
    expect(detected?.warnings).toEqual([expect.stringMatching(/ServiceAccount kube-system\/calico-cni-plugin, which does not exist/)])
  })

  it.each([
    { name: 'v3.25.1: TokenRequest for calico-node', image: 'docker.io/calico/node:v3.25.1', drop: undefined, account: 'calico-node', basis: 'version' },
    { name: 'v3.22.0: the pod\'s own token', image: 'docker.io/calico/node:v3.22.0', drop: undefined, account: 'calico-node', basis: 'daemonset' },
    { name: 'unknown version, calico-cni-plugin exists', image: 'quay.io/calico/node:master', drop: undefined, account: 'calico-cni-plugin', basis: 'service-account' },
    { name: 'unknown version, no calico-cni-plugin', image: 'quay.io/calico/node:master', drop: 'calico-cni-plugin', account: 'calico-node', basis: 'daemonset' },
  ])('picks the CNI ServiceAccount by version: $name', ({ image, drop, account, basis }) => {
    const objects = withDaemonSet(withoutKinds(v3272, { serviceAccount: drop }), setNodeImage(image))
    expect(detectCalico(objects)).toMatchObject({ cniServiceAccount: account, cniServiceAccountBasis: basis })
  })

  it('uses the DaemonSet\'s own ServiceAccount for old versions', () => {
    const objects = withDaemonSet(v30Kdd, (daemonSet) => {
      if (daemonSet.spec?.template.spec) daemonSet.spec.template.spec.serviceAccountName = 'calico-cni'
    })
    expect(detectCalico(objects)).toMatchObject({ cniServiceAccount: 'calico-cni', cniServiceAccountBasis: 'daemonset' })
  })

  it('honours CALICO_CNI_SERVICE_ACCOUNT from v3.24 on, and only then', () => {
    const override = addEnv('calico-node', { name: 'CALICO_CNI_SERVICE_ACCOUNT', value: 'cni-token' })
    expect(detectCalico(withDaemonSet(v3272, override))).toMatchObject({ cniServiceAccount: 'cni-token', cniServiceAccountBasis: 'env' })
    const old = withDaemonSet(withDaemonSet(v3272, override), setNodeImage('docker.io/calico/node:v3.23.5'))
    expect(detectCalico(old)).toMatchObject({ cniServiceAccount: 'calico-node', cniServiceAccountBasis: 'daemonset' })
  })

  it('warns when the version cannot be read, and assumes current Calico', () => {
    const detected = detectCalico(withoutKinds(withDaemonSet(v30Kdd, setNodeImage('registry.local:5000/calico/node:latest')), { configMaps: true }))
    expect(detected?.version).toBeUndefined()
    expect(detected?.expected).toEqual({ format: 'conflist', fileName: '10-calico.conflist', embedsToken: false, basis: 'default' })
    expect(detected?.warnings).toContainEqual(expect.stringMatching(/^cannot read a Calico version from image registry\.local:5000\/calico\/node:latest/))
  })

  it('does not read Calico Enterprise (cnx-node) tags as Calico versions', () => {
    expect(detectCalico(withDaemonSet(v3272, setNodeImage('quay.io/tigera/cnx-node:v3.19.1')))?.version).toBeUndefined()
  })

  it('takes the file name from CNI_CONF_NAME, else the installer default of the version', () => {
    const renamed = withDaemonSet(v3272, (daemonSet) => {
      const installCni = daemonSet.spec?.template.spec?.initContainers?.find((container) => container.name === 'install-cni')
      const variable = installCni?.env?.find((candidate) => candidate.name === 'CNI_CONF_NAME')
      if (variable === undefined) throw new Error('fixture lacks CNI_CONF_NAME')
      variable.value = '05-calico.conflist'
    })
    expect(detectCalico(renamed)?.expected.fileName).toBe('05-calico.conflist')
    // v3.1-v3.15 manifests set CNI_CONF_NAME; without it install-cni.sh writes 10-calico.conf, whatever the format.
    const unnamed = withDaemonSet(renamed, (daemonSet) => {
      const installCni = daemonSet.spec?.template.spec?.initContainers?.find((container) => container.name === 'install-cni')
      if (installCni) installCni.env = installCni.env?.filter((candidate) => candidate.name !== 'CNI_CONF_NAME')
    })
    expect(detectCalico(withDaemonSet(unnamed, setNodeImage('calico/node:v3.15.2')))?.expected).toMatchObject({ format: 'conflist', fileName: '10-calico.conf' })
    expect(detectCalico(withDaemonSet(unnamed, setNodeImage('calico/node:v3.16.0')))?.expected).toMatchObject({ format: 'conflist', fileName: '10-calico.conflist' })
  })

  it('reads the CNI config set inline on install-cni, and the CNI dir from the hostPath', () => {
    const template = v3272.configMaps[0]?.data?.cni_network_config ?? ''
    const inline = withDaemonSet(withoutKinds(v3272, { configMaps: true }), (daemonSet) => {
      const spec = daemonSet.spec?.template.spec
      const installCni = spec?.initContainers?.find((container) => container.name === 'install-cni')
      if (spec === undefined || installCni === undefined) throw new Error('fixture lacks install-cni')
      installCni.env = installCni.env?.map((variable) => (variable.name === 'CNI_NETWORK_CONFIG' ? { name: variable.name, value: template } : variable))
      spec.volumes = spec.volumes?.map((volume) => (volume.name === 'cni-net-dir' ? { name: volume.name, hostPath: { path: '/etc/kubernetes/cni/net.d' } } : volume))
    })
    expect(detectCalico(inline)).toMatchObject({ cniConfig: { text: template }, cniNetDir: '/etc/kubernetes/cni/net.d', expected: { basis: 'config' }, warnings: [] })
    expect(detectCalico(inline)?.cniConfig.configMap).toBeUndefined()
  })

  it('warns about the trap: a literal token in the ConfigMap, without printing it', async () => {
    const token = await signToken(legacyClaims(), makeSigningKey('ec'))
    const trapped: CalicoObjects = {
      ...v30Kdd,
      configMaps: v30Kdd.configMaps.map((configMap) => ({
        ...configMap,
        data: { cni_network_config: fill(configMap.data?.cni_network_config?.replace('__SERVICEACCOUNT_TOKEN__', '__TOKEN__') ?? '', token) },
      })),
    }
    const warnings = detectCalico(trapped)?.warnings ?? []
    expect(warnings).toEqual([expect.stringMatching(/^ConfigMap kube-system\/calico-config key cni_network_config holds a literal token at policy\.k8s_auth_token.*rollout restart ds\/calico-node\)$/)])
    expect(warnings.join('\n')).not.toContain(token.split('.')[1])
  })

  it('passes on a template it cannot parse as a warning', () => {
    const broken: CalicoObjects = { ...v3272, configMaps: [{ metadata: { name: 'calico-config', namespace: 'kube-system' }, data: { cni_network_config: '{"plugins": [' } }] }
    const detected = detectCalico(broken)
    expect(detected?.expected.basis).toBe('version')
    expect(detected?.warnings).toEqual([expect.stringMatching(/^ConfigMap kube-system\/calico-config key cni_network_config is not valid JSON/)])
  })
})

describe('parseImage and parseCalicoVersion', () => {
  it.each([
    { reference: 'calico/node:v3.0.8', repository: 'calico/node', tag: 'v3.0.8', digest: undefined, version: [3, 0, 8] },
    { reference: 'quay.io/calico/node:v3.28.0', repository: 'quay.io/calico/node', tag: 'v3.28.0', digest: undefined, version: [3, 28, 0] },
    {
      reference: 'docker.io/calico/node:v3.27.2@sha256:7f0a3e2b6d9c1e4f8a5b0c3d6e9f2a5b8c1d4e7f0a3b6c9d2e5f8a1b4c7d0e3f',
      repository: 'docker.io/calico/node',
      tag: 'v3.27.2',
      digest: 'sha256:7f0a3e2b6d9c1e4f8a5b0c3d6e9f2a5b8c1d4e7f0a3b6c9d2e5f8a1b4c7d0e3f',
      version: [3, 27, 2],
    },
    { reference: 'registry.local:5000/mirror/calico/node:v3.26.1', repository: 'registry.local:5000/mirror/calico/node', tag: 'v3.26.1', digest: undefined, version: [3, 26, 1] },
    { reference: 'registry.local:5000/calico/node', repository: 'registry.local:5000/calico/node', tag: undefined, digest: undefined, version: undefined },
    { reference: 'calico/node@sha256:abc', repository: 'calico/node', tag: undefined, digest: 'sha256:abc', version: undefined },
    { reference: 'calico/node:v3.28.0-amd64', repository: 'calico/node', tag: 'v3.28.0-amd64', digest: undefined, version: [3, 28, 0] },
    { reference: 'calico/node:v3.29', repository: 'calico/node', tag: 'v3.29', digest: undefined, version: [3, 29, 0] },
    { reference: 'calico/node:master', repository: 'calico/node', tag: 'master', digest: undefined, version: undefined },
    { reference: 'calico/node:release-v3.27', repository: 'calico/node', tag: 'release-v3.27', digest: undefined, version: undefined },
  ])('$reference', ({ reference, repository, tag, digest, version }) => {
    const image = parseImage(reference)
    expect(image).toEqual({ reference, repository, ...(tag === undefined ? {} : { tag }), ...(digest === undefined ? {} : { digest }) })
    const parsed = image.tag === undefined ? undefined : parseCalicoVersion(image.tag)
    expect(parsed === undefined ? undefined : [parsed.major, parsed.minor, parsed.patch]).toEqual(version)
  })

  it.each([
    { version: 'v3.26.0', major: 3, minor: 26, expected: true },
    { version: 'v3.25.9', major: 3, minor: 26, expected: false },
    { version: 'v4.0.0', major: 3, minor: 26, expected: true },
    { version: 'v2.6.12', major: 3, minor: 1, expected: false },
    { version: 'v3.0.8', major: 3, minor: 1, expected: false },
  ])('versionAtLeast($version, $major.$minor) is $expected', ({ version, major, minor, expected }) => {
    const parsed = parseCalicoVersion(version)
    if (parsed === undefined) throw new Error(`cannot parse ${version}`)
    expect(versionAtLeast(parsed, major, minor)).toBe(expected)
  })
})
