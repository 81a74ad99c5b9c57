// The kubectl (and shell) equivalents fix-calico's steps print, built from
// argument lists with the run's --kubeconfig/--context and each step's plan
// (undefined when the step never ran: then the general commands, or none). Pure.
import { join } from 'node:path'
import { secretKey } from '../secrets.ts'
import { kubectlCommand, shellQuote } from '../engine/kubectl.ts'
import { nodeBackupDir, type AccountPlan, type BackupPlan, type ConfigFixPlan, type ConfigPlan, type Ctx, type DetectPlan, type NodeRewritePlan, type ProbePlan, type RegeneratePlan, type RestartStepPlan } from './context.ts'
import { cniMountOf } from './daemonset.ts'
import { CALICO_NAMESPACES, CALICO_NODE } from './detect.ts'
import { SERVICEACCOUNT_TOKEN_PLACEHOLDER } from './token-value.ts'

/** kubectl with the run's connection flags. */
export function k(ctx: Pick<Ctx, 'kubectlArgs'>, ...args: string[]): string {
  return kubectlCommand(...ctx.kubectlArgs, ...args)
}

export function readNodesCommands(ctx: Ctx, plan: DetectPlan | undefined): string[] {
  if (ctx.nodeLocal) {
    const dir = ctx.flags.cniConfDir ?? ''
    return [`ls -l ${shellQuote(dir)}`, `cat ${shellQuote(dir)}/*.conf* ${shellQuote(join(dir, 'calico-kubeconfig'))}`]
  }
  const { install, daemonSet } = plan ?? {}
  if (!install || !daemonSet) return []
  const { namespace, cniNetDir, expected } = install
  const mount = cniMountOf(daemonSet, cniNetDir)
  if (!mount) return []
  const selector = Object.entries(daemonSet.spec?.selector?.matchLabels ?? {}).map(([key, v]) => `${key}=${v}`).join(',')
  const list = k(ctx, '-n', namespace, 'get', 'pods', ...(selector ? ['-l', selector] : []), '-o', 'name')
  const files = [expected.fileName, 'calico-kubeconfig'].map((f) => shellQuote(`${mount.mountPath.replace(/\/+$/, '')}/${f}`)).join(' ')
  return [`for p in $(${list}); do ${k(ctx, '-n', namespace, 'exec')} "$p" -c ${shellQuote(mount.container)} -- cat ${files}; done`]
}

const JQ_TOKEN = '"\\"k8s_auth_token\\": *\\"[^\\"]*\\""'

export function fixConfigCommands(ctx: Ctx, plan: ConfigFixPlan | undefined): string[] {
  const install = plan?.install
  const state = plan?.config
  if (!install || !state?.configMap || !state.key || !state.findings.some((f) => f.stale)) return []
  const name = state.configMap.metadata?.name ?? ''
  const get = k(ctx, '-n', install.namespace, 'get', 'configmap', name, '-o', 'json')
  const replace = k(ctx, 'replace', '-f', '-')
  const target = `.data[${JSON.stringify(state.key)}]`
  if (!ctx.flags.embedToken) {
    return [`${get} | jq ${shellQuote(`${target} |= gsub(${JQ_TOKEN}; "\\"k8s_auth_token\\": \\"${SERVICEACCOUNT_TOKEN_PLACEHOLDER}\\"")`)} | ${replace}`]
  }
  const secret = plan.accountSecret ?? `${install.cniServiceAccount}-token`
  return [
    `TOKEN=$(${k(ctx, '-n', install.namespace, 'get', 'secret', secret, '-o', 'jsonpath={.data.token}')} | base64 -d)`,
    `${get} | jq --arg t "$TOKEN" ${shellQuote(`${target} |= gsub(${JQ_TOKEN}; "\\"k8s_auth_token\\": \\"" + $t + "\\"")`)} | ${replace}`,
  ]
}

export function rewriteCommands(ctx: Ctx, plan: NodeRewritePlan | undefined): string[] {
  if (!ctx.nodeLocal) return []
  const dir = ctx.flags.cniConfDir ?? ''
  const report = plan?.report
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

export function restartCommands(ctx: Ctx, plan: RestartStepPlan | undefined): string[] {
  if (!plan || ctx.nodeLocal) return []
  const { namespace, daemonSet } = plan.install
  const { ds } = plan
  if (ds.spec?.updateStrategy?.type === 'OnDelete') {
    const selector = Object.entries(ds.spec.selector?.matchLabels ?? {}).map(([key, v]) => `${key}=${v}`).join(',')
    return [
      k(ctx, '-n', namespace, 'rollout', 'restart', `ds/${daemonSet}`),
      `for p in $(${k(ctx, '-n', namespace, 'get', 'pods', '-l', selector, '-o', 'name')}); do ${k(ctx, '-n', namespace, 'delete')} "$p" && ${k(ctx, '-n', namespace, 'wait', '--for=condition=Ready', 'pods', '-l', selector, `--timeout=${ctx.flags.timeout}s`)}; done`,
    ]
  }
  return [k(ctx, '-n', namespace, 'rollout', 'restart', `ds/${daemonSet}`), k(ctx, '-n', namespace, 'rollout', 'status', `ds/${daemonSet}`, `--timeout=${ctx.flags.timeout}s`)]
}

export function probeCommands(ctx: Ctx, plan: ProbePlan | undefined): string[] {
  if (!ctx.flags.probe || !plan?.install) return []
  const ns = ctx.flags.probeNamespace
  const nodes = plan.nodes
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

export function detectCommands(ctx: Ctx): string[] {
  if (!ctx.kube) return []
  return Object.values(CALICO_NAMESPACES).map((ns) => k(ctx, '-n', ns, 'get', 'daemonset', CALICO_NODE, '-o', 'jsonpath={.spec.template.spec.containers[*].image}'))
}

export function keyCommands(ctx: Ctx): string[] {
  if (ctx.flags.keyFile.length > 0) return ctx.flags.keyFile.map((f) => `openssl pkey -pubin -in ${shellQuote(f)} -noout -text`)
  return ctx.kube ? [k(ctx, 'get', '--raw', '/openid/v1/jwks')] : []
}

export function configCommands(ctx: Ctx, plan: ConfigPlan | undefined): string[] {
  const install = plan?.install
  const ref = install?.cniConfig.configMap
  if (!install || !ref) return []
  const get = k(ctx, '-n', install.namespace, 'get', 'configmap', ref.name, '-o', `jsonpath={.data.${ref.key}}`)
  const verify = `${get} | sed -n ${shellQuote('s/.*"k8s_auth_token": *"\\([^"]*\\)".*/\\1/p')} | runbooks/verify-token.ts --token-file -`
  return plan.config?.findings.length ? [get, verify] : [get]
}

export function accountCommands(ctx: Ctx, plan: AccountPlan | undefined): string[] {
  const install = plan?.install
  if (!install) return []
  const jsonpath = `jsonpath={range .items[?(@.metadata.annotations.kubernetes\\.io/service-account\\.name=="${install.cniServiceAccount}")]}{.metadata.name}{"\\n"}{end}`
  return [
    k(ctx, '-n', install.namespace, 'get', 'secrets', '--field-selector', 'type=kubernetes.io/service-account-token', '-o', jsonpath),
    ...plan.secrets.map((s) => `runbooks/verify-token.ts --secret ${shellQuote(secretKey(s))}`),
  ]
}

export function backupCommands(ctx: Ctx, plan: BackupPlan | undefined): string[] {
  if (!plan) return []
  return [
    ...plan.objects.map(
      ({ kind, object }) =>
        `${k(ctx, '-n', object.metadata?.namespace ?? '', 'get', kind.toLowerCase(), object.metadata?.name ?? '', '-o', 'json')} > ${shellQuote(join(ctx.backup.dir, kind.toLowerCase(), object.metadata?.namespace ?? '', `${object.metadata?.name}.json`))}`,
    ),
    ...(plan.nodeFiles.length > 0 ? [`mkdir -p ${shellQuote(nodeBackupDir(ctx))} && cp -p ${plan.nodeFiles.map((f) => shellQuote(join(ctx.flags.cniConfDir ?? '', f))).join(' ')} ${shellQuote(nodeBackupDir(ctx))}/`] : []),
  ]
}

export function regenerateCommands(ctx: Ctx, plan: RegeneratePlan | undefined): string[] {
  return (plan?.stale ?? []).map((s) => k(ctx, '-n', s.metadata?.namespace ?? '', 'patch', 'secret', s.metadata?.name ?? '', '--type=json', '-p', '[{"op":"replace","path":"/data/token","value":""}]'))
}
