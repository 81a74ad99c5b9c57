// Runs a runbook the way an operator does: the executable file itself, as a
// subprocess, with no terminal (stdin closed) unless input is given.
import { spawn, type ChildProcess } from 'node:child_process'
import { join } from 'node:path'

export interface CliResult {
  code: number | null
  /** The signal that ended the run (a test's `on.act` killed it), else null. */
  signal?: NodeJS.Signals | null
  stdout: string
  stderr: string
  /** With `on`: what `act` returned, once the stderr pattern was seen; undefined when it never was. */
  acted?: Promise<unknown>
}

/** What a test can do to a run in progress. */
export interface RunControl {
  /** Sends `signal` to the run's whole process group. */
  signal(signal: NodeJS.Signals): void
}

export interface RunOptions {
  kubeconfig?: string
  env?: Record<string, string>
  input?: string
  timeoutMs?: number
  /** A fault at a moment of the run: `act` runs once, as soon as stderr (so far) matches `stderr`. */
  on?: { stderr: RegExp; act: (run: RunControl) => unknown }
}

const root = join(import.meta.dirname, '..', '..', '..')

export function runRunbook(name: string, args: readonly string[], opts: RunOptions = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1', ...opts.env }
    if (opts.kubeconfig) env.KUBECONFIG = opts.kubeconfig
    // Its own process group, so a test's signal reaches the run and nothing else.
    const child = spawn(join(root, 'runbooks', `${name}.ts`), args, { cwd: root, env, stdio: ['pipe', 'pipe', 'pipe'], detached: true })
    const control: RunControl = {
      signal: (signal) => {
        try {
          process.kill(-child.pid!, signal)
        } catch {
          // already gone
        }
      },
    }
    let stdout = ''
    let stderr = ''
    let acted: Promise<unknown> | undefined
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString()
      if (opts.on && !acted && opts.on.stderr.test(stderr)) {
        acted = Promise.resolve().then(() => opts.on!.act(control))
        acted.catch(() => undefined) // the test awaits it; never an unhandled rejection meanwhile
      }
    })
    const timer = setTimeout(() => control.signal('SIGKILL'), opts.timeoutMs ?? 170_000)
    child.on('error', reject)
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      resolve({ code, signal, stdout, stderr, ...(opts.on ? { acted } : {}) })
    })
    child.stdin.end(opts.input ?? '')
  })
}

/**
 * A started runbook's output so far (`seen`), and its result once it exits
 * (`done`); killed with SIGKILL after `timeoutMs`. For tests that act while it
 * runs: send signals, wait for a line.
 */
export function watchOutput(child: ChildProcess, timeoutMs = 170_000): { seen: () => CliResult; done: Promise<CliResult> } {
  const out = { code: null as number | null, stdout: '', stderr: '' }
  child.stdout?.on('data', (d: Buffer) => (out.stdout += d.toString()))
  child.stderr?.on('data', (d: Buffer) => (out.stderr += d.toString()))
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
  const done = new Promise<CliResult>((resolve, reject) => {
    child.on('error', reject)
    child.on('close', (code) => {
      clearTimeout(timer)
      resolve({ ...out, code })
    })
  })
  return { seen: () => out, done }
}

/** The JSON document a runbook printed with -o json. */
export function jsonOf<T = Record<string, unknown>>(result: CliResult): T {
  try {
    return JSON.parse(result.stdout) as T
  } catch {
    throw new Error(`stdout is not one JSON document (exit ${result.code}):\n${result.stdout}\n--- stderr:\n${result.stderr}`)
  }
}
