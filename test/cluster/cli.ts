// `make cluster-up | cluster-rotate-key | cluster-down`: the local cluster for
// people and scripts. cluster-up prints the admin kubeconfig path as the last
// line of stdout (everything else goes to stderr), so
//   export KUBECONFIG=$(make -s cluster-up)
// works.
import { chooseProvider, defaultClusterDir, startCluster, attachCluster, stopLocalCluster } from './index.ts'

const usage = 'usage: node test/cluster/cli.ts up | rotate-key [--keep-old] | down'

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv
  const dir = defaultClusterDir()
  const provider = chooseProvider({ ...process.env, KUBECONFIG: undefined })
  switch (command) {
    case 'up': {
      const cluster = await startCluster(provider, dir)
      process.stdout.write(`${cluster.kubeconfigPath}\n`)
      return 0
    }
    case 'rotate-key': {
      const keepOld = rest.includes('--keep-old') || process.env.KEEP_OLD === '1'
      const cluster = await attachCluster({ provider, kubeconfigPath: '', dir })
      await cluster.rotateServiceAccountKey({ keepOld })
      process.stderr.write(`rotated the service-account key (${keepOld ? 'graceful: old key still trusted' : 'abrupt: old tokens now get 401'})\n`)
      return 0
    }
    case 'down': {
      if (provider === 'local') {
        const stopped = await stopLocalCluster(dir)
        process.stderr.write(stopped ? `stopped the cluster in ${dir}\n` : `no cluster running in ${dir}\n`)
      } else {
        await (await attachCluster({ provider, kubeconfigPath: '', dir })).stop()
      }
      return 0
    }
    default:
      process.stderr.write(`${usage}\n`)
      return 2
  }
}

main(process.argv.slice(2)).then(
  (code) => (process.exitCode = code),
  (err: unknown) => {
    process.stderr.write(`error: ${err instanceof Error ? err.message : String(err)}\n`)
    process.exitCode = 1
  },
)
