import { describe, expect, it } from 'vitest'
import { klogTime, KubeletLogKind, MAX_PODS_KEPT, parseKubeletLine, scanKubeletLog } from '../../../lib/kubelet/log.ts'

const now = new Date(2026, 10, 30, 12, 30)
/** klog writes the node's local time: the ISO time of a klog header read on this machine. */
const local = (year: number, month: number, day: number, h: number, m: number, s: number, ms: number) => new Date(year, month - 1, day, h, m, s, ms).toISOString()
const UID = '522bb6de-10e0-4ee0-a602-e4110b54b465'

// As the local cluster's kubelet (v1.36) writes them, `journalctl -o cat` style.
const COULD_NOT_GET = 'E1130 10:55:21.270118    5776 secret.go:189] Couldn\'t get secret rn-trap-f6db0c/legacy-token-a0fbd: secret "legacy-token-a0fbd" not found'
const NESTED =
  `E1130 10:55:21.270299    5776 nestedpendingoperations.go:348] Operation for "{volumeName:kubernetes.io/secret/${UID}-token podName:${UID} nodeName:}" failed. ` +
  `No retries permitted until 2026-11-30 10:55:21.770248741 +0000 UTC m=+451.111028796 (durationBeforeRetry 500ms). Error: MountVolume.SetUp failed for volume "token" ` +
  `(UniqueName: "kubernetes.io/secret/${UID}-token") pod "mounter-678b47cbf-n59r4" (UID: "${UID}") : secret "legacy-token-a0fbd" not found`
// The event the kubelet records (1.2x structured logging), as `kubectl get events` shows its message.
const EVENT =
  'I1130 12:01:02.346000    5678 event.go:389] "Event occurred" object="team-a/app-6c9d7f-xyz12" fieldPath="" kind="Pod" apiVersion="v1" type="Warning" reason="FailedMount" ' +
  'message="MountVolume.SetUp failed for volume \\"token\\" : secret \\"legacy-token-b0548\\" not found"'
// 1.1x (2018): the error message quoted as a whole, quotes escaped.
const OLD_NESTED =
  'E0314 10:22:31.123456    1234 nestedpendingoperations.go:267] Operation for "\\"kubernetes.io/secret/5f1c2b7e-2791-11e8-9a4c-0800271c2f3a-default-token-x7k2p\\" (\\"5f1c2b7e-2791-11e8-9a4c-0800271c2f3a\\")" failed. ' +
  'No retries permitted until 2018-03-14 10:24:33.123 +0000 UTC m=+1234.5 (durationBeforeRetry 2m2s). Error: "MountVolume.SetUp failed for volume \\"default-token-x7k2p\\" ' +
  '(UniqueName: \\"kubernetes.io/secret/5f1c2b7e-2791-11e8-9a4c-0800271c2f3a-default-token-x7k2p\\") pod \\"web-7d9f8b-abcde\\" (UID: \\"5f1c2b7e-2791-11e8-9a4c-0800271c2f3a\\") : secret \\"default-token-x7k2p\\" not found"'
const JOURNAL_SHORT = `Nov 30 10:55:21 node-1 kubelet[5776]: ${COULD_NOT_GET}`
const JSON_LINE = '{"ts":1764500121.270118,"caller":"secret/secret.go:189","msg":"Couldn\'t get secret team-a/legacy-token-b0548: secret \\"legacy-token-b0548\\" not found\\n","v":0}'
const PROJECTED = 'E1130 12:01:02.345678    5678 projected.go:196] Error preparing data for projected volume creds for pod team-a/app-1: [secret "legacy-token-b0548" not found, secret "other-token-k2j4m" not found]'
const PULL_SECRET =
  'W1130 12:01:02.345678    5678 kubelet_pods.go:1040] "Unable to retrieve pull secret, the image pull may not succeed." pod="team-a/app-1" secret="" err="secret \\"regcred\\" not found"'

// Calico's CNI plugin rejected (the symptom of a stale CNI token): the runtime call, then the kubelet's own lines about the pod.
const SANDBOX_UID = '8c2f1d3a-5b6e-4f70-8a9b-0c1d2e3f4a5b'
const RUN_SANDBOX =
  'E1130 12:03:04.567890    5678 log.go:32] "RunPodSandbox from runtime service failed" err="rpc error: code = Unknown desc = failed to setup network for sandbox \\"7a1b2c3d\\": ' +
  'plugin type=\\"calico\\" failed (add): error getting ClusterInformation: connection is unauthorized: Unauthorized"'
const CREATE_SANDBOX =
  'E1130 12:03:04.568001    5678 kuberuntime_sandbox.go:70] "Failed to create sandbox for pod" err="rpc error: code = Unknown desc = failed to setup network for sandbox \\"7a1b2c3d\\": ' +
  'plugin type=\\"calico\\" failed (add): error getting ClusterInformation: connection is unauthorized: Unauthorized" pod="team-a/web-1"'
const SYNC_POD =
  'E1130 12:03:04.568200    5678 pod_workers.go:1338] "Error syncing pod, skipping" err="failed to \\"CreatePodSandbox\\" for \\"web-1_team-a(' +
  SANDBOX_UID +
  ')\\" with CreatePodSandboxError: \\"Failed to create sandbox for pod \\\\\\"web-1_team-a(' +
  SANDBOX_UID +
  ')\\\\\\": rpc error: code = Unknown desc = failed to setup network for sandbox \\\\\\"7a1b2c3d\\\\\\": plugin type=\\\\\\"calico\\\\\\" failed (add): error getting ClusterInformation: connection is unauthorized: Unauthorized\\"" pod="team-a/web-1" podUID="' +
  SANDBOX_UID +
  '"'
const STOP_SANDBOX =
  'E1130 12:05:00.000100    5678 log.go:32] "StopPodSandbox from runtime service failed" err="rpc error: code = Unknown desc = failed to destroy network for sandbox \\"9f8e\\": ' +
  'plugin type=\\"calico\\" name=\\"k8s-pod-network\\" failed (delete): error getting ClusterInformation: connection is unauthorized: Unauthorized" podSandboxID="9f8e"'

describe('parseKubeletLine: missing Secrets', () => {
  it.each([
    ["Couldn't get secret ns/name (v1.36)", COULD_NOT_GET, { secret: 'legacy-token-a0fbd', namespace: 'rn-trap-f6db0c' }, local(2026, 11, 30, 10, 55, 21, 270)],
    [
      'MountVolume.SetUp failed, detailed (v1.36)',
      NESTED,
      { secret: 'legacy-token-a0fbd', volume: 'token', pod: { name: 'mounter-678b47cbf-n59r4', uid: UID } },
      local(2026, 11, 30, 10, 55, 21, 270),
    ],
    [
      'FailedMount event (1.2x structured)',
      EVENT,
      { secret: 'legacy-token-b0548', namespace: 'team-a', volume: 'token', pod: { namespace: 'team-a', name: 'app-6c9d7f-xyz12' } },
      local(2026, 11, 30, 12, 1, 2, 346),
    ],
    [
      'MountVolume.SetUp failed, quoted (1.1x)',
      OLD_NESTED,
      { secret: 'default-token-x7k2p', volume: 'default-token-x7k2p', pod: { name: 'web-7d9f8b-abcde', uid: '5f1c2b7e-2791-11e8-9a4c-0800271c2f3a' } },
      local(2026, 3, 14, 10, 22, 31, 123),
    ],
    ['behind a journald prefix', JOURNAL_SHORT, { secret: 'legacy-token-a0fbd', namespace: 'rn-trap-f6db0c' }, local(2026, 11, 30, 10, 55, 21, 270)],
    ['--logging-format=json', JSON_LINE, { secret: 'legacy-token-b0548', namespace: 'team-a' }, '2025-11-30T10:55:21.270Z'],
    ['a pull secret', PULL_SECRET, { secret: 'regcred', namespace: 'team-a', pod: { namespace: 'team-a', name: 'app-1' } }, local(2026, 11, 30, 12, 1, 2, 345)],
  ])('%s', (_name, line, finding, at) => {
    const parsed = parseKubeletLine(line, now)
    expect(parsed.at).toBe(at)
    expect(parsed.findings).toEqual([{ kind: KubeletLogKind.missingSecret, ...finding }])
  })

  it('a projected volume missing two Secrets names both, in the pod namespace', () => {
    expect(parseKubeletLine(PROJECTED, now).findings).toEqual([
      { kind: 'missing-secret', secret: 'legacy-token-b0548', namespace: 'team-a', volume: 'creds', pod: { namespace: 'team-a', name: 'app-1' } },
      { kind: 'missing-secret', secret: 'other-token-k2j4m', namespace: 'team-a', volume: 'creds', pod: { namespace: 'team-a', name: 'app-1' } },
    ])
  })

  it.each([
    ['a flag dump', 'I1130 10:47:51.087492    5776 flags.go:64] FLAG: --authorization-webhook-cache-unauthorized-ttl="30s"'],
    ['a node not registered yet', 'E1130 10:47:51.860084    5776 kubelet_node_status.go:396] "Error getting the current node from lister" err="node \\"ktr-node\\" not found"'],
    ['a container not found', 'E1130 10:47:52.036012    5776 remote_runtime.go:569] "ContainerStatus from runtime service failed" err="rpc error: code = NotFound desc = an error occurred when try to find container \\"fcda\\": not found"'],
    ['a ConfigMap', 'E1130 12:01:02.345678    5678 configmap.go:193] Couldn\'t get configMap team-a/settings: configmap "settings" not found'],
    ['a secret mentioned by an application', 'level=error msg="secret \\"db\\" not found" app=web'],
    [
      "the kubelet's own credentials rejected (not the CNI)",
      'E1130 12:10:00.000000    5678 reflector.go:158] "Unhandled Error" err="k8s.io/client-go/informers/factory.go:160: Failed to watch *v1.Node: failed to list *v1.Node: Unauthorized"',
    ],
    ['a successful mount', 'I1130 10:55:29.586067    5776 operation_generator.go:617] "MountVolume.SetUp succeeded for volume \\"token\\"" pod="team-a/app-1"'],
  ])('nothing in %s', (_name, line) => {
    expect(parseKubeletLine(line, now).findings).toEqual([])
  })
})

describe('parseKubeletLine: CNI Unauthorized', () => {
  it.each([
    ['RunPodSandbox (cri-client)', RUN_SANDBOX, { plugin: 'calico', operation: 'add' }],
    ['Failed to create sandbox for pod', CREATE_SANDBOX, { plugin: 'calico', operation: 'add', pod: { namespace: 'team-a', name: 'web-1' } }],
    ['Error syncing pod (escaped twice)', SYNC_POD, { plugin: 'calico', operation: 'add', pod: { namespace: 'team-a', name: 'web-1', uid: SANDBOX_UID } }],
    ['StopPodSandbox (teardown)', STOP_SANDBOX, { plugin: 'calico', operation: 'delete' }],
    ['Calico without the plugin type', 'E0314 10:30:00.000000    1234 cni.go:259] Error adding network: error getting ClusterInformation: connection is unauthorized: Unauthorized', { plugin: 'calico' }],
  ])('%s', (_name, line, finding) => {
    expect(parseKubeletLine(line, now).findings).toEqual([{ kind: KubeletLogKind.cniUnauthorized, ...finding }])
  })
})

describe('klogTime', () => {
  it.each([
    ['E1130 10:55:21.270118', new Date(2026, 10, 30, 12), local(2026, 11, 30, 10, 55, 21, 270)],
    // A December line read on 2 January is last year's.
    ['E1231 23:59:59.999999', new Date(2027, 0, 2, 8), local(2026, 12, 31, 23, 59, 59, 999)],
    // Up to a day ahead of the reader's clock is skew, not last year.
    ['I1201 00:10:00.000000', new Date(2026, 10, 30, 23, 50), local(2026, 12, 1, 0, 10, 0, 0)],
  ])('%s read at %s', (header, at, iso) => {
    expect(klogTime(`${header}    5678 secret.go:189] x`, at)).toBe(iso)
  })

  it('no header, no time', () => {
    expect(klogTime('secret "x" not found', now)).toBeUndefined()
    expect(parseKubeletLine('Error syncing pod: secret "x-token-abcde" not found', now)).toEqual({
      findings: [{ kind: 'missing-secret', secret: 'x-token-abcde' }],
    })
  })
})

describe('scanKubeletLog', () => {
  it('folds the lines of one failure into one Secret: the namespace from one line, the pod from the next', () => {
    const scan = scanKubeletLog([COULD_NOT_GET, NESTED, COULD_NOT_GET, NESTED.replace('10:55:21.270299', '10:57:23.000000'), 'I1130 10:55:29 unrelated'].join('\n'), { now })
    expect(scan.lines).toBe(5)
    expect(scan.older).toBe(0)
    expect(scan.missingSecrets).toEqual([
      {
        secret: 'legacy-token-a0fbd',
        namespace: 'rn-trap-f6db0c',
        pods: [{ name: 'mounter-678b47cbf-n59r4', uid: UID }],
        volumes: ['token'],
        lines: 4,
        firstSeen: local(2026, 11, 30, 10, 55, 21, 270),
        lastSeen: local(2026, 11, 30, 10, 57, 23, 0),
        sample: expect.stringContaining('10:57:23.000000'),
      },
    ])
    expect(scan.cniUnauthorized).toBeUndefined()
  })

  it('keeps a Secret whose namespace no line says apart, with its pods, for the caller to place', () => {
    const scan = scanKubeletLog(NESTED, { now })
    expect(scan.missingSecrets).toEqual([expect.objectContaining({ secret: 'legacy-token-a0fbd', pods: [{ name: 'mounter-678b47cbf-n59r4', uid: UID }] })])
    expect(scan.missingSecrets[0]).not.toHaveProperty('namespace')
  })

  it('gathers the CNI Unauthorized lines: count, plugins, operations, pods, first and last time', () => {
    const scan = scanKubeletLog([RUN_SANDBOX, CREATE_SANDBOX, SYNC_POD, STOP_SANDBOX].join('\n'), { now })
    expect(scan.missingSecrets).toEqual([])
    expect(scan.cniUnauthorized).toEqual({
      lines: 4,
      plugins: ['calico'],
      operations: ['add', 'delete'],
      pods: [{ namespace: 'team-a', name: 'web-1', uid: SANDBOX_UID }],
      firstSeen: local(2026, 11, 30, 12, 3, 4, 567),
      lastSeen: local(2026, 11, 30, 12, 5, 0, 0),
      sample: STOP_SANDBOX.slice(0, 400) + (STOP_SANDBOX.length > 400 ? '…' : ''),
    })
  })

  it('leaves out lines logged before --since, and counts them; lines without a time stay', () => {
    const scan = scanKubeletLog([COULD_NOT_GET, EVENT, 'Error syncing pod: secret "x-token-abcde" not found'].join('\n'), { now, since: new Date(2026, 10, 30, 12) })
    expect(scan.older).toBe(1)
    expect(scan.missingSecrets.map((s) => s.secret)).toEqual(['x-token-abcde', 'legacy-token-b0548'])
  })

  it(`keeps at most ${MAX_PODS_KEPT} pods per Secret`, () => {
    const lines = Array.from({ length: MAX_PODS_KEPT + 5 }, (_, i) => EVENT.replace('app-6c9d7f-xyz12', `app-${i}`))
    const [secret] = scanKubeletLog(lines.join('\n'), { now }).missingSecrets
    expect(secret?.lines).toBe(MAX_PODS_KEPT + 5)
    expect(secret?.pods).toHaveLength(MAX_PODS_KEPT)
  })
})
