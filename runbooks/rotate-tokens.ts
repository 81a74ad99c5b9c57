#!/usr/bin/env node
// rotate-tokens: the maintenance job after a cluster's service-account
// signing key was regenerated. Preflight (who, where, may we), inventory (what
// is stale, what depends on it), then regenerate-tokens, restart-dependent-pods
// and fix-calico, each run as a child with its own checks, then proof
// (verify-token over every token Secret) and a JSON report on disk.
// Interrupt it at any point and run it again: every step re-checks the
// cluster and does only what is left.
import { mkdir, writeFile } from 'node:fs/promises'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { defineCli, loadKubeConfig, namespaceScope, runbookMain, runMain, type ParsedCli, type CommonOptions, type Main } from '../lib/cli/index.ts'
import { defaultBackupRoot, readBackup, timestampDirName } from '../lib/backup.ts'
import { childFailure, plannedCommands, plannedSteps, runChild, type ChildRun } from '../lib/chain.ts'
import { kubectlCommand, type Runbook, type Step } from '../lib/engine/index.ts'
import type { Output } from '../lib/output.ts'
import { whoAmI, missingPermissions } from '../lib/kube/access.ts'
import { makeKube, type Kube } from '../lib/kube/clients.ts'
import { withApiErrors as api } from '../lib/kube/errors.ts'
import { fetchJwks, reviewToken } from '../lib/kube/token-checks.ts'
import { describePermission, rbacRulesFor, requiredPermissions, type Permission } from '../lib/preflight/permissions.ts'
import { keysFromJwks } from '../lib/token/keys.ts'
import { applyRestore, planRestore, restoreFailures, type RestoreItem } from '../lib/restore.ts'
import { tokenOf } from '../lib/kube/token-secrets.ts'
import { renderRotationSummary, type RotationReport } from '../lib/report/rotation.ts'

export const cli = defineCli({
  name: 'rotate-tokens',
  summary: 'After the service-account signing key was regenerated: regenerate stale tokens, restart what holds them, fix Calico, and prove it.',
  flags: [
    { name: 'backup-dir', type: 'string', valueName: 'dir', description: 'Where the Secrets and pods are backed up before any change (default: ~/.local/state/kube-token-runbooks/backups/<time>).' },
    { name: 'report-dir', type: 'string', valueName: 'dir', description: 'Where the JSON report is written (default: ~/.local/state/kube-token-runbooks/reports).' },
    { name: 'recreate-bare-pods', type: 'boolean', description: 'Re-create pods without an owner from their own spec (refused by default, like kubectl drain).' },
    { name: 'strategy', type: 'string', default: 'in-place', allowed: ['in-place', 'recreate'], description: 'How regenerate-tokens issues new tokens.' },
    { name: 'skip-calico', type: 'boolean', description: 'Do not look for Calico.' },
    {
      name: 'restore',
      type: 'string',
      valueName: 'backup-dir',
      description: 'Put the Secrets of this backup back instead (while the old key is still trusted, after a graceful rotation); its own plan and confirmation.',
    },
  ],
  examples: [
    { command: 'rotate-tokens -A --dry-run', description: 'the whole plan as a numbered checklist with kubectl commands; changes nothing' },
    { command: 'rotate-tokens -A', description: 'at a terminal: asks before every step that changes something' },
    { command: 'rotate-tokens -A --yes -o json', description: 'unattended (CI); rerun the same command after an interruption' },
    { command: 'rotate-tokens --restore ~/.local/state/kube-token-runbooks/backups/<time>', description: 'undo: put the backed-up tokens back' },
  ],
})

type Flags = ParsedCli<NonNullable<(typeof cli)['flags']>>['flags']

interface Ctx {
  flags: Flags
  /** --dry-run: the proof and the report describe what would happen. */
  dryRun: boolean
  kube: Kube
  output: Output
  now: () => Date
  /** Flags every child gets: connection and scope. */
  childArgs: string[]
  backupDir: string
  reportDir: string
  cluster: { context: string; server: string }
  /** The namespace in scope; undefined with -A. */
  namespace: string | undefined
  report: RotationReport
  /** Latest dry run of each child, from its step's check. */
  plans: Partial<Record<Child, ChildRun>>
  /** Whether a child changed the cluster since the plans were made (then they are re-made). */
  changedSincePlans: boolean
  /** Before regeneration nothing is marked yet: what restart-dependent-pods would do for the stale Secrets. */
  restartPreview?: ChildRun
  /** --restore: what to do with each backed-up Secret. */
  restore: RestoreItem[]
}

const Children = ['regenerate-tokens', 'restart-dependent-pods', 'fix-calico'] as const
type Child = (typeof Children)[number]

const preflight: Step<Ctx> = {
  id: 'preflight',
  title: 'Preflight: cluster, identity, permissions, keys',
  description: 'Names the cluster, its version and who we are, checks every permission the run needs before anything changes, and reads the current verification keys.',
  readOnly: true,
  kubectl: () => [kubectlCommand('config', 'current-context'), kubectlCommand('version'), kubectlCommand('auth', 'whoami'), kubectlCommand('auth', 'can-i', '--list'), kubectlCommand('get', '--raw', '/openid/v1/jwks')],
  check: async (ctx) => {
    const { kube } = ctx
    const [version, user, jwks] = await api(kube.kc, () => Promise.all([kube.version.getCode(), whoAmI(kube), fetchJwks(kube)]))
    const kids = keysFromJwks(jwks).map((k) => k.kid)
    const wanted = requiredPermissions({ ...(ctx.namespace ? { namespace: ctx.namespace } : {}), calico: !ctx.flags.skipCalico })
    const missing = await api(kube.kc, () => missingPermissions(kube, wanted))
    Object.assign(ctx.report.preflight, { version: version.gitVersion, user: user ?? 'unknown', keyIds: kids, missingPermissions: missing.map(describePermission) })
    return {
      needed: false,
      summary: `cluster ${ctx.cluster.context} (${ctx.cluster.server}), Kubernetes ${version.gitVersion}, as ${user ?? 'unknown'}; ${kids.length} verification key(s); ${missing.length ? `${missing.length} permission(s) missing` : 'all permissions granted'}`,
      details: { missing },
    }
  },
  verify: async (_ctx, check) => {
    const missing = (check.details as { missing: Permission[] }).missing
    return {
      ok: missing.length === 0,
      summary: missing.length
        ? `missing permissions, nothing was changed: ${missing.map((p) => `${describePermission(p)} (to ${p.why})`).join('; ')}. Add these RBAC rules to a (Cluster)Role bound to you, then rerun:\n${rbacRulesFor(missing)}`
        : 'every permission the run needs is granted',
    }
  },
}

const inventory: Step<Ctx> = {
  id: 'inventory',
  title: 'Inventory: stale tokens, dependent workloads, Calico',
  description: 'Dry-runs every runbook of the chain against live state and sums up the plan before anything changes.',
  readOnly: true,
  kubectl: (ctx) => Children.filter((c) => c !== 'fix-calico' || !ctx.flags.skipCalico).map((c) => `./runbooks/${c}.ts --dry-run ${ctx.childArgs.join(' ')}`.trim()),
  check: async (ctx) => {
    for (const child of activeChildren(ctx)) ctx.plans[child] = await dryRun(ctx, child)
    ctx.restartPreview = await previewRestarts(ctx)
    ctx.report.inventory = inventorySummary(ctx)
    return { needed: false, summary: ctx.report.inventory }
  },
}

function childStep(child: Child, title: string, description: string, extraArgs: (ctx: Ctx) => string[]): Step<Ctx> {
  return {
    id: child,
    title,
    description,
    kubectl: (ctx) => {
      const plan = ctx.plans[child]
      return [`./runbooks/${child}.ts --yes ${[...ctx.childArgs, ...extraArgs(ctx)].join(' ')}`.trim(), ...(plan ? plannedCommands(plan).map((c) => `  ${c}`) : [])]
    },
    check: async (ctx) => {
      if (!activeChildren(ctx).includes(child)) return { needed: false, summary: 'skipped (--skip-calico)' }
      // The inventory's dry run is still current unless an earlier step changed the cluster.
      const plan = (ctx.plans[child] = ctx.plans[child] && !ctx.changedSincePlans ? ctx.plans[child] : await dryRun(ctx, child, extraArgs(ctx)))
      const steps = plannedSteps(plan)
      return { needed: steps.length > 0, summary: steps.length ? `${child} would: ${steps.join(', ')} (on ${ctx.cluster.context})` : `${child}: nothing to do` }
    },
    apply: async (ctx) => {
      ctx.changedSincePlans = true
      const run = await runChild(child, ['--yes', ...extraArgs(ctx)], { common: ctx.childArgs, onProgress: (l) => ctx.output.progress(l) })
      ctx.report.runs.push({ runbook: child, exitCode: run.exitCode, ...(run.report ? { report: run.report } : {}) })
      if (run.exitCode !== 0 && !leftForAPerson(ctx, child, run)) throw childFailure(child, run)
      const applied = run.report?.steps.filter((s) => s.outcome === 'applied').map((s) => s.summary.split('; verified')[0]) ?? []
      return { summary: applied.length ? applied.join('; ') : 'done' }
    },
  }
}

const proof: Step<Ctx> = {
  id: 'verify',
  title: 'Verify: every token Secret in scope authenticates',
  description: 'Runs verify-token over every token Secret in scope (signature by a current key, TokenReview, the bearer check); the run succeeds only if all are valid.',
  readOnly: true,
  kubectl: (ctx) => [`./runbooks/verify-token.ts --all ${ctx.childArgs.join(' ')}`.trim()],
  check: async () => ({ needed: false, summary: 'checked in verify' }),
  verify: async (ctx) => {
    if (ctx.dryRun) return { ok: true, summary: 'after the changes: verify-token --all must find every token Secret valid' }
    const run = await runChild<{ results: Array<{ source: string; status: string; reason: string }> }>('verify-token', ['--all'], { common: ctx.childArgs })
    const results = run.report?.results ?? []
    const bad = results.filter((r) => r.status !== 'valid')
    ctx.report.verification = { tokens: results.length, valid: results.length - bad.length, notValid: bad }
    return {
      ok: run.exitCode === 0 || (results.length === 0 && run.report !== undefined),
      summary: bad.length ? `${bad.length} of ${results.length} token(s) still not valid: ${bad[0]!.source}: ${bad[0]!.reason}` : `all ${results.length} token Secret(s) valid`,
    }
  },
}

const writeReport: Step<Ctx> = {
  id: 'write-report',
  title: 'Write the report',
  description: 'Writes what changed, where the backup is, what was refused and what still needs a person to a JSON file, and prints its path.',
  readOnly: true,
  kubectl: (ctx) => [`cat ${join(ctx.reportDir, '<time>.json')}`],
  check: async (ctx) => {
    if (ctx.dryRun) return { needed: false, summary: `the report would be written to ${ctx.reportDir}` }
    await mkdir(ctx.reportDir, { recursive: true, mode: 0o700 })
    const file = join(ctx.reportDir, `rotate-tokens-${timestampDirName(ctx.now())}.json`)
    ctx.report.reportFile = file
    ctx.report.backupDir = existsSync(ctx.backupDir) ? ctx.backupDir : undefined
    await writeFile(file, `${JSON.stringify(ctx.report, null, 2)}\n`, { mode: 0o600 })
    return { needed: false, summary: `report: ${file}` }
  },
  verify: async (ctx) => ({
    ok: ctx.report.needsPerson.length === 0,
    summary: ctx.report.needsPerson.length ? `${ctx.report.needsPerson.length} item(s) need a person: ${ctx.report.needsPerson.join('; ')}` : `report: ${ctx.report.reportFile}`,
  }),
}

export const runbook: Runbook<Ctx> = {
  name: cli.name,
  summary: cli.summary,
  steps: [
    preflight,
    inventory,
    childStep(
      'regenerate-tokens',
      'Regenerate stale token Secrets',
      'Backs up, then blanks each token Secret signed by a retired key so the tokens controller re-signs it, and proves the new tokens.',
      (ctx) => ['--backup-dir', ctx.backupDir, '--strategy', ctx.flags.strategy],
    ),
    childStep(
      'restart-dependent-pods',
      'Restart the workloads that hold old tokens',
      'Rollout-restarts each Deployment, StatefulSet and DaemonSet whose pods started before their token was regenerated, evicts other pods honouring PodDisruptionBudgets, and refuses bare pods unless asked.',
      (ctx) => ['--backup-dir', ctx.backupDir, ...(ctx.flags.recreateBarePods ? ['--recreate-bare-pods'] : [])],
    ),
    childStep('fix-calico', "Fix Calico's CNI token", 'Removes a literal token from calico-config, regenerates the CNI service account token and restarts calico-node, if Calico is installed.', (ctx) => [
      '--backup-dir',
      ctx.backupDir,
    ]),
    proof,
    writeReport,
  ],
}

/** The undo runbook: `--restore <backup-dir>` puts backed-up token Secrets back. */
export const restoreRunbook: Runbook<Ctx> = {
  name: cli.name,
  summary: 'Put backed-up token Secrets back (after a graceful rotation, while the old key is still trusted).',
  steps: [
    {
      id: 'read-backup',
      title: 'Read the backup and compare it with the cluster',
      description: 'Reads the backup manifest and each Secret in it, and decides per Secret: restore, re-create, already the same, or refuse (its token was signed by a key the cluster no longer trusts).',
      readOnly: true,
      kubectl: (ctx) => [`cat ${join(ctx.flags.restore ?? '', 'manifest.json')}`, kubectlCommand('get', '--raw', '/openid/v1/jwks')],
      check: async (ctx) => {
        const { objects } = await readBackup(ctx.flags.restore!)
        const keys = keysFromJwks(await api(ctx.kube.kc, () => fetchJwks(ctx.kube)))
        ctx.restore = await api(ctx.kube.kc, () => planRestore(ctx.kube, objects, keys))
        const count = (a: string) => ctx.restore.filter((i) => i.action === a).length
        return { needed: false, summary: `${ctx.restore.length} Secret(s) in the backup: ${count('restore')} to restore, ${count('create')} to re-create, ${count('same')} unchanged, ${count('refuse')} refused` }
      },
    },
    {
      id: 'restore-secrets',
      title: 'Restore the Secrets',
      description: 'Writes each backed-up token back into its Secret (or re-creates the Secret), then proves with TokenReview that each restored token authenticates.',
      kubectl: (ctx) =>
        ctx.restore
          .filter((i) => i.action === 'restore' || i.action === 'create')
          .map((i) => `${kubectlCommand('apply', '-f', join(ctx.flags.restore ?? '', i.entry.file))}  # ${i.entry.namespace}/${i.entry.name}: ${i.why}`),
      check: async (ctx) => {
        const todo = ctx.restore.filter((i) => i.action === 'restore' || i.action === 'create')
        // Refused entries keep the step "needed" so its verify runs and fails: a restore that skipped some is not a success.
        const refused = restoreFailures(ctx.restore).length
        return { needed: todo.length > 0 || refused > 0, summary: todo.length ? `${todo.length} Secret(s) to put back on ${ctx.cluster.context}` : refused ? `nothing restorable; ${refused} refused` : 'every restorable Secret already holds its backed-up token' }
      },
      apply: async (ctx) => {
        const todo = ctx.restore.filter((i) => i.action === 'restore' || i.action === 'create')
        for (const item of todo) await api(ctx.kube.kc, () => applyRestore(ctx.kube, item))
        return { summary: `put back ${todo.length} Secret(s)` }
      },
      verify: async (ctx) => {
        const restored = ctx.restore.filter((i) => i.action !== 'refuse')
        const failed = []
        for (const item of restored) {
          const review = await api(ctx.kube.kc, () => reviewToken(ctx.kube, tokenOf(item.backup)!))
          if (!review.authenticated) failed.push(`${item.entry.namespace}/${item.entry.name}`)
        }
        const refused = restoreFailures(ctx.restore)
        if (refused.length) failed.push(...refused.map((r) => `refused ${r}`))
        return { ok: failed.length === 0, summary: failed.length ? `not restored: ${failed.join('; ')}` : `${restored.length} restored token(s) authenticate` }
      },
    },
  ],
}

/**
 * A child that did its work but refused part of it (restart-dependent-pods
 * refusing a bare pod) does not stop the chain: the rest still runs, and the
 * refusal goes into the report as work for a person (the run then exits 1).
 */
function leftForAPerson(ctx: Ctx, child: Child, run: ChildRun): boolean {
  const failed = run.report?.steps.filter((s) => s.outcome === 'failed') ?? []
  const refusedOnly = child === 'restart-dependent-pods' && failed.length === 1 && failed[0]!.id === 'verify-dependents'
  if (refusedOnly) ctx.report.needsPerson.push(`${child}: ${failed[0]!.summary}`)
  return refusedOnly
}

function activeChildren(ctx: Ctx): Child[] {
  return Children.filter((c) => (c === 'fix-calico' ? !ctx.flags.skipCalico && existsSync(join(import.meta.dirname, 'fix-calico.ts')) : true))
}

async function dryRun(ctx: Ctx, child: Child, extra: string[] = []): Promise<ChildRun> {
  const run = await runChild(child, ['--dry-run', ...extra], { common: ctx.childArgs })
  if (!run.report) throw childFailure(child, run)
  return run
}

function staleSecrets(ctx: Ctx): string[] {
  const regen = ctx.plans['regenerate-tokens']?.report as { secrets?: Array<{ key: string; verdict: string }> } | undefined
  return regen?.secrets?.filter((s) => s.verdict === 'stale' || s.verdict === 'empty').map((s) => s.key) ?? []
}

/** The restart plan for the stale Secrets, named explicitly (a preview; capped so the command line stays sane). */
async function previewRestarts(ctx: Ctx): Promise<ChildRun | undefined> {
  const stale = staleSecrets(ctx)
  if (stale.length === 0 || stale.length > 200) return undefined
  // Informational only: a Secret deleted meanwhile (a namespace going away) must not fail the inventory.
  const run = await runChild('restart-dependent-pods', ['--dry-run', ...stale.flatMap((key) => ['--secret', key]), ...(ctx.flags.recreateBarePods ? ['--recreate-bare-pods'] : [])], {
    common: ctx.childArgs,
  }).catch(() => undefined)
  return run?.exitCode === 0 ? run : undefined
}

function inventorySummary(ctx: Ctx): string {
  const regen = ctx.plans['regenerate-tokens']?.report as { secrets?: Array<{ key: string; verdict: string }> } | undefined
  const stale = staleSecrets(ctx).map((key) => ({ key }))
  const orphaned = regen?.secrets?.filter((s) => s.verdict === 'orphaned') ?? []
  const namespaces = new Set(stale.map((s) => s.key.split('/')[0]))
  const restart = (ctx.restartPreview ?? ctx.plans['restart-dependent-pods'])?.report as { plan?: { summary?: string } } | undefined
  const calico = ctx.plans['fix-calico']?.report
  const calicoSummary = calico ? calico.steps.map((s) => s.summary).filter(Boolean)[0] ?? 'checked' : 'not checked'
  return [
    `${stale.length} stale token(s) in ${namespaces.size} namespace(s)`,
    ...(orphaned.length ? [`${orphaned.length} orphaned (not touched)`] : []),
    `restarts: ${restart?.plan?.summary ?? 'none planned yet (pods are matched to tokens once they are regenerated)'}`,
    `Calico: ${calicoSummary}`,
  ].join('; ')
}

function childArgsOf(common: CommonOptions, namespace: string | undefined): string[] {
  return [
    ...(common.kubeconfig ? ['--kubeconfig', common.kubeconfig] : []),
    ...(common.context ? ['--context', common.context] : []),
    ...(common.allNamespaces ? ['-A'] : namespace ? ['-n', namespace] : []),
    ...(common.selector ? ['-l', common.selector] : []),
  ]
}


/** The runbook's whole run, for its own entry point and for `kube-token-runbooks <runbook>`. */
export const main: Main = (io) =>
  runbookMain(io, {
    cli,
    // --restore is a different job with its own plan; chosen before flags are parsed, since the runbook shapes --help too.
    runbook: io.argv.includes('--restore') || io.env.KTR_RESTORE ? restoreRunbook : runbook,
    context: async ({ cli: parsed, output }) => {
      const kc = await loadKubeConfig(parsed.common, parsed.env, { cwd: io.cwd })
      const scope = namespaceScope(parsed.common, kc)
      const state = join(defaultBackupRoot(parsed.env), '..')
      const cluster = { context: kc.getCurrentContext(), server: kc.getCurrentCluster()?.server ?? '' }
      const backupDir = parsed.flags.backupDir ?? join(defaultBackupRoot(parsed.env), timestampDirName(io.now()))
      return {
        flags: parsed.flags,
        dryRun: parsed.common.dryRun,
        kube: await makeKube(kc, { requestTimeoutMs: parsed.common.requestTimeoutMs }),
        output,
        now: io.now,
        childArgs: childArgsOf(parsed.common, scope.all ? undefined : scope.namespace),
        backupDir,
        reportDir: parsed.flags.reportDir ?? join(state, 'reports'),
        cluster,
        namespace: scope.all ? undefined : scope.namespace,
        report: { cluster, startedAt: io.now().toISOString(), preflight: {}, inventory: '', runs: [], backupDir, verification: undefined, reportFile: undefined, needsPerson: [] },
        plans: {},
        changedSincePlans: false,
        restore: [],
      }
    },
    extendReport: (_report, ctx) => ({ rotation: ctx.report }),
    renderText: (report, ctx) => renderRotationSummary(ctx.report, report),
  })

await runMain(import.meta.url, main)
