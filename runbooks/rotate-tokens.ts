#!/usr/bin/env -S node --max-semi-space-size=16 --max-old-space-size=1536
// (V8 heap sized for big clusters, see "Memory" in README.md: young generation
// 2 x 16 MB; a heap limit of 1.5 GB makes old space grow ~1.8x its live size, not 4x.)
// rotate-tokens: the maintenance job after a cluster's service-account
// signing key was regenerated. One process, one session (cluster, scope,
// backup directory, redactor), one engine run: preflight, then the steps of
// regenerate-tokens, restart-dependent-pods and fix-calico themselves, then
// proof with verify-token's checks, and a JSON report written after the run.
// Interrupt it at any point and run it again: every step re-checks the
// cluster and does only what is left.
import { mkdir, open } from 'node:fs/promises'
import { join } from 'node:path'
import { defineCli, flagDefaults, runbookMain, runMain, type Main, type MainIO, type ParsedCli } from '../lib/cli/index.ts'
import { KEY_FILE_FLAG, keyCommands, loadVerificationKeys } from '../lib/cli/keys.ts'
import { openSession, type Session } from '../lib/cli/session.ts'
import { backupDirsOfRepair, defaultBackupRoot, readBackup, timestampDirName } from '../lib/backup.ts'
import { KUBELET_MAX_TOKEN_AGE_MS } from '../lib/workloads/proof.ts'
import { UsageError } from '../lib/errors.ts'
import { resolveMode, within, type AnyStep, type Findings, type Runbook, type RunReport, type Step } from '../lib/engine/index.ts'
import { whoAmI, missingPermissions } from '../lib/kube/access.ts'
import { withApiErrors as api } from '../lib/kube/errors.ts'
import { reviewSettled, reviewToken } from '../lib/kube/token-checks.ts'
import { describePermission, rbacRulesFor, requiredPermissions, type Permission } from '../lib/preflight/permissions.ts'
import { jsonChunks } from '../lib/report/json-chunks.ts'
import { renderRotationSummary, type RotationReport } from '../lib/report/rotation.ts'
import { applyRestore, planRestore, restoreFailures, type RestoreItem } from '../lib/restore.ts'
import { tokenOf } from '../lib/secrets.ts'
import type { VerificationKey } from '../lib/token/keys.ts'
import { TokenStatus } from '../lib/token/status.ts'
import { Verdict } from '../lib/regenerate/select.ts'
import { NO_UPSTREAM } from '../lib/restart/context.ts'
import * as calico from './fix-calico.ts'
import * as regenerate from './regenerate-tokens.ts'
import * as restart from './restart-dependent-pods.ts'
import * as verify from './verify-token.ts'

export const cli = defineCli({
  name: 'rotate-tokens',
  summary: 'After the service-account signing key was regenerated: regenerate stale tokens, restart what holds them, fix Calico, and prove it.',
  flags: [
    { name: 'backup-dir', type: 'string', valueName: 'dir', description: 'Where the Secrets and pods are backed up before any change (default: ~/.local/state/kube-token-runbooks/backups/<time>).' },
    { name: 'report-dir', type: 'string', valueName: 'dir', description: 'Where the JSON report is written (default: ~/.local/state/kube-token-runbooks/reports).' },
    { name: 'recreate-bare-pods', type: 'boolean', description: 'Re-create pods without an owner from their own spec (refused by default, like kubectl drain).' },
    { name: 'strategy', type: 'string', default: 'in-place', allowed: ['in-place', 'recreate'], description: 'How stale token Secrets get a new token (see regenerate-tokens --help).' },
    {
      name: 'bound-before',
      type: 'string',
      valueName: 'time|now',
      description:
        'When the signing key changed (RFC 3339, or now): pods with a projected token (kube-api-access-*) started before it are restarted too. Without it, such pods are listed under "needs a person" after a key change: the API cannot show their tokens.',
    },
    { name: 'skip-calico', type: 'boolean', description: 'Do not look for Calico: its steps act in its own namespace (kube-system or calico-system), outside -n, and ask separately.' },
    { name: 'timeout', type: 'number', default: 300, valueName: 'seconds', description: 'Deadline of each wait (refills, rollouts).' },
    {
      name: 'restore',
      type: 'string',
      valueName: 'backup-dir',
      description: 'Put the Secrets of this backup back instead (while the old key is still trusted, after a graceful rotation); its own plan and confirmation.',
    },
    KEY_FILE_FLAG,
  ],
  examples: [
    { command: 'rotate-tokens --dry-run', description: 'the whole plan (all namespaces: the signing key is cluster-wide) with kubectl commands; changes nothing' },
    { command: 'rotate-tokens', description: 'at a terminal: asks before every step that changes something' },
    { command: 'rotate-tokens --yes -o json', description: 'unattended (CI); rerun the same command after an interruption' },
    { command: 'rotate-tokens -n payments --skip-calico', description: 'one namespace only' },
    { command: 'rotate-tokens --restore ~/.local/state/kube-token-runbooks/backups/<time>', description: 'undo: put the backed-up tokens back' },
  ],
})

type Flags = ParsedCli<NonNullable<(typeof cli)['flags']>>['flags']

/** Settings and session, fixed before the run; what the steps find travels in their plans. */
interface Ctx extends Session {
  flags: Flags
  io: Pick<MainIO, 'stdin' | 'cwd'>
  reportDir: string
  /** Named up front, so the printed result and the file on disk agree. */
  reportFile: string
  startedAt: string
  /** Each runbook's own context, on the shared session. */
  regenerate: regenerate.Ctx
  restart: restart.Ctx
  calico: calico.Ctx
  verify: verify.Ctx
}

/** Who and where we are, and what is missing: the report's first lines. */
interface Preflight {
  version: string
  user: string
  keyIds: string[]
  missing: Permission[]
}

/** What the final proof found: every token Secret's verdict, and the pods left on an old token. */
interface Proof {
  verification?: NonNullable<RotationReport['verification']>
  /** One line per pod still (possibly) on an old token, with its next action. */
  podsLeft: string[]
  /** Token Secrets the inventory saw: a proof that checked none of them proves nothing. */
  inventoried: number
  /** Dry run: what the proof will demand once the changes are made (no verification yet). */
  predicted?: string
  /** The pods' proof (its Secrets name this repair's backups); undefined in a dry run. */
  pods?: restart.PodsProof
}

const preflight: Step<Ctx, Preflight> = {
  id: 'preflight',
  title: 'Preflight: cluster, identity, permissions, keys',
  description: 'Names the cluster, its version and who we are, checks every permission the run needs before anything changes, and reads the current verification keys.',
  readOnly: true,
  kubectl: (ctx) => [ctx.kubectl('version'), ctx.kubectl('auth', 'whoami'), ctx.kubectl('auth', 'can-i', '--list'), ...keyCommands(ctx.flags.keyFile, ctx.kubectl)],
  check: async (ctx) => {
    const { kube } = ctx
    const [version, user, keys] = await api(kube.kc, () => Promise.all([kube.version.getCode(), whoAmI(kube), keysOf(ctx)]))
    // Missing evidence is never a reason to change something: no usable key, no run (loading throws).
    const kids = keys.map((k) => k.kid)
    const wanted = requiredPermissions({ ...(ctx.scope.all ? {} : { namespace: ctx.scope.namespace }), calico: !ctx.flags.skipCalico, strategy: ctx.flags.strategy, recreateBarePods: ctx.flags.recreateBarePods })
    const missing = await api(kube.kc, () => missingPermissions(kube, wanted))
    const plan = { version: version.gitVersion, user: user ?? 'unknown', keyIds: kids, missing }
    return { needed: false, summary: describePreflight(ctx, plan), plan, details: { missing } }
  },
  verify: async (ctx, plan) => {
    const { missing } = plan
    return {
      ok: missing.length === 0,
      summary: missing.length
        ? `missing permissions, nothing was changed: ${missing.map((p) => `${describePermission(p)} (to ${p.why})`).join('; ')}. Add these RBAC rules to a (Cluster)Role bound to you, then rerun:\n${rbacRulesFor(missing)}`
        : `${describePreflight(ctx, plan)}: every permission the run needs is granted`,
    }
  },
}

function describePreflight(ctx: Readonly<Ctx>, { version, user, keyIds, missing }: Preflight): string {
  return `cluster ${ctx.cluster.context} (${ctx.cluster.server}), Kubernetes ${version}, as ${user}; ${keyIds.length} verification key(s); ${missing.length ? `${missing.length} permission(s) missing` : 'all permissions granted'}`
}

const proof: Step<Ctx, Proof> = {
  id: 'verify',
  title: 'Verify: every token Secret and every pod in scope, and nothing is left for a person',
  description:
    "Runs verify-token's checks over every token Secret in scope (signature by a current key, TokenReview, the bearer check), and looks at every pod in scope from scratch: none may have started before its Secret's regeneration, be stuck on a missing Secret, or hold a projected token bound before the key change. The run succeeds only if nothing is left.",
  readOnly: true,
  kubectl: (ctx) => [`kubectl verify-token --all ${[...ctx.connection, ...ctx.scopeArgs].join(' ')}`.trim(), ...restart.steps.verifyDependents.kubectl(ctx.restart, undefined)],
  check: async (ctx, found) => {
    const inventoried = found.has(regenerate.steps.findStaleTokens) ? found.plan(regenerate.steps.findStaleTokens).assessments.length : 0
    if (ctx.dryRun) {
      // What the plan cannot fix by itself: projected tokens bound before the key change, unless --bound-before restarts them.
      const predicted = await restart.provePods(ctx.restart, found)
      const left = predicted.proof.left.filter((l) => l.source === 'projected')
      const expected = `after the changes: every token Secret and every pod in scope must be proven${left.length ? `; ${left.length} pod(s) with a projected token bound before the key change would be left for a person (${left.map((l) => `${l.pod.namespace}/${l.pod.name}`).join(', ')}): pass --bound-before <time of the key change> to restart them` : ''}`
      return { needed: false, summary: expected, plan: { podsLeft: [], inventoried, predicted: expected } }
    }
    const results = await verify.inspectAll(ctx.verify)
    const bad = results.filter((r) => r.status !== TokenStatus.valid)
    const verification = { tokens: results.length, valid: results.length - bad.length, notValid: bad.map((r) => ({ source: r.source, status: r.status, reason: r.reason })) }
    const pods = await restart.provePods(ctx.restart, found)
    return {
      needed: false,
      summary: `${verification.valid}/${results.length} token Secret(s) valid; pods: ${pods.proof.summary}`,
      plan: { verification, podsLeft: pods.proof.lines, inventoried, pods },
      details: { pods: pods.proof.left },
    }
  },
  verify: async (_ctx, { verification: v, podsLeft, inventoried, predicted }) => {
    if (!v) return { ok: true, summary: predicted ?? 'nothing proven yet' }
    if (v.tokens === 0 && inventoried > 0) return { ok: false, summary: `no token Secret could be checked, though the inventory found ${inventoried}: rerun to retry the proof` }
    const problems = [...v.notValid.map((b) => `${b.source}: ${b.reason}`), ...podsLeft]
    return {
      ok: problems.length === 0,
      summary: problems.length
        ? `${problems.length} item(s) need a person (listed at the end)`
        : `all ${v.tokens} token Secret(s) valid, and no pod in scope holds a token from before the repair`,
    }
  },
}

/** The run's verification keys: --key-file (checked against what the cluster publishes), else /openid/v1/jwks. */
async function keysOf(ctx: Readonly<Ctx>): Promise<VerificationKey[]> {
  const set = await loadVerificationKeys(ctx.flags.keyFile, ctx.clusterJwks, { mustMatchCluster: true })
  return set!.keys
}

/** regenerate-tokens' steps, each on its own context (restart reads what they found through restartUpstream). */
function regenerateSteps(): AnyStep<Ctx>[] {
  return within(regenerate.runbook.steps, (ctx: Ctx) => ctx.regenerate)
}

/**
 * rotate-tokens knows the signing key changed; in a dry run nothing is
 * regenerated yet, so the Secrets about to be regenerated are handed to
 * restart-dependent-pods as an explicit input (its flags stay as given), and
 * the plan lists the restarts their regeneration will cause. Asked by
 * restart's steps, after find-stale-tokens was checked.
 */
function restartUpstream(dryRun: boolean): restart.Ctx['upstream'] {
  return (found) => {
    if (!found.has(regenerate.steps.findStaleTokens)) return NO_UPSTREAM
    const { assessments, targets } = found.plan(regenerate.steps.findStaleTokens)
    return { staleFound: assessments.some((a) => a.verdict === Verdict.stale), pending: dryRun ? [...targets] : [] }
  }
}

/**
 * A pod left on an old token (a refused bare pod, a skipped restart) does not
 * stop the rotation: Calico and the proof still run, and the final proof,
 * which looks at every pod again, lists it for a person (the run exits 1).
 */
function restartSteps(): AnyStep<Ctx>[] {
  return within(restart.runbook.steps, (ctx: Ctx) => ctx.restart).map((step) =>
    step.id !== restart.steps.verifyDependents.id || !step.verify
      ? step
      : {
          ...step,
          verify: async (ctx, pods: restart.DependentsProof, result) => {
            const verified = await step.verify!(ctx, pods, result)
            if (verified.ok) return verified
            return { ok: true, summary: `left for the final proof (listed at the end): ${pods?.proof.summary ?? verified.summary}` }
          },
        },
  )
}

/** Calico's steps act in Calico's namespace: outside a -n scope, they say so and ask separately. */
function calicoSteps(): Step<Ctx>[] {
  return within(calico.runbook.steps, (ctx: Ctx) => ctx.calico).map((step) => ({
    ...step,
    outside: (ctx: Ctx, plan: calico.DetectPlan | undefined) => (ctx.scope.all ? undefined : `namespace ${plan?.install?.namespace ?? 'kube-system'} (Calico's own; the scope is namespace ${ctx.scope.namespace}; --skip-calico leaves it out)`),
  }))
}

function rotation(skipCalico: boolean): Runbook<Ctx> {
  return {
    name: cli.name,
    summary: cli.summary,
    steps: [
      preflight,
      ...regenerateSteps(),
      ...restartSteps(),
      ...(skipCalico ? [] : calicoSteps()),
      proof,
    ],
  }
}

export const runbook = rotation(false)

/** --restore: what to do with each backed-up Secret. */
type RestorePlan = readonly RestoreItem[]

const restorable = (plan: RestorePlan) => plan.filter((i) => i.action === 'restore' || i.action === 'create')

const readRestoreBackup: Step<Ctx, RestorePlan> = {
  id: 'read-backup',
  title: 'Read the backup and compare it with the cluster',
  description: 'Reads the backup manifest and each Secret in it, and decides per Secret: restore, re-create, already the same, or refuse (its token was signed by a key the cluster no longer trusts).',
  readOnly: true,
  kubectl: (ctx) => [`cat ${join(ctx.flags.restore ?? '', 'manifest.json')}`, ctx.kubectl('get', '--raw', '/openid/v1/jwks')],
  check: async (ctx) => {
    const { objects } = await readBackup(ctx.flags.restore!)
    const keys = await api(ctx.kube.kc, () => keysOf(ctx))
    const plan = await api(ctx.kube.kc, () => planRestore(ctx.kube, objects, keys))
    const count = (a: string) => plan.filter((i) => i.action === a).length
    return { needed: false, summary: `${plan.length} Secret(s) in the backup: ${count('restore')} to restore, ${count('create')} to re-create, ${count('same')} unchanged, ${count('refuse')} refused`, plan }
  },
}

const restoreSecrets: Step<Ctx, RestorePlan> = {
  id: 'restore-secrets',
  title: 'Restore the Secrets',
  description: 'Writes each backed-up token back into its Secret (or re-creates the Secret), then proves with TokenReview that each restored token authenticates.',
  kubectl: (ctx, plan) => restorable(plan ?? []).map((i) => `${ctx.kubectl('apply', '-f', join(ctx.flags.restore ?? '', i.entry.file))}  # ${i.entry.namespace}/${i.entry.name}: ${i.why}`),
  check: async (ctx, found) => {
    const plan = found.plan(readRestoreBackup)
    const todo = restorable(plan)
    // Refused entries keep the step "needed" so its verify runs and fails: a restore that skipped some is not a success.
    const refused = restoreFailures(plan).length
    return {
      needed: todo.length > 0 || refused > 0,
      summary: todo.length ? `${todo.length} Secret(s) to put back on ${ctx.cluster.context}` : refused ? `nothing restorable; ${refused} refused` : 'every restorable Secret already holds its backed-up token',
      plan,
    }
  },
  apply: async (ctx, plan) => {
    const todo = restorable(plan)
    for (const item of todo) await api(ctx.kube.kc, () => applyRestore(ctx.kube, item))
    return { summary: `put back ${todo.length} Secret(s)` }
  },
  verify: async (ctx, plan) => {
    const restored = plan.filter((i) => i.action !== 'refuse')
    const failed = []
    for (const item of restored) {
      // Just written back: the API server's cached copy of the Secret may still hold the other token for a moment.
      const review = await api(ctx.kube.kc, () => reviewSettled(() => reviewToken(ctx.kube, tokenOf(item.backup)!), true))
      if (!review.authenticated) failed.push(`${item.entry.namespace}/${item.entry.name}`)
    }
    const refused = restoreFailures(plan)
    if (refused.length) failed.push(...refused.map((r) => `refused ${r}`))
    return { ok: failed.length === 0, summary: failed.length ? `not restored: ${failed.join('; ')}` : `${restored.length} restored token(s) authenticate` }
  },
}

/** The undo runbook: `--restore <backup-dir>` puts backed-up token Secrets back. */
export const restoreRunbook: Runbook<Ctx> = {
  name: cli.name,
  summary: 'Put backed-up token Secrets back (after a graceful rotation, while the old key is still trusted).',
  steps: [readRestoreBackup, restoreSecrets],
}

/** Each runbook's flags as rotate-tokens sets them: their defaults, plus what this run was given. */
function contextOf(session: Session, parsed: ParsedCli<NonNullable<(typeof cli)['flags']>>, io: Pick<MainIO, 'stdin' | 'cwd'>): Ctx {
  const { flags, common } = parsed
  const shared = { backupDir: session.backup.dir, timeout: flags.timeout, keyFile: flags.keyFile }
  const mode = resolveMode({ dryRun: common.dryRun, yes: common.yes, stdinIsTTY: io.stdin.isTTY === true })
  const reportDir = flags.reportDir ?? join(defaultBackupRoot(session.env), '..', 'reports')
  return {
    ...session,
    flags,
    io,
    reportDir,
    reportFile: join(reportDir, `rotate-tokens-${timestampDirName(session.now())}.json`),
    startedAt: session.now().toISOString(),
    regenerate: regenerate.contextOf(session, { ...flagDefaults(regenerate.cli), ...shared, strategy: flags.strategy }),
    restart: restart.contextOf(
      session,
      {
        ...flagDefaults(restart.cli),
        backupDir: shared.backupDir,
        timeout: shared.timeout,
        recreateBarePods: flags.recreateBarePods,
        ...(flags.boundBefore !== undefined ? { boundBefore: flags.boundBefore } : {}),
      },
      { keyChanged: true, upstream: restartUpstream(session.dryRun) },
    ),
    calico: calico.contextOf(session, { ...flagDefaults(calico.cli), ...shared }, { mode }),
    verify: verify.contextOfSession(session, { ...flagDefaults(verify.cli), all: true, keyFile: flags.keyFile }, io),
  }
}

function rotationReport(ctx: Ctx, run: RunReport | undefined, found: Findings, backupDirs: string[]): RotationReport {
  const checked = found.has(preflight) ? found.plan(preflight) : undefined
  const proven = found.has(proof) ? found.plan(proof) : undefined
  return {
    cluster: ctx.cluster,
    user: ctx.user,
    scope: ctx.scope.all ? 'all namespaces' : `namespace ${ctx.scope.namespace}`,
    startedAt: ctx.startedAt,
    preflight: checked ? { version: checked.version, user: checked.user, keyIds: checked.keyIds, missingPermissions: checked.missing.map(describePermission) } : {},
    steps: run?.steps.map((s) => ({ id: s.id, outcome: s.outcome, summary: s.summary })) ?? [],
    backupDir: ctx.backup.dir,
    backupDirs,
    podsLeft: proven?.podsLeft ?? [],
    verification: proven?.verification,
    reportFile: ctx.reportFile,
    outcome: run ? (run.ok ? 'ok' : run.stopped === 'quit' ? 'quit' : 'failed') : 'refused before any step ran',
  }
}

/**
 * The backup directories of this repair: this run's (if it was written to),
 * the ones the token Secrets regenerated in the last 24 h name
 * (kube-token-runbooks.io/backup-dir), and those beside them holding the same
 * object versions (an interrupted run's). --restore reads, never writes: its
 * directory is the one given.
 */
async function repairBackups(ctx: Ctx, found: Findings): Promise<string[]> {
  if (ctx.flags.restore !== undefined) return []
  const now = ctx.now().getTime()
  const secrets = lastProof(found)?.secrets ?? []
  const recent = secrets.filter((s) => s.backupDir && s.regeneratedAt && now - Date.parse(s.regeneratedAt) <= KUBELET_MAX_TOKEN_AGE_MS)
  const stamps = secrets.map((s) => s.regeneratedAt).filter((t): t is string => t !== undefined && now - Date.parse(t) <= KUBELET_MAX_TOKEN_AGE_MS).sort()
  // Secrets are backed up shortly before they are stamped: allow for the backup step and the refill wait.
  const since = stamps[0] === undefined ? undefined : new Date(Date.parse(stamps[0]) - 10 * 60 * 1000).toISOString()
  return backupDirsOfRepair([ctx.backup.dir, ...recent.map((s) => s.backupDir!)], {
    cluster: ctx.cluster.server,
    ...(since ? { since } : {}),
    // Calico's steps act in its own namespace, outside -n: their backups belong to the repair too.
    inScope: (namespace) => ctx.scope.all || namespace === ctx.scope.namespace || (!ctx.flags.skipCalico && namespace === calicoNamespace(found)),
  })
}

/** Where fix-calico's steps found Calico in this run (they act there), if they ran. */
function calicoNamespace(found: Findings): string | undefined {
  return found.has(calico.steps.detectCalico) ? found.plan(calico.steps.detectCalico).install?.namespace : undefined
}

/** The pods' last proof of this run: the final one, else restart's own (verify-dependents). */
function lastProof(found: Findings): restart.PodsProof | undefined {
  const final = found.has(proof) ? found.plan(proof).pods : undefined
  return final ?? (found.has(restart.steps.verifyDependents) ? found.plan(restart.steps.verifyDependents) : undefined)
}

/** After the run, whatever its outcome: the report on disk (owner-only), and its path. */
async function writeReport(ctx: Ctx, run: RunReport | undefined, found: Findings, backupDirs: string[]): Promise<string> {
  await mkdir(ctx.reportDir, { recursive: true, mode: 0o700 })
  const file = ctx.reportFile
  const report = rotationReport(ctx, run, found, backupDirs)
  // Written in chunks: at 30,000 pods the report is ~30 MB of JSON, and one string of it (plus its redacted copy) came at the run's fullest heap.
  const handle = await open(file, 'w', 0o600)
  try {
    for (const chunk of jsonChunks({ ...report, run })) await handle.write(ctx.redactor.redact(chunk))
    await handle.write('\n')
  } finally {
    await handle.close()
  }
  return `report: ${file}${run ? '' : ' (the run was refused before any step ran)'}`
}

/** The runbook's whole run, for its own entry point and for `kube-token-runbooks <runbook>`. */
export const main: Main = (io) => {
  // Worked out once after the run, for the file on disk and the printed result alike.
  let backupDirs: string[] = []
  return runbookMain(io, {
    cli,
    runbook,
    // --restore is another job with its own plan, chosen once every source of settings (flag, KTR_RESTORE, env file) is read.
    pick: (parsed) => (parsed.flags.restore !== undefined ? restoreRunbook : rotation(parsed.flags.skipCalico)),
    context: async (args) => {
      if (!Number.isInteger(args.cli.flags.timeout) || args.cli.flags.timeout < 1) throw new UsageError(`--timeout ${args.cli.flags.timeout} must be a whole number of seconds, at least 1`)
      restart.parseBoundBefore(args.cli.flags.boundBefore, args.io.now()) // a usage error before any connection
      // A signing key is cluster-wide: without -n, every namespace.
      const session = await openSession(args, { runbook: cli.name, defaultScope: 'all' })
      return contextOf(session, args.cli, io)
    },
    afterRun: async (run, ctx, found) => {
      backupDirs = await repairBackups(ctx, found)
      return writeReport(ctx, run, found, backupDirs)
    },
    extendReport: (report, ctx, found) => ({ rotation: rotationReport(ctx, report, found, backupDirs) }),
    renderText: (report, ctx, found) => renderRotationSummary(rotationReport(ctx, report, found, backupDirs), report),
  })
}

await runMain(import.meta.url, main)
