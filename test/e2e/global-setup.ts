// Provides the cluster every e2e test file runs against, and stops it after.
// There is no silent fallback: if no cluster can be had, setup throws and the
// whole e2e run fails with the reason.
import { join } from 'node:path'
import type { TestProject } from 'vitest/node'
import { chooseProvider, realNodeOf, startCluster, type ClusterInfo } from '../cluster/index.ts'
import { killLocalClusterNow } from '../cluster/local.ts'

declare module 'vitest' {
  export interface ProvidedContext {
    cluster: ClusterInfo
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const provider = chooseProvider()
  // A fresh directory per run inside the checkout (git-ignored): the logs of
  // the last run stay there for debugging.
  const dir = process.env.KTR_E2E_CLUSTER_DIR ?? join(process.cwd(), '.cache', 'e2e-cluster')
  const cluster = await startCluster(provider, dir)
  const realNode = realNodeOf(cluster)
  const info: ClusterInfo = { provider, kubeconfigPath: cluster.kubeconfigPath, realNode, ...(cluster.dir ? { dir: cluster.dir } : {}) }
  project.provide('cluster', info)
  process.stderr.write(`e2e: ${provider} cluster, kubeconfig ${cluster.kubeconfigPath}\n`)
  const nodeLine = realNode.status === 'up' ? `e2e: real node ${realNode.name} is up` : `e2e: real-node tests not run: ${realNode.reason}`
  process.stderr.write(`${nodeLine}\n`)

  // If the run is interrupted, leave no process behind (unless asked to keep
  // the cluster: then not at exit either, or KTR_KEEP_CLUSTER would keep nothing).
  const keep = process.env.KTR_KEEP_CLUSTER === '1'
  const killNow = () => provider === 'local' && !keep && killLocalClusterNow(dir)
  process.once('exit', killNow)
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      killNow()
      process.kill(process.pid, signal)
    })
  }
  return async () => {
    // Again at the end, next to the test summary.
    if (realNode.status !== 'up') process.stderr.write(`${nodeLine}\n`)
    if (keep) return
    await cluster.stop()
  }
}
