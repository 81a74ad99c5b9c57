// The kubectl (and shell) equivalents restart-dependent-pods' steps print,
// built from argument lists with the run's --kubeconfig/--context.
import { REGENERATED_AT_ANNOTATION } from '../annotations.ts'
import { kubectlCommand, shellQuote } from '../engine/kubectl.ts'
import { FAILED_MOUNT_EVENTS, type Namespaces } from '../kube/workloads.ts'
import { journalArgs, kubeletLogSource, KubeletLogSourceKind } from '../kubelet/read.ts'
import { TOKEN_SECRET_TYPE } from '../secrets.ts'
import { RestartAction, type RestartPlan } from '../workloads/restart-plan.ts'
import { actionable } from '../workloads/restart-results.ts'
import { defaultNamespace, type Ctx } from './context.ts'
import { namespacesIn } from './plan.ts'

type Commands = Readonly<Pick<Ctx, 'kubectlArgs' | 'where' | 'selector' | 'flags' | 'scope' | 'kubeletLog' | 'timeoutMs'>>

function scopeArgs(where: Namespaces): string[][] {
  return where.all ? [['-A']] : where.namespaces.map((ns) => ['-n', ns])
}

/** The pods in scope, with what decides whether they hold an old token. */
export function podsCommand(ctx: Commands): string {
  const scope = ctx.where.all ? ['-A'] : ctx.where.namespaces.length === 1 ? ['-n', ctx.where.namespaces[0]!] : ['-A']
  return kubectlCommand(
    ...ctx.kubectlArgs,
    'get',
    'pods',
    ...scope,
    ...(ctx.selector ? ['-l', ctx.selector] : []),
    '-o',
    'custom-columns=NAMESPACE:.metadata.namespace,NAME:.metadata.name,UID:.metadata.uid,STARTED:.status.startTime,OWNER:.metadata.ownerReferences[0].name',
  )
}

/** find-dependent-pods by hand: the regenerated Secrets, the pods, the FailedMount events, the kubelet's log. */
export function discoveryCommands(ctx: Commands): string[] {
  const columns = `custom-columns=NAMESPACE:.metadata.namespace,NAME:.metadata.name,REGENERATED-AT:.metadata.annotations.${REGENERATED_AT_ANNOTATION.replaceAll('.', '\\.')}`
  const secrets =
    ctx.flags.secret.length > 0
      ? ctx.flags.secret.map((ref) => {
          const [namespace, name] = ref.includes('/') ? ref.split('/') : [defaultNamespace(ctx.scope), ref]
          return kubectlCommand(...ctx.kubectlArgs, 'get', 'secret', name ?? '', '-n', namespace ?? '', '-o', columns)
        })
      : [kubectlCommand(...ctx.kubectlArgs, 'get', 'secrets', ...(ctx.scope.all ? ['-A'] : ['-n', ctx.scope.namespace]), '--field-selector', `type=${TOKEN_SECRET_TYPE}`, '-o', columns)]
  const events = scopeArgs(ctx.where).map((scope) => kubectlCommand(...ctx.kubectlArgs, 'get', 'events', ...scope, '--field-selector', FAILED_MOUNT_EVENTS))
  return [...secrets, podsCommand(ctx), ...events, ...kubeletLogCommands(ctx)]
}

/** What --kubelet-log reads, by hand: the lines it looks for, from the same source. */
function kubeletLogCommands(ctx: Commands): string[] {
  const source = ctx.flags.kubeletLog
  if (ctx.kubeletLog === undefined || source === undefined) return []
  const grep = ['grep', '-E', 'secrets? ".*" not found|Unauthorized'].map(shellQuote).join(' ')
  const kind = kubeletLogSource(source).kind
  if (kind === KubeletLogSourceKind.journal) {
    const since = ctx.kubeletLog.since ? new Date(ctx.kubeletLog.since) : new Date()
    return [`${['journalctl', ...journalArgs(since)].map(shellQuote).join(' ')} | ${grep}`]
  }
  return kind === KubeletLogSourceKind.file ? [`${grep} ${shellQuote(source)}`] : []
}

/** plan-restarts by hand: the owners and budgets of the namespaces the plan acts in. */
export function ownerCommands(ctx: Commands, plan: RestartPlan | undefined): string[] {
  return namespacesIn((plan?.items ?? []).flatMap((item) => item.pods)).map((ns) =>
    kubectlCommand(...ctx.kubectlArgs, 'get', 'deployments,statefulsets,daemonsets,replicasets,jobs,poddisruptionbudgets', '-n', ns),
  )
}

/** restart-workloads by hand: each item's commands, and the wait for each rollout. */
export function restartCommands(ctx: Commands, plan: RestartPlan | undefined): string[] {
  const timeout = `--timeout=${Math.round(ctx.timeoutMs / 1000)}s`
  return actionable(plan).flatMap((item) => [
    ...item.kubectl,
    ...(item.action === RestartAction.rolloutRestart
      ? [kubectlCommand(...ctx.kubectlArgs, 'rollout', 'status', `${item.owner.kind.toLowerCase()}/${item.owner.name}`, '-n', item.owner.namespace, timeout)]
      : []),
  ])
}
