// rotate-tokens on a bad day must never report a false success, and must act
// on the cluster it was told to: an API server that answers 500 to every
// Secret list fails the run with the cause named (and changes nothing), and an
// --env-file naming a kubeconfig is the only cluster the run touches, even
// when ~/.kube/config names another.
import { execFile, spawn } from 'node:child_process'
import { createServer, request as httpsRequest, type Server } from 'node:https'
import { promisify } from 'node:util'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as k8s from '@kubernetes/client-node'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createNamespace, createTokenSecret, deleteNamespace, useCluster, type TestCluster } from './support/cluster.ts'
import type { CliResult } from './support/cli.ts'

const root = join(import.meta.dirname, '..', '..')

/** Runs rotate-tokens with exactly `env` (nothing inherited but PATH), so no KUBECONFIG leaks in. */
function rotate(args: string[], env: Record<string, string>): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(join(root, 'runbooks', 'rotate-tokens.ts'), args, { cwd: env.HOME, env: { PATH: process.env.PATH ?? '', NO_COLOR: '1', ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
    const timer = setTimeout(() => child.kill('SIGKILL'), 170_000)
    child.on('error', reject)
    child.on('close', (code) => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr })
    })
  })
}

/**
 * An HTTPS front for the real API server (loopback only, test fixture, its
 * own self-signed certificate, which the test's kubeconfig trusts): every
 * list of Secrets gets a 500, everything else is passed through with TLS
 * verified against the cluster's CA.
 */
async function failingSecretsProxy(cluster: TestCluster, dir: string): Promise<{ server: Server; url: string; ca: string; secretLists: () => number }> {
  const key = join(dir, 'proxy.key')
  const cert = join(dir, 'proxy.crt')
  await promisify(execFile)('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'])
  const upstream = new URL(cluster.kc.getCurrentCluster()!.server)
  const current = cluster.kc.getCurrentCluster()!
  const ca = current.caData ? Buffer.from(current.caData, 'base64') : await readFile(current.caFile!)
  let lists = 0
  const server = createServer({ key: await readFile(key), cert: await readFile(cert) }, (req, res) => {
    const path = req.url ?? '/'
    if (req.method === 'GET' && /\/secrets(\?|$)/.test(path)) {
      lists++
      res.writeHead(500, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', message: 'injected failure: etcdserver: request timed out', code: 500 }))
      return
    }
    const out = httpsRequest({ host: upstream.hostname, port: upstream.port, path, method: req.method, headers: { ...req.headers, host: upstream.host }, ca }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers)
      answer.pipe(res)
    })
    out.on('error', () => res.destroy())
    req.pipe(out)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return { server, url: `https://127.0.0.1:${(server.address() as AddressInfo).port}`, ca: (await readFile(cert)).toString('base64'), secretLists: () => lists }
}

describe('rotate-tokens fails closed', () => {
  let cluster: TestCluster
  let scratch: string
  let namespace: string
  let adminToken: string

  beforeAll(async () => {
    cluster = await useCluster()
    scratch = await mkdtemp(join(tmpdir(), 'ktr-failclosed-'))
    namespace = await createNamespace(cluster.core, 'failclosed')
    await cluster.core.createNamespacedServiceAccount({ namespace, body: { metadata: { name: 'operator' } } })
    const rbac = cluster.kc.makeApiClient(k8s.RbacAuthorizationV1Api)
    await rbac.createClusterRoleBinding({
      body: { metadata: { name: namespace }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'cluster-admin' }, subjects: [{ kind: 'ServiceAccount', name: 'operator', namespace }] },
    })
    const request = await cluster.core.createNamespacedServiceAccountToken({ namespace, name: 'operator', body: { spec: { audiences: [], expirationSeconds: 3600 } } })
    adminToken = request.status?.token ?? ''
    await cluster.core.createNamespacedServiceAccount({ namespace, body: { metadata: { name: 'app' } } })
    await createTokenSecret(cluster.core, namespace, 'app-token', 'app')
  })
  afterAll(async () => {
    if (!cluster) return
    await cluster.kc.makeApiClient(k8s.RbacAuthorizationV1Api).deleteClusterRoleBinding({ name: namespace }).catch(() => undefined)
    await deleteNamespace(cluster.core, namespace)
    await rm(scratch, { recursive: true, force: true })
  })

  it('exits 1 naming the 500 when every Secret list fails, and changes nothing', async () => {
    const proxy = await failingSecretsProxy(cluster, scratch)
    try {
      const kubeconfig = join(scratch, 'proxy.kubeconfig')
      await writeFile(
        kubeconfig,
        `apiVersion: v1\nkind: Config\nclusters: [{name: p, cluster: {server: "${proxy.url}", certificate-authority-data: "${proxy.ca}"}}]\nusers: [{name: u, user: {token: "${adminToken}"}}]\ncontexts: [{name: p, context: {cluster: p, user: u}}]\ncurrent-context: p\n`,
        { mode: 0o600 },
      )
      const before = (await cluster.core.readNamespacedSecret({ namespace, name: 'app-token' })).data
      const result = await rotate(['--yes', '--skip-calico', '--report-dir', scratch, '-o', 'json'], { HOME: scratch, KUBECONFIG: kubeconfig, KTR_REQUEST_TIMEOUT: '10s' })
      expect(result.code, result.stderr.slice(-2000)).toBe(1)
      const report = JSON.parse(result.stdout) as { ok: boolean; steps: Array<{ id: string; outcome: string; summary: string }> }
      expect(report.ok).toBe(false)
      const find = report.steps.find((s) => s.id === 'find-stale-tokens')
      expect(find?.outcome).toBe('failed')
      expect(find?.summary).toMatch(/answered 500: injected failure: etcdserver: request timed out; the control plane is failing/)
      // Nothing after the failure ran, and nothing claims success.
      expect(report.steps.filter((s) => s.outcome === 'applied' || s.outcome === 'done').map((s) => s.id)).toEqual(['preflight'])
      expect(result.stdout + result.stderr).not.toMatch(/all \d+ token Secret\(s\) valid/)
      expect(proxy.secretLists()).toBeGreaterThan(0)
      expect((await cluster.core.readNamespacedSecret({ namespace, name: 'app-token' })).data).toEqual(before)
    } finally {
      proxy.server.close()
    }
  })

  it('acts only on the cluster its --env-file names, even when ~/.kube/config names another', async () => {
    const home = join(scratch, 'home')
    await mkdir(join(home, '.kube'), { recursive: true })
    // ~/.kube/config points at a cluster that does not exist: touching it would fail the run.
    await writeFile(
      join(home, '.kube', 'config'),
      'apiVersion: v1\nkind: Config\nclusters: [{name: wrong, cluster: {server: "https://127.0.0.1:9"}}]\nusers: [{name: u, user: {token: "x"}}]\ncontexts: [{name: wrong-production, context: {cluster: wrong, user: u}}]\ncurrent-context: wrong-production\n',
    )
    const envFile = join(scratch, 'cluster-a.env')
    await writeFile(envFile, `KUBECONFIG=${cluster.kubeconfigPath}\n`)
    const result = await rotate(['--env-file', envFile, '-n', namespace, '--skip-calico', '--dry-run', '--report-dir', scratch], { HOME: home })
    expect(result.code, result.stderr.slice(-2000)).toBe(0)
    const server = cluster.kc.getCurrentCluster()!.server
    expect(result.stderr).toContain(`cluster: context ${cluster.kc.getCurrentContext()} at ${server}`)
    expect(result.stderr).toContain(`env file: ${envFile}`)
    expect(result.stderr + result.stdout).not.toMatch(/wrong-production|127\.0\.0\.1:9\b/)
  })
})
