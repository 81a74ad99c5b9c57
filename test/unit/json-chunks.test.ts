import { describe, expect, it } from 'vitest'
import { jsonChunks } from '../../lib/report/json-chunks.ts'
import { Redactor } from '../../lib/redact.ts'

const replacer = (_key: string, value: unknown) => (value instanceof Error ? { name: value.name, message: value.message } : typeof value === 'bigint' ? value.toString() : value)
const many = <T,>(n: number, make: (i: number) => T): T[] => Array.from({ length: n }, (_, i) => make(i))

describe('jsonChunks', () => {
  const big = {
    steps: many(200, (i) => ({ id: `step-${i}`, at: new Date(Date.UTC(2026, 0, 1, 0, 0, i)), skipped: undefined, fn: () => i, error: i % 7 === 0 ? new Error(`boom ${i}\nsecond line`) : undefined, n: BigInt(i) })),
    sparse: [...many(70, (i) => (i % 3 === 0 ? undefined : i)), () => 1],
    allUndefined: Object.fromEntries(many(80, (i) => [`k${i}`, undefined])),
    nested: { rows: many(100, (i) => many(i % 5, (j) => ({ j, text: 'a "quoted"\nvalue' }))) },
    map: new Map([['a', 1]]),
    empty: { a: [], o: {} },
    nothing: null,
  }

  it.each([
    ['a big report', big],
    ['a small object', { a: 1, b: [1, 2], c: { d: 'x' } }],
    ['a bare string', 'text'],
    ['a big bare array', many(500, (i) => i)],
    ['an empty array', []],
  ])('joins to exactly what JSON.stringify writes: %s', (_name, value) => {
    const chunks = [...jsonChunks(value, replacer, 2, 512)]
    expect(chunks.join('')).toBe(JSON.stringify(value, replacer, 2))
  })

  it('cuts a big document into several chunks, each after a whole member', () => {
    const chunks = [...jsonChunks(big, replacer, 2, 512)]
    expect(chunks.length).toBeGreaterThan(10)
    for (const chunk of chunks.slice(1)) expect(chunk).toMatch(/^(,\n|\n)/)
  })

  it('never cuts a token, so the redactor hides every one chunk by chunk', () => {
    const token = `eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0.${'eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6ZGVmYXVsdDpkZWZhdWx0In0'.repeat(3)}.${'c2lnbmF0dXJl'.repeat(20)}`
    const report = { secrets: many(300, (i) => ({ name: `s-${i}`, token, base64: Buffer.from(token).toString('base64') })) }
    const redactor = new Redactor()
    const chunks = [...jsonChunks(report, replacer, 2, 300)]
    expect(chunks.length).toBeGreaterThan(100)
    const text = chunks.map((c) => redactor.redact(c)).join('')
    expect(text).not.toContain(token.slice(0, 40))
    expect(text).not.toContain(Buffer.from(token).toString('base64').slice(0, 40))
    expect(JSON.parse(text).secrets).toHaveLength(300)
  })
})
