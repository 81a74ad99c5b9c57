// Where a run's verification keys come from, the same for every runbook that
// checks signatures: --key-file (PEM as for kube-apiserver's
// --service-account-key-file, or a saved /openid/v1/jwks), else the JWKS the
// API server serves. Clusters older than 1.21 may not serve /openid/v1/jwks
// at all; --key-file is their way in. Keys decide what gets regenerated, so a
// key file that contradicts the keys the cluster publishes stops the run.
import { shellQuote } from '../engine/kubectl.ts'
import { UsageError } from '../errors.ts'
import { DEFAULT_JWKS_SOURCE, keysFromJwks, type KeySet, type VerificationKey } from '../token/keys.ts'
import type { FlagSpec } from './flags.ts'
import { loadKeyFile } from './inputs.ts'

export const KEY_FILE_FLAG = {
  name: 'key-file',
  type: 'string[]',
  valueName: 'pem|jwks',
  description:
    "Verify signatures with these public keys (repeatable; PEM as kube-apiserver's --service-account-key-file, or a saved `kubectl get --raw /openid/v1/jwks`) instead of asking the API server: for clusters that do not serve /openid/v1/jwks.",
} as const satisfies FlagSpec

export interface KeyOptions {
  /**
   * The keys decide what gets changed: key files sharing no key ID with what
   * the cluster publishes stop the run (a stale sa.pub would make every good
   * token look stale). Off, the mismatch is only noted (verify-token may be
   * asked on purpose whether a token was signed by an old key).
   */
  readonly mustMatchCluster: boolean
}

/**
 * The keys for this run: the key files, else /openid/v1/jwks through
 * `clusterJwks` (undefined when offline: then no keys without files).
 */
export async function loadVerificationKeys(keyFiles: readonly string[], clusterJwks: (() => Promise<unknown>) | undefined, options: KeyOptions): Promise<KeySet | undefined> {
  if (keyFiles.length === 0) return clusterJwks ? { keys: keysFromJwks(await clusterJwks()), source: DEFAULT_JWKS_SOURCE } : undefined
  const keys = (await Promise.all(keyFiles.map(loadKeyFile))).flat()
  const source = keyFiles.join(', ')
  if (!clusterJwks) return { keys, source }
  let published: VerificationKey[]
  try {
    published = keysFromJwks(await clusterJwks())
  } catch {
    return { keys, source, note: `${DEFAULT_JWKS_SOURCE} not readable: the key file(s) were not compared with the cluster's keys` }
  }
  const served = new Set(published.map((k) => k.kid))
  if (keys.some((k) => served.has(k.kid))) return { keys, source }
  const mismatch = `--key-file ${source} holds key(s) ${keys.map((k) => k.kid).join(', ')}, none of which the API server publishes (${[...served].join(', ')})`
  if (!options.mustMatchCluster) return { keys, source, note: mismatch }
  throw new UsageError(`${mismatch}: pass the current service-account public key, or leave --key-file out to use ${DEFAULT_JWKS_SOURCE}`)
}

/** What a person would run to see the same keys. */
export function keyCommands(keyFiles: readonly string[], kubectl: (...args: string[]) => string): string[] {
  return keyFiles.length > 0 ? keyFiles.map((file) => `openssl pkey -pubin -in ${shellQuote(file)} -noout -text`) : [kubectl('get', '--raw', DEFAULT_JWKS_SOURCE)]
}
