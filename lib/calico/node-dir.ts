// A node's CNI config directory, seen from the node itself (--cni-conf-dir):
// read it, judge the tokens its Calico files present, and rewrite them
// atomically with a copy of every original under the backup directory. The
// judgement is shared with the exec path (lib/kube/calico.ts), which hands
// in the same NodeFile listing read through a calico-node pod.
//
// zx's fs (fs-extra, loaded lazily through lib/shell.ts) makes the backup
// copies; the rewrite itself stays on node:fs, which has the calls an atomic
// replace needs (open, fsync, rename) and fs-extra adds nothing to.
//
// Backups go under the run's backup directory (0700, files 0600), not beside
// the files: a copy in /etc/cni/net.d would keep the stale token readable
// where every CNI plugin looks, and a name the runtime loads (a stray
// .conflist) would even shadow Calico's own config.
import { chown, lstat, open, readdir, readFile, rename, rm, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { DomainError } from '../errors.ts'
import { loadFs } from '../shell.ts'
import type { TokenInspection } from '../kube/inspect-token.ts'
import { TokenStatus } from '../token/status.ts'
import { assessCniToken, type CniTokenExpectation } from './assess.ts'
import { CALICO_CONF_NAMES, findCalicoFiles, nodeTokens, type NodeFile, type NodeFileWrite } from './node-files.ts'
import { CALICO_KUBECONFIG_NAME } from './kubeconfig.ts'
import { TokenValueKind } from './token-value.ts'

/** What one node's CNI files say about the token its CNI plugin presents. */
export const NodeVerdict = {
  /** Every token in Calico's files is signed by a current key, unexpired, and the CNI's account. */
  current: 'current',
  /** A token is rejected, expired, signed by a retired key, or someone else's. */
  stale: 'stale',
  /** Calico's files are absent, unreadable, or hold no token at all. */
  missing: 'missing',
  /** The files could not be read (exec unavailable) or the token could not be checked (no keys). */
  unverified: 'unverified',
} as const
export type NodeVerdict = (typeof NodeVerdict)[keyof typeof NodeVerdict]

export interface NodeTokenFinding {
  readonly file: string
  /** `policy.k8s_auth_token`, `users[0].user.token`. */
  readonly setting: string
  readonly status: TokenInspection['status']
  readonly reason: string
  readonly fingerprint?: string
  readonly subject?: string
  readonly subjectMatches: boolean
  readonly expiresAt?: string
}

export interface NodeReport {
  /** Node name, or the directory in node-local mode. */
  readonly node: string
  /** Where the files were read: `pod kube-system/calico-node-x (install-cni):/host/etc/cni/net.d` or a local path. */
  readonly source: string
  readonly verdict: NodeVerdict
  /** One line: why, ending with the fix when the verdict is not current. */
  readonly reason: string
  readonly tokens: readonly NodeTokenFinding[]
  readonly files?: readonly string[]
}

export interface JudgeOptions {
  readonly expectation: CniTokenExpectation
  /** What to do about a bad token on this node, ending its reason (default RESTART_FIX). */
  readonly fix?: string
  /** Inspects one token (signature, live checks): inspectToken bound to the run's keys and cluster. */
  readonly inspect: (source: string, token: string) => Promise<TokenInspection>
  readonly now: Date
}

/** The fix for a node whose token is bad, in cluster mode. */
export const RESTART_FIX = 'restart calico-node so install-cni renders the files again (fix-calico --restart)'

/**
 * Judges the Calico files of one node: every literal token is inspected, and
 * the node is current only if all of them are. Never throws for what the
 * files hold; a broken file is a `missing` verdict naming the problem.
 */
export async function judgeNodeFiles(node: string, source: string, files: readonly NodeFile[], opts: JudgeOptions): Promise<NodeReport> {
  const base = { node, source, files: files.map((f) => f.name) }
  const found = findCalicoFiles(files)
  if (found.conf === undefined && found.kubeconfig === undefined) {
    return {
      ...base,
      verdict: NodeVerdict.missing,
      reason: `no Calico CNI files in ${source} (looked for ${CALICO_CONF_NAMES.join(', ')} and ${CALICO_KUBECONFIG_NAME}); ${RESTART_FIX}`,
      tokens: [],
    }
  }
  let settings
  try {
    settings = nodeTokens(files, { node })
  } catch (err) {
    if (!(err instanceof DomainError)) throw err
    return { ...base, verdict: NodeVerdict.missing, reason: err.message, tokens: [] }
  }
  const literals = settings.filter((s) => s.value.kind === TokenValueKind.literal)
  if (literals.length === 0) {
    const where = found.missing.length > 0 ? ` (${found.missing.join(', ')} missing)` : ''
    return { ...base, verdict: NodeVerdict.missing, reason: `Calico's files in ${source} hold no token${where}; ${RESTART_FIX}`, tokens: [] }
  }
  const tokens: NodeTokenFinding[] = []
  for (const setting of literals) {
    if (setting.value.kind !== TokenValueKind.literal) continue
    const token = setting.value.token
    const inspection = await opts.inspect(`${node}:${setting.file} ${setting.setting}`, token)
    const assessed = assessCniToken(token, opts.expectation, opts.now)
    tokens.push({
      file: setting.file,
      setting: setting.setting,
      status: inspection.status,
      reason: inspection.reason,
      ...(inspection.fingerprint ? { fingerprint: inspection.fingerprint } : {}),
      ...(assessed.description.subject ? { subject: assessed.description.subject } : {}),
      subjectMatches: assessed.subjectMatches,
      ...(assessed.expiresAt ? { expiresAt: assessed.expiresAt } : {}),
    })
  }
  return { ...base, ...verdictOf(tokens, opts.expectation, opts.fix ?? RESTART_FIX), tokens }
}

/** A node whose files could not be read at all: unverified, not failed. */
export function unreadableNode(node: string, source: string, why: string, hint: string): NodeReport {
  return { node, source, verdict: NodeVerdict.unverified, reason: `could not read the node's CNI files: ${why}; ${hint}`, tokens: [] }
}

function verdictOf(tokens: readonly NodeTokenFinding[], expectation: CniTokenExpectation, fix: string): { verdict: NodeVerdict; reason: string } {
  const bad = tokens.find((t) => t.status !== TokenStatus.valid && t.status !== TokenStatus.unverified)
  if (bad) return { verdict: NodeVerdict.stale, reason: `${bad.file} ${bad.setting}: ${bad.status}: ${withoutFix(bad.reason)}; ${fix}` }
  const foreign = tokens.find((t) => !t.subjectMatches)
  if (foreign) {
    const expected = (expectation.serviceAccounts ?? ['calico-node', 'calico-cni-plugin']).join(' or ')
    return {
      verdict: NodeVerdict.stale,
      reason: `${foreign.file} ${foreign.setting} belongs to ${foreign.subject ?? 'no subject'}, not to ${expected} in ${expectation.namespace}; ${fix}`,
    }
  }
  const unchecked = tokens.find((t) => t.status === TokenStatus.unverified)
  if (unchecked) return { verdict: NodeVerdict.unverified, reason: `${unchecked.file} ${unchecked.setting}: ${unchecked.reason}` }
  const files = [...new Set(tokens.map((t) => t.file))].join(' and ')
  return { verdict: NodeVerdict.current, reason: `${files}: signed by a current key, unexpired, the CNI's own account` }
}

/**
 * A token inspection's reason without the fix it ends with ("…; run
 * regenerate-tokens to issue a new token."): for a token in Calico's files
 * the fix is Calico's, not the Secret's.
 */
export function withoutFix(reason: string): string {
  const cut = reason.lastIndexOf('; ')
  return (cut > 0 ? reason.slice(0, cut) : reason).replace(/\.$/, '')
}

// ---------------------------------------------------------------------------
// Reading and writing the directory

/** Calico writes a few KiB per file; the directory holds a handful. Anything beyond is not read. */
export const MAX_NODE_FILE_BYTES = 256 * 1024
export const MAX_NODE_FILES = 64

/**
 * The regular files of a CNI config directory (symlinks followed; larger
 * files and subdirectories skipped). Throws DomainError naming the directory
 * when it cannot be listed.
 */
export async function readCniConfDir(dir: string): Promise<NodeFile[]> {
  let names: string[]
  try {
    names = (await readdir(dir)).sort()
  } catch (err) {
    throw new DomainError(
      `cannot read --cni-conf-dir ${dir}: ${codeOf(err)}; pass the directory install-cni writes to (CNI_NET_DIR, /etc/cni/net.d by default) and run as a user that may read it (root)`,
      { cause: err },
    )
  }
  const files: NodeFile[] = []
  for (const name of names.slice(0, MAX_NODE_FILES)) {
    if (name.startsWith('.')) continue
    const path = join(dir, name)
    const info = await stat(path).catch(() => undefined)
    if (!info?.isFile() || info.size > MAX_NODE_FILE_BYTES) continue
    files.push({ name, text: await readFile(path, 'utf8') })
  }
  return files
}

export interface WrittenFile {
  readonly name: string
  readonly path: string
  /** The copy of the original, under the backup directory. */
  readonly backup: string
}

/**
 * Backs up every file to change (under `backupDir`, 0600, never
 * overwriting a copy an earlier run made: that one holds the original), then
 * replaces each atomically: a temporary file in the same directory, with the
 * original's mode and owner, flushed to disk, renamed over it. A reader
 * (the CNI plugin) sees either the old file or the new one, never a mix.
 */
export async function rewriteNodeFiles(dir: string, writes: readonly NodeFileWrite[], backupDir: string): Promise<WrittenFile[]> {
  const written: WrittenFile[] = []
  const plans = writes.map((w) => ({ ...w, path: join(dir, w.name), backup: join(backupDir, w.name) }))
  for (const plan of plans) {
    const info = await lstat(plan.path).catch((err: unknown) => {
      throw new DomainError(`cannot read ${plan.path}: ${codeOf(err)}; nothing was changed`, { cause: err })
    })
    if (info.isSymbolicLink()) {
      throw new DomainError(`${plan.path} is a symbolic link, not the file install-cni writes; nothing was changed. Edit the file it points to by hand, or restart calico-node on this node`)
    }
  }
  await backUpNodeFiles(dir, plans.map((p) => p.name), backupDir)
  for (const plan of plans) {
    await replaceAtomically(plan.path, plan.newText)
    written.push({ name: plan.name, path: plan.path, backup: plan.backup })
  }
  return written
}

/**
 * Copies the named files of `dir` into `backupDir` (0700, copies 0600), with
 * zx's fs (fs-extra's copy): the file a name points to, its times kept (when
 * install-cni last wrote it is worth knowing when restoring). A copy an
 * earlier run made is kept: it holds the original. Throws DomainError when a
 * copy fails, before anything was changed.
 */
export async function backUpNodeFiles(dir: string, names: readonly string[], backupDir: string): Promise<string[]> {
  try {
    const fs = await loadFs()
    await fs.ensureDir(backupDir, { mode: 0o700 })
    for (const name of names) {
      const copy = join(backupDir, name)
      // overwrite: false: a rerun keeps the first copy, which is the original.
      await fs.copy(join(dir, name), copy, { overwrite: false, errorOnExist: false, dereference: true, preserveTimestamps: true })
      // The copy holds the old token: owner-only, like every backup.
      await fs.chmod(copy, 0o600)
    }
  } catch (err) {
    throw new DomainError(`cannot back up the CNI files to ${backupDir}: ${codeOf(err)}; nothing was changed. Pass --backup-dir <writable dir>`, { cause: err })
  }
  return names.map((name) => join(backupDir, name))
}

async function replaceAtomically(path: string, text: string): Promise<void> {
  const info = await stat(path)
  const temp = join(path, '..', `.${path.split('/').at(-1)}.ktr-tmp-${process.pid}`)
  try {
    const handle = await open(temp, 'w', info.mode & 0o7777)
    try {
      await handle.writeFile(text, 'utf8')
      await handle.sync()
    } finally {
      await handle.close()
    }
    if (process.getuid?.() === 0) await chown(temp, info.uid, info.gid)
    await rename(temp, path)
  } catch (err) {
    await rm(temp, { force: true })
    throw new DomainError(`cannot rewrite ${path}: ${codeOf(err)}; the file is unchanged (its backup is kept). Run as a user that may write it (root)`, { cause: err })
  }
}

function codeOf(err: unknown): string {
  return (err as NodeJS.ErrnoException)?.code ?? String(err)
}
