// The runbooks on a bad day (issue 10), each fault in a namespace of its own:
//  - kube-apiserver restarted while regenerate-tokens regenerates;
//  - kube-controller-manager hung (SIGSTOP): the refill wait ends at its deadline;
//  - a PodDisruptionBudget that never allows an eviction;
//  - rotate-tokens killed (SIGINT, SIGKILL) at every step boundary;
//  - a concurrent writer changing a Secret between check and apply;
//  - --strategy recreate with the create refused by a ValidatingAdmissionPolicy.
// Each asserts that the run completes or fails naming the cause, that it did
// not hammer the API server (its own /metrics counts the requests), that no
// Secret is lost (the namespace's Secret names before and after), and that
// the same command run again completes with tokens TokenReview accepts.
// The first two need the harness to own the control plane's processes (the
// local provider); elsewhere they are skipped, saying so.
import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as k8s from '@kubernetes/client-node'
import { beforeAll, describe, expect, it, type TestContext } from 'vitest'
import { REGENERATED_AT_ANNOTATION } from '../../lib/annotations.ts'
import type { FaultControls } from '../cluster/index.ts'
import { legacyClaims, makeSigningKey, signToken } from '../unit/helpers/tokens.ts'
import {
  createNamespace,
  createTokenSecrets,
  deleteNamespace,
  ignoreNotFound,
  podTemplateReading,
  secretNames,
  tokenReview,
  tokensIn,
  useCluster,
  waitFor,
  type TestCluster,
} from './support/cluster.ts'
import { jsonOf, runRunbook, type CliResult, type RunOptions } from './support/cli.ts'
import { addRequests, countOf, describeRequests, requestsBetween, scrapeRequestCounts, type RequestCounts } from './support/requests.ts'

const log = (line: string) => process.stderr.write(`faults: ${line}\n`)
/** What the tests look at in the request counts: what the runbooks ask for. */
const RUNBOOK_RESOURCES = ['secrets', 'pods', 'deployments', 'replicasets', 'serviceaccounts', 'tokenreviews', 'poddisruptionbudgets']
const names = (prefix: string, count: number) => Array.from({ length: count }, (_, i) => `${prefix}-${String(i + 1).padStart(2, '0')}`)

interface RegenerateReport {
  ok: boolean
  steps: Array<{ id: string; outcome: string; summary: string }>
  secrets: Array<{ key: string; verdict: string; outcome?: string }>
}

describe('faults', () => {
  let cluster: TestCluster
  let scratch: string

  beforeAll(async () => {
    cluster = await useCluster()
    scratch = await mkdtemp(join(tmpdir(), 'ktr-faults-'))
  })

  /** The harness's fault controls, or a reported skip where the provider has none. */
  const faultsOr = (ctx: TestContext): FaultControls => {
    const faults = cluster.handle.faults
    if (!faults) ctx.skip(`needs the local provider's fault controls (stop, restart, suspend a control-plane process); E2E_PROVIDER=${cluster.handle.provider} does not own those processes`)
    return faults!
  }

  const run = (runbook: string, args: string[], opts: RunOptions = {}) => runRunbook(runbook, args, { kubeconfig: cluster.kubeconfigPath, ...opts })
  const scrape = () => scrapeRequestCounts(cluster.kc)

  /** A namespace with ServiceAccount `app` and `count` filled token Secrets; deleted by `done`. */
  async function tokenNamespace(prefix: string, count: number): Promise<{ namespace: string; secrets: string[]; tokens: Map<string, string> }> {
    const namespace = await createNamespace(cluster.core, prefix)
    await cluster.core.createNamespacedServiceAccount({ namespace, body: { metadata: { name: 'app' } } })
    const secrets = names('app-token', count)
    const tokens = await createTokenSecrets(cluster.core, namespace, secrets, 'app')
    return { namespace, secrets, tokens }
  }

  /** Every token Secret in `namespace` holds a token that TokenReview authenticates. */
  async function expectTokensValid(namespace: string, secrets: readonly string[]): Promise<void> {
    const tokens = await tokensIn(cluster.core, namespace)
    for (const name of secrets) {
      const token = tokens.get(name)
      expect(token, `${namespace}/${name} holds a token`).toBeTruthy()
      expect((await tokenReview(cluster.authn, token!)).authenticated, `${namespace}/${name} authenticates`).toBe(true)
    }
  }

  /** The rerun: the same command exits 0 and every token in the namespace is valid. */
  async function expectRerunCompletes(runbook: string, args: string[], namespace: string, secrets: readonly string[]): Promise<CliResult> {
    const again = await run(runbook, args)
    expect(again.code, again.stderr.slice(-3000)).toBe(0)
    await expectTokensValid(namespace, secrets)
    return again
  }

  /** Logs what the fault cost, for the record (the note of issue 10 lists these numbers). */
  function record(fault: string, served: RequestCounts, inventory: { before: string[]; after: string[] }): void {
    log(`${fault}: requests ${describeRequests(served, RUNBOOK_RESOURCES)}`)
    log(`${fault}: Secrets before ${inventory.before.length} [${inventory.before.join(' ')}], after ${inventory.after.length} (${inventory.after.join(' ') === inventory.before.join(' ') ? 'same names' : `DIFFERENT: ${inventory.after.join(' ')}`})`)
  }

  it('kube-apiserver restarted in the middle of regeneration: the run carries on or fails naming the unreachable server; a rerun completes', async (ctx) => {
    const faults = faultsOr(ctx)
    const { namespace, secrets } = await tokenNamespace('apiserver-restart', 20)
    try {
      const args = ['-n', namespace, '--all-tokens', '--yes', '--max-parallel', '2', '--timeout', '90', '--backup-dir', join(scratch, 'apiserver-restart'), '-o', 'json']
      const before = await secretNames(cluster.core, namespace)
      const first = await scrape()
      let beforeRestart: RequestCounts | undefined
      const result = await run('regenerate-tokens', args, {
        on: {
          stderr: /\[3\/3\] Regenerate the tokens/,
          act: async () => {
            beforeRestart = await scrape()
            await faults.restart('kube-apiserver')
          },
        },
      })
      expect(result.acted, `the run never reached its regenerate step:\n${result.stderr.slice(-2000)}`).toBeDefined()
      await result.acted
      // The counter restarted with the API server: what the old one served, plus the new one's.
      const served = addRequests(requestsBetween(first, beforeRestart!), await scrape())
      const report = jsonOf<RegenerateReport>(result)
      const regenerate = report.steps.find((s) => s.id === 'regenerate-tokens')
      if (result.code === 0) {
        expect(regenerate?.outcome).toBe('applied')
      } else {
        expect(result.code, result.stderr.slice(-3000)).toBe(1)
        expect(regenerate?.outcome).toBe('failed')
        expect(regenerate?.summary).toMatch(/cannot reach the API server|dropped the connection|did not answer|answered 50\d|tokens controller did not refill/)
      }
      log(`kube-apiserver restart: exit ${result.code}; regenerate-tokens ${regenerate?.outcome}: ${regenerate?.summary}`)
      const after = await secretNames(cluster.core, namespace)
      record('kube-apiserver restart', served, { before, after })
      expect(after).toEqual(before)
      // 20 Secrets: a blank each, a handful of lists and watches; a hot loop makes hundreds.
      expect(countOf(served, ['LIST', 'WATCH'], ['secrets'])).toBeLessThanOrEqual(40)
      expect(countOf(served, ['PATCH'], ['secrets'])).toBeLessThanOrEqual(2 * secrets.length)
      await expectRerunCompletes('regenerate-tokens', args, namespace, secrets)
    } finally {
      await deleteNamespace(cluster.core, namespace)
    }
  })

  it('kube-controller-manager hung (SIGSTOP): the refill wait ends at its deadline naming the tokens controller, with few requests; resumed, a rerun completes', async (ctx) => {
    const faults = faultsOr(ctx)
    const { namespace, secrets } = await tokenNamespace('kcm-hung', 20)
    try {
      const args = ['-n', namespace, '--all-tokens', '--yes', '--timeout', '10', '--backup-dir', join(scratch, 'kcm-hung'), '-o', 'json']
      const before = await secretNames(cluster.core, namespace)
      let result: CliResult
      let served: RequestCounts
      await faults.suspend('kube-controller-manager')
      try {
        const first = await scrape()
        result = await run('regenerate-tokens', args)
        served = requestsBetween(first, await scrape())
      } finally {
        await faults.resume('kube-controller-manager')
      }
      expect(result.code, result.stderr.slice(-3000)).toBe(1)
      const regenerate = jsonOf<RegenerateReport>(result).steps.find((s) => s.id === 'regenerate-tokens')
      expect(regenerate?.outcome).toBe('failed')
      expect(regenerate?.summary).toMatch(/^the tokens controller did not refill 20 Secret\(s\) within 10s: .*Check that kube-controller-manager is running/)
      log(`kube-controller-manager suspended: exit ${result.code}; ${regenerate?.summary}`)
      const after = await secretNames(cluster.core, namespace)
      record('kube-controller-manager suspended', served, { before, after })
      expect(after).toEqual(before)
      // Every Secret blanked once (the counter counts), and the wait listed and watched a few times in 10 s, not in a loop.
      expect(countOf(served, ['PATCH'], ['secrets'])).toBe(secrets.length)
      expect(countOf(served, ['LIST'], ['secrets'])).toBeLessThanOrEqual(6)
      expect(countOf(served, ['WATCH'], ['secrets'])).toBeLessThanOrEqual(6)
      // Resumed, the controller refills what was blanked; the rerun then finds (and regenerates) current tokens.
      await waitFor('the resumed controller to refill every Secret', async () => [...(await tokensIn(cluster.core, namespace)).values()].every(Boolean))
      await expectRerunCompletes('regenerate-tokens', args, namespace, secrets)
    } finally {
      await deleteNamespace(cluster.core, namespace)
    }
  })

  it('a PodDisruptionBudget that never allows an eviction: restart-dependent-pods fails at its deadline naming the budget, after a few evictions; relaxed, a rerun completes', async () => {
    const { namespace, secrets } = await tokenNamespace('pdb-never', 1)
    try {
      const policy = cluster.kc.makeApiClient(k8s.PolicyV1Api)
      // A ReplicaSet without a Deployment: no rollout can replace its pods, so they are evicted one by one.
      await cluster.apps.createNamespacedReplicaSet({
        namespace,
        body: {
          metadata: { name: 'worker' },
          spec: {
            replicas: 2,
            selector: { matchLabels: { app: 'worker' } },
            template: podTemplateReading('worker', secrets[0]!),
          },
        },
      })
      await policy.createNamespacedPodDisruptionBudget({ namespace, body: { metadata: { name: 'never' }, spec: { maxUnavailable: 0, selector: { matchLabels: { app: 'worker' } } } } })
      const readyPods = async () => {
        const pods = (await cluster.core.listNamespacedPod({ namespace, labelSelector: 'app=worker' })).items.filter((p) => !p.metadata?.deletionTimestamp)
        const ready = pods.filter((p) => p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'))
        return ready.length === 2 && pods.length === 2 ? ready.map((p) => p.metadata!.uid!).sort() : undefined
      }
      const oldPods = await waitFor('2 ready worker pods', readyPods)
      // Its token regenerated after the pods started: they hold the old one.
      const regenerated = await run('regenerate-tokens', ['-n', namespace, '--all-tokens', '--yes', '--backup-dir', join(scratch, 'pdb-regenerate')])
      expect(regenerated.code, regenerated.stderr.slice(-2000)).toBe(0)

      const args = ['-n', namespace, '--yes', '--timeout', '12', '--backup-dir', join(scratch, 'pdb-never'), '-o', 'json']
      const before = await secretNames(cluster.core, namespace)
      const first = await scrape()
      const result = await run('restart-dependent-pods', args)
      const served = requestsBetween(first, await scrape())
      expect(result.code, result.stderr.slice(-3000)).toBe(1)
      const restart = jsonOf<{ steps: Array<{ id: string; outcome: string; summary: string }> }>(result).steps.find((s) => s.id === 'restart-workloads')
      expect(restart?.outcome).toBe('failed')
      expect(restart?.summary).toMatch(new RegExp(`timed out after 12s waiting for eviction of pod ${namespace}/worker-\\w+ .*PodDisruptionBudget ${namespace}/never allows no disruption`))
      log(`PodDisruptionBudget never: exit ${result.code}; ${restart?.summary}`)
      const after = await secretNames(cluster.core, namespace)
      record('PodDisruptionBudget never', served, { before, after })
      expect(after).toEqual(before)
      // One eviction every 5 s for 12 s, not a loop; and no pod was lost meanwhile.
      const evictions = countOf(served, ['POST'], ['pods/eviction'])
      expect(evictions).toBeGreaterThanOrEqual(1)
      expect(evictions).toBeLessThanOrEqual(6)
      expect(await readyPods()).toEqual(oldPods)

      await policy.deleteNamespacedPodDisruptionBudget({ namespace, name: 'never' })
      await expectRerunCompletes('restart-dependent-pods', args, namespace, secrets)
      const newPods = await waitFor('2 ready worker pods after the rerun', readyPods)
      expect(newPods.filter((uid) => oldPods.includes(uid))).toEqual([])
    } finally {
      await deleteNamespace(cluster.core, namespace)
    }
  })

  it('rotate-tokens killed with SIGKILL, then with SIGINT, at every step boundary: each rerun continues, no Secret is lost, and the last run completes having restarted the Deployment once', async () => {
    const { namespace, secrets } = await tokenNamespace('killed', 1)
    try {
      await cluster.apps.createNamespacedDeployment({
        namespace,
        body: { metadata: { name: 'app' }, spec: { replicas: 2, selector: { matchLabels: { app: 'app' } }, template: podTemplateReading('app', secrets[0]!) } },
      })
      await waitFor('the Deployment to be available', async () => (await cluster.apps.readNamespacedDeployment({ namespace, name: 'app' })).status?.availableReplicas === 2)
      // As after a key rotation, without restarting the control plane: the Secret's token is signed by a key the cluster does not trust.
      await setToken(namespace, secrets[0]!, await foreignToken(namespace, secrets[0]!))
      const args = ['-n', namespace, '--yes', '--skip-calico', '--timeout', '60', '--backup-dir', join(scratch, 'killed'), '--report-dir', scratch]
      const before = await secretNames(cluster.core, namespace)
      const first = await scrape()
      const steps = 9 // preflight, 3 of regenerate-tokens, 4 of restart-dependent-pods, verify
      // At each boundary: SIGKILL as the step starts (it never finishes), then a rerun gets SIGINT there (it finishes that step and stops).
      for (let step = 2; step <= steps; step++) {
        for (const signal of ['SIGKILL', 'SIGINT'] as const) {
          const killed = await run('rotate-tokens', args, { on: { stderr: new RegExp(`^\\[${step}/${steps}\\] `, 'm'), act: (r) => r.signal(signal) } })
          const where = `${signal} at step ${step}/${steps}`
          expect(killed.acted, `${where}: the run never reached that step:\n${killed.stderr.slice(-2000)}`).toBeDefined()
          if (signal === 'SIGKILL') {
            expect(killed.signal, where).toBe('SIGKILL')
          } else {
            // Ctrl-C: the step under way finishes and the next does not start (exit 130). A step
            // can be over before the signal lands; then the run stops at the next boundary, or,
            // past the last step, finishes with nothing left to stop (exit 0).
            expect(killed.stderr, where).toMatch(/interrupt: finishing the current step/)
            if (killed.code === 0) {
              expect(killed.stderr, `${where}: exit 0 only when the interrupt landed in the last step`).toMatch(new RegExp(`^\\[${steps}/${steps}\\] [\\s\\S]*interrupt: finishing the current step`, 'm'))
            } else {
              expect(killed.code, `${where}: ${killed.stderr.slice(-2000)}`).toBe(130)
              expect(Number(/interrupted: stopped before step (\d+)\/9/.exec(killed.stderr)?.[1]), where).toBeGreaterThan(step)
            }
          }
          expect(await secretNames(cluster.core, namespace), `Secrets after ${where}`).toEqual(before)
        }
      }
      const last = await expectRerunCompletes('rotate-tokens', args, namespace, secrets)
      const served = requestsBetween(first, await scrape())
      log(`rotate-tokens killed 16 times: last run exit ${last.code}: ${/\n(.*token Secret\(s\) valid.*)/.exec(last.stdout + last.stderr)?.[1] ?? ''}`)
      record('rotate-tokens killed 16 times', served, { before, after: await secretNames(cluster.core, namespace) })
      // Restarted exactly once across all seventeen runs: one template change after creation, one PATCH.
      expect((await cluster.apps.readNamespacedDeployment({ namespace, name: 'app' })).metadata!.generation).toBe(2)
      expect(countOf(served, ['PATCH'], ['deployments'])).toBe(1)
    } finally {
      await deleteNamespace(cluster.core, namespace)
    }
    // Seventeen runs of a whole process each: ~1 min on an idle 2-core machine, several on a loaded one.
  }, 480_000)

  describe.each(['in-place', 'recreate'] as const)('a concurrent writer, --strategy %s', (strategy) => {
    it('changes a Secret between check and apply: the guard refuses to overwrite it, the run names it, nothing is lost, a rerun completes', async () => {
      const { namespace, secrets, tokens } = await tokenNamespace(`writer-${strategy}`, 20)
      try {
        // The last Secret is changed after the run read it, while it backs up the others and regenerates them one at a time.
        const victim = secrets.at(-1)!
        const theirs = await foreignToken(namespace, victim)
        const args = ['-n', namespace, '--all-tokens', '--yes', '--strategy', strategy, '--max-parallel', '1', '--timeout', '60', '--backup-dir', join(scratch, `writer-${strategy}`), '-o', 'json']
        const before = await secretNames(cluster.core, namespace)
        const first = await scrape()
        const result = await run('regenerate-tokens', args, {
          on: { stderr: /\[2\/3\] Back up the Secrets/, act: () => setToken(namespace, victim, theirs, tokens.get(victim)) },
        })
        const served = requestsBetween(first, await scrape())
        expect(result.acted).toBeDefined()
        // The writer's own patch is guarded too: it fails if the run changed the Secret first (then this test did not inject its fault).
        await expect(result.acted, 'the writer came too late: the run had already regenerated the Secret').resolves.toBeUndefined()
        const report = jsonOf<RegenerateReport>(result)
        expect(report.secrets.find((s) => s.key === `${namespace}/${victim}`)?.outcome).toBe('already-changed')
        const regenerate = report.steps.find((s) => s.id === 'regenerate-tokens')
        log(`concurrent writer (${strategy}): exit ${result.code}; regenerate-tokens ${regenerate?.outcome}: ${regenerate?.summary}`)
        expect(result.code, result.stderr.slice(-3000)).toBe(1)
        expect(regenerate?.summary).toMatch(new RegExp(`${namespace}/${victim}: the new token is not signed by a current key`))
        // The writer's token stands: the run did not overwrite what it had not seen.
        expect((await tokensIn(cluster.core, namespace)).get(victim)).toBe(theirs)
        const after = await secretNames(cluster.core, namespace)
        record(`concurrent writer (${strategy})`, served, { before, after })
        expect(after).toEqual(before)
        expect(countOf(served, ['LIST', 'WATCH'], ['secrets'])).toBeLessThanOrEqual(10)
        // The run's own writes (one per Secret) and the API server's legacy-token-last-used labels (one per token used); DELETEs
        // are not counted: the namespace controller deletes the Secrets of earlier tests' namespaces meanwhile.
        expect(countOf(served, ['PATCH', 'POST'], ['secrets'])).toBeLessThanOrEqual(3 * secrets.length)
        await expectRerunCompletes('regenerate-tokens', args, namespace, secrets)
      } finally {
        await deleteNamespace(cluster.core, namespace)
      }
    })
  })

  it('--strategy recreate with the create refused by a ValidatingAdmissionPolicy: the Secret is put back from the backup and the step fails naming the denial; without the policy a rerun completes', async () => {
    const { namespace, secrets, tokens } = await tokenNamespace('vap-deny', 2)
    const uidOf = async (name: string) => (await cluster.core.readNamespacedSecret({ namespace, name })).metadata!.uid!
    const regeneratedAt = async (name: string) => (await cluster.core.readNamespacedSecret({ namespace, name })).metadata?.annotations?.[REGENERATED_AT_ANNOTATION]
    const admission = cluster.kc.makeApiClient(k8s.AdmissionregistrationV1Api)
    const victim = secrets[0]!
    const policyName = `ktr-e2e-${namespace}`
    try {
      // Refuses creating the victim without a token: the re-created copy (the controller fills it) is refused, the backed-up one is not.
      await admission.createValidatingAdmissionPolicy({
        body: {
          metadata: { name: policyName },
          spec: {
            failurePolicy: 'Fail',
            matchConstraints: { resourceRules: [{ apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE'], resources: ['secrets'] }] },
            validations: [{ expression: `object.metadata.name != '${victim}' || (has(object.data) && 'token' in object.data)`, message: `test policy: ${victim} may not be created without a token` }],
          },
        },
      })
      await admission.createValidatingAdmissionPolicyBinding({
        body: {
          metadata: { name: policyName },
          spec: { policyName, validationActions: ['Deny'], matchResources: { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': namespace } } } },
        },
      })
      // In force once a dry-run create without a token is denied (before it would be 409 AlreadyExists).
      const denied = async () =>
        cluster.core
          .createNamespacedSecret({ namespace, dryRun: 'All', body: { metadata: { name: victim }, type: 'Opaque' } })
          .then(
            () => false,
            (err: unknown) => /may not be created without a token/.test(String((err as { body?: unknown }).body)),
          )
      await waitFor('the ValidatingAdmissionPolicy to be in force', denied)

      const args = ['-n', namespace, '--all-tokens', '--yes', '--strategy', 'recreate', '--max-parallel', '1', '--timeout', '60', '--backup-dir', join(scratch, 'vap-deny'), '-o', 'json']
      const before = await secretNames(cluster.core, namespace)
      const originalUid = await uidOf(victim)
      const first = await scrape()
      const result = await run('regenerate-tokens', args)
      const served = requestsBetween(first, await scrape())
      expect(result.code, result.stderr.slice(-3000)).toBe(1)
      const regenerate = jsonOf<RegenerateReport>(result).steps.find((s) => s.id === 'regenerate-tokens')
      expect(regenerate?.outcome).toBe('failed')
      expect(regenerate?.summary).toMatch(new RegExp(`could not create Secret ${namespace}/${victim} again \\(422 .*may not be created without a token\\); it was put back from the backup as it was`))
      log(`ValidatingAdmissionPolicy denies the re-create: exit ${result.code}; ${regenerate?.summary}`)
      const after = await secretNames(cluster.core, namespace)
      record('ValidatingAdmissionPolicy', served, { before, after })
      expect(after).toEqual(before)
      // Deleted, then back as it was (a new object from the backup, not the re-created copy, which is stamped regenerated-at): its old token, which still authenticates.
      expect(await uidOf(victim)).not.toBe(originalUid)
      expect(await regeneratedAt(victim)).toBeUndefined()
      expect((await tokensIn(cluster.core, namespace)).get(victim)).toBe(tokens.get(victim))
      expect((await tokenReview(cluster.authn, tokens.get(victim)!)).authenticated).toBe(true)
      expect(countOf(served, ['POST'], ['secrets'])).toBeLessThanOrEqual(2 * secrets.length + 2)

      await admission.deleteValidatingAdmissionPolicyBinding({ name: policyName })
      await admission.deleteValidatingAdmissionPolicy({ name: policyName })
      await waitFor('the ValidatingAdmissionPolicy to be gone', async () => !(await denied()))
      const putBackUid = await uidOf(victim)
      await expectRerunCompletes('regenerate-tokens', args, namespace, secrets)
      // Re-created this time. (The same key signs the same claims: a legacy token comes out byte-identical, so the token cannot tell.)
      expect(await uidOf(victim)).not.toBe(putBackUid)
      expect(await regeneratedAt(victim)).toBeDefined()
    } finally {
      await admission.deleteValidatingAdmissionPolicyBinding({ name: policyName }).catch(ignoreNotFound)
      await admission.deleteValidatingAdmissionPolicy({ name: policyName }).catch(ignoreNotFound)
      await deleteNamespace(cluster.core, namespace)
    }
  })

  /** A legacy token for `namespace/secret` of ServiceAccount app, signed by a key the cluster has never trusted. */
  async function foreignToken(namespace: string, secret: string): Promise<string> {
    const account = await cluster.core.readNamespacedServiceAccount({ namespace, name: 'app' })
    return signToken(legacyClaims({ namespace, serviceAccount: 'app', serviceAccountUid: account.metadata!.uid!, secretName: secret }), makeSigningKey())
  }

  /** Writes `token` into the Secret; with `expected`, only if it still holds that token (a JSON-patch test, as the runbooks guard their own writes). */
  async function setToken(namespace: string, name: string, token: string, expected?: string): Promise<void> {
    const b64 = (t: string) => Buffer.from(t).toString('base64')
    await cluster.core.patchNamespacedSecret(
      { namespace, name, body: [...(expected === undefined ? [] : [{ op: 'test', path: '/data/token', value: b64(expected) }]), { op: 'replace', path: '/data/token', value: b64(token) }] },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.JsonPatch),
    )
  }
})
