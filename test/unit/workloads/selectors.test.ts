import type { V1LabelSelector } from '@kubernetes/client-node'
import { describe, expect, it } from 'vitest'
import { selectorMatches } from '../../../lib/workloads/selectors.ts'

const web = { app: 'web', tier: 'frontend' }

describe('selectorMatches', () => {
  it.each<[string, V1LabelSelector | undefined, Record<string, string> | undefined, boolean]>([
    ['no selector selects nothing', undefined, web, false],
    ['an empty selector selects everything', {}, web, true],
    ['an empty selector selects an unlabelled pod', {}, undefined, true],
    ['matchLabels, all present', { matchLabels: { app: 'web' } }, web, true],
    ['matchLabels, one differs', { matchLabels: { app: 'web', tier: 'backend' } }, web, false],
    ['matchLabels, label missing', { matchLabels: { team: 'a' } }, web, false],
    ['matchLabels on an unlabelled pod', { matchLabels: { app: 'web' } }, undefined, false],
    ['In, value listed', { matchExpressions: [{ key: 'tier', operator: 'In', values: ['frontend', 'edge'] }] }, web, true],
    ['In, value not listed', { matchExpressions: [{ key: 'tier', operator: 'In', values: ['backend'] }] }, web, false],
    ['In, label missing', { matchExpressions: [{ key: 'zone', operator: 'In', values: ['a'] }] }, web, false],
    ['NotIn, value listed', { matchExpressions: [{ key: 'tier', operator: 'NotIn', values: ['frontend'] }] }, web, false],
    ['NotIn, value not listed', { matchExpressions: [{ key: 'tier', operator: 'NotIn', values: ['backend'] }] }, web, true],
    ['NotIn, label missing (matches, as in Kubernetes)', { matchExpressions: [{ key: 'zone', operator: 'NotIn', values: ['a'] }] }, web, true],
    ['Exists, present', { matchExpressions: [{ key: 'app', operator: 'Exists' }] }, web, true],
    ['Exists, missing', { matchExpressions: [{ key: 'zone', operator: 'Exists' }] }, web, false],
    ['DoesNotExist, missing', { matchExpressions: [{ key: 'zone', operator: 'DoesNotExist' }] }, web, true],
    ['DoesNotExist, present', { matchExpressions: [{ key: 'app', operator: 'DoesNotExist' }] }, web, false],
    [
      'matchLabels and expressions must all hold',
      { matchLabels: { app: 'web' }, matchExpressions: [{ key: 'tier', operator: 'In', values: ['frontend'] }, { key: 'canary', operator: 'DoesNotExist' }] },
      web,
      true,
    ],
    [
      'one failing expression fails the selector',
      { matchLabels: { app: 'web' }, matchExpressions: [{ key: 'tier', operator: 'In', values: ['frontend'] }, { key: 'app', operator: 'DoesNotExist' }] },
      web,
      false,
    ],
    ['a label named like an Object.prototype member is not inherited', { matchExpressions: [{ key: 'constructor', operator: 'Exists' }] }, web, false],
  ])('%s', (_name, selector, labels, expected) => {
    expect(selectorMatches(selector, labels)).toBe(expected)
  })

  it('rejects an operator the API server would not accept, naming it', () => {
    expect(() => selectorMatches({ matchExpressions: [{ key: 'app', operator: 'Gt', values: ['1'] }] }, web)).toThrow(
      /operator "Gt" on key "app" is not one of In, NotIn, Exists, DoesNotExist/,
    )
  })
})
