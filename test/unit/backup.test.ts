import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { V1Secret } from '@kubernetes/client-node'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { Backup, backupDirsOfRepair, isOfRepair, MANIFEST_VERSION, parseManifest, readBackup, type BackupManifest } from '../../lib/backup.ts'
import { DomainError } from '../../lib/errors.ts'
import { makeSecret } from './helpers/objects.ts'

let root: string
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'ktr-backup-'))
})
afterEach(() => rmSync(root, { recursive: true, force: true }))

const NOW = () => new Date('2026-12-01T00:00:00Z')

function version(name: string, resourceVersion: string, token: string, uid = `uid-${name}`): V1Secret {
  const secret = makeSecret(name, { namespace: 'ns', token })
  secret.metadata = { ...secret.metadata, uid, resourceVersion, managedFields: [{ manager: 'kubectl' }] }
  return secret
}

const manifestOf = (dir: string) => JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as { version: number; objects: Array<{ file: string; resourceVersion?: string; uid?: string }> }

describe('Backup.save', () => {
  it('writes an owner-only file per object version and a manifest with paths relative to the directory', async () => {
    const dir = join(root, 'b')
    const saved = await new Backup(dir, 'regenerate-tokens', 'https://api', NOW).save('Secret', version('a', '100', 'old'))
    expect(saved.file).toBe('secret/ns/a/100-uid-a.json')
    expect(saved.path).toBe(join(dir, 'secret', 'ns', 'a', '100-uid-a.json'))
    const manifest = manifestOf(dir)
    expect(manifest.version).toBe(MANIFEST_VERSION)
    expect(manifest.objects).toEqual([expect.objectContaining({ kind: 'Secret', namespace: 'ns', name: 'a', uid: 'uid-a', resourceVersion: '100', file: 'secret/ns/a/100-uid-a.json' })])
    const copy = JSON.parse(readFileSync(saved.path, 'utf8')) as V1Secret
    expect(copy.metadata?.managedFields).toBeUndefined()
    expect(copy.data?.token).toBe(Buffer.from('old').toString('base64'))
    expect(statSync(saved.path).mode & 0o777).toBe(0o600)
    expect(statSync(dir).mode & 0o777).toBe(0o700)
    expect(statSync(join(dir, 'secret', 'ns')).mode & 0o777).toBe(0o700)
    expect(readdirSync(join(dir, 'secret', 'ns', 'a'))).toEqual(['100-uid-a.json']) // no temp files left
  })

  it('a rerun into the same directory keeps the ORIGINAL copy and adds the current version beside it', async () => {
    const dir = join(root, 'b')
    const first = await new Backup(dir, 'r', 'c', NOW).save('Secret', version('a', '100', 'original'))
    // A new process (rerun after a crash): the object was changed meanwhile.
    const again = new Backup(dir, 'r', 'c', NOW)
    const sameAgain = await again.save('Secret', version('a', '100', 'original'))
    const current = await again.save('Secret', version('a', '101', 'changed'))
    const recreated = await again.save('Secret', version('a', '102', 'other', 'uid-new'))
    expect(sameAgain.file).toBe(first.file)
    expect(manifestOf(dir).objects.map((o) => `${o.resourceVersion}/${o.uid}`)).toEqual(['100/uid-a', '101/uid-a', '102/uid-new'])
    expect((JSON.parse(readFileSync(first.path, 'utf8')) as V1Secret).data?.token).toBe(Buffer.from('original').toString('base64'))
    expect((JSON.parse(readFileSync(current.path, 'utf8')) as V1Secret).data?.token).toBe(Buffer.from('changed').toString('base64'))
    expect(recreated.uid).toBe('uid-new')
  })

  it('savedCopyOf finds only the exact version', async () => {
    const backup = new Backup(join(root, 'b'), 'r', 'c', NOW)
    await backup.save('Secret', version('a', '100', 't'))
    expect(await backup.savedCopyOf('Secret', version('a', '100', 't'))).toMatchObject({ resourceVersion: '100' })
    expect(await backup.savedCopyOf('Secret', version('a', '101', 't'))).toBeUndefined()
  })

  it('saves made concurrently all land in the manifest', async () => {
    const backup = new Backup(join(root, 'b'), 'r', 'c', NOW)
    await Promise.all(['a', 'b', 'c', 'd'].map((n) => backup.save('Secret', version(n, '1', 't'))))
    expect(manifestOf(join(root, 'b')).objects).toHaveLength(4)
  })

  it('a save resolves only once the manifest on disk names it, and a version saved twice at once is written once', async () => {
    const backup = new Backup(join(root, 'b'), 'r', 'c', NOW)
    const names = Array.from({ length: 60 }, (_, i) => `s${i}`)
    const saves = [...names, 's0', 's1'].map(async (n) => {
      const copy = await backup.save('Secret', version(n, '1', 't'))
      expect(manifestOf(join(root, 'b')).objects.map((o) => o.file)).toContainEqual(expect.stringContaining(`/${n}/`))
      return copy
    })
    const copies = await Promise.all(saves)
    expect(copies.at(-2)?.path).toBe(copies[0]?.path)
    expect(manifestOf(join(root, 'b')).objects).toHaveLength(60)
  })

  it('saveAll writes a batch with one manifest, skips versions already saved, and fails whole when a file cannot be written', async () => {
    const dir = join(root, 'b')
    const backup = new Backup(dir, 'r', 'c', NOW)
    await backup.save('Secret', version('s0', '1', 'first'))
    const batch = Array.from({ length: 40 }, (_, i) => version(`s${i}`, '1', `t${i}`))
    const copies = await backup.saveAll('Secret', [...batch, version('s1', '1', 't1')])
    expect(copies).toHaveLength(41)
    expect(copies[40]?.path).toBe(copies[1]?.path)
    expect(manifestOf(dir).objects).toHaveLength(40)
    // The copy saved before the batch is the one kept, not overwritten.
    expect((JSON.parse(readFileSync(copies[0]!.path, 'utf8')) as V1Secret).data?.token).toBe(Buffer.from('first').toString('base64'))
    expect((JSON.parse(readFileSync(copies[39]!.path, 'utf8')) as V1Secret).data?.token).toBe(Buffer.from('t39').toString('base64'))
    expect(readdirSync(join(dir, 'secret', 'ns', 's39'))).toEqual(['1-uid-s39.json'])

    // A directory in the way of one file: the batch fails with one line and records nothing of it.
    writeFileSync(join(dir, 'secret', 'ns', 'blocked'), '')
    const failing = backup.saveAll('Secret', [version('x1', '1', 't'), version('blocked', '1', 't')])
    await expect(failing).rejects.toThrow(/^backup path .*blocked is not a directory/)
    expect(manifestOf(dir).objects).toHaveLength(40)
    expect(await backup.savedCopyOf('Secret', version('x1', '1', 't'))).toBeUndefined()
  })

  it.each<[string, string, RegExp]>([
    ['bad JSON', '{"objects": [', /^backup manifest .*manifest\.json is corrupt \(not JSON\); restore it from a copy, or pass another --backup-dir$/],
    ['no objects', '{"runbook": "r"}', /is corrupt \(no "objects" list\)/],
    ['an unknown version', '{"version": 9, "objects": []}', /has version 9, which this kube-token-runbooks does not know/],
    ['an entry without a file', '{"version": 2, "objects": [{"kind": "Secret", "namespace": "ns", "name": "a"}]}', /entry 1 lacks kind, namespace, name or file/],
  ])('a manifest with %s stops the run with one line and is left as it was', async (_, text, message) => {
    const dir = join(root, 'b')
    mkdirSync(dir, { mode: 0o700 })
    writeFileSync(join(dir, 'manifest.json'), text)
    const save = new Backup(dir, 'r', 'c', NOW).save('Secret', version('a', '1', 't'))
    await expect(save).rejects.toThrow(DomainError)
    await expect(new Backup(dir, 'r', 'c', NOW).save('Secret', version('a', '1', 't'))).rejects.toThrow(message)
    expect(readFileSync(join(dir, 'manifest.json'), 'utf8')).toBe(text)
    expect(existsSync(join(dir, 'secret'))).toBe(false)
  })

  it('refuses a backup directory open to others, naming the fix', async () => {
    const dir = join(root, 'shared')
    mkdirSync(dir)
    chmodSync(dir, 0o777)
    await expect(new Backup(dir, 'r', 'c', NOW).save('Secret', version('a', '1', 't'))).rejects.toThrow(/is open to other users \(mode 777\); run chmod 700 .*shared, or pass another --backup-dir$/)
    expect(readdirSync(dir)).toEqual([])
  })

  it('refuses a backup directory that is a symbolic link', async () => {
    const real = join(root, 'real')
    mkdirSync(real, { mode: 0o700 })
    symlinkSync(real, join(root, 'link'))
    await expect(new Backup(join(root, 'link'), 'r', 'c', NOW).save('Secret', version('a', '1', 't'))).rejects.toThrow(/is a symbolic link; pass --backup-dir/)
    expect(readdirSync(real)).toEqual([])
  })

  it('refuses a symbolic link planted inside the backup directory', async () => {
    const dir = join(root, 'b')
    const elsewhere = join(root, 'elsewhere')
    mkdirSync(dir, { mode: 0o700 })
    mkdirSync(elsewhere)
    symlinkSync(elsewhere, join(dir, 'secret'))
    await expect(new Backup(dir, 'r', 'c', NOW).save('Secret', version('a', '1', 't'))).rejects.toThrow(/secret is a symbolic link/)
    expect(readdirSync(elsewhere)).toEqual([])
  })

  it('accepts a directory whose parent is a symbolic link (only the backup itself must be real)', async () => {
    const real = join(root, 'real')
    mkdirSync(real)
    symlinkSync(real, join(root, 'state'))
    await expect(new Backup(join(root, 'state', 'b'), 'r', 'c', NOW).save('Secret', version('a', '1', 't'))).resolves.toMatchObject({ name: 'a' })
  })
})

describe('readBackup', () => {
  it('reads a backup that was moved elsewhere (paths are relative)', async () => {
    const dir = join(root, 'b')
    await new Backup(dir, 'r', 'c', NOW).save('Secret', version('a', '100', 't'))
    const moved = join(root, 'moved')
    cpSync(dir, moved, { recursive: true })
    rmSync(dir, { recursive: true })
    const { objects } = await readBackup(moved)
    expect(objects).toHaveLength(1)
    expect(objects[0]?.problem).toBeUndefined()
    expect((objects[0]?.object as V1Secret).metadata?.name).toBe('a')
  })

  it('reads a version-1 manifest by its fixed layout, ignoring the path it stored', async () => {
    const dir = join(root, 'v1')
    mkdirSync(join(dir, 'secret', 'ns'), { recursive: true })
    writeFileSync(join(dir, 'secret', 'ns', 'a.json'), JSON.stringify(version('a', '1', 't')))
    writeFileSync(join(dir, 'manifest.json'), JSON.stringify({ runbook: 'r', createdAt: '', cluster: 'c', objects: [{ kind: 'Secret', namespace: 'ns', name: 'a', file: '/somewhere/else/a.json', writtenAt: '' }] }))
    const { objects } = await readBackup(dir)
    expect(objects[0]?.entry.file).toBe('secret/ns/a.json')
    expect(objects[0]?.object).toBeDefined()
  })

  it.each<[string, string, RegExp]>([
    ['an absolute path', '/etc/passwd', /not inside the backup directory \(absolute or with \.\.\)/],
    ['a path with ..', 'secret/../../outside.json', /not inside the backup directory/],
    ['a symbolic link pointing out', 'secret/ns/link.json', /is a symbolic link to .*outside\.json, outside the backup directory/],
    ['a missing file', 'secret/ns/missing.json', /cannot be read \(ENOENT\)/],
    ['a file that is not JSON', 'secret/ns/junk.json', /is not JSON/],
  ])('refuses an entry with %s, by name, without reading outside the directory', async (_, file, problem) => {
    const dir = join(root, 'b')
    mkdirSync(join(dir, 'secret', 'ns'), { recursive: true, mode: 0o700 })
    writeFileSync(join(root, 'outside.json'), JSON.stringify(version('a', '1', 't')))
    symlinkSync(join(root, 'outside.json'), join(dir, 'secret', 'ns', 'link.json'))
    writeFileSync(join(dir, 'secret', 'ns', 'junk.json'), 'root:x:0:0')
    writeFileSync(join(dir, 'manifest.json'), JSON.stringify({ version: 2, runbook: 'r', createdAt: '', cluster: 'c', objects: [{ kind: 'Secret', namespace: 'ns', name: 'a', file, writtenAt: '' }] }))
    const { objects } = await readBackup(dir)
    expect(objects[0]?.object).toBeUndefined()
    expect(objects[0]?.problem).toMatch(problem)
  })

  it('says what a directory without a manifest holds', async () => {
    mkdirSync(join(root, 'x'))
    writeFileSync(join(root, 'x', 'notes.txt'), '')
    await expect(readBackup(join(root, 'x'))).rejects.toThrow(/is not a backup \(no manifest\.json; it holds notes\.txt\)/)
  })
})

describe('parseManifest', () => {
  it('rejects a manifest that is not an object', () => {
    expect(() => parseManifest('[]', 'm.json')).toThrow(/corrupt \(not an object\)/)
  })
})

describe('the backup directories of one repair', () => {
  const entry = (name: string, resourceVersion: string, writtenAt = '2026-12-01T00:00:00.000Z', namespace = 'ns') => ({ kind: 'Secret', namespace, name, uid: `uid-${name}`, resourceVersion, file: `secret/${namespace}/${name}/${resourceVersion}.json`, writtenAt })
  const manifest = (objects: ReturnType<typeof entry>[], cluster = 'https://api'): BackupManifest => ({ version: MANIFEST_VERSION, runbook: 'rotate-tokens', createdAt: '', cluster, objects })
  const repair = { cluster: 'https://api', objects: [entry('a', '100')], inScope: (ns: string) => ns === 'ns' }

  it.each([
    ['the same object version: an interrupted run whose rerun backed it up again', manifest([entry('a', '100')]), repair, true],
    ['another version of the same object, written before the repair', manifest([entry('a', '99', '2026-11-01T00:00:00.000Z')]), { ...repair, since: '2026-11-30T00:00:00.000Z' }, false],
    ['an object in scope written since the repair began: an earlier rerun', manifest([entry('b', '5', '2026-11-30T01:00:00.000Z')]), { ...repair, since: '2026-11-30T00:00:00.000Z' }, true],
    ['written since, but outside the scope', manifest([entry('b', '5', '2026-11-30T01:00:00.000Z', 'other')]), { ...repair, since: '2026-11-30T00:00:00.000Z' }, false],
    ['another cluster', manifest([entry('a', '100')], 'https://elsewhere'), repair, false],
  ])('%s', (_what, m, r, expected) => {
    expect(isOfRepair(m, r)).toBe(expected)
  })

  it('finds the known directories that exist, and the ones beside them of the same repair', async () => {
    const first = join(root, 'first')
    const second = join(root, 'second')
    const unrelated = join(root, 'unrelated')
    await new Backup(first, 'rotate-tokens', 'https://api', NOW).save('Secret', version('a', '100', 'old'))
    await new Backup(second, 'rotate-tokens', 'https://api', NOW).save('Secret', version('a', '100', 'old'))
    await new Backup(unrelated, 'rotate-tokens', 'https://api', NOW).save('Secret', version('z', '7', 'other'))
    mkdirSync(join(root, 'not-a-backup'))
    const found = await backupDirsOfRepair([second, join(root, 'never-written')], { cluster: 'https://api', inScope: () => true })
    expect(found).toEqual([first, second])
  })
})
