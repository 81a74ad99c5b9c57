// calico-node's DaemonSet, judged: which container of calico-node shows the
// node's CNI directory (per Calico generation) and when calico-node must restart.
import type { V1Pod } from '@kubernetes/client-node'
import { describe, expect, it } from 'vitest'
import { cniMountOf, latestChange, podStartedSince, restartReasons } from '../../../lib/calico/daemonset.ts'
import { loadObjects } from '../../fixtures/calico/fixtures.ts'

describe('cniMountOf', () => {
  it.each([
    ['v3.0: install-cni is a running container', 'manifest-v3.0-kdd.yaml', { container: 'install-cni', mountPath: '/host/etc/cni/net.d' }],
    ['v3.27: install-cni is an init container, calico-node mounts the directory', 'manifest-v3.27.2.yaml', { container: 'calico-node', mountPath: '/host/etc/cni/net.d' }],
    ['operator v3.28: the same, in calico-system', 'operator-v3.28.0.yaml', { container: 'calico-node', mountPath: '/host/etc/cni/net.d' }],
  ])('%s', (_what, fixture, mount) => {
    const [ds] = loadObjects(fixture).daemonSets
    expect(cniMountOf(ds!, '/etc/cni/net.d')).toEqual(mount)
  })

  it('finds nothing when only an init container mounts the directory', () => {
    const [ds] = loadObjects('manifest-v3.27.2.yaml').daemonSets
    const spec = ds!.spec!.template.spec!
    const stripped = { ...ds!, spec: { ...ds!.spec!, template: { ...ds!.spec!.template, spec: { ...spec, containers: spec.containers.map((c) => ({ ...c, volumeMounts: [] })) } } } }
    expect(cniMountOf(stripped, '/etc/cni/net.d')).toBeUndefined()
  })
})

describe('when calico-node must restart', () => {
  const pod = (created: string, restartedAt?: string): V1Pod => ({
    metadata: { name: `p-${created}`, uid: created, creationTimestamp: new Date(created), ...(restartedAt ? { annotations: { 'kubectl.kubernetes.io/restartedAt': restartedAt } } : {}) },
  })
  const change = new Date('2026-01-01T12:00:00.500Z')

  it.each([
    ['created in a later second', pod('2026-01-01T12:00:01Z'), true],
    ['created before', pod('2026-01-01T11:59:00Z'), false],
    // creationTimestamp has whole seconds: the same second is told apart by the restart that made the pod.
    ['created in the same second, by no restart', pod('2026-01-01T12:00:00Z'), false],
    ['created in the same second, by a restart at that second', pod('2026-01-01T12:00:00Z', '2026-01-01T12:00:00Z'), true],
    ['created before, by an older restart', pod('2026-01-01T11:00:00Z', '2026-01-01T11:00:00Z'), false],
  ])('podStartedSince: %s → %s', (_what, p, fresh) => {
    expect(podStartedSince(p, change)).toBe(fresh)
  })

  it.each([
    ['nothing changed, nothing stale', { pods: [pod('2026-01-01T13:00:00Z')], staleNodes: [], pending: [], forced: false }, []],
    ['pods older than the change', { pods: [pod('2026-01-01T11:00:00Z'), pod('2026-01-01T13:00:00Z')], since: change, staleNodes: [], pending: [], forced: false }, ['1 calico-node pod(s) started before the CNI token changed at 2026-01-01T12:00:00.500Z']],
    ['every pod newer than the change', { pods: [pod('2026-01-01T13:00:00Z')], since: change, staleNodes: [], pending: [], forced: false }, []],
    ['a change still to come (dry run)', { pods: [], staleNodes: [], pending: ['fix-cni-config'], forced: false }, ['the CNI token changes in fix-cni-config']],
    ['stale nodes', { pods: [], staleNodes: ['a', 'b', 'c', 'd'], pending: [], forced: false }, ['4 node(s) present a stale or missing CNI token (a, b, c, …)']],
    ['--restart', { pods: [], staleNodes: [], pending: [], forced: true }, ['--restart']],
  ])('restartReasons: %s', (_what, input, reasons) => {
    expect(restartReasons(input)).toEqual(reasons)
  })

  it('latestChange takes the latest readable time', () => {
    expect(latestChange([undefined, '2026-01-01T10:00:00Z', 'garbage', '2026-01-01T11:00:00.250Z'])).toEqual(new Date('2026-01-01T11:00:00.250Z'))
    expect(latestChange([undefined])).toBeUndefined()
  })
})
