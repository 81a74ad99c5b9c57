// A runbook at a terminal: a pseudo-terminal (util-linux `script`) gives it a
// real TTY, and each answer is typed only after its prompt appeared.
import { spawn } from 'node:child_process'
import { join } from 'node:path'

const root = join(import.meta.dirname, '..', '..', '..')
const quote = (arg: string) => `'${arg.replaceAll("'", `'\\''`)}'`

/** An answer typed once `after` shows in the output (searched from just after the previous answer's prompt). */
export interface Typed {
  after: RegExp
  send: string
}

/**
 * Runs a runbook under `script -qfec`, so its stdin, stdout and stderr are a
 * terminal; stdout and stderr arrive merged, as on a screen. `script -e`
 * exits with the runbook's exit code.
 */
export function runInTerminal(name: string, args: readonly string[], kubeconfig: string, answers: readonly Typed[], timeoutMs = 150_000): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const command = [join(root, 'runbooks', `${name}.ts`), ...args].map(quote).join(' ')
    const child = spawn('script', ['-qfec', command, '/dev/null'], { cwd: root, env: { ...process.env, KUBECONFIG: kubeconfig, NO_COLOR: '1', COLUMNS: '200' }, stdio: ['pipe', 'pipe', 'pipe'] })
    let output = ''
    let from = 0
    let next = 0
    const onData = (d: Buffer) => {
      output += d.toString()
      const answer = answers[next]
      if (!answer) return
      const match = answer.after.exec(output.slice(from))
      if (!match) return
      from += match.index + match[0].length
      next++
      child.stdin.write(answer.send)
    }
    child.stdout.on('data', onData)
    child.stderr.on('data', onData)
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`${name} did not finish within ${timeoutMs / 1000}s; answered ${next} of ${answers.length}:\n${output.slice(-3000)}`))
    }, timeoutMs)
    child.on('error', reject)
    child.on('close', (code) => {
      clearTimeout(timer)
      child.stdin.end()
      resolve({ code, output })
    })
  })
}


/** The prompt of one step, whatever its number (and whether it acts outside the scope). */
export const promptOf = (step: string) => new RegExp(`Apply step \\d+/\\d+ \\(${step}\\)[^?\\n]*\\? \\[y\\]es / \\[s\\]kip / \\[q\\]uit: `)
