import { describe, expect, it } from 'vitest'
import { looksLikeToken, quoteValue } from '../../../lib/token/shape.ts'
import { craftToken, wrapBase64 } from '../helpers/tokens.ts'

const jwt = craftToken({ alg: 'RS256', kid: 'k' }, { sub: 'system:serviceaccount:default:x' }, 'c2lnbmF0dXJlc2lnbmF0dXJl')
const base64Run = Buffer.from(Array.from({ length: 45 }, (_, i) => (i * 53 + 7) % 256)).toString('base64')

describe('looksLikeToken', () => {
  it.each([
    ['a JWT', jwt],
    ['a JWT after Bearer', `Bearer ${jwt}`],
    ['Bearer and anything', 'bearer abc'],
    ['base64 of a JWT', Buffer.from(jwt).toString('base64')],
    ['base64url of a JWT', Buffer.from(jwt).toString('base64url')],
    ['a JWT wrapped at 76 columns', wrapBase64(jwt)],
    ['a truncated base64 JWT', Buffer.from(jwt).toString('base64').slice(0, 20)],
    ['a JWT header alone', jwt.split('.')[0] ?? ''],
    ['a long base64 run', base64Run],
    ['a long base64 run inside a path', `ns/${base64Run}`],
  ])('%s: yes', (_name, value) => {
    expect(looksLikeToken(value)).toBe(true)
  })

  it.each([
    ['a namespace', 'kube-system'],
    ['a Secret name of 253 characters', `${'a'.repeat(120)}.${'b'.repeat(132)}`],
    ['a path', '/etc/kubernetes/pki/sa.pub'],
    ['a selector', 'app=web,tier!=db'],
    ['a flag', '--namespace'],
    ['a short mixed-case word', 'MyContext-Prod'],
    ['empty', ''],
  ])('%s: no', (_name, value) => {
    expect(looksLikeToken(value)).toBe(false)
  })
})

describe('quoteValue', () => {
  it('quotes an ordinary value, printable and on one line', () => {
    expect(quoteValue('kube-system')).toBe('"kube-system"')
    expect(quoteValue('a\nb\u001b[31m')).toBe('"a\\u000ab\\u001b[31m"')
  })

  it('describes a token without any of it', () => {
    const quoted = quoteValue(Buffer.from(jwt).toString('base64'))
    expect(quoted).toBe('a value that looks like a token (not shown)')
  })
})
