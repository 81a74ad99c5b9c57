import type { V1Secret } from '@kubernetes/client-node'
import { describe, expect, it } from 'vitest'
import { REGENERATED_AT_ANNOTATION, REPLACES_ANNOTATION } from '../../../lib/annotations.ts'
import { findDependentPods } from '../../../lib/workloads/dependents.ts'
import {
  dependencyTargets,
  parseRfc3339,
  podStartedAt,
  regeneratedSecretOf,
  startedBeforeRegeneration,
  type RegeneratedSecret,
} from '../../../lib/workloads/regenerated.ts'
import { kubeApiAccessVolume, makePod, makeSecret, secretVolume } from '../helpers/objects.ts'

const REGENERATED = '2026-01-01T12:00:00Z'

function annotated(name: string, annotations: Record<string, string>): V1Secret {
  const secret = makeSecret(name)
  secret.metadata!.annotations = { ...secret.metadata!.annotations, ...annotations }
  return secret
}

describe('parseRfc3339', () => {
  it.each([
    ['2026-01-01T12:00:00Z', Date.UTC(2026, 0, 1, 12)],
    ['2026-01-01T12:00:00.250Z', Date.UTC(2026, 0, 1, 12, 0, 0, 250)],
    ['2026-01-01T14:00:00+02:00', Date.UTC(2026, 0, 1, 12)],
    ['2026-01-01', undefined],
    ['yesterday', undefined],
    ['1767268800', undefined],
    [undefined, undefined],
  ])('%s → %s', (text, ms) => {
    expect(parseRfc3339(text)).toBe(ms)
  })
})

describe('regeneratedSecretOf', () => {
  it.each<[string, V1Secret, boolean, Partial<RegeneratedSecret> | undefined]>([
    ['an unmarked Secret is no target', makeSecret('a-token'), false, undefined],
    ['a marked Secret carries its time', annotated('a-token', { [REGENERATED_AT_ANNOTATION]: REGENERATED }), false, { key: 'default/a-token', regeneratedAt: '2026-01-01T12:00:00.000Z' }],
    ['a named, unmarked Secret counts every pod', makeSecret('a-token'), true, { key: 'default/a-token', note: expect.stringContaining('every pod') as unknown as string }],
    [
      'a malformed time counts every pod, and says so',
      annotated('a-token', { [REGENERATED_AT_ANNOTATION]: 'monday' }),
      false,
      { key: 'default/a-token', note: expect.stringContaining('"monday" is not an RFC 3339 time') as unknown as string },
    ],
    [
      'a re-created Secret names the one it replaced',
      annotated('a-token-new12', { [REPLACES_ANNOTATION]: 'a-token-old34', [REGENERATED_AT_ANNOTATION]: REGENERATED }),
      false,
      { key: 'default/a-token-new12', replaces: 'default/a-token-old34' },
    ],
  ])('%s', (_what, secret, named, expected) => {
    const found = regeneratedSecretOf(secret, named)
    if (expected === undefined) expect(found).toBeUndefined()
    else expect(found).toMatchObject(expected)
  })

  it('leaves regeneratedAt out when the time is unusable', () => {
    expect(regeneratedSecretOf(annotated('a-token', { [REGENERATED_AT_ANNOTATION]: 'monday' }))).not.toHaveProperty('regeneratedAt')
  })
})

describe('dependencyTargets', () => {
  it('targets every Secret and maps old names to new ones', () => {
    const secrets = [
      regeneratedSecretOf(annotated('a-token', { [REGENERATED_AT_ANNOTATION]: REGENERATED }))!,
      regeneratedSecretOf(annotated('b-token-new12', { [REPLACES_ANNOTATION]: 'b-token-old34' }))!,
    ]
    const { targetSecrets, renamedSecrets } = dependencyTargets(secrets)
    expect([...targetSecrets]).toEqual(['default/a-token', 'default/b-token-new12'])
    expect([...renamedSecrets]).toEqual([['default/b-token-old34', 'default/b-token-new12']])
  })
})

describe('podStartedAt', () => {
  it.each([
    ['startTime', makePod('a', { createdAt: '2026-01-01T11:00:00Z', startTime: '2026-01-01T11:00:05Z' }), Date.UTC(2026, 0, 1, 11, 0, 5)],
    ['creationTimestamp when not started', makePod('a', { phase: 'Pending', createdAt: '2026-01-01T11:00:00Z' }), Date.UTC(2026, 0, 1, 11)],
  ])('reads %s', (_what, pod, ms) => {
    expect(podStartedAt(pod)).toBe(ms)
  })
})

describe('startedBeforeRegeneration', () => {
  const secrets = [
    regeneratedSecretOf(annotated('a-token', { [REGENERATED_AT_ANNOTATION]: REGENERATED }))!,
    regeneratedSecretOf(makeSecret('named-token'), true)!,
    regeneratedSecretOf(annotated('c-token-new12', { [REPLACES_ANNOTATION]: 'c-token-old34', [REGENERATED_AT_ANNOTATION]: REGENERATED }))!,
  ]
  const withVolume = (name: string, secret: string, startTime: string | null, extra: Parameters<typeof makePod>[1] = {}) =>
    makePod(name, { volumes: [secretVolume('token', secret), kubeApiAccessVolume()], createdAt: '2026-01-01T10:00:00Z', startTime, ...extra })

  it.each([
    ['started before the regeneration: old token', withVolume('before', 'a-token', '2026-01-01T11:59:59Z'), true],
    ['started in the same second: new token (strictly before counts)', withVolume('same', 'a-token', REGENERATED), false],
    ['started after: new token', withVolume('after', 'a-token', '2026-01-01T12:00:01Z'), false],
    ['start unknown, created before: old token', withVolume('pending', 'a-token', null, { phase: 'Pending' }), true],
    ['start unknown, created after: new token', withVolume('late', 'a-token', null, { phase: 'Pending', createdAt: '2026-01-01T13:00:00Z' }), false],
    ['a named Secret without a time: any pod', withVolume('named', 'named-token', '2026-01-02T00:00:00Z'), true],
    ['the old name of a re-created Secret: any pod', withVolume('renamed', 'c-token-old34', '2026-01-02T00:00:00Z'), true],
  ])('%s', (_what, pod, dependent) => {
    const { targetSecrets, renamedSecrets } = dependencyTargets(secrets)
    const all = findDependentPods({ pods: [pod], targetSecrets, renamedSecrets })
    expect(all).toHaveLength(1)
    const { dependents, upToDate } = startedBeforeRegeneration(all, [pod], secrets)
    expect(dependents.map((d) => d.pod.name)).toEqual(dependent ? [pod.metadata!.name] : [])
    expect(upToDate.map((p) => p.name)).toEqual(dependent ? [] : [pod.metadata!.name])
  })

  it('keeps a bound-token reason of a pod whose Secret reference is already fresh', () => {
    const pod = withVolume('mixed', 'a-token', '2026-01-01T12:30:00Z')
    const { targetSecrets } = dependencyTargets(secrets)
    const all = findDependentPods({ pods: [pod], targetSecrets, boundBefore: new Date('2026-01-01T13:00:00Z') })
    const { dependents } = startedBeforeRegeneration(all, [pod], secrets)
    expect(dependents).toHaveLength(1)
    expect(dependents[0]!.reasons.map((r) => r.kind)).toEqual(['bound-token-before'])
  })
})
