// Finds the control-plane binaries, envtest style, or builds them once.
// Order per binary: TEST_ASSET_<NAME> > $KUBEBUILDER_ASSETS/<name> > the
// version-keyed cache; only if the cache lacks something and `go` exists do we
// build from Go modules (test/cluster/build-binaries.sh).
import { execFileSync } from 'node:child_process'
import { existsSync, statSync } from 'node:fs'
import { homedir } from 'node:os'
import { join, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { $ } from 'zx'
import { versions } from './versions.ts'

export const binaryNames = ['etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kwok'] as const
export type BinaryName = (typeof binaryNames)[number]
/** What the real node runs; built only when a real node is wanted. */
export const nodeBinaryNames = ['kubelet', 'containerd', 'containerd-shim-runc-v2', 'ctr', 'runc', 'crictl'] as const
export type NodeBinaryName = (typeof nodeBinaryNames)[number]

export interface Binaries {
  paths: Record<BinaryName, string>
  /** Directory with kwok's stage YAMLs (node and pod lifecycles). */
  kwokStages: string
  /** Present when the real node's binaries were asked for. */
  node?: {
    paths: Record<NodeBinaryName, string>
    cniBinDir: string
    /** Image archives to import into containerd (pause and probe). */
    images: string[]
  }
}

export function cacheRoot(env = process.env): string {
  const base = env.XDG_CACHE_HOME || join(homedir(), '.cache')
  return join(base, 'kube-token-runbooks')
}

export function binaryCacheDir(env = process.env): string {
  return join(cacheRoot(env), 'bin', `k8s-${versions.kubernetes}`)
}

function fromEnvironment(name: BinaryName, env: NodeJS.ProcessEnv): string | undefined {
  const explicit = env[`TEST_ASSET_${name.toUpperCase().replaceAll('-', '_')}`]
  if (explicit) return explicit
  const assets = env.KUBEBUILDER_ASSETS
  if (assets && existsSync(join(assets, name))) return join(assets, name)
  return undefined
}

/**
 * kwok as the cache holds it: built from its module with a UID precondition
 * on its pod delete (see patch_kwok in build-binaries.sh), labelled so. A
 * cache from before the patch holds plain v0.8.0, which churns StatefulSet
 * rollouts forever under load: that one is rebuilt.
 */
export const kwokBuild = `${versions.kwok}+ktr.uid-delete`

function isPatchedKwok(path: string): boolean {
  try {
    return execFileSync(path, ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).includes(kwokBuild.slice(1))
  } catch {
    return false
  }
}

const buildScript = join(dirname(fileURLToPath(import.meta.url)), 'build-binaries.sh')

const imageSources = ['probe/main.go', 'make-image.sh'].map((f) => join(dirname(buildScript), 'images', f))
const cniPlugins = ['bridge', 'host-local', 'loopback'] as const

/** Resolves every binary, building the missing ones into the cache. */
export async function ensureBinaries(
  env = process.env,
  log: (line: string) => void = (line) => process.stderr.write(`${line}\n`),
  withNode = false,
): Promise<Binaries> {
  const cache = binaryCacheDir(env)
  const stagesInCache = join(cache, 'kwok-stages')
  const resolve = (name: BinaryName) => fromEnvironment(name, env) ?? join(cache, name)
  const images = ['pause', 'probe'].map((name) => join(cache, 'images', `${name}.tar`))
  const imagesStale = () => images.some((image) => !existsSync(image) || imageSources.some((src) => statSync(src).mtimeMs > statSync(image).mtimeMs))
  const nodeMissing = () =>
    nodeBinaryNames.some((name) => !existsSync(join(cache, name))) || cniPlugins.some((p) => !existsSync(join(cache, 'cni', p))) || imagesStale()
  const needsBuild =
    binaryNames.some((name) => !existsSync(resolve(name))) ||
    (!fromEnvironment('kwok', env) && !isPatchedKwok(resolve('kwok'))) || !existsSync(join(stagesInCache, 'pod-ready.yaml')) || (withNode && nodeMissing())
  if (needsBuild) {
    const go = await $({ nothrow: true, quiet: true })`command -v go`
    if (go.exitCode !== 0) {
      throw new Error(
        `control-plane binaries are missing from ${cache} and Go is not installed: install Go, ` +
          'or point KUBEBUILDER_ASSETS/TEST_ASSET_* at prebuilt binaries, or set KUBECONFIG to use an existing cluster',
      )
    }
    log(`building control-plane binaries (Kubernetes ${versions.kubernetes}) into ${cache}; the first build takes 15-30 minutes (${withNode ? 'plus ~10 for the real node' : 'control plane only'})`)
    const nodeVersions = withNode ? [versions.containerd, versions.runc, versions.cniPlugins, versions.criTools] : []
    await $({ stdio: ['ignore', 'inherit', 'inherit'] })`bash ${buildScript} ${cache} ${versions.kubernetes} ${versions.etcd} ${kwokBuild} ${nodeVersions}`
  }
  const paths = Object.fromEntries(binaryNames.map((name) => [name, resolve(name)])) as Record<BinaryName, string>
  const node = withNode
    ? { paths: Object.fromEntries(nodeBinaryNames.map((name) => [name, join(cache, name)])) as Record<NodeBinaryName, string>, cniBinDir: join(cache, 'cni'), images }
    : undefined
  return { paths, kwokStages: env.KTR_KWOK_STAGES ?? stagesInCache, ...(node ? { node } : {}) }
}
