import { describe, expect, it } from 'vitest'
import { UsageError } from '../../../lib/errors.ts'
import { isDns1123Label, isDns1123Subdomain, parseSecretRef } from '../../../lib/kube/token-secrets.ts'
import { craftToken, wrapBase64 } from '../helpers/tokens.ts'

const jwt = craftToken({ alg: 'RS256', kid: 'k' }, { sub: 'system:serviceaccount:default:x' }, 'c2lnbmF0dXJlc2lnbmF0dXJl')

describe('parseSecretRef', () => {
  it.each([
    ['kube-system/my-token', { namespace: 'kube-system', name: 'my-token' }],
    ['my-token', { namespace: 'team-a', name: 'my-token' }],
    ['default/app.v2-token-x7k2p', { namespace: 'default', name: 'app.v2-token-x7k2p' }],
    [`ns/${'a'.repeat(253)}`, { namespace: 'ns', name: 'a'.repeat(253) }],
  ])('%s', (ref, expected) => {
    expect(parseSecretRef(ref, 'team-a')).toEqual(expected)
  })

  it.each([
    ['a/b/c', /^--secret "a\/b\/c" is not <namespace>\/<name>: write it like kube-system\/my-token$/],
    ['/x', /is not <namespace>\/<name>/],
    ['', /is not <namespace>\/<name>/],
    ['Kube-System/x', /^--secret "Kube-System\/x": namespace "Kube-System" is not a valid namespace name \(at most 63 lowercase/],
    [`${'n'.repeat(64)}/x`, /is not a valid namespace name/],
    ['ns/My_Token', /^--secret "ns\/My_Token": "My_Token" is not a valid Secret name \(at most 253 lowercase/],
    ['ns/a..b', /is not a valid Secret name/],
    ['ns/-a', /is not a valid Secret name/],
    [`ns/${'a'.repeat(254)}`, /is not a valid Secret name/],
  ])('rejects %j before any request', (ref, message) => {
    const attempt = () => parseSecretRef(ref, 'default')
    expect(attempt).toThrow(UsageError)
    expect(attempt).toThrow(message)
  })

  it.each([
    ['a raw JWT', jwt],
    ['a base64-wrapped JWT', Buffer.from(jwt).toString('base64')],
    ['a 76-column wrapped JWT', wrapBase64(jwt)],
    ['a namespace, then a wrapped JWT', `default/${Buffer.from(jwt).toString('base64')}`],
  ])('describes %s instead of echoing it', (_name, ref) => {
    let message = ''
    try {
      parseSecretRef(ref, 'default')
    } catch (err) {
      expect(err).toBeInstanceOf(UsageError)
      message = (err as Error).message
    }
    expect(message).toMatch(/^--secret a value that looks like a token \(not shown\) is not <namespace>\/<name>; pass tokens with --token-file -/)
    expect(message).not.toContain(ref.replace(/^default\//, '').slice(0, 12))
    expect(message.split('\n')).toHaveLength(1)
  })
})

describe('Kubernetes name rules', () => {
  it.each([
    ['a', true, true],
    ['a-b', true, true],
    ['a.b', false, true],
    ['A', false, false],
    ['-a', false, false],
    ['a-', false, false],
    ['', false, false],
    ['a'.repeat(63), true, true],
    ['a'.repeat(64), false, true],
  ])('%s: label %s, subdomain %s', (value, label, subdomain) => {
    expect(isDns1123Label(value)).toBe(label)
    expect(isDns1123Subdomain(value)).toBe(subdomain)
  })
})
