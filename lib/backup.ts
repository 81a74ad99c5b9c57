// Backups before every change: one JSON file per object version, readable
// by the owner only, plus a manifest of what was written and when. A runbook
// calls `save()` before it touches an object and gives up on that object if
// the write fails, so nothing is ever changed without a copy on disk.
//
// Durability: each file is written to a temporary name, fsynced, renamed into
// place, and then its directory is fsynced, so after a crash or power loss a
// file the manifest names is complete, and a change the cluster kept has its
// backup on disk. The manifest is written the same way, after the file.
// Saves may run concurrently: object files are written a few at a time, and
// the manifest is rewritten once per batch of saves that arrived while the
// previous rewrite ran (a group commit), so 10,000 saves cost a handful of
// manifest writes, not 10,000 rewrites of a growing file. A save resolves
// only once a manifest naming its file is on disk.
//
// Versions: one entry per object version (UID + resourceVersion). A reused
// directory (a rerun after a crash) keeps the copy it already has of a
// version, so the ORIGINAL is never overwritten by an already-changed object,
// and a newer version gets an entry of its own. --restore picks the OLDEST
// entry of each object (the state before the first run touched it).
//
// Portability: the manifest names files relative to the backup directory, so
// a backup can be moved or copied and restored from anywhere.
import { lstat, mkdir, open, readdir, realpath, rename, rm, stat } from 'node:fs/promises'
import { randomBytes } from 'node:crypto'
import { homedir } from 'node:os'
import { dirname, isAbsolute, join, sep } from 'node:path'
import { MiB, readFileCapped, sizeText } from './capped-read.ts'
import { limiter, mapLimit } from './concurrency.ts'
import { DomainError } from './errors.ts'

export interface BackedUpObject {
  kind: string
  namespace: string
  name: string
  uid?: string
  resourceVersion?: string
  /** Relative to the backup directory, `/`-separated. */
  file: string
  writtenAt: string
}

/** 1: no `version` field, files named `<kind>/<namespace>/<name>.json` (read only). 2: one file per object version. */
export const MANIFEST_VERSION = 2

export interface BackupManifest {
  version: typeof MANIFEST_VERSION
  runbook: string
  createdAt: string
  cluster: string
  objects: BackedUpObject[]
}

declare const savedBrand: unique symbol
/**
 * Proof that this exact object version is on disk, fsynced: only
 * `Backup.save` makes one. Functions that change an object ask for it.
 */
export type SavedCopy = BackedUpObject & {
  /** The file's absolute path, for messages and by-hand recovery. */
  readonly path: string
  readonly [savedBrand]: true
}

/** The backup directory a saved copy is in. */
export function backupDirOf(saved: SavedCopy): string {
  const depth = saved.file.split('/').length
  let dir = saved.path
  for (let i = 0; i < depth; i++) dir = dirname(dir)
  return dir
}

/** Default: ~/.local/state/kube-token-runbooks/backups/<timestamp> (XDG state dir), never inside the repository. */
export function defaultBackupRoot(env: Readonly<Record<string, string | undefined>> = process.env): string {
  const state = env.XDG_STATE_HOME || join(homedir(), '.local', 'state')
  return join(state, 'kube-token-runbooks', 'backups')
}

export function timestampDirName(now: Date): string {
  return now.toISOString().replace(/[:.]/g, '-')
}

interface KubeObject {
  kind?: string
  metadata?: { namespace?: string; name?: string; uid?: string; resourceVersion?: string; managedFields?: unknown }
}

/** Object files written at a time: each costs two fsyncs; more would only queue in the kernel. */
const FILE_WRITES = 16

/** What identifies one saved version: kind, namespace, name, uid, resourceVersion. */
function versionKey(kind: string, namespace: string, name: string | undefined, uid: string | undefined, resourceVersion: string | undefined): string {
  return JSON.stringify([kind, namespace, name ?? '', uid ?? '', resourceVersion ?? ''])
}

const keyOfEntry = (o: BackedUpObject) => versionKey(o.kind, o.namespace, o.name, o.uid, o.resourceVersion)
const keyOfObject = (kind: string, object: KubeObject) => versionKey(kind, object.metadata?.namespace ?? '_cluster', object.metadata?.name, object.metadata?.uid, object.metadata?.resourceVersion)

/** True when `entry` is the copy of this very version of `object`. */
export function isCopyOf(entry: BackedUpObject, kind: string, object: KubeObject): boolean {
  const m = object.metadata ?? {}
  return entry.kind === kind && entry.namespace === (m.namespace ?? '_cluster') && entry.name === m.name && entry.uid === m.uid && entry.resourceVersion === m.resourceVersion
}

interface PendingEntry {
  readonly entry: BackedUpObject
  readonly resolve: () => void
  readonly reject: (err: unknown) => void
}

export class Backup {
  private manifest: BackupManifest | undefined
  /** The manifest's entries by version (versionKey). */
  private saved = new Map<string, BackedUpObject>()
  private prepared = false
  /** Saves of one version already under way: a second save of it waits for the first. */
  private readonly inFlight = new Map<string, Promise<SavedCopy>>()
  /** Entries whose files are on disk, for the next manifest write. */
  private pending: PendingEntry[] = []
  private flushing = false
  private readonly fileWrites = limiter(FILE_WRITES)

  readonly dir: string
  private readonly runbook: string
  private readonly cluster: string
  private readonly now: () => Date

  constructor(dir: string, runbook: string, cluster: string, now: () => Date = () => new Date()) {
    this.dir = dir
    this.runbook = runbook
    this.cluster = cluster
    this.now = now
  }

  /**
   * Writes `object` to <dir>/<kind>/<namespace>/<name>/<resourceVersion>-<uid>.json
   * (0600, fsynced) and records it. Saving a version that is already saved
   * returns its entry and writes nothing.
   */
  save(kind: string, object: KubeObject): Promise<SavedCopy> {
    const key = keyOfObject(kind, object)
    const running = this.inFlight.get(key)
    if (running) return running
    const saved = this.saveNow(kind, object, key).finally(() => this.inFlight.delete(key))
    this.inFlight.set(key, saved)
    return saved
  }

  /** The proof for this exact version of `object`, if it was saved (in this run or an earlier one into the same directory). */
  async savedCopyOf(kind: string, object: KubeObject): Promise<SavedCopy | undefined> {
    await this.load()
    const entry = this.saved.get(keyOfObject(kind, object))
    return entry ? this.proof(entry) : undefined
  }

  async objects(): Promise<BackedUpObject[]> {
    return [...(await this.load()).objects]
  }

  /**
   * Saves many objects as one batch: every file written and fsynced, then
   * each directory they went into fsynced once, then the manifest once.
   * `save` pays a directory fsync per file and a manifest rewrite per
   * group of saves; 10,000 Secrets saved one by one spent most of their
   * time there. Versions already saved are not written again. One failed
   * write fails the batch and records nothing of it.
   */
  async saveAll(kind: string, objects: readonly KubeObject[]): Promise<SavedCopy[]> {
    await this.prepare()
    await this.load()
    const dirs = new Set<string>()
    const written = new Map<string, Promise<BackedUpObject>>()
    const entries = await Promise.all(
      objects.map((object) => {
        const key = keyOfObject(kind, object)
        const existing = this.saved.get(key)
        if (existing) return existing
        let entry = written.get(key)
        if (!entry) written.set(key, (entry = this.writeCopy(kind, object, dirs)))
        return entry
      }),
    )
    const fresh = await Promise.all(written.values())
    try {
      await mapLimit([...dirs], FILE_WRITES, syncDir)
      await Promise.all(fresh.map((entry) => this.record(entry)))
    } catch (err) {
      throw new DomainError(`cannot write the backups of ${fresh.length} ${kind}(s) to ${this.dir}: ${(err as NodeJS.ErrnoException).code ?? String(err)}; nothing was changed. Free space or pass --backup-dir <writable dir>`, { cause: err })
    }
    return entries.map((entry) => this.proof(entry))
  }

  private proof(entry: BackedUpObject): SavedCopy {
    return { ...entry, path: join(this.dir, ...entry.file.split('/')) } as SavedCopy
  }

  private async saveNow(kind: string, object: KubeObject, key: string): Promise<SavedCopy> {
    const namespace = object.metadata?.namespace ?? '_cluster'
    const name = object.metadata?.name
    if (!name) throw new Error(`cannot back up a ${kind} without a name`)
    await this.prepare()
    await this.load()
    const existing = this.saved.get(key)
    if (existing) return this.proof(existing)
    const entry = await this.writeCopy(kind, object)
    try {
      await this.record(entry)
    } catch (err) {
      throw writeError(kind, namespace, name, this.dir, err)
    }
    return this.proof(entry)
  }

  /**
   * Writes one object's file, fsynced. Its directory entries are fsynced
   * too, or, given `dirs`, collected there for the caller to fsync once.
   */
  private async writeCopy(kind: string, object: KubeObject, dirs?: Set<string>): Promise<BackedUpObject> {
    const namespace = object.metadata?.namespace ?? '_cluster'
    const name = object.metadata?.name
    if (!name) throw new Error(`cannot back up a ${kind} without a name`)
    const { uid, resourceVersion } = object.metadata ?? {}
    const segments = [kind.toLowerCase(), namespace, name, `${resourceVersion ?? 'none'}-${uid ?? 'none'}.json`]
    if (segments.some((s) => !isSafeSegment(s))) throw new DomainError(`cannot back up ${kind} ${namespace}/${name}: its name cannot be a file name; nothing was changed`)
    try {
      await this.fileWrites(async () => {
        let folder = this.dir
        for (const segment of segments.slice(0, -1)) folder = await ensureDir(join(folder, segment), true, dirs)
        const { managedFields: _drop, ...metadata } = object.metadata ?? {}
        await writeDurably(join(folder, segments.at(-1)!), `${JSON.stringify({ ...object, kind, metadata }, null, 2)}\n`, dirs)
      })
    } catch (err) {
      throw writeError(kind, namespace, name, this.dir, err)
    }
    return {
      kind,
      namespace,
      name,
      ...(uid ? { uid } : {}),
      ...(resourceVersion ? { resourceVersion } : {}),
      file: segments.join('/'),
      writtenAt: this.now().toISOString(),
    }
  }

  /** Resolves once a manifest naming `entry` is on disk (see flush). */
  private record(entry: BackedUpObject): Promise<void> {
    return new Promise((resolve, reject) => {
      this.pending.push({ entry, resolve, reject })
      void this.flush()
    })
  }

  /**
   * The group commit: one writer at a time rewrites the manifest with every
   * entry pending when it starts; entries arriving meanwhile go in the next
   * rewrite. A failed write fails the saves of its batch, which may retry.
   */
  private async flush(): Promise<void> {
    if (this.flushing) return
    this.flushing = true
    try {
      while (this.pending.length > 0) {
        const batch = this.pending.splice(0)
        const current = await this.load()
        const next = { ...current, objects: [...current.objects, ...batch.map((p) => p.entry)] }
        try {
          await writeDurably(join(this.dir, 'manifest.json'), `${JSON.stringify(next, null, 2)}\n`)
        } catch (err) {
          for (const p of batch) p.reject(err)
          continue
        }
        this.manifest = next
        for (const p of batch) {
          this.saved.set(keyOfEntry(p.entry), p.entry)
          p.resolve()
        }
      }
    } finally {
      this.flushing = false
    }
  }

  /** Creates the directory (0700) or checks an existing one: a real directory, ours, owner-only. */
  private async prepare(): Promise<void> {
    if (this.prepared) return
    try {
      await ensureDir(this.dir)
    } catch (err) {
      if (err instanceof DomainError) throw err
      throw new DomainError(`cannot create the backup directory ${this.dir}: ${(err as NodeJS.ErrnoException).code ?? String(err)}; nothing was changed. Pass --backup-dir <writable dir>`, { cause: err })
    }
    await checkPrivateDir(this.dir)
    this.prepared = true
  }

  private async load(): Promise<BackupManifest> {
    if (this.manifest) return this.manifest
    const path = join(this.dir, 'manifest.json')
    let text: string | undefined
    try {
      text = await readManifestText(path)
    } catch (err) {
      if (err instanceof DomainError) throw err
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new DomainError(`cannot read the backup manifest ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}; fix its permissions or pass another --backup-dir`, { cause: err })
    }
    this.manifest = text === undefined ? { version: MANIFEST_VERSION, runbook: this.runbook, createdAt: this.now().toISOString(), cluster: this.cluster, objects: [] } : parseManifest(text, path)
    // The first copy of a version is the one kept (a rerun never overwrites the original).
    for (const entry of this.manifest.objects) if (!this.saved.has(keyOfEntry(entry))) this.saved.set(keyOfEntry(entry), entry)
    return this.manifest
  }
}

/**
 * Parses and checks a manifest. Anything it cannot trust stops the run with
 * one line: silently starting a fresh one would forget the earlier copies.
 */
export function parseManifest(text: string, path: string): BackupManifest {
  const fix = 'restore it from a copy, or pass another --backup-dir'
  let raw: unknown
  try {
    raw = JSON.parse(text)
  } catch {
    throw new DomainError(`backup manifest ${path} is corrupt (not JSON); ${fix}`)
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new DomainError(`backup manifest ${path} is corrupt (not an object); ${fix}`)
  const m = raw as Record<string, unknown>
  const version = m.version ?? 1
  if (version !== 1 && version !== MANIFEST_VERSION) {
    throw new DomainError(`backup manifest ${path} has version ${JSON.stringify(version)}, which this kube-token-runbooks does not know (it reads 1 and ${MANIFEST_VERSION}); use the version that wrote it, or pass another --backup-dir`)
  }
  if (!Array.isArray(m.objects)) throw new DomainError(`backup manifest ${path} is corrupt (no "objects" list); ${fix}`)
  const objects = m.objects.map((o: unknown, i): BackedUpObject => {
    const e = (o ?? {}) as Record<string, unknown>
    const str = (key: string) => (typeof e[key] === 'string' ? (e[key] as string) : undefined)
    const kind = str('kind')
    const namespace = str('namespace')
    const name = str('name')
    if (!kind || !namespace || !name || (version !== 1 && !str('file'))) throw new DomainError(`backup manifest ${path} is corrupt (entry ${i + 1} lacks kind, namespace, name or file); ${fix}`)
    return {
      kind,
      namespace,
      name,
      ...(str('uid') ? { uid: str('uid')! } : {}),
      ...(str('resourceVersion') ? { resourceVersion: str('resourceVersion')! } : {}),
      // Version 1 stored the path as it was typed at the time (absolute, or
      // relative to where the runbook ran): use its fixed layout instead.
      file: version === 1 ? `${kind.toLowerCase()}/${namespace}/${name}.json` : str('file')!,
      writtenAt: str('writtenAt') ?? '',
    }
  })
  return {
    version: MANIFEST_VERSION,
    runbook: typeof m.runbook === 'string' ? m.runbook : '',
    createdAt: typeof m.createdAt === 'string' ? m.createdAt : '',
    cluster: typeof m.cluster === 'string' ? m.cluster : '',
    objects,
  }
}

/** One backed-up object as read for --restore: its parsed JSON, or why it cannot be used. */
export interface ReadEntry {
  entry: BackedUpObject
  object?: unknown
  problem?: string
}

/** Backed-up objects are Kubernetes objects (≤ 1.5 MiB in etcd); a larger file is not one of ours. */
const MAX_OBJECT_BYTES = 3 * MiB

/** A manifest entry is ~250 bytes: 32 MiB holds 100k objects, far more than a run backs up. */
const MAX_MANIFEST_BYTES = 32 * MiB

/**
 * A manifest's text, read with the cap: a manifest.json that is /dev/zero, a
 * FIFO or a runaway file must stop --restore with one line, not fill memory.
 * Read errors are thrown as they are; "too large" is a DomainError naming it.
 */
async function readManifestText(path: string): Promise<string> {
  const bytes = await readFileCapped(path, MAX_MANIFEST_BYTES)
  if (bytes === undefined) {
    throw new DomainError(`backup manifest ${path} is larger than ${sizeText(MAX_MANIFEST_BYTES)}, far more than a backup's manifest holds; restore it from a copy, or pass another directory`)
  }
  return bytes.toString('utf8')
}

/**
 * Reads a backup directory's manifest and objects (for --restore). A manifest
 * it cannot trust stops the run; an entry whose file is outside the directory
 * (absolute, `..`, a symbolic link pointing out), missing or not JSON is
 * returned with its `problem`, so the restore can refuse it by name.
 */
export async function readBackup(dir: string): Promise<{ manifest: BackupManifest; objects: ReadEntry[] }> {
  const path = join(dir, 'manifest.json')
  let text: string
  try {
    text = await readManifestText(path)
  } catch (err) {
    if (err instanceof DomainError) throw err
    const hint = await readdir(dir).then(
      (names) => (names.length ? `it holds ${names.slice(0, 3).join(', ')}` : 'it is empty'),
      () => 'it does not exist',
    )
    throw new DomainError(`${dir} is not a backup (no manifest.json; ${hint}): pass the directory a runbook printed as its backup`)
  }
  const manifest = parseManifest(text, path)
  const root = await realpath(dir)
  const objects = await Promise.all(manifest.objects.map(async (entry): Promise<ReadEntry> => {
    const problem = await fileProblem(root, entry.file)
    if (problem) return { entry, problem }
    try {
      const bytes = await readFileCapped(join(root, ...entry.file.split('/')), MAX_OBJECT_BYTES)
      if (bytes === undefined) return { entry, problem: `its file ${entry.file} is larger than ${sizeText(MAX_OBJECT_BYTES)}, too large to be a backed-up object` }
      return { entry, object: JSON.parse(bytes.toString('utf8')) as unknown }
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code
      return { entry, problem: code ? `its file ${entry.file} cannot be read (${code})` : `its file ${entry.file} is not JSON` }
    }
  }))
  return { manifest, objects }
}

/** Why `file` (from a manifest) must not be read, or undefined when it is a file inside `root`. */
async function fileProblem(root: string, file: string): Promise<string | undefined> {
  if (isAbsolute(file) || /^[A-Za-z]:/.test(file) || file.split(/[\\/]/).some((s) => s === '..' || s === '')) {
    return `its file path ${JSON.stringify(file)} is not inside the backup directory (absolute or with ..)`
  }
  let real: string
  try {
    real = await realpath(join(root, ...file.split('/')))
  } catch (err) {
    return `its file ${file} cannot be read (${(err as NodeJS.ErrnoException).code ?? String(err)})`
  }
  if (!real.startsWith(root + sep)) return `its file ${file} is a symbolic link to ${real}, outside the backup directory`
  return undefined
}

function isSafeSegment(segment: string): boolean {
  return segment !== '' && segment !== '.' && segment !== '..' && !/[/\\\0]/.test(segment)
}

/** Refuses a backup directory others could read or swap files in. */
async function checkPrivateDir(dir: string): Promise<void> {
  const st = await lstat(dir)
  if (st.isSymbolicLink()) throw new DomainError(`backup directory ${dir} is a symbolic link; pass --backup-dir <the real directory>`)
  if (!st.isDirectory()) throw new DomainError(`backup path ${dir} is not a directory; pass --backup-dir <a directory>`)
  const uid = process.getuid?.()
  if (uid !== undefined && st.uid !== uid) throw new DomainError(`backup directory ${dir} belongs to another user (uid ${st.uid}); pass --backup-dir <a directory of your own>`)
  if ((st.mode & 0o077) !== 0) {
    throw new DomainError(`backup directory ${dir} is open to other users (mode ${(st.mode & 0o777).toString(8)}); run chmod 700 ${dir}, or pass another --backup-dir`)
  }
}

function writeError(kind: string, namespace: string, name: string, dir: string, err: unknown): DomainError {
  if (err instanceof DomainError) return err
  const code = (err as NodeJS.ErrnoException).code ?? String(err)
  return new DomainError(`cannot write the backup of ${kind} ${namespace}/${name} to ${dir}: ${code}; nothing was changed. Free space or pass --backup-dir <writable dir>`, { cause: err })
}

/**
 * mkdir -p with 0700 that fsyncs the parent of each directory it creates (so
 * the new entry survives a crash), or adds it to `syncLater`. `dir` itself
 * must not be a symbolic link; its parents (outside the backup) may be.
 */
async function ensureDir(dir: string, refuseLink = true, syncLater?: Set<string>): Promise<string> {
  const st = await lstat(dir).catch((err: NodeJS.ErrnoException) => (err.code === 'ENOENT' ? undefined : Promise.reject(err)))
  if (st) {
    if (st.isSymbolicLink() && refuseLink) throw new DomainError(`backup path ${dir} is a symbolic link; pass --backup-dir <a real directory>`)
    if (!(st.isSymbolicLink() ? await stat(dir) : st).isDirectory()) throw new DomainError(`backup path ${dir} is not a directory; pass --backup-dir <a directory>`)
    return dir
  }
  const parent = dirname(dir)
  if (parent !== dir) await ensureDir(parent, false, syncLater)
  try {
    await mkdir(dir, { mode: 0o700 })
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
    return ensureDir(dir, refuseLink, syncLater)
  }
  if (syncLater) syncLater.add(parent)
  else await syncDir(parent)
  return dir
}

async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r')
  try {
    await handle.sync()
  } finally {
    await handle.close()
  }
}

/** Temp file (O_EXCL, 0600) → fsync → rename → fsync the directory (or add it to `syncLater`). A failed write leaves the previous file as it was. */
async function writeDurably(file: string, text: string, syncLater?: Set<string>): Promise<void> {
  const temp = `${file}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`
  const handle = await open(temp, 'wx', 0o600)
  try {
    await handle.writeFile(text)
    await handle.sync()
  } catch (err) {
    await handle.close().catch(() => undefined)
    await rm(temp, { force: true })
    throw err
  }
  await handle.close()
  await rename(temp, file)
  if (syncLater) syncLater.add(dirname(file))
  else await syncDir(dirname(file))
}

/** The same object version (kind, namespace, name, uid, resourceVersion) is in both lists. */
export function sharesAVersion(a: readonly BackedUpObject[], b: readonly BackedUpObject[]): boolean {
  const key = (o: BackedUpObject) => JSON.stringify([o.kind, o.namespace, o.name, o.uid ?? '', o.resourceVersion ?? ''])
  const keys = new Set(a.map(key))
  return b.some((o) => keys.has(key(o)))
}

/**
 * Whether a backup directory beside the known ones belongs to the same repair:
 * of the same cluster, and either holding a version of an object a known one
 * holds (a run interrupted after its backup, whose rerun backed the same
 * Secret up again elsewhere) or an object in scope written since the repair
 * began (an earlier rerun's restarted workloads).
 */
export function isOfRepair(manifest: BackupManifest, repair: { cluster: string; objects: readonly BackedUpObject[]; since?: string; inScope: (namespace: string) => boolean }): boolean {
  if (manifest.cluster !== repair.cluster) return false
  if (sharesAVersion(repair.objects, manifest.objects)) return true
  const since = repair.since === undefined ? NaN : Date.parse(repair.since)
  return !Number.isNaN(since) && manifest.objects.some((o) => repair.inScope(o.namespace) && Date.parse(o.writtenAt) >= since)
}

/**
 * Every backup directory of one repair: `known` (this run's, and the ones the
 * regenerated Secrets name) that exist, plus the directories beside them
 * (same parent) that isOfRepair says belong to it. Directories without a
 * readable manifest are not backups of ours and are passed over.
 */
export async function backupDirsOfRepair(known: readonly string[], repair: { cluster: string; since?: string; inScope: (namespace: string) => boolean }): Promise<string[]> {
  const manifests = new Map<string, BackupManifest>()
  const manifestOf = async (dir: string): Promise<BackupManifest | undefined> => {
    if (manifests.has(dir)) return manifests.get(dir)
    const text = await readManifestText(join(dir, 'manifest.json')).catch(() => undefined)
    let manifest: BackupManifest | undefined
    try {
      manifest = text === undefined ? undefined : parseManifest(text, dir)
    } catch {
      manifest = undefined // corrupt: not one this report can vouch for
    }
    if (manifest) manifests.set(dir, manifest)
    return manifest
  }
  const found: string[] = []
  for (const dir of new Set(known)) if (await manifestOf(dir)) found.push(dir)
  const objects = (await Promise.all(found.map(manifestOf))).flatMap((m) => m?.objects ?? [])
  for (const parent of new Set(found.map((d) => dirname(d)))) {
    const names = await readdir(parent).catch(() => [] as string[])
    for (const name of names.sort()) {
      const dir = join(parent, name)
      if (found.includes(dir)) continue
      const manifest = await manifestOf(dir)
      if (manifest && isOfRepair(manifest, { ...repair, objects })) found.push(dir)
    }
  }
  return found.sort()
}
