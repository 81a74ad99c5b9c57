// Backups before every change: one JSON file per object, readable by the
// owner only, plus a manifest of what was written and when. A runbook calls
// `backup()` before it touches an object and gives up on that object if the
// write fails, so nothing is ever changed without a copy on disk.
import { mkdir, readFile, writeFile, rename, readdir } from 'node:fs/promises'
import { randomBytes } from 'node:crypto'
import { homedir } from 'node:os'
import { join } from 'node:path'
import { DomainError } from './errors.ts'

export interface BackedUpObject {
  kind: string
  namespace: string
  name: string
  uid?: string
  resourceVersion?: string
  file: string
  writtenAt: string
}

export interface BackupManifest {
  runbook: string
  createdAt: string
  cluster: string
  objects: BackedUpObject[]
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

export class Backup {
  private manifest: BackupManifest | undefined
  /** Saves run one at a time: the manifest is read, extended and rewritten by each. */
  private queue: Promise<unknown> = Promise.resolve()

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

  /** Writes `object` to <dir>/<kind>/<namespace>/<name>.json (0600) and records it; a second save of the same object keeps the first copy. */
  save(kind: string, object: KubeObject): Promise<BackedUpObject> {
    const saved = this.queue.then(() => this.saveNow(kind, object))
    this.queue = saved.catch(() => undefined)
    return saved
  }

  private async saveNow(kind: string, object: KubeObject): Promise<BackedUpObject> {
    const namespace = object.metadata?.namespace ?? '_cluster'
    const name = object.metadata?.name
    if (!name) throw new Error(`cannot back up a ${kind} without a name`)
    const folder = join(this.dir, kind.toLowerCase(), namespace)
    const file = join(folder, `${name}.json`)
    const manifest = await this.load()
    const existing = manifest.objects.find((o) => o.kind === kind && o.namespace === namespace && o.name === name)
    // A rerun after a crash must not overwrite the copy of the original with an already-changed object.
    if (existing) return existing
    try {
      await mkdir(folder, { recursive: true, mode: 0o700 })
      const { managedFields: _drop, ...metadata } = object.metadata ?? {}
      await writeAtomically(file, `${JSON.stringify({ ...object, kind, metadata }, null, 2)}\n`)
      const entry: BackedUpObject = {
        kind,
        namespace,
        name,
        ...(object.metadata?.uid ? { uid: object.metadata.uid } : {}),
        ...(object.metadata?.resourceVersion ? { resourceVersion: object.metadata.resourceVersion } : {}),
        file,
        writtenAt: this.now().toISOString(),
      }
      manifest.objects.push(entry)
      await writeAtomically(join(this.dir, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`)
      return entry
    } catch (err) {
      throw new DomainError(
        `cannot write the backup of ${kind} ${namespace}/${name} to ${this.dir}: ${(err as NodeJS.ErrnoException).code ?? String(err)}; nothing was changed. Free space or pass --backup-dir <writable dir>`,
        { cause: err },
      )
    }
  }

  async objects(): Promise<BackedUpObject[]> {
    return [...(await this.load()).objects]
  }

  private async load(): Promise<BackupManifest> {
    if (this.manifest) return this.manifest
    try {
      this.manifest = JSON.parse(await readFile(join(this.dir, 'manifest.json'), 'utf8')) as BackupManifest
    } catch {
      this.manifest = { runbook: this.runbook, createdAt: this.now().toISOString(), cluster: this.cluster, objects: [] }
    }
    return this.manifest
  }
}

/** Reads a backup directory's manifest and objects (for --restore). */
export async function readBackup(dir: string): Promise<{ manifest: BackupManifest; objects: Array<{ entry: BackedUpObject; object: unknown }> }> {
  let manifest: BackupManifest
  try {
    manifest = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')) as BackupManifest
  } catch {
    const hint = await readdir(dir).then(
      (names) => (names.length ? `it holds ${names.slice(0, 3).join(', ')}` : 'it is empty'),
      () => 'it does not exist',
    )
    throw new DomainError(`${dir} is not a backup (no manifest.json; ${hint}): pass the directory a runbook printed as its backup`)
  }
  const objects = await Promise.all(manifest.objects.map(async (entry) => ({ entry, object: JSON.parse(await readFile(entry.file, 'utf8')) as unknown })))
  return { manifest, objects }
}

async function writeAtomically(file: string, text: string): Promise<void> {
  const temp = `${file}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`
  await writeFile(temp, text, { mode: 0o600 })
  await rename(temp, file)
}
