import { describe, expect, it } from 'vitest'
import { createOutput, memorySink, type OutputFormat } from '../../lib/output.ts'

// A stand-in for lib/redact.ts: masks one known token.
const redactor = { redact: (text: string) => text.replaceAll('eyJsecret', '<redacted>') }

function makeOutput(format: OutputFormat, { isTTY = false, noColor = false } = {}) {
  const stdout = memorySink()
  const stderr = memorySink(isTTY)
  return { stdout, stderr, output: createOutput({ format, stdout, stderr, isTTY, noColor, redactor }) }
}

describe('createOutput', () => {
  it('sends progress and prose to stderr and results to stdout', () => {
    const { output, stdout, stderr } = makeOutput('text')
    output.progress('[1/2] Find Secrets')
    output.info('prose')
    output.warn('careful')
    output.error('bad')
    output.result({ n: 2 }, (r) => `found ${r.n}`)
    expect(stderr.text()).toBe('[1/2] Find Secrets\nprose\nwarning: careful\nerror: bad\n')
    expect(stdout.text()).toBe('found 2\n')
  })

  it('passes every line, on both streams, through the redactor', () => {
    const { output, stdout, stderr } = makeOutput('text')
    output.info('token eyJsecret in a log line')
    output.status('status eyJsecret')
    output.result('result eyJsecret')
    expect(stderr.text()).not.toContain('eyJsecret')
    expect(stdout.text()).toBe('result <redacted>\n')
  })

  it('--output json writes exactly one parseable document on stdout, redacted', () => {
    const { output, stdout, stderr } = makeOutput('json')
    output.progress('[1/1] step')
    output.result({ ok: true, token: 'eyJsecret', error: new Error('x') })
    const parsed = JSON.parse(stdout.text())
    expect(parsed).toEqual({ ok: true, token: '<redacted>', error: { name: 'Error', message: 'x' } })
    expect(stderr.text()).toBe('[1/1] step\n')
    expect(() => output.result({ again: true })).toThrow(/one JSON document/)
    expect(stdout.text().trim().split('\n').at(-1)).toBe('}')
  })

  it.each([
    [true, false, true],
    [true, true, false],
    [false, false, false],
  ])('isTTY=%s NO_COLOR=%s → colour %s', (isTTY, noColor, coloured) => {
    const { output, stderr } = makeOutput('text', { isTTY, noColor })
    output.warn('x')
    expect(output.color).toBe(coloured)
    expect(stderr.text().includes('\u001b[')).toBe(coloured)
  })

  it('on a terminal, a status line is rewritten in place and cleared before the next permanent line', () => {
    const { output, stderr } = makeOutput('text', { isTTY: true, noColor: true })
    output.status('waiting 1/3')
    output.status('waiting 2/3')
    output.info('done')
    expect(stderr.text()).toBe('\r\u001b[Kwaiting 1/3\r\u001b[Kwaiting 2/3\r\u001b[Kdone\n')
  })

  it('off a terminal, a status line is a plain line', () => {
    const { output, stderr } = makeOutput('text')
    output.status('waiting 1/3')
    output.endStatus('all 3 ready')
    expect(stderr.text()).toBe('waiting 1/3\nall 3 ready\n')
  })
})
