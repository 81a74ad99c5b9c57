// restart-dependent-pods' context: what is fixed before its steps run (the
// flags, where pods are looked for, the deadlines, and what rotate-tokens
// hands in), and the flag checks that make it. Its steps' facts are not here:
// they travel as plans (runbooks/restart-dependent-pods.ts).
import type { V1Secret } from '@kubernetes/client-node'
import type { Session } from '../cli/session.ts'
import type { Findings } from '../engine/types.ts'
import { UsageError } from '../errors.ts'
import type { Namespaces, WaitSeams } from '../kube/workloads.ts'
import { parseSecretRef } from '../kube/token-secrets.ts'
import { JOURNAL, kubeletLogSource, parseLogSince, type KubeletLogReading } from '../kubelet/read.ts'
import type { Scope } from '../secrets.ts'
import { parseRfc3339 } from '../workloads/regenerated.ts'

/** restart-dependent-pods' flags, as its CLI parses them (runbooks/restart-dependent-pods.ts defines them). */
export interface Flags {
  readonly secret: readonly string[]
  readonly boundBefore?: string | undefined
  readonly recreateBarePods: boolean
  readonly kubeletLog?: string | undefined
  readonly kubeletLogSince?: string | undefined
  readonly maxParallel: number
  readonly timeout: number
  readonly backupDir?: string | undefined
}

/** What the steps before restart's found, when another runbook runs them first (rotate-tokens: regenerate-tokens). */
export interface Upstream {
  /**
   * Token Secrets about to be regenerated (a dry run): they count as
   * regenerated now, so the plan lists the restarts their regeneration will
   * cause. An explicit input; the flags stay as given.
   */
  readonly pending: readonly V1Secret[]
  /** This run found tokens signed by a retired key (dates the key change when nothing was regenerated yet). */
  readonly staleFound: boolean
}

export interface Ctx extends Session {
  readonly flags: Flags
  /** Where the pods are looked for (the scope names where the token Secrets are). */
  readonly where: Namespaces
  readonly kubectlArgs: string[]
  readonly boundBefore?: Date
  /** --kubelet-log, read once before the steps (node-local, read-only). */
  readonly kubeletLog?: KubeletLogReading
  readonly timeoutMs: number
  readonly maxParallel: number
  /** Test seam for the rollout, eviction and re-creation waits. */
  readonly seams?: WaitSeams
  /**
   * The run knows the signing key changed (rotate-tokens): projected tokens
   * bound before the change cannot be proven fine and fail the proof. Run
   * alone, the regeneration may have had another cause: they are named, not failed.
   */
  readonly keyChanged: boolean
  /** Asked when a step looks at the cluster: what the steps before this runbook's found. Run alone, there are none. */
  readonly upstream?: (found: Findings) => Upstream
}

/** What a run alone has from upstream: nothing pending, no stale token seen. */
export const NO_UPSTREAM: Upstream = { pending: [], staleFound: false }

/** rotate-tokens' part of the context: the key changed, and what regenerate-tokens found. */
export type Inputs = Pick<Ctx, 'keyChanged' | 'upstream'>

/** This runbook's context on top of a session: run alone, or by rotate-tokens with the session it shares. */
export function contextOf(session: Session, flags: Flags, inputs: Inputs = { keyChanged: false }): Ctx {
  const boundBefore = parseBoundBefore(flags.boundBefore, session.now())
  return {
    ...session,
    flags,
    where: podNamespaces(session.scope, flags.secret, session.namespaceGiven),
    kubectlArgs: session.connection,
    ...(boundBefore ? { boundBefore } : {}),
    timeoutMs: positiveInteger(flags.timeout, 'timeout') * 1000,
    maxParallel: positiveInteger(flags.maxParallel, 'max-parallel'),
    ...inputs,
  }
}

/** --bound-before: an RFC 3339 time, or `now`. */
export function parseBoundBefore(text: string | undefined, now: Date): Date | undefined {
  if (text === undefined) return undefined
  if (text.trim().toLowerCase() === 'now') return now
  const ms = parseRfc3339(text)
  if (ms === undefined) throw new UsageError(`--bound-before ${text} is not an RFC 3339 time: write it like 2026-06-01T12:00:00Z, or now`)
  return new Date(ms)
}

function positiveInteger(value: number, flag: string): number {
  if (!Number.isInteger(value) || value < 1) throw new UsageError(`--${flag} ${value} must be a whole number of at least 1`)
  return value
}

/** The namespace a bare --secret name is in. */
export function defaultNamespace(scope: Scope): string {
  return scope.all ? 'default' : scope.namespace
}

/**
 * Where pods are looked for: every namespace with -A; with --secret (and no
 * -n), the Secrets' own namespaces, since a pod can only name Secrets of its
 * namespace; else the namespace in scope.
 */
export function podNamespaces(scope: Scope, secretRefs: readonly string[], namespaceGiven: boolean): Namespaces {
  if (scope.all) return { all: true }
  const fromSecrets = secretRefs.map((ref) => parseSecretRef(ref, scope.namespace).namespace)
  const namespaces = secretRefs.length > 0 && !namespaceGiven ? fromSecrets : [scope.namespace, ...fromSecrets]
  return { all: false, namespaces: [...new Set(namespaces)] }
}

/** Throws the usage errors the flags can have on their own. */
export function checkFlags(flags: Flags, now: Date): void {
  parseBoundBefore(flags.boundBefore, now)
  positiveInteger(flags.timeout, 'timeout')
  positiveInteger(flags.maxParallel, 'max-parallel')
  if (flags.kubeletLog !== undefined) kubeletLogSource(flags.kubeletLog)
  if (flags.kubeletLogSince !== undefined) {
    if (flags.kubeletLog === undefined) throw new UsageError(`--kubelet-log-since needs --kubelet-log (${JOURNAL}, a file, or -)`)
    parseLogSince(flags.kubeletLogSince, now)
  }
}
