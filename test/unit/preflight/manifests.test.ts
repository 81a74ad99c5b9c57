import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { loadAll } from 'js-yaml'
import { describe, expect, it } from 'vitest'
import { CLUSTER_ROLE, rbacManifests, SERVICE_ACCOUNT, DEPLOY_NAMESPACE } from '../../../lib/preflight/manifests.ts'
import { PERMISSIONS, rbacRules } from '../../../lib/preflight/permissions.ts'
import { deployDir } from '../../deploy/generate.ts'

type Doc = { kind: string; metadata: { name: string; namespace?: string }; rules?: unknown[]; spec?: unknown }
const docs = (text: string) => loadAll(text) as Doc[]

describe('deploy/ RBAC manifests', () => {
  it.each(Object.keys(rbacManifests()))('deploy/%s is up to date with the permission table (run `node test/deploy/generate.ts` if this fails)', async (name) => {
    expect(await readFile(join(deployDir, name), 'utf8')).toBe(rbacManifests()[name])
  })

  it('the ClusterRole grants exactly the table', () => {
    const role = docs(rbacManifests()['rbac.yaml']!).find((d) => d.kind === 'ClusterRole')
    expect(role?.metadata.name).toBe(CLUSTER_ROLE)
    expect(role?.rules).toEqual(rbacRules(PERMISSIONS))
  })

  it('the Job runs rotate-tokens as the ServiceAccount, in its namespace', async () => {
    const job = (docs(await readFile(join(deployDir, 'job.yaml'), 'utf8')) as Array<Doc & { spec: { template: { spec: { serviceAccountName: string; containers: Array<{ command: string[] }> } } } }>).find((d) => d.kind === 'Job')
    expect(job?.kind).toBe('Job')
    expect(job?.metadata.namespace).toBe(DEPLOY_NAMESPACE)
    expect(job?.spec.template.spec.serviceAccountName).toBe(SERVICE_ACCOUNT)
    expect(job?.spec.template.spec.containers[0]?.command.slice(0, 5)).toEqual(['kube-token-runbooks', 'rotate-tokens', '--yes', '-o', 'json'])
  })
})
