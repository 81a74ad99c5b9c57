import type { V1Pod } from '@kubernetes/client-node'
import { describe, expect, it } from 'vitest'
import {
  RESTART_PATCH_CONTENT_TYPE,
  RESTARTED_AT_ANNOTATION,
  restartedAtValue,
  restartPatch,
  startedBefore,
  templateRestartedSince,
} from '../../../lib/workloads/restarted-at.ts'

describe('restartPatch', () => {
  it('is the strategic merge patch kubectl rollout restart sends', () => {
    expect(RESTARTED_AT_ANNOTATION).toBe('kubectl.kubernetes.io/restartedAt')
    expect(RESTART_PATCH_CONTENT_TYPE).toBe('application/strategic-merge-patch+json')
    expect(JSON.stringify(restartPatch(new Date('2026-06-01T12:00:00.789Z')))).toBe(
      '{"spec":{"template":{"metadata":{"annotations":{"kubectl.kubernetes.io/restartedAt":"2026-06-01T12:00:00Z"}}}}}',
    )
  })

  it.each<[string, string]>([
    ['2026-06-01T12:00:00.000Z', '2026-06-01T12:00:00Z'],
    ['2026-06-01T14:00:00.999+02:00', '2026-06-01T12:00:00Z'],
    ['2026-12-31T23:59:59.500Z', '2026-12-31T23:59:59Z'],
  ])('stamps %s as %s (RFC 3339, UTC, whole seconds)', (now, expected) => {
    expect(restartedAtValue(new Date(now))).toBe(expected)
  })
})

describe('templateRestartedSince', () => {
  const template = (value?: string) => ({ metadata: value === undefined ? {} : { annotations: { [RESTARTED_AT_ANNOTATION]: value } } })
  it.each<[string, string | undefined, Date | string, boolean]>([
    ['our restart', '2026-06-01T12:00:00Z', '2026-06-01T12:00:00Z', true],
    ['our restart, asked with the millisecond Date it was made from', '2026-06-01T12:00:00Z', new Date('2026-06-01T12:00:00.789Z'), true],
    ['a later restart', '2026-06-01T12:05:00Z', '2026-06-01T12:00:00Z', true],
    ['kubectl in another time zone, same instant', '2026-06-01T14:00:00+02:00', '2026-06-01T12:00:00Z', true],
    ['an earlier restart', '2026-05-01T08:00:00Z', '2026-06-01T12:00:00Z', false],
    ['never restarted', undefined, '2026-06-01T12:00:00Z', false],
    ['an unreadable value', 'yesterday', '2026-06-01T12:00:00Z', false],
  ])('%s', (_name, annotation, restartedAt, expected) => {
    expect(templateRestartedSince(template(annotation), restartedAt)).toBe(expected)
  })

  it('is false without a template', () => {
    expect(templateRestartedSince(undefined, '2026-06-01T12:00:00Z')).toBe(false)
  })
})

describe('startedBefore', () => {
  const cutoff = Date.parse('2026-11-30T14:17:48.500Z')
  const pod = (restartedAt?: string): V1Pod => ({ metadata: { name: 'p', ...(restartedAt ? { annotations: { [RESTARTED_AT_ANNOTATION]: restartedAt } } : {}) } })
  const at = (iso: string) => Date.parse(iso)

  it('reads whole seconds before the cutoff as before, and later seconds as after', () => {
    expect(startedBefore(pod(), at('2026-11-30T14:17:47Z'), cutoff)).toBe(true)
    expect(startedBefore(pod(), at('2026-11-30T14:17:49Z'), cutoff)).toBe(false)
  })

  it('counts a pod made by a restart of the cutoff second or later as after, whatever its start second says', () => {
    expect(startedBefore(pod('2026-11-30T14:17:48Z'), at('2026-11-30T14:17:47Z'), cutoff)).toBe(false)
  })

  it("counts a pod of the cutoff's own second as after only when a restart of that second or later made it", () => {
    const sameSecond = at('2026-11-30T14:17:48Z')
    expect(startedBefore(pod('2026-11-30T14:17:48Z'), sameSecond, cutoff)).toBe(false)
    expect(startedBefore(pod('2026-11-30T14:17:49Z'), sameSecond, cutoff)).toBe(false)
    // No restart, or an older one: the start time cannot tell, so fail closed.
    expect(startedBefore(pod(), sameSecond, cutoff)).toBe(true)
    expect(startedBefore(pod('2026-11-30T14:17:47Z'), sameSecond, cutoff)).toBe(true)
  })

  it('reads a start at or after the cutoff itself as after', () => {
    expect(startedBefore(pod(), at('2026-11-30T14:17:48Z'), at('2026-11-30T14:17:48Z'))).toBe(false)
  })
})
