#!/usr/bin/env -S node --max-semi-space-size=16 --max-old-space-size=1536
// (V8 heap sized for big clusters, see "Memory" in README.md: young generation
// 2 x 16 MB; a heap limit of 1.5 GB makes old space grow ~1.8x its live size, not 4x.)
// fix-calico: make the token Calico's CNI plugin presents on every node fresh
// again after the service-account signing key changed, and prove it.
// Detects the install (manifest or operator, version, the CNI's
// ServiceAccount); checks the CNI config template for a literal token (the
// trap: every calico-node restart writes it back), the CNI ServiceAccount's
// legacy token Secrets and the token each node actually presents; then backs
// up, regenerates the stale Secrets, puts the placeholder back (or, with
// --embed-token, a fresh token), and restarts calico-node so every node
// renders its CNI config again. Node-local mode (--cni-conf-dir) repairs the
// files of the node it runs on instead.
import { hostname } from 'node:os'
import { join } from 'node:path'
import type { KubeConfig } from '@kubernetes/client-node'
import { Backup, defaultBackupRoot, timestampDirName } from '../lib/backup.ts'
import * as cmd from '../lib/calico/commands.ts' // the kubectl each step shows
import { checkOfflineToken, validateFlags, type CalicoBase, type Ctx } from '../lib/calico/context.ts'
import type { AccountPlan, Basis, BackupPlan, ConfigFixPlan, ConfigFixResult, ConfigPlan, DetectPlan, FinalPlan, KeysPlan, NodeRewritePlan, NodeRewriteResult, NodesPlan, ProbePlan, ProbeRun, RegeneratePlan, RestartResult, RestartStepPlan } from '../lib/calico/context.ts'
import { checkConfigFix, checkNodeRewrite, checkRegenerate, factsOf, finalVerdict, planIfChecked, probeVerdict, renderFindings, reportFields } from '../lib/calico/findings.ts'
import { readTokenFile } from '../lib/cli/inputs.ts'
import { KEY_FILE_FLAG, loadVerificationKeys } from '../lib/cli/keys.ts'
import { defineCli, loadKubeConfig, runbookMain, runMain, type ParsedCli, type Main } from '../lib/cli/index.ts'
import { connectionArgs, resolveMode, type Findings, type Runbook, type Step } from '../lib/engine/index.ts'
import { UsageError } from '../lib/errors.ts'
import * as fix from '../lib/kube/calico-fix.ts' // what each step reads and changes
import { makeKube } from '../lib/kube/clients.ts'
import type { Redactor } from '../lib/redact.ts'
import type { Regenerated } from '../lib/regenerate/kit.ts'
import { normalizeToken } from '../lib/token/decode.ts'

export const cli = defineCli({
  name: 'fix-calico',
  summary:
    "Make the token Calico's CNI plugin presents on every node fresh again after the signing key changed, and prove it. Calico's namespace (kube-system or calico-system) is detected: -n/-A/-l do not apply and are ignored.",
  flags: [
    {
      name: 'embed-token',
      type: 'boolean',
      description:
        "Where the CNI config ConfigMap holds a stale literal token, embed the current token of the CNI ServiceAccount's legacy Secret instead of putting __SERVICEACCOUNT_TOKEN__ back (for installs that need a token that never expires).",
    },
    { name: 'restart', type: 'boolean', description: "Restart calico-node even when nothing shows a stale token (e.g. the nodes' files cannot be read)." },
    {
      name: 'cni-conf-dir',
      type: 'string',
      valueName: 'dir',
      description:
        'Node-local mode, run on a node: read and rewrite the Calico files in this directory (/etc/cni/net.d) instead of reading them through calico-node pods. The ConfigMap and calico-node are checked, not changed.',
    },
    {
      name: 'token-file',
      type: 'string',
      valueName: 'path|-',
      description: "Node-local mode: the token to write (default: the token of the CNI ServiceAccount's legacy Secret, regenerated first if stale).",
    },
    { ...KEY_FILE_FLAG, description: `${KEY_FILE_FLAG.description} With --cni-conf-dir and --token-file, nothing contacts a cluster.` },
    { name: 'offline', type: 'boolean', description: 'Never contact the cluster: node-local mode with --token-file only.' },
    { name: 'probe', type: 'boolean', description: 'Finally create a small pod pinned to each calico-node node, report sandbox errors that mention Unauthorized, and delete it.' },
    { name: 'probe-image', type: 'string', valueName: 'image', default: 'registry.k8s.io/pause:3.10', description: 'Image of the probe pods (mirror it for air-gapped clusters).' },
    { name: 'probe-namespace', type: 'string', valueName: 'ns', default: 'default', description: 'Namespace of the probe pods: an ordinary one, as the pods whose networking is in question.' },
    { name: 'backup-dir', type: 'string', valueName: 'dir', description: 'Where to back up everything before changing it (default: ~/.local/state/kube-token-runbooks/backups/<time>).' },
    { name: 'timeout', type: 'number', valueName: 'seconds', default: 300, description: 'Deadline of each wait: the token refill, the calico-node rollout, each probe pod.' },
    { name: 'max-parallel', type: 'number', valueName: 'n', default: 8, description: 'Nodes read (exec) or probed at once.' },
  ],
  examples: [
    { command: 'fix-calico --dry-run', description: 'what is stale and the kubectl commands, changing nothing' },
    { command: 'fix-calico --yes --probe', description: 'fix, restart calico-node, then prove a pod can start on every node' },
    { command: 'sudo fix-calico --cni-conf-dir /etc/cni/net.d --token-file token --key-file jwks.json --yes', description: 'on a node, without cluster access: rewrite its files with a token fetched elsewhere' },
  ],
})

export type Flags = ParsedCli<NonNullable<(typeof cli)['flags']>>['flags']
export type { Ctx, DetectPlan }
export const contextOf = fix.contextOf

// Each step is a named const so later steps (and rotate-tokens) read its plan through `found.plan(step)`.
export const detectCalico: Step<Ctx, DetectPlan> = {
  id: 'detect-calico',
  title: 'Detect the Calico installation',
  description:
    'Looks for calico-node in kube-system (manifest install) and calico-system (operator install), reads the version from its image, and works out which ServiceAccount the CNI plugin authenticates as.',
  readOnly: true,
  kubectl: cmd.detectCommands,
  check: fix.detectInstall,
}

export const loadKeys: Step<Ctx, KeysPlan> = {
  id: 'load-keys',
  title: 'Load the verification keys',
  description: "Reads the public keys the API server verifies tokens with (or --key-file), so each token's signature and key ID can be checked.",
  readOnly: true,
  kubectl: cmd.keyCommands,
  check: (ctx, found) => fix.loadKeys(ctx, found.plan(detectCalico), (files, jwks) => loadVerificationKeys(files, jwks, { mustMatchCluster: true })),
}

/** The install and the keys: what every later step builds on. */
const basisOf = (found: Findings): Basis => ({ ...found.plan(detectCalico), keys: found.plan(loadKeys).keys })

export const checkCniConfig: Step<Ctx, ConfigPlan> = {
  id: 'check-cni-config',
  title: 'Check the CNI config template',
  description:
    'Reads the CNI network config install-cni renders on every node and checks whether it holds the placeholders (__SERVICEACCOUNT_TOKEN__, __KUBECONFIG_FILEPATH__) or a literal token, which every calico-node restart writes back; a literal token is verified like verify-token does.',
  readOnly: true,
  kubectl: cmd.configCommands,
  check: (ctx, found) => fix.checkConfig(ctx, basisOf(found)),
}

export const checkCniAccount: Step<Ctx, AccountPlan> = {
  id: 'check-cni-account',
  title: "Check the CNI ServiceAccount's token Secrets",
  description:
    "Finds the legacy token Secrets of the ServiceAccount the CNI plugin uses and checks each token's signature against the current keys; a stale one is what install-cni copied onto the nodes in the 2018 layout.",
  readOnly: true,
  kubectl: cmd.accountCommands,
  check: (ctx, found) => fix.checkAccount(ctx, basisOf(found)),
}

export const readNodeTokens: Step<Ctx, NodesPlan> = {
  id: 'read-node-tokens',
  title: 'Read the token each node presents',
  description:
    "Reads Calico's CNI config and calico-kubeconfig on every node (exec into its calico-node pod, or --cni-conf-dir on the node itself) and verifies each token: signed by a current key, not expired, the CNI's own account.",
  readOnly: true,
  kubectl: cmd.readNodesCommands,
  check: (ctx, found) => fix.readNodesBefore(ctx, basisOf(found)),
}

export const backUp: Step<Ctx, BackupPlan> = {
  id: 'back-up',
  title: 'Back up what will change',
  description:
    'Writes every object about to change (the ConfigMap, the token Secrets, the DaemonSet) and, in node-local mode, the node files to the backup directory (owner-only files); nothing changes if the backup cannot be written.',
  kubectl: cmd.backupCommands,
  check: (ctx, found) =>
    fix.checkBackup(ctx, found.plan(detectCalico), { config: found.plan(checkCniConfig), account: found.plan(checkCniAccount), nodes: found.plan(readNodeTokens) }),
  apply: fix.backUp,
  verify: fix.verifyBackup,
}

export const regenerateCniTokens: Step<Ctx, RegeneratePlan, Regenerated> = {
  id: 'regenerate-cni-tokens',
  requires: ['back-up'],
  title: "Regenerate the CNI ServiceAccount's stale tokens",
  description:
    'Blanks data.token of each stale token Secret of the CNI ServiceAccount so the tokens controller signs a new token with the current key (as regenerate-tokens does), and waits for every refill.',
  kubectl: cmd.regenerateCommands,
  check: async (ctx, found) => checkRegenerate(ctx, basisOf(found), found.plan(checkCniAccount)),
  apply: fix.regenerateStale,
  verify: fix.verifyRegenerated,
}

export const fixCniConfig: Step<Ctx, ConfigFixPlan, ConfigFixResult> = {
  id: 'fix-cni-config',
  requires: ['back-up'],
  title: 'Take the stale token out of the CNI config',
  description:
    'Replaces a stale literal token in the CNI config ConfigMap with __SERVICEACCOUNT_TOKEN__, so install-cni fills in a fresh token at every start (with --embed-token: with the current token of the CNI ServiceAccount); every other byte stays as it was.',
  kubectl: cmd.fixConfigCommands,
  check: async (ctx, found) => checkConfigFix(ctx, basisOf(found), found.plan(checkCniConfig), found.plan(checkCniAccount)),
  apply: fix.fixConfigStep,
  verify: fix.verifyConfig,
}

export const rewriteNodeFiles: Step<Ctx, NodeRewritePlan, NodeRewriteResult> = {
  id: 'rewrite-node-files',
  requires: ['back-up'],
  title: "Rewrite this node's Calico files",
  description:
    "Node-local mode only: writes a current token into the node's Calico CNI config and calico-kubeconfig, each file replaced atomically after a copy went to the backup directory. install-cni renders them again from the ConfigMap at the next calico-node start.",
  kubectl: cmd.rewriteCommands,
  check: async (ctx, found) => checkNodeRewrite(ctx, basisOf(found), found.plan(checkCniConfig), found.plan(readNodeTokens)),
  apply: fix.rewriteNode,
  verify: fix.verifyNodeRewrite,
}

export const restartCalicoNode: Step<Ctx, RestartStepPlan | undefined, RestartResult> = {
  id: 'restart-calico-node',
  title: 'Restart calico-node',
  description:
    'Rollout-restarts the calico-node DaemonSet (or, with updateStrategy OnDelete, deletes its pods one node at a time) when its pods started before the CNI token last changed or a node presents a stale token, and waits with a deadline for a new Ready pod on every node.',
  kubectl: cmd.restartCommands,
  // A step skipped for want of the backup left no plan: it changes nothing, so nothing is pending from it.
  check: (ctx, found) =>
    fix.checkRestart(ctx, basisOf(found), found.plan(readNodeTokens), fix.pendingChanges(ctx.mode, planIfChecked(found, regenerateCniTokens), planIfChecked(found, fixCniConfig))),
  apply: fix.restartStep,
  verify: fix.verifyRestart,
}

export const verifyCniTokens: Step<Ctx, FinalPlan> = {
  id: 'verify-cni-tokens',
  title: 'Verify the CNI tokens',
  description:
    "Reads everything again: the CNI config holds no stale token, the CNI ServiceAccount's token Secrets verify, and every node whose files can be read presents a current token (a node whose files cannot be read is unverified, not failed).",
  readOnly: true,
  kubectl: cmd.readNodesCommands,
  check: (ctx, found) => fix.readEverythingAgain(ctx, basisOf(found)),
  verify: async (ctx, after) => finalVerdict(ctx, after),
}

export const probeNodes: Step<Ctx, ProbePlan, ProbeRun> = {
  id: 'probe-nodes',
  title: 'Probe pod networking on every node',
  description:
    'With --probe: creates a small pod pinned to each node that runs calico-node, waits until it runs or a sandbox error appears (one mentioning Unauthorized means a stale CNI token), and deletes it.',
  kubectl: cmd.probeCommands,
  check: (ctx, found) => fix.checkProbes(ctx, found.plan(detectCalico)),
  apply: fix.probeNodes,
  verify: async (ctx, _plan, run) => probeVerdict(ctx, run?.probes ?? []),
}

export const steps = { detectCalico, loadKeys, checkCniConfig, checkCniAccount, readNodeTokens, backUp, regenerateCniTokens, fixCniConfig, rewriteNodeFiles, restartCalicoNode, verifyCniTokens, probeNodes }

export const runbook: Runbook<Ctx> = { name: cli.name, summary: cli.summary, steps: Object.values(steps) }

async function loadClusterConfig(parsed: ParsedCli<NonNullable<(typeof cli)['flags']>>, cwd: string): Promise<KubeConfig> {
  try {
    return await loadKubeConfig(parsed.common, parsed.env, { cwd })
  } catch (err) {
    if (err instanceof UsageError && parsed.flags.cniConfDir !== undefined && parsed.flags.tokenFile !== undefined) {
      throw new UsageError(`${err.message}; or, to work on ${parsed.flags.cniConfDir} alone, pass --offline (with --key-file to check signatures)`)
    }
    throw err
  }
}

/** The runbook's whole run, for its own entry point and for `kube-token-runbooks <runbook>`. */
export const main: Main = (io) =>
  runbookMain(io, {
    cli,
    runbook,
    context: async ({ cli: parsed, output, redactor }) => {
      const { flags } = parsed
      validateFlags(flags)
      // rotate-tokens hands its scope to every child; here it does not apply.
      const scopeFlags = (['namespace', 'allNamespaces', 'selector'] as const).filter((f) => parsed.sources[f] === 'flag').map((f) => ({ namespace: '-n', allNamespaces: '-A', selector: '-l' })[f])
      if (scopeFlags.length > 0) output.info(`note: ${scopeFlags.join(', ')} ignored: fix-calico works in Calico's own namespace (kube-system or calico-system), found by detection`)
      const nodeLocal = flags.cniConfDir !== undefined
      const offline = flags.offline || (nodeLocal && flags.tokenFile !== undefined && flags.keyFile.length > 0)
      const givenToken = flags.tokenFile !== undefined ? normalizeToken(await readTokenFile(flags.tokenFile, io.stdin)) : undefined
      if (givenToken) (redactor as Redactor).register(givenToken)
      if (givenToken && offline) checkOfflineToken(givenToken)
      const kc = offline ? undefined : await loadClusterConfig(parsed, io.cwd)
      const kube = kc ? await makeKube(kc, { requestTimeoutMs: parsed.common.requestTimeoutMs }) : undefined
      const backupDir = flags.backupDir ?? join(defaultBackupRoot(parsed.env), timestampDirName(io.now()))
      const base: CalicoBase = {
        output,
        redactor: redactor as Redactor,
        now: io.now,
        connection: connectionArgs(parsed.common),
        backup: new Backup(backupDir, cli.name, kc?.getCurrentCluster()?.server ?? `node ${hostname()}`, io.now),
        ...(kube ? { kube } : {}),
      }
      const mode = resolveMode({ dryRun: parsed.common.dryRun, yes: parsed.common.yes, stdinIsTTY: io.stdin.isTTY === true })
      return contextOf(base, flags, { mode, ...(givenToken ? { givenToken } : {}) })
    },
    extendReport: (_report, ctx, found) => reportFields(ctx, factsOf(found, steps)),
    renderText: (_report, ctx, found) => renderFindings(ctx, factsOf(found, steps)),
  })

await runMain(import.meta.url, main)
