// Checks many token Secrets at once: decode, verify against the current keys
// (bounded concurrency: WebCrypto work runs on libuv's thread pool), then the
// pure verdict of select.ts. Shared by regenerate-tokens and fix-calico.
import type { V1Secret } from '@kubernetes/client-node'
import { mapLimit } from '../concurrency.ts'
import { tokenOf } from '../secrets.ts'
import { decodeToken } from '../token/decode.ts'
import { describeToken } from '../token/describe.ts'
import type { VerificationKey } from '../token/keys.ts'
import { verifySignature } from '../token/signature.ts'
import { assessSecret, type SecretAssessment } from './select.ts'

export interface AssessOptions {
  keys: readonly VerificationKey[]
  /** ServiceAccount UIDs by namespace/name. */
  accounts: ReadonlyMap<string, string>
  allTokens: boolean
  now: Date
  /** Called with every token read, so the redactor knows it before anything is printed. */
  register: (token: string) => void
  parallel?: number
}

export function assessSecrets(secrets: readonly V1Secret[], opts: AssessOptions): Promise<SecretAssessment[]> {
  return mapLimit(secrets, opts.parallel ?? 50, async (secret) => {
    const token = tokenOf(secret)
    if (token) opts.register(token)
    const facts = { token, accounts: opts.accounts, allTokens: opts.allTokens, now: opts.now }
    if (!token) return assessSecret(secret, facts)
    try {
      const decoded = decodeToken(token)
      const expiresAt = describeToken(decoded).expiresAt
      return assessSecret(secret, { ...facts, signature: await verifySignature(decoded, opts.keys), ...(expiresAt ? { expiresAt } : {}) })
    } catch (err) {
      return assessSecret(secret, { ...facts, decodeError: err instanceof Error ? err.message : String(err) })
    }
  })
}
