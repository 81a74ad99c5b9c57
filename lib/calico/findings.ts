// fix-calico's judgement, in words: the install, the CNI config's tokens,
// the nodes, the backup plan, the final verdict and the findings report.
// Pure: it reads the plans the steps returned and decides nothing by I/O.
import { Modes, type Check, type Findings, type Step } from '../engine/types.ts'
import { k } from './commands.ts'
import { ProbeOutcome, type ProbeResult } from './probe.ts'
import { Verdict, summarizeAssessments } from '../regenerate/select.ts'
import { secretKey } from '../secrets.ts'
import { decodeToken } from '../token/decode.ts'
import { describeToken } from '../token/describe.ts'
import { CNI_SERVICE_ACCOUNTS, type CniTokenExpectation } from './assess.ts'
import type { parseCniConfig } from './cni-config.ts'
import {
  noChangeSummary,
  nodeBackupDir,
  type AccountPlan,
  type Basis,
  type BackupObject,
  type CalicoFacts,
  type ConfigFixPlan,
  type ConfigFixResult,
  type ConfigPlan,
  type ConfigState,
  type ConfigTokenFinding,
  type Ctx,
  type DetectPlan,
  type FinalPlan,
  type NodeRewritePlan,
  type NodeRewriteResult,
  type NodesPlan,
  type ProbeRun,
  type RegeneratePlan,
  type RestartResult,
} from './context.ts'
import type { RegenerateOutcome } from '../regenerate/apply.ts'
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
export function expectation(install: CalicoInstall | undefined, givenToken: string | undefined): CniTokenExpectation {
  if (install) return { namespace: install.namespace, serviceAccounts: [install.cniServiceAccount] }
  // Offline: the namespace the given token names (checked to be Calico's in the context builder).
  const namespace = givenToken ? describeToken(decodeToken(givenToken)).namespace : undefined
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

export function nodeRewriteExpected(givenToken: string | undefined, report: NodeReport): boolean {
  if (report.verdict === NodeVerdict.stale || report.verdict === NodeVerdict.missing) return true
  // Nothing could be verified (offline without keys): write what the operator gave, if it differs.
  if (report.verdict === NodeVerdict.unverified && givenToken) {
    const fingerprint = describeToken(decodeToken(givenToken)).fingerprint
    return report.tokens.some((t) => t.fingerprint !== fingerprint)
  }
  return false
}

export function finalProblems(ctx: Pick<Ctx, 'nodeLocal'>, after: FinalPlan): string[] {
  const problems: string[] = []
  const stale = after.config?.findings.filter((f) => f.stale) ?? []
  if (stale.length > 0 && !ctx.nodeLocal) problems.push(`${after.config?.source} still holds a stale token at ${stale.map((f) => f.path).join(', ')}`)
  const badSecrets = (after.account?.assessments ?? []).filter((a) => a.verdict === Verdict.stale || a.verdict === Verdict.empty)
  if (badSecrets.length > 0) problems.push(`${badSecrets.length} token Secret(s) of the CNI ServiceAccount are ${badSecrets[0]!.verdict}: ${badSecrets[0]!.key} ${badSecrets[0]!.why}`)
  const badNodes = after.nodes.filter((n) => n.verdict === NodeVerdict.stale || n.verdict === NodeVerdict.missing)
  if (badNodes.length > 0) {
    const fix = ctx.nodeLocal ? 'rerun with --yes' : 'rerun with --restart, or with --cni-conf-dir on those nodes'
    problems.push(`${badNodes.length} node(s) present a ${badNodes[0]!.verdict} CNI token (${badNodes[0]!.node}: ${badNodes[0]!.reason}); ${fix}`)
  }
  return problems
}

export function finalSummary(after: FinalPlan): string {
  const parts: string[] = []
  if (after.config) parts.push(after.config.findings.some((f) => f.stale) ? 'CNI config: stale token' : 'CNI config: no stale token')
  if (after.account) {
    const { assessments } = after.account
    const good = assessments.filter((a) => a.verdict === Verdict.current).length
    parts.push(assessments.length ? `CNI ServiceAccount tokens: ${good} of ${assessments.length} current` : 'CNI ServiceAccount: no legacy token Secrets')
  }
  parts.push(`nodes: ${summarizeNodes(after.nodes)}`)
  return parts.join('; ')
}

export function summarizeProbes(probes: readonly ProbeResult[]): string {
  const counts = new Map<string, number>()
  for (const p of probes) counts.set(p.outcome, (counts.get(p.outcome) ?? 0) + 1)
  return `${probes.length} probe pod(s): ${[...counts].map(([o, n]) => `${n} ${o}`).join(', ') || 'none'}`
}

/** What the checks before back-up found: everything it backs up follows from them. */
export interface BeforeChanges {
  readonly config: ConfigPlan
  readonly account: AccountPlan
  readonly nodes: NodesPlan
}

export function backupPlan(ctx: Pick<Ctx, 'nodeLocal' | 'givenToken' | 'flags'>, { config: { config, daemonSet }, account, nodes }: BeforeChanges): { objects: BackupObject[]; nodeFiles: string[] } {
  const objects: BackupObject[] = []
  if (ctx.nodeLocal) {
    const report = nodes.nodes[0]
    const calicoNames: readonly string[] = [...CALICO_CONF_NAMES, CALICO_KUBECONFIG_NAME]
    const nodeFiles =
      report && nodeRewriteExpected(ctx.givenToken, report) ? [...new Set([...report.tokens.map((t) => t.file), ...(report.files ?? []).filter((f) => calicoNames.includes(f))])].sort() : []
    return { objects: account.stale.map((s) => ({ kind: 'Secret', object: s })), nodeFiles }
  }
  const configFix = config?.configMap && config.findings.some((f) => f.stale)
  if (configFix && config?.configMap) objects.push({ kind: 'ConfigMap', object: config.configMap })
  for (const s of account.stale) objects.push({ kind: 'Secret', object: s })
  const staleNodes = nodes.nodes.some((n) => n.verdict === NodeVerdict.stale || n.verdict === NodeVerdict.missing)
  if (daemonSet && (configFix || account.stale.length > 0 || staleNodes || ctx.flags.restart)) objects.push({ kind: 'DaemonSet', object: daemonSet })
  return { objects, nodeFiles: [] }
}

export function describeBackup(kinds: readonly string[], nodeFiles: readonly string[]): string {
  const counts = new Map<string, number>()
  for (const kind of kinds) counts.set(kind, (counts.get(kind) ?? 0) + 1)
  const parts = [...counts].map(([kind, n]) => `${n} ${kind}${n === 1 ? '' : 's'}`)
  if (nodeFiles.length > 0) parts.push(`${nodeFiles.length} node file(s) (${nodeFiles.join(', ')})`)
  return parts.join(', ')
}

/** The findings, in words, for the text output. */
export function renderFindings(ctx: Pick<Ctx, 'kube' | 'backup' | 'warnings'>, facts: CalicoFacts): string {
  const lines: string[] = []
  const { install, config, account, restart } = facts
  if (install) lines.push(`Calico: ${describeInstall(install)}`)
  else if (ctx.kube) lines.push('Calico: not found (no DaemonSet calico-node in kube-system or calico-system).')
  if (config) {
    lines.push(`CNI config: ${config.summary}`)
    if (facts.configChange) lines.push(`  changed: ${facts.configChange}`)
  }
  if (install && ctx.kube) {
    const assessments = account?.assessments ?? []
    lines.push(`CNI ServiceAccount ${install.namespace}/${install.cniServiceAccount}: ${assessments.length ? summarizeAssessments(assessments) : 'no legacy token Secrets'}`)
    for (const a of assessments) lines.push(`  ${a.key}  ${a.verdict}  ${a.why}${facts.outcomes.get(a.key) ? ` -> ${facts.outcomes.get(a.key)}` : ''}`)
  }
  const nodes = facts.nodesAfter.length > 0 ? facts.nodesAfter : facts.nodesBefore
  if (nodes.length > 0) {
    lines.push(`Nodes${facts.nodesAfter.length > 0 ? '' : ' (before any change)'}:`)
    const width = Math.max(...nodes.map((n) => n.node.length))
    for (const n of nodes) lines.push(`  ${n.node.padEnd(width)}  ${n.verdict.padEnd(10)}  ${n.reason}`)
  }
  if (restart) lines.push(`calico-node: restartedAt ${restart.restartedAt}; ${restart.oldPods.length} old pod(s) replaced by ${restart.newPods.map((p) => `${p.name}@${p.node}`).join(', ')}`)
  if (facts.nodeFilesWritten.length > 0) lines.push(`Node files rewritten: ${facts.nodeFilesWritten.join(', ')} (originals in ${nodeBackupDir(ctx)})`)
  if (facts.probes.length > 0) {
    lines.push(`Probes: ${summarizeProbes(facts.probes)}`)
    for (const p of facts.probes) lines.push(`  ${p.node}  ${p.outcome}  ${p.detail}`)
  }
  if (ctx.warnings.lines.length > 0) lines.push('Warnings:', ...ctx.warnings.lines.map((w) => `  - ${w}`))
  return lines.join('\n')
}

/** The findings as the JSON report's fields (--output json). */
export function reportFields(ctx: Pick<Ctx, 'backup' | 'warnings'>, facts: CalicoFacts): Record<string, unknown> {
  const { install, config, account } = facts
  return {
    backupDir: ctx.backup.dir,
    calico: install ? withoutConfigText(install) : null,
    cniConfig: config ? { source: config.source, summary: config.summary, findings: config.findings, change: facts.configChange ?? null } : null,
    serviceAccount: install
      ? { namespace: install.namespace, name: install.cniServiceAccount, secrets: (account?.assessments ?? []).map((a) => ({ ...a, ...(facts.outcomes.get(a.key) ? { outcome: facts.outcomes.get(a.key) } : {}) })) }
      : null,
    nodes: { before: facts.nodesBefore, after: facts.nodesAfter },
    restart: facts.restart ?? null,
    nodeFilesWritten: facts.nodeFilesWritten,
    probes: facts.probes,
    warnings: ctx.warnings.lines,
  }
}

/**
 * The install as the report shows it: the CNI config template's text may
 * hold a literal token (the very problem this runbook fixes), so it is left
 * out; its findings and source say what was in it.
 */
function withoutConfigText(install: NonNullable<CalicoFacts['install']>): Omit<typeof install, 'cniConfig'> & { cniConfig: Omit<typeof install.cniConfig, 'text'> } {
  const { text: _text, ...cniConfig } = install.cniConfig
  return { ...install, cniConfig }
}

/** After node files were rewritten: what the ConfigMap will do to them at the next calico-node start. */
export function configMapNote(config: ConfigState | undefined): string {
  return config
    ? config.findings.some((f) => f.stale)
      ? `${config.source} still holds a stale literal token, so the next calico-node restart writes it back here: run fix-calico without --cni-conf-dir too`
      : config.findings.length > 0
        ? `${config.source} holds a literal token that is valid now, so the next calico-node restart writes that token here`
        : `${config.source} holds no literal token, so the next calico-node restart renders a fresh token of its own`
    : "the ConfigMap could not be checked offline: if it holds a literal token instead of __SERVICEACCOUNT_TOKEN__, the next restart writes that token back; run fix-calico without --cni-conf-dir from a machine with cluster access"
}

/** probe-nodes' verdict: every probe pod started, or which nodes reject the CNI token. */
export function probeVerdict(ctx: Pick<Ctx, 'kubectlArgs' | 'flags'>, probes: readonly ProbeResult[]): { ok: boolean; summary: string } {
  const bad = probes.filter((p) => p.outcome !== ProbeOutcome.ok)
  const unauthorized = bad.filter((p) => p.outcome === ProbeOutcome.unauthorized)
  return {
    ok: bad.length === 0,
    summary:
      bad.length === 0
        ? `a pod started on each of the ${probes.length} node(s)`
        : unauthorized.length > 0
          ? `${unauthorized.length} node(s) still reject the CNI token (${unauthorized.map((p) => p.node).join(', ')}: ${unauthorized[0]!.detail}); rerun with --restart, or with --cni-conf-dir on those nodes`
          : `${bad.length} node(s) could not start a probe pod (${bad[0]!.node}: ${bad[0]!.outcome}: ${bad[0]!.detail}); look at ${k(ctx, '-n', ctx.flags.probeNamespace, 'get', 'events', '--sort-by=.lastTimestamp')}`,
  }
}

/** regenerate-cni-tokens' check: the stale Secrets. */
export function checkRegenerate(ctx: Pick<Ctx, 'kube'>, basis: Basis, account: AccountPlan): Check<RegeneratePlan> {
  const { stale } = account
  const needed = stale.length > 0
  const summary = needed ? `${stale.length} token Secret(s) need a new token: ${stale.map(secretKey).join(', ')}` : noChangeSummary(ctx, basis, 'every token Secret of the CNI ServiceAccount holds a current token')
  return { needed, summary, plan: { ...basis, stale } }
}

/** fix-cni-config's check: stale literal tokens in the template; node-local mode only warns. */
export function checkConfigFix(ctx: Pick<Ctx, 'kube' | 'nodeLocal' | 'flags' | 'warnings'>, basis: Basis, { config }: ConfigPlan, account: AccountPlan): Check<ConfigFixPlan> {
  const stale = config?.findings.filter((f) => f.stale) ?? []
  const accountSecret = account.secrets[0]?.metadata?.name
  const plan = (fix: boolean): ConfigFixPlan => ({ ...basis, ...(config ? { config } : {}), stale, fix, ...(accountSecret ? { accountSecret } : {}) })
  if (stale.length === 0) return { needed: false, summary: noChangeSummary(ctx, basis, config ? 'the CNI config holds no stale token' : 'no CNI config to fix'), plan: plan(false) }
  const what = `${config?.source} holds ${stale.length} stale literal token(s) at ${stale.map((f) => f.path).join(', ')}`
  if (ctx.nodeLocal) {
    ctx.warnings.warn(`${what}: the next calico-node restart on any node writes it back, over the files fixed here; run fix-calico without --cni-conf-dir to fix the ConfigMap`)
    return { needed: false, summary: `node-local mode: ${what}, left as it is (see the warning)`, plan: plan(false) }
  }
  return { needed: true, summary: `${what}; it becomes ${ctx.flags.embedToken ? "the CNI ServiceAccount's current token (--embed-token)" : SERVICEACCOUNT_TOKEN_PLACEHOLDER}`, plan: plan(true) }
}

/** rewrite-node-files' check: node-local mode, and the node's files need the token. */
export function checkNodeRewrite(ctx: Pick<Ctx, 'kube' | 'nodeLocal' | 'flags' | 'givenToken'>, basis: Basis, { config }: ConfigPlan, { nodes }: NodesPlan): Check<NodeRewritePlan> {
  const report = nodes[0]
  const plan = (rewrite: boolean): NodeRewritePlan => ({ ...basis, ...(config ? { config } : {}), ...(report ? { report } : {}), rewrite })
  if (!ctx.nodeLocal) return { needed: false, summary: noChangeSummary(ctx, basis, "not node-local mode: calico-node's restart renders the nodes' files (run with --cni-conf-dir on a node to rewrite them there)"), plan: plan(false) }
  if (!report) return { needed: false, summary: 'no node files read', plan: plan(false) }
  const needed = nodeRewriteExpected(ctx.givenToken, report)
  return { needed, summary: needed ? `${ctx.flags.cniConfDir}: ${report.verdict}: ${report.reason}` : `${ctx.flags.cniConfDir}: ${report.verdict}: nothing to rewrite`, plan: plan(needed) }
}

/** verify-cni-tokens' verdict; a dry run reports what it found without failing. */
export function finalVerdict(ctx: Pick<Ctx, 'mode' | 'nodeLocal'>, after: FinalPlan): { ok: boolean; summary: string } {
  const problems = finalProblems(ctx, after)
  if (ctx.mode === Modes.plan && problems.length > 0) return { ok: true, summary: `dry run, so as found: ${problems.join('; ')}` }
  return { ok: problems.length === 0, summary: problems.length ? problems.join('; ') : finalSummary(after) }
}

/** A step's plan, or undefined when it was not checked in this run (left out, stopped before, or skipped for a missing prerequisite). */
export function planIfChecked<P>(found: Findings, step: Step<never, P, unknown>): P | undefined {
  return found.has(step) ? found.plan(step) : undefined
}

/** The steps whose plans and results the report reads (fix-calico's own). */
export interface ReportedSteps {
  readonly detectCalico: Step<never, DetectPlan>
  readonly checkCniConfig: Step<never, ConfigPlan>
  readonly checkCniAccount: Step<never, AccountPlan>
  readonly readNodeTokens: Step<never, NodesPlan>
  readonly regenerateCniTokens: Step<never, RegeneratePlan, { outcomes: ReadonlyMap<string, RegenerateOutcome> }>
  readonly fixCniConfig: Step<never, ConfigFixPlan, ConfigFixResult>
  readonly rewriteNodeFiles: Step<never, NodeRewritePlan, NodeRewriteResult>
  readonly restartCalicoNode: Step<never, unknown, RestartResult>
  readonly verifyCniTokens: Step<never, FinalPlan>
  readonly probeNodes: Step<never, unknown, ProbeRun>
}

/** What the run found and did, from the plans and results of the steps that ran: the report's facts (the latest reading of each). */
export function factsOf(found: Findings, steps: ReportedSteps): CalicoFacts {
  const after = planIfChecked(found, steps.verifyCniTokens)
  const config = after?.config ?? planIfChecked(found, steps.checkCniConfig)?.config
  const account = after?.account ?? planIfChecked(found, steps.checkCniAccount)
  const install = planIfChecked(found, steps.detectCalico)?.install
  const change = found.result(steps.fixCniConfig)?.change
  const restart = found.result(steps.restartCalicoNode)
  return {
    ...(install ? { install } : {}),
    ...(config ? { config } : {}),
    ...(change ? { configChange: change } : {}),
    ...(account ? { account } : {}),
    outcomes: found.result(steps.regenerateCniTokens)?.outcomes ?? new Map(),
    nodesBefore: planIfChecked(found, steps.readNodeTokens)?.nodes ?? [],
    nodesAfter: after?.nodes ?? [],
    ...(restart ? { restart } : {}),
    nodeFilesWritten: found.result(steps.rewriteNodeFiles)?.written ?? [],
    probes: found.result(steps.probeNodes)?.probes ?? [],
  }
}
