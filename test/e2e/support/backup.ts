// Where a backup keeps an object: read from its manifest, never guessed from
// the layout (one file per object version, paths relative to the backup).
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { BackupManifest } from '../../../lib/backup.ts'

/** The absolute path of the oldest copy of kind/namespace/name; throws when the backup has none. */
export async function backedUpFile(backupDir: string, kind: string, namespace: string, name: string): Promise<string> {
  const manifest = JSON.parse(await readFile(join(backupDir, 'manifest.json'), 'utf8')) as BackupManifest
  const entries = manifest.objects.filter((o) => o.kind.toLowerCase() === kind.toLowerCase() && o.namespace === namespace && o.name === name)
  const oldest = entries.sort((a, b) => a.writtenAt.localeCompare(b.writtenAt))[0]
  if (!oldest) throw new Error(`the backup ${backupDir} holds no ${kind} ${namespace}/${name}`)
  return join(backupDir, oldest.file)
}

/** The names of every object of `kind` in `namespace` that the backup holds. */
export async function backedUpNames(backupDir: string, kind: string, namespace: string): Promise<string[]> {
  const manifest = JSON.parse(await readFile(join(backupDir, 'manifest.json'), 'utf8')) as BackupManifest
  return [...new Set(manifest.objects.filter((o) => o.kind.toLowerCase() === kind.toLowerCase() && o.namespace === namespace).map((o) => o.name))].sort()
}
