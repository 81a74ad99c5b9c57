import type { V1Pod } from '@kubernetes/client-node'
import { describe, expect, it } from 'vitest'
import { boundTokenVolumesOf, secretReferencesOf, withRenamedSecrets, type SecretReference } from '../../../lib/workloads/references.ts'
import {
  configMapEnv,
  configMapVolume,
  container,
  ephemeralContainer,
  kubeApiAccessVolume,
  makePod,
  projectedSecretVolume,
  secretEnv,
  secretEnvFrom,
  secretVolume,
} from '../helpers/objects.ts'

type Expected = Pick<SecretReference, 'secret' | 'via' | 'detail'> & { optional?: boolean }

describe('secretReferencesOf', () => {
  it.each<[string, V1Pod, Expected[]]>([
    ['a secret volume', makePod('p', { volumes: [secretVolume('token', 'app-token')] }), [{ secret: 'app-token', via: 'volume', detail: 'volume token' }]],
    [
      'an optional secret volume',
      makePod('p', { volumes: [secretVolume('token', 'app-token', true)] }),
      [{ secret: 'app-token', via: 'volume', detail: 'volume token', optional: true }],
    ],
    [
      'projected sources, each Secret once',
      makePod('p', { volumes: [projectedSecretVolume('bundle', 'a-token', 'b-token')] }),
      [
        { secret: 'a-token', via: 'projected', detail: 'volume bundle' },
        { secret: 'b-token', via: 'projected', detail: 'volume bundle' },
      ],
    ],
    [
      'env secretKeyRef in a container',
      makePod('p', { containers: [container('app', { env: [{ name: 'PLAIN', value: 'x' }, secretEnv('TOKEN', 'app-token')] })] }),
      [{ secret: 'app-token', via: 'env', detail: 'container app env TOKEN' }],
    ],
    [
      'an optional env secretKeyRef',
      makePod('p', { containers: [container('app', { env: [secretEnv('TOKEN', 'app-token', 'token', true)] })] }),
      [{ secret: 'app-token', via: 'env', detail: 'container app env TOKEN', optional: true }],
    ],
    [
      'envFrom secretRef',
      makePod('p', { containers: [container('app', { envFrom: [secretEnvFrom('app-token', 'K8S_')] })] }),
      [{ secret: 'app-token', via: 'envFrom', detail: 'container app envFrom' }],
    ],
    [
      'an init container',
      makePod('p', { initContainers: [container('setup', { env: [secretEnv('TOKEN', 'init-token')], envFrom: [secretEnvFrom('init-env')] })] }),
      [
        { secret: 'init-token', via: 'env', detail: 'init container setup env TOKEN' },
        { secret: 'init-env', via: 'envFrom', detail: 'init container setup envFrom' },
      ],
    ],
    [
      'an ephemeral container',
      makePod('p', { ephemeralContainers: [ephemeralContainer('debugger', { env: [secretEnv('TOKEN', 'debug-token')], envFrom: [secretEnvFrom('debug-env')] })] }),
      [
        { secret: 'debug-token', via: 'env', detail: 'ephemeral container debugger env TOKEN' },
        { secret: 'debug-env', via: 'envFrom', detail: 'ephemeral container debugger envFrom' },
      ],
    ],
    ['imagePullSecrets', makePod('p', { imagePullSecrets: ['registry-creds'] }), [{ secret: 'registry-creds', via: 'imagePullSecret', detail: 'imagePullSecrets' }]],
    [
      'ConfigMaps and the kube-api-access volume are not Secrets',
      makePod('p', {
        volumes: [configMapVolume('config'), kubeApiAccessVolume()],
        containers: [container('app', { env: [configMapEnv('MODE', 'config')], envFrom: [{ configMapRef: { name: 'config' } }] })],
      }),
      [],
    ],
    ['a pod without a spec', { metadata: { name: 'p', namespace: 'default' } }, []],
  ])('%s', (_name, pod, expected) => {
    const refs = secretReferencesOf(pod)
    expect(refs).toEqual(expected.map((e) => ({ ...e, key: `default/${e.secret}`, optional: e.optional ?? false })))
  })

  it('lists every reference in spec order and keys them in the pod namespace', () => {
    const pod = makePod('calico-node-abcde', {
      namespace: 'kube-system',
      volumes: [secretVolume('calico-token', 'calico-node-token-x7k2p'), projectedSecretVolume('certs', 'calico-certs')],
      initContainers: [container('install-cni', { env: [secretEnv('SA_TOKEN', 'calico-node-token-x7k2p')] })],
      containers: [container('calico-node', { envFrom: [secretEnvFrom('calico-env')] })],
      ephemeralContainers: [ephemeralContainer('debug', { env: [secretEnv('T', 'dbg')] })],
      imagePullSecrets: ['pull'],
    })
    expect(secretReferencesOf(pod).map((r) => `${r.via}:${r.key}`)).toEqual([
      'volume:kube-system/calico-node-token-x7k2p',
      'projected:kube-system/calico-certs',
      'env:kube-system/calico-node-token-x7k2p',
      'envFrom:kube-system/calico-env',
      'env:kube-system/dbg',
      'imagePullSecret:kube-system/pull',
    ])
  })
})

describe('boundTokenVolumesOf', () => {
  it.each<[string, V1Pod, string[]]>([
    ['the admission-added kube-api-access volume', makePod('p'), ['kube-api-access-7xq2m']],
    [
      'a hand-written projected token next to it',
      makePod('p', {
        volumes: [kubeApiAccessVolume('kube-api-access-abcde'), { name: 'vault', projected: { sources: [{ serviceAccountToken: { path: 't', audience: 'vault' } }] } }],
      }),
      ['kube-api-access-abcde', 'vault'],
    ],
    ['a projected volume of Secrets only', makePod('p', { volumes: [projectedSecretVolume('bundle', 'a')] }), []],
    ['automountServiceAccountToken: false (no volume)', makePod('p', { volumes: [] }), []],
  ])('%s', (_name, pod, expected) => {
    expect(boundTokenVolumesOf(pod)).toEqual(expected)
  })
})

describe('withRenamedSecrets', () => {
  const renamed = new Map([
    ['default/default-token-old11', 'default/default-token-new22'],
    ['other/default-token-old11', 'other/default-token-zzz99'],
  ])
  const pod = makePod('p', {
    volumes: [secretVolume('default-token-old11'), projectedSecretVolume('bundle', 'default-token-old11', 'keep-me'), kubeApiAccessVolume()],
    initContainers: [container('setup', { env: [secretEnv('T', 'default-token-old11')] })],
    containers: [container('app', { env: [secretEnv('K', 'keep-me')], envFrom: [secretEnvFrom('default-token-old11')] })],
    ephemeralContainers: [ephemeralContainer('debug', { envFrom: [secretEnvFrom('default-token-old11')] })],
    imagePullSecrets: ['default-token-old11', 'keep-me'],
  })

  it('rewrites every kind of reference in the namespace, and nothing else', () => {
    const spec = withRenamedSecrets(pod.spec!, 'default', renamed)
    expect(secretReferencesOf({ ...pod, spec }).map((r) => `${r.via}:${r.secret}`)).toEqual([
      'volume:default-token-new22',
      'projected:default-token-new22',
      'projected:keep-me',
      'env:default-token-new22',
      'env:keep-me',
      'envFrom:default-token-new22',
      'envFrom:default-token-new22',
      'imagePullSecret:default-token-new22',
      'imagePullSecret:keep-me',
    ])
    // The volume keeps its name: only the Secret it names changes.
    expect(spec.volumes?.[0]?.name).toBe('default-token-old11')
  })

  it('leaves the original spec alone', () => {
    const before = structuredClone(pod.spec)
    withRenamedSecrets(pod.spec!, 'default', renamed)
    expect(pod.spec).toEqual(before)
  })

  it('uses the renames of the pod namespace only', () => {
    const spec = withRenamedSecrets(pod.spec!, 'elsewhere', renamed)
    expect(spec).toEqual(pod.spec)
  })
})
