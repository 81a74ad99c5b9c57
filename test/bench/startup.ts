// `make bench-startup` (also part of `make bench`): how long a runbook takes
// as a whole process, from exec to exit, and how much memory it peaks at.
// Start-up is measured here, never asserted in tests: each case runs once to
// warm the disk cache, then `--runs` times (default 10); the table gives the
// median and the maximum of the wall time and of the peak RSS, next to the
// target and by how much it is missed.
//
//   node test/bench/startup.ts [--runs N] [--offline] [--no-history]
//
// Wall time is taken in this process around spawn..exit; peak RSS comes from
// GNU time (`/usr/bin/time -f %M`, the child's ru_maxrss: for rotate-tokens,
// which runs the other runbooks as child processes, the largest process of
// the tree). The online rows need a cluster: KUBECONFIG names it (e.g.
// `make cluster-up`'s last line); without it they are skipped, and say so.
// Every run appends one JSON line to test/bench/history/startup.jsonl
// (date, commit, machine, load, every figure) so regressions show over time.
import { spawn, execFileSync } from 'node:child_process'
import { existsSync, readdirSync, statSync } from 'node:fs'
import { appendFile, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { cpus, loadavg, tmpdir, totalmem } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { legacyClaims, makeSigningKey, signToken } from '../unit/helpers/tokens.ts'
import { alignedLines, isMain, median, progress } from './harness.ts'

const root = join(import.meta.dirname, '..', '..')
export const HISTORY_FILE = join(root, 'test', 'bench', 'history', 'startup.jsonl')
const GNU_TIME = '/usr/bin/time'

/** Where the bench keeps its ServiceAccount and token Secret on the cluster (left in place: a healthy token, so rotate-tokens stays a no-op). */
const BENCH_NAMESPACE = 'ktr-bench-startup'
const BENCH_ACCOUNT = 'bench-robot'
const BENCH_SECRET = 'bench-robot-token'

export interface Target {
  /** The median wall time must not exceed this. */
  readonly wallMs?: number
  /** The largest peak RSS of the runs must not exceed this. */
  readonly rssMb?: number
}

type From = 'source' | 'bundle' | 'node'

interface Case {
  readonly name: string
  readonly from: From
  /** Arguments to node. */
  readonly argv: readonly string[]
  readonly target: Target
  /** Why a finished run does not count (wrong exit code or output), or undefined when it does. */
  readonly check: (run: ProcessRun) => string | undefined | Promise<string | undefined>
}

export interface ProcessRun {
  readonly code: number | null
  readonly wallMs: number
  /** Peak RSS in MiB; NaN when GNU time did not report it. */
  readonly rssMb: number
  readonly stdout: string
  readonly stderr: string
}

export interface Figures {
  readonly runs: number
  readonly wallMedianMs: number
  readonly wallMaxMs: number
  readonly rssMedianMb: number
  readonly rssMaxMb: number
}

export interface ResultRow {
  readonly name: string
  readonly from: From
  readonly target: Target
  /** Present when measured. */
  readonly figures?: Figures
  /** Why there are no figures: skipped (no cluster, unhealthy cluster) or failed (with the reason). */
  readonly skipped?: string
  readonly failed?: string
}

// ---------------------------------------------------------------------------
// Measuring one process

/** Runs `node argv` under GNU time; resolves when it exits. */
export async function runProcess(argv: readonly string[], options: { cwd: string; env: NodeJS.ProcessEnv; scratch: string }): Promise<ProcessRun> {
  const rssFile = join(options.scratch, 'maxrss')
  await rm(rssFile, { force: true })
  const [command, args] = existsSync(GNU_TIME) ? [GNU_TIME, ['-f', '%M', '-o', rssFile, process.execPath, ...argv]] : [process.execPath, [...argv]]
  const start = performance.now()
  const child = spawn(command, args, { cwd: options.cwd, env: options.env, stdio: ['ignore', 'pipe', 'pipe'] })
  const stdout: Buffer[] = []
  const stderr: Buffer[] = []
  child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk))
  child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk))
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on('error', reject)
    child.on('close', (exitCode) => resolve(exitCode))
  })
  const wallMs = performance.now() - start
  // GNU time writes "Command exited with non-zero status N" before the figure when the child fails: the figure is the last line.
  const rssKb = Number((await readFile(rssFile, 'utf8').catch(() => '')).trim().split('\n').pop())
  return { code, wallMs, rssMb: rssKb > 0 ? rssKb / 1024 : Number.NaN, stdout: Buffer.concat(stdout).toString(), stderr: Buffer.concat(stderr).toString() }
}

export function summarize(runs: readonly ProcessRun[]): Figures {
  const walls = runs.map((run) => run.wallMs)
  const rss = runs.map((run) => run.rssMb)
  return { runs: runs.length, wallMedianMs: median(walls), wallMaxMs: Math.max(...walls), rssMedianMb: median(rss), rssMaxMb: Math.max(...rss) }
}

/** One warm-up run, then `runs` timed ones; stops at the first run the case's check refuses. */
async function measureCase(bench: Case, runs: number, options: { cwd: string; env: NodeJS.ProcessEnv; scratch: string }): Promise<ResultRow> {
  const label = `${bench.name} (${bench.from})`
  const timed: ProcessRun[] = []
  for (let run = 0; run <= runs; run++) {
    const result = await runProcess(bench.argv, options)
    const refused = await bench.check(result)
    if (refused) {
      progress(`${label}: FAILED on ${run === 0 ? 'the warm-up' : `run ${run}`}: ${refused}`)
      return { name: bench.name, from: bench.from, target: bench.target, failed: refused }
    }
    if (run > 0) timed.push(result)
  }
  const figures = summarize(timed)
  progress(`${label}: ${(figures.wallMedianMs / 1000).toFixed(3)} s median, ${figures.rssMaxMb.toFixed(0)} MB peak (${runs} runs)`)
  return { name: bench.name, from: bench.from, target: bench.target, figures }
}

/** The last non-empty line of a child's stderr, for a failure message. */
function lastLine(text: string): string {
  return (
    text
      .trim()
      .split('\n')
      .filter((line) => line.trim())
      .pop() ?? ''
  ).slice(0, 200)
}

function expectExit(expected: number, also?: (run: ProcessRun) => string | undefined): (run: ProcessRun) => string | undefined {
  return (run) => (run.code !== expected ? `exit ${run.code} (expected ${expected}): ${lastLine(run.stderr) || lastLine(run.stdout)}` : also?.(run))
}

// ---------------------------------------------------------------------------
// Verdicts

/** "ok", or by how much the target is missed: "wall +0.112 s (+56%)", "RSS +12 MB (+12%)". */
export function verdict(target: Target, figures: Figures): string {
  const missed: string[] = []
  if (target.wallMs !== undefined && figures.wallMedianMs > target.wallMs) {
    missed.push(`wall +${((figures.wallMedianMs - target.wallMs) / 1000).toFixed(3)} s (${percentOver(figures.wallMedianMs, target.wallMs)})`)
  }
  if (target.rssMb !== undefined && figures.rssMaxMb > target.rssMb) {
    missed.push(`RSS +${(figures.rssMaxMb - target.rssMb).toFixed(0)} MB (${percentOver(figures.rssMaxMb, target.rssMb)})`)
  }
  if (target.wallMs === undefined && target.rssMb === undefined) return '-'
  return missed.length ? `MISSED: ${missed.join(', ')}` : 'ok'
}

function percentOver(value: number, target: number): string {
  return `+${Math.round(((value - target) / target) * 100)}%`
}

export function describeTarget(target: Target): string {
  const parts = [target.wallMs !== undefined ? `≤ ${target.wallMs / 1000} s` : '', target.rssMb !== undefined ? `≤ ${target.rssMb} MB` : ''].filter(Boolean)
  return parts.length ? parts.join(', ') : '(reference)'
}

export function formatRows(rows: readonly ResultRow[]): string[] {
  const header = ['process', 'from', 'wall median s', 'wall max s', 'RSS median MB', 'RSS max MB', 'target', 'verdict']
  const seconds = (ms: number) => (ms / 1000).toFixed(3)
  const mb = (value: number) => (Number.isNaN(value) ? 'n/a' : value.toFixed(1))
  const cells = rows.map((row) => {
    const figures = row.figures
    const measured = figures ? [seconds(figures.wallMedianMs), seconds(figures.wallMaxMs), mb(figures.rssMedianMb), mb(figures.rssMaxMb)] : ['-', '-', '-', '-']
    const outcome = figures ? verdict(row.target, figures) : row.failed ? `FAILED: ${row.failed}` : `skipped: ${row.skipped ?? ''}`
    return [row.name, row.from, ...measured, describeTarget(row.target), outcome]
  })
  return alignedLines(header, cells, [0, 1, 6, 7])
}

// ---------------------------------------------------------------------------
// The machine, the commit, the bundle

export interface Machine {
  readonly cpu: string
  readonly cores: number
  readonly memoryGb: number
  readonly node: string
  readonly commit: string
}

function git(args: string[]): string {
  try {
    return execFileSync('git', args, { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim()
  } catch {
    return ''
  }
}

export function describeMachine(): Machine {
  const cpu = cpus()
  // The history file itself does not make the tree "dirty".
  const dirty = git(['status', '--porcelain', '--', '.', ':(exclude)test/bench/history']) !== ''
  return {
    cpu: cpu[0]?.model.trim() ?? 'unknown',
    cores: cpu.length,
    memoryGb: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    commit: `${git(['rev-parse', '--short', 'HEAD']) || 'unknown'}${dirty ? '+dirty' : ''}`,
  }
}

export function formatLoad(load: readonly number[], cores: number): string {
  const [one = 0] = load
  const busy = one > cores ? `busy: more runnable than ${cores} cores, figures are pessimistic` : one > cores / 2 ? 'partly busy' : 'quiet'
  return `${load.map((value) => value.toFixed(2)).join(' ')} (1/5/15 min; ${busy})`
}

/** Newest modification time under the bundle's inputs. */
function newestSourceMtime(): number {
  let newest = 0
  for (const dir of ['runbooks', 'lib']) {
    for (const entry of readdirSync(join(root, dir), { recursive: true, withFileTypes: true })) {
      if (entry.isFile()) newest = Math.max(newest, statSync(join(entry.parentPath, entry.name)).mtimeMs)
    }
  }
  for (const file of ['tools/build.ts', 'package-lock.json']) newest = Math.max(newest, statSync(join(root, file)).mtimeMs)
  return newest
}

/** Builds dist/ (node tools/build.ts) when it is missing or older than its sources. */
export async function ensureBundle(): Promise<void> {
  const bundle = join(root, 'dist', 'verify-token.js')
  const fresh = existsSync(bundle) && statSync(bundle).mtimeMs >= newestSourceMtime()
  if (fresh) return
  progress(existsSync(bundle) ? 'dist/ is older than its sources: rebuilding (node tools/build.ts)' : 'no dist/: building it (node tools/build.ts)')
  execFileSync(process.execPath, [join(root, 'tools', 'build.ts')], { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] })
}

// ---------------------------------------------------------------------------
// Fixtures

/** An RSA key pair and a legacy service-account token signed with it, written to `dir`. */
async function offlineFixtures(dir: string): Promise<{ tokenFile: string; keyFile: string }> {
  const key = makeSigningKey('rsa')
  const token = await signToken(legacyClaims({ namespace: BENCH_NAMESPACE, serviceAccount: BENCH_ACCOUNT, secretName: BENCH_SECRET }), key)
  const tokenFile = join(dir, 'token')
  const keyFile = join(dir, 'sa.pub')
  await writeFile(tokenFile, `${token}\n`, { mode: 0o600 })
  await writeFile(keyFile, key.publicPem)
  return { tokenFile, keyFile }
}

/**
 * Reaches the cluster KUBECONFIG names, and makes the bench's ServiceAccount
 * and a freshly filled legacy token Secret (re-created each run, so it is
 * signed by the current key). Returns why not when it cannot.
 */
async function onlineFixtures(kubeconfig: string): Promise<{ ready: true } | { ready: false; reason: string }> {
  const k8s = await import('@kubernetes/client-node')
  const kc = new k8s.KubeConfig()
  try {
    kc.loadFromFile(kubeconfig.split(':')[0] ?? kubeconfig)
  } catch (err) {
    return { ready: false, reason: `cannot read KUBECONFIG=${kubeconfig}: ${(err as Error).message}` }
  }
  const core = kc.makeApiClient(k8s.CoreV1Api)
  const within = <T>(ms: number, what: string, promise: Promise<T>): Promise<T> =>
    Promise.race([promise, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`${what}: no answer in ${ms / 1000} s`)), ms).unref())])
  const exists = (err: unknown) => {
    if ((err as { code?: number }).code !== 409) throw err
  }
  try {
    await within(10_000, `cluster at ${kc.getCurrentCluster()?.server ?? '?'}`, core.listNamespace({ limit: 1 }))
  } catch (err) {
    return { ready: false, reason: `cluster not reachable (${(err as Error).message}; run make cluster-up and pass KUBECONFIG=...)` }
  }
  await core.createNamespace({ body: { metadata: { name: BENCH_NAMESPACE, labels: { 'ktr-bench': 'true' } } } }).catch(exists)
  await core.createNamespacedServiceAccount({ namespace: BENCH_NAMESPACE, body: { metadata: { name: BENCH_ACCOUNT } } }).catch(exists)
  await core.deleteNamespacedSecret({ namespace: BENCH_NAMESPACE, name: BENCH_SECRET }).catch((err: unknown) => {
    if ((err as { code?: number }).code !== 404) throw err
  })
  const body = {
    metadata: { name: BENCH_SECRET, annotations: { 'kubernetes.io/service-account.name': BENCH_ACCOUNT } },
    type: 'kubernetes.io/service-account-token',
  }
  // A delete can take a moment to land: retry the create while the old one is going.
  for (let attempt = 0; ; attempt++) {
    try {
      await core.createNamespacedSecret({ namespace: BENCH_NAMESPACE, body })
      break
    } catch (err) {
      if ((err as { code?: number }).code !== 409 || attempt > 50) throw err
      await new Promise((resolve) => setTimeout(resolve, 200))
    }
  }
  const deadline = Date.now() + 60_000
  while (!(await core.readNamespacedSecret({ namespace: BENCH_NAMESPACE, name: BENCH_SECRET })).data?.token) {
    if (Date.now() > deadline) return { ready: false, reason: `the tokens controller did not fill ${BENCH_NAMESPACE}/${BENCH_SECRET} within 60 s (is kube-controller-manager running?)` }
    await new Promise((resolve) => setTimeout(resolve, 200))
  }
  return { ready: true }
}

/** Steps a report (rotate-tokens' JSON report, or `-o json` output) shows as applied or planned. */
function changingSteps(report: unknown): string[] {
  const steps = (report as { steps?: Array<{ id?: string; outcome?: string }> } | undefined)?.steps ?? []
  return steps.filter((step) => step.outcome === 'applied' || step.outcome === 'planned').map((step) => `${step.id ?? '?'} ${step.outcome ?? ''}`)
}

// ---------------------------------------------------------------------------
// The bench

const TARGETS = {
  help: { wallMs: 200 },
  offline: { wallMs: 300, rssMb: 100 },
  online: { wallMs: 1000 },
  rotate: { wallMs: 2000 },
} satisfies Record<string, Target>

export interface StartupOptions {
  readonly runs: number
  /** Skip the online rows even when KUBECONFIG is set. */
  readonly offline: boolean
  readonly history: boolean
  readonly kubeconfig: string | undefined
}

export async function benchStartup(options: StartupOptions): Promise<string> {
  const machine = describeMachine()
  const loadAtStart = loadavg()
  const startedAt = new Date()
  await ensureBundle()
  const scratch = await mkdtemp(join(tmpdir(), 'ktr-bench-startup-'))
  try {
    // Children run in an empty directory (no ./.env is read) with no KTR_* settings, colourless.
    const env: NodeJS.ProcessEnv = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('KTR_') && name !== 'KUBECONFIG'))
    Object.assign(env, { NO_COLOR: '1' })
    const runOptions = { cwd: scratch, env, scratch }
    const script = (from: From, runbook: string) => (from === 'bundle' ? join(root, 'dist', `${runbook}.js`) : join(root, 'runbooks', `${runbook}.ts`))
    const rows: ResultRow[] = []
    const { tokenFile, keyFile } = await offlineFixtures(scratch)

    const offlineCases: Case[] = [
      { name: 'node -e 0', from: 'node', argv: ['-e', '0'], target: {}, check: expectExit(0) },
      ...(['source', 'bundle'] as const).flatMap((from): Case[] => [
        {
          name: 'verify-token --help',
          from,
          argv: [script(from, 'verify-token'), '--help'],
          target: TARGETS.help,
          check: expectExit(0, (run) => (run.stdout.startsWith('Usage: verify-token') ? undefined : 'no usage text on stdout')),
        },
        {
          name: 'verify-token --token-file --key-file --offline',
          from,
          argv: [script(from, 'verify-token'), '--token-file', tokenFile, '--key-file', keyFile, '--offline'],
          target: TARGETS.offline,
          check: expectExit(0, (run) => (/\bvalid\b/i.test(run.stdout) ? undefined : `the token was not reported valid: ${lastLine(run.stdout)}`)),
        },
      ]),
    ]
    for (const bench of offlineCases) rows.push(await measureCase(bench, options.runs, runOptions))

    const onlineNames = ['verify-token --secret <ns>/<name>', 'rotate-tokens -A --yes (no-op)']
    const skipAll = (reason: string) => {
      for (const name of onlineNames) for (const from of ['source', 'bundle'] as const) rows.push({ name, from, target: name.startsWith('rotate') ? TARGETS.rotate : TARGETS.online, skipped: reason })
    }
    if (options.offline) skipAll('--offline given')
    else if (!options.kubeconfig) skipAll('no cluster (run make cluster-up and pass KUBECONFIG=...)')
    else {
      progress(`online: preparing ${BENCH_NAMESPACE}/${BENCH_SECRET} on the cluster at KUBECONFIG=${options.kubeconfig}`)
      const cluster = await onlineFixtures(options.kubeconfig)
      if (!cluster.ready) skipAll(cluster.reason)
      else {
        const onlineEnv = { ...env, KUBECONFIG: options.kubeconfig }
        const online = { ...runOptions, env: onlineEnv }
        for (const from of ['source', 'bundle'] as const) {
          rows.push(
            await measureCase(
              {
                name: onlineNames[0] ?? '',
                from,
                argv: [script(from, 'verify-token'), '--secret', `${BENCH_NAMESPACE}/${BENCH_SECRET}`],
                target: TARGETS.online,
                check: expectExit(0),
              },
              options.runs,
              online,
            ),
          )
        }
        // rotate-tokens -A --yes changes the cluster when anything is stale: measure it only as a no-op, on a healthy cluster.
        const plan = await runProcess([script('source', 'rotate-tokens'), '-A', '--dry-run', '-o', 'json', '--report-dir', scratch, '--backup-dir', join(scratch, 'backup-plan')], online)
        let planned: string[] | undefined
        try {
          planned = changingSteps(JSON.parse(plan.stdout))
        } catch {
          planned = undefined
        }
        const unhealthy =
          planned === undefined
            ? `rotate-tokens -A --dry-run failed (exit ${plan.code}): ${lastLine(plan.stderr)}`
            : planned.length
              ? `cluster not healthy, rotate-tokens -A would change it (${planned.join(', ')}); not measured so as not to change it`
              : undefined
        for (const from of ['source', 'bundle'] as const) {
          if (unhealthy) {
            rows.push({ name: onlineNames[1] ?? '', from, target: TARGETS.rotate, skipped: unhealthy })
            continue
          }
          const reportDir = join(scratch, `reports-${from}`)
          await mkdir(reportDir, { recursive: true })
          rows.push(
            await measureCase(
              {
                name: onlineNames[1] ?? '',
                from,
                argv: [script(from, 'rotate-tokens'), '-A', '--yes', '--report-dir', reportDir, '--backup-dir', join(scratch, `backup-${from}`)],
                target: TARGETS.rotate,
                check: expectExit(0, () => undefined),
              },
              options.runs,
              online,
            ),
          )
          // Every run wrote a report: none may show a change, or it was not a no-op.
          for (const file of await readdir(reportDir)) {
            const changed = changingSteps(JSON.parse(await readFile(join(reportDir, file), 'utf8'))).filter((step) => step.endsWith('applied'))
            if (changed.length) {
              const last = rows.pop()
              if (last) rows.push({ ...last, figures: undefined, failed: `not a no-op: ${file} shows ${changed.join(', ')}` })
              break
            }
          }
        }
      }
    }

    const loadAtEnd = loadavg()
    if (options.history) await appendHistory({ date: startedAt.toISOString(), machine, loadAtStart, loadAtEnd, runs: options.runs, rows })
    const method = existsSync(GNU_TIME) ? `peak RSS from ${GNU_TIME} -f %M (largest process of the tree)` : `peak RSS: n/a (no ${GNU_TIME})`
    return [
      `## start-up: whole processes, 1 warm-up + ${options.runs} timed runs each (wall: median vs target; RSS: max vs target)`,
      `# machine  ${machine.cpu} x ${machine.cores} cores, ${machine.memoryGb} GB; shared: other builds and tests may run`,
      `# load     at start ${formatLoad(loadAtStart, machine.cores)}; at end ${loadAtEnd.map((value) => value.toFixed(2)).join(' ')}`,
      `# node     ${machine.node}, commit ${machine.commit}, ${startedAt.toISOString()}`,
      `# method   wall from spawn to exit in the parent; ${method}`,
      ...formatRows(rows),
      options.history ? `# history  appended to ${HISTORY_FILE.slice(root.length + 1)}` : '# history  not written (--no-history)',
      '',
    ].join('\n')
  } finally {
    await rm(scratch, { recursive: true, force: true })
  }
}

export interface HistoryEntry {
  readonly date: string
  readonly machine: Machine
  readonly loadAtStart: readonly number[]
  readonly loadAtEnd: readonly number[]
  readonly runs: number
  readonly rows: readonly ResultRow[]
}

/** One line per run: {"date","commit","node","machine","load","runs","rows":[{"process","from","wallMedianS",...}]}. */
export function historyLine(entry: HistoryEntry): string {
  const round = (value: number, digits: number) => (Number.isFinite(value) ? Number(value.toFixed(digits)) : null)
  return JSON.stringify({
    date: entry.date,
    commit: entry.machine.commit,
    node: entry.machine.node,
    machine: `${entry.machine.cpu} x ${entry.machine.cores}, ${entry.machine.memoryGb} GB`,
    load: { start: entry.loadAtStart.map((value) => round(value, 2)), end: entry.loadAtEnd.map((value) => round(value, 2)) },
    runs: entry.runs,
    rows: entry.rows.map((row) => ({
      process: row.name,
      from: row.from,
      ...(row.figures
        ? {
            wallMedianS: round(row.figures.wallMedianMs / 1000, 3),
            wallMaxS: round(row.figures.wallMaxMs / 1000, 3),
            rssMedianMb: round(row.figures.rssMedianMb, 1),
            rssMaxMb: round(row.figures.rssMaxMb, 1),
            verdict: verdict(row.target, row.figures),
          }
        : {}),
      ...(row.skipped ? { skipped: row.skipped } : {}),
      ...(row.failed ? { failed: row.failed } : {}),
    })),
  })
}

async function appendHistory(entry: HistoryEntry): Promise<void> {
  await mkdir(join(HISTORY_FILE, '..'), { recursive: true })
  await appendFile(HISTORY_FILE, `${historyLine(entry)}\n`)
}

if (isMain(import.meta.url)) {
  const { values } = parseArgs({
    options: { runs: { type: 'string', default: '10' }, offline: { type: 'boolean', default: false }, 'no-history': { type: 'boolean', default: false } },
  })
  const runs = Number(values.runs)
  if (!Number.isInteger(runs) || runs < 1) {
    process.stderr.write('usage: node test/bench/startup.ts [--runs N] [--offline] [--no-history]\n')
    process.exit(2)
  }
  const kubeconfig = process.env.KUBECONFIG || undefined
  process.stdout.write(await benchStartup({ runs, offline: values.offline, history: !values['no-history'], kubeconfig }))
}
