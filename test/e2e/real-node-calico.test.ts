// fix-calico on the real node: the 2018 Calico story with a kubelet. A
// calico-node test fixture (test/e2e/support/calico-node-fixture.ts: Calico's
// names, not Calico) renders 10-calico.conf and calico-kubeconfig with its
// mounted legacy token into a hostPath directory on the node, as install-cni
// does. After an abrupt key rotation, fix-calico reads those files through a
// real exec into the calico-node container and reports the node stale
// (--dry-run changes nothing); --yes regenerates the token Secret and restarts
// calico-node, install-cni renders the files again, and the token now on the
// host authenticates (TokenReview); --probe runs a real pod on the node; a
// second --yes finds nothing to do; a probe image the node cannot pull fails
// the probe at once with the reason.
// Then the same install on a cluster without legacy token Secrets (the pod's
// projected token is copied): only the node's files show the stale token, so
// only a real exec makes fix-calico restart calico-node.
// Without a real node the suite is skipped under a title that says why.
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createNamespace, deleteNamespace, tokenReview, useCluster, waitForToken, type TestCluster } from './support/cluster.ts'
import { jsonOf, runRunbook } from './support/cli.ts'
import { fixturePods, fixtureSecretName, installCalicoNodeFixture, NS, removeCalicoNodeFixture, runningFixturePod, waitForNoCalico, type CalicoNodeFixture } from './support/calico-node-fixture.ts'
import { REAL_NODE_IMAGES, realNode, realNodeSuiteTitle } from './support/real-node.ts'

const log = (line: string) => process.stderr.write(`real-node calico: ${line}\n`)

interface NodeReport {
  node: string
  source: string
  verdict: string
  reason: string
  files?: string[]
  tokens: Array<{ file: string; setting: string; status: string; fingerprint?: string; subject?: string }>
}

interface Report {
  exitCode: number
  steps: Array<{ id: string; outcome: string; summary: string }>
  calico: { namespace: string; cniServiceAccount: string; cniNetDir: string } | null
  serviceAccount: { name: string; secrets: Array<{ key: string; verdict: string; outcome?: string }> } | null
  nodes: { before: NodeReport[]; after: NodeReport[] }
  restart: { oldPods: string[]; newPods: Array<{ name: string; node: string; uid: string }> } | null
  probes: Array<{ node: string; pod: string; outcome: string; detail: string }>
}

/** A node file as a log line may show it: every token replaced by its signing key's ID. */
function redacted(text: string): string {
  return text.replace(/eyJ[\w-]+\.[\w-]+\.[\w-]+/g, (token) => `<token kid=${(JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString()) as { kid?: string }).kid ?? '?'}>`)
}

/** The tokens the node's files hold, read on the host itself (the kubelet runs here). */
async function hostTokens(dir: string): Promise<{ conf: string; kubeconfig: string; confText: string }> {
  const confText = await readFile(join(dir, '10-calico.conf'), 'utf8')
  const kubeconfigText = await readFile(join(dir, 'calico-kubeconfig'), 'utf8')
  const conf = /"k8s_auth_token": "([^"]*)"/.exec(confText)?.[1]
  const kubeconfig = /^ {4}token: "([^"]*)"$/m.exec(kubeconfigText)?.[1]
  if (!conf || !kubeconfig) throw new Error(`no token in ${dir}/10-calico.conf or calico-kubeconfig:\n${confText}\n${kubeconfigText}`)
  return { conf, kubeconfig, confText }
}

describe.skipIf(realNode().status !== 'up')(realNodeSuiteTitle('fix-calico with a calico-node fixture on the real node'), () => {
  let cluster: TestCluster
  let scratch: string
  let hostDir: string
  let probeNamespace: string | undefined
  let fixture: CalicoNodeFixture | undefined
  let secret: string | undefined
  let runs = 0

  const fix = async (...args: string[]) => fixExpecting(0, ...args)
  const fixExpecting = async (code: number, ...args: string[]) => {
    const run = ++runs
    const result = await runRunbook('fix-calico', ['--backup-dir', join(scratch, `run-${run}`), '--timeout', '120', '-o', 'json', ...args], {
      kubeconfig: cluster.kubeconfigPath,
    })
    // Kept for reading after the run (the report is JSON on stdout, the steps on stderr).
    await writeFile(join(scratch, `run-${run}.log`), `$ fix-calico ${args.join(' ')}\n${result.stderr}\n${result.stdout}`)
    expect(result.code, result.stdout.slice(-3000) + result.stderr.slice(-3000)).toBe(code)
    return { ...jsonOf<Report>(result), stderr: result.stderr }
  }
  const outcomes = (report: Report) => Object.fromEntries(report.steps.map((s) => [s.id, s.outcome]))

  beforeAll(async () => {
    cluster = await useCluster()
    scratch = await mkdtemp(join(tmpdir(), 'ktr-real-calico-'))
    probeNamespace = await createNamespace(cluster.core, 'rn-calico-probe')
  })

  afterAll(async () => {
    if (cluster && probeNamespace) await deleteNamespace(cluster.core, probeNamespace)
  })

  /** Installs the fixture (a legacy token Secret with `legacy`) before the block's tests and removes it after. */
  const useFixture = (opts: { legacy: boolean }) => {
    let claimed = false
    beforeAll(async () => {
      // The node's "/etc/cni/net.d" for the fixture: a directory of this run, not containerd's CNI config directory.
      hostDir = await mkdtemp(join(tmpdir(), 'ktr-calico-net.d-'))
      // Calico's names are fixed: wait until no other test file's calico-node is left, and only then claim them.
      await waitForNoCalico(cluster)
      claimed = true
      secret = opts.legacy ? fixtureSecretName() : undefined
      fixture = await installCalicoNodeFixture(cluster, hostDir, secret)
    })
    afterAll(async () => {
      if (claimed) await removeCalicoNodeFixture(cluster, secret)
      if (hostDir) await rm(hostDir, { recursive: true, force: true })
    })
  }

  describe('a 2018 install: calico-node mounts its legacy token Secret', () => {
    useFixture({ legacy: true })

    it("the fixture's install-cni rendered the node's files with the pod's token, which the API server accepts", async () => {
      const { conf, kubeconfig, confText } = await hostTokens(hostDir)
      expect(conf).toBe(fixture!.token!)
      expect(kubeconfig).toBe(fixture!.token!)
      expect(confText).toContain(`"kubeconfig": "${hostDir}/calico-kubeconfig"`)
      expect(confText).toContain('"nodename": "ktr-node"')
      log(`${hostDir}/10-calico.conf as the fixture's install-cni rendered it:\n${redacted(confText)}`)
      expect(await tokenReview(cluster.authn, conf)).toMatchObject({ authenticated: true, user: { username: 'system:serviceaccount:kube-system:calico-node' } })
      expect(((await stat(join(hostDir, 'calico-kubeconfig'))).mode & 0o777).toString(8)).toBe('600')
    })

    describe('after an abrupt key rotation', () => {
      let podBefore: string
      let renderedBefore: number

      beforeAll(async () => {
        podBefore = (await runningFixturePod(cluster)).metadata!.uid!
        renderedBefore = (await stat(join(hostDir, '10-calico.conf'))).mtimeMs
        await cluster.handle.rotateServiceAccountKey({ keepOld: false })
        expect((await tokenReview(cluster.authn, fixture!.token!)).authenticated ?? false).toBe(false)
      })

      it("--dry-run reads the node's files through exec into calico-node and reports the node stale, changing nothing", async () => {
        const report = await fix('--dry-run')
        expect(report.calico).toMatchObject({ namespace: NS, cniServiceAccount: 'calico-node', cniNetDir: hostDir })
        expect(report.nodes.before).toHaveLength(1)
        const [node] = report.nodes.before
        log(`before: ${node!.node} ${node!.verdict} via ${node!.source}: ${node!.reason}`)
        expect(node).toMatchObject({ node: 'ktr-node', verdict: 'stale', files: ['10-calico.conf', 'calico-kubeconfig'] })
        expect(node!.source).toMatch(/^pod kube-system\/calico-node-\w+ \(calico-node\):\/host\/etc\/cni\/net\.d$/)
        expect(node!.tokens.map((t) => `${t.file} ${t.setting}`).sort()).toEqual(['10-calico.conf policy.k8s_auth_token', 'calico-kubeconfig users[0].user.token'])
        for (const token of node!.tokens) expect(token).toMatchObject({ status: 'unknown-key', subject: 'system:serviceaccount:kube-system:calico-node' })
        expect(report.serviceAccount?.secrets).toEqual([expect.objectContaining({ key: `${NS}/${secret}`, verdict: 'stale' })])
        expect(outcomes(report)).toMatchObject({
          'read-node-tokens': 'done',
          'regenerate-cni-tokens': 'planned',
          'fix-cni-config': 'not-needed',
          'restart-calico-node': 'planned',
        })
        // Nothing changed: same pod, same file, same old token on the host.
        expect((await runningFixturePod(cluster)).metadata!.uid).toBe(podBefore)
        expect((await stat(join(hostDir, '10-calico.conf'))).mtimeMs).toBe(renderedBefore)
        expect((await hostTokens(hostDir)).conf).toBe(fixture!.token!)
      })

      it('--yes --probe regenerates the token, restarts calico-node, verifies the re-rendered files and starts a pod on the node', async () => {
        const started = Date.now()
        const report = await fix('--yes', '--probe', '--probe-image', REAL_NODE_IMAGES.pause, '--probe-namespace', probeNamespace!)
        log(`fix-calico --yes --probe took ${((Date.now() - started) / 1000).toFixed(1)}s`)
        expect(outcomes(report)).toMatchObject({
          'back-up': 'applied',
          'regenerate-cni-tokens': 'applied',
          'fix-cni-config': 'not-needed',
          'restart-calico-node': 'applied',
          'verify-cni-tokens': 'done',
          'probe-nodes': 'applied',
        })
        expect(report.restart?.oldPods).toEqual([podBefore])
        expect(report.restart?.newPods).toEqual([expect.objectContaining({ node: 'ktr-node' })])
        const [after] = report.nodes.after
        log(`after: ${after!.node} ${after!.verdict} via ${after!.source}: ${after!.reason}`)
        expect(after).toMatchObject({ node: 'ktr-node', verdict: 'current' })
        expect(after!.source).toContain(report.restart!.newPods[0]!.name)

        // On the host: the files were rendered again, by the new pod, with the Secret's new token.
        const fresh = await waitForToken(cluster.core, NS, secret!, fixture!.token!)
        const { conf, kubeconfig } = await hostTokens(hostDir)
        expect(conf).toBe(fresh)
        expect(kubeconfig).toBe(fresh)
        expect((await stat(join(hostDir, '10-calico.conf'))).mtimeMs).toBeGreaterThan(renderedBefore)
        const review = await tokenReview(cluster.authn, conf)
        expect(review).toMatchObject({ authenticated: true, user: { username: 'system:serviceaccount:kube-system:calico-node' } })
        log(`the token in ${hostDir}/10-calico.conf now authenticates as ${review.user?.username}; fix-calico's output is in ${scratch}`)
        log(`${hostDir}/10-calico.conf policy, rendered again: ${redacted(/"policy": \{[^}]*\}/.exec((await hostTokens(hostDir)).confText)?.[0] ?? '')}`)

        // --probe: a real pod on the real node, deleted afterwards.
        expect(report.probes).toEqual([expect.objectContaining({ node: 'ktr-node', outcome: 'ok' })])
        log(`probe: ${report.probes[0]!.pod} ${report.probes[0]!.detail}`)
        expect((await cluster.core.listNamespacedPod({ namespace: probeNamespace! })).items.filter((p) => !p.metadata?.deletionTimestamp)).toEqual([])
        expect((await fixturePods(cluster)).filter((p) => !p.metadata?.deletionTimestamp)).toHaveLength(1)
      })

      it('a second --yes finds nothing to do', async () => {
        const pod = (await runningFixturePod(cluster)).metadata!.uid
        const report = await fix('--yes')
        expect(outcomes(report)).toMatchObject({ 'regenerate-cni-tokens': 'not-needed', 'restart-calico-node': 'not-needed', 'verify-cni-tokens': 'done' })
        expect(report.nodes.before.map((n) => n.verdict)).toEqual(['current'])
        expect((await runningFixturePod(cluster)).metadata!.uid).toBe(pod)
      })

      it('--probe with an image the node cannot pull fails at once, saying so (exit 1), instead of waiting out its deadline', async () => {
        const started = Date.now()
        // The default probe image, registry.k8s.io/pause:3.10: this host reaches no registry (an air-gapped node).
        const report = await fixExpecting(1, '--yes', '--probe', '--probe-namespace', probeNamespace!)
        const seconds = (Date.now() - started) / 1000
        expect(report.probes).toEqual([expect.objectContaining({ node: 'ktr-node', outcome: 'failed' })])
        const { detail } = report.probes[0]!
        log(`probe with an image the node cannot pull, after ${seconds.toFixed(1)}s: ${detail}`)
        expect(detail).toMatch(/^(ErrImagePull|ImagePullBackOff)\b/)
        expect(detail).toContain('pass --probe-image')
        expect(seconds).toBeLessThan(100) // the deadline is --timeout 120
        expect(outcomes(report)['probe-nodes']).toBe('failed')
      })
    })
  })

  describe("no legacy token Secret: install-cni copied the pod's projected token", () => {
    useFixture({ legacy: false })
    let copied: string
    let podBefore: string

    beforeAll(async () => {
      copied = (await hostTokens(hostDir)).conf
      podBefore = (await runningFixturePod(cluster)).metadata!.uid!
      expect(await tokenReview(cluster.authn, copied)).toMatchObject({ authenticated: true })
      await cluster.handle.rotateServiceAccountKey({ keepOld: false })
      expect((await tokenReview(cluster.authn, copied)).authenticated ?? false).toBe(false)
    })

    it('--yes restarts calico-node because the node presents a stale token, and the new pod renders a current one', async () => {
      const report = await fix('--yes')
      expect(report.serviceAccount?.secrets).toEqual([])
      expect(report.nodes.before).toEqual([expect.objectContaining({ node: 'ktr-node', verdict: 'stale' })])
      // The only reason to restart: what the exec read on the node.
      expect(report.stderr).toContain('needed: 1 node(s) present a stale or missing CNI token (ktr-node)')
      log(`projected: ${report.stderr.split('\n').find((l) => l.includes('needed: 1 node(s) present'))?.trim()}`)
      expect(outcomes(report)).toMatchObject({ 'regenerate-cni-tokens': 'not-needed', 'restart-calico-node': 'applied', 'verify-cni-tokens': 'done' })
      expect(report.restart?.oldPods).toEqual([podBefore])
      expect(report.nodes.after).toEqual([expect.objectContaining({ node: 'ktr-node', verdict: 'current' })])

      const { conf, kubeconfig } = await hostTokens(hostDir)
      expect(conf).not.toBe(copied)
      expect(kubeconfig).toBe(conf)
      const review = await tokenReview(cluster.authn, conf)
      // A bound token: the new pod's own.
      expect(review).toMatchObject({ authenticated: true, user: { username: 'system:serviceaccount:kube-system:calico-node' } })
      expect(review.user?.extra?.['authentication.kubernetes.io/pod-name']).toEqual([report.restart!.newPods[0]!.name])
      log(`projected: the token on the host is now the new pod's (${review.user?.extra?.['authentication.kubernetes.io/pod-name']?.[0]}) and authenticates`)
    })
  })
})
