// fix-calico's context (what is fixed before the run), the typed plans its
// steps hand on, and the small rules every step shares (no Calico, offline,
// warnings once). Types and pure helpers only; the cluster side is
// lib/kube/calico-fix.ts.
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
import { decodeToken } from '../token/decode.ts'
import { describeToken } from '../token/describe.ts'
import { CALICO_NAMESPACES, type CalicoInstall } from './detect.ts'
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

/**
 * What fix-calico is handed before the run: flags, clients, the backup and
 * the redactor. Facts never live here: each step returns them in its plan
 * (the types below), and later steps read them through the engine's Findings.
 */
export interface Ctx {
  flags: Flags
  output: Output
  redactor: Redactor
  now: () => Date
  /** As the engine resolves it: in plan and no-terminal runs every check runs before any apply. */
  mode: Mode
  /** Undefined offline. */
  kube?: Kube
  /** The session's /openid/v1/jwks, read once per run (undefined offline). */
  clusterJwks?: () => Promise<unknown>
  kubectlArgs: string[]
  exec?: ExecFn
  backup: Backup
  nodeLocal: boolean
  /** The --token-file token, compact. */
  givenToken?: string
  /** Where warnings go, each once; the report lists them (a sink like the redactor, not a fact a step decides by). */
  warnings: Warnings
}

export interface Warnings {
  warn(line: string): void
  readonly lines: readonly string[]
}

export function warningsOn(output: Pick<Output, 'warn'>): Warnings {
  const lines: string[] = []
  return {
    lines,
    warn: (line) => {
      if (lines.includes(line)) return
      lines.push(line)
      output.warn(line)
    },
  }
}

// ---------------------------------------------------------------------------
// The steps' plans and results, in step order

/** detect-calico: the install; none offline (the cluster is not read) or without Calico. */
export interface DetectPlan {
  readonly install?: CalicoInstall
  readonly daemonSet?: V1DaemonSet
}

/** load-keys: the keys signatures are checked with; none offline without --key-file. */
export interface KeysPlan {
  readonly keys: readonly VerificationKey[]
  readonly source?: string
}

/** What most later steps build on: the install (where they act) and the keys (how they judge). */
export interface Basis extends DetectPlan {
  readonly keys: readonly VerificationKey[]
}

/** check-cni-config: the template's tokens, judged (none offline or without Calico). */
export interface ConfigPlan extends DetectPlan {
  readonly config?: ConfigState
}

/** check-cni-account (and verify-cni-tokens): the CNI ServiceAccount's legacy token Secrets, assessed. */
export interface AccountState {
  readonly secrets: readonly V1Secret[]
  readonly assessments: readonly SecretAssessment[]
  /** Those whose token is stale or missing: what regenerate-cni-tokens changes. */
  readonly stale: readonly V1Secret[]
}
export interface AccountPlan extends DetectPlan, AccountState {}

/** read-node-tokens: the token every node presents, before any change. */
export interface NodesPlan extends DetectPlan {
  readonly nodes: readonly NodeReport[]
}

export interface BackupObject {
  readonly kind: string
  readonly object: { metadata?: V1ConfigMap['metadata'] }
}
/** back-up: every object about to change, and in node-local mode the node files. */
export interface BackupPlan extends DetectPlan {
  readonly objects: readonly BackupObject[]
  readonly nodeFiles: readonly string[]
}

/** regenerate-cni-tokens: the stale Secrets; its result is what the writes did and the new tokens. */
export interface RegeneratePlan extends Basis {
  readonly stale: readonly V1Secret[]
}

/** fix-cni-config: the stale literal tokens of the template; `fix` false in node-local mode (only a warning). */
export interface ConfigFixPlan extends Basis {
  readonly config?: ConfigState
  readonly stale: readonly ConfigTokenFinding[]
  readonly fix: boolean
  /** The legacy token Secret --embed-token would take its token from, for the commands. */
  readonly accountSecret?: string
}
export interface ConfigFixResult {
  /** `policy.k8s_auth_token → __SERVICEACCOUNT_TOKEN__` */
  readonly change: string
}

/** rewrite-node-files: node-local mode, this node's report and whether its files need the token. */
export interface NodeRewritePlan extends Basis {
  readonly report?: NodeReport
  readonly rewrite: boolean
  /** The template as check-cni-config found it: what the next calico-node start writes back. */
  readonly config?: ConfigState
}
export interface NodeRewriteResult {
  readonly written: readonly string[]
}

/** restart-calico-node: when and why (undefined offline, without Calico, or in node-local mode). */
export interface RestartStepPlan extends RestartPlan {
  readonly install: CalicoInstall
}
export interface RestartResult {
  readonly restartedAt: string
  readonly oldPods: readonly string[]
  readonly newPods: ReadonlyArray<{ name: string; node: string; uid: string }>
  readonly detail: string
}

/** verify-cni-tokens: everything read again after the changes. */
export interface FinalPlan extends DetectPlan {
  readonly config?: ConfigState
  readonly account?: AccountState
  readonly nodes: readonly NodeReport[]
}

/** probe-nodes: the nodes that run calico-node; its result, each probe pod's outcome. */
export interface ProbePlan extends DetectPlan {
  readonly nodes: readonly string[]
}
export interface ProbeRun {
  readonly probes: readonly ProbeResult[]
}

/** What the run found and did, gathered from the plans and results after it (the report reads it). */
export interface CalicoFacts {
  readonly install?: CalicoInstall
  /** The template as last read (after the changes, if verify-cni-tokens ran). */
  readonly config?: ConfigState
  readonly configChange?: string
  readonly account?: AccountState
  readonly outcomes: ReadonlyMap<string, RegenerateOutcome>
  readonly nodesBefore: readonly NodeReport[]
  readonly nodesAfter: readonly NodeReport[]
  readonly restart?: RestartResult
  readonly nodeFilesWritten: readonly string[]
  readonly probes: readonly ProbeResult[]
}

/** The install and the cluster it is in: where the cluster-side steps act (undefined offline or without Calico). */
export interface Cluster {
  readonly install: CalicoInstall
  readonly kube: Kube
}
export function clusterOf(ctx: Pick<Ctx, 'kube'>, found: DetectPlan): Cluster | undefined {
  return ctx.kube && found.install ? { install: found.install, kube: ctx.kube } : undefined
}

export const noCalico = (ctx: Pick<Ctx, 'kube'>, found: DetectPlan) => ctx.kube !== undefined && found.install === undefined
export const NO_CALICO = 'no Calico here'

export const nodeBackupDir = (ctx: Pick<Ctx, 'backup'>) => join(ctx.backup.dir, 'node-files')

/** A check's words when it has nothing to do: no Calico, offline (nothing in the cluster was read), or `summary`. */
export function noChangeSummary(ctx: Pick<Ctx, 'kube'>, found: DetectPlan, summary: string): string {
  if (noCalico(ctx, found)) return NO_CALICO
  return ctx.kube ? summary : 'offline: the cluster is neither read nor changed'
}

/** A value an earlier step must have found; its absence is a bug. */
export function need<T>(value: T | undefined): T {
  if (value === undefined) throw new Error('internal: a step ran without what an earlier step should have found')
  return value
}

/** Offline, nothing but the --token-file token says whose files these are: it must be Calico's. */
export function checkOfflineToken(token: string): void {
  const namespace = describeToken(decodeToken(token)).namespace
  if (!(Object.values(CALICO_NAMESPACES) as string[]).includes(namespace ?? '')) {
    throw new UsageError(`the --token-file token belongs to namespace ${namespace ?? '(none)'}, not to Calico's (kube-system or calico-system): pass a token of calico-node or calico-cni-plugin`)
  }
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
export type CalicoBase = Pick<Session, 'output' | 'redactor' | 'now' | 'connection' | 'backup'> & { kube?: Kube; clusterJwks?: Session['clusterJwks'] }
