// Offline signature check: was this token signed by a key the cluster
// trusts? Signature only; expiry and the rest belong to the classifier
// (status.ts), which weighs them with what the cluster says live.
import { ASYMMETRIC_ALGORITHMS, type DecodedToken } from './decode.ts'
import type { VerificationKey } from './keys.ts'
import { printable } from './text.ts'

export const SignatureResult = {
  /** A trusted key verifies the signature. */
  verified: 'verified',
  /** Signed by a key the cluster no longer trusts: its kid matches none of the keys (or, without kid, no key verifies it). */
  unknownKey: 'unknown-key',
  /** A key with the token's kid exists but does not verify it: forged or corrupted. */
  badSignature: 'bad-signature',
  /** There was no key to check against. */
  noKeys: 'no-keys',
} as const
export type SignatureResult = (typeof SignatureResult)[keyof typeof SignatureResult]

export type SignatureCheck =
  | { readonly result: typeof SignatureResult.verified; readonly kid: string; readonly source: string }
  | { readonly result: typeof SignatureResult.unknownKey; readonly kid?: string }
  | {
      readonly result: typeof SignatureResult.badSignature
      readonly kid: string
      /** Why the key could not be used at all (for example an RSA key under 2048 bits, which jose refuses), when that was the failure. */
      readonly detail?: string
    }
  | { readonly result: typeof SignatureResult.noKeys }

// Handed to jose on every call, so an HMAC alg is refused even if a caller built a DecodedToken by hand.
const ALLOWED_ALGORITHMS = [...ASYMMETRIC_ALGORITHMS]

/**
 * Checks the token's signature the way the apiserver picks keys
 * (pkg/serviceaccount/jwt.go): with a kid, only the keys with that kid; without
 * one (very old clusters), every key. A kid-less token no key verifies counts
 * as unknown-key: with no kid we cannot tell an untrusted key from a corrupted
 * token, and after a key regeneration the former is what happened.
 */
export async function verifySignature(decoded: DecodedToken, keys: readonly VerificationKey[]): Promise<SignatureCheck> {
  if (keys.length === 0) return { result: SignatureResult.noKeys }
  const kid = decoded.header.kid
  const candidates = kid === undefined ? keys : keys.filter((key) => key.kid === kid)
  if (kid !== undefined && candidates.length === 0) return { result: SignatureResult.unknownKey, kid }
  const unusableKeyReasons: string[] = []
  for (const key of candidates) {
    const outcome = await tryKey(decoded.compact, key)
    if (outcome === 'verified') return { result: SignatureResult.verified, kid: key.kid, source: key.source }
    if (outcome !== 'mismatch') unusableKeyReasons.push(outcome.unusable)
  }
  if (kid === undefined) return { result: SignatureResult.unknownKey }
  // Only when no key even got to compare signatures is the reason worth showing.
  const detail = unusableKeyReasons.length === candidates.length ? unusableKeyReasons[0] : undefined
  return detail === undefined ? { result: SignatureResult.badSignature, kid } : { result: SignatureResult.badSignature, kid, detail }
}

type KeyOutcome = 'verified' | 'mismatch' | { readonly unusable: string }

async function tryKey(compact: string, key: VerificationKey): Promise<KeyOutcome> {
  // Loaded on first use, so --help and --version never pay for jose.
  const { compactVerify, errors } = await import('jose')
  try {
    await compactVerify(compact, key.publicKey, { algorithms: ALLOWED_ALGORITHMS })
    return 'verified'
  } catch (error) {
    if (error instanceof errors.JWSSignatureVerificationFailed) return 'mismatch'
    // Wrong key type for the alg, a disallowed alg, a key jose refuses: this key cannot have signed it.
    return { unusable: printable(error instanceof Error ? error.message : String(error), 160) }
  }
}
