// The cluster side of fix-calico: read what detectCalico needs from
// kube-system and calico-system, patch the CNI config template, read a
// node's CNI files through its calico-node pod (exec), restart calico-node
// and wait for new pods on every node, and probe each node with a pod of its
// own. Decisions live in lib/calico (pure); this module reads, writes, waits.
import { Writable } from 'node:stream'
import type * as k8s from '@kubernetes/client-node'
import { isReady, isTerminating } from '../calico/daemonset.ts'
import { probePod, PROBE_LABEL, ProbeOutcome, type ProbeResult } from '../calico/probe.ts'
import { CALICO_NAMESPACES, CALICO_NODE, type CalicoObjects } from '../calico/detect.ts'
import type { NodeFile } from '../calico/node-files.ts'
import { messageOf } from '../engine/failure.ts'
import { kubectlCommand } from '../engine/kubectl.ts'
import { createTicker, waitWithProgress, withDeadline } from '../wait.ts'
import { DomainError } from '../errors.ts'
import type { Output } from '../output.ts'
import { RESTARTED_AT_ANNOTATION, restartPatch, restartedAtValue } from '../workloads/restarted-at.ts'
import { daemonSetRolloutStatus, podsRemaining } from '../workloads/rollout.ts'
import { isNotFound, PatchType, statusOf, type Kube } from './clients.ts'
import { listAll } from './list.ts'

/** On the CNI config ConfigMap: when fix-calico last replaced a token in it (RFC 3339). calico-node pods started before it rendered the old config. */
export const CNI_CONFIG_FIXED_AT_ANNOTATION = 'kube-token-runbooks.io/cni-config-fixed-at'

// ---------------------------------------------------------------------------
// Detection input

// The ConfigMaps install-cni reads by default; a DaemonSet may name others (configMapKeyRef).
const DEFAULT_CONFIG_MAPS = ['calico-config', 'cni-config'] as const

/**
 * The DaemonSets and ServiceAccounts of kube-system and calico-system, and
 * the ConfigMaps their calico-node DaemonSet reads the CNI config from (by
 * name: a kube-system full of ConfigMaps is not listed whole).
 */
export async function listCalicoObjects(kube: Kube): Promise<CalicoObjects> {
  const namespaces = Object.values(CALICO_NAMESPACES)
  const perNamespace = await Promise.all(
    namespaces.map(async (namespace) => {
      const [daemonSets, serviceAccounts] = await Promise.all([
        listAll((page) => kube.apps.listNamespacedDaemonSet({ namespace, ...page })),
        listAll((page) => kube.core.listNamespacedServiceAccount({ namespace, ...page })),
      ])
      const node = daemonSets.find((ds) => ds.metadata?.name === CALICO_NODE)
      const names = new Set<string>([...DEFAULT_CONFIG_MAPS, ...configMapRefs(node)])
      const configMaps = (await Promise.all([...names].map((name) => readConfigMap(kube, namespace, name)))).filter(
        (cm): cm is k8s.V1ConfigMap => cm !== undefined,
      )
      return { daemonSets, serviceAccounts, configMaps }
    }),
  )
  return {
    daemonSets: perNamespace.flatMap((n) => n.daemonSets),
    serviceAccounts: perNamespace.flatMap((n) => n.serviceAccounts),
    configMaps: perNamespace.flatMap((n) => n.configMaps),
  }
}

function configMapRefs(ds: k8s.V1DaemonSet | undefined): string[] {
  const spec = ds?.spec?.template?.spec
  const containers = [...(spec?.initContainers ?? []), ...(spec?.containers ?? [])]
  return containers.flatMap((c) => (c.env ?? []).map((e) => e.valueFrom?.configMapKeyRef?.name).filter((n): n is string => Boolean(n)))
}

export async function readConfigMap(kube: Kube, namespace: string, name: string): Promise<k8s.V1ConfigMap | undefined> {
  try {
    return await kube.core.readNamespacedConfigMap({ namespace, name })
  } catch (err) {
    if (isNotFound(err)) return undefined
    throw err
  }
}

export async function readDaemonSet(kube: Kube, namespace: string, name: string): Promise<k8s.V1DaemonSet> {
  try {
    return await kube.apps.readNamespacedDaemonSet({ namespace, name })
  } catch (err) {
    if (isNotFound(err)) throw new DomainError(`DaemonSet ${namespace}/${name} is gone (404): it was deleted since detection; rerun to detect Calico again`, { cause: err })
    throw err
  }
}

// ---------------------------------------------------------------------------
// The CNI config template

/** A JSON-pointer segment: `~` → `~0`, `/` → `~1`. */
const pointer = (segment: string) => segment.replaceAll('~', '~0').replaceAll('/', '~1')

/**
 * Replaces `data[key]` of the ConfigMap with `newText`, guarded by a JSON
 * patch `test` of the text we read (someone else's edit in between is left
 * alone: 'already-changed'), and stamps CNI_CONFIG_FIXED_AT_ANNOTATION.
 */
export async function replaceConfigMapKey(kube: Kube, configMap: k8s.V1ConfigMap, key: string, newText: string, now: Date): Promise<'patched' | 'already-changed'> {
  const { namespace = '', name = '' } = configMap.metadata ?? {}
  const path = `/data/${pointer(key)}`
  const patch: object[] = [
    { op: 'test', path, value: configMap.data?.[key] ?? '' },
    { op: 'replace', path, value: newText },
    ...(configMap.metadata?.annotations ? [] : [{ op: 'add', path: '/metadata/annotations', value: {} }]),
    { op: 'add', path: `/metadata/annotations/${pointer(CNI_CONFIG_FIXED_AT_ANNOTATION)}`, value: now.toISOString() },
  ]
  try {
    await kube.core.patchNamespacedConfigMap({ namespace, name, body: patch }, kube.patchAs(PatchType.json))
    return 'patched'
  } catch (err) {
    // 422 from the `test` op: the text is no longer the one we read.
    if (statusOf(err) === 422) return 'already-changed'
    if (isNotFound(err)) throw new DomainError(`ConfigMap ${namespace}/${name} is gone (404); restore it from the Calico manifest of this version, then rerun`, { cause: err })
    throw err
  }
}

// ---------------------------------------------------------------------------
// calico-node pods

/** The pods the DaemonSet controls (by its selector's labels, then by controller owner UID). */
export async function listDaemonSetPods(kube: Kube, ds: k8s.V1DaemonSet): Promise<k8s.V1Pod[]> {
  const namespace = ds.metadata?.namespace ?? ''
  const labels = ds.spec?.selector?.matchLabels ?? {}
  const labelSelector = Object.entries(labels)
    .map(([k, v]) => `${k}=${v}`)
    .join(',')
  const pods = await listAll((page) => kube.core.listNamespacedPod({ namespace, ...(labelSelector ? { labelSelector } : {}), ...page }))
  const uid = ds.metadata?.uid
  return pods.filter((pod) => pod.metadata?.ownerReferences?.some((ref) => ref.controller && ref.uid === uid))
}

// ---------------------------------------------------------------------------
// Reading a node's CNI files through exec

export interface PodRefIn {
  readonly namespace: string
  readonly pod: string
  readonly container: string
}

export interface ExecResult {
  readonly stdout: string
  readonly stderr: string
  /** The status the API server sent at the end: Success, or Failure with the exit code in details. */
  readonly status?: k8s.V1Status
}

/** Output beyond this is cut: the files read are a few KiB. */
const MAX_EXEC_OUTPUT = 1024 * 1024

/** The seam for exec: tests (and kubelet-less clusters) replace it. */
export type ExecFn = (ref: PodRefIn, command: readonly string[], timeoutMs: number) => Promise<ExecResult>

/** `kubectl exec` through client-node: runs `command` (no shell) and collects its output, within `timeoutMs`. */
export function kubeExec(kube: Kube): ExecFn {
  return (ref, command, timeoutMs) =>
    withDeadline(
      (signal) =>
        new Promise<ExecResult>((resolve, reject) => {
          const stdout = collector(MAX_EXEC_OUTPUT)
          const stderr = collector(64 * 1024)
          let status: k8s.V1Status | undefined
          kube.exec()
            .exec(ref.namespace, ref.pod, ref.container, [...command], stdout.stream, stderr.stream, null, false, (s) => {
              status = s
            })
            .then((socket) => {
              signal.addEventListener('abort', () => socket.close())
              socket.on('close', () => resolve({ stdout: stdout.text(), stderr: stderr.text(), ...(status ? { status } : {}) }))
              socket.on('error', reject)
            }, reject)
        }),
      timeoutMs,
      `exec in pod ${ref.namespace}/${ref.pod}`,
    )
}

function collector(limit: number): { stream: Writable; text(): string } {
  const chunks: Buffer[] = []
  let size = 0
  return {
    stream: new Writable({
      write(chunk: Buffer, _encoding, callback) {
        if (size < limit) chunks.push(chunk.subarray(0, limit - size))
        size += chunk.length
        callback()
      },
    }),
    text: () => Buffer.concat(chunks).toString('utf8'),
  }
}

export type NodeFilesRead = { readonly ok: true; readonly files: NodeFile[] } | { readonly ok: false; readonly error: string }

// CNI configs (libcni: .conf, .conflist, .json) and kubeconfigs: the only files Calico's judgement reads.
const WANTED = /\.(conf|conflist|json)$|kubeconfig/

/**
 * Lists the CNI config directory inside the pod (`ls -1`) and reads each
 * CNI config and kubeconfig (`cat`), one exec each, no shell. A failure is
 * returned as text for the report, never thrown: on a cluster without exec
 * the node is unverified, not broken.
 */
export async function readNodeFilesByExec(exec: ExecFn, ref: PodRefIn, dir: string, timeoutMs: number): Promise<NodeFilesRead> {
  const run = async (command: string[]): Promise<string> => {
    const result = await exec(ref, command, timeoutMs)
    if (result.status && result.status.status !== 'Success') {
      throw new ExecCommandError(`${command.join(' ')} failed in container ${ref.container}: ${oneLineOf(result.status.message ?? result.stderr) || 'no message'}`)
    }
    return result.stdout
  }
  try {
    const names = (await run(['ls', '-1', dir]))
      .split('\n')
      .map((n) => n.trim())
      .filter((n) => n !== '' && !n.startsWith('.') && WANTED.test(n))
      .slice(0, 32)
    const files: NodeFile[] = []
    for (const name of names) files.push({ name, text: await run(['cat', `${dir.replace(/\/+$/, '')}/${name}`]) })
    return { ok: true, files }
  } catch (err) {
    return { ok: false, error: describeExecFailure(err, ref) }
  }
}

class ExecCommandError extends Error {}

function describeExecFailure(err: unknown, ref: PodRefIn): string {
  if (err instanceof ExecCommandError) return err.message
  // The websocket rejects with an ErrorEvent (not an Error) that carries a message.
  const raw = (err as { message?: unknown })?.message
  const message = oneLineOf(typeof raw === 'string' && raw !== '' ? raw : messageOf(err))
  if (/\b403\b/.test(message)) return `exec forbidden (${message}): reading the files needs create on pods/exec in ${ref.namespace}`
  if (err instanceof DomainError) return `exec timed out (${message})`
  return `exec not available (${message})`
}

const oneLineOf = (text: string) => text.replace(/\s+/g, ' ').trim()

// ---------------------------------------------------------------------------
// Rollout restart

/** `kubectl rollout restart ds/<name>`: the restartedAt patch; returns its value. */
export async function restartDaemonSet(kube: Kube, namespace: string, name: string, now: Date): Promise<string> {
  try {
    await kube.apps.patchNamespacedDaemonSet({ namespace, name, body: restartPatch(now) }, kube.patchAs(PatchType.strategic))
  } catch (err) {
    if (isNotFound(err)) throw new DomainError(`DaemonSet ${namespace}/${name} is gone (404); rerun to detect Calico again`, { cause: err })
    throw err
  }
  return restartedAtValue(now)
}

/** The template's current restartedAt, if any. */
export function templateRestartedAt(ds: k8s.V1DaemonSet): string | undefined {
  return ds.spec?.template?.metadata?.annotations?.[RESTARTED_AT_ANNOTATION]
}

export interface RolloutWait {
  readonly namespace: string
  readonly name: string
  readonly restartedAt: string
  /** UIDs of the pods before the restart: every one must be gone. */
  readonly oldUids: ReadonlySet<string>
  readonly timeoutMs: number
  readonly output: Output
  /** Connection flags for the commands in the timeout hint. */
  readonly kubectlArgs?: readonly string[]
}

export interface RolloutDone {
  readonly detail: string
  /** The DaemonSet's pods at the end, none of them old. */
  readonly pods: k8s.V1Pod[]
}

function rolloutHint(w: Pick<RolloutWait, 'namespace' | 'name' | 'kubectlArgs'>): string {
  const args = w.kubectlArgs ?? []
  return (
    `see what holds it up with ${kubectlCommand(...args, '-n', w.namespace, 'rollout', 'status', `ds/${w.name}`)} and ` +
    `${kubectlCommand(...args, '-n', w.namespace, 'get', 'events', '--sort-by=.lastTimestamp')}; fix it, then rerun fix-calico (it waits for the same restart instead of starting another)`
  )
}

/**
 * Waits, with progress and a deadline, until the DaemonSet's rollout of
 * `restartedAt` is complete (`kubectl rollout status` rules) and none of the
 * old pods is left: a new pod on every node it should run on.
 */
export async function waitForDaemonSetRollout(kube: Kube, w: RolloutWait): Promise<RolloutDone> {
  const state = await waitWithProgress<RolloutDone>({
    what: `the rollout of ds/${w.name} in ${w.namespace} (new pods on every node)`,
    timeoutMs: w.timeoutMs,
    output: w.output,
    hint: rolloutHint(w),
    poll: async () => {
      const ds = await readDaemonSet(kube, w.namespace, w.name)
      const status = daemonSetRolloutStatus(ds, w.restartedAt)
      const pods = await listDaemonSetPods(kube, ds)
      const left = podsRemaining(w.oldUids, pods)
      const fresh = pods.filter((p) => !isTerminating(p) && !w.oldUids.has(p.metadata?.uid ?? '') && isReady(p))
      const desired = ds.status?.desiredNumberScheduled ?? 0
      const done = status.complete && left.length === 0
      const note = `${status.detail}${left.length > 0 ? `; ${left.length} old pod(s) left` : ''}`
      return done ? { done, note, value: { detail: status.detail, pods: pods.filter((p) => !isTerminating(p)) } } : { done, ready: fresh.length, total: desired, note }
    },
  })
  return state.value ?? { detail: state.note ?? 'done', pods: [] }
}

/**
 * For `updateStrategy: OnDelete` (the default of extensions/v1beta1
 * DaemonSets, so of many 2018 installs), where a template change replaces
 * nothing: delete the old pods one node at a time and wait, with a deadline
 * each, for the new pod on that node to be Ready.
 */
export async function replacePodsOneByOne(kube: Kube, w: RolloutWait & { readonly oldPods: readonly k8s.V1Pod[] }): Promise<RolloutDone> {
  const ticker = createTicker({ output: w.output, what: `old pods of ds/${w.name} in ${w.namespace} to be replaced one node at a time`, timeoutMs: w.timeoutMs * Math.max(1, w.oldPods.length) })
  let replaced = 0
  try {
    for (const old of w.oldPods) {
      const name = old.metadata?.name ?? ''
      const node = old.spec?.nodeName
      await kube.core
        .deleteNamespacedPod({ namespace: w.namespace, name, body: { preconditions: { uid: old.metadata?.uid ?? '' } } })
        .catch((err: unknown) => {
          // Already gone, or a newer pod under that name: either way the old one is not there.
          if (!isNotFound(err) && statusOf(err) !== 409) throw err
        })
      await waitWithProgress({
        what: `a new calico-node pod on node ${node ?? '(unscheduled)'}`,
        timeoutMs: w.timeoutMs,
        output: w.output,
        hint: rolloutHint(w),
        poll: async () => {
          const ds = await readDaemonSet(kube, w.namespace, w.name)
          const pods = await listDaemonSetPods(kube, ds)
          const onNode = pods.filter((p) => p.spec?.nodeName === node && !isTerminating(p) && !w.oldUids.has(p.metadata?.uid ?? ''))
          return { done: onNode.some(isReady), note: onNode.length > 0 ? 'new pod not Ready yet' : 'old pod deleted, no new pod yet' }
        },
      })
      replaced += 1
      ticker.update({ ready: replaced, total: w.oldPods.length })
    }
  } finally {
    ticker.done()
  }
  const ds = await readDaemonSet(kube, w.namespace, w.name)
  const pods = (await listDaemonSetPods(kube, ds)).filter((p) => !isTerminating(p))
  return { detail: `${replaced} pod(s) deleted and replaced one node at a time (updateStrategy OnDelete)`, pods }
}

// ---------------------------------------------------------------------------
// Probe pods

export interface ProbeOptions {
  readonly namespace: string
  readonly node: string
  readonly image: string
  readonly timeoutMs: number
  /** Pause between looks at the pod (default 1 s). */
  readonly intervalMs?: number
}

const UNAUTHORIZED = /unauthori[sz]ed/i

/**
 * Creates a probe pod on the node, waits until it runs or an event reports
 * a sandbox error (one mentioning Unauthorized is the stale-CNI-token
 * symptom), and deletes it whatever happened.
 */
export async function probeNode(kube: Kube, opts: ProbeOptions): Promise<ProbeResult> {
  const created = await kube.core.createNamespacedPod({ namespace: opts.namespace, body: probePod(opts.node, opts.image) })
  const name = created.metadata?.name ?? ''
  const uid = created.metadata?.uid ?? ''
  const result = (outcome: ProbeOutcome, detail: string): ProbeResult => ({ node: opts.node, pod: `${opts.namespace}/${name}`, outcome, detail })
  const deadline = Date.now() + opts.timeoutMs
  let lastError: string | undefined
  try {
    for (;;) {
      const pod = await kube.core.readNamespacedPod({ namespace: opts.namespace, name })
      const events = await kube.core.listNamespacedEvent({ namespace: opts.namespace, fieldSelector: `involvedObject.uid=${uid}` })
      const warnings = events.items.filter((e) => e.type === 'Warning')
      const unauthorized = warnings.find((e) => UNAUTHORIZED.test(e.message ?? ''))
      if (unauthorized) return result(ProbeOutcome.unauthorized, `${unauthorized.reason ?? 'event'}: ${oneLineOf(unauthorized.message ?? '')}`)
      const sandbox = warnings.find((e) => e.reason === 'FailedCreatePodSandBox')
      if (sandbox) lastError = `${sandbox.reason}: ${oneLineOf(sandbox.message ?? '')}`
      if (pod.status?.phase === 'Running' || pod.status?.phase === 'Succeeded') return result(ProbeOutcome.ok, `pod ran (${pod.status.phase}${pod.status.podIP ? `, IP ${pod.status.podIP}` : ''})`)
      if (pod.status?.phase === 'Failed') return result(ProbeOutcome.failed, lastError ?? `pod failed: ${pod.status.reason ?? pod.status.message ?? 'no reason'}`)
      if (Date.now() >= deadline) {
        return lastError ? result(ProbeOutcome.failed, lastError) : result(ProbeOutcome.timeout, `not running after ${Math.round(opts.timeoutMs / 1000)}s (phase ${pod.status?.phase ?? 'unknown'})`)
      }
      await new Promise((resolve) => setTimeout(resolve, opts.intervalMs ?? 1000))
    }
  } finally {
    await kube.core.deleteNamespacedPod({ namespace: opts.namespace, name, gracePeriodSeconds: 0 }).catch((err: unknown) => {
      if (!isNotFound(err)) throw err
    })
  }
}

/** Deletes probe pods an interrupted run left behind; returns how many. */
export async function deleteLeftoverProbePods(kube: Kube, namespace: string): Promise<number> {
  const pods = await listAll((page) => kube.core.listNamespacedPod({ namespace, labelSelector: `${PROBE_LABEL}=true`, ...page }))
  for (const pod of pods) {
    await kube.core.deleteNamespacedPod({ namespace, name: pod.metadata?.name ?? '', gracePeriodSeconds: 0 }).catch((err: unknown) => {
      if (!isNotFound(err)) throw err
    })
  }
  return pods.length
}
