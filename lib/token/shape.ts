// Whether a value someone typed could be a credential, so errors never echo
// one. A misplaced token (a forgotten --token-file, a token given to
// --secret) must not reach stderr, a CI log or an API server's audit log.
// Deliberately over-cautious: describing a harmless value costs a re-read,
// echoing a token costs a rotation.
import { redactJwtShapes } from '../redact.ts'
import { printable } from './text.ts'

/** A run of base64 characters this long is a credential of some kind (a JWT's signature alone is 86+), not a name or a path. */
const LONG_BASE64_RUN = 40
// base64url('{"') and base64 of 'eyJ': the starts of a JWT and of a base64-wrapped one.
const TOKEN_MARKERS = ['eyJ', 'ZXlK'] as const

export const TOKEN_HINT = 'pass tokens with --token-file - (stdin) or --token-file <path>, never as an argument'

/**
 * True for a JWT, base64 or base64url of one (also wrapped or truncated),
 * `Bearer …`, and any long base64 run. Kubernetes names and paths do not
 * qualify: they have no uppercase letters, or dots and slashes break them up.
 */
export function looksLikeToken(value: string): boolean {
  const compact = value.replace(/\s+/g, '')
  if (TOKEN_MARKERS.some((marker) => compact.includes(marker))) return true
  if (/^bearer\s/i.test(value.trimStart())) return true
  if (redactJwtShapes(compact) !== compact) return true
  return hasLongMixedCaseRun(compact)
}

/** Linear scan: a run of [A-Za-z0-9+/_-] at least LONG_BASE64_RUN long with both upper- and lowercase letters (a DNS name has no uppercase). */
function hasLongMixedCaseRun(text: string): boolean {
  let length = 0
  let upper = false
  let lower = false
  for (const char of text) {
    if (/[A-Za-z0-9+/_-]/.test(char)) {
      length++
      upper ||= char >= 'A' && char <= 'Z'
      lower ||= char >= 'a' && char <= 'z'
      if (length >= LONG_BASE64_RUN && upper && lower) return true
    } else {
      length = 0
      upper = false
      lower = false
    }
  }
  return false
}

/**
 * How an error message quotes a value the operator gave: `"kube-system"`
 * (printable, capped), or, when it looks like a token, a description that
 * does not contain it.
 */
export function quoteValue(value: string): string {
  return looksLikeToken(value) ? 'a value that looks like a token (not shown)' : `"${printable(value, 120)}"`
}

/** A path for a message: as it is, unless it looks like a token (a token pasted where a file name belongs). */
export function pathText(path: string): string {
  return looksLikeToken(path) ? 'a path that looks like a token (not shown)' : path
}
