// restart-dependent-pods --kubelet-log against the real cluster: a kubelet
// log (written here, in the kubelet's own format, naming the cluster's real
// pods by name and UID) says two token Secrets are not found. One is really
// gone, one exists; a third, gone too, is an application's Secret. Only the
// one the API server confirms gone, a token Secret, puts its Deployment in
// the plan; the CNI Unauthorized line is reported, pointing at fix-calico.
// Without --kubelet-log nothing is planned (on kwok nodes the pods run, so no
// FailedMount event tells); with it, still nothing changes in a dry run.
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import type { V1Pod } from '@kubernetes/client-node'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createNamespace, createTokenSecret, deleteNamespace, useCluster, waitFor, type TestCluster } from './support/cluster.ts'
import { jsonOf, runRunbook, type CliResult } from './support/cli.ts'

interface Report {
  plan: { items: Array<{ action: string; owner: { kind: string; name: string }; pods: Array<{ reasons: Array<{ kind: string; source?: string; secret?: string }> }> }> } | null
  kubeletLog?: {
    source: string
    lines: number
    secrets: Array<{ secret: string; status: string; pods: string[] }>
    cniUnauthorized: { lines: number; plugins: string[]; advice: string } | null
  }
  steps: Array<{ id: string; outcome: string; summary: string }>
}

/** A klog header for `at`, as the kubelet writes it (its local time; the runbook reads it back as local time). */
function klog(severity: 'E' | 'I' | 'W', at: Date, file: string): string {
  const two = (n: number) => String(n).padStart(2, '0')
  const micros = `${String(at.getMilliseconds()).padStart(3, '0')}000`
  return `${severity}${two(at.getMonth() + 1)}${two(at.getDate())} ${two(at.getHours())}:${two(at.getMinutes())}:${two(at.getSeconds())}.${micros}    5776 ${file}]`
}

/** The two lines the kubelet (v1.36) writes each time it retries mounting a Secret volume that is gone. */
function missingSecretLines(at: Date, namespace: string, pod: V1Pod, volume: string, secret: string): string[] {
  const uid = pod.metadata!.uid!
  return [
    `${klog('E', at, 'secret.go:189')} Couldn't get secret ${namespace}/${secret}: secret "${secret}" not found`,
    `${klog('E', at, 'nestedpendingoperations.go:348')} Operation for "{volumeName:kubernetes.io/secret/${uid}-${volume} podName:${uid} nodeName:}" failed. ` +
      `No retries permitted until ${at.toISOString()} (durationBeforeRetry 2m2s). Error: MountVolume.SetUp failed for volume "${volume}" ` +
      `(UniqueName: "kubernetes.io/secret/${uid}-${volume}") pod "${pod.metadata!.name}" (UID: "${uid}") : secret "${secret}" not found`,
  ]
}

describe('restart-dependent-pods --kubelet-log', () => {
  let cluster: TestCluster
  let namespace: string
  let dir: string
  let logFile: string
  let logText: string
  const outputs: CliResult[] = []

  const restart = async (args: string[], input?: string) => {
    const result = await runRunbook('restart-dependent-pods', ['-n', namespace, '--backup-dir', join(dir, 'backup'), ...args], {
      kubeconfig: cluster.kubeconfigPath,
      ...(input !== undefined ? { input } : {}),
    })
    outputs.push(result)
    return result
  }
  const podOf = (app: string) =>
    waitFor(`a running pod of ${app}`, async () => {
      const pods = (await cluster.core.listNamespacedPod({ namespace, labelSelector: `app=${app}` })).items
      return pods.find((p) => p.status?.phase === 'Running' && p.metadata?.deletionTimestamp == null)
    })
  const resourceVersions = async () => {
    const [deployments, pods] = await Promise.all([cluster.apps.listNamespacedDeployment({ namespace }), cluster.core.listNamespacedPod({ namespace })])
    return [...deployments.items, ...pods.items].map((o) => `${o.kind ?? ''}${o.metadata?.name}@${o.metadata?.resourceVersion}`).sort()
  }

  beforeAll(async () => {
    cluster = await useCluster()
    namespace = await createNamespace(cluster.core, 'klog')
    dir = await mkdtemp(join(tmpdir(), 'ktr-kubelet-log-'))
    await cluster.core.createNamespacedServiceAccount({ namespace, body: { metadata: { name: 'app' } } })
    await createTokenSecret(cluster.core, namespace, 'app-token-ok123', 'app')
    // stuck: names a token Secret that is gone; fine: one that exists; config: an application Secret that is gone.
    const mounts: Record<string, string> = { stuck: 'app-token-x7k2p', fine: 'app-token-ok123', config: 'db-password' }
    for (const [app, secretName] of Object.entries(mounts)) {
      await cluster.apps.createNamespacedDeployment({
        namespace,
        body: {
          metadata: { name: app },
          spec: {
            replicas: 1,
            selector: { matchLabels: { app } },
            template: {
              metadata: { labels: { app } },
              spec: {
                serviceAccountName: 'app',
                containers: [{ name: 'app', image: 'busybox', command: ['sleep', 'infinity'], volumeMounts: [{ name: 'token', mountPath: '/var/run/token' }] }],
                volumes: [{ name: 'token', secret: { secretName } }],
              },
            },
          },
        },
      })
    }
    const [stuck, fine, config] = await Promise.all([podOf('stuck'), podOf('fine'), podOf('config')])
    const at = new Date()
    logText = [
      `${klog('I', at, 'kubelet.go:2466')} "SyncLoop ADD" source="api" pods=["${namespace}/${stuck.metadata!.name}"]`,
      ...missingSecretLines(at, namespace, stuck, 'token', 'app-token-x7k2p'),
      // The FailedMount of the Secret that exists: an old line (it was re-created since), or a lie; only the API decides.
      missingSecretLines(at, namespace, fine, 'token', 'app-token-ok123')[1]!,
      ...missingSecretLines(at, namespace, config, 'token', 'db-password'),
      `${klog('E', at, 'log.go:32')} "RunPodSandbox from runtime service failed" err="rpc error: code = Unknown desc = failed to setup network for sandbox \\"7a1b2c3d\\": ` +
        `plugin type=\\"calico\\" failed (add): error getting ClusterInformation: connection is unauthorized: Unauthorized"`,
      `${klog('I', at, 'flags.go:64')} FLAG: --authorization-webhook-cache-unauthorized-ttl="30s"`,
    ].join('\n')
    logFile = join(dir, 'kubelet.log')
    await writeFile(logFile, `${logText}\n`)
  }, 120_000)

  afterAll(async () => {
    if (cluster && namespace) await deleteNamespace(cluster.core, namespace)
    if (dir) await rm(dir, { recursive: true, force: true })
    for (const out of outputs) expect(out.stdout + out.stderr).not.toMatch(/eyJ[A-Za-z0-9_-]{10,}\.eyJ/)
  })

  it('without --kubelet-log: nothing to restart (the pods run on kwok nodes, no FailedMount event tells)', async () => {
    const result = await restart(['--dry-run', '-o', 'json'])
    expect(result.code, result.stderr).toBe(0)
    expect(jsonOf<Report>(result).plan?.items ?? []).toEqual([])
  })

  it('--kubelet-log FILE: plans the Deployment of the token Secret the API confirms gone, and only that; reports the rest and the CNI', async () => {
    const before = await resourceVersions()
    const result = await restart(['--kubelet-log', logFile, '--dry-run', '-o', 'json'])
    expect(result.code, result.stderr).toBe(0)
    const report = jsonOf<Report>(result)
    expect(report.kubeletLog?.source).toBe(logFile)
    expect(report.kubeletLog?.lines).toBe(logText.split('\n').length)
    const statuses = Object.fromEntries((report.kubeletLog?.secrets ?? []).map((s) => [s.secret, s.status]))
    expect(statuses).toEqual({
      [`${namespace}/app-token-x7k2p`]: 'missing',
      [`${namespace}/app-token-ok123`]: 'present',
      [`${namespace}/db-password`]: 'missing',
    })
    // Fail closed: the Secret that exists and the application Secret plan nothing.
    expect(report.plan?.items.map((i) => [`${i.owner.kind}/${i.owner.name}`, i.action])).toEqual([['Deployment/stuck', 'rollout-restart']])
    expect(report.plan?.items[0]?.pods[0]?.reasons).toEqual([expect.objectContaining({ kind: 'missing-secret', source: 'kubelet-log', secret: `${namespace}/app-token-x7k2p` })])
    // The by-hand equivalent, in the find step's commands.
    expect(result.stderr).toContain(`$ grep -E 'secrets? ".*" not found|Unauthorized' ${logFile}`)
    expect(report.kubeletLog?.cniUnauthorized).toMatchObject({ lines: 1, plugins: ['calico'], advice: expect.stringMatching(/restarting pods does not fix that; run fix-calico$/) })
    expect(result.stderr).toMatch(/warning: kubelet log: 1 kubelet log line shows the CNI plugin \(calico\) rejected as Unauthorized.*run fix-calico/)
    expect(await resourceVersions()).toEqual(before)
  })

  it('--kubelet-log - reads stdin; the text result says what each Secret is and what the CNI lines mean', async () => {
    const result = await restart(['--kubelet-log', '-', '--dry-run'], logText)
    expect(result.code, result.stderr).toBe(0)
    expect(result.stdout).toContain('Kubelet log (stdin):')
    expect(result.stdout).toContain(`Secret ${namespace}/app-token-x7k2p: missing: gone from the API server too (404)`)
    expect(result.stdout).toContain(`Secret ${namespace}/app-token-ok123: present: exists in the API server`)
    expect(result.stdout).toMatch(/Deployment\/stuck\s+rollout-restart/)
    expect(result.stdout).not.toMatch(/Deployment\/(fine|config)/)
    expect(result.stdout).toContain('CNI: 1 kubelet log line shows the CNI plugin (calico) rejected as Unauthorized')
  })

  it('--kubelet-log journal without journalctl: exit 2, one line naming the way out', async () => {
    const result = await runRunbook('restart-dependent-pods', ['-n', namespace, '--kubelet-log', 'journal', '--dry-run'], {
      kubeconfig: cluster.kubeconfigPath,
      env: { PATH: dirname(process.execPath) },
    })
    expect(result.code).toBe(2)
    expect(result.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^error: --kubelet-log journal needs journalctl, which is not on PATH; on a machine without journald pass the kubelet's log file/)])
  })
})
