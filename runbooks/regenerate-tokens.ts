#!/usr/bin/env node
// regenerate-tokens: issue new tokens for the service-account token Secrets
// whose tokens the cluster no longer accepts (its signing key changed). Backs
// every Secret up first, blanks (or recreates) it so the tokens controller
// signs a new token with the current key, waits for the refill with a watch,
// and proves the new token works and the old one is rejected.
import type { V1Secret } from '@kubernetes/client-node'
import { join } from 'node:path'
import { defineCli, runbookMain, runMain, type ParsedCli, type Main } from '../lib/cli/index.ts'
import { openSession, type Session } from '../lib/cli/session.ts'
import { createTicker, type Runbook } from '../lib/engine/index.ts'
import { withApiErrors as api } from '../lib/kube/errors.ts'
import { fetchJwks } from '../lib/kube/token-checks.ts'
import { KEY_FILE_FLAG, keyCommands, loadVerificationKeys } from '../lib/cli/keys.ts'
import { listServiceAccounts, listTokenSecrets, SA_NAME_ANNOTATION, secretKey, serviceAccountIndex } from '../lib/kube/token-secrets.ts'
import { Strategy, type RegenerateOutcome } from '../lib/regenerate/apply.ts'
import { proveAll, regenerateAndWait } from '../lib/regenerate/kit.ts'
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

export interface Ctx extends Session {
  flags: Flags
  keys: VerificationKey[]
  assessments: SecretAssessment[]
  /** Stale and empty Secrets, as read before any change. */
  targets: V1Secret[]
  outcomes: Map<string, RegenerateOutcome>
  refilled: Map<string, string>
}

/** This runbook's state on top of a session: run alone, or by rotate-tokens with the session it shares. */
export function contextOf(session: Session, flags: Flags): Ctx {
  return { ...session, flags, keys: [], assessments: [], targets: [], outcomes: new Map(), refilled: new Map() }
}

export const runbook: Runbook<Ctx> = {
  name: cli.name,
  summary: cli.summary,
  steps: [
    {
      id: 'find-stale-tokens',
      title: 'Find the stale token Secrets',
      description:
        "Lists every service-account token Secret in scope and checks its token's signature against the API server's current keys; Secrets whose ServiceAccount is gone are reported, not touched.",
      readOnly: true,
      kubectl: (ctx) => [...keyCommands(ctx.flags.keyFile, ctx.kubectl), ctx.kubectl('get', 'secrets', ...ctx.scopeArgs, '--field-selector', 'type=kubernetes.io/service-account-token')],
      check: async (ctx) => {
        await api(ctx.kube.kc, () => assess(ctx))
        return { needed: false, summary: summarizeAssessments(ctx.assessments), details: { assessments: ctx.assessments } }
      },
    },
    {
      id: 'back-up-secrets',
      title: 'Back up the Secrets',
      description: 'Writes each Secret about to change to the backup directory (owner-only files and a manifest); nothing changes if the backup cannot be written.',
      kubectl: (ctx) =>
        ctx.targets.map((s) => `${ctx.kubectl('get', 'secret', s.metadata!.name!, '-n', s.metadata!.namespace!, '-o', 'json')} > ${join(ctx.backup.dir, 'secret', s.metadata!.namespace!, s.metadata!.name!, `${s.metadata!.resourceVersion ?? 'none'}-${s.metadata!.uid ?? 'none'}.json`)}`),
      check: async (ctx) => {
        const saved = new Set((await ctx.backup.objects()).map((o) => `${o.namespace}/${o.name}`))
        const missing = ctx.targets.filter((s) => !saved.has(secretKey(s)))
        return { needed: missing.length > 0, summary: missing.length ? `${missing.length} Secret(s) to back up to ${ctx.backup.dir}` : 'nothing to back up' }
      },
      apply: async (ctx) => {
        // All at once: Backup bounds its file writes and commits the manifest once per batch.
        await Promise.all(ctx.targets.map((secret) => ctx.backup.save('Secret', secret)))
        return { summary: `backed up ${ctx.targets.length} Secret(s) to ${ctx.backup.dir}` }
      },
      verify: async (ctx) => {
        const saved = new Set((await ctx.backup.objects()).map((o) => `${o.namespace}/${o.name}`))
        const missing = ctx.targets.filter((s) => !saved.has(secretKey(s)))
        return { ok: missing.length === 0, summary: missing.length ? `${missing.length} Secret(s) missing from the backup` : `backup complete: ${ctx.backup.dir}` }
      },
    },
    {
      id: 'regenerate-tokens',
      title: 'Regenerate the tokens',
      requires: ['back-up-secrets'],
      description:
        'Blanks data.token of each stale Secret (or recreates it with --strategy recreate) so the tokens controller signs a new token with the current key, then waits for every refill.',
      kubectl: (ctx) =>
        ctx.targets.map((s) =>
          ctx.flags.strategy === Strategy.recreate
            ? `${ctx.kubectl('get', 'secret', s.metadata!.name!, '-n', s.metadata!.namespace!, '-o', 'json')} | jq 'del(.data, .metadata.uid, .metadata.resourceVersion, .metadata.creationTimestamp)' | ${ctx.kubectl('replace', '--force', '-f', '-')}`
            : ctx.kubectl('patch', 'secret', s.metadata!.name!, '-n', s.metadata!.namespace!, '--type=json', '-p', '[{"op":"replace","path":"/data/token","value":""}]'),
        ),
      check: async (ctx) => ({
        needed: ctx.targets.length > 0,
        summary: ctx.targets.length ? `${ctx.targets.length} Secret(s) need a new token (${ctx.flags.strategy})` : 'every token Secret in scope holds a current token',
      }),
      apply: async (ctx) => {
        const ticker = createTicker({ output: ctx.output, what: 'the tokens controller to refill the Secrets', timeoutMs: ctx.flags.timeout * 1000 })
        try {
          await regenerateAndWait(
            ctx.kube,
            ctx.targets,
            { strategy: ctx.flags.strategy as Strategy, maxParallel: ctx.flags.maxParallel, timeoutMs: ctx.flags.timeout * 1000, save: (s) => ctx.backup.save('Secret', s), clock: ctx.now, ticker },
            ctx,
          )
        } finally {
          ticker.done()
        }
        for (const token of ctx.refilled.values()) ctx.redactor.register(token)
        return { summary: `${ctx.refilled.size} Secret(s) hold a new token`, details: { outcomes: Object.fromEntries(ctx.outcomes) } }
      },
      verify: async (ctx) => {
        const problems = await proveAll(ctx.kube, ctx.keys, ctx.targets, ctx, ctx.flags.maxParallel)
        return {
          ok: problems.length === 0,
          summary: problems.length
            ? `${problems.length} new token(s) failed the check: ${problems[0]}`
            : `every new token is signed by a current key and authenticates; the old ones are rejected`,
          details: { problems },
        }
      },
    },
  ],
}

async function assess(ctx: Ctx): Promise<void> {
  const [keys, secrets, accounts] = await Promise.all([
    // Missing evidence is never a reason to change something: no usable key, no run (it throws).
    loadVerificationKeys(ctx.flags.keyFile, () => fetchJwks(ctx.kube), { mustMatchCluster: true }),
    listTokenSecrets(ctx.kube, ctx.scope, ctx.selector),
    listServiceAccounts(ctx.kube, ctx.scope),
  ])
  ctx.keys = keys!.keys
  const index = serviceAccountIndex(accounts)
  const wanted = secrets.filter((s) => !ctx.flags.serviceAccount || s.metadata?.annotations?.[SA_NAME_ANNOTATION] === ctx.flags.serviceAccount)
  ctx.assessments = await assessSecrets(wanted, { keys: ctx.keys, accounts: index, allTokens: ctx.flags.allTokens, now: ctx.now(), register: (t) => ctx.redactor.register(t) })
  const needsWork = new Set(ctx.assessments.filter((a) => a.verdict === Verdict.stale || a.verdict === Verdict.empty).map((a) => a.key))
  ctx.targets = wanted.filter((s) => needsWork.has(secretKey(s)))
}

function renderAssessments(ctx: Ctx): string {
  const interesting = ctx.assessments.filter((a) => a.verdict !== Verdict.current)
  if (interesting.length === 0) return `${summarizeAssessments(ctx.assessments)}.`
  const width = Math.max(...interesting.map((a) => a.key.length))
  return [
    `${summarizeAssessments(ctx.assessments)}:`,
    ...interesting.map((a) => `  ${a.key.padEnd(width)}  ${a.verdict.padEnd(8)}  ${a.why}${ctx.outcomes.get(a.key) ? ` -> ${ctx.outcomes.get(a.key)}` : ''}`),
  ].join('\n')
}

/** The runbook's whole run, for its own entry point and for `kube-token-runbooks <runbook>`. */
export const main: Main = (io) =>
  runbookMain(io, {
    cli,
    runbook,
    context: async (args) => contextOf(await openSession(args, { runbook: cli.name, defaultScope: 'context' }), args.cli.flags),
    extendReport: (_report, ctx) => ({
      backupDir: ctx.backup.dir,
      secrets: ctx.assessments.map((a) => ({ ...a, ...(ctx.outcomes.get(a.key) ? { outcome: ctx.outcomes.get(a.key) } : {}) })),
    }),
    renderText: (_report, ctx) => renderAssessments(ctx),
  })

await runMain(import.meta.url, main)
