// Starting and stopping the control-plane processes. Each runs detached in its
// own process group with its output appended to <dir>/logs/<name>.log, so a
// cluster outlives the command that started it (`make cluster-up`) and any
// process that knows the pid (tests, `make cluster-down`) can stop it.
import { spawn } from 'node:child_process'
import { openSync, closeSync, readFileSync, mkdirSync } from 'node:fs'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'

export function startProcess(logDir: string, name: string, binary: string, args: string[], env?: NodeJS.ProcessEnv): number {
  mkdirSync(logDir, { recursive: true })
  const log = openSync(join(logDir, `${name}.log`), 'a')
  try {
    const child = spawn(binary, args, { detached: true, stdio: ['ignore', log, log], ...(env ? { env } : {}) })
    if (child.pid === undefined) throw new Error(`could not start ${name} (${binary})`)
    child.unref()
    return child.pid
  } finally {
    closeSync(log)
  }
}

/** Alive and still the program we started (guards against pid reuse). */
export function isRunning(pid: number, binary: string): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    if (/^\d+ \(.*\) Z/.test(stat)) return false
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0] === binary
  } catch {
    return false
  }
}

/** Stopped by SIGSTOP (state T): alive, but running no code. */
export function isSuspended(pid: number): boolean {
  try {
    return /^\d+ \(.*\) T/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'))
  } catch {
    return false
  }
}

/** SIGSTOP the process group: every process in it keeps its pid and sockets but runs nothing until resumed. */
export function suspendProcess(pid: number, binary: string): void {
  if (!isRunning(pid, binary)) throw new Error(`${binary} (pid ${pid}) is not running: nothing to suspend`)
  signalGroup(pid, 'SIGSTOP')
}

/** SIGCONT the process group. */
export function resumeProcess(pid: number, binary: string): void {
  if (!isRunning(pid, binary)) throw new Error(`${binary} (pid ${pid}) is not running: nothing to resume`)
  signalGroup(pid, 'SIGCONT')
}

/** SIGTERM the process group, then SIGKILL whatever is left after `graceMs`. */
export async function stopProcess(pid: number, binary: string, graceMs = 10_000): Promise<void> {
  if (!isRunning(pid, binary)) return
  signalGroup(pid, 'SIGTERM')
  // A suspended process only acts on the SIGTERM once it runs again.
  signalGroup(pid, 'SIGCONT')
  const deadline = Date.now() + graceMs
  while (isRunning(pid, binary) && Date.now() < deadline) await sleep(100)
  if (isRunning(pid, binary)) signalGroup(pid, 'SIGKILL')
  while (isRunning(pid, binary)) await sleep(50)
}

/** For exit handlers, which cannot wait. */
export function killNow(pid: number, binary: string): void {
  if (isRunning(pid, binary)) signalGroup(pid, 'SIGKILL')
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal)
  } catch {
    try {
      process.kill(pid, signal)
    } catch {
      // already gone
    }
  }
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.unref()
    server.on('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))))
    })
  })
}

/** Polls `probe` until it returns true; the error names what we waited for and where to look. */
export async function waitUntil(what: string, probe: () => Promise<boolean>, timeoutMs: number, hint: string): Promise<void> {
  const deadline = Date.now() + timeoutMs
  let lastError = ''
  while (Date.now() < deadline) {
    try {
      if (await probe()) return
    } catch (err) {
      lastError = err instanceof Error ? err.message : String(err)
    }
    await sleep(250)
  }
  throw new Error(`timed out after ${Math.round(timeoutMs / 1000)}s waiting for ${what}${lastError ? ` (last error: ${lastError})` : ''}; ${hint}`)
}
