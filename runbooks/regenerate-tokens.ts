#!/usr/bin/env -S node --max-semi-space-size=16 --max-old-space-size=1536
// (V8 heap sized for big clusters, see "Memory" in README.md: young generation
// 2 x 16 MB; a heap limit of 1.5 GB makes old space grow ~1.8x its live size, not 4x.)
// regenerate-tokens: issue new tokens for the service-account token Secrets
// whose tokens the cluster no longer accepts (its signing key changed). Backs
// every Secret up first, blanks (or recreates) it so the tokens controller
// signs a new token with the current key, waits for the refill with a watch,
// and proves the new token works and the old one is rejected.
import type { V1Secret } from '@kubernetes/client-node'
import { join } from 'node:path'
import { defineCli, runbookMain, runMain, type ParsedCli, type Main } from '../lib/cli/index.ts'
import { openSession, type Session } from '../lib/cli/session.ts'
import { type Findings, type Runbook, type Step } from '../lib/engine/index.ts'
import { withApiErrors as api } from '../lib/kube/errors.ts'
import { KEY_FILE_FLAG, keyCommands, loadVerificationKeys } from '../lib/cli/keys.ts'
import { listServiceAccounts, listTokenSecrets, SA_NAME_ANNOTATION, secretKey, serviceAccountIndex } from '../lib/kube/token-secrets.ts'
import { Strategy, type RegenerateOutcome } from '../lib/regenerate/apply.ts'
import { proveAll, regenerateStep, type Regenerated } from '../lib/regenerate/kit.ts'
import { assessSecrets } from '../lib/regenerate/assess.ts'
import { summarizeAssessments, Verdict, type SecretAssessment } from '../lib/regenerate/select.ts'
import type { VerificationKey } from '../lib/token/keys.ts'

export const cli = defineCli({
  name: 'regenerate-tokens',
  summary: 'Issue new tokens for service-account token Secrets whose tokens no longer verify (after the signing key changed).',
  flags: [
    { name: 'service-account', type: 'string', valueName: 'name', description: 'Only Secrets of this ServiceAccount.' },
    { name: 'all-tokens', type: 'boolean', description: 'Regenerate every token Secret in scope, also those that still verify.' },
    {
      name: 'strategy',
      type: 'string',
      default: 'in-place',
      allowed: ['in-place', 'recreate'],
      description: 'in-place: blank data.token so the tokens controller refills the same Secret; recreate: delete and create it again under the same name.',
    },
    { name: 'backup-dir', type: 'string', valueName: 'dir', description: 'Where to back up each Secret before changing it (default: ~/.local/state/kube-token-runbooks/backups/<time>).' },
    { name: 'timeout', type: 'number', default: 120, valueName: 'seconds', description: 'How long to wait for the tokens controller to refill the Secrets.' },
    { name: 'max-parallel', type: 'number', default: 32, valueName: 'n', description: 'Secrets changed (and verified) at once.' },
    KEY_FILE_FLAG,
  ],
  examples: [
    { command: 'regenerate-tokens -A --dry-run', description: 'which Secrets are stale, and the kubectl commands, without changing anything' },
    { command: 'regenerate-tokens -n payments --yes -o json', description: 'unattended, for CI' },
  ],
})

export type Flags = ParsedCli<NonNullable<(typeof cli)['flags']>>['flags']

/** Settings and session, fixed before the run; what the steps find travels in their plans. */
export interface Ctx extends Session {
  flags: Flags
}

/** This runbook's context on a session: run alone, or by rotate-tokens with the session it shares. */
export function contextOf(session: Session, flags: Flags): Ctx {
  return { ...session, flags }
}

/** What the inventory found: the keys it judged with, every Secret's verdict, and the ones to regenerate. */
export interface StaleTokens {
  keys: readonly VerificationKey[]
  assessments: readonly SecretAssessment[]
  /** Stale and empty Secrets, as read before any change. */
  targets: readonly V1Secret[]
}

/** The Secrets a step acts on (backup, regeneration). */
export interface SecretsPlan {
  targets: readonly V1Secret[]
}

const findStaleTokens: Step<Ctx, StaleTokens> = {
  id: 'find-stale-tokens',
  title: 'Find the stale token Secrets',
  description:
    "Lists every service-account token Secret in scope and checks its token's signature against the API server's current keys; Secrets whose ServiceAccount is gone are reported, not touched.",
  readOnly: true,
  kubectl: (ctx) => [...keyCommands(ctx.flags.keyFile, ctx.kubectl), ctx.kubectl('get', 'secrets', ...ctx.scopeArgs, '--field-selector', 'type=kubernetes.io/service-account-token')],
  check: async (ctx) => {
    const plan = await api(ctx.kube.kc, () => assess(ctx))
    return { needed: false, summary: summarizeAssessments(plan.assessments), plan, details: { assessments: plan.assessments } }
  },
}

const backUpSecrets: Step<Ctx, SecretsPlan> = {
  id: 'back-up-secrets',
  title: 'Back up the Secrets',
  description: 'Writes each Secret about to change to the backup directory (owner-only files and a manifest); nothing changes if the backup cannot be written.',
  kubectl: (ctx, plan) =>
    (plan?.targets ?? []).map((s) => `${ctx.kubectl('get', 'secret', s.metadata!.name!, '-n', s.metadata!.namespace!, '-o', 'json')} > ${join(ctx.backup.dir, 'secret', s.metadata!.namespace!, s.metadata!.name!, `${s.metadata!.resourceVersion ?? 'none'}-${s.metadata!.uid ?? 'none'}.json`)}`),
  check: async (ctx, found) => {
    const { targets } = found.plan(findStaleTokens)
    const missing = await notBackedUp(ctx, targets)
    return { needed: missing.length > 0, summary: missing.length ? `${missing.length} Secret(s) to back up to ${ctx.backup.dir}` : 'nothing to back up', plan: { targets } }
  },
  apply: async (ctx, { targets }) => {
    // One batch: each directory fsynced once, one manifest (see Backup.saveAll).
    await ctx.backup.saveAll('Secret', targets)
    return { summary: `backed up ${targets.length} Secret(s) to ${ctx.backup.dir}` }
  },
  verify: async (ctx, { targets }) => {
    const missing = await notBackedUp(ctx, targets)
    return { ok: missing.length === 0, summary: missing.length ? `${missing.length} Secret(s) missing from the backup` : `backup complete: ${ctx.backup.dir}` }
  },
}

const regenerateTokens: Step<Ctx, StaleTokens, Regenerated> = {
  id: 'regenerate-tokens',
  title: 'Regenerate the tokens',
  requires: ['back-up-secrets'],
  description:
    'Blanks data.token of each stale Secret (or recreates it with --strategy recreate) so the tokens controller signs a new token with the current key, then waits for every refill.',
  kubectl: (ctx, plan) =>
    (plan?.targets ?? []).map((s) =>
      ctx.flags.strategy === Strategy.recreate
        ? `${ctx.kubectl('get', 'secret', s.metadata!.name!, '-n', s.metadata!.namespace!, '-o', 'json')} | jq 'del(.data, .metadata.uid, .metadata.resourceVersion, .metadata.creationTimestamp)' | ${ctx.kubectl('replace', '--force', '-f', '-')}`
        : ctx.kubectl('patch', 'secret', s.metadata!.name!, '-n', s.metadata!.namespace!, '--type=json', '-p', '[{"op":"replace","path":"/data/token","value":""}]'),
    ),
  check: async (ctx, found) => {
    const plan = found.plan(findStaleTokens)
    return {
      needed: plan.targets.length > 0,
      summary: plan.targets.length ? `${plan.targets.length} Secret(s) need a new token (${ctx.flags.strategy})` : 'every token Secret in scope holds a current token',
      plan,
    }
  },
  apply: (ctx, { targets }) =>
    regenerateStep(ctx.kube, targets, { ...ctx, strategy: ctx.flags.strategy as Strategy, maxParallel: ctx.flags.maxParallel, timeoutSeconds: ctx.flags.timeout }),
  verify: async (ctx, { keys, targets }, done) => {
    const problems = done ? await proveAll(ctx.kube, keys, targets, done, ctx.flags.maxParallel) : ['the tokens were not regenerated in this run']
    return {
      ok: problems.length === 0,
      summary: problems.length
        ? `${problems.length} new token(s) failed the check: ${problems[0]}`
        : `every new token is signed by a current key and authenticates; the old ones are rejected`,
      details: { problems },
    }
  },
}

/** The steps, by name: rotate-tokens runs them and reads their plans. */
export const steps = { findStaleTokens, backUpSecrets, regenerateTokens } as const

export const runbook: Runbook<Ctx> = {
  name: cli.name,
  summary: cli.summary,
  steps: [findStaleTokens, backUpSecrets, regenerateTokens],
}

/** The targets not yet in the backup, read back from disk (not from memory: a backup is what survived the write). */
async function notBackedUp(ctx: Readonly<Ctx>, targets: readonly V1Secret[]): Promise<V1Secret[]> {
  const saved = new Set((await ctx.backup.objects()).map((o) => `${o.namespace}/${o.name}`))
  return targets.filter((s) => !saved.has(secretKey(s)))
}

async function assess(ctx: Readonly<Ctx>): Promise<StaleTokens> {
  const [keys, secrets, accounts] = await Promise.all([
    // Missing evidence is never a reason to change something: no usable key, no run (it throws).
    loadVerificationKeys(ctx.flags.keyFile, ctx.clusterJwks, { mustMatchCluster: true }),
    listTokenSecrets(ctx.kube, ctx.scope, ctx.selector),
    listServiceAccounts(ctx.kube, ctx.scope),
  ])
  const index = serviceAccountIndex(accounts)
  const wanted = secrets.filter((s) => !ctx.flags.serviceAccount || s.metadata?.annotations?.[SA_NAME_ANNOTATION] === ctx.flags.serviceAccount)
  const assessments = await assessSecrets(wanted, { keys: keys!.keys, accounts: index, allTokens: ctx.flags.allTokens, now: ctx.now(), register: (t) => ctx.redactor.register(t) })
  const needsWork = new Set(assessments.filter((a) => a.verdict === Verdict.stale || a.verdict === Verdict.empty).map((a) => a.key))
  return { keys: keys!.keys, assessments, targets: wanted.filter((s) => needsWork.has(secretKey(s))) }
}

/** Per Secret, what the write did, when the regeneration ran. */
function outcomesOf(found: Findings): ReadonlyMap<string, RegenerateOutcome> {
  return found.result(regenerateTokens)?.outcomes ?? new Map()
}

function renderAssessments(found: Findings): string {
  if (!found.has(findStaleTokens)) return ''
  const { assessments } = found.plan(findStaleTokens)
  const outcomes = outcomesOf(found)
  const interesting = assessments.filter((a) => a.verdict !== Verdict.current)
  if (interesting.length === 0) return `${summarizeAssessments(assessments)}.`
  const width = Math.max(...interesting.map((a) => a.key.length))
  return [
    `${summarizeAssessments(assessments)}:`,
    ...interesting.map((a) => `  ${a.key.padEnd(width)}  ${a.verdict.padEnd(8)}  ${a.why}${outcomes.get(a.key) ? ` -> ${outcomes.get(a.key)}` : ''}`),
  ].join('\n')
}

/** The runbook's whole run, for its own entry point and for `kube-token-runbooks <runbook>`. */
export const main: Main = (io) =>
  runbookMain(io, {
    cli,
    runbook,
    context: async (args) => contextOf(await openSession(args, { runbook: cli.name, defaultScope: 'context' }), args.cli.flags),
    extendReport: (_report, ctx, found) => ({
      backupDir: ctx.backup.dir,
      secrets: (found.has(findStaleTokens) ? found.plan(findStaleTokens).assessments : []).map((a) => ({ ...a, ...(outcomesOf(found).get(a.key) ? { outcome: outcomesOf(found).get(a.key) } : {}) })),
    }),
    renderText: (_report, _ctx, found) => renderAssessments(found),
  })

await runMain(import.meta.url, main)
