// `make demo`: the main job on the local cluster, start to finish. Builds a
// broken state, regenerates the signing key abruptly (old tokens: 401), runs
// `rotate-tokens --yes`, and shows every token verifying.
import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import * as k8s from '@kubernetes/client-node'
import { defaultClusterDir, startCluster } from '../cluster/index.ts'
import { buildScenario } from './scenario.ts'

const root = join(import.meta.dirname, '..', '..')
const say = (line: string) => process.stderr.write(`\n== ${line}\n`)
const started = Date.now()

say('1. A local cluster (control plane from Go modules, kwok nodes)')
const cluster = await startCluster('local', defaultClusterDir())
const kc = new k8s.KubeConfig()
kc.loadFromFile(cluster.kubeconfigPath)

say('2. Workloads that use legacy service-account token Secrets, and a 2018-style Calico')
// The demo cluster is long-lived: Calico's fixed names may be there from an earlier demo.
const hasCalico = await kc.makeApiClient(k8s.AppsV1Api).readNamespacedDaemonSet({ namespace: 'kube-system', name: 'calico-node' }).then(() => true, () => false)
const scenario = await buildScenario(kc, { calico: !hasCalico, log: (l) => process.stderr.write(`   ${l}\n`) })

say('3. The certificates are regenerated: new service-account key, the old one dropped')
await cluster.rotateServiceAccountKey({ keepOld: false })

const runbook = (name: string, args: string[]) => {
  process.stderr.write(`\n$ ./runbooks/${name}.ts ${args.join(' ')}\n`)
  return spawnSync(join(root, 'runbooks', `${name}.ts`), args, { cwd: root, stdio: 'inherit', env: { ...process.env, KUBECONFIG: cluster.kubeconfigPath } }).status
}
const scope = scenario.namespaces.flatMap((n) => ['--secret', `${n}/${scenario.secrets.find((s) => s.startsWith(`${n}/`))!.split('/')[1]}`])
say('4. Every token is now rejected')
runbook('verify-token', scope)

say('5. The maintenance job')
// The key changed just now: every pod started before now holds a projected token signed by the old key.
const code = runbook('rotate-tokens', ['-A', '--yes', '--recreate-bare-pods', '--bound-before', 'now'])

say('6. Proof')
runbook('verify-token', ['--all', '-A'])
process.stderr.write(
  `\nDemo ${code === 0 ? 'succeeded' : `ended with exit code ${code}`} in ${Math.round((Date.now() - started) / 1000)}s. ` +
    `The cluster keeps running: export KUBECONFIG=${cluster.kubeconfigPath}; tear it down with \`make cluster-down\`.\n`,
)
process.exitCode = code ?? 1
