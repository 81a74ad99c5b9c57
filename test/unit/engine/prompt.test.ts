import { PassThrough } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { confirmQuestion, createTerminalConfirm, parseAnswer, scriptedConfirm, type ConfirmRequest } from '../../../lib/engine/prompt.ts'
import { memorySink } from '../../../lib/output.ts'

const request: ConfirmRequest = {
  index: 2,
  total: 5,
  step: { id: 'regenerate-secrets', title: 'Regenerate' },
  check: { needed: true, summary: '3 Secrets' },
}

describe('confirmQuestion', () => {
  it('names the step, and where it acts outside the scope: a separate consent', () => {
    expect(confirmQuestion(request)).toBe('Apply step 2/5 (regenerate-secrets)? [y]es / [s]kip / [q]uit: ')
    expect(confirmQuestion({ ...request, outside: 'namespace kube-system' })).toBe('Apply step 2/5 (regenerate-secrets) OUTSIDE the scope, in namespace kube-system? [y]es / [s]kip / [q]uit: ')
  })
})

describe('parseAnswer', () => {
  it.each([
    ['y', 'yes'],
    [' YES ', 'yes'],
    ['s', 'skip'],
    ['skip', 'skip'],
    ['n', undefined],
    ['no', undefined],
    ['q', 'quit'],
    ['Quit', 'quit'],
    ['', undefined],
    ['maybe', undefined],
  ])('%j → %s', (text, answer) => {
    expect(parseAnswer(text)).toBe(answer)
  })
})

describe('createTerminalConfirm', () => {
  it('asks on the output, re-asks on an unclear answer, and resolves the clear one', async () => {
    const input = new PassThrough()
    const output = memorySink()
    const answer = createTerminalConfirm({ input, output })(request)
    input.write('no\n')
    input.write('s\n')
    await expect(answer).resolves.toBe('skip')
    expect(output.text()).toContain('Apply step 2/5 (regenerate-secrets)? [y]es / [s]kip / [q]uit: ')
    expect(output.text()).toContain('Please answer y (apply), s (skip this step and the steps that need it) or q (quit: stop here, exit 1).')
  })

  it('treats the end of input (Ctrl-D) as quit', async () => {
    const input = new PassThrough()
    const answer = createTerminalConfirm({ input, output: memorySink() })(request)
    input.end()
    await expect(answer).resolves.toBe('quit')
  })
})

describe('scriptedConfirm', () => {
  it('replays its answers, then quits', async () => {
    const confirm = scriptedConfirm(['yes'])
    expect(await confirm(request)).toBe('yes')
    expect(await confirm(request)).toBe('quit')
    expect(confirm.asked).toHaveLength(2)
  })
})
