import { createHash } from 'node:crypto'

export const FINGERPRINT_PREFIX = 'sha256:'
const FINGERPRINT_HEX_LENGTH = 12

/**
 * A short, stable name for a token that is safe to print: `sha256:` + the
 * first 12 hex digits of SHA-256 over the compact JWT. 48 bits tell apart the
 * tokens of one cluster without revealing anything usable about them.
 * Pass the compact form (see normalizeToken) so a raw token and its
 * base64-wrapped Secret form get the same fingerprint.
 */
export function fingerprint(compact: string): string {
  const digest = createHash('sha256').update(compact, 'utf8').digest('hex')
  return FINGERPRINT_PREFIX + digest.slice(0, FINGERPRINT_HEX_LENGTH)
}
