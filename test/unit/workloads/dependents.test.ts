import type { CoreV1Event, V1Pod } from '@kubernetes/client-node'
import { describe, expect, it } from 'vitest'
import {
  describeReason,
  findDependentPods,
  isStuckCreating,
  parseMissingSecretMessage,
  type DependencyReason,
  type DependentsInput,
} from '../../../lib/workloads/dependents.ts'
import {
  container,
  ephemeralContainer,
  kubeApiAccessVolume,
  makeEvent,
  makePod,
  projectedSecretVolume,
  secretEnv,
  secretEnvFrom,
  secretNotFoundMessage,
  secretVolume,
} from '../helpers/objects.ts'

const TOKEN = 'app-token-x7k2p'
const TARGETS = new Set([`default/${TOKEN}`])

function find(input: Partial<DependentsInput> & Pick<DependentsInput, 'pods'>) {
  return findDependentPods({ targetSecrets: TARGETS, ...input })
}

/** kind:secret-or-volume for each reason, to compare compactly. */
function brief(reason: DependencyReason): string {
  switch (reason.kind) {
    case 'references-secret':
      return `${reason.kind}:${reason.reference.via}:${reason.reference.secret}${reason.renamedTo ? `->${reason.renamedTo}` : ''}`
    case 'missing-secret':
      return `${reason.kind}:${reason.source}:${reason.secret}`
    case 'bound-token-before':
      return `${reason.kind}:${reason.volume}`
  }
}

describe('findDependentPods: Secret references', () => {
  it.each<[string, V1Pod, string[]]>([
    ['secret volume', makePod('a', { volumes: [secretVolume('token', TOKEN)] }), ['references-secret:volume:app-token-x7k2p']],
    ['projected secret source', makePod('a', { volumes: [projectedSecretVolume('bundle', 'ca', TOKEN)] }), ['references-secret:projected:app-token-x7k2p']],
    ['env secretKeyRef', makePod('a', { containers: [container('app', { env: [secretEnv('T', TOKEN)] })] }), ['references-secret:env:app-token-x7k2p']],
    ['envFrom secretRef', makePod('a', { containers: [container('app', { envFrom: [secretEnvFrom(TOKEN)] })] }), ['references-secret:envFrom:app-token-x7k2p']],
    ['imagePullSecrets', makePod('a', { imagePullSecrets: [TOKEN] }), ['references-secret:imagePullSecret:app-token-x7k2p']],
    ['init container env', makePod('a', { initContainers: [container('init', { env: [secretEnv('T', TOKEN)] })] }), ['references-secret:env:app-token-x7k2p']],
    [
      'ephemeral container envFrom',
      makePod('a', { ephemeralContainers: [ephemeralContainer('dbg', { envFrom: [secretEnvFrom(TOKEN)] })] }),
      ['references-secret:envFrom:app-token-x7k2p'],
    ],
    [
      'several ways at once, each kept',
      makePod('a', { volumes: [secretVolume('token', TOKEN)], containers: [container('app', { env: [secretEnv('T', TOKEN)] })] }),
      ['references-secret:volume:app-token-x7k2p', 'references-secret:env:app-token-x7k2p'],
    ],
    ['a Secret that was not regenerated', makePod('a', { volumes: [secretVolume('token', 'other-token')] }), []],
    ['the same name in another namespace', makePod('a', { namespace: 'other', volumes: [secretVolume('token', TOKEN)] }), []],
  ])('%s', (_name, pod, expected) => {
    const found = find({ pods: [pod] })
    expect(found.flatMap((d) => d.reasons.map(brief))).toEqual(expected)
    if (expected.length > 0) expect(found[0]?.pod).toEqual({ namespace: pod.metadata?.namespace, name: 'a', uid: pod.metadata?.uid })
  })

  it.each<[string, V1Pod]>([
    ['being deleted', makePod('a', { volumes: [secretVolume('token', TOKEN)], deletionTimestamp: '2026-06-01T11:59:00Z' })],
    ['Succeeded', makePod('a', { volumes: [secretVolume('token', TOKEN)], phase: 'Succeeded' })],
    ['Failed', makePod('a', { volumes: [secretVolume('token', TOKEN)], phase: 'Failed' })],
  ])('ignores a pod that is %s', (_name, pod) => {
    expect(find({ pods: [pod] })).toEqual([])
  })
})

describe('findDependentPods: renamed Secrets (before 1.24)', () => {
  const renamedSecrets = new Map([['default/default-token-old11', 'default/default-token-new22']])

  it('counts a pod that names the old name, and says what it became', () => {
    const pod = makePod('a', { volumes: [secretVolume('default-token-old11')] })
    const [dependent] = find({ pods: [pod], targetSecrets: new Set(['default/default-token-new22']), renamedSecrets })
    expect(dependent?.reasons.map(brief)).toEqual(['references-secret:volume:default-token-old11->default/default-token-new22'])
  })

  it('counts a pod that names the new name as an ordinary reference', () => {
    const pod = makePod('a', { volumes: [secretVolume('default-token-new22')] })
    const found = find({ pods: [pod], targetSecrets: new Set(['default/default-token-new22']), renamedSecrets })
    expect(found.flatMap((d) => d.reasons.map(brief))).toEqual(['references-secret:volume:default-token-new22'])
  })

  it('leaves a pod of another namespace with the same old name alone', () => {
    const pod = makePod('a', { namespace: 'other', volumes: [secretVolume('default-token-old11')] })
    expect(find({ pods: [pod], targetSecrets: new Set(), renamedSecrets })).toEqual([])
  })
})

describe('parseMissingSecretMessage', () => {
  it.each<[string, string | undefined, ReturnType<typeof parseMissingSecretMessage>]>([
    ['a secret volume', secretNotFoundMessage('default-token-x7k2p'), { volume: 'default-token-x7k2p', secrets: ['default-token-x7k2p'] }],
    ['volume and Secret named differently', secretNotFoundMessage('token', 'app-token-x7k2p'), { volume: 'token', secrets: ['app-token-x7k2p'] }],
    [
      'a projected volume missing two Secrets',
      'MountVolume.SetUp failed for volume "bundle" : [secret "a" not found, secret "b" not found]',
      { volume: 'bundle', secrets: ['a', 'b'] },
    ],
    ['the API wording (plural)', 'MountVolume.SetUp failed for volume "token" : secrets "app-token" not found', { volume: 'token', secrets: ['app-token'] }],
    ['a ConfigMap', 'MountVolume.SetUp failed for volume "config" : configmap "config" not found', undefined],
    ['a cache timeout', 'MountVolume.SetUp failed for volume "default-token-bgg5p" : failed to sync secret cache: timed out waiting for the condition', undefined],
    ['an attach timeout', 'Unable to attach or mount volumes: unmounted volumes=[token], unattached volumes=[]: timed out waiting for the condition', undefined],
    ['no message', undefined, undefined],
  ])('%s', (_name, message, expected) => {
    expect(parseMissingSecretMessage(message)).toEqual(expected)
  })
})

describe('isStuckCreating', () => {
  it.each<[string, V1Pod, boolean]>([
    ['Pending, waiting in ContainerCreating', makePod('a', { phase: 'Pending', waiting: 'ContainerCreating' }), true],
    ['Pending with init containers, waiting in PodInitializing', makePod('a', { phase: 'Pending', waiting: 'PodInitializing', initContainers: [container('init')] }), true],
    ['Pending, waiting in ImagePullBackOff', makePod('a', { phase: 'Pending', waiting: 'ImagePullBackOff' }), false],
    ['Running', makePod('a'), false],
    ['Running but a container waits in ContainerCreating (not Pending)', makePod('a', { waiting: 'ContainerCreating' }), false],
  ])('%s', (_name, pod, expected) => {
    expect(isStuckCreating(pod)).toBe(expected)
  })
})

describe('findDependentPods: pods stuck on a missing Secret', () => {
  const stuck = (options: Parameters<typeof makePod>[1] = {}) =>
    makePod('web-abc12', { phase: 'Pending', waiting: 'ContainerCreating', volumes: [secretVolume('default-token-x7k2p'), secretVolume('config', 'app-config')], ...options })
  const stuckPod = stuck()
  const running = makePod('web-abc12', { volumes: [secretVolume('default-token-x7k2p')] })
  const otherPod = makePod('other-0', { phase: 'Pending', waiting: 'ContainerCreating' })

  it.each<[string, V1Pod, CoreV1Event[], Partial<DependentsInput>, string[]]>([
    [
      "the ServiceAccount's legacy token (name <sa>-token-xxxxx), never listed",
      stuckPod,
      [makeEvent(stuckPod, { message: secretNotFoundMessage('default-token-x7k2p') })],
      { targetSecrets: new Set() },
      ['missing-secret:event:default/default-token-x7k2p'],
    ],
    [
      'a regenerated token Secret',
      stuck({ volumes: [secretVolume('token', TOKEN)] }),
      [makeEvent(stuck({ volumes: [secretVolume('token', TOKEN)] }), { message: secretNotFoundMessage('token', TOKEN) })],
      {},
      ['references-secret:volume:app-token-x7k2p', `missing-secret:event:default/${TOKEN}`],
    ],
    [
      'a Secret the caller listed as missing',
      stuck({ volumes: [secretVolume('creds', 'robot-creds')] }),
      [makeEvent(stuck(), { message: secretNotFoundMessage('creds', 'robot-creds') })],
      { targetSecrets: new Set(), missingSecrets: new Set(['default/robot-creds']) },
      ['missing-secret:event:default/robot-creds'],
    ],
    [
      'the old name of a renamed Secret',
      stuck({ volumes: [secretVolume('token', 'robot-old')] }),
      [makeEvent(stuck(), { message: secretNotFoundMessage('token', 'robot-old') })],
      { targetSecrets: new Set(), renamedSecrets: new Map([['default/robot-old', 'default/robot-new']]) },
      ['references-secret:volume:robot-old->default/robot-new', 'missing-secret:event:default/robot-old'],
    ],
    [
      'a message about a different, application Secret',
      stuckPod,
      [makeEvent(stuckPod, { message: secretNotFoundMessage('config', 'app-config') })],
      { targetSecrets: new Set() },
      [],
    ],
    [
      'a token-like name of another ServiceAccount',
      stuckPod,
      [makeEvent(stuckPod, { message: secretNotFoundMessage('t', 'builder-token-x7k2p') })],
      { targetSecrets: new Set() },
      [],
    ],
    [
      'a message that is not about a missing Secret',
      stuckPod,
      [makeEvent(stuckPod, { message: 'MountVolume.SetUp failed for volume "default-token-x7k2p" : failed to sync secret cache: timed out waiting for the condition' })],
      { targetSecrets: new Set() },
      [],
    ],
    [
      'an event of another reason',
      stuckPod,
      [makeEvent(stuckPod, { reason: 'FailedScheduling', message: secretNotFoundMessage('default-token-x7k2p') })],
      { targetSecrets: new Set() },
      [],
    ],
    [
      'an event about another pod',
      stuckPod,
      [makeEvent(otherPod, { message: secretNotFoundMessage('default-token-x7k2p') })],
      { targetSecrets: new Set() },
      [],
    ],
    [
      'an event about an earlier pod of the same name (other uid)',
      stuckPod,
      [makeEvent(stuckPod, { message: secretNotFoundMessage('default-token-x7k2p'), uid: 'uid-of-an-earlier-pod' })],
      { targetSecrets: new Set() },
      [],
    ],
    [
      'an event without a uid still counts',
      stuckPod,
      [makeEvent(stuckPod, { message: secretNotFoundMessage('default-token-x7k2p'), uid: null })],
      { targetSecrets: new Set() },
      ['missing-secret:event:default/default-token-x7k2p'],
    ],
    [
      'a running pod with an old FailedMount event',
      running,
      [makeEvent(running, { message: secretNotFoundMessage('default-token-x7k2p') })],
      { targetSecrets: new Set() },
      [],
    ],
    [
      'repeated events for one Secret give one reason',
      stuckPod,
      [
        makeEvent(stuckPod, { message: secretNotFoundMessage('default-token-x7k2p'), name: 'e1' }),
        makeEvent(stuckPod, { message: secretNotFoundMessage('default-token-x7k2p'), name: 'e2' }),
      ],
      { targetSecrets: new Set() },
      ['missing-secret:event:default/default-token-x7k2p'],
    ],
    [
      'a pod with init containers, stuck in PodInitializing',
      stuck({ waiting: 'PodInitializing', initContainers: [container('init')] }),
      [makeEvent(stuckPod, { message: secretNotFoundMessage('default-token-x7k2p') })],
      { targetSecrets: new Set() },
      ['missing-secret:event:default/default-token-x7k2p'],
    ],
  ])('%s', (_name, pod, events, input, expected) => {
    const found = find({ pods: [pod], events, ...input })
    expect(found.flatMap((d) => d.reasons.map(brief))).toEqual(expected)
  })

  it('keeps the message, the volume and how the pod names the Secret', () => {
    const message = secretNotFoundMessage('default-token-x7k2p')
    const [dependent] = find({ pods: [stuckPod], events: [makeEvent(stuckPod, { message })], targetSecrets: new Set() })
    expect(dependent?.reasons).toEqual([
      {
        kind: 'missing-secret',
        secret: 'default/default-token-x7k2p',
        source: 'event',
        volume: 'default-token-x7k2p',
        message,
        reference: { secret: 'default-token-x7k2p', key: 'default/default-token-x7k2p', via: 'volume', detail: 'volume default-token-x7k2p', optional: false },
      },
    ])
  })

  it('reads missingSecrets without events, and prefers the event when both tell', () => {
    const pod = makePod('a', { volumes: [secretVolume('creds', 'robot-creds')], containers: [container('app', { env: [secretEnv('T', 'robot-creds')] })] })
    const missingSecrets = new Set(['default/robot-creds'])
    expect(find({ pods: [pod], missingSecrets, targetSecrets: new Set() }).flatMap((d) => d.reasons.map(brief))).toEqual(['missing-secret:lookup:default/robot-creds'])

    const stuckToo = stuck({ volumes: [secretVolume('creds', 'robot-creds')] })
    const events = [makeEvent(stuckToo, { message: secretNotFoundMessage('creds', 'robot-creds') })]
    expect(find({ pods: [stuckToo], events, missingSecrets, targetSecrets: new Set() }).flatMap((d) => d.reasons.map(brief))).toEqual([
      'missing-secret:event:default/robot-creds',
    ])
  })
})

describe('findDependentPods: Secrets a kubelet log names, confirmed gone by the API', () => {
  it.each<[string, V1Pod, string[]]>([
    ['a token Secret named like the pod account\'s', makePod('a', { serviceAccountName: 'app', volumes: [secretVolume('token', 'app-token-x7k2p')] }), ['missing-secret:kubelet-log:default/app-token-x7k2p']],
    ['a regenerated one, whatever its name', makePod('a', { volumes: [secretVolume('token', 'robot-creds')] }), []],
    ['an application Secret: not a token problem', makePod('a', { volumes: [secretVolume('db', 'db-password')] }), []],
    ['a Secret the pod does not name', makePod('a', { serviceAccountName: 'app' }), []],
  ])('%s', (_name, pod, reasons) => {
    const loggedMissingSecrets = new Set(['default/app-token-x7k2p', 'default/db-password'])
    expect(find({ pods: [pod], loggedMissingSecrets, targetSecrets: new Set() }).flatMap((d) => d.reasons.map(brief))).toEqual(reasons)
  })

  it('counts a regenerated Secret the log names, and describes where the evidence came from', () => {
    const pod = makePod('a', { volumes: [secretVolume('token', 'robot-creds')] })
    const [dependent] = find({ pods: [pod], loggedMissingSecrets: new Set(['default/robot-creds']), targetSecrets: new Set(['default/other']), renamedSecrets: new Map([['default/robot-creds', 'default/robot-creds-2']]) })
    expect(dependent?.reasons.map(describeReason)).toEqual([
      'references Secret default/robot-creds, since re-created as default/robot-creds-2 (volume token)',
      'references missing Secret default/robot-creds (volume token), named in the kubelet log and gone from the API',
    ])
    const [logged] = find({ pods: [pod], loggedMissingSecrets: new Set(['default/robot-creds']), targetSecrets: new Set(['default/robot-creds']) })
      .flatMap((d) => d.reasons)
      .filter((r) => r.kind === 'missing-secret')
    expect(logged && describeReason(logged)).toBe('references missing Secret default/robot-creds (volume token), named in the kubelet log and gone from the API')
  })
})

describe('findDependentPods: bound tokens issued before the key changed', () => {
  const boundBefore = new Date('2026-06-01T12:00:00Z')

  it.each<[string, V1Pod, Date | undefined, string[]]>([
    ['started before', makePod('a', { startTime: '2026-06-01T11:00:00Z' }), boundBefore, ['bound-token-before:kube-api-access-7xq2m']],
    ['started after', makePod('a', { startTime: '2026-06-01T12:05:00Z' }), boundBefore, []],
    ['started exactly then', makePod('a', { startTime: boundBefore }), boundBefore, []],
    ['no startTime: creationTimestamp decides', makePod('a', { startTime: null, createdAt: '2026-05-01T00:00:00Z' }), boundBefore, ['bound-token-before:kube-api-access-7xq2m']],
    ['startTime wins over an older creationTimestamp', makePod('a', { createdAt: '2026-05-01T00:00:00Z', startTime: '2026-06-01T12:30:00Z' }), boundBefore, []],
    ['no projected token (automount off)', makePod('a', { volumes: [], startTime: '2026-06-01T11:00:00Z' }), boundBefore, []],
    ['no boundBefore given', makePod('a', { startTime: '2026-06-01T11:00:00Z' }), undefined, []],
    [
      'two projected token volumes',
      makePod('a', {
        startTime: '2026-06-01T11:00:00Z',
        volumes: [kubeApiAccessVolume(), { name: 'vault', projected: { sources: [{ serviceAccountToken: { path: 't', audience: 'vault' } }] } }],
      }),
      boundBefore,
      ['bound-token-before:kube-api-access-7xq2m', 'bound-token-before:vault'],
    ],
  ])('%s', (_name, pod, before, expected) => {
    const found = find({ pods: [pod], targetSecrets: new Set(), ...(before ? { boundBefore: before } : {}) })
    expect(found.flatMap((d) => d.reasons.map(brief))).toEqual(expected)
  })

  it('accepts timestamps read as raw JSON strings', () => {
    const pod = makePod('a')
    const raw = { ...pod, status: { ...pod.status, startTime: '2026-06-01T11:00:00Z' as unknown as Date } }
    const [dependent] = find({ pods: [raw], targetSecrets: new Set(), boundBefore })
    expect(dependent?.reasons).toEqual([
      { kind: 'bound-token-before', volume: 'kube-api-access-7xq2m', startedAt: '2026-06-01T11:00:00.000Z', boundBefore: '2026-06-01T12:00:00.000Z' },
    ])
  })
})

describe('findDependentPods: the result', () => {
  it('lists reasons in order (references, missing, bound) and pods by namespace then name', () => {
    const boundBefore = new Date('2026-06-01T12:00:00Z')
    const pods = [
      makePod('zeta', { namespace: 'default', volumes: [secretVolume('token', TOKEN)] }),
      makePod('alpha', { namespace: 'kube-system', startTime: '2026-06-01T11:00:00Z' }),
      makePod('beta', {
        namespace: 'default',
        startTime: '2026-06-01T11:00:00Z',
        volumes: [kubeApiAccessVolume(), secretVolume('creds', 'robot-creds')],
        containers: [container('app', { env: [secretEnv('T', TOKEN)] })],
      }),
      makePod('unrelated', { namespace: 'default', startTime: '2026-06-01T12:30:00Z' }),
    ]
    const found = find({ pods, boundBefore, missingSecrets: new Set(['default/robot-creds']) })
    expect(found.map((d) => `${d.pod.namespace}/${d.pod.name}`)).toEqual(['default/beta', 'default/zeta', 'kube-system/alpha'])
    expect(found[0]?.reasons.map(brief)).toEqual([
      'references-secret:env:app-token-x7k2p',
      'missing-secret:lookup:default/robot-creds',
      'bound-token-before:kube-api-access-7xq2m',
    ])
  })
})

describe('describeReason', () => {
  const reference = { secret: TOKEN, key: `default/${TOKEN}`, via: 'volume', detail: 'volume token', optional: false } as const
  it.each<[DependencyReason, string]>([
    [{ kind: 'references-secret', reference }, `references Secret default/${TOKEN} (volume token)`],
    [{ kind: 'references-secret', reference, renamedTo: 'default/new-token' }, `references Secret default/${TOKEN}, since re-created as default/new-token (volume token)`],
    [{ kind: 'missing-secret', secret: 'default/x', source: 'event', volume: 'token', message: 'm' }, 'stuck in ContainerCreating: Secret default/x not found (volume token)'],
    [{ kind: 'missing-secret', secret: `default/${TOKEN}`, source: 'lookup', reference }, `references missing Secret default/${TOKEN} (volume token)`],
    [
      { kind: 'bound-token-before', volume: 'kube-api-access-1', startedAt: '2026-06-01T11:00:00.000Z', boundBefore: '2026-06-01T12:00:00.000Z' },
      'bound token in volume kube-api-access-1 issued before 2026-06-01T12:00:00.000Z (pod started 2026-06-01T11:00:00.000Z)',
    ],
  ])('%j', (reason, expected) => {
    expect(describeReason(reason)).toBe(expected)
  })
})
