// restart-dependent-pods against the real cluster, on a scenario of its own:
// two Deployments (a Secret volume, an env secretKeyRef), a StatefulSet, a
// bare pod, an unrelated Deployment and a PDB. The Secrets are marked the way
// regenerate-tokens marks them (regenerated-at, after the pods started), so
// the test does not depend on that runbook. --dry-run changes nothing; --yes
// replaces exactly the dependent pods and refuses the bare pod (exit 1);
// --recreate-bare-pods re-creates it; a second run finds nothing to do.
import { mkdtemp, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { PatchStrategy, PolicyV1Api, setHeaderOptions, type V1Container, type V1Pod, type V1Volume } from '@kubernetes/client-node'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { REGENERATED_AT_ANNOTATION } from '../../lib/annotations.ts'
import { createNamespace, createTokenSecret, deleteNamespace, useCluster, waitFor, type TestCluster } from './support/cluster.ts'
import { jsonOf, runRunbook, type CliResult } from './support/cli.ts'
import { backedUpNames } from './support/backup.ts'

interface Report {
  plan: { items: Array<{ action: string; owner: { kind: string; name: string }; kubectl: string[]; pods: Array<{ pod: { name: string } }> }> } | null
  results: Array<{ workload: string; action: string; outcome: string }>
  steps: Array<{ id: string; outcome: string; summary: string }>
  exitCode: number
}

const APPS = ['web-volume', 'web-env', 'db', 'unrelated', 'lonely'] as const
type App = (typeof APPS)[number]

describe('restart-dependent-pods', () => {
  let cluster: TestCluster
  let namespace: string
  let backupDir: string
  const outputs: CliResult[] = []

  const restart = async (...args: string[]) => {
    const result = await runRunbook('restart-dependent-pods', ['-n', namespace, '--backup-dir', backupDir, '--timeout', '120', ...args], {
      kubeconfig: cluster.kubeconfigPath,
    })
    outputs.push(result)
    return result
  }

  const podsOf = async (app: App): Promise<V1Pod[]> => {
    const list = await cluster.core.listNamespacedPod({ namespace, labelSelector: `app=${app}` })
    return list.items.filter((p) => p.metadata?.deletionTimestamp == null)
  }
  const uids = async (): Promise<Record<App, string[]>> => {
    const entries = await Promise.all(APPS.map(async (app) => [app, (await podsOf(app)).map((p) => p.metadata!.uid!).sort()] as const))
    return Object.fromEntries(entries) as Record<App, string[]>
  }
  /** Every resourceVersion the runbook could touch: workloads, pods, Secrets. */
  const resourceVersions = async (): Promise<Record<string, string>> => {
    const [deployments, statefulSets, pods, secrets] = await Promise.all([
      cluster.apps.listNamespacedDeployment({ namespace }),
      cluster.apps.listNamespacedStatefulSet({ namespace }),
      cluster.core.listNamespacedPod({ namespace }),
      cluster.core.listNamespacedSecret({ namespace }),
    ])
    const versions: Record<string, string> = {}
    for (const [kind, items] of [
      ['deployment', deployments.items],
      ['statefulset', statefulSets.items],
      ['pod', pods.items],
      ['secret', secrets.items],
    ] as const) {
      for (const item of items) versions[`${kind}/${item.metadata?.name}`] = item.metadata?.resourceVersion ?? ''
    }
    return versions
  }
  const running = async (app: App, count: number) =>
    waitFor(`${count} running pod(s) of ${app}`, async () => {
      const pods = await podsOf(app)
      return pods.length === count && pods.every((p) => p.status?.phase === 'Running')
    })

  beforeAll(async () => {
    cluster = await useCluster()
    namespace = await createNamespace(cluster.core, 'restart')
    backupDir = await mkdtemp(join(tmpdir(), 'ktr-restart-backup-'))
    const { core, apps } = cluster

    for (const sa of ['alpha', 'beta', 'gamma', 'delta']) {
      await core.createNamespacedServiceAccount({ namespace, body: { metadata: { name: sa } } })
      await createTokenSecret(core, namespace, `${sa}-token`, sa)
    }
    const box = (extra: Partial<V1Container> = {}): V1Container => ({ name: 'app', image: 'busybox', command: ['sleep', 'infinity'], ...extra })
    const tokenVolume = (secretName: string): V1Volume => ({ name: 'token', secret: { secretName } })
    const template = (app: App, spec: { containers: V1Container[]; volumes?: V1Volume[] }) => ({ metadata: { labels: { app } }, spec })
    const deployment = (app: App, replicas: number, spec: { containers: V1Container[]; volumes?: V1Volume[] }) =>
      apps.createNamespacedDeployment({
        namespace,
        body: { metadata: { name: app }, spec: { replicas, selector: { matchLabels: { app } }, template: template(app, spec) } },
      })

    await deployment('web-volume', 2, { containers: [box({ volumeMounts: [{ name: 'token', mountPath: '/var/run/token' }] })], volumes: [tokenVolume('alpha-token')] })
    await deployment('web-env', 1, { containers: [box({ env: [{ name: 'TOKEN', valueFrom: { secretKeyRef: { name: 'beta-token', key: 'token' } } }] })] })
    await deployment('unrelated', 1, { containers: [box()] })
    await apps.createNamespacedStatefulSet({
      namespace,
      body: {
        metadata: { name: 'db' },
        spec: {
          replicas: 2,
          serviceName: 'db',
          selector: { matchLabels: { app: 'db' } },
          template: template('db', { containers: [box({ volumeMounts: [{ name: 'token', mountPath: '/var/run/token' }] })], volumes: [tokenVolume('gamma-token')] }),
        },
      },
    })
    await core.createNamespacedPod({
      namespace,
      body: {
        metadata: { name: 'lonely', labels: { app: 'lonely' } },
        spec: { containers: [box({ volumeMounts: [{ name: 'token', mountPath: '/var/run/token' }] })], volumes: [tokenVolume('delta-token')] },
      },
    })
    await cluster.kc.makeApiClient(PolicyV1Api).createNamespacedPodDisruptionBudget({
      namespace,
      body: { metadata: { name: 'web-volume' }, spec: { minAvailable: 1, selector: { matchLabels: { app: 'web-volume' } } } },
    })
    await Promise.all([running('web-volume', 2), running('web-env', 1), running('unrelated', 1), running('db', 2), running('lonely', 1)])
    await waitFor('StatefulSet db to report 2 ready pods', async () => ((await apps.readNamespacedStatefulSet({ namespace, name: 'db' })).status?.readyReplicas ?? 0) === 2)

    // What regenerate-tokens leaves behind: the time of regeneration, after every pod started
    // (start times have whole seconds, so let one go by).
    await sleep(1_100)
    const regeneratedAt = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z')
    for (const sa of ['alpha', 'beta', 'gamma', 'delta']) {
      await core.patchNamespacedSecret(
        { namespace, name: `${sa}-token`, body: { metadata: { annotations: { [REGENERATED_AT_ANNOTATION]: regeneratedAt } } } },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      )
    }
  })

  afterAll(async () => {
    if (cluster && namespace) await deleteNamespace(cluster.core, namespace)
    if (backupDir) await rm(backupDir, { recursive: true, force: true })
    // Leaked tokens would show up here; none of these runbooks prints one.
    for (const out of outputs) expect(out.stdout + out.stderr).not.toMatch(/eyJ[A-Za-z0-9_-]{10,}\.eyJ/)
  })

  it('--dry-run prints every owner, its pods and the kubectl commands, and changes no object', async () => {
    const before = await resourceVersions()
    const text = await restart('--dry-run')
    expect(text.code, text.stderr).toBe(0)
    for (const owner of ['Deployment/web-volume', 'Deployment/web-env', 'StatefulSet/db', 'Pod/lonely']) expect(text.stdout).toContain(owner)
    expect(text.stdout).not.toContain('unrelated')
    for (const resource of ['deployment/web-volume', 'deployment/web-env', 'statefulset/db']) {
      expect(text.stdout).toContain(`kubectl rollout restart ${resource} -n ${namespace}`)
    }
    expect(text.stdout).toContain('rerun with --recreate-bare-pods')
    expect(text.stdout).toContain('(dry run: nothing was changed)')

    const json = await restart('--dry-run', '-o', 'json')
    expect(json.code, json.stderr).toBe(0)
    const { plan, results } = jsonOf<Report>(json)
    const actions = Object.fromEntries(plan!.items.map((i) => [`${i.owner.kind}/${i.owner.name}`, i.action]))
    expect(actions).toEqual({
      'Deployment/web-volume': 'rollout-restart',
      'Deployment/web-env': 'rollout-restart',
      'StatefulSet/db': 'rollout-restart',
      'bare/lonely': 'refuse',
    })
    expect(results).toEqual([])
    expect(await resourceVersions()).toEqual(before)
    expect(await readdir(backupDir)).toEqual([])
  })

  it('--secret narrows the plan to the pods of that Secret', async () => {
    const result = await restart('--secret', `${namespace}/beta-token`, '--dry-run', '-o', 'json')
    expect(result.code, result.stderr).toBe(0)
    const { plan } = jsonOf<Report>(result)
    expect(plan!.items.map((i) => [`${i.owner.kind}/${i.owner.name}`, i.action])).toEqual([['Deployment/web-env', 'rollout-restart']])
  })

  it('--yes replaces exactly the dependent pods, refuses the bare pod and exits 1 saying how to go on', async () => {
    const before = await uids()
    const result = await restart('--yes', '-o', 'json')
    expect(result.code, result.stderr).toBe(1)
    const report = jsonOf<Report>(result)
    const outcomes = Object.fromEntries(report.results.map((r) => [r.workload, r.outcome]))
    expect(outcomes).toEqual({
      'Deployment/web-volume': 'restarted',
      'Deployment/web-env': 'restarted',
      'StatefulSet/db': 'restarted',
      'Pod/lonely': 'refused',
    })
    expect(report.steps.map((s) => [s.id, s.outcome])).toEqual([
      ['find-dependent-pods', 'done'],
      ['plan-restarts', 'done'],
      ['restart-workloads', 'applied'],
      ['verify-dependents', 'failed'],
    ])
    expect(report.steps[3]!.summary).toMatch(new RegExp(`1 pod may still hold an old token \\(1 bare pod refused\\).*: pod ${namespace}/lonely \\(.*\\): .*; rerun with --recreate-bare-pods`))

    const after = await uids()
    for (const app of ['web-volume', 'web-env', 'db'] as const) {
      expect(after[app], app).toHaveLength(before[app].length)
      expect(after[app].filter((uid) => before[app].includes(uid)), `${app} keeps none of its old pods`).toEqual([])
    }
    expect(after.unrelated).toEqual(before.unrelated)
    expect(after.lonely).toEqual(before.lonely)
    // Each workload was backed up before its restart.
    expect(await backedUpNames(backupDir, 'Deployment', namespace)).toEqual(['web-env', 'web-volume'])
    expect(await backedUpNames(backupDir, 'StatefulSet', namespace)).toEqual(['db'])
  })

  it('--yes --recreate-bare-pods re-creates the bare pod under its name, and restarts nothing else', async () => {
    const before = await uids()
    const result = await restart('--yes', '--recreate-bare-pods')
    expect(result.code, `${result.stdout}\n${result.stderr}`).toBe(0)
    expect(result.stdout).toMatch(/Pod\/lonely\s+recreate\s+recreated/)
    const after = await uids()
    expect(after.lonely).toHaveLength(1)
    expect(after.lonely[0]).not.toBe(before.lonely[0])
    for (const app of ['web-volume', 'web-env', 'db', 'unrelated'] as const) expect(after[app], app).toEqual(before[app])
    const lonely = await cluster.core.readNamespacedPod({ namespace, name: 'lonely' })
    expect(lonely.spec?.volumes?.find((v) => v.name === 'token')?.secret?.secretName).toBe('delta-token')
    expect(await backedUpNames(backupDir, 'Pod', namespace)).toEqual(['lonely'])
  })

  it('a second --yes finds nothing to do and changes nothing', async () => {
    const before = await resourceVersions()
    const result = await restart('--yes')
    expect(result.code, result.stderr).toBe(0)
    expect(result.stdout).toContain('nothing to restart')
    expect(result.stdout).toContain('Nothing to do: everything is already in order.')
    expect(await resourceVersions()).toEqual(before)
  })

  it('--bound-before now also plans the pods whose projected tokens predate it, the unrelated one included', async () => {
    const result = await restart('--bound-before', 'now', '--dry-run', '-o', 'json')
    expect(result.code, result.stderr).toBe(0)
    const { plan } = jsonOf<Report>(result)
    const owners = plan!.items.map((i) => `${i.owner.kind}/${i.owner.name}`)
    expect(owners).toEqual(expect.arrayContaining(['Deployment/unrelated', 'Deployment/web-volume', 'Deployment/web-env', 'StatefulSet/db', 'bare/lonely']))
    expect(result.stdout).toContain(`kubectl rollout restart deployment/unrelated -n ${namespace}`)
  })
})
