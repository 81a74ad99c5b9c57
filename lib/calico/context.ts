// fix-calico's run state: what its steps find and hand on, and the small
// rules every step shares (no Calico, offline, warnings once). Types and pure
// helpers only; the cluster side is lib/kube/calico-fix.ts.
import { join } from 'node:path'
import type { V1ConfigMap, V1DaemonSet, V1Pod, V1Secret } from '@kubernetes/client-node'
import type { Backup } from '../backup.ts'
import type { Mode } from '../engine/types.ts'
import { UsageError } from '../errors.ts'
import type { ExecFn } from '../kube/calico.ts'
import type { ProbeResult } from './probe.ts'
import type { Kube } from '../kube/clients.ts'
import type { Session } from '../cli/session.ts'
import type { TokenInspection } from '../kube/inspect-token.ts'
import type { Output } from '../output.ts'
import type { Redactor } from '../redact.ts'
import type { RegenerateOutcome } from '../regenerate/apply.ts'
import type { SecretAssessment } from '../regenerate/select.ts'
import type { VerificationKey } from '../token/keys.ts'
import type { CalicoInstall } from './detect.ts'
import type { NodeReport } from './node-dir.ts'

/** fix-calico's flags, as its CLI parses them (runbooks/fix-calico.ts defines them). */
export interface Flags {
  readonly embedToken: boolean
  readonly restart: boolean
  readonly cniConfDir?: string | undefined
  readonly tokenFile?: string | undefined
  readonly keyFile: readonly string[]
  readonly offline: boolean
  readonly probe: boolean
  readonly probeImage: string
  readonly probeNamespace: string
  readonly backupDir?: string | undefined
  readonly timeout: number
  readonly maxParallel: number
}

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

export interface ConfigState {
  /** `ConfigMap kube-system/calico-config key cni_network_config`, or the DaemonSet's inline env. */
  readonly source: string
  readonly configMap?: V1ConfigMap
  readonly key?: string
  /** The placeholders and literal tokens, in words. */
  readonly summary: string
  readonly findings: readonly ConfigTokenFinding[]
}

export interface RestartPlan {
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

export const noCalico = (ctx: Ctx) => ctx.kube !== undefined && ctx.install === undefined
export const NO_CALICO = 'no Calico here'

export const nodeBackupDir = (ctx: Ctx) => join(ctx.backup.dir, 'node-files')

export function warn(ctx: Ctx, line: string): void {
  if (ctx.warnings.includes(line)) return
  ctx.warnings.push(line)
  ctx.output.warn(line)
}

/** A check's words when it has nothing to do: no Calico, offline (nothing in the cluster was read), or `summary`. */
export function noChangeSummary(ctx: Ctx, summary: string): string {
  if (noCalico(ctx)) return NO_CALICO
  return ctx.kube ? summary : 'offline: the cluster is neither read nor changed'
}

/** A value an earlier step must have found; its absence is a bug. */
export function need<T>(value: T | undefined): T {
  if (value === undefined) throw new Error('internal: a step ran without what an earlier step should have found')
  return value
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

/** What fix-calico needs from its caller: a Session (rotate-tokens) fits, and so does an offline run's subset. */
export type CalicoBase = Pick<Session, 'output' | 'redactor' | 'now' | 'connection' | 'backup'> & { kube?: Kube }
