// The cluster and node side of fix-calico's steps: read the CNI config, the
// CNI ServiceAccount's Secrets and every node's files; choose and check the
// token to write; fix the ConfigMap; plan, start and wait for calico-node's
// restart; probe the nodes. Each step body takes the plans it builds on and
// the few services of the context it uses; judgement and wording are in
// lib/calico.
import { hostname } from 'node:os'
import type { V1ConfigMap } from '@kubernetes/client-node'
import { REGENERATED_AT_ANNOTATION } from '../annotations.ts'
import { assessCniToken } from '../calico/assess.ts'
import { CniConfigError, parseCniConfig, replaceLiteralTokens } from '../calico/cni-config.ts'
import { k } from '../calico/commands.ts'
import {
  clusterOf,
  need,
  noCalico,
  noChangeSummary,
  nodeBackupDir,
  NO_CALICO,
  warningsOn,
  type AccountPlan,
  type AccountState,
  type BackupPlan,
  type Basis,
  type CalicoBase,
  type Cluster,
  type ConfigFixPlan,
  type ConfigFixResult,
  type ConfigPlan,
  type ConfigState,
  type ConfigTokenFinding,
  type Ctx,
  type DetectPlan,
  type FinalPlan,
  type Flags,
  type KeysPlan,
  type NodeRewritePlan,
  type NodeRewriteResult,
  type NodesPlan,
  type ProbePlan,
  type ProbeRun,
  type RegeneratePlan,
  type RestartPlan,
  type RestartResult,
  type RestartStepPlan,
} from '../calico/context.ts'
import { cniMountOf, isReady, isTerminating, latestChange, restartReasons } from '../calico/daemonset.ts'
import { CALICO_NODE, detectCalico } from '../calico/detect.ts'
import { backupPlan, configMapNote as configMapNoteOf, describeBackup, describeFields, describeInstall, expectation, finalSummary, summarizeNodes, summarizeProbes, type BeforeChanges } from '../calico/findings.ts'
import { backUpNodeFiles, judgeNodeFiles, NodeVerdict, readCniConfDir, rewriteNodeFiles, unreadableNode, withoutFix, type NodeReport } from '../calico/node-dir.ts'
import { planNodeRewrite } from '../calico/node-files.ts'
import { SERVICEACCOUNT_TOKEN_PLACEHOLDER, TokenEncoding, TokenValueKind } from '../calico/token-value.ts'
import { mapLimit } from '../concurrency.ts'
import { kubectlCommand } from '../engine/kubectl.ts'
import { Modes, type Applied, type Check, type Mode, type Verified } from '../engine/types.ts'
import { DomainError } from '../errors.ts'
import { Strategy } from '../regenerate/apply.ts'
import { proveAll, regenerateStep, type Regenerated } from '../regenerate/kit.ts'
import { assessSecrets } from '../regenerate/assess.ts'
import { Verdict, summarizeAssessments } from '../regenerate/select.ts'
import { describeKeys, type KeySet, type VerificationKey } from '../token/keys.ts'
import { verifySignature } from '../token/signature.ts'
import { TokenStatus } from '../token/status.ts'
import { createTicker } from '../wait.ts'
import { RESTARTED_AT_ANNOTATION } from '../workloads/restarted-at.ts'
import {
  CNI_CONFIG_FIXED_AT_ANNOTATION,
  deleteLeftoverProbePods,
  kubeExec,
  listCalicoObjects,
  listDaemonSetPods,
  readConfigMap,
  readDaemonSet,
  probeNode,
  readNodeFilesByExec,
  replaceConfigMapKey,
  replacePodsOneByOne,
  templateRestartedAt,
} from './calico.ts'
import { withApiErrors } from './errors.ts'
import { rolloutRestart, waitForRollout } from './workloads.ts'
import { inspectToken } from './inspect-token.ts'
import { serverTime } from './raw.ts'
import { fetchJwks } from './token-checks.ts'
import { listServiceAccounts, listTokenSecrets, SA_NAME_ANNOTATION, secretKey, serviceAccountIndex, tokenOf } from './token-secrets.ts'

/** The services that judge a token: the clock, the redactor (every token read is registered), the warnings. */
type Judging = Pick<Ctx, 'now' | 'redactor' | 'warnings'>

export async function readConfigState(ctx: Judging, { install, kube }: Cluster, keys: readonly VerificationKey[]): Promise<ConfigState> {
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
    ctx.warnings.warn(err.message)
    return { ...base, summary: `${source} is not a readable CNI config (see the warning)`, findings: [] }
  }
  const findings: ConfigTokenFinding[] = []
  for (const field of fields) {
    if (field.kind !== TokenValueKind.literal) continue
    ctx.redactor.register(field.token)
    const inspection = await inspectToken(`${source} ${field.path}`, field.token, { keys, kube, now: ctx.now() })
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

export async function assessAccount(ctx: Judging, { install, kube }: Cluster, keys: readonly VerificationKey[]): Promise<AccountState> {
  const scope = { all: false as const, namespace: install.namespace }
  const [all, accounts] = await Promise.all([listTokenSecrets(kube, scope), listServiceAccounts(kube, scope)])
  const index = serviceAccountIndex(accounts)
  const secrets = all.filter((s) => s.metadata?.annotations?.[SA_NAME_ANNOTATION] === install.cniServiceAccount)
  if (!index.has(`${install.namespace}/${install.cniServiceAccount}`)) {
    ctx.warnings.warn(`ServiceAccount ${install.namespace}/${install.cniServiceAccount}, which the CNI plugin authenticates as, does not exist; apply the Calico manifest of this version again to restore it`)
  }
  const assessments = await assessSecrets(secrets, { keys, accounts: index, allTokens: false, now: ctx.now(), register: (t) => ctx.redactor.register(t), parallel: 8 })
  const needsWork = new Set(assessments.filter((a) => a.verdict === Verdict.stale || a.verdict === Verdict.empty).map((a) => a.key))
  return { secrets, assessments, stale: secrets.filter((s) => needsWork.has(secretKey(s))) }
}

/** Every node's token: this node's files in node-local mode, else each calico-node pod's (by exec). */
export async function readNodes(ctx: Judging & Pick<Ctx, 'nodeLocal' | 'flags' | 'kube' | 'exec' | 'givenToken'>, basis: Basis): Promise<NodeReport[]> {
  const judge = {
    expectation: expectation(basis.install, ctx.givenToken),
    fix: ctx.nodeLocal ? 'rewrite the files with fix-calico --cni-conf-dir … --yes' : 'restart calico-node so install-cni renders the files again (fix-calico --restart)',
    now: ctx.now(),
    inspect: (source: string, token: string) => {
      ctx.redactor.register(token)
      return inspectToken(source, token, { keys: basis.keys, ...(ctx.kube ? { kube: ctx.kube } : {}), now: ctx.now() })
    },
  }
  if (ctx.nodeLocal) {
    const dir = need(ctx.flags.cniConfDir)
    return [await judgeNodeFiles(hostname(), dir, await readCniConfDir(dir), judge)]
  }
  if (!basis.install || !ctx.kube || !ctx.exec) return []
  const { install } = basis
  const { kube, exec } = ctx
  const ds = basis.daemonSet ?? (await withApiErrors(kube.kc, () => readDaemonSet(kube, install.namespace, install.daemonSet)))
  const pods = (await withApiErrors(kube.kc, () => listDaemonSetPods(kube, ds))).filter((p) => !isTerminating(p)).sort((a, b) => (a.spec?.nodeName ?? '').localeCompare(b.spec?.nodeName ?? ''))
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

/** The token to write on the node: --token-file, else the CNI ServiceAccount's current legacy token. Checked before use. */
export async function freshNodeToken(ctx: Pick<Ctx, 'now' | 'redactor' | 'kube' | 'givenToken' | 'flags'>, basis: Basis): Promise<{ token: string; source: string }> {
  const candidate = ctx.givenToken ? { token: ctx.givenToken, source: `--token-file ${ctx.flags.tokenFile}` } : await accountToken(ctx, basis)
  const problem = await tokenProblem(ctx, basis, candidate.token)
  if (problem) {
    const expected = expectation(basis.install, ctx.givenToken)
    const fix = ctx.givenToken
      ? `get a current one, e.g. ${kubectlCommand('-n', expected.namespace, 'create', 'token', expected.serviceAccounts?.[0] ?? CALICO_NODE)} on a machine with cluster access`
      : 'run regenerate-tokens for it, then rerun'
    throw new DomainError(`the token from ${candidate.source} ${problem}: nothing was written; ${fix}`)
  }
  return candidate
}

/** Why a token is not fit to hand to the CNI plugin, or undefined. */
export async function tokenProblem(ctx: Pick<Ctx, 'now' | 'givenToken'>, basis: Basis, token: string): Promise<string | undefined> {
  const assessed = assessCniToken(token, expectation(basis.install, ctx.givenToken), ctx.now())
  if (!assessed.subjectMatches) return `belongs to ${assessed.description.subject ?? 'no subject'}, not to ${assessed.expectedSubjects.join(' or ')}`
  if (assessed.expired) return `expired at ${assessed.expiresAt}`
  if (basis.keys.length === 0) return undefined
  const signature = await verifySignature(assessed.decoded, basis.keys)
  return signature.result === 'verified' ? undefined : `is not signed by a current key (${signature.result}${'kid' in signature && signature.kid ? ` ${signature.kid}` : ''})`
}

/** The current token of the CNI ServiceAccount's legacy Secret (preferring `preferred`), read live. */
export async function accountToken(ctx: Pick<Ctx, 'now' | 'redactor' | 'kube' | 'givenToken'>, basis: Basis, preferred?: string): Promise<{ token: string; source: string }> {
  const { install, kube } = need(clusterOf(ctx, basis))
  const secrets = (await listTokenSecrets(kube, { all: false, namespace: install.namespace }))
    .filter((s) => s.metadata?.annotations?.[SA_NAME_ANNOTATION] === install.cniServiceAccount && tokenOf(s))
    .sort((a, b) => (a.metadata?.name === preferred ? -1 : b.metadata?.name === preferred ? 1 : (a.metadata?.name ?? '').localeCompare(b.metadata?.name ?? '')))
  for (const secret of secrets) {
    const token = tokenOf(secret) ?? ''
    ctx.redactor.register(token)
    if ((await tokenProblem(ctx, basis, token)) === undefined) return { token, source: `Secret ${secretKey(secret)}` }
  }
  throw new DomainError(
    `ServiceAccount ${install.namespace}/${install.cniServiceAccount} has no legacy token Secret with a current token${secrets.length ? ` (${secrets.map(secretKey).join(', ')} hold stale ones; run regenerate-tokens -n ${install.namespace} --service-account ${install.cniServiceAccount})` : ''}; ` +
      `create one with ${kubectlCommand('-n', install.namespace, 'apply', '-f', '-')} <<< '{"apiVersion":"v1","kind":"Secret","type":"kubernetes.io/service-account-token","metadata":{"name":"${install.cniServiceAccount}-token","annotations":{"kubernetes.io/service-account.name":"${install.cniServiceAccount}"}}}', or pass --token-file`,
  )
}

export async function rewriteNode(ctx: Ctx, plan: NodeRewritePlan): Promise<Applied<NodeRewriteResult>> {
  const dir = need(ctx.flags.cniConfDir)
  const { token, source } = await freshNodeToken(ctx, plan)
  const files = await readCniConfDir(dir)
  const writes = planNodeRewrite(files, token, { node: hostname() })
  if (writes.length === 0) return { summary: `${dir} already holds the token from ${source}` }
  const written = await rewriteNodeFiles(dir, writes, nodeBackupDir(ctx))
  ctx.warnings.warn(`install-cni rewrites ${written.map((w) => w.name).join(' and ')} from the CNI config ConfigMap whenever calico-node starts on this node (the ConfigMap wins): ${configMapNoteOf(plan.config)}`)
  return {
    summary: `wrote the token from ${source} into ${written.map((w) => w.path).join(', ')} (originals in ${nodeBackupDir(ctx)})`,
    result: { written: written.map((w) => w.path) },
  }
}

export async function fixConfig(ctx: Ctx, plan: ConfigFixPlan): Promise<Applied<ConfigFixResult>> {
  const cluster = need(clusterOf(ctx, plan))
  const { install, kube } = cluster
  const state = await readConfigState(ctx, cluster, plan.keys)
  if (!state.configMap || !state.key) {
    throw new DomainError(
      `${state.source} holds the stale token and is set on the DaemonSet itself, which fix-calico does not edit; replace it by hand (${k(ctx, '-n', install.namespace, 'edit', 'daemonset', install.daemonSet)}), then rerun`,
    )
  }
  const stale = state.findings.filter((f) => f.stale)
  if (stale.length === 0) return { summary: `${state.source} holds no stale token any more` }
  let replacement = SERVICEACCOUNT_TOKEN_PLACEHOLDER
  let what = SERVICEACCOUNT_TOKEN_PLACEHOLDER
  if (ctx.flags.embedToken) {
    const fresh = await accountToken(ctx, plan, stale.find((f) => f.secretName)?.secretName)
    replacement = fresh.token
    what = `the current token of ${fresh.source}`
  }
  const text = state.configMap.data?.[state.key] ?? ''
  const newText = replaceLiteralTokens(text, replacement, state.source)
  await ctx.backup.save('ConfigMap', state.configMap)
  const outcome = await replaceConfigMapKey(kube, state.configMap, state.key, newText, await serverTime(kube.kc, ctx.now))
  if (outcome === 'already-changed') throw new DomainError(`${state.source} changed while fix-calico read it; rerun to check it again`)
  const change = `${stale.map((f) => f.path).join(', ')} → ${what}`
  return { summary: `${state.source}: ${change}`, result: { change } }
}

/**
 * The changes earlier steps will make but have not made yet: a dry run, or
 * the look before leaping without a terminal, checks every step before any
 * apply, so the restart they cause is predicted from their plans.
 */
export function pendingChanges(mode: Mode, regenerate: RegeneratePlan | undefined, configFix: ConfigFixPlan | undefined): string[] {
  if (mode !== Modes.plan && mode !== Modes.noTerminal) return []
  return [...(regenerate && regenerate.stale.length > 0 ? ['regenerate-cni-tokens'] : []), ...(configFix?.fix ? ['fix-cni-config'] : [])]
}

/** When and why calico-node needs a restart, from live state. */
export async function planRestart(ctx: Pick<Ctx, 'now' | 'flags'>, { install, kube }: Cluster, nodesBefore: readonly NodeReport[], pending: readonly string[]): Promise<RestartPlan> {
  const ds = await readDaemonSet(kube, install.namespace, install.daemonSet)
  const pods = (await listDaemonSetPods(kube, ds)).filter((p) => !isTerminating(p))
  const configMap = install.cniConfig.configMap ? await readConfigMap(kube, install.namespace, install.cniConfig.configMap.name) : undefined
  const secrets = (await listTokenSecrets(kube, { all: false, namespace: install.namespace })).filter((s) => s.metadata?.annotations?.[SA_NAME_ANNOTATION] === install.cniServiceAccount)
  const changes = [configMap?.metadata?.annotations?.[CNI_CONFIG_FIXED_AT_ANNOTATION], ...secrets.map((s) => s.metadata?.annotations?.[REGENERATED_AT_ANNOTATION])]
  const since = latestChange(changes)
  const staleNodes = nodesBefore.filter((n) => n.verdict === NodeVerdict.stale || n.verdict === NodeVerdict.missing).map((n) => n.node)
  const reasons = restartReasons({ pods, ...(since ? { since } : {}), staleNodes, pending: [...pending], forced: ctx.flags.restart })
  // Old pods are the only reason: any restart since the change will do (a rerun resumes it).
  // Stale nodes or --restart: a restart from now on.
  const onlyOldPods = since !== undefined && staleNodes.length === 0 && pending.length === 0 && !ctx.flags.restart
  return { ds, pods, since: onlyOldPods ? since : await serverTime(kube.kc, ctx.now), reasons }
}

export async function restartCalicoNode(ctx: Ctx, plan: RestartStepPlan): Promise<Applied<RestartResult>> {
  const kube = need(ctx.kube)
  const { install } = plan
  await ctx.backup.save('DaemonSet', plan.ds)
  // A restart at or after `since` is already under way (a rerun after a crash): wait for it instead of starting another.
  const current = templateRestartedAt(plan.ds)
  const resume = current !== undefined && Date.parse(current) >= Math.floor(plan.since.getTime() / 1000) * 1000
  const workload = { kind: 'DaemonSet', namespace: install.namespace, name: install.daemonSet } as const
  const restartedAt = resume ? current : await rolloutRestart(kube, workload, await serverTime(kube.kc, ctx.now))
  // Pods the restart made carry its restartedAt (the template's annotations are copied to them); all others go.
  const oldPods = plan.pods.filter((p) => p.metadata?.annotations?.[RESTARTED_AT_ANNOTATION] !== restartedAt)
  const wait = {
    workload,
    restartedAt,
    oldUids: oldPods.map((p) => p.metadata?.uid ?? ''),
    timeoutMs: ctx.flags.timeout * 1000,
    output: ctx.output,
    kubectlArgs: ctx.kubectlArgs,
  }
  // The rollout stack restart-dependent-pods uses; OnDelete replaces nothing on a template change, so pod by pod.
  const done = plan.ds.spec?.updateStrategy?.type === 'OnDelete' ? await replacePodsOneByOne(kube, { ...wait, oldPods }) : await waitForRollout(kube, wait)
  return {
    summary: `${resume ? 'waited for the restart already under way' : 'restarted'} ds/${install.daemonSet} (restartedAt ${restartedAt}): ${done.detail}`,
    result: { restartedAt, oldPods: wait.oldUids, newPods: done.pods.map((p) => ({ name: p.name, node: p.node, uid: p.uid })), detail: done.detail },
  }
}

export async function probeTargets({ install, kube }: Cluster): Promise<string[]> {
  const ds = await withApiErrors(kube.kc, () => readDaemonSet(kube, install.namespace, install.daemonSet))
  const pods = await withApiErrors(kube.kc, () => listDaemonSetPods(kube, ds))
  return [...new Set(pods.filter((p) => !isTerminating(p)).map((p) => p.spec?.nodeName ?? '').filter(Boolean))].sort()
}

/** This runbook's context on top of a session (or offline base): run alone, or by rotate-tokens. */
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
    warnings: warningsOn(base.output),
    ...(base.kube ? { kube: base.kube, exec: kubeExec(base.kube), clusterJwks: base.clusterJwks ?? (() => fetchJwks(base.kube!)) } : {}),
    ...(opts.givenToken ? { givenToken: opts.givenToken } : {}),
  }
}

// ---------------------------------------------------------------------------
// Step bodies: each takes the plans it builds on and returns what the engine prints

/** detect-calico: finds the install (or none) and warns about what it cannot fix. */
export async function detectInstall(ctx: Ctx): Promise<Check<DetectPlan>> {
  if (!ctx.kube) return { needed: false, summary: `offline: the cluster is not contacted; working on ${ctx.flags.cniConfDir} alone`, plan: {} }
  const kube = ctx.kube
  const objects = await withApiErrors(kube.kc, () => listCalicoObjects(kube))
  const install = detectCalico(objects)
  if (!install) return { needed: false, summary: `${NO_CALICO}: no DaemonSet calico-node in kube-system or calico-system, so there is nothing to fix`, plan: {} }
  const daemonSet = objects.daemonSets.find((ds) => ds.metadata?.namespace === install.namespace && ds.metadata.name === install.daemonSet)
  // check-cni-config judges literal tokens itself (stale ones get fixed, so a blanket warning would outlive the fix).
  for (const warning of install.warnings.filter((w) => !w.includes(`instead of ${SERVICEACCOUNT_TOKEN_PLACEHOLDER}`))) ctx.warnings.warn(warning)
  return { needed: false, summary: describeInstall(install), details: { install }, plan: { install, ...(daemonSet ? { daemonSet } : {}) } }
}

/** load-keys: --key-file, else the cluster's /openid/v1/jwks (through `load`, lib/cli/keys.ts); none offline without --key-file. */
export async function loadKeys(ctx: Ctx, detected: DetectPlan, load: (keyFiles: readonly string[], clusterJwks: (() => Promise<unknown>) | undefined) => Promise<KeySet | undefined>): Promise<Check<KeysPlan>> {
  if (noCalico(ctx, detected)) return { needed: false, summary: NO_CALICO, plan: { keys: [] } }
  const kube = ctx.kube
  const jwks = ctx.clusterJwks
  const set = await load(ctx.flags.keyFile, kube && jwks && (() => withApiErrors(kube.kc, jwks)))
  if (!set) return { needed: false, summary: "no keys: offline without --key-file, so signatures cannot be checked (pass the cluster's sa.pub or a saved /openid/v1/jwks)", plan: { keys: [] } }
  return { needed: false, summary: describeKeys(set), details: { kids: set.keys.map((key) => key.kid) }, plan: { keys: set.keys, source: set.source } }
}

/** check-cni-config: reads and judges the template; a valid literal token is a warning, a stale one a finding. */
export async function checkConfig(ctx: Ctx, basis: Basis): Promise<Check<ConfigPlan>> {
  const cluster = clusterOf(ctx, basis)
  if (!cluster) return { needed: false, summary: ctx.kube ? NO_CALICO : 'offline: the ConfigMap cannot be checked', plan: {} }
  const config = await withApiErrors(cluster.kube.kc, () => readConfigState(ctx, cluster, basis.keys))
  for (const finding of config.findings.filter((f) => !f.stale)) {
    ctx.warnings.warn(
      `${config.source} holds a literal token at ${finding.path} (${finding.fingerprint ?? 'no fingerprint'}): valid now, but every calico-node restart copies it to the nodes, and it goes stale at the next key rotation; ` +
        `put ${SERVICEACCOUNT_TOKEN_PLACEHOLDER} back unless this install needs the token embedded`,
    )
  }
  return { needed: false, summary: config.summary, details: { findings: config.findings }, plan: { install: cluster.install, config } }
}

/** check-cni-account: the CNI ServiceAccount's legacy token Secrets, assessed. */
export async function checkAccount(ctx: Ctx, basis: Basis): Promise<Check<AccountPlan>> {
  const cluster = clusterOf(ctx, basis)
  if (!cluster) return { needed: false, summary: ctx.kube ? NO_CALICO : 'offline: the ServiceAccount cannot be checked', plan: { secrets: [], assessments: [], stale: [] } }
  const account = await withApiErrors(cluster.kube.kc, () => assessAccount(ctx, cluster, basis.keys))
  const who = `ServiceAccount ${cluster.install.namespace}/${cluster.install.cniServiceAccount}`
  const summary = account.secrets.length === 0 ? `${who} has no legacy token Secret (usual since Kubernetes 1.24: its pods get bound tokens)` : `${who}: ${summarizeAssessments(account.assessments)}`
  return { needed: false, summary, details: { assessments: account.assessments }, plan: { install: cluster.install, ...account } }
}

/** read-node-tokens: every node's token before any change. */
export async function readNodesBefore(ctx: Ctx, basis: Basis): Promise<Check<NodesPlan>> {
  const where = { ...(basis.install ? { install: basis.install } : {}), ...(basis.daemonSet ? { daemonSet: basis.daemonSet } : {}) }
  if (noCalico(ctx, basis)) return { needed: false, summary: NO_CALICO, plan: { ...where, nodes: [] } }
  const nodes = await readNodes(ctx, basis)
  return { needed: false, summary: summarizeNodes(nodes), details: { nodes }, plan: { ...where, nodes } }
}

/** verify-cni-tokens: the config, the Secrets and every node's token, read again. */
export async function readEverythingAgain(ctx: Ctx, basis: Basis): Promise<Check<FinalPlan>> {
  const where = { ...(basis.install ? { install: basis.install } : {}), ...(basis.daemonSet ? { daemonSet: basis.daemonSet } : {}) }
  if (noCalico(ctx, basis)) return { needed: false, summary: NO_CALICO, plan: { ...where, nodes: [] } }
  const cluster = clusterOf(ctx, basis)
  const config = cluster && (await withApiErrors(cluster.kube.kc, () => readConfigState(ctx, cluster, basis.keys)))
  const account = cluster && (await withApiErrors(cluster.kube.kc, () => assessAccount(ctx, cluster, basis.keys)))
  const after: FinalPlan = { ...where, ...(config ? { config } : {}), ...(account ? { account } : {}), nodes: await readNodes(ctx, basis) }
  return { needed: false, summary: finalSummary(after), plan: after }
}

/** back-up: the objects the changes will touch, and those the backup directory does not hold yet. */
export async function checkBackup(ctx: Ctx, detected: DetectPlan, before: BeforeChanges): Promise<Check<BackupPlan>> {
  const plan: BackupPlan = { ...(detected.install ? { install: detected.install } : {}), ...backupPlan(ctx, before) }
  const missing = await missingFromBackup(ctx, plan)
  const needed = missing.length + plan.nodeFiles.length > 0
  return { needed, summary: needed ? `${describeBackup(missing.map((m) => m.kind), plan.nodeFiles)} to back up to ${ctx.backup.dir}` : 'nothing will change, so nothing to back up', plan }
}

async function missingFromBackup(ctx: Pick<Ctx, 'backup'>, plan: BackupPlan): Promise<BackupPlan['objects']> {
  const saved = new Set((await ctx.backup.objects()).map((o) => `${o.kind}/${o.namespace}/${o.name}`))
  return plan.objects.filter(({ kind, object }) => !saved.has(`${kind}/${object.metadata?.namespace}/${object.metadata?.name}`))
}

export async function backUp(ctx: Ctx, plan: BackupPlan): Promise<Applied> {
  for (const { kind, object } of plan.objects) await ctx.backup.save(kind, object)
  if (plan.nodeFiles.length > 0) await backUpNodeFiles(need(ctx.flags.cniConfDir), [...plan.nodeFiles], nodeBackupDir(ctx))
  return { summary: `backed up ${describeBackup(plan.objects.map((o) => o.kind), plan.nodeFiles)} to ${ctx.backup.dir}` }
}

export async function verifyBackup(ctx: Ctx, plan: BackupPlan): Promise<Verified> {
  const missing = await missingFromBackup(ctx, plan)
  return { ok: missing.length === 0, summary: missing.length ? `${missing.length} object(s) missing from the backup` : `backup complete: ${ctx.backup.dir}` }
}

/** regenerate-cni-tokens: the shared regenerate-and-prove kit (lib/regenerate/kit.ts), in place, in Calico's namespace. */
export async function regenerateStale(ctx: Ctx, plan: RegeneratePlan): Promise<Applied<Regenerated>> {
  return regenerateStep(need(ctx.kube), plan.stale, { ...ctx, strategy: Strategy.inPlace, maxParallel: ctx.flags.maxParallel, timeoutSeconds: ctx.flags.timeout })
}

export async function verifyRegenerated(ctx: Ctx, plan: RegeneratePlan, done: Regenerated | undefined): Promise<Verified> {
  const problems = await proveAll(need(ctx.kube), plan.keys, plan.stale, need(done), ctx.flags.maxParallel)
  return {
    ok: problems.length === 0,
    summary: problems.length ? `${problems.length} new token(s) failed the check: ${problems[0]}` : 'every new token is signed by a current key and authenticates (TokenReview); the old ones are rejected',
  }
}

/** fix-cni-config's apply and verify. */
export async function fixConfigStep(ctx: Ctx, plan: ConfigFixPlan): Promise<Applied<ConfigFixResult>> {
  return withApiErrors(ctx.kube?.kc, () => fixConfig(ctx, plan))
}

export async function verifyConfig(ctx: Ctx, plan: ConfigFixPlan): Promise<Verified> {
  const state = await withApiErrors(ctx.kube?.kc, () => readConfigState(ctx, need(clusterOf(ctx, plan)), plan.keys))
  const stale = state.findings.filter((f) => f.stale)
  return { ok: stale.length === 0, summary: stale.length ? `${state.source} still holds a stale token at ${stale[0]!.path}: ${stale[0]!.reason}` : `no stale token left (${state.summary})` }
}

/** rewrite-node-files' verify: the node's files read back. */
export async function verifyNodeRewrite(ctx: Ctx, plan: NodeRewritePlan): Promise<Verified> {
  const [report] = await readNodes(ctx, plan)
  const ok = report !== undefined && (report.verdict === NodeVerdict.current || (report.verdict === NodeVerdict.unverified && plan.keys.length === 0))
  return { ok, summary: report ? `${report.verdict}: ${report.reason}` : 'nothing read back' }
}

/** restart-calico-node's check: what the nodes showed and the changes still to come decide (no plan offline, without Calico, or node-local). */
export async function checkRestart(ctx: Ctx, basis: Basis, before: NodesPlan, pending: readonly string[]): Promise<Check<RestartStepPlan | undefined>> {
  const cluster = clusterOf(ctx, basis)
  if (!cluster) return { needed: false, summary: noChangeSummary(ctx, basis, 'no calico-node to restart') }
  if (ctx.nodeLocal) return { needed: false, summary: "node-local mode: calico-node is not restarted (that would render this node's files from the ConfigMap again)" }
  const restart = await withApiErrors(cluster.kube.kc, () => planRestart(ctx, cluster, before.nodes, pending))
  const fresh = `all ${restart.pods.length} calico-node pod(s) started after the CNI token last changed, and no node shows a stale token`
  return { needed: restart.reasons.length > 0, summary: restart.reasons.length > 0 ? restart.reasons.join('; ') : fresh, plan: { ...restart, install: cluster.install } }
}

export async function restartStep(ctx: Ctx, plan: RestartStepPlan | undefined): Promise<Applied<RestartResult>> {
  return withApiErrors(ctx.kube?.kc, () => restartCalicoNode(ctx, need(plan)))
}

export async function verifyRestart(ctx: Ctx, plan: RestartStepPlan | undefined, result: RestartResult | undefined): Promise<Verified> {
  const kube = need(ctx.kube)
  const { install } = need(plan)
  const restart = need(result)
  const ds = await withApiErrors(kube.kc, () => readDaemonSet(kube, install.namespace, install.daemonSet))
  const pods = (await withApiErrors(kube.kc, () => listDaemonSetPods(kube, ds))).filter((p) => !isTerminating(p))
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
}

/** probe-nodes' check: the nodes that run calico-node, when --probe asks. */
export async function checkProbes(ctx: Ctx, detected: DetectPlan): Promise<Check<ProbePlan>> {
  const cluster = clusterOf(ctx, detected)
  if (!ctx.flags.probe) return { needed: false, summary: 'not asked (--probe creates and deletes a pod on each node)', plan: { nodes: [] } }
  if (!cluster) return { needed: false, summary: noChangeSummary(ctx, detected, 'no calico-node nodes to probe'), plan: { nodes: [] } }
  const nodes = await probeTargets(cluster)
  return { needed: nodes.length > 0, summary: `${nodes.length} node(s) to probe in namespace ${ctx.flags.probeNamespace}: ${nodes.join(', ')}`, plan: { install: cluster.install, nodes } }
}

/** probe-nodes: a probe pod on each calico-node node (read again), leftovers of an earlier run deleted first. */
export async function probeNodes(ctx: Ctx, plan: ProbePlan): Promise<Applied<ProbeRun>> {
  const cluster = need(clusterOf(ctx, plan))
  const { kube } = cluster
  const nodes = await probeTargets(cluster)
  const leftovers = await withApiErrors(kube.kc, () => deleteLeftoverProbePods(kube, ctx.flags.probeNamespace))
  if (leftovers > 0) ctx.output.info(`  deleted ${leftovers} probe pod(s) an earlier run left behind`)
  const ticker = createTicker({ output: ctx.output, what: 'probe pods', timeoutMs: ctx.flags.timeout * 1000 })
  let done = 0
  try {
    const probes = await mapLimit(nodes, ctx.flags.maxParallel, async (node) => {
      const result = await withApiErrors(kube.kc, () => probeNode(kube, { namespace: ctx.flags.probeNamespace, node, image: ctx.flags.probeImage, timeoutMs: ctx.flags.timeout * 1000 }))
      ticker.update({ ready: ++done, total: nodes.length })
      return result
    })
    return { summary: summarizeProbes(probes), result: { probes }, details: { probes } }
  } finally {
    ticker.done()
  }
}
