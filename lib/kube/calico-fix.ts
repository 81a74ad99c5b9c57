// The cluster and node side of fix-calico's steps: read the CNI config, the
// CNI ServiceAccount's Secrets and every node's files; choose and check the
// token to write; fix the ConfigMap; plan, start and wait for calico-node's
// restart; probe the nodes. Judgement and wording are in lib/calico.
import { hostname } from 'node:os'
import type { V1ConfigMap } from '@kubernetes/client-node'
import { REGENERATED_AT_ANNOTATION } from '../annotations.ts'
import { assessCniToken } from '../calico/assess.ts'
import { CniConfigError, parseCniConfig, replaceLiteralTokens } from '../calico/cni-config.ts'
import { k } from '../calico/commands.ts'
import { NO_CALICO, need, noCalico, noChangeSummary, nodeBackupDir, warn, type CalicoBase, type ConfigState, type ConfigTokenFinding, type Ctx, type Flags, type RestartPlan } from '../calico/context.ts'
import { cniMountOf, isReady, isTerminating, latestChange, restartReasons } from '../calico/daemonset.ts'
import { CALICO_NODE, detectCalico } from '../calico/detect.ts'
import { backupPlan, configMapNote as configMapNoteOf, describeBackup, describeFields, describeInstall, expectation, finalSummary, summarizeNodes, summarizeProbes } from '../calico/findings.ts'
import { backUpNodeFiles, judgeNodeFiles, NodeVerdict, readCniConfDir, rewriteNodeFiles, unreadableNode, withoutFix, type NodeReport } from '../calico/node-dir.ts'
import { planNodeRewrite } from '../calico/node-files.ts'
import { SERVICEACCOUNT_TOKEN_PLACEHOLDER, TokenEncoding, TokenValueKind } from '../calico/token-value.ts'
import { mapLimit } from '../concurrency.ts'
import { kubectlCommand } from '../engine/kubectl.ts'
import { Modes, type Applied, type Check, type Mode, type Verified } from '../engine/types.ts'
import { DomainError } from '../errors.ts'
import { Strategy } from '../regenerate/apply.ts'
import { proveAll, regenerateAndWait } from '../regenerate/kit.ts'
import { assessSecrets } from '../regenerate/assess.ts'
import { Verdict, summarizeAssessments } from '../regenerate/select.ts'
import { describeKeys, type KeySet } from '../token/keys.ts'
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
  restartDaemonSet,
  templateRestartedAt,
  waitForDaemonSetRollout,
} from './calico.ts'
import { withApiErrors } from './errors.ts'
import { inspectToken } from './inspect-token.ts'
import { serverTime } from './raw.ts'
import { fetchJwks } from './token-checks.ts'
import { listServiceAccounts, listTokenSecrets, SA_NAME_ANNOTATION, secretKey, serviceAccountIndex, tokenOf } from './token-secrets.ts'

export async function readConfigState(ctx: Ctx): Promise<ConfigState> {
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

export async function assessAccount(ctx: Ctx): Promise<void> {
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

export async function readNodes(ctx: Ctx): Promise<NodeReport[]> {
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
  const ds = ctx.daemonSet ?? (await withApiErrors(ctx.kube?.kc, () => readDaemonSet(kube, install.namespace, install.daemonSet)))
  const pods = (await withApiErrors(ctx.kube?.kc, () => listDaemonSetPods(kube, ds))).filter((p) => !isTerminating(p)).sort((a, b) => (a.spec?.nodeName ?? '').localeCompare(b.spec?.nodeName ?? ''))
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
export async function freshNodeToken(ctx: Ctx): Promise<{ token: string; source: string }> {
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
export async function tokenProblem(ctx: Ctx, token: string): Promise<string | undefined> {
  const assessed = assessCniToken(token, expectation(ctx), ctx.now())
  if (!assessed.subjectMatches) return `belongs to ${assessed.description.subject ?? 'no subject'}, not to ${assessed.expectedSubjects.join(' or ')}`
  if (assessed.expired) return `expired at ${assessed.expiresAt}`
  if (ctx.keys.length === 0) return undefined
  const signature = await verifySignature(assessed.decoded, ctx.keys)
  return signature.result === 'verified' ? undefined : `is not signed by a current key (${signature.result}${'kid' in signature && signature.kid ? ` ${signature.kid}` : ''})`
}

/** The current token of the CNI ServiceAccount's legacy Secret (preferring `preferred`), read live. */
export async function accountToken(ctx: Ctx, preferred?: string): Promise<{ token: string; source: string }> {
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

export async function rewriteNode(ctx: Ctx): Promise<string> {
  const dir = need(ctx.flags.cniConfDir)
  const { token, source } = await freshNodeToken(ctx)
  const files = await readCniConfDir(dir)
  const writes = planNodeRewrite(files, token, { node: hostname() })
  if (writes.length === 0) return `${dir} already holds the token from ${source}`
  const written = await rewriteNodeFiles(dir, writes, nodeBackupDir(ctx))
  ctx.nodeFilesWritten = written.map((w) => w.path)
  const configMapNote = configMapNoteOf(ctx.config)
  warn(ctx, `install-cni rewrites ${written.map((w) => w.name).join(' and ')} from the CNI config ConfigMap whenever calico-node starts on this node (the ConfigMap wins): ${configMapNote}`)
  return `wrote the token from ${source} into ${written.map((w) => w.path).join(', ')} (originals in ${nodeBackupDir(ctx)})`
}

export async function fixConfig(ctx: Ctx): Promise<string> {
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
export async function planRestart(ctx: Ctx): Promise<RestartPlan> {
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

export async function restartCalicoNode(ctx: Ctx): Promise<{ summary: string }> {
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

export async function probeTargets(ctx: Ctx): Promise<string[]> {
  const install = need(ctx.install)
  const kube = need(ctx.kube)
  const ds = await withApiErrors(ctx.kube?.kc, () => readDaemonSet(kube, install.namespace, install.daemonSet))
  const pods = await withApiErrors(ctx.kube?.kc, () => listDaemonSetPods(kube, ds))
  return [...new Set(pods.filter((p) => !isTerminating(p)).map((p) => p.spec?.nodeName ?? '').filter(Boolean))].sort()
}


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

// ---------------------------------------------------------------------------
// Step bodies: each returns what the engine prints

/** detect-calico: finds the install (or none) and warns about what it cannot fix. */
export async function detectInstall(ctx: Ctx): Promise<Check> {
  if (!ctx.kube) return { needed: false, summary: `offline: the cluster is not contacted; working on ${ctx.flags.cniConfDir} alone` }
  const kube = ctx.kube
  const objects = await withApiErrors(kube.kc, () => listCalicoObjects(kube))
  ctx.install = detectCalico(objects)
  if (!ctx.install) return { needed: false, summary: `${NO_CALICO}: no DaemonSet calico-node in kube-system or calico-system, so there is nothing to fix` }
  const install = ctx.install
  ctx.daemonSet = objects.daemonSets.find((ds) => ds.metadata?.namespace === install.namespace && ds.metadata.name === install.daemonSet)
  // check-cni-config judges literal tokens itself (stale ones get fixed, so a blanket warning would outlive the fix).
  for (const warning of install.warnings.filter((w) => !w.includes(`instead of ${SERVICEACCOUNT_TOKEN_PLACEHOLDER}`))) warn(ctx, warning)
  return { needed: false, summary: describeInstall(install), details: { install } }
}

/** check-cni-config: reads and judges the template; a valid literal token is a warning, a stale one a finding. */
export async function checkConfig(ctx: Ctx): Promise<Check> {
  if (!ctx.install || !ctx.kube) return { needed: false, summary: ctx.kube ? NO_CALICO : 'offline: the ConfigMap cannot be checked' }
  const config = await withApiErrors(ctx.kube?.kc, () => readConfigState(ctx))
  ctx.config = config
  for (const finding of config.findings.filter((f) => !f.stale)) {
    warn(
      ctx,
      `${config.source} holds a literal token at ${finding.path} (${finding.fingerprint ?? 'no fingerprint'}): valid now, but every calico-node restart copies it to the nodes, and it goes stale at the next key rotation; ` +
        `put ${SERVICEACCOUNT_TOKEN_PLACEHOLDER} back unless this install needs the token embedded`,
    )
  }
  return { needed: false, summary: config.summary, details: { findings: config.findings } }
}

/** back-up: the objects of the backup plan the backup directory does not hold yet. */
export async function missingFromBackup(ctx: Ctx): Promise<ReturnType<typeof backupPlan>['objects']> {
  const saved = new Set((await ctx.backup.objects()).map((o) => `${o.kind}/${o.namespace}/${o.name}`))
  return backupPlan(ctx).objects.filter(({ kind, object }) => !saved.has(`${kind}/${object.metadata?.namespace}/${object.metadata?.name}`))
}

export async function backUp(ctx: Ctx): Promise<Applied> {
  const plan = backupPlan(ctx)
  for (const { kind, object } of plan.objects) await ctx.backup.save(kind, object)
  if (plan.nodeFiles.length > 0) await backUpNodeFiles(need(ctx.flags.cniConfDir), plan.nodeFiles, nodeBackupDir(ctx))
  return { summary: `backed up ${describeBackup(plan.objects.map((o) => o.kind), plan.nodeFiles)} to ${ctx.backup.dir}` }
}

/** regenerate-cni-tokens: the shared regenerate-and-prove kit (lib/regenerate/kit.ts), in place, in Calico's namespace. */
export async function regenerateStale(ctx: Ctx): Promise<Applied> {
  const kube = need(ctx.kube)
  const ticker = createTicker({ output: ctx.output, what: 'the tokens controller to refill the Secrets', timeoutMs: ctx.flags.timeout * 1000 })
  try {
    await regenerateAndWait(
      kube,
      ctx.staleSecrets,
      { strategy: Strategy.inPlace, maxParallel: ctx.flags.maxParallel, timeoutMs: ctx.flags.timeout * 1000, save: (s) => ctx.backup.save('Secret', s), clock: ctx.now, ticker },
      ctx,
    )
  } finally {
    ticker.done()
  }
  for (const token of ctx.refilled.values()) ctx.redactor.register(token)
  ctx.pendingChanges.delete('regenerate-cni-tokens')
  return { summary: `${ctx.refilled.size} Secret(s) hold a new token`, details: { outcomes: Object.fromEntries(ctx.outcomes) } }
}

export async function verifyRegenerated(ctx: Ctx): Promise<Verified> {
  const problems = await proveAll(need(ctx.kube), ctx.keys, ctx.staleSecrets, ctx, ctx.flags.maxParallel)
  return {
    ok: problems.length === 0,
    summary: problems.length ? `${problems.length} new token(s) failed the check: ${problems[0]}` : 'every new token is signed by a current key and authenticates (TokenReview); the old ones are rejected',
  }
}

export async function verifyRestart(ctx: Ctx): Promise<Verified> {
  const kube = need(ctx.kube)
  const install = need(ctx.install)
  const restart = need(ctx.restart)
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

/** probe-nodes: a probe pod on each calico-node node, leftovers of an earlier run deleted first. */
export async function probeNodes(ctx: Ctx): Promise<Applied> {
  const kube = need(ctx.kube)
  const nodes = await probeTargets(ctx)
  const leftovers = await withApiErrors(kube.kc, () => deleteLeftoverProbePods(kube, ctx.flags.probeNamespace))
  if (leftovers > 0) ctx.output.info(`  deleted ${leftovers} probe pod(s) an earlier run left behind`)
  const ticker = createTicker({ output: ctx.output, what: 'probe pods', timeoutMs: ctx.flags.timeout * 1000 })
  let done = 0
  try {
    ctx.probes = await mapLimit(nodes, ctx.flags.maxParallel, async (node) => {
      const result = await withApiErrors(kube.kc, () => probeNode(kube, { namespace: ctx.flags.probeNamespace, node, image: ctx.flags.probeImage, timeoutMs: ctx.flags.timeout * 1000 }))
      ticker.update({ ready: ++done, total: nodes.length })
      return result
    })
  } finally {
    ticker.done()
  }
  return { summary: summarizeProbes(ctx.probes), details: { probes: ctx.probes } }
}

/** load-keys: --key-file, else the cluster's /openid/v1/jwks (through `load`, lib/cli/keys.ts); none offline without --key-file. */
export async function loadKeys(ctx: Ctx, load: (keyFiles: readonly string[], clusterJwks: (() => Promise<unknown>) | undefined) => Promise<KeySet | undefined>): Promise<Check> {
  if (noCalico(ctx)) return { needed: false, summary: NO_CALICO }
  const kube = ctx.kube
  const set = await load(ctx.flags.keyFile, kube && (() => withApiErrors(kube.kc, () => fetchJwks(kube))))
  if (!set) return { needed: false, summary: "no keys: offline without --key-file, so signatures cannot be checked (pass the cluster's sa.pub or a saved /openid/v1/jwks)" }
  ctx.keys = set.keys
  ctx.keySource = set.source
  return { needed: false, summary: describeKeys(set), details: { kids: set.keys.map((key) => key.kid) } }
}

/** check-cni-account: the CNI ServiceAccount's legacy token Secrets, assessed. */
export async function checkAccount(ctx: Ctx): Promise<Check> {
  if (!ctx.install || !ctx.kube) return { needed: false, summary: ctx.kube ? NO_CALICO : 'offline: the ServiceAccount cannot be checked' }
  await withApiErrors(ctx.kube.kc, () => assessAccount(ctx))
  const who = `ServiceAccount ${ctx.install.namespace}/${ctx.install.cniServiceAccount}`
  const summary = ctx.accountSecrets.length === 0 ? `${who} has no legacy token Secret (usual since Kubernetes 1.24: its pods get bound tokens)` : `${who}: ${summarizeAssessments(ctx.assessments)}`
  return { needed: false, summary, details: { assessments: ctx.assessments } }
}

/** read-node-tokens and verify-cni-tokens: every node's token; the latter reads the config and the Secrets again first. */
export async function readNodesBefore(ctx: Ctx): Promise<Check> {
  if (noCalico(ctx)) return { needed: false, summary: NO_CALICO }
  ctx.nodesBefore = await readNodes(ctx)
  return { needed: false, summary: summarizeNodes(ctx.nodesBefore), details: { nodes: ctx.nodesBefore } }
}

export async function readEverythingAgain(ctx: Ctx): Promise<Check> {
  if (noCalico(ctx)) return { needed: false, summary: NO_CALICO }
  if (ctx.install && ctx.kube) {
    ctx.config = await withApiErrors(ctx.kube.kc, () => readConfigState(ctx))
    await withApiErrors(ctx.kube.kc, () => assessAccount(ctx))
  }
  ctx.nodesAfter = await readNodes(ctx)
  return { needed: false, summary: finalSummary(ctx) }
}

export async function checkBackup(ctx: Ctx): Promise<Check> {
  const missing = await missingFromBackup(ctx)
  const { nodeFiles } = backupPlan(ctx)
  const needed = missing.length + nodeFiles.length > 0
  return { needed, summary: needed ? `${describeBackup(missing.map((m) => m.kind), nodeFiles)} to back up to ${ctx.backup.dir}` : 'nothing will change, so nothing to back up' }
}

export async function verifyBackup(ctx: Ctx): Promise<Verified> {
  const missing = await missingFromBackup(ctx)
  return { ok: missing.length === 0, summary: missing.length ? `${missing.length} object(s) missing from the backup` : `backup complete: ${ctx.backup.dir}` }
}

/** fix-cni-config's apply and verify. */
export async function fixConfigStep(ctx: Ctx): Promise<Applied> {
  const summary = await withApiErrors(ctx.kube?.kc, () => fixConfig(ctx))
  ctx.pendingChanges.delete('fix-cni-config')
  return { summary }
}

export async function verifyConfig(ctx: Ctx): Promise<Verified> {
  const state = await withApiErrors(ctx.kube?.kc, () => readConfigState(ctx))
  const stale = state.findings.filter((f) => f.stale)
  return { ok: stale.length === 0, summary: stale.length ? `${state.source} still holds a stale token at ${stale[0]!.path}: ${stale[0]!.reason}` : `no stale token left (${state.summary})` }
}

/** rewrite-node-files' apply and verify. */
export async function rewriteNodeStep(ctx: Ctx): Promise<Applied> {
  const summary = await rewriteNode(ctx)
  ctx.pendingChanges.delete('rewrite-node-files')
  return { summary }
}

export async function verifyNodeRewrite(ctx: Ctx): Promise<Verified> {
  const [report] = await readNodes(ctx)
  const ok = report !== undefined && (report.verdict === NodeVerdict.current || (report.verdict === NodeVerdict.unverified && ctx.keys.length === 0))
  return { ok, summary: report ? `${report.verdict}: ${report.reason}` : 'nothing read back' }
}

/** restart-calico-node's check and apply. */
export async function checkRestart(ctx: Ctx): Promise<Check> {
  if (!ctx.install || !ctx.kube) return { needed: false, summary: noChangeSummary(ctx, 'no calico-node to restart') }
  if (ctx.nodeLocal) return { needed: false, summary: "node-local mode: calico-node is not restarted (that would render this node's files from the ConfigMap again)" }
  const { reasons, pods } = (ctx.restartPlan = await withApiErrors(ctx.kube.kc, () => planRestart(ctx)))
  const fresh = `all ${pods.length} calico-node pod(s) started after the CNI token last changed, and no node shows a stale token`
  return { needed: reasons.length > 0, summary: reasons.length > 0 ? reasons.join('; ') : fresh }
}

export async function restartStep(ctx: Ctx): Promise<Applied> {
  return withApiErrors(ctx.kube?.kc, () => restartCalicoNode(ctx))
}

/** probe-nodes' check. */
export async function checkProbes(ctx: Ctx): Promise<Check> {
  if (!ctx.flags.probe) return { needed: false, summary: 'not asked (--probe creates and deletes a pod on each node)' }
  if (!ctx.install || !ctx.kube) return { needed: false, summary: noChangeSummary(ctx, 'no calico-node nodes to probe') }
  const nodes = await probeTargets(ctx)
  return { needed: nodes.length > 0, summary: `${nodes.length} node(s) to probe in namespace ${ctx.flags.probeNamespace}: ${nodes.join(', ')}` }
}
