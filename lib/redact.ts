// Every log line passes through a Redactor before it is printed: tokens are
// replaced by their fingerprint, so output can be pasted into a ticket. Two
// nets: anything shaped like a JWT, and the exact strings registered as
// secrets (with their base64-wrapped form, which is how a Secret shows them).
import { normalizeToken } from './token/decode.ts'
import { fingerprint } from './token/fingerprint.ts'

export interface RedactorOptions {
  /** --show-token: print tokens as they are. */
  readonly showTokens?: boolean
}

/**
 * Runs of base64url characters and dots: the only places a JWT can be. The
 * class has no alternatives, so matching is linear in the text length; a
 * pattern like /eyJ[\w-]+\.[\w-]+\.[\w-]+/ is quadratic on "eyJeyJeyJ…".
 */
const BASE64URL_OR_DOT_RUN = /[A-Za-z0-9_.-]+/g
// base64url('{"'): the start of every JWT header.
const JWT_START = 'eyJ'

export class Redactor {
  readonly showTokens: boolean
  /** Secret string → its replacement text. */
  #secrets = new Map<string, string>()
  /** The same, longest first so no secret is cut by a shorter one; sorted lazily, once per batch of registrations. */
  #ordered: Array<[string, string]> | undefined

  constructor(options: RedactorOptions = {}) {
    this.showTokens = options.showTokens ?? false
  }

  /**
   * Registers a secret to hide wherever it appears, in raw and in base64 form.
   * A token (raw or base64-wrapped) is named by the fingerprint of its compact
   * form, so both forms read the same in the output.
   */
  register(secret: string): void {
    const trimmed = secret.trim()
    if (trimmed === '') return
    const compact = compactOrSelf(trimmed)
    const replacement = replacementFor(compact)
    const forms = [trimmed, compact, Buffer.from(compact).toString('base64'), Buffer.from(compact).toString('base64url')]
    for (const form of forms) this.#secrets.set(form, replacement)
    this.#ordered = undefined
  }

  redact(text: string): string {
    if (this.showTokens) return text
    this.#ordered ??= [...this.#secrets].sort(([a], [b]) => b.length - a.length)
    let result = text
    for (const [secret, replacement] of this.#ordered) {
      if (result.includes(secret)) result = result.split(secret).join(replacement)
    }
    return redactJwtShapes(result)
  }
}

/** Replaces every JWT-shaped substring of `text` with its fingerprint, with no registry. */
export function redactJwtShapes(text: string): string {
  if (!text.includes(JWT_START)) return text
  return text.replace(BASE64URL_OR_DOT_RUN, redactRun)
}

/**
 * Within one run, a JWT is a segment containing "eyJ" (from there on) plus the
 * two segments after it; the signature may be empty (an unsigned token is
 * still a token). Over-matching is harmless here, missing one is not.
 */
function redactRun(run: string): string {
  if (!run.includes(JWT_START)) return run
  const segments = run.split('.')
  const output: string[] = []
  let index = 0
  while (index < segments.length) {
    const segment = segments[index] ?? ''
    const start = segment.indexOf(JWT_START)
    const claims = segments[index + 1]
    const signature = segments[index + 2]
    if (start === -1 || !claims || signature === undefined) {
      output.push(segment)
      index += 1
      continue
    }
    const token = `${segment.slice(start)}.${claims}.${signature}`
    output.push(segment.slice(0, start) + replacementFor(token))
    index += 3
  }
  return output.join('.')
}

function replacementFor(token: string): string {
  return `<redacted token ${fingerprint(token)}>`
}

function compactOrSelf(secret: string): string {
  try {
    return normalizeToken(secret)
  } catch {
    // Not a token: hide the string itself.
    return secret
  }
}
