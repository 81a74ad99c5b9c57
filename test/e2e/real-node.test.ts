// The origin story on a real kubelet (the local cluster's real node): what
// only a kubelet shows, each scenario in a namespace of its own.
//  - A pod's mounted legacy token gets 401 from inside the pod after an abrupt
//    key rotation; rotate-tokens --yes -A repairs it and the new pod gets in.
//  - The 2018 trap: the token Secret is deleted, the re-created pod hangs in
//    ContainerCreating with the kubelet's FailedMount events;
//    restart-dependent-pods finds it from those events, and once the Secret
//    is back (regenerate-tokens then issues a current token) the pod runs.
//  - Projected tokens: rejected after the rotation until restart-dependent-pods
//    --bound-before replaces the pod.
// Without a real node (KTR_REAL_NODE=0, a host that cannot run one, or another
// provider) the suite is skipped under a title that says why.
import { randomBytes } from 'node:crypto'
import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createNamespace, createTokenSecret, deleteNamespace, useCluster, waitFor, waitForOtherTestNamespacesGone, type TestCluster } from './support/cluster.ts'
import { jsonOf, runRunbook } from './support/cli.ts'
import { callResults, createCallerDeployment, livePod, realNode, realNodeSuiteTitle, waitForCall, waitForRunningPod } from './support/real-node.ts'

const AUTHENTICATED = [200, 403]
const log = (line: string) => process.stderr.write(`real-node: ${line}\n`)

interface DependentsReport {
  plan: { items: Array<{ action: string; owner: { kind: string; name: string }; pods: Array<{ pod: { name: string }; reasons: Array<{ kind: string; secret?: string; source?: string; message?: string }> }> }> } | null
}

describe.skipIf(realNode().status !== 'up')(realNodeSuiteTitle('on the real node'), () => {
  let cluster: TestCluster
  let scratch: string
  const namespaces: string[] = []

  beforeAll(async () => {
    cluster = await useCluster()
    scratch = await mkdtemp(join(tmpdir(), 'ktr-real-node-'))
  })
  afterAll(async () => {
    for (const namespace of namespaces) if (cluster) await deleteNamespace(cluster.core, namespace)
  })

  const newNamespace = async (prefix: string) => {
    const namespace = await createNamespace(cluster.core, prefix)
    namespaces.push(namespace)
    return namespace
  }

  it('the node is a kubelet that registered itself, Ready and tainted', async () => {
    const node = realNode()
    if (node.status !== 'up') throw new Error(node.reason)
    const n = await cluster.core.readNode({ name: node.name })
    expect(n.status?.nodeInfo?.kubeletVersion).toMatch(/^v1\./)
    expect(n.status?.nodeInfo?.containerRuntimeVersion).toMatch(/^containerd:\/\/2\./)
    expect(n.spec?.taints?.map((t) => t.key)).toContain('ktr.dev/real-node')
    log(`${node.name}: kubelet ${n.status?.nodeInfo?.kubeletVersion}, ${n.status?.nodeInfo?.containerRuntimeVersion}, ${n.status?.addresses?.map((a) => `${a.type}=${a.address}`).join(' ')}`)
  })

  it('a mounted legacy token gets 401 in the pod after an abrupt rotation; rotate-tokens --yes -A gets the new pod back in', async () => {
    const namespace = await newNamespace('rn-legacy')
    await cluster.core.createNamespacedServiceAccount({ namespace, body: { metadata: { name: 'app' } } })
    await createTokenSecret(cluster.core, namespace, 'app-token', 'app')
    await createCallerDeployment(cluster.apps, namespace, 'caller', { secret: 'app-token', serviceAccount: 'app' })
    const pod = await waitForRunningPod(cluster.core, namespace, 'caller')
    const before = await waitForCall(cluster.core, namespace, pod.metadata!.name!, AUTHENTICATED, new Date(0))
    log(`before the rotation: ${pod.metadata!.name} got ${before.status}`)

    await cluster.handle.rotateServiceAccountKey({ keepOld: false })
    const rotated = new Date()
    const after = await waitForCall(cluster.core, namespace, pod.metadata!.name!, [401], rotated)
    log(`after the rotation: the same pod got ${after.status}`)

    await waitForOtherTestNamespacesGone(cluster.core, namespaces)
    // The key change dated, so pods whose projected tokens predate it are restarted too instead of left for a person.
    const result = await runRunbook('rotate-tokens', ['--yes', '-A', '--bound-before', rotated.toISOString(), '--backup-dir', join(scratch, 'legacy-backup'), '--report-dir', scratch], {
      kubeconfig: cluster.kubeconfigPath,
    })
    expect(result.code, result.stdout.slice(-3000) + result.stderr.slice(-3000)).toBe(0)
    const fresh = await waitForRunningPod(cluster.core, namespace, 'caller', pod.metadata!.uid!)
    const repaired = await waitForCall(cluster.core, namespace, fresh.metadata!.name!, AUTHENTICATED, new Date(0))
    log(`after rotate-tokens: the new pod ${fresh.metadata!.name} got ${repaired.status}`)
    expect(AUTHENTICATED).toContain(repaired.status)
  })

  it('the 2018 trap: a deleted token Secret leaves the pod in ContainerCreating, found from the kubelet\'s FailedMount events', async () => {
    const namespace = await newNamespace('rn-trap')
    // Named like the Secrets the tokens controller generated before 1.24 (<sa>-token-<5 chars>),
    // the ones whose deletion set the trap: restart-dependent-pods counts only such missing Secrets as tokens.
    const secret = `legacy-token-${randomBytes(5).toString('hex').slice(0, 5)}`
    await cluster.core.createNamespacedServiceAccount({ namespace, body: { metadata: { name: 'legacy' } } })
    await createTokenSecret(cluster.core, namespace, secret, 'legacy')
    await createCallerDeployment(cluster.apps, namespace, 'mounter', { secret, serviceAccount: 'legacy' })
    const first = await waitForRunningPod(cluster.core, namespace, 'mounter')

    // The operator deletes the token Secret, and the pod is re-created (a node reboot, a rollout...).
    await cluster.core.deleteNamespacedSecret({ namespace, name: secret })
    await cluster.core.deleteNamespacedPod({ namespace, name: first.metadata!.name! })
    const stuck = await waitFor('the new pod of mounter', async () => {
      const pod = await livePod(cluster.core, namespace, 'mounter')
      return pod && pod.metadata?.uid !== first.metadata?.uid && pod.spec?.nodeName ? pod : undefined
    })
    const event = await waitFor(
      `the kubelet's FailedMount event for ${stuck.metadata!.name}`,
      async () => {
        const events = await cluster.core.listNamespacedEvent({ namespace, fieldSelector: `involvedObject.name=${stuck.metadata!.name},reason=FailedMount` })
        return events.items.find((e) => e.source?.component === 'kubelet' || e.reportingComponent === 'kubelet')
      },
      90_000,
    )
    log(`FailedMount from ${event.source?.component ?? event.reportingComponent} on ${event.source?.host ?? event.reportingInstance}: ${event.message}`)
    expect(event.message).toContain(`secret "${secret}" not found`)
    const waiting = (await cluster.core.readNamespacedPod({ namespace, name: stuck.metadata!.name! })).status
    expect(waiting?.phase).toBe('Pending')
    expect(waiting?.containerStatuses?.[0]?.state?.waiting?.reason ?? 'ContainerCreating').toBe('ContainerCreating')

    // restart-dependent-pods finds it from the events alone.
    const plan = await runRunbook('restart-dependent-pods', ['-n', namespace, '--dry-run', '-o', 'json'], { kubeconfig: cluster.kubeconfigPath })
    expect(plan.code, plan.stderr.slice(-2000)).toBe(0)
    const items = jsonOf<DependentsReport>(plan).plan?.items ?? []
    const reasons = items.flatMap((i) => i.pods.filter((p) => p.pod.name === stuck.metadata!.name).flatMap((p) => p.reasons))
    expect(reasons).toContainEqual(expect.objectContaining({ kind: 'missing-secret', secret: `${namespace}/${secret}`, source: 'event' }))
    expect(items.map((i) => `${i.action} ${i.owner.kind}/${i.owner.name}`)).toContain('rollout-restart Deployment/mounter')

    // The Secret comes back under its name; regenerate-tokens makes sure its token is current.
    await createTokenSecret(cluster.core, namespace, secret, 'legacy')
    const regenerate = await runRunbook('regenerate-tokens', ['-n', namespace, '--yes', '--backup-dir', join(scratch, 'trap-backup')], { kubeconfig: cluster.kubeconfigPath })
    expect(regenerate.code, regenerate.stderr.slice(-2000)).toBe(0)
    const restart = await runRunbook('restart-dependent-pods', ['-n', namespace, '--yes', '--timeout', '150', '--backup-dir', join(scratch, 'trap-restart')], {
      kubeconfig: cluster.kubeconfigPath,
      timeoutMs: 175_000,
    })
    expect(restart.code, restart.stdout.slice(-2000) + restart.stderr.slice(-2000)).toBe(0)
    const running = await waitForRunningPod(cluster.core, namespace, 'mounter')
    const call = await waitForCall(cluster.core, namespace, running.metadata!.name!, AUTHENTICATED, new Date(0))
    log(`after the Secret is back and restart-dependent-pods: ${running.metadata!.name} is Running and got ${call.status}`)
  })

  it('a projected token is rejected after the rotation until restart-dependent-pods --bound-before replaces the pod', async () => {
    const namespace = await newNamespace('rn-bound')
    await createCallerDeployment(cluster.apps, namespace, 'bound')
    const pod = await waitForRunningPod(cluster.core, namespace, 'bound')
    expect(AUTHENTICATED).toContain((await waitForCall(cluster.core, namespace, pod.metadata!.name!, AUTHENTICATED, new Date(0))).status)

    await cluster.handle.rotateServiceAccountKey({ keepOld: false })
    const rotated = new Date()
    await waitForCall(cluster.core, namespace, pod.metadata!.name!, [401], rotated)
    // Still rejected a while later: the kubelet refreshes the token only at 80% of its lifetime.
    const later = new Date(Date.now() + 5000)
    await waitFor('5 more seconds of in-pod calls', async () => Date.now() > later.getTime() + 2000)
    const since = (await callResults(cluster.core, namespace, pod.metadata!.name!)).filter((r) => r.at >= later && r.status !== undefined)
    expect(since.map((r) => r.status)).not.toContain(200)
    expect(since.length).toBeGreaterThan(0)

    const restart = await runRunbook('restart-dependent-pods', ['-n', namespace, '--bound-before', 'now', '--yes', '--timeout', '150', '--backup-dir', join(scratch, 'bound-restart')], {
      kubeconfig: cluster.kubeconfigPath,
      timeoutMs: 175_000,
    })
    expect(restart.code, restart.stdout.slice(-2000) + restart.stderr.slice(-2000)).toBe(0)
    const fresh = await waitForRunningPod(cluster.core, namespace, 'bound', pod.metadata!.uid!)
    const call = await waitForCall(cluster.core, namespace, fresh.metadata!.name!, AUTHENTICATED, new Date(0))
    log(`projected token: 401 after the rotation; the replaced pod ${fresh.metadata!.name} got ${call.status}`)
  })
})
