#!/usr/bin/env -S node --max-semi-space-size=16 --max-old-space-size=1536
// (V8 heap sized for big clusters, see "Memory" in README.md: young generation
// 2 x 16 MB; a heap limit of 1.5 GB makes old space grow ~1.8x its live size, not 4x.)
// restart-dependent-pods: after regenerate-tokens, replace the pods that
// still hold an old token. The cluster says which: token Secrets carry
// kube-token-runbooks.io/regenerated-at, and a pod that names one and started
// before that time read the old token. Restarts go through the owner (one
// `kubectl rollout restart` per workload), else the Eviction API (which
// honours PodDisruptionBudgets); bare pods are refused unless
// --recreate-bare-pods; every rollout is waited for, with a deadline.
// On a node, --kubelet-log adds what the kubelet logged (journalctl -u
// kubelet, a log file, or stdin): Secrets it could not find, once the API
// server confirms they are gone, and CNI Unauthorized errors, which point at
// fix-calico.
// The steps are below; what they read and do is in lib/restart (effects) and
// lib/workloads (the judgement), their words in lib/report/restart.ts.
import { REGENERATED_AT_ANNOTATION } from '../lib/annotations.ts'
import { openSession } from '../lib/cli/session.ts'
import { defineCli, runbookMain, runMain, type Main } from '../lib/cli/index.ts'
import type { Findings, Runbook, Step } from '../lib/engine/index.ts'
import { describeDiscovery, discoveryDetails, renderRestartText, restartReportFields, type RestartRun } from '../lib/report/restart.ts'
import { discoveryCommands, ownerCommands, podsCommand, restartCommands } from '../lib/restart/commands.ts'
import { checkFlags, contextOf, NO_UPSTREAM, type Ctx } from '../lib/restart/context.ts'
import { discover, type Discovery } from '../lib/restart/discover.ts'
import { restartAll, type Restarted } from '../lib/restart/execute.ts'
import { readLogFlag } from '../lib/restart/kubelet-log.ts'
import { planFor, planOnly, type Planned } from '../lib/restart/plan.ts'
import { provePodsAfter, replacedPodsGone, type PodsProof } from '../lib/restart/prove.ts'
import { actionable } from '../lib/workloads/restart-results.ts'
import { ownerLabel } from '../lib/workloads/owners.ts'

export { contextOf, parseBoundBefore, type Ctx } from '../lib/restart/context.ts'
export type { PodsProof } from '../lib/restart/prove.ts'

export const cli = defineCli({
  name: 'restart-dependent-pods',
  summary:
    'Replace the pods that still hold a token from before regenerate-tokens: one rollout restart per workload, evictions that honour PodDisruptionBudgets, bare pods only when asked. -l limits the pods considered.',
  flags: [
    {
      name: 'secret',
      type: 'string[]',
      valueName: 'namespace/name',
      description: `Only the pods that depend on this token Secret (repeatable), instead of every token Secret in scope marked ${REGENERATED_AT_ANNOTATION}. Without that annotation, every pod that names it counts.`,
    },
    {
      name: 'bound-before',
      type: 'string',
      valueName: 'time|now',
      description:
        'Also replace pods with a projected service-account token (kube-api-access-*) started before this RFC 3339 time, or now: their token was signed by the old key and the kubelet refreshes it only much later.',
    },
    {
      name: 'recreate-bare-pods',
      type: 'boolean',
      description: 'Delete pods that no controller owns and create them again from their own spec (backed up first). By default they are refused, like kubectl drain.',
    },
    {
      name: 'kubelet-log',
      type: 'string',
      valueName: 'journal|file|-',
      description:
        "On a node: also read the kubelet's log for Secrets it could not find (FailedMount, `secret \"x\" not found`) and CNI Unauthorized errors. journal runs `journalctl -u kubelet --since <--kubelet-log-since> -o cat`; a file path reads that file (machines without journald; ./journal for a file of that name); - reads stdin (pipe in another unit's journal). A Secret the log names counts only once the API server confirms it is gone, and only for the pods whose spec names it; CNI errors are reported, pointing at fix-calico. Read-only.",
    },
    {
      name: 'kubelet-log-since',
      type: 'string',
      valueName: 'time|duration',
      description: 'With --kubelet-log: only lines logged since this RFC 3339 time, or this long ago (30m, 2h, 1d). Default for journal: 1h; a file or stdin is read whole unless given.',
    },
    { name: 'max-parallel', type: 'number', valueName: 'n', default: 32, description: 'Restarts, evictions and re-creations sent at a time; every rollout is then waited on at once, through one shared watch.' },
    { name: 'timeout', type: 'number', valueName: 'seconds', default: 300, description: 'Each rollout, eviction or re-creation fails after this long without progress.' },
    {
      name: 'backup-dir',
      type: 'string',
      valueName: 'path',
      description: 'Where a copy of every object is written before it is changed (default: $XDG_STATE_HOME or ~/.local/state, then kube-token-runbooks/backups/<timestamp>).',
    },
  ],
  examples: [
    { command: 'restart-dependent-pods -A --dry-run', description: 'the plan for the whole cluster: every owner and pod, the action, the kubectl command' },
    { command: 'restart-dependent-pods -n team-a --yes', description: 'restart what depends on the regenerated tokens of one namespace' },
    { command: 'restart-dependent-pods --secret kube-system/calico-node-token --yes --recreate-bare-pods', description: 'one Secret, bare pods included' },
    { command: 'restart-dependent-pods -A --bound-before now --dry-run', description: 'after a key rotation: pods whose projected tokens predate it' },
    { command: 'sudo restart-dependent-pods -A --kubelet-log journal --kubelet-log-since 2h --dry-run', description: "on a node: add what its kubelet logged in the last 2 hours" },
    { command: 'restart-dependent-pods -A --kubelet-log /var/log/kubelet.log --dry-run', description: 'the same from a log file, on a machine without journald' },
  ],
})

/** What the steps before this runbook's found (rotate-tokens: regenerate-tokens'), or nothing when run alone. */
const upstreamOf = (ctx: Readonly<Ctx>, found: Findings) => ctx.upstream?.(found) ?? NO_UPSTREAM

export const findDependentPods: Step<Ctx, Discovery> = {
  id: 'find-dependent-pods',
  title: 'Find the pods that hold an old token',
  description: `Reads the token Secrets marked ${REGENERATED_AT_ANNOTATION} (or named with --secret) and the pods that name them and started before that time, pods stuck on a missing Secret (with --kubelet-log also those the node's kubelet logged, once the API server confirms the Secret gone), and with --bound-before pods whose projected tokens predate it.`,
  readOnly: true,
  kubectl: (ctx) => discoveryCommands(ctx),
  check: async (ctx, found) => {
    const discovery = await discover(ctx, upstreamOf(ctx, found))
    return { needed: false, summary: describeDiscovery(ctx, discovery), plan: discovery, details: discoveryDetails(discovery) }
  },
}

export const planRestarts: Step<Ctx, Planned> = {
  id: 'plan-restarts',
  title: 'Plan the restarts, per owner',
  description:
    'Resolves each pod to the object that restarts it: Deployments, StatefulSets and DaemonSets get one rollout restart each; OnDelete and other controllers go through eviction; bare pods are refused unless --recreate-bare-pods; static pods and Jobs are reported.',
  readOnly: true,
  kubectl: (ctx, plan) => ownerCommands(ctx, plan),
  check: async (ctx, found) => {
    const discovery = found.has(findDependentPods) ? found.plan(findDependentPods) : await discover(ctx, upstreamOf(ctx, found))
    const plan = await planFor(ctx, discovery)
    return { needed: false, summary: plan.summary, plan }
  },
}

export const restartWorkloads: Step<Ctx, Planned, Restarted> = {
  id: 'restart-workloads',
  title: 'Restart the workloads and wait for them',
  description:
    'Backs up each object, restarts each owner once (bounded by --max-parallel), evicts pod by pod where a rollout would not replace them, and waits for every rollout with a deadline (--timeout): new pods ready, old ones gone.',
  kubectl: (ctx, plan) => restartCommands(ctx, plan),
  check: async (_ctx, found) => {
    const plan = found.plan(planRestarts)
    const todo = actionable(plan)
    return todo.length === 0
      ? { needed: false, summary: plan.summary, plan }
      : { needed: true, summary: plan.summary, plan, details: { items: todo.map((item) => `${item.action} ${item.owner.namespace}/${ownerLabel(item.owner)}`) } }
  },
  apply: async (ctx, plan) => {
    const { summary, result } = await restartAll(ctx, plan)
    return { summary, result, details: { backupDir: result.backupDir } }
  },
  verify: (ctx, _plan, restarted) => replacedPodsGone(ctx, restarted?.results ?? []),
}

/** verify-dependents' plan: the proof of the pods, or nothing in a dry run (nothing was restarted). */
export type DependentsProof = PodsProof | undefined

export const verifyDependents: Step<Ctx, DependentsProof> = {
  id: 'verify-dependents',
  title: 'Check that no pod holds an old token',
  description:
    'Looks again, from scratch, at every pod in scope: none may name a regenerated Secret and have started before it, be stuck on a missing Secret, or (after a key change) hold a projected token bound before it; Jobs and static pods are reported, a refused bare pod fails this step.',
  readOnly: true,
  kubectl: (ctx) => [podsCommand(ctx)],
  check: async (ctx, found) => {
    if (ctx.dryRun) return { needed: false, summary: 'dry run: nothing was restarted, so nothing to re-check' }
    const pods = await provePods(ctx, found)
    return { needed: false, summary: pods.proof.summary, plan: pods, details: { left: pods.proof.left } }
  },
  verify: async (_ctx, pods) => {
    if (!pods) return { ok: true, summary: 'dry run: nothing was changed' }
    const { proof } = pods
    return { ok: proof.ok, summary: proof.ok ? proof.summary : `${proof.summary}: ${proof.lines.join('; ')}` }
  },
}

/** The steps by name: later steps (and rotate-tokens) read their plans and results through them. */
export const steps = { findDependentPods, planRestarts, restartWorkloads, verifyDependents }

export const runbook: Runbook<Ctx> = {
  name: cli.name,
  summary: cli.summary,
  steps: [findDependentPods, planRestarts, restartWorkloads, verifyDependents],
}

/**
 * The pods' proof from scratch, now (verify-dependents; rotate-tokens' final
 * proof): the pods this run's restarts created are known to hold the new token.
 */
export function provePods(ctx: Readonly<Ctx>, found: Findings): Promise<PodsProof> {
  return provePodsAfter(ctx, upstreamOf(ctx, found), found.result(restartWorkloads)?.results ?? [])
}

/** What this run's steps found and did, for the text result and the JSON report. */
function restartRun(ctx: Readonly<Ctx>, found: Findings): RestartRun {
  const planOf = <P>(step: Step<Ctx, P, unknown>) => (found.has(step) ? found.plan(step) : undefined)
  const discovery = planOf(findDependentPods)
  const plan = planOf(planRestarts)
  const restarted = found.result(restartWorkloads)
  const remaining = planOf(verifyDependents)?.remaining
  return {
    ...(ctx.boundBefore ? { boundBefore: ctx.boundBefore } : {}),
    ...(ctx.kubeletLog ? { kubeletLog: ctx.kubeletLog } : {}),
    ...(discovery ? { found: discovery } : {}),
    ...(plan ? { plan: planOnly(plan) } : {}),
    ...(restarted ? { restarted } : {}),
    ...(remaining ? { remaining } : {}),
  }
}

/** The runbook's whole run, for its own entry point and for `kube-token-runbooks <runbook>`. */
export const main: Main = (io) =>
  runbookMain(io, {
    cli,
    runbook,
    context: async (args) => {
      checkFlags(args.cli.flags, args.io.now()) // usage errors before any connection
      const kubeletLog = await readLogFlag(args.cli.flags, { stdin: args.io.stdin, env: { ...args.cli.env }, now: args.io.now }, args.output)
      const ctx = contextOf(await openSession(args, { runbook: cli.name, defaultScope: 'context' }), args.cli.flags)
      return kubeletLog ? { ...ctx, kubeletLog } : ctx
    },
    extendReport: (_report, ctx, found) => restartReportFields(restartRun(ctx, found)),
    renderText: (_report, ctx, found) => renderRestartText(restartRun(ctx, found)),
  })

await runMain(import.meta.url, main)
