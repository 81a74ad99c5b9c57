// The pods' proof: when the key change is dated, which projected tokens cannot
// be proven fine, and what a fresh plan still lists for a person.
import { describe, expect, it } from 'vitest'
import { findDependentPods } from '../../../lib/workloads/dependents.ts'
import { buildOwnerIndex } from '../../../lib/workloads/owners.ts'
import { judgePods, keyChangeCutoff, unprovenBoundTokens, type KeyChangeCutoff } from '../../../lib/workloads/proof.ts'
import { planRestarts } from '../../../lib/workloads/restart-plan.ts'
import { makePod, ownerRef, secretVolume } from '../helpers/objects.ts'

const NOW = new Date('2026-11-30T12:00:00Z')
const hoursAgo = (h: number) => new Date(NOW.getTime() - h * 3600_000).toISOString()
const secondBefore = (iso: string) => new Date(Date.parse(iso) - 1000).toISOString()

describe('keyChangeCutoff', () => {
  it.each([
    ['--bound-before wins over everything', { boundBefore: new Date(hoursAgo(5)), regeneratedAt: [hoursAgo(1)], staleFound: true }, { at: hoursAgo(5), source: 'bound-before' }],
    // regenerated-at is rounded up to the next second: the cutoff is the second before it.
    ['the earliest regeneration of the last 24 h', { regeneratedAt: [hoursAgo(1), hoursAgo(2), undefined], staleFound: false }, { at: secondBefore(hoursAgo(2)), source: 'regenerated-at' }],
    ['a regeneration older than 24 h is over: the kubelet re-issued every projected token since', { regeneratedAt: [hoursAgo(30)], staleFound: false }, undefined],
    ['an old regeneration does not date a new key change', { regeneratedAt: [hoursAgo(30), hoursAgo(1)], staleFound: false }, { at: secondBefore(hoursAgo(1)), source: 'regenerated-at' }],
    ['stale tokens found, nothing regenerated yet (a dry run): now', { regeneratedAt: [], staleFound: true }, { at: NOW.toISOString(), source: 'stale-tokens' }],
    ['no sign of a key change: no cutoff', { regeneratedAt: [undefined], staleFound: false }, undefined],
  ] as const)('%s', (_what, input, expected) => {
    const cutoff = keyChangeCutoff({ ...input, regeneratedAt: [...input.regeneratedAt], now: NOW })
    expect(cutoff === undefined ? undefined : { at: cutoff.at, source: cutoff.source }).toEqual(expected)
  })
})

describe('unprovenBoundTokens', () => {
  const inferred: KeyChangeCutoff = { at: hoursAgo(1), source: 'regenerated-at', why: 'regenerated' }
  const before = makePod('old', { startTime: hoursAgo(3), uid: 'u-old' })
  const after = makePod('new', { startTime: hoursAgo(0.5), uid: 'u-new' })
  const unknown = makePod('pending', { phase: 'Pending', startTime: null, createdAt: hoursAgo(2), uid: 'u-pending' })
  const noToken = makePod('opted-out', { startTime: hoursAgo(3), volumes: [], uid: 'u-opted-out' })
  const finished = makePod('done', { startTime: hoursAgo(3), phase: 'Succeeded', uid: 'u-done' })

  it('lists pods with a projected token that started before the cutoff, never passes them', () => {
    const left = unprovenBoundTokens([before, after, unknown, noToken, finished], inferred)
    expect(left.map((l) => l.pod.name)).toEqual(['old', 'pending'])
    expect(left[0]!.why).toMatch(/projected token \(volume kube-api-access-7xq2m\) bound at pod start .* may be signed by the retired key/)
    expect(left[0]!.fix).toBe(`restart it, or rerun with --bound-before ${inferred.at} to have it restarted`)
  })

  it('leaves out pods already accounted for, and every pod without a cutoff or with --bound-before (then they are restarted)', () => {
    expect(unprovenBoundTokens([before], inferred, new Set(['u-old']))).toEqual([])
    expect(unprovenBoundTokens([before], undefined)).toEqual([])
    expect(unprovenBoundTokens([before], { ...inferred, source: 'bound-before' })).toEqual([])
  })
})

describe('judgePods', () => {
  const bare = makePod('debug', { volumes: [secretVolume('token', 'debug-token')], uid: 'u-debug' })
  const owned = makePod('web-1', { volumes: [secretVolume('token', 'debug-token')], owner: ownerRef('ReplicaSet', 'web-abc'), uid: 'u-web' })
  const planOf = (pods: ReturnType<typeof makePod>[], recreateBarePods = false) => {
    const dependents = findDependentPods({ pods, targetSecrets: new Set(['default/debug-token']) })
    return planRestarts(dependents, { pods, owners: buildOwnerIndex(), recreateBarePods, renamedSecrets: new Map(), kubectlArgs: [], regeneratedAt: new Map() })
  }

  it('nothing left: ok, and says how many pods it looked at', () => {
    const proof = judgePods({ plan: planOf([]), unproven: [], checked: 7 })
    expect(proof).toMatchObject({ ok: true, lines: [], summary: 'none of the 7 pods in scope holds a token from before the repair' })
  })

  it('a refused bare pod fails, with the flag that fixes it', () => {
    const proof = judgePods({ plan: planOf([bare]), unproven: [], checked: 1 })
    expect(proof.ok).toBe(false)
    expect(proof.summary).toBe('1 pod may still hold an old token (1 bare pod refused)')
    expect(proof.lines).toEqual([expect.stringMatching(/^pod default\/debug \(.*debug\): references Secret default\/debug-token .*; rerun with --recreate-bare-pods, or re-create it yourself$/)])
  })

  it('a pod left by a skipped restart and a projected token both fail, each named', () => {
    const unproven = unprovenBoundTokens([makePod('site', { startTime: hoursAgo(3) })], { at: hoursAgo(1), source: 'regenerated-at', why: 'x' })
    const proof = judgePods({ plan: planOf([owned]), unproven, checked: 2 })
    expect(proof.ok).toBe(false)
    expect(proof.lines).toHaveLength(2)
    expect(proof.lines.join('\n')).toMatch(/pod default\/web-1 .*; rerun to restart it/)
    expect(proof.lines.join('\n')).toMatch(/pod default\/site: projected token/)
    expect(proof.summary).toMatch(/1 with a projected token bound before the key change/)
  })
})
