// The runbooks as an operator at a terminal drives them (issue 15, item 7):
// a pseudo-terminal (util-linux `script`) gives the runbook a real TTY, each
// answer is typed only after its `Apply step` prompt appeared, and the output
// and the cluster are checked. Also Ctrl-C during a rollout wait, and the
// rerun after it, which waits for the rollout already under way instead of
// restarting the workload again (item 5). One abrupt key rotation serves
// every test; each test has a namespace of its own.
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import type * as k8s from '@kubernetes/client-node'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { REGENERATED_AT_ANNOTATION } from '../../lib/annotations.ts'
import { RESTARTED_AT_ANNOTATION } from '../../lib/workloads/restarted-at.ts'
import { createNamespace, createTokenSecret, deleteNamespace, useCluster, waitFor, type TestCluster } from './support/cluster.ts'
import { runRunbook, watchOutput, type CliResult } from './support/cli.ts'
import { runInTerminal } from './support/terminal.ts'

const root = join(import.meta.dirname, '..', '..')
const prompt = (index: number, total: number, step: string) => new RegExp(`Apply step ${index}/${total} \\(${step}\\)\\? \\[y\\]es / \\[s\\]kip / \\[q\\]uit: `)
const REASK = /Please answer y \(apply\), s \(skip this step and the steps that need it\) or q \(quit: stop here, exit 1\)\./

describe('at a terminal, and interrupted', () => {
  let cluster: TestCluster
  const namespaces: Record<'skip' | 'quit' | 'reask' | 'stop' | 'once', string> = { skip: '', quit: '', reask: '', stop: '', once: '' }

  /** The Secret's token and annotations, to prove a run changed nothing. */
  const secretState = async (namespace: string) => {
    const secret = await cluster.core.readNamespacedSecret({ namespace, name: 'app-token' })
    return JSON.stringify([secret.data?.token, secret.metadata?.annotations?.[REGENERATED_AT_ANNOTATION] ?? null])
  }
  const deployment = (namespace: string) => cluster.apps.readNamespacedDeployment({ namespace, name: 'web' })
  const replicaSets = async (namespace: string) => (await cluster.apps.listNamespacedReplicaSet({ namespace, labelSelector: 'app=web' })).items.length

  beforeAll(async () => {
    cluster = await useCluster()
    for (const key of Object.keys(namespaces) as Array<keyof typeof namespaces>) {
      const namespace = await createNamespace(cluster.core, `tty-${key}`)
      namespaces[key] = namespace
      await cluster.core.createNamespacedServiceAccount({ namespace, body: { metadata: { name: 'app' } } })
      await createTokenSecret(cluster.core, namespace, 'app-token', 'app')
    }
    // A rollout that cannot finish at once: a new pod becomes available only minReadySeconds after it is ready.
    for (const namespace of [namespaces.stop, namespaces.once]) {
      await cluster.apps.createNamespacedDeployment({ namespace, body: webDeployment(20) })
    }
    for (const namespace of [namespaces.stop, namespaces.once]) {
      await waitFor(`deployment web in ${namespace} available`, async () => ((await deployment(namespace)).status?.availableReplicas ?? 0) === 1, 90_000)
    }
    await cluster.handle.rotateServiceAccountKey({ keepOld: false })
  })
  afterAll(async () => {
    if (!cluster) return
    for (const namespace of Object.values(namespaces)) if (namespace) await deleteNamespace(cluster.core, namespace)
  })

  it('s at back-up-secrets skips regenerate-tokens too, changes nothing and exits 1', async () => {
    const namespace = namespaces.skip
    const before = await secretState(namespace)
    const run = await runInTerminal('regenerate-tokens', ['-n', namespace], cluster.kubeconfigPath, [{ after: prompt(2, 3, 'back-up-secrets'), send: 's\n' }])
    expect(run.code, run.output.slice(-3000)).toBe(1)
    expect(run.output).toMatch(/skipped because back-up-secrets was skipped/)
    expect(run.output).toMatch(/left undone: back-up-secrets, regenerate-tokens/)
    // Asked once: regenerate-tokens is not offered after its backup was skipped.
    expect(run.output).not.toMatch(/Apply step 3\/3/)
    expect(await secretState(namespace)).toBe(before)
  })

  it('q at the first prompt stops there: exit 1, nothing changed', async () => {
    const namespace = namespaces.quit
    const before = await secretState(namespace)
    const run = await runInTerminal('regenerate-tokens', ['-n', namespace], cluster.kubeconfigPath, [{ after: prompt(2, 3, 'back-up-secrets'), send: 'q\n' }])
    expect(run.code, run.output.slice(-3000)).toBe(1)
    expect(run.output).toMatch(/stopped at your request/)
    expect(run.output).toMatch(/left undone: back-up-secrets, regenerate-tokens/)
    expect(await secretState(namespace)).toBe(before)
  })

  it('n is not an answer: the prompt asks again, then s skips', async () => {
    const namespace = namespaces.reask
    const before = await secretState(namespace)
    const run = await runInTerminal('regenerate-tokens', ['-n', namespace], cluster.kubeconfigPath, [
      { after: prompt(2, 3, 'back-up-secrets'), send: 'n\n' },
      { after: new RegExp(`${REASK.source}\\s*${prompt(2, 3, 'back-up-secrets').source}`), send: 's\n' },
    ])
    expect(run.code, run.output.slice(-3000)).toBe(1)
    expect(run.output).toMatch(REASK)
    expect(run.output).toMatch(/skipped because back-up-secrets was skipped/)
    expect(await secretState(namespace)).toBe(before)
  })

  it('a namespace that does not exist is a usage error, exit 2, naming it', async () => {
    const result = await runRunbook('regenerate-tokens', ['-n', 'no-such-namespace', '--yes'], { kubeconfig: cluster.kubeconfigPath })
    expect(result.code).toBe(2)
    expect(result.stderr).toMatch(/namespace "no-such-namespace" does not exist/)
  })

  it('a dry run after the rotation predicts the restart the regeneration will cause (item 3)', async () => {
    const namespace = namespaces.once
    const result = await runRunbook('rotate-tokens', ['-n', namespace, '--skip-calico', '--dry-run'], { kubeconfig: cluster.kubeconfigPath })
    expect(result.code, result.stderr.slice(-3000)).toBe(0)
    expect(`${result.stdout}\n${result.stderr}`).toContain(`kubectl rollout restart deployment/web -n ${namespace}`)
  })

  it('Ctrl-C during a rollout wait: the wait finishes, no further step, exit 130, summary says interrupted', async () => {
    const namespace = namespaces.once
    await regenerate(namespace)
    const generation = (await deployment(namespace)).metadata!.generation!
    const run = await runUntil(namespace, async (child, seen) => {
      await restartedAtOf(namespace)
      await waitFor('the rollout wait', async () => /rollout-restart/.test(seen()))
      child.kill('SIGINT')
    })
    expect(run.code, run.stderr.slice(-3000)).toBe(130)
    expect(run.stderr).toMatch(/interrupt: finishing the current step, then stopping/)
    // The report (stdout): the restart finished, the check after it did not run.
    expect(run.stdout).toMatch(/1 workload restarted \(1 pod replaced\)/)
    expect(run.stdout).toMatch(/not run: interrupted \(rerun to continue\)/)
    expect(run.stderr).toMatch(/interrupted: stopped before step 4\/4 \(verify-dependents\); rerun the same command to continue/)
    expect(run.stdout).toMatch(/; interrupted; left undone: verify-dependents/)

    const again = await runRunbook('restart-dependent-pods', ['-n', namespace, '--yes'], { kubeconfig: cluster.kubeconfigPath })
    expect(again.code, again.stderr.slice(-3000)).toBe(0)
    expect(again.stdout).toMatch(/nothing to restart/)
    expect((await deployment(namespace)).metadata!.generation).toBe(generation + 1)
  })

  it('stopped at once mid-rollout, a rerun waits for that rollout instead of restarting again (item 5)', async () => {
    const namespace = namespaces.stop
    await regenerate(namespace)
    const generation = (await deployment(namespace)).metadata!.generation!
    let restartedAt = ''
    const run = await runUntil(namespace, async (child, seen) => {
      restartedAt = await restartedAtOf(namespace)
      await waitFor('the rollout wait', async () => /rollout-restart/.test(seen()))
      child.kill('SIGINT')
      await waitFor('the first interrupt to be seen', async () => /interrupt: finishing the current step/.test(seen()))
      child.kill('SIGINT')
    })
    expect(run.code, run.stderr.slice(-3000)).toBe(130)
    expect(run.stderr).toMatch(/interrupted again: stopping now; rerun the same command to continue/)
    // Stopped mid-rollout: an old pod is still there.
    expect(await replicaSets(namespace)).toBe(2)

    const again = await runRunbook('restart-dependent-pods', ['-n', namespace, '--yes', '--timeout', '120'], { kubeconfig: cluster.kubeconfigPath })
    expect(again.code, again.stderr.slice(-3000)).toBe(0)
    expect(again.stdout).toMatch(/1 rollout already restarted, to wait for/)
    expect(again.stdout).toContain(`kubectl rollout status deployment/web -n ${namespace}`)
    expect(again.stdout).toMatch(/1 rollout already restarted and waited for \(1 pod replaced\)/)
    expect(again.stdout).not.toMatch(/kubectl rollout restart/)
    // One restart in all: one template change, one new ReplicaSet, the first run's restartedAt.
    const after = await deployment(namespace)
    expect(after.metadata!.generation).toBe(generation + 1)
    expect(after.spec!.template.metadata!.annotations![RESTARTED_AT_ANNOTATION]).toBe(restartedAt)
    expect(await replicaSets(namespace)).toBe(2)
  })

  async function regenerate(namespace: string) {
    const result = await runRunbook('regenerate-tokens', ['-n', namespace, '--yes'], { kubeconfig: cluster.kubeconfigPath })
    expect(result.code, result.stderr.slice(-3000)).toBe(0)
  }

  /** The restart's annotation, once restart-dependent-pods has patched the template. */
  function restartedAtOf(namespace: string): Promise<string> {
    return waitFor('the restart patch', async () => (await deployment(namespace)).spec?.template.metadata?.annotations?.[RESTARTED_AT_ANNOTATION], 90_000)
  }

  /** Starts restart-dependent-pods --yes and hands it to `act` (which sends the signals); resolves when it exits. */
  async function runUntil(namespace: string, act: (child: ReturnType<typeof spawn>, stderr: () => string) => Promise<void>): Promise<CliResult> {
    const child = spawn(join(root, 'runbooks', 'restart-dependent-pods.ts'), ['-n', namespace, '--yes', '--timeout', '120'], {
      cwd: root,
      env: { ...process.env, KUBECONFIG: cluster.kubeconfigPath, NO_COLOR: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    const { seen, done } = watchOutput(child)
    try {
      await act(child, () => seen().stderr)
    } catch (err) {
      child.kill('SIGKILL')
      throw err
    }
    return done
  }
})

function webDeployment(minReadySeconds: number): k8s.V1Deployment {
  return {
    metadata: { name: 'web' },
    spec: {
      replicas: 1,
      minReadySeconds,
      selector: { matchLabels: { app: 'web' } },
      template: {
        metadata: { labels: { app: 'web' } },
        spec: { containers: [{ name: 'web', image: 'registry.k8s.io/pause:3.10', env: [{ name: 'T', valueFrom: { secretKeyRef: { name: 'app-token', key: 'token' } } }] }] },
      },
    },
  }
}
