// fix-calico's judgement, in words: the install, the CNI config's tokens,
// the nodes, the backup plan, the final verdict and the findings report.
// Pure: it reads the run state the steps filled in and decides nothing by I/O.
import type { V1ConfigMap } from '@kubernetes/client-node'
import { Modes, type Check } from '../engine/types.ts'
import { k } from './commands.ts'
import { ProbeOutcome, type ProbeResult } from './probe.ts'
import { Verdict, summarizeAssessments } from '../regenerate/select.ts'
import { secretKey } from '../secrets.ts'
import { decodeToken } from '../token/decode.ts'
import { describeToken } from '../token/describe.ts'
import { CNI_SERVICE_ACCOUNTS, type CniTokenExpectation } from './assess.ts'
import type { parseCniConfig } from './cni-config.ts'
import { noChangeSummary, nodeBackupDir, warn, type ConfigTokenFinding, type Ctx } from './context.ts'
import { CALICO_NAMESPACES, type CalicoInstall } from './detect.ts'
import { CALICO_KUBECONFIG_NAME } from './kubeconfig.ts'
import { NodeVerdict, type NodeReport } from './node-dir.ts'
import { CALICO_CONF_NAMES } from './node-files.ts'
import { SERVICEACCOUNT_TOKEN_PLACEHOLDER, TokenValueKind } from './token-value.ts'

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

export function describeFields(source: string, fields: ReturnType<typeof parseCniConfig>['tokenFields'], findings: readonly ConfigTokenFinding[]): string {
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

/** The accounts a node's token may belong to. */
export function expectation(ctx: Ctx): CniTokenExpectation {
  if (ctx.install) return { namespace: ctx.install.namespace, serviceAccounts: [ctx.install.cniServiceAccount] }
  // Offline: the namespace the given token names (checked to be Calico's in the context builder).
  const namespace = ctx.givenToken ? describeToken(decodeToken(ctx.givenToken)).namespace : undefined
  return { namespace: namespace ?? CALICO_NAMESPACES.manifest, serviceAccounts: CNI_SERVICE_ACCOUNTS }
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

export function nodeRewriteExpected(ctx: Ctx, report: NodeReport): boolean {
  if (report.verdict === NodeVerdict.stale || report.verdict === NodeVerdict.missing) return true
  // Nothing could be verified (offline without keys): write what the operator gave, if it differs.
  if (report.verdict === NodeVerdict.unverified && ctx.givenToken) {
    const fingerprint = describeToken(decodeToken(ctx.givenToken)).fingerprint
    return report.tokens.some((t) => t.fingerprint !== fingerprint)
  }
  return false
}

export function finalProblems(ctx: Ctx): string[] {
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

export function finalSummary(ctx: Ctx): string {
  const parts: string[] = []
  if (ctx.config) parts.push(ctx.config.findings.some((f) => f.stale) ? 'CNI config: stale token' : 'CNI config: no stale token')
  if (ctx.install && ctx.kube) {
    const good = ctx.assessments.filter((a) => a.verdict === Verdict.current).length
    parts.push(ctx.assessments.length ? `CNI ServiceAccount tokens: ${good} of ${ctx.assessments.length} current` : 'CNI ServiceAccount: no legacy token Secrets')
  }
  parts.push(`nodes: ${summarizeNodes(ctx.nodesAfter)}`)
  return parts.join('; ')
}

export function summarizeProbes(probes: readonly ProbeResult[]): string {
  const counts = new Map<string, number>()
  for (const p of probes) counts.set(p.outcome, (counts.get(p.outcome) ?? 0) + 1)
  return `${probes.length} probe pod(s): ${[...counts].map(([o, n]) => `${n} ${o}`).join(', ') || 'none'}`
}

export function backupPlan(ctx: Ctx): { objects: Array<{ kind: string; object: { metadata?: V1ConfigMap['metadata'] } }>; nodeFiles: string[] } {
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

export function describeBackup(kinds: readonly string[], nodeFiles: readonly string[]): string {
  const counts = new Map<string, number>()
  for (const kind of kinds) counts.set(kind, (counts.get(kind) ?? 0) + 1)
  const parts = [...counts].map(([kind, n]) => `${n} ${kind}${n === 1 ? '' : 's'}`)
  if (nodeFiles.length > 0) parts.push(`${nodeFiles.length} node file(s) (${nodeFiles.join(', ')})`)
  return parts.join(', ')
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

/** After node files were rewritten: what the ConfigMap will do to them at the next calico-node start. */
export function configMapNote(config: Ctx['config']): string {
  return config
    ? config.findings.some((f) => f.stale)
      ? `${config.source} still holds a stale literal token, so the next calico-node restart writes it back here: run fix-calico without --cni-conf-dir too`
      : config.findings.length > 0
        ? `${config.source} holds a literal token that is valid now, so the next calico-node restart writes that token here`
        : `${config.source} holds no literal token, so the next calico-node restart renders a fresh token of its own`
    : "the ConfigMap could not be checked offline: if it holds a literal token instead of __SERVICEACCOUNT_TOKEN__, the next restart writes that token back; run fix-calico without --cni-conf-dir from a machine with cluster access"
}

/** probe-nodes' verdict: every probe pod started, or which nodes reject the CNI token. */
export function probeVerdict(ctx: Ctx): { ok: boolean; summary: string } {
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
}

/** regenerate-cni-tokens' check: the stale Secrets (a pending change the restart follows). */
export function checkRegenerate(ctx: Ctx): Check {
  const needed = ctx.staleSecrets.length > 0
  if (needed) ctx.pendingChanges.add('regenerate-cni-tokens')
  const stale = `${ctx.staleSecrets.length} token Secret(s) need a new token: ${ctx.staleSecrets.map(secretKey).join(', ')}`
  return { needed, summary: needed ? stale : noChangeSummary(ctx, 'every token Secret of the CNI ServiceAccount holds a current token') }
}

/** fix-cni-config's check: stale literal tokens in the template; node-local mode only warns. */
export function checkConfigFix(ctx: Ctx): Check {
  const stale = ctx.config?.findings.filter((f) => f.stale) ?? []
  if (stale.length === 0) return { needed: false, summary: noChangeSummary(ctx, ctx.config ? 'the CNI config holds no stale token' : 'no CNI config to fix') }
  const what = `${ctx.config?.source} holds ${stale.length} stale literal token(s) at ${stale.map((f) => f.path).join(', ')}`
  if (ctx.nodeLocal) {
    warn(ctx, `${what}: the next calico-node restart on any node writes it back, over the files fixed here; run fix-calico without --cni-conf-dir to fix the ConfigMap`)
    return { needed: false, summary: `node-local mode: ${what}, left as it is (see the warning)` }
  }
  ctx.pendingChanges.add('fix-cni-config')
  return { needed: true, summary: `${what}; it becomes ${ctx.flags.embedToken ? "the CNI ServiceAccount's current token (--embed-token)" : SERVICEACCOUNT_TOKEN_PLACEHOLDER}` }
}

/** rewrite-node-files' check: node-local mode, and the node's files need the token. */
export function checkNodeRewrite(ctx: Ctx): Check {
  if (!ctx.nodeLocal) return { needed: false, summary: noChangeSummary(ctx, "not node-local mode: calico-node's restart renders the nodes' files (run with --cni-conf-dir on a node to rewrite them there)") }
  const report = ctx.nodesBefore[0]
  if (!report) return { needed: false, summary: 'no node files read' }
  const needed = nodeRewriteExpected(ctx, report)
  if (needed) ctx.pendingChanges.add('rewrite-node-files')
  return { needed, summary: needed ? `${ctx.flags.cniConfDir}: ${report.verdict}: ${report.reason}` : `${ctx.flags.cniConfDir}: ${report.verdict}: nothing to rewrite` }
}

/** verify-cni-tokens' verdict; a dry run reports what it found without failing. */
export function finalVerdict(ctx: Ctx): { ok: boolean; summary: string } {
  const problems = finalProblems(ctx)
  if (ctx.mode === Modes.plan && problems.length > 0) return { ok: true, summary: `dry run, so as found: ${problems.join('; ')}` }
  return { ok: problems.length === 0, summary: problems.length ? problems.join('; ') : finalSummary(ctx) }
}
