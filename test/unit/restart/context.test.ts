// restart-dependent-pods' context from its flags: --bound-before, and where pods are looked for.
import { describe, expect, it } from 'vitest'
import { UsageError } from '../../../lib/errors.ts'
import { parseBoundBefore, podNamespaces } from '../../../lib/restart/context.ts'

const NOW = new Date('2026-01-01T12:00:00Z')

describe('parseBoundBefore', () => {
  it.each([
    [undefined, undefined],
    ['now', NOW],
    ['NOW', NOW],
    ['2025-12-31T23:00:00Z', new Date('2025-12-31T23:00:00Z')],
    ['2026-01-01T13:00:00+01:00', NOW],
  ])('%s → %s', (text, date) => {
    expect(parseBoundBefore(text, NOW)).toEqual(date)
  })

  it.each(['yesterday', '2026-01-01', '1767268800'])('refuses %s with the expected form', (text) => {
    expect(() => parseBoundBefore(text, NOW)).toThrow(UsageError)
    expect(() => parseBoundBefore(text, NOW)).toThrow(/not an RFC 3339 time: write it like 2026-06-01T12:00:00Z, or now/)
  })
})

describe('podNamespaces', () => {
  it.each([
    ['-A: everywhere', { all: true } as const, [], false, { all: true }],
    ['the namespace in scope', { all: false, namespace: 'team-a' } as const, [], false, { all: false, namespaces: ['team-a'] }],
    ["--secret without -n: the Secrets' namespaces only", { all: false, namespace: 'default' } as const, ['kube-system/a', 'kube-system/b', 'calico-system/c'], false, { all: false, namespaces: ['kube-system', 'calico-system'] }],
    ['--secret with -n: both', { all: false, namespace: 'team-a' } as const, ['kube-system/a'], true, { all: false, namespaces: ['team-a', 'kube-system'] }],
    ['a bare --secret name: the namespace in scope', { all: false, namespace: 'team-a' } as const, ['a'], false, { all: false, namespaces: ['team-a'] }],
  ])('%s', (_what, scope, secrets, namespaceGiven, expected) => {
    expect(podNamespaces(scope, secrets, namespaceGiven)).toEqual(expected)
  })
})
