// Pods on the local cluster's real node (a kubelet with containerd): where
// they go, what they run, and what their in-pod API calls returned.
//
// Every such pod runs the probe image (test/cluster/images) in a loop: one GET
// of the API server's /api per second with the token it has mounted, printing
// "<time> status=<code>" to its log, which the tests read through the API
// server (so the kubelet's log endpoint is exercised too).
import type * as k8s from '@kubernetes/client-node'
import { inject } from 'vitest'
import { REAL_NODE_IMAGES, REAL_NODE_LABEL, REAL_NODE_TAINT, type RealNodeInfo } from '../../cluster/real-node.ts'
import { waitFor } from './cluster.ts'

export { REAL_NODE_IMAGES }

export function realNode(): RealNodeInfo {
  return inject('cluster').realNode ?? { status: 'off', reason: 'the e2e global setup reported no real node' }
}

/** Title of a real-node suite: says why it does not run when it does not. */
export function realNodeSuiteTitle(title: string): string {
  const node = realNode()
  return node.status === 'up' ? title : `real-node tests not run (${node.reason}): ${title}`
}

export interface CallerOptions {
  /** A token Secret mounted at /var/run/ktr-token (the legacy way); without it, the projected token. */
  secret?: string
  serviceAccount?: string
}

/** A pod template that runs on the real node and calls the API server with its token every second. */
export function callerTemplate(app: string, opts: CallerOptions = {}): k8s.V1PodTemplateSpec {
  const node = realNode()
  if (node.status !== 'up') throw new Error(`no real node: ${node.reason}`)
  const tokenDir = opts.secret ? '/var/run/ktr-token' : '/var/run/secrets/kubernetes.io/serviceaccount'
  return {
    metadata: { labels: { app } },
    spec: {
      nodeSelector: { [REAL_NODE_LABEL]: 'true' },
      tolerations: [{ key: REAL_NODE_TAINT.key, operator: 'Exists', effect: REAL_NODE_TAINT.effect }],
      serviceAccountName: opts.serviceAccount ?? 'default',
      automountServiceAccountToken: !opts.secret,
      terminationGracePeriodSeconds: 1,
      containers: [
        {
          name: 'caller',
          image: REAL_NODE_IMAGES.probe,
          imagePullPolicy: 'Never',
          args: [
            'loop',
            `--url=${node.apiserverUrl}/api`,
            `--server-name=${node.apiserverServerName}`,
            `--token-file=${tokenDir}/token`,
            `--ca-file=${tokenDir}/ca.crt`,
            '--every=1s',
          ],
          ...(opts.secret ? { volumeMounts: [{ name: 'token', mountPath: tokenDir, readOnly: true }] } : {}),
        },
      ],
      ...(opts.secret ? { volumes: [{ name: 'token', secret: { secretName: opts.secret } }] } : {}),
    },
  }
}

export async function createCallerDeployment(apps: k8s.AppsV1Api, namespace: string, app: string, opts: CallerOptions = {}): Promise<void> {
  await apps.createNamespacedDeployment({
    namespace,
    body: { metadata: { name: app }, spec: { replicas: 1, selector: { matchLabels: { app } }, template: callerTemplate(app, opts) } },
  })
}

/** The one live (not terminating) pod of `app`. */
export async function livePod(core: k8s.CoreV1Api, namespace: string, app: string): Promise<k8s.V1Pod | undefined> {
  const pods = (await core.listNamespacedPod({ namespace, labelSelector: `app=${app}` })).items.filter((p) => !p.metadata?.deletionTimestamp)
  return pods.length === 1 ? pods[0] : undefined
}

export async function waitForRunningPod(core: k8s.CoreV1Api, namespace: string, app: string, notUid?: string, timeoutMs = 120_000): Promise<k8s.V1Pod> {
  return waitFor(
    `a Running pod of ${namespace}/${app} on the real node${notUid ? ' (a new one)' : ''}`,
    async () => {
      const pod = await livePod(core, namespace, app)
      return pod?.status?.phase === 'Running' && pod.metadata?.uid !== notUid ? pod : undefined
    },
    timeoutMs,
  )
}

export interface CallResult {
  at: Date
  status?: number
  error?: string
}

/** The in-pod calls the pod's log shows, oldest first. */
export async function callResults(core: k8s.CoreV1Api, namespace: string, pod: string): Promise<CallResult[]> {
  const log = await core.readNamespacedPodLog({ namespace, name: pod, container: 'caller', tailLines: 200 })
  const results: CallResult[] = []
  for (const line of String(log).split('\n')) {
    const m = /^(\S+) (?:status=(\d+)|error=(.*))$/.exec(line)
    if (m) results.push({ at: new Date(m[1]!), ...(m[2] ? { status: Number(m[2]) } : { error: m[3]! }) })
  }
  return results
}

/** Waits until a call made after `after` got one of `statuses`; returns it. */
export async function waitForCall(core: k8s.CoreV1Api, namespace: string, pod: string, statuses: number[], after: Date, timeoutMs = 60_000): Promise<CallResult> {
  let last: CallResult | undefined
  try {
    return await waitFor(
      `an in-pod call from ${namespace}/${pod} answered ${statuses.join(' or ')}`,
      async () => {
        const results = (await callResults(core, namespace, pod)).filter((r) => r.at.getTime() >= after.getTime() - 1000)
        last = results.at(-1) ?? last
        return results.find((r) => r.status !== undefined && statuses.includes(r.status))
      },
      timeoutMs,
    )
  } catch (err) {
    throw new Error(`${(err as Error).message}; the last call: ${JSON.stringify(last)}`, { cause: err })
  }
}
