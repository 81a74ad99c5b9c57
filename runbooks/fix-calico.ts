#!/usr/bin/env node
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
import * as cmd from '../lib/calico/commands.ts'
import { NO_CALICO, noCalico, noChangeSummary, validateFlags, warn, type CalicoBase, type Ctx } from '../lib/calico/context.ts'
import { CALICO_NAMESPACES } from '../lib/calico/detect.ts'
import { finalProblems, finalSummary, nodeRewriteExpected, probeVerdict, renderFindings, summarizeNodes, describeBackup, backupPlan } from '../lib/calico/findings.ts'
import { NodeVerdict } from '../lib/calico/node-dir.ts'
import { SERVICEACCOUNT_TOKEN_PLACEHOLDER } from '../lib/calico/token-value.ts'
import { loadKeyFile, readTokenFile } from '../lib/cli/inputs.ts'
import { defineCli, loadKubeConfig, runbookMain, runMain, type ParsedCli, type Main } from '../lib/cli/index.ts'
import { connectionArgs, Modes, resolveMode, type Runbook } from '../lib/engine/index.ts'
import { UsageError } from '../lib/errors.ts'
import * as fix from '../lib/kube/calico-fix.ts'
import { makeKube } from '../lib/kube/clients.ts'
import { withApiErrors } from '../lib/kube/errors.ts'
import { fetchJwks } from '../lib/kube/token-checks.ts'
import type { Redactor } from '../lib/redact.ts'
import { summarizeAssessments } from '../lib/regenerate/select.ts'
import { secretKey } from '../lib/secrets.ts'
import { decodeToken, normalizeToken } from '../lib/token/decode.ts'
import { describeToken } from '../lib/token/describe.ts'
import { keysFromJwks } from '../lib/token/keys.ts'

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
    {
      name: 'key-file',
      type: 'string[]',
      valueName: 'pem|jwks',
      description:
        'Verify signatures with these public keys (PEM as for --service-account-key-file, or a saved `kubectl get --raw /openid/v1/jwks`) instead of asking the API server. With --cni-conf-dir and --token-file, nothing contacts a cluster.',
    },
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
export type { Ctx }
export const contextOf = fix.contextOf

export const runbook: Runbook<Ctx> = {
  name: cli.name,
  summary: cli.summary,
  steps: [
    {
      id: 'detect-calico',
      title: 'Detect the Calico installation',
      description:
        'Looks for calico-node in kube-system (manifest install) and calico-system (operator install), reads the version from its image, and works out which ServiceAccount the CNI plugin authenticates as.',
      readOnly: true,
      kubectl: cmd.detectCommands,
      check: fix.detectInstall,
    },
    {
      id: 'load-keys',
      title: 'Load the verification keys',
      description: "Reads the public keys the API server verifies tokens with (or --key-file), so each token's signature and key ID can be checked.",
      readOnly: true,
      kubectl: cmd.keyCommands,
      check: async (ctx) => {
        if (noCalico(ctx)) return { needed: false, summary: NO_CALICO }
        if (ctx.flags.keyFile.length > 0) {
          ctx.keys = (await Promise.all(ctx.flags.keyFile.map(loadKeyFile))).flat()
          ctx.keySource = ctx.flags.keyFile.join(', ')
        } else if (ctx.kube) {
          const kube = ctx.kube
          ctx.keys = keysFromJwks(await withApiErrors(kube.kc, () => fetchJwks(kube)))
          ctx.keySource = '/openid/v1/jwks'
        } else {
          return { needed: false, summary: "no keys: offline without --key-file, so signatures cannot be checked (pass the cluster's sa.pub or a saved /openid/v1/jwks)" }
        }
        const kids = ctx.keys.map((key) => key.kid)
        return { needed: false, summary: `${kids.length} key(s) from ${ctx.keySource}: ${kids.join(', ') || '-'}`, details: { kids } }
      },
    },
    {
      id: 'check-cni-config',
      title: 'Check the CNI config template',
      description:
        'Reads the CNI network config install-cni renders on every node and checks whether it holds the placeholders (__SERVICEACCOUNT_TOKEN__, __KUBECONFIG_FILEPATH__) or a literal token, which every calico-node restart writes back; a literal token is verified like verify-token does.',
      readOnly: true,
      kubectl: cmd.configCommands,
      check: async (ctx) => (!ctx.install || !ctx.kube ? { needed: false, summary: ctx.kube ? NO_CALICO : 'offline: the ConfigMap cannot be checked' } : fix.checkConfig(ctx)),
    },
    {
      id: 'check-cni-account',
      title: "Check the CNI ServiceAccount's token Secrets",
      description:
        "Finds the legacy token Secrets of the ServiceAccount the CNI plugin uses and checks each token's signature against the current keys; a stale one is what install-cni copied onto the nodes in the 2018 layout.",
      readOnly: true,
      kubectl: cmd.accountCommands,
      check: async (ctx) => {
        if (!ctx.install || !ctx.kube) return { needed: false, summary: ctx.kube ? NO_CALICO : 'offline: the ServiceAccount cannot be checked' }
        await withApiErrors(ctx.kube.kc, () => fix.assessAccount(ctx))
        const who = `ServiceAccount ${ctx.install.namespace}/${ctx.install.cniServiceAccount}`
        const summary = ctx.accountSecrets.length === 0 ? `${who} has no legacy token Secret (usual since Kubernetes 1.24: its pods get bound tokens)` : `${who}: ${summarizeAssessments(ctx.assessments)}`
        return { needed: false, summary, details: { assessments: ctx.assessments } }
      },
    },
    {
      id: 'read-node-tokens',
      title: 'Read the token each node presents',
      description:
        "Reads Calico's CNI config and calico-kubeconfig on every node (exec into its calico-node pod, or --cni-conf-dir on the node itself) and verifies each token: signed by a current key, not expired, the CNI's own account.",
      readOnly: true,
      kubectl: cmd.readNodesCommands,
      check: async (ctx) => {
        if (noCalico(ctx)) return { needed: false, summary: NO_CALICO }
        ctx.nodesBefore = await fix.readNodes(ctx)
        return { needed: false, summary: summarizeNodes(ctx.nodesBefore), details: { nodes: ctx.nodesBefore } }
      },
    },
    {
      id: 'back-up',
      title: 'Back up what will change',
      description:
        'Writes every object about to change (the ConfigMap, the token Secrets, the DaemonSet) and, in node-local mode, the node files to the backup directory (owner-only files); nothing changes if the backup cannot be written.',
      kubectl: cmd.backupCommands,
      check: async (ctx) => {
        const missing = await fix.missingFromBackup(ctx)
        const { nodeFiles } = backupPlan(ctx)
        const needed = missing.length + nodeFiles.length > 0
        return { needed, summary: needed ? `${describeBackup(missing.map((m) => m.kind), nodeFiles)} to back up to ${ctx.backup.dir}` : 'nothing will change, so nothing to back up' }
      },
      apply: fix.backUp,
      verify: async (ctx) => {
        const missing = await fix.missingFromBackup(ctx)
        return { ok: missing.length === 0, summary: missing.length ? `${missing.length} object(s) missing from the backup` : `backup complete: ${ctx.backup.dir}` }
      },
    },
    {
      id: 'regenerate-cni-tokens',
      requires: ['back-up'],
      title: "Regenerate the CNI ServiceAccount's stale tokens",
      description:
        'Blanks data.token of each stale token Secret of the CNI ServiceAccount so the tokens controller signs a new token with the current key (as regenerate-tokens does), and waits for every refill.',
      kubectl: cmd.regenerateCommands,
      check: async (ctx) => {
        const needed = ctx.staleSecrets.length > 0
        if (needed) ctx.pendingChanges.add('regenerate-cni-tokens')
        const stale = `${ctx.staleSecrets.length} token Secret(s) need a new token: ${ctx.staleSecrets.map(secretKey).join(', ')}`
        return { needed, summary: needed ? stale : noChangeSummary(ctx, 'every token Secret of the CNI ServiceAccount holds a current token') }
      },
      apply: fix.regenerateStale,
      verify: fix.verifyRegenerated,
    },
    {
      id: 'fix-cni-config',
      requires: ['back-up'],
      title: 'Take the stale token out of the CNI config',
      description:
        'Replaces a stale literal token in the CNI config ConfigMap with __SERVICEACCOUNT_TOKEN__, so install-cni fills in a fresh token at every start (with --embed-token: with the current token of the CNI ServiceAccount); every other byte stays as it was.',
      kubectl: cmd.fixConfigCommands,
      check: async (ctx) => {
        const stale = ctx.config?.findings.filter((f) => f.stale) ?? []
        if (stale.length === 0) return { needed: false, summary: noChangeSummary(ctx, ctx.config ? 'the CNI config holds no stale token' : 'no CNI config to fix') }
        const what = `${ctx.config?.source} holds ${stale.length} stale literal token(s) at ${stale.map((f) => f.path).join(', ')}`
        if (ctx.nodeLocal) {
          warn(ctx, `${what}: the next calico-node restart on any node writes it back, over the files fixed here; run fix-calico without --cni-conf-dir to fix the ConfigMap`)
          return { needed: false, summary: `node-local mode: ${what}, left as it is (see the warning)` }
        }
        ctx.pendingChanges.add('fix-cni-config')
        return { needed: true, summary: `${what}; it becomes ${ctx.flags.embedToken ? "the CNI ServiceAccount's current token (--embed-token)" : SERVICEACCOUNT_TOKEN_PLACEHOLDER}` }
      },
      apply: async (ctx) => {
        const summary = await withApiErrors(ctx.kube?.kc, () => fix.fixConfig(ctx))
        ctx.pendingChanges.delete('fix-cni-config')
        return { summary }
      },
      verify: async (ctx) => {
        const state = await withApiErrors(ctx.kube?.kc, () => fix.readConfigState(ctx))
        const stale = state.findings.filter((f) => f.stale)
        return { ok: stale.length === 0, summary: stale.length ? `${state.source} still holds a stale token at ${stale[0]!.path}: ${stale[0]!.reason}` : `no stale token left (${state.summary})` }
      },
    },
    {
      id: 'rewrite-node-files',
      requires: ['back-up'],
      title: "Rewrite this node's Calico files",
      description:
        "Node-local mode only: writes a current token into the node's Calico CNI config and calico-kubeconfig, each file replaced atomically after a copy went to the backup directory. install-cni renders them again from the ConfigMap at the next calico-node start.",
      kubectl: cmd.rewriteCommands,
      check: async (ctx) => {
        if (!ctx.nodeLocal) return { needed: false, summary: noChangeSummary(ctx, "not node-local mode: calico-node's restart renders the nodes' files (run with --cni-conf-dir on a node to rewrite them there)") }
        const report = ctx.nodesBefore[0]
        if (!report) return { needed: false, summary: 'no node files read' }
        const needed = nodeRewriteExpected(ctx, report)
        if (needed) ctx.pendingChanges.add('rewrite-node-files')
        return { needed, summary: needed ? `${ctx.flags.cniConfDir}: ${report.verdict}: ${report.reason}` : `${ctx.flags.cniConfDir}: ${report.verdict}: nothing to rewrite` }
      },
      apply: async (ctx) => {
        const summary = await fix.rewriteNode(ctx)
        ctx.pendingChanges.delete('rewrite-node-files')
        return { summary }
      },
      verify: async (ctx) => {
        const [report] = await fix.readNodes(ctx)
        const ok = report !== undefined && (report.verdict === NodeVerdict.current || (report.verdict === NodeVerdict.unverified && ctx.keys.length === 0))
        return { ok, summary: report ? `${report.verdict}: ${report.reason}` : 'nothing read back' }
      },
    },
    {
      id: 'restart-calico-node',
      title: 'Restart calico-node',
      description:
        'Rollout-restarts the calico-node DaemonSet (or, with updateStrategy OnDelete, deletes its pods one node at a time) when its pods started before the CNI token last changed or a node presents a stale token, and waits with a deadline for a new Ready pod on every node.',
      kubectl: cmd.restartCommands,
      check: async (ctx) => {
        if (!ctx.install || !ctx.kube) return { needed: false, summary: noChangeSummary(ctx, 'no calico-node to restart') }
        if (ctx.nodeLocal) return { needed: false, summary: "node-local mode: calico-node is not restarted (that would render this node's files from the ConfigMap again)" }
        const { reasons, pods } = (ctx.restartPlan = await withApiErrors(ctx.kube.kc, () => fix.planRestart(ctx)))
        const fresh = `all ${pods.length} calico-node pod(s) started after the CNI token last changed, and no node shows a stale token`
        return { needed: reasons.length > 0, summary: reasons.length > 0 ? reasons.join('; ') : fresh }
      },
      apply: async (ctx) => withApiErrors(ctx.kube?.kc, () => fix.restartCalicoNode(ctx)),
      verify: fix.verifyRestart,
    },
    {
      id: 'verify-cni-tokens',
      title: 'Verify the CNI tokens',
      description:
        "Reads everything again: the CNI config holds no stale token, the CNI ServiceAccount's token Secrets verify, and every node whose files can be read presents a current token (a node whose files cannot be read is unverified, not failed).",
      readOnly: true,
      kubectl: cmd.readNodesCommands,
      check: async (ctx) => {
        if (noCalico(ctx)) return { needed: false, summary: NO_CALICO }
        if (ctx.install && ctx.kube) {
          ctx.config = await withApiErrors(ctx.kube.kc, () => fix.readConfigState(ctx))
          await withApiErrors(ctx.kube.kc, () => fix.assessAccount(ctx))
        }
        ctx.nodesAfter = await fix.readNodes(ctx)
        return { needed: false, summary: finalSummary(ctx) }
      },
      verify: async (ctx) => {
        const problems = finalProblems(ctx)
        if (ctx.mode === Modes.plan && problems.length > 0) return { ok: true, summary: `dry run, so as found: ${problems.join('; ')}` }
        return { ok: problems.length === 0, summary: problems.length ? problems.join('; ') : finalSummary(ctx) }
      },
    },
    {
      id: 'probe-nodes',
      title: 'Probe pod networking on every node',
      description:
        'With --probe: creates a small pod pinned to each node that runs calico-node, waits until it runs or a sandbox error appears (one mentioning Unauthorized means a stale CNI token), and deletes it.',
      kubectl: cmd.probeCommands,
      check: async (ctx) => {
        if (!ctx.flags.probe) return { needed: false, summary: 'not asked (--probe creates and deletes a pod on each node)' }
        if (!ctx.install || !ctx.kube) return { needed: false, summary: noChangeSummary(ctx, 'no calico-node nodes to probe') }
        const nodes = await fix.probeTargets(ctx)
        return { needed: nodes.length > 0, summary: `${nodes.length} node(s) to probe in namespace ${ctx.flags.probeNamespace}: ${nodes.join(', ')}` }
      },
      apply: fix.probeNodes,
      verify: async (ctx) => probeVerdict(ctx),
    },
  ],
}

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
      if (givenToken) {
        ;(redactor as Redactor).register(givenToken)
        const namespace = describeToken(decodeToken(givenToken)).namespace
        if (offline && !(Object.values(CALICO_NAMESPACES) as string[]).includes(namespace ?? '')) {
          throw new UsageError(`the --token-file token belongs to namespace ${namespace ?? '(none)'}, not to Calico's (kube-system or calico-system): pass a token of calico-node or calico-cni-plugin`)
        }
      }
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
    extendReport: (_report, ctx) => ({
      backupDir: ctx.backup.dir,
      calico: ctx.install ?? null,
      cniConfig: ctx.config ? { source: ctx.config.source, summary: ctx.config.summary, findings: ctx.config.findings, change: ctx.configChange ?? null } : null,
      serviceAccount: ctx.install ? { namespace: ctx.install.namespace, name: ctx.install.cniServiceAccount, secrets: ctx.assessments.map((a) => ({ ...a, ...(ctx.outcomes.get(a.key) ? { outcome: ctx.outcomes.get(a.key) } : {}) })) } : null,
      nodes: { before: ctx.nodesBefore, after: ctx.nodesAfter },
      restart: ctx.restart ?? null,
      nodeFilesWritten: ctx.nodeFilesWritten,
      probes: ctx.probes,
      warnings: ctx.warnings,
    }),
    renderText: (_report, ctx) => renderFindings(ctx),
  })

await runMain(import.meta.url, main)
