// Rewrites the generated RBAC manifests of deploy/ from the permission table
// (lib/preflight/permissions.ts). test/unit/preflight/manifests.test.ts fails
// when they drift.
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { rbacManifests } from '../../lib/preflight/manifests.ts'

export const deployDir = join(import.meta.dirname, '..', '..', 'deploy')

if (import.meta.main) {
  for (const [name, text] of Object.entries(rbacManifests())) {
    await writeFile(join(deployDir, name), text)
    process.stderr.write(`wrote ${join(deployDir, name)}\n`)
  }
}
