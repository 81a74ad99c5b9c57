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
import { readFile } from 'node:fs/promises'
import { hostname } from 'node:os'
import { join } from 'node:path'
import type { KubeConfig, V1ConfigMap, V1DaemonSet, V1Pod, V1Secret } from '@kubernetes/client-node'
import { Backup, defaultBackupRoot, timestampDirName, type SavedCopy } from '../lib/backup.ts'
import { CNI_SERVICE_ACCOUNTS, assessCniToken, type CniTokenExpectation } from '../lib/calico/assess.ts'
import { CniConfigError, parseCniConfig, replaceLiteralTokens } from '../lib/calico/cni-config.ts'
import { CALICO_NAMESPACES, CALICO_NODE, detectCalico, type CalicoInstall } from '../lib/calico/detect.ts'
import { backUpNodeFiles, judgeNodeFiles, NodeVerdict, readCniConfDir, rewriteNodeFiles, unreadableNode, withoutFix, type NodeReport } from '../lib/calico/node-dir.ts'
import { CALICO_CONF_NAMES, planNodeRewrite } from '../lib/calico/node-files.ts'
import { CALICO_KUBECONFIG_NAME } from '../lib/calico/kubeconfig.ts'
import { SERVICEACCOUNT_TOKEN_PLACEHOLDER, TokenEncoding, TokenValueKind } from '../lib/calico/token-value.ts'
import type { Session } from '../lib/cli/session.ts'
import { readTokenFile } from '../lib/cli/inputs.ts'
import { defineCli, loadKubeConfig, runbookMain, runMain, type ParsedCli, type Main } from '../lib/cli/index.ts'
import { mapLimit } from '../lib/concurrency.ts'
import { connectionArgs, createTicker, kubectlCommand, Modes, resolveMode, shellQuote, type Mode, type Runbook } from '../lib/engine/index.ts'
import { DomainError, UsageError } from '../lib/errors.ts'
import { REGENERATED_AT_ANNOTATION } from '../lib/annotations.ts'
import {
  CNI_CONFIG_FIXED_AT_ANNOTATION,
  cniMountOf,
  deleteLeftoverProbePods,
  isReady,
  isTerminating,
  kubeExec,
  listCalicoObjects,
  listDaemonSetPods,
  latestChange,
  restartReasons,
  probeNode,
  ProbeOutcome,
  readConfigMap,
  readDaemonSet,
  readNodeFilesByExec,
  replaceConfigMapKey,
  replacePodsOneByOne,
  restartDaemonSet,
  templateRestartedAt,
  waitForDaemonSetRollout,
  type ExecFn,
  type ProbeResult,
} from '../lib/kube/calico.ts'
import { makeKube, statusOf, type Kube } from '../lib/kube/clients.ts'
import { explainApiError } from '../lib/kube/errors.ts'
import { serverTime } from '../lib/kube/raw.ts'
import { inspectToken, type TokenInspection } from '../lib/kube/inspect-token.ts'
import { fetchJwks, reviewToken } from '../lib/kube/token-checks.ts'
import { listServiceAccounts, listTokenSecrets, SA_NAME_ANNOTATION, secretKey, serviceAccountIndex, tokenOf } from '../lib/kube/token-secrets.ts'
import { waitForTokenRefills } from '../lib/kube/wait-secrets.ts'
import type { Output } from '../lib/output.ts'
import type { Redactor } from '../lib/redact.ts'
import { blankToken, type RegenerateOutcome } from '../lib/regenerate/apply.ts'
import { assessSecrets } from '../lib/regenerate/assess.ts'
import { summarizeAssessments, Verdict, type SecretAssessment } from '../lib/regenerate/select.ts'
import { decodeToken, normalizeToken } from '../lib/token/decode.ts'
import { describeToken } from '../lib/token/describe.ts'
import { keysFromJwks, loadPublicKeysFromPem, type VerificationKey } from '../lib/token/keys.ts'
import { verifySignature } from '../lib/token/signature.ts'
import { TokenStatus } from '../lib/token/status.ts'
import { RESTARTED_AT_ANNOTATION } from '../lib/workloads/restarted-at.ts'

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

/** A literal token in the CNI config template, judged. */
export interface ConfigTokenFinding {
  readonly path: string
  readonly line: number
  readonly encoding: string
  readonly status: TokenInspection['status']
  readonly reason: string
  readonly fingerprint?: string
  readonly subject?: string
  /** Not usable by the CNI plugin: rejected, retired key, expired, or base64-wrapped. */
  readonly stale: boolean
  /** The Secret a legacy token was issued for (its secret.name claim). */
  readonly secretName?: string
}

interface ConfigState {
  /** `ConfigMap kube-system/calico-config key cni_network_config`, or the DaemonSet's inline env. */
  readonly source: string
  readonly configMap?: V1ConfigMap
  readonly key?: string
  /** The placeholders and literal tokens, in words. */
  readonly summary: string
  readonly findings: readonly ConfigTokenFinding[]
}

interface RestartPlan {
  readonly ds: V1DaemonSet
  readonly pods: V1Pod[]
  /** The latest change of the CNI token that pods must have started after. */
  readonly since: Date
  readonly reasons: string[]
}

export interface Ctx {
  flags: Flags
  output: Output
  redactor: Redactor
  now: () => Date
  /** As the engine resolves it: in plan and no-terminal runs every check runs before any apply. */
  mode: Mode
  /** Undefined offline. */
  kube?: Kube
  kubectlArgs: string[]
  exec?: ExecFn
  backup: Backup
  nodeLocal: boolean
  /** The --token-file token, compact. */
  givenToken?: string
  install?: CalicoInstall
  daemonSet?: V1DaemonSet
  keys: VerificationKey[]
  keySource?: string
  config?: ConfigState
  accountSecrets: V1Secret[]
  assessments: SecretAssessment[]
  staleSecrets: V1Secret[]
  nodesBefore: NodeReport[]
  nodesAfter: NodeReport[]
  /** Steps whose check said needed and whose apply has not run yet: the restart follows them. */
  pendingChanges: Set<string>
  outcomes: Map<string, RegenerateOutcome>
  refilled: Map<string, string>
  configChange?: string
  restartPlan?: RestartPlan
  restart?: { restartedAt: string; oldPods: string[]; newPods: Array<{ name: string; node: string; uid: string }>; detail: string }
  nodeFilesWritten: string[]
  probes: ProbeResult[]
  warnings: string[]
}

const noCalico = (ctx: Ctx) => ctx.kube !== undefined && ctx.install === undefined
const NO_CALICO = 'no Calico here'

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
      kubectl: (ctx) =>
        ctx.kube
          ? Object.values(CALICO_NAMESPACES).map((ns) => k(ctx, '-n', ns, 'get', 'daemonset', CALICO_NODE, '-o', 'jsonpath={.spec.template.spec.containers[*].image}'))
          : [],
      check: async (ctx) => {
        if (!ctx.kube) return { needed: false, summary: `offline: the cluster is not contacted; working on ${ctx.flags.cniConfDir} alone` }
        const kube = ctx.kube
        const objects = await api(ctx, () => listCalicoObjects(kube))
        ctx.install = detectCalico(objects)
        if (!ctx.install) {
          return { needed: false, summary: `${NO_CALICO}: no DaemonSet calico-node in kube-system or calico-system, so there is nothing to fix` }
        }
        const install = ctx.install
        ctx.daemonSet = objects.daemonSets.find((ds) => ds.metadata?.namespace === install.namespace && ds.metadata.name === install.daemonSet)
        // check-cni-config judges literal tokens itself (stale ones get fixed, so a blanket warning would outlive the fix).
        for (const warning of install.warnings.filter((w) => !w.includes(`instead of ${SERVICEACCOUNT_TOKEN_PLACEHOLDER}`))) warn(ctx, warning)
        return { needed: false, summary: describeInstall(install), details: { install } }
      },
    },
    {
      id: 'load-keys',
      title: 'Load the verification keys',
      description: "Reads the public keys the API server verifies tokens with (or --key-file), so each token's signature and key ID can be checked.",
      readOnly: true,
      kubectl: (ctx) =>
        ctx.flags.keyFile.length > 0 ? ctx.flags.keyFile.map((f) => `openssl pkey -pubin -in ${shellQuote(f)} -noout -text`) : ctx.kube ? [k(ctx, 'get', '--raw', '/openid/v1/jwks')] : [],
      check: async (ctx) => {
        if (noCalico(ctx)) return { needed: false, summary: NO_CALICO }
        if (ctx.flags.keyFile.length > 0) {
          ctx.keys = (await Promise.all(ctx.flags.keyFile.map(loadKeyFile))).flat()
          ctx.keySource = ctx.flags.keyFile.join(', ')
        } else if (ctx.kube) {
          const kube = ctx.kube
          ctx.keys = keysFromJwks(await api(ctx, () => fetchJwks(kube)))
          ctx.keySource = '/openid/v1/jwks'
        } else {
          return { needed: false, summary: 'no keys: offline without --key-file, so signatures cannot be checked (pass the cluster\'s sa.pub or a saved /openid/v1/jwks)' }
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
      kubectl: (ctx) => {
        const ref = ctx.install?.cniConfig.configMap
        if (!ctx.install || !ref) return []
        const get = k(ctx, '-n', ctx.install.namespace, 'get', 'configmap', ref.name, '-o', `jsonpath={.data.${ref.key}}`)
        const verify = `${get} | sed -n ${shellQuote('s/.*"k8s_auth_token": *"\\([^"]*\\)".*/\\1/p')} | runbooks/verify-token.ts --token-file -`
        return ctx.config?.findings.length ? [get, verify] : [get]
      },
      check: async (ctx) => {
        if (!ctx.install || !ctx.kube) return { needed: false, summary: ctx.kube ? NO_CALICO : 'offline: the ConfigMap cannot be checked' }
        const config = await api(ctx, () => readConfigState(ctx))
        ctx.config = config
        for (const finding of config.findings.filter((f) => !f.stale)) {
          warn(
            ctx,
            `${config.source} holds a literal token at ${finding.path} (${finding.fingerprint ?? 'no fingerprint'}): valid now, but every calico-node restart copies it to the nodes, and it goes stale at the next key rotation; ` +
              `put ${SERVICEACCOUNT_TOKEN_PLACEHOLDER} back unless this install needs the token embedded`,
          )
        }
        return { needed: false, summary: config.summary, details: { findings: config.findings } }
      },
    },
    {
      id: 'check-cni-account',
      title: "Check the CNI ServiceAccount's token Secrets",
      description:
        "Finds the legacy token Secrets of the ServiceAccount the CNI plugin uses and checks each token's signature against the current keys; a stale one is what install-cni copied onto the nodes in the 2018 layout.",
      readOnly: true,
      kubectl: (ctx) =>
        ctx.install
          ? [
              k(
                ctx,
                '-n',
                ctx.install.namespace,
                'get',
                'secrets',
                '--field-selector',
                'type=kubernetes.io/service-account-token',
                '-o',
                `jsonpath={range .items[?(@.metadata.annotations.kubernetes\\.io/service-account\\.name=="${ctx.install.cniServiceAccount}")]}{.metadata.name}{"\\n"}{end}`,
              ),
              ...ctx.accountSecrets.map((s) => `runbooks/verify-token.ts --secret ${shellQuote(secretKey(s))}`),
            ]
          : [],
      check: async (ctx) => {
        if (!ctx.install || !ctx.kube) return { needed: false, summary: ctx.kube ? NO_CALICO : 'offline: the ServiceAccount cannot be checked' }
        await api(ctx, () => assessAccount(ctx))
        const who = `ServiceAccount ${ctx.install.namespace}/${ctx.install.cniServiceAccount}`
        return {
          needed: false,
          summary: ctx.accountSecrets.length === 0 ? `${who} has no legacy token Secret (usual since Kubernetes 1.24: its pods get bound tokens)` : `${who}: ${summarizeAssessments(ctx.assessments)}`,
          details: { assessments: ctx.assessments },
        }
      },
    },
    {
      id: 'read-node-tokens',
      title: 'Read the token each node presents',
      description:
        "Reads Calico's CNI config and calico-kubeconfig on every node (exec into its calico-node pod, or --cni-conf-dir on the node itself) and verifies each token: signed by a current key, not expired, the CNI's own account.",
      readOnly: true,
      kubectl: (ctx) => readNodesCommands(ctx),
      check: async (ctx) => {
        if (noCalico(ctx)) return { needed: false, summary: NO_CALICO }
        ctx.nodesBefore = await readNodes(ctx)
        return { needed: false, summary: summarizeNodes(ctx.nodesBefore), details: { nodes: ctx.nodesBefore } }
      },
    },
    {
      id: 'back-up',
      title: 'Back up what will change',
      description:
        'Writes every object about to change (the ConfigMap, the token Secrets, the DaemonSet) and, in node-local mode, the node files to the backup directory (owner-only files); nothing changes if the backup cannot be written.',
      kubectl: (ctx) => {
        const plan = backupPlan(ctx)
        return [
          ...plan.objects.map(
            ({ kind, object }) =>
              `${k(ctx, '-n', object.metadata?.namespace ?? '', 'get', kind.toLowerCase(), object.metadata?.name ?? '', '-o', 'json')} > ${shellQuote(join(ctx.backup.dir, kind.toLowerCase(), object.metadata?.namespace ?? '', `${object.metadata?.name}.json`))}`,
          ),
          ...(plan.nodeFiles.length > 0 ? [`mkdir -p ${shellQuote(nodeBackupDir(ctx))} && cp -p ${plan.nodeFiles.map((f) => shellQuote(join(ctx.flags.cniConfDir ?? '', f))).join(' ')} ${shellQuote(nodeBackupDir(ctx))}/`] : []),
        ]
      },
      check: async (ctx) => {
        const plan = backupPlan(ctx)
        const saved = new Set((await ctx.backup.objects()).map((o) => `${o.kind}/${o.namespace}/${o.name}`))
        const missing = plan.objects.filter(({ kind, object }) => !saved.has(`${kind}/${object.metadata?.namespace}/${object.metadata?.name}`))
        const total = missing.length + plan.nodeFiles.length
        return {
          needed: total > 0,
          summary: total > 0 ? `${describeBackup(missing.map((m) => m.kind), plan.nodeFiles)} to back up to ${ctx.backup.dir}` : 'nothing will change, so nothing to back up',
        }
      },
      apply: async (ctx) => {
        const plan = backupPlan(ctx)
        for (const { kind, object } of plan.objects) await ctx.backup.save(kind, object)
        if (plan.nodeFiles.length > 0) await backUpNodeFiles(need(ctx.flags.cniConfDir), plan.nodeFiles, nodeBackupDir(ctx))
        return { summary: `backed up ${describeBackup(plan.objects.map((o) => o.kind), plan.nodeFiles)} to ${ctx.backup.dir}` }
      },
      verify: async (ctx) => {
        const plan = backupPlan(ctx)
        const saved = new Set((await ctx.backup.objects()).map((o) => `${o.kind}/${o.namespace}/${o.name}`))
        const missing = plan.objects.filter(({ kind, object }) => !saved.has(`${kind}/${object.metadata?.namespace}/${object.metadata?.name}`))
        return { ok: missing.length === 0, summary: missing.length ? `${missing.length} object(s) missing from the backup` : `backup complete: ${ctx.backup.dir}` }
      },
    },
    {
      id: 'regenerate-cni-tokens',
      requires: ['back-up'],
      title: "Regenerate the CNI ServiceAccount's stale tokens",
      description:
        'Blanks data.token of each stale token Secret of the CNI ServiceAccount so the tokens controller signs a new token with the current key (as regenerate-tokens does), and waits for every refill.',
      kubectl: (ctx) =>
        ctx.staleSecrets.map((s) =>
          k(ctx, '-n', s.metadata?.namespace ?? '', 'patch', 'secret', s.metadata?.name ?? '', '--type=json', '-p', '[{"op":"replace","path":"/data/token","value":""}]'),
        ),
      check: async (ctx) => {
        const needed = ctx.staleSecrets.length > 0
        if (needed) ctx.pendingChanges.add('regenerate-cni-tokens')
        return {
          needed,
          summary: needed ? `${ctx.staleSecrets.length} token Secret(s) need a new token: ${ctx.staleSecrets.map(secretKey).join(', ')}` : noChangeSummary(ctx, 'every token Secret of the CNI ServiceAccount holds a current token'),
        }
      },
      apply: async (ctx) => {
        const kube = need(ctx.kube)
        // Stamped as regenerated-at and compared with pod start times: the cluster's clock.
        const now = await api(ctx, () => serverTime(kube.kc, ctx.now))
        const saved = new Map<V1Secret, SavedCopy>()
        for (const secret of ctx.staleSecrets) saved.set(secret, await ctx.backup.save('Secret', secret))
        await mapLimit(ctx.staleSecrets, ctx.flags.maxParallel, async (secret) => {
          if (!tokenOf(secret)) return // empty: the controller fills it anyway
          ctx.outcomes.set(secretKey(secret), await api(ctx, () => blankToken(kube, secret, now, saved.get(secret)!)))
        })
        const ticker = createTicker({ output: ctx.output, what: 'the tokens controller to refill the Secrets', timeoutMs: ctx.flags.timeout * 1000 })
        const namespace = need(ctx.install).namespace
        try {
          ctx.refilled = await api(ctx, () =>
            waitForTokenRefills(kube, new Set(ctx.staleSecrets.map(secretKey)), { scope: { all: false, namespace }, timeoutMs: ctx.flags.timeout * 1000, ticker }),
          )
        } finally {
          ticker.done()
        }
        for (const token of ctx.refilled.values()) ctx.redactor.register(token)
        ctx.pendingChanges.delete('regenerate-cni-tokens')
        return { summary: `${ctx.refilled.size} Secret(s) hold a new token`, details: { outcomes: Object.fromEntries(ctx.outcomes) } }
      },
      verify: async (ctx) => {
        const problems = (await mapLimit(ctx.staleSecrets, ctx.flags.maxParallel, (s) => api(ctx, () => proveRegenerated(ctx, s)))).filter((p): p is string => p !== undefined)
        return {
          ok: problems.length === 0,
          summary: problems.length ? `${problems.length} new token(s) failed the check: ${problems[0]}` : 'every new token is signed by a current key and authenticates (TokenReview)',
        }
      },
    },
    {
      id: 'fix-cni-config',
      requires: ['back-up'],
      title: 'Take the stale token out of the CNI config',
      description:
        'Replaces a stale literal token in the CNI config ConfigMap with __SERVICEACCOUNT_TOKEN__, so install-cni fills in a fresh token at every start (with --embed-token: with the current token of the CNI ServiceAccount); every other byte stays as it was.',
      kubectl: (ctx) => fixConfigCommands(ctx),
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
        const summary = await api(ctx, () => fixConfig(ctx))
        ctx.pendingChanges.delete('fix-cni-config')
        return { summary }
      },
      verify: async (ctx) => {
        const state = await api(ctx, () => readConfigState(ctx))
        const stale = state.findings.filter((f) => f.stale)
        return {
          ok: stale.length === 0,
          summary: stale.length ? `${state.source} still holds a stale token at ${stale[0]!.path}: ${stale[0]!.reason}` : `no stale token left (${state.summary})`,
        }
      },
    },
    {
      id: 'rewrite-node-files',
      requires: ['back-up'],
      title: "Rewrite this node's Calico files",
      description:
        "Node-local mode only: writes a current token into the node's Calico CNI config and calico-kubeconfig, each file replaced atomically after a copy went to the backup directory. install-cni renders them again from the ConfigMap at the next calico-node start.",
      kubectl: (ctx) => rewriteCommands(ctx),
      check: async (ctx) => {
        if (!ctx.nodeLocal) return { needed: false, summary: noChangeSummary(ctx, "not node-local mode: calico-node's restart renders the nodes' files (run with --cni-conf-dir on a node to rewrite them there)") }
        const report = ctx.nodesBefore[0]
        if (!report) return { needed: false, summary: 'no node files read' }
        const needed = nodeRewriteExpected(ctx, report)
        if (needed) ctx.pendingChanges.add('rewrite-node-files')
        return { needed, summary: needed ? `${ctx.flags.cniConfDir}: ${report.verdict}: ${report.reason}` : `${ctx.flags.cniConfDir}: ${report.verdict}: nothing to rewrite` }
      },
      apply: async (ctx) => {
        const summary = await rewriteNode(ctx)
        ctx.pendingChanges.delete('rewrite-node-files')
        return { summary }
      },
      verify: async (ctx) => {
        const [report] = await readNodes(ctx)
        const ok = report !== undefined && (report.verdict === NodeVerdict.current || (report.verdict === NodeVerdict.unverified && ctx.keys.length === 0))
        return { ok, summary: report ? `${report.verdict}: ${report.reason}` : 'nothing read back' }
      },
    },
    {
      id: 'restart-calico-node',
      title: 'Restart calico-node',
      description:
        'Rollout-restarts the calico-node DaemonSet (or, with updateStrategy OnDelete, deletes its pods one node at a time) when its pods started before the CNI token last changed or a node presents a stale token, and waits with a deadline for a new Ready pod on every node.',
      kubectl: (ctx) => restartCommands(ctx),
      check: async (ctx) => {
        if (!ctx.install || !ctx.kube) return { needed: false, summary: noChangeSummary(ctx, 'no calico-node to restart') }
        if (ctx.nodeLocal) return { needed: false, summary: "node-local mode: calico-node is not restarted (that would render this node's files from the ConfigMap again)" }
        ctx.restartPlan = await api(ctx, () => planRestart(ctx))
        const { reasons, pods } = ctx.restartPlan
        return {
          needed: reasons.length > 0,
          summary: reasons.length > 0 ? `${reasons.join('; ')}` : `all ${pods.length} calico-node pod(s) started after the CNI token last changed, and no node shows a stale token`,
        }
      },
      apply: async (ctx) => api(ctx, () => restartCalicoNode(ctx)),
      verify: async (ctx) => {
        const kube = need(ctx.kube)
        const install = need(ctx.install)
        const restart = need(ctx.restart)
        const ds = await api(ctx, () => readDaemonSet(kube, install.namespace, install.daemonSet))
        const pods = (await api(ctx, () => listDaemonSetPods(kube, ds))).filter((p) => !isTerminating(p))
        const old = pods.filter((p) => restart.oldPods.includes(p.metadata?.uid ?? ''))
        const notReady = pods.filter((p) => !isReady(p))
        const desired = ds.status?.desiredNumberScheduled ?? pods.length
        const problems = [
          ...(old.length ? [`${old.length} old pod(s) still running: ${old.map((p) => p.metadata?.name).join(', ')}`] : []),
          ...(notReady.length ? [`${notReady.length} pod(s) not Ready: ${notReady.map((p) => p.metadata?.name).join(', ')}`] : []),
          ...(pods.length < desired ? [`${pods.length} of ${desired} nodes have a calico-node pod`] : []),
        ]
        return {
          ok: problems.length === 0,
          summary: problems.length
            ? `${problems.join('; ')}; check ${k(ctx, '-n', install.namespace, 'get', 'pods', '-o', 'wide')}`
            : `${pods.length} calico-node pod(s) replaced (new UIDs) and Ready on ${[...new Set(pods.map((p) => p.spec?.nodeName))].join(', ')}`,
        }
      },
    },
    {
      id: 'verify-cni-tokens',
      title: 'Verify the CNI tokens',
      description:
        "Reads everything again: the CNI config holds no stale token, the CNI ServiceAccount's token Secrets verify, and every node whose files can be read presents a current token (a node whose files cannot be read is unverified, not failed).",
      readOnly: true,
      kubectl: (ctx) => readNodesCommands(ctx),
      check: async (ctx) => {
        if (noCalico(ctx)) return { needed: false, summary: NO_CALICO }
        if (ctx.install && ctx.kube) {
          ctx.config = await api(ctx, () => readConfigState(ctx))
          await api(ctx, () => assessAccount(ctx))
        }
        ctx.nodesAfter = await readNodes(ctx)
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
      kubectl: (ctx) => probeCommands(ctx),
      check: async (ctx) => {
        if (!ctx.flags.probe) return { needed: false, summary: 'not asked (--probe creates and deletes a pod on each node)' }
        if (!ctx.install || !ctx.kube) return { needed: false, summary: noChangeSummary(ctx, 'no calico-node nodes to probe') }
        const nodes = await probeTargets(ctx)
        return { needed: nodes.length > 0, summary: `${nodes.length} node(s) to probe in namespace ${ctx.flags.probeNamespace}: ${nodes.join(', ')}` }
      },
      apply: async (ctx) => {
        const kube = need(ctx.kube)
        const nodes = await probeTargets(ctx)
        const leftovers = await api(ctx, () => deleteLeftoverProbePods(kube, ctx.flags.probeNamespace))
        if (leftovers > 0) ctx.output.info(`  deleted ${leftovers} probe pod(s) an earlier run left behind`)
        const ticker = createTicker({ output: ctx.output, what: 'probe pods', timeoutMs: ctx.flags.timeout * 1000 })
        let done = 0
        try {
          ctx.probes = await mapLimit(nodes, ctx.flags.maxParallel, async (node) => {
            const result = await api(ctx, () =>
              probeNode(kube, { namespace: ctx.flags.probeNamespace, node, image: ctx.flags.probeImage, timeoutMs: ctx.flags.timeout * 1000 }),
            )
            ticker.update({ ready: ++done, total: nodes.length })
            return result
          })
        } finally {
          ticker.done()
        }
        return { summary: summarizeProbes(ctx.probes), details: { probes: ctx.probes } }
      },
      verify: async (ctx) => {
        const bad = ctx.probes.filter((p) => p.outcome !== ProbeOutcome.ok)
        const unauthorized = bad.filter((p) => p.outcome === ProbeOutcome.unauthorized)
        return {
          ok: bad.length === 0,
          summary:
            bad.length === 0
              ? `a pod started on each of the ${ctx.probes.length} node(s)`
              : unauthorized.length > 0
                ? `${unauthorized.length} node(s) still reject the CNI token (${unauthorized.map((p) => p.node).join(', ')}: ${unauthorized[0]!.detail}); rerun with --restart, or with --cni-conf-dir on those nodes`
                : `${bad.length} node(s) could not start a probe pod (${bad[0]!.node}: ${bad[0]!.outcome}: ${bad[0]!.detail}); look at ${k(ctx, '-n', ctx.flags.probeNamespace, 'get', 'events', '--sort-by=.lastTimestamp')}`,
        }
      },
    },
  ],
}

// ---------------------------------------------------------------------------
// Detection and checks

export function describeInstall(install: CalicoInstall): string {
  const version = install.version ? `Calico ${install.version.text}` : 'Calico of unknown version'
  const image = install.image ? ` (${install.image.reference})` : ''
  const config = install.cniConfig.configMap
    ? `ConfigMap ${install.namespace}/${install.cniConfig.configMap.name} key ${install.cniConfig.configMap.key}`
    : `the DaemonSet's CNI_NETWORK_CONFIG`
  return (
    `${install.kind} install in ${install.namespace}, ${version}${image}; CNI token of ServiceAccount ${install.namespace}/${install.cniServiceAccount}; ` +
    `${install.expected.fileName} rendered from ${config}${install.expected.embedsToken ? ', with the token embedded' : ''}`
  )
}

async function readConfigState(ctx: Ctx): Promise<ConfigState> {
  const install = need(ctx.install)
  const kube = need(ctx.kube)
  const ref = install.cniConfig.configMap
  let text = install.cniConfig.text
  let configMap: V1ConfigMap | undefined
  let source = `the CNI_NETWORK_CONFIG env of DaemonSet ${install.namespace}/${install.daemonSet}`
  if (ref) {
    source = `ConfigMap ${install.namespace}/${ref.name} key ${ref.key}`
    configMap = await readConfigMap(kube, install.namespace, ref.name)
    text = configMap?.data?.[ref.key]
  }
  const base = { source, ...(configMap ? { configMap } : {}), ...(ref ? { key: ref.key } : {}) }
  if (text === undefined) return { ...base, summary: `${source} is missing: install-cni has no config to render`, findings: [] }
  let fields
  try {
    fields = parseCniConfig(text, source).tokenFields
  } catch (err) {
    if (!(err instanceof CniConfigError)) throw err
    warn(ctx, err.message)
    return { ...base, summary: `${source} is not a readable CNI config (see the warning)`, findings: [] }
  }
  const findings: ConfigTokenFinding[] = []
  for (const field of fields) {
    if (field.kind !== TokenValueKind.literal) continue
    ctx.redactor.register(field.token)
    const inspection = await inspectToken(`${source} ${field.path}`, field.token, { keys: ctx.keys, kube, now: ctx.now() })
    const description = inspection.token
    const wrapped = field.encoding === TokenEncoding.base64
    findings.push({
      path: field.path,
      line: field.line,
      encoding: field.encoding,
      status: inspection.status,
      reason: wrapped ? 'base64-wrapped, as `kubectl get secret -o yaml` shows it: the plugin sends it as it is, which never authenticates' : withoutFix(inspection.reason),
      ...(inspection.fingerprint ? { fingerprint: inspection.fingerprint } : {}),
      ...(description?.subject ? { subject: description.subject } : {}),
      stale: wrapped || (inspection.status !== TokenStatus.valid && inspection.status !== TokenStatus.unverified),
      ...(description?.boundTo?.kind === 'Secret' ? { secretName: description.boundTo.name } : {}),
    })
  }
  return { ...base, summary: describeFields(source, fields, findings), findings }
}

function describeFields(source: string, fields: ReturnType<typeof parseCniConfig>['tokenFields'], findings: readonly ConfigTokenFinding[]): string {
  if (fields.length === 0) return `${source} embeds no token (the plugin reads calico-kubeconfig)`
  const parts = fields.map((field) => {
    if (field.kind !== TokenValueKind.literal) return `${field.path} is ${field.kind === TokenValueKind.placeholder ? SERVICEACCOUNT_TOKEN_PLACEHOLDER : field.kind}`
    const finding = findings.find((f) => f.path === field.path)
    const fp = finding?.fingerprint ? ` (${finding.fingerprint})` : ''
    return finding?.stale
      ? `${field.path} holds a literal token${fp}, STALE: ${finding.reason}`
      : `${field.path} holds a literal token${fp}, valid for now${finding?.subject ? ` (${finding.subject})` : ''}, but stale again after the next key rotation`
  })
  return `${source}: ${parts.join('; ')}`
}

async function assessAccount(ctx: Ctx): Promise<void> {
  const install = need(ctx.install)
  const kube = need(ctx.kube)
  const scope = { all: false as const, namespace: install.namespace }
  const [secrets, accounts] = await Promise.all([listTokenSecrets(kube, scope), listServiceAccounts(kube, scope)])
  const index = serviceAccountIndex(accounts)
  ctx.accountSecrets = secrets.filter((s) => s.metadata?.annotations?.[SA_NAME_ANNOTATION] === install.cniServiceAccount)
  if (!index.has(`${install.namespace}/${install.cniServiceAccount}`)) {
    warn(ctx, `ServiceAccount ${install.namespace}/${install.cniServiceAccount}, which the CNI plugin authenticates as, does not exist; apply the Calico manifest of this version again to restore it`)
  }
  ctx.assessments = await assessSecrets(ctx.accountSecrets, { keys: ctx.keys, accounts: index, allTokens: false, now: ctx.now(), register: (t) => ctx.redactor.register(t), parallel: 8 })
  const needsWork = new Set(ctx.assessments.filter((a) => a.verdict === Verdict.stale || a.verdict === Verdict.empty).map((a) => a.key))
  ctx.staleSecrets = ctx.accountSecrets.filter((s) => needsWork.has(secretKey(s)))
}

// ---------------------------------------------------------------------------
// Nodes

/** The accounts a node's token may belong to. */
function expectation(ctx: Ctx): CniTokenExpectation {
  if (ctx.install) return { namespace: ctx.install.namespace, serviceAccounts: [ctx.install.cniServiceAccount] }
  // Offline: the namespace the given token names (checked to be Calico's in the context builder).
  const namespace = ctx.givenToken ? describeToken(decodeToken(ctx.givenToken)).namespace : undefined
  return { namespace: namespace ?? CALICO_NAMESPACES.manifest, serviceAccounts: CNI_SERVICE_ACCOUNTS }
}

async function readNodes(ctx: Ctx): Promise<NodeReport[]> {
  const judge = {
    expectation: expectation(ctx),
    fix: ctx.nodeLocal ? 'rewrite the files with fix-calico --cni-conf-dir … --yes' : 'restart calico-node so install-cni renders the files again (fix-calico --restart)',
    now: ctx.now(),
    inspect: (source: string, token: string) => {
      ctx.redactor.register(token)
      return inspectToken(source, token, { keys: ctx.keys, ...(ctx.kube ? { kube: ctx.kube } : {}), now: ctx.now() })
    },
  }
  if (ctx.nodeLocal) {
    const dir = need(ctx.flags.cniConfDir)
    return [await judgeNodeFiles(hostname(), dir, await readCniConfDir(dir), judge)]
  }
  if (!ctx.install || !ctx.kube || !ctx.exec) return []
  const { install, kube, exec } = ctx
  const ds = ctx.daemonSet ?? (await api(ctx, () => readDaemonSet(kube, install.namespace, install.daemonSet)))
  const pods = (await api(ctx, () => listDaemonSetPods(kube, ds))).filter((p) => !isTerminating(p)).sort((a, b) => (a.spec?.nodeName ?? '').localeCompare(b.spec?.nodeName ?? ''))
  const mount = cniMountOf(ds, install.cniNetDir)
  const hint = `run fix-calico on the node with --cni-conf-dir ${install.cniNetDir} to read them there`
  return mapLimit(pods, ctx.flags.maxParallel, async (pod) => {
    const node = pod.spec?.nodeName ?? '(unscheduled)'
    const name = `${install.namespace}/${pod.metadata?.name}`
    if (!mount) return unreadableNode(node, `pod ${name}`, `no running container of DaemonSet ${install.daemonSet} mounts ${install.cniNetDir}`, hint)
    const source = `pod ${name} (${mount.container}):${mount.mountPath}`
    if (pod.status?.phase !== 'Running') return unreadableNode(node, source, `the pod is ${pod.status?.phase ?? 'not running'}`, hint)
    const read = await readNodeFilesByExec(exec, { namespace: install.namespace, pod: pod.metadata?.name ?? '', container: mount.container }, mount.mountPath, 15_000)
    return read.ok ? judgeNodeFiles(node, source, read.files, judge) : unreadableNode(node, source, read.error, hint)
  })
}

export function summarizeNodes(nodes: readonly NodeReport[]): string {
  if (nodes.length === 0) return 'no calico-node pods, so no node to read'
  const counts = new Map<string, number>()
  for (const n of nodes) counts.set(n.verdict, (counts.get(n.verdict) ?? 0) + 1)
  const order = [NodeVerdict.stale, NodeVerdict.missing, NodeVerdict.current, NodeVerdict.unverified]
  const parts = order.filter((v) => counts.has(v)).map((v) => `${counts.get(v)} ${v}`)
  const first = nodes.find((n) => n.verdict !== NodeVerdict.current)
  return `${nodes.length} node(s): ${parts.join(', ')}${first ? `; ${first.node}: ${first.reason}` : ''}`
}

function nodeRewriteExpected(ctx: Ctx, report: NodeReport): boolean {
  if (report.verdict === NodeVerdict.stale || report.verdict === NodeVerdict.missing) return true
  // Nothing could be verified (offline without keys): write what the operator gave, if it differs.
  if (report.verdict === NodeVerdict.unverified && ctx.givenToken) {
    const fingerprint = describeToken(decodeToken(ctx.givenToken)).fingerprint
    return report.tokens.some((t) => t.fingerprint !== fingerprint)
  }
  return false
}

const nodeBackupDir = (ctx: Ctx) => join(ctx.backup.dir, 'node-files')

/** The token to write on the node: --token-file, else the CNI ServiceAccount's current legacy token. Checked before use. */
async function freshNodeToken(ctx: Ctx): Promise<{ token: string; source: string }> {
  const candidate = ctx.givenToken ? { token: ctx.givenToken, source: `--token-file ${ctx.flags.tokenFile}` } : await accountToken(ctx)
  const problem = await tokenProblem(ctx, candidate.token)
  if (problem) {
    const fix = ctx.givenToken
      ? `get a current one, e.g. ${kubectlCommand('-n', expectation(ctx).namespace, 'create', 'token', expectation(ctx).serviceAccounts?.[0] ?? CALICO_NODE)} on a machine with cluster access`
      : 'run regenerate-tokens for it, then rerun'
    throw new DomainError(`the token from ${candidate.source} ${problem}: nothing was written; ${fix}`)
  }
  return candidate
}

/** Why a token is not fit to hand to the CNI plugin, or undefined. */
async function tokenProblem(ctx: Ctx, token: string): Promise<string | undefined> {
  const assessed = assessCniToken(token, expectation(ctx), ctx.now())
  if (!assessed.subjectMatches) return `belongs to ${assessed.description.subject ?? 'no subject'}, not to ${assessed.expectedSubjects.join(' or ')}`
  if (assessed.expired) return `expired at ${assessed.expiresAt}`
  if (ctx.keys.length === 0) return undefined
  const signature = await verifySignature(assessed.decoded, ctx.keys)
  return signature.result === 'verified' ? undefined : `is not signed by a current key (${signature.result}${'kid' in signature && signature.kid ? ` ${signature.kid}` : ''})`
}

/** The current token of the CNI ServiceAccount's legacy Secret (preferring `preferred`), read live. */
async function accountToken(ctx: Ctx, preferred?: string): Promise<{ token: string; source: string }> {
  const install = need(ctx.install)
  const kube = need(ctx.kube)
  const secrets = (await listTokenSecrets(kube, { all: false, namespace: install.namespace }))
    .filter((s) => s.metadata?.annotations?.[SA_NAME_ANNOTATION] === install.cniServiceAccount && tokenOf(s))
    .sort((a, b) => (a.metadata?.name === preferred ? -1 : b.metadata?.name === preferred ? 1 : (a.metadata?.name ?? '').localeCompare(b.metadata?.name ?? '')))
  for (const secret of secrets) {
    const token = tokenOf(secret) ?? ''
    ctx.redactor.register(token)
    if ((await tokenProblem(ctx, token)) === undefined) return { token, source: `Secret ${secretKey(secret)}` }
  }
  throw new DomainError(
    `ServiceAccount ${install.namespace}/${install.cniServiceAccount} has no legacy token Secret with a current token${secrets.length ? ` (${secrets.map(secretKey).join(', ')} hold stale ones; run regenerate-tokens -n ${install.namespace} --service-account ${install.cniServiceAccount})` : ''}; ` +
      `create one with ${kubectlCommand('-n', install.namespace, 'apply', '-f', '-')} <<< '{"apiVersion":"v1","kind":"Secret","type":"kubernetes.io/service-account-token","metadata":{"name":"${install.cniServiceAccount}-token","annotations":{"kubernetes.io/service-account.name":"${install.cniServiceAccount}"}}}', or pass --token-file`,
  )
}

async function rewriteNode(ctx: Ctx): Promise<string> {
  const dir = need(ctx.flags.cniConfDir)
  const { token, source } = await freshNodeToken(ctx)
  const files = await readCniConfDir(dir)
  const writes = planNodeRewrite(files, token, { node: hostname() })
  if (writes.length === 0) return `${dir} already holds the token from ${source}`
  const written = await rewriteNodeFiles(dir, writes, nodeBackupDir(ctx))
  ctx.nodeFilesWritten = written.map((w) => w.path)
  const configMapNote = ctx.config
    ? ctx.config.findings.some((f) => f.stale)
      ? `${ctx.config.source} still holds a stale literal token, so the next calico-node restart writes it back here: run fix-calico without --cni-conf-dir too`
      : ctx.config.findings.length > 0
        ? `${ctx.config.source} holds a literal token that is valid now, so the next calico-node restart writes that token here`
        : `${ctx.config.source} holds no literal token, so the next calico-node restart renders a fresh token of its own`
    : "the ConfigMap could not be checked offline: if it holds a literal token instead of __SERVICEACCOUNT_TOKEN__, the next restart writes that token back; run fix-calico without --cni-conf-dir from a machine with cluster access"
  warn(ctx, `install-cni rewrites ${written.map((w) => w.name).join(' and ')} from the CNI config ConfigMap whenever calico-node starts on this node (the ConfigMap wins): ${configMapNote}`)
  return `wrote the token from ${source} into ${written.map((w) => w.path).join(', ')} (originals in ${nodeBackupDir(ctx)})`
}

// ---------------------------------------------------------------------------
// Fixes in the cluster

async function proveRegenerated(ctx: Ctx, secret: V1Secret): Promise<string | undefined> {
  const key = secretKey(secret)
  const fresh = ctx.refilled.get(key)
  if (!fresh) return `${key}: no new token`
  const signature = await verifySignature(decodeToken(fresh), ctx.keys)
  if (signature.result !== 'verified') return `${key}: the new token is not signed by a current key (${signature.result})`
  const review = await reviewToken(need(ctx.kube), fresh)
  if (!review.authenticated) return `${key}: TokenReview does not authenticate the new token (${review.error ?? 'no reason given'})`
  return undefined
}

async function fixConfig(ctx: Ctx): Promise<string> {
  const install = need(ctx.install)
  const kube = need(ctx.kube)
  const state = await readConfigState(ctx)
  if (!state.configMap || !state.key) {
    throw new DomainError(
      `${state.source} holds the stale token and is set on the DaemonSet itself, which fix-calico does not edit; replace it by hand (${k(ctx, '-n', install.namespace, 'edit', 'daemonset', install.daemonSet)}), then rerun`,
    )
  }
  const stale = state.findings.filter((f) => f.stale)
  if (stale.length === 0) return `${state.source} holds no stale token any more`
  let replacement = SERVICEACCOUNT_TOKEN_PLACEHOLDER
  let what = SERVICEACCOUNT_TOKEN_PLACEHOLDER
  if (ctx.flags.embedToken) {
    const fresh = await accountToken(ctx, stale.find((f) => f.secretName)?.secretName)
    replacement = fresh.token
    what = `the current token of ${fresh.source}`
  }
  const text = state.configMap.data?.[state.key] ?? ''
  const newText = replaceLiteralTokens(text, replacement, state.source)
  await ctx.backup.save('ConfigMap', state.configMap)
  const outcome = await replaceConfigMapKey(kube, state.configMap, state.key, newText, await serverTime(kube.kc, ctx.now))
  if (outcome === 'already-changed') throw new DomainError(`${state.source} changed while fix-calico read it; rerun to check it again`)
  ctx.configChange = `${stale.map((f) => f.path).join(', ')} → ${what}`
  return `${state.source}: ${ctx.configChange}`
}

/** When and why calico-node needs a restart, from live state. */
async function planRestart(ctx: Ctx): Promise<RestartPlan> {
  const install = need(ctx.install)
  const kube = need(ctx.kube)
  const ds = await readDaemonSet(kube, install.namespace, install.daemonSet)
  const pods = (await listDaemonSetPods(kube, ds)).filter((p) => !isTerminating(p))
  const configMap = install.cniConfig.configMap ? await readConfigMap(kube, install.namespace, install.cniConfig.configMap.name) : undefined
  const secrets = (await listTokenSecrets(kube, { all: false, namespace: install.namespace })).filter((s) => s.metadata?.annotations?.[SA_NAME_ANNOTATION] === install.cniServiceAccount)
  const changes = [configMap?.metadata?.annotations?.[CNI_CONFIG_FIXED_AT_ANNOTATION], ...secrets.map((s) => s.metadata?.annotations?.[REGENERATED_AT_ANNOTATION])]
  const since = latestChange(changes)
  const staleNodes = ctx.nodesBefore.filter((n) => n.verdict === NodeVerdict.stale || n.verdict === NodeVerdict.missing).map((n) => n.node)
  // Checked before any apply (a dry run, or the look before leaping without a terminal):
  // the steps before have not changed the token yet, so predict the restart they cause.
  const pending = ctx.mode === Modes.plan || ctx.mode === Modes.noTerminal ? [...ctx.pendingChanges] : []
  const reasons = restartReasons({ pods, ...(since ? { since } : {}), staleNodes, pending, forced: ctx.flags.restart })
  // Old pods are the only reason: any restart since the change will do (a rerun resumes it).
  // Stale nodes or --restart: a restart from now on.
  const onlyOldPods = since !== undefined && staleNodes.length === 0 && pending.length === 0 && !ctx.flags.restart
  return { ds, pods, since: onlyOldPods ? since : await serverTime(kube.kc, ctx.now), reasons }
}

async function restartCalicoNode(ctx: Ctx): Promise<{ summary: string }> {
  const kube = need(ctx.kube)
  const install = need(ctx.install)
  const plan = need(ctx.restartPlan)
  await ctx.backup.save('DaemonSet', plan.ds)
  // A restart at or after `since` is already under way (a rerun after a crash): wait for it instead of starting another.
  const current = templateRestartedAt(plan.ds)
  const resume = current !== undefined && Date.parse(current) >= Math.floor(plan.since.getTime() / 1000) * 1000
  const restartedAt = resume ? current : await restartDaemonSet(kube, install.namespace, install.daemonSet, await serverTime(kube.kc, ctx.now))
  // Pods the restart made carry its restartedAt (the template's annotations are copied to them); all others go.
  const oldPods = plan.pods.filter((p) => p.metadata?.annotations?.[RESTARTED_AT_ANNOTATION] !== restartedAt)
  const wait = {
    namespace: install.namespace,
    name: install.daemonSet,
    restartedAt,
    oldUids: new Set(oldPods.map((p) => p.metadata?.uid ?? '')),
    timeoutMs: ctx.flags.timeout * 1000,
    output: ctx.output,
    kubectlArgs: ctx.kubectlArgs,
  }
  const done = plan.ds.spec?.updateStrategy?.type === 'OnDelete' ? await replacePodsOneByOne(kube, { ...wait, oldPods }) : await waitForDaemonSetRollout(kube, wait)
  ctx.restart = {
    restartedAt,
    oldPods: [...wait.oldUids],
    newPods: done.pods.map((p) => ({ name: p.metadata?.name ?? '', node: p.spec?.nodeName ?? '', uid: p.metadata?.uid ?? '' })),
    detail: done.detail,
  }
  return { summary: `${resume ? 'waited for the restart already under way' : 'restarted'} ds/${install.daemonSet} (restartedAt ${restartedAt}): ${done.detail}` }
}

// ---------------------------------------------------------------------------
// Final verdict and probes

function finalProblems(ctx: Ctx): string[] {
  const problems: string[] = []
  const stale = ctx.config?.findings.filter((f) => f.stale) ?? []
  if (stale.length > 0 && !ctx.nodeLocal) problems.push(`${ctx.config?.source} still holds a stale token at ${stale.map((f) => f.path).join(', ')}`)
  const badSecrets = ctx.assessments.filter((a) => a.verdict === Verdict.stale || a.verdict === Verdict.empty)
  if (badSecrets.length > 0) problems.push(`${badSecrets.length} token Secret(s) of the CNI ServiceAccount are ${badSecrets[0]!.verdict}: ${badSecrets[0]!.key} ${badSecrets[0]!.why}`)
  const badNodes = ctx.nodesAfter.filter((n) => n.verdict === NodeVerdict.stale || n.verdict === NodeVerdict.missing)
  if (badNodes.length > 0) {
    const fix = ctx.nodeLocal ? 'rerun with --yes' : 'rerun with --restart, or with --cni-conf-dir on those nodes'
    problems.push(`${badNodes.length} node(s) present a ${badNodes[0]!.verdict} CNI token (${badNodes[0]!.node}: ${badNodes[0]!.reason}); ${fix}`)
  }
  return problems
}

function finalSummary(ctx: Ctx): string {
  const parts: string[] = []
  if (ctx.config) parts.push(ctx.config.findings.some((f) => f.stale) ? 'CNI config: stale token' : 'CNI config: no stale token')
  if (ctx.install && ctx.kube) {
    const good = ctx.assessments.filter((a) => a.verdict === Verdict.current).length
    parts.push(ctx.assessments.length ? `CNI ServiceAccount tokens: ${good} of ${ctx.assessments.length} current` : 'CNI ServiceAccount: no legacy token Secrets')
  }
  parts.push(`nodes: ${summarizeNodes(ctx.nodesAfter)}`)
  return parts.join('; ')
}

async function probeTargets(ctx: Ctx): Promise<string[]> {
  const install = need(ctx.install)
  const kube = need(ctx.kube)
  const ds = await api(ctx, () => readDaemonSet(kube, install.namespace, install.daemonSet))
  const pods = await api(ctx, () => listDaemonSetPods(kube, ds))
  return [...new Set(pods.filter((p) => !isTerminating(p)).map((p) => p.spec?.nodeName ?? '').filter(Boolean))].sort()
}

export function summarizeProbes(probes: readonly ProbeResult[]): string {
  const counts = new Map<string, number>()
  for (const p of probes) counts.set(p.outcome, (counts.get(p.outcome) ?? 0) + 1)
  return `${probes.length} probe pod(s): ${[...counts].map(([o, n]) => `${n} ${o}`).join(', ') || 'none'}`
}

// ---------------------------------------------------------------------------
// The commands each step shows

function k(ctx: Ctx, ...args: string[]): string {
  return kubectlCommand(...ctx.kubectlArgs, ...args)
}

function readNodesCommands(ctx: Ctx): string[] {
  if (ctx.nodeLocal) {
    const dir = ctx.flags.cniConfDir ?? ''
    return [`ls -l ${shellQuote(dir)}`, `cat ${shellQuote(dir)}/*.conf* ${shellQuote(join(dir, 'calico-kubeconfig'))}`]
  }
  if (!ctx.install || !ctx.daemonSet) return []
  const { namespace, cniNetDir, expected } = ctx.install
  const mount = cniMountOf(ctx.daemonSet, cniNetDir)
  if (!mount) return []
  const selector = Object.entries(ctx.daemonSet.spec?.selector?.matchLabels ?? {}).map(([key, v]) => `${key}=${v}`).join(',')
  const list = k(ctx, '-n', namespace, 'get', 'pods', ...(selector ? ['-l', selector] : []), '-o', 'name')
  const files = [expected.fileName, 'calico-kubeconfig'].map((f) => shellQuote(`${mount.mountPath.replace(/\/+$/, '')}/${f}`)).join(' ')
  return [`for p in $(${list}); do ${k(ctx, '-n', namespace, 'exec')} "$p" -c ${shellQuote(mount.container)} -- cat ${files}; done`]
}

const JQ_TOKEN = '"\\"k8s_auth_token\\": *\\"[^\\"]*\\""'

function fixConfigCommands(ctx: Ctx): string[] {
  const install = ctx.install
  const state = ctx.config
  if (!install || !state?.configMap || !state.key || !state.findings.some((f) => f.stale)) return []
  const name = state.configMap.metadata?.name ?? ''
  const get = k(ctx, '-n', install.namespace, 'get', 'configmap', name, '-o', 'json')
  const replace = k(ctx, 'replace', '-f', '-')
  const target = `.data[${JSON.stringify(state.key)}]`
  if (!ctx.flags.embedToken) {
    return [`${get} | jq ${shellQuote(`${target} |= gsub(${JQ_TOKEN}; "\\"k8s_auth_token\\": \\"${SERVICEACCOUNT_TOKEN_PLACEHOLDER}\\"")`)} | ${replace}`]
  }
  const secret = ctx.accountSecrets[0]?.metadata?.name ?? `${install.cniServiceAccount}-token`
  return [
    `TOKEN=$(${k(ctx, '-n', install.namespace, 'get', 'secret', secret, '-o', 'jsonpath={.data.token}')} | base64 -d)`,
    `${get} | jq --arg t "$TOKEN" ${shellQuote(`${target} |= gsub(${JQ_TOKEN}; "\\"k8s_auth_token\\": \\"" + $t + "\\"")`)} | ${replace}`,
  ]
}

function rewriteCommands(ctx: Ctx): string[] {
  if (!ctx.nodeLocal) return []
  const dir = ctx.flags.cniConfDir ?? ''
  const report = ctx.nodesBefore[0]
  const files = new Set(report?.tokens.map((t) => t.file) ?? [])
  const source = ctx.flags.tokenFile && ctx.flags.tokenFile !== '-' ? `TOKEN=$(cat ${shellQuote(ctx.flags.tokenFile)})` : 'TOKEN=<the new token>'
  const lines = [source, `mkdir -p ${shellQuote(nodeBackupDir(ctx))}`]
  for (const file of files) {
    const path = shellQuote(join(dir, file))
    lines.push(`cp -p ${path} ${shellQuote(nodeBackupDir(ctx))}/`)
    lines.push(
      file.endsWith('kubeconfig')
        ? `sed -i 's|^\\([[:space:]]*token:[[:space:]]*\\).*|\\1'"$TOKEN"'|' ${path}`
        : `sed -i 's|"k8s_auth_token": *"[^"]*"|"k8s_auth_token": "'"$TOKEN"'"|' ${path}`,
    )
  }
  return lines
}

function restartCommands(ctx: Ctx): string[] {
  if (!ctx.install || ctx.nodeLocal) return []
  const { namespace, daemonSet } = ctx.install
  const ds = ctx.restartPlan?.ds ?? ctx.daemonSet
  if (ds?.spec?.updateStrategy?.type === 'OnDelete') {
    const selector = Object.entries(ds.spec.selector?.matchLabels ?? {}).map(([key, v]) => `${key}=${v}`).join(',')
    return [
      k(ctx, '-n', namespace, 'rollout', 'restart', `ds/${daemonSet}`),
      `for p in $(${k(ctx, '-n', namespace, 'get', 'pods', '-l', selector, '-o', 'name')}); do ${k(ctx, '-n', namespace, 'delete')} "$p" && ${k(ctx, '-n', namespace, 'wait', '--for=condition=Ready', 'pods', '-l', selector, `--timeout=${ctx.flags.timeout}s`)}; done`,
    ]
  }
  return [k(ctx, '-n', namespace, 'rollout', 'restart', `ds/${daemonSet}`), k(ctx, '-n', namespace, 'rollout', 'status', `ds/${daemonSet}`, `--timeout=${ctx.flags.timeout}s`)]
}

function probeCommands(ctx: Ctx): string[] {
  if (!ctx.flags.probe || !ctx.install) return []
  const ns = ctx.flags.probeNamespace
  const nodes = [...new Set(ctx.nodesAfter.map((n) => n.node))]
  const shown = nodes.slice(0, 3)
  const lines = shown.flatMap((node) => {
    const overrides = JSON.stringify({ apiVersion: 'v1', spec: { nodeName: node, tolerations: [{ operator: 'Exists' }], automountServiceAccountToken: false } })
    return [
      k(ctx, '-n', ns, 'run', 'ktr-cni-probe', `--image=${ctx.flags.probeImage}`, '--restart=Never', `--overrides=${overrides}`),
      k(ctx, '-n', ns, 'get', 'events', '--field-selector', 'involvedObject.name=ktr-cni-probe'),
      k(ctx, '-n', ns, 'delete', 'pod', 'ktr-cni-probe', '--grace-period=0'),
    ]
  })
  if (nodes.length > shown.length) lines.push(`# … and the same for the other ${nodes.length - shown.length} node(s)`)
  return lines
}

// ---------------------------------------------------------------------------
// Backups

function backupPlan(ctx: Ctx): { objects: Array<{ kind: string; object: { metadata?: V1ConfigMap['metadata'] } }>; nodeFiles: string[] } {
  const objects: Array<{ kind: string; object: { metadata?: V1ConfigMap['metadata'] } }> = []
  if (ctx.nodeLocal) {
    const report = ctx.nodesBefore[0]
    const calicoNames: readonly string[] = [...CALICO_CONF_NAMES, CALICO_KUBECONFIG_NAME]
    const nodeFiles =
      report && nodeRewriteExpected(ctx, report) ? [...new Set([...report.tokens.map((t) => t.file), ...(report.files ?? []).filter((f) => calicoNames.includes(f))])].sort() : []
    return { objects: ctx.staleSecrets.map((s) => ({ kind: 'Secret', object: s })), nodeFiles }
  }
  const configFix = ctx.config?.configMap && ctx.config.findings.some((f) => f.stale)
  if (configFix && ctx.config?.configMap) objects.push({ kind: 'ConfigMap', object: ctx.config.configMap })
  for (const s of ctx.staleSecrets) objects.push({ kind: 'Secret', object: s })
  const staleNodes = ctx.nodesBefore.some((n) => n.verdict === NodeVerdict.stale || n.verdict === NodeVerdict.missing)
  if (ctx.daemonSet && (configFix || ctx.staleSecrets.length > 0 || staleNodes || ctx.flags.restart)) objects.push({ kind: 'DaemonSet', object: ctx.daemonSet })
  return { objects, nodeFiles: [] }
}

function describeBackup(kinds: readonly string[], nodeFiles: readonly string[]): string {
  const counts = new Map<string, number>()
  for (const kind of kinds) counts.set(kind, (counts.get(kind) ?? 0) + 1)
  const parts = [...counts].map(([kind, n]) => `${n} ${kind}${n === 1 ? '' : 's'}`)
  if (nodeFiles.length > 0) parts.push(`${nodeFiles.length} node file(s) (${nodeFiles.join(', ')})`)
  return parts.join(', ')
}

// ---------------------------------------------------------------------------
// Plumbing

function warn(ctx: Ctx, line: string): void {
  if (ctx.warnings.includes(line)) return
  ctx.warnings.push(line)
  ctx.output.warn(line)
}

/** A check's words when it has nothing to do: no Calico, offline (nothing in the cluster was read), or `summary`. */
function noChangeSummary(ctx: Ctx, summary: string): string {
  if (noCalico(ctx)) return NO_CALICO
  return ctx.kube ? summary : 'offline: the cluster is neither read nor changed'
}

function need<T>(value: T | undefined): T {
  if (value === undefined) throw new Error('internal: a step ran without what an earlier step should have found')
  return value
}

/** What a run needs, for a 403. */
const RBAC_NEEDED =
  'fix-calico needs get/list on daemonsets, configmaps, serviceaccounts, secrets and pods in kube-system and calico-system, watch and patch on secrets, ' +
  'patch on the configmap and the daemonset, create on pods/exec, create on tokenreviews, and (--probe) create/delete on pods and list on events in the probe namespace'

/** Runs API calls, turning connection, credential and permission failures into one-line errors with the fix. */
async function api<T>(ctx: Pick<Ctx, 'kube'>, call: () => Promise<T>): Promise<T> {
  try {
    return await call()
  } catch (err) {
    if (!ctx.kube) throw err
    if (statusOf(err) === 403) throw new DomainError(`the API server refused a request (403 Forbidden: ${forbiddenMessage(err)}); ${RBAC_NEEDED}`, { cause: err })
    throw explainApiError(err, ctx.kube.kc)
  }
}

function forbiddenMessage(err: unknown): string {
  let body = (err as { body?: unknown }).body
  if (typeof body === 'string') {
    const text = body
    try {
      body = JSON.parse(text) as unknown
    } catch {
      return text || 'no message'
    }
  }
  const message = (body as { message?: unknown } | undefined)?.message
  return typeof message === 'string' && message !== '' ? message : 'no message'
}

/** PEM public keys, or a JWKS document as /openid/v1/jwks serves it. */
async function loadKeyFile(path: string): Promise<VerificationKey[]> {
  let content: string
  try {
    content = await readFile(path, 'utf8')
  } catch (err) {
    throw new UsageError(`cannot read --key-file ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}; check the path`)
  }
  if (content.trimStart().startsWith('{')) {
    try {
      return keysFromJwks(JSON.parse(content) as unknown, path)
    } catch (err) {
      throw new UsageError(`--key-file ${path} looks like JSON but is not a JWKS (${err instanceof Error ? err.message : String(err)}); save it with kubectl get --raw /openid/v1/jwks`)
    }
  }
  return loadPublicKeysFromPem(content, path)
}


/** Flag combinations that cannot work, refused before anything runs. */
export function validateFlags(flags: Flags): void {
  const nodeLocal = flags.cniConfDir !== undefined
  if (flags.tokenFile !== undefined && !nodeLocal) throw new UsageError('--token-file is for node-local mode: add --cni-conf-dir <dir> (the directory on this node to rewrite)')
  if (flags.offline && !(nodeLocal && flags.tokenFile !== undefined)) {
    throw new UsageError('--offline works on a node\'s files alone: give --cni-conf-dir <dir> and --token-file <path>')
  }
  for (const [flag, set] of [
    ['--embed-token', flags.embedToken],
    ['--restart', flags.restart],
    ['--probe', flags.probe],
  ] as const) {
    if (set && nodeLocal) throw new UsageError(`${flag} acts on the cluster, which node-local mode (--cni-conf-dir) leaves alone: drop one of them`)
  }
  for (const [flag, value] of [
    ['timeout', flags.timeout],
    ['max-parallel', flags.maxParallel],
  ] as const) {
    if (!Number.isInteger(value) || value < 1) throw new UsageError(`--${flag} ${value} must be a whole number of at least 1`)
  }
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

export function renderFindings(ctx: Ctx): string {
  const lines: string[] = []
  if (ctx.install) lines.push(`Calico: ${describeInstall(ctx.install)}`)
  else if (ctx.kube) lines.push('Calico: not found (no DaemonSet calico-node in kube-system or calico-system).')
  if (ctx.config) {
    lines.push(`CNI config: ${ctx.config.summary}`)
    if (ctx.configChange) lines.push(`  changed: ${ctx.configChange}`)
  }
  if (ctx.install && ctx.kube) {
    lines.push(`CNI ServiceAccount ${ctx.install.namespace}/${ctx.install.cniServiceAccount}: ${ctx.assessments.length ? summarizeAssessments(ctx.assessments) : 'no legacy token Secrets'}`)
    for (const a of ctx.assessments) lines.push(`  ${a.key}  ${a.verdict}  ${a.why}${ctx.outcomes.get(a.key) ? ` -> ${ctx.outcomes.get(a.key)}` : ''}`)
  }
  const nodes = ctx.nodesAfter.length > 0 ? ctx.nodesAfter : ctx.nodesBefore
  if (nodes.length > 0) {
    lines.push(`Nodes${ctx.nodesAfter.length > 0 ? '' : ' (before any change)'}:`)
    const width = Math.max(...nodes.map((n) => n.node.length))
    for (const n of nodes) lines.push(`  ${n.node.padEnd(width)}  ${n.verdict.padEnd(10)}  ${n.reason}`)
  }
  if (ctx.restart) lines.push(`calico-node: restartedAt ${ctx.restart.restartedAt}; ${ctx.restart.oldPods.length} old pod(s) replaced by ${ctx.restart.newPods.map((p) => `${p.name}@${p.node}`).join(', ')}`)
  if (ctx.nodeFilesWritten.length > 0) lines.push(`Node files rewritten: ${ctx.nodeFilesWritten.join(', ')} (originals in ${nodeBackupDir(ctx)})`)
  if (ctx.probes.length > 0) {
    lines.push(`Probes: ${summarizeProbes(ctx.probes)}`)
    for (const p of ctx.probes) lines.push(`  ${p.node}  ${p.outcome}  ${p.detail}`)
  }
  if (ctx.warnings.length > 0) lines.push('Warnings:', ...ctx.warnings.map((w) => `  - ${w}`))
  return lines.join('\n')
}

/** What fix-calico needs from its caller: a Session (rotate-tokens) fits, and so does an offline run's subset. */
export type CalicoBase = Pick<Session, 'output' | 'redactor' | 'now' | 'connection' | 'backup'> & { kube?: Kube }

/** This runbook's state on top of a session (or offline base): run alone, or by rotate-tokens. */
export function contextOf(base: CalicoBase, flags: Flags, opts: { mode: Mode; givenToken?: string }): Ctx {
  return {
    flags,
    output: base.output,
    redactor: base.redactor,
    now: base.now,
    mode: opts.mode,
    kubectlArgs: base.connection,
    backup: base.backup,
    nodeLocal: flags.cniConfDir !== undefined,
    keys: [],
    accountSecrets: [],
    assessments: [],
    staleSecrets: [],
    nodesBefore: [],
    nodesAfter: [],
    pendingChanges: new Set(),
    outcomes: new Map(),
    refilled: new Map(),
    nodeFilesWritten: [],
    probes: [],
    warnings: [],
    ...(base.kube ? { kube: base.kube, exec: kubeExec(base.kube) } : {}),
    ...(opts.givenToken ? { givenToken: opts.givenToken } : {}),
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
