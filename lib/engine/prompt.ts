// The one place that asks a person something. The engine receives a
// `Confirm` function, so tests answer with a script instead of a terminal.
import { createInterface } from 'node:readline'
import type { Check } from './types.ts'

export const Answers = ['yes', 'skip', 'quit'] as const
export type Answer = (typeof Answers)[number]

export interface ConfirmRequest {
  /** 1-based position of the step. */
  index: number
  total: number
  step: { id: string; title: string }
  check: Check<unknown>
  /** Where the step acts outside the run's scope (`namespace kube-system`); the question names it. */
  outside?: string
}

/** Asks whether to apply one step. The engine has already printed what the step found. */
export type Confirm = (request: ConfirmRequest) => Promise<Answer>

const answerWords: Record<string, Answer> = {
  y: 'yes',
  yes: 'yes',
  s: 'skip',
  skip: 'skip',
  q: 'quit',
  quit: 'quit',
}

/**
 * `y`/`yes` → yes, `s`/`skip` → skip, `q`/`quit` → quit; anything else,
 * `n`/`no` included, → undefined (asked again): "no" could mean skip this
 * step or stop everything, and guessing wrong on a cluster that matters is
 * worse than asking once more.
 */
export function parseAnswer(text: string): Answer | undefined {
  return answerWords[text.trim().toLowerCase()]
}

export function confirmQuestion(request: ConfirmRequest): string {
  const where = request.outside ? ` OUTSIDE the scope, in ${request.outside}` : ''
  return `Apply step ${request.index}/${request.total} (${request.step.id})${where}? [y]es / [s]kip / [q]uit: `
}

export interface TerminalConfirmOptions {
  input: NodeJS.ReadableStream
  /** Where the question is written: stderr, so stdout keeps only results. */
  output: { write(chunk: string): unknown }
}

/**
 * A Confirm that asks on a terminal and asks again on an unclear answer.
 * Written on node:readline rather than zx's `question` because that one
 * writes to stdout and never settles when input ends (Ctrl-D); here end of
 * input means quit, the safe answer. The terminal stays in line mode (it
 * echoes what is typed), and each question reads only the line typed after
 * it: a line typed ahead of time does not confirm a later step.
 */
export function createTerminalConfirm({ input, output }: TerminalConfirmOptions): Confirm {
  return (request) =>
    new Promise<Answer>((resolve) => {
      const rl = createInterface({ input, terminal: false })
      let settled = false
      const finish = (answer: Answer) => {
        if (settled) return
        settled = true
        rl.close()
        resolve(answer)
      }
      rl.once('close', () => finish('quit'))
      rl.on('line', (text) => {
        const answer = parseAnswer(text)
        if (answer) return finish(answer)
        output.write(`Please answer y (apply), s (skip this step and the steps that need it) or q (quit: stop here, exit 1).\n${confirmQuestion(request)}`)
      })
      output.write(confirmQuestion(request))
    })
}

/** A Confirm that replays fixed answers in order (tests, scripted demos); quits when they run out. */
export function scriptedConfirm(answers: readonly Answer[]): Confirm & { asked: ConfirmRequest[] } {
  const asked: ConfirmRequest[] = []
  const confirm = async (request: ConfirmRequest): Promise<Answer> => {
    asked.push(request)
    return answers[asked.length - 1] ?? 'quit'
  }
  return Object.assign(confirm, { asked })
}
