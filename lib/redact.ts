// Every log line passes through a Redactor before it is printed: tokens are
// replaced by their fingerprint, so output can be pasted into a ticket. Two
// nets, in one pass over the text:
//  - shapes: anything shaped like a JWT (`eyJ…`), and base64 or base64url of
//    one (`ZXlK…`, the way a Secret shows it), also when wrapped at any column
//    (line breaks inside, as `base64` and YAML write it, or as JSON writes
//    them in a string: the two characters `\n`) or URL-encoded;
//  - registered secrets that are not JWTs (a malformed token read from a
//    Secret, a static password), in raw, base64, base64url and URL-encoded
//    form, looked up in a Map.
// A registered JWT needs no lookup to be found (the shape net finds every
// form of it); the registry only saves hashing it again.
import { normalizeToken } from './token/decode.ts'
import { fingerprint } from './token/fingerprint.ts'

export interface RedactorOptions {
  /** --show-token: print tokens as they are. */
  readonly showTokens?: boolean
}

/**
 * Candidate runs: base64/base64url/URL-escape characters and dots, `=`
 * padding only at a run's end, continued across a line break (plus
 * indentation) so wrapped base64 is one run. A line break is also the escape
 * JSON writes for one inside a string (`\n`, `\r\n`): --output json and the
 * report stringify wrapped values, and the redactor reads what is printed.
 * Every part of the pattern starts with a character no other part can take at
 * that point, so the engine never backtracks more than a character: matching
 * is linear in the text.
 */
const RUN = /[A-Za-z0-9+/_.%-]+={0,2}(?:(?:\r?\n|\\r\\n|\\n)[ \t]*[A-Za-z0-9+/_.%-]+={0,2})*/g
/** What the view of a run drops (line breaks of wrapping, also JSON-escaped) or unescapes (the URL escapes of base64's own characters). */
const VIEW_EDITS = /(?:\r?\n|\\r\\n|\\n)[ \t]*|%(?:2[BbFf]|3[Dd])/g
const UNESCAPED: Readonly<Record<string, string>> = { '2b': '+', '2f': '/', '3d': '=' }
// base64url('{"'): the start of every JWT header; base64 of that: the start of every base64-wrapped JWT.
const JWT_START = 'eyJ'
const WRAPPED_JWT_START = 'ZXlK'
/** A registered non-JWT form is found by its first characters; shorter secrets are searched for as plain substrings. */
const KEY_LENGTH = 8
/** A registered form the run scan can find: one run, whose `=` can only be padding. */
const RUN_SHAPED = /^[A-Za-z0-9+/_.%-]+={0,2}$/

type Replacement = string

export class Redactor {
  readonly showTokens: boolean
  /** Compact JWT → its replacement, for registered tokens. */
  #tokens = new Map<string, Replacement>()
  /** A registered JWT by its signing input (header.claims): tells where a wrapped one's signature ends. */
  #bySigningInput = new Map<string, string>()
  /** Registered non-JWT forms, by their first KEY_LENGTH characters (as the run's view shows them); longest first. */
  #byKey = new Map<string, Array<[form: string, replacement: Replacement]>>()
  /** Registered forms no run can hold whole (spaces, `=` inside, under KEY_LENGTH characters): searched for as substrings. */
  #loose = new Map<string, Replacement>()

  constructor(options: RedactorOptions = {}) {
    this.showTokens = options.showTokens ?? false
  }

  /**
   * Registers a secret to hide wherever it appears. A token (raw,
   * base64-wrapped or after `Bearer `) is named by the fingerprint of its
   * compact form, so all its forms read the same in the output.
   */
  register(secret: string): void {
    const trimmed = secret.trim()
    if (trimmed === '') return
    const compact = compactOf(trimmed)
    if (compact !== undefined) {
      this.#tokens.set(compact, replacementFor(compact))
      this.#bySigningInput.set(compact.slice(0, compact.lastIndexOf('.')), compact)
      return
    }
    const replacement = replacementFor(trimmed)
    const base64 = Buffer.from(trimmed).toString('base64')
    const forms = [trimmed, base64, Buffer.from(trimmed).toString('base64url'), encodeURIComponent(trimmed), encodeURIComponent(base64)]
    for (const form of new Set(forms)) this.#addForm(form, replacement)
  }

  #addForm(written: string, replacement: Replacement): void {
    if (written.length < KEY_LENGTH || !RUN_SHAPED.test(written)) {
      this.#loose.set(written, replacement)
      return
    }
    // Runs are compared in their view, so the form is stored as its view shows it.
    const form = viewOf(written)
    const key = form.slice(0, KEY_LENGTH)
    const bucket = this.#byKey.get(key) ?? []
    if (bucket.some(([known]) => known === form)) return
    bucket.push([form, replacement])
    bucket.sort(([a], [b]) => b.length - a.length)
    this.#byKey.set(key, bucket)
  }

  redact(text: string): string {
    if (this.showTokens) return text
    let result = text
    // Rare (odd secrets only), so a search per form is affordable here.
    for (const [form, replacement] of this.#loose) {
      if (result.includes(form)) result = result.split(form).join(replacement)
    }
    // Most output holds no token: then, with no odd secret registered, no run can hold one, and the
    // text is returned as it is. A 30 MB plan scanned run by run made ~500 MB of garbage (a view per run).
    if (this.#byKey.size === 0 && !mayHoldJwt(result)) return result
    return result.replace(RUN, (run) => this.#redactRun(run))
  }

  #redactRun(run: string): string {
    const view = viewOfRun(run)
    const { text } = view
    const hasShapes = text.includes(JWT_START) || text.includes(WRAPPED_JWT_START)
    if (!hasShapes && (this.#byKey.size === 0 || text.length < KEY_LENGTH)) return run
    const spans: Span[] = []
    if (hasShapes) {
      this.#findWrappedJwts(view, spans)
      const registered = (signingInput: string) => this.#bySigningInput.get(signingInput)
      findJwts(text, view.pieces, (from, to, jwt) => spans.push({ from, to, replacement: this.#replacementOf(jwt) }), registered)
    }
    if (this.#byKey.size > 0) this.#findRegistered(view, spans)
    return spans.length === 0 ? run : applySpans(run, view, spans)
  }

  #replacementOf(compact: string): Replacement {
    return this.#tokens.get(compact) ?? replacementFor(compact)
  }

  /**
   * base64 (or base64url) of a JWT: from each `ZXlK`, decode to the end of the
   * base64 stretch and look for a JWT in the bytes. Decoding is aligned to the
   * 4-character quantum, so one decode per alignment serves every `ZXlK` of a
   * stretch: at most four decodes of it, whatever it holds.
   */
  #findWrappedJwts(view: RunView, spans: Span[]): void {
    const { text, pieces } = view
    let anchor = text.indexOf(WRAPPED_JWT_START)
    let piece = 0
    while (anchor !== -1) {
      while ((pieces[piece]?.[1] ?? Infinity) <= anchor) piece++
      const end = base64End(text, anchor, pieces[wrappedBlockEnd(pieces, piece)]?.[1] ?? text.length)
      const decodedFrom = new Set<number>()
      for (let at = anchor; at !== -1 && at < end; at = text.indexOf(WRAPPED_JWT_START, at + 1)) {
        const alignment = (at - anchor) % 4
        if (decodedFrom.has(alignment)) continue
        decodedFrom.add(alignment)
        const decoded = Buffer.from(text.slice(at, end), 'base64').toString('latin1')
        findJwts(decoded, [[0, decoded.length]], (from, to, jwt) => {
          // `echo $TOKEN | base64` encodes a line break after it: hide that quantum too.
          const spanEnd = onlySpaceFrom(decoded, to) ? end : Math.min(end, at + Math.ceil(to / 3) * 4)
          spans.push({ from: at + Math.floor(from / 3) * 4, to: spanEnd === end ? paddingEnd(text, end) : spanEnd, replacement: this.#replacementOf(jwt) })
        })
      }
      anchor = text.indexOf(WRAPPED_JWT_START, end)
    }
  }

  /** Registered forms starting at a word boundary of the view: a piece's start, or after a character that is not a letter or digit. */
  #findRegistered(view: RunView, spans: Span[]): void {
    const { text } = view
    const pieceStarts = new Set(view.pieces.map(([start]) => start))
    for (let at = 0; at + KEY_LENGTH <= text.length; at++) {
      if (at > 0 && !pieceStarts.has(at) && isAlphanumeric(text.charCodeAt(at - 1))) continue
      const bucket = this.#byKey.get(text.slice(at, at + KEY_LENGTH))
      const hit = bucket?.find(([form]) => text.startsWith(form, at))
      if (!hit) continue
      spans.push({ from: at, to: at + hit[0].length, replacement: hit[1] })
      at += hit[0].length - 1
    }
  }
}

/**
 * Whether any run of `text` may show a JWT's start (`eyJ`), or a wrapped
 * one's (`ZXlK`), in its view: the text read with every line break of
 * wrapping skipped (see VIEW_EDITS), so it holds every run's view in order.
 * A miss here is a miss in every run. One pass, nothing allocated.
 */
function mayHoldJwt(text: string): boolean {
  let c1 = 0
  let c2 = 0
  let c3 = 0
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c === NL || c === CR || c === BACKSLASH) {
      const skip = lineBreakAt(text, i)
      if (skip > 0) {
        i += skip - 1
        continue
      }
    }
    if (c === J && c1 === Y && c2 === E) return true
    if (c === K && c1 === L && c2 === X && c3 === Z) return true
    c3 = c2
    c2 = c1
    c1 = c
  }
  return false
}

const [E, Y, J, Z, X, L, K, NL, CR, BACKSLASH] = [...'eyJZXlK\n\r\\'].map((c) => c.charCodeAt(0)) as [number, number, number, number, number, number, number, number, number, number]

/** The length of the line break (\n, \r\n, or their JSON escapes) and the indentation after it at `i`; 0 if none. */
function lineBreakAt(text: string, i: number): number {
  let end: number
  if (text.startsWith('\n', i)) end = i + 1
  else if (text.startsWith('\r\n', i)) end = i + 2
  else if (text.startsWith('\\n', i)) end = i + 2
  else if (text.startsWith('\\r\\n', i)) end = i + 4
  else return 0
  while (text[end] === ' ' || text[end] === '\t') end++
  return end - i
}

/** Replaces every JWT-shaped substring of `text` (and base64 of one) with its fingerprint, with no registry. */
export function redactJwtShapes(text: string): string {
  return SHAPES_ONLY.redact(text)
}

const SHAPES_ONLY = new Redactor()

// ---------------------------------------------------------------------------
// Runs and their views

/**
 * A run as the nets read it: without the line breaks of wrapping and with
 * %2B %2F %3D unescaped. `origin[i]` is where view character i starts in the
 * run and `originEnd[i]` where it ends (undefined: the view is the run).
 */
interface RunView {
  readonly text: string
  /** [start, end) of each line's piece, in view positions: where wrapping may have broken a value. */
  readonly pieces: ReadonlyArray<readonly [number, number]>
  readonly origin?: Int32Array
  readonly originEnd?: Int32Array
}

function viewOfRun(run: string): RunView {
  if (!run.includes('\n') && !run.includes('%') && !run.includes('\\')) return { text: run, pieces: [[0, run.length]] }
  const origin = new Int32Array(run.length)
  const originEnd = new Int32Array(run.length)
  const pieces: Array<[number, number]> = []
  let text = ''
  let pieceStart = 0
  let copied = 0
  const copy = (until: number) => {
    for (let i = copied; i < until; i++) {
      origin[text.length + i - copied] = i
      originEnd[text.length + i - copied] = i + 1
    }
    text += run.slice(copied, until)
  }
  for (const match of run.matchAll(VIEW_EDITS)) {
    copy(match.index)
    const edit = match[0]
    if (edit.startsWith('%')) {
      origin[text.length] = match.index
      originEnd[text.length] = match.index + edit.length
      text += UNESCAPED[edit.slice(1).toLowerCase()] ?? ''
    } else {
      pieces.push([pieceStart, text.length])
      pieceStart = text.length
    }
    copied = match.index + edit.length
  }
  copy(run.length)
  pieces.push([pieceStart, text.length])
  return { text, pieces, origin, originEnd }
}

/** The same unescaping for a registered form, so it compares with views. */
function viewOf(form: string): string {
  return form.replace(/%(?:2[BbFf]|3[Dd])/g, (escape) => UNESCAPED[escape.slice(1).toLowerCase()] ?? escape)
}

interface Span {
  /** [from, to) in view positions. */
  readonly from: number
  readonly to: number
  readonly replacement: Replacement
}

/** The run with the spans (earliest first; of two that overlap, the earlier or longer wins) replaced. */
function applySpans(run: string, view: RunView, spans: Span[]): string {
  spans.sort((a, b) => a.from - b.from || b.to - a.to)
  const toRun = (position: number) => view.origin?.[position] ?? position
  const endInRun = (position: number) => view.originEnd?.[position - 1] ?? position
  let output = ''
  let copied = 0
  let covered = 0
  for (const span of spans) {
    if (span.from < covered) continue
    output += run.slice(copied, toRun(span.from)) + span.replacement
    copied = endInRun(span.to)
    covered = span.to
  }
  return output + run.slice(copied)
}

// ---------------------------------------------------------------------------
// JWT shapes

const DOT = 0x2e

function isBase64urlChar(code: number): boolean {
  return isAlphanumeric(code) || code === 0x2d /* - */ || code === 0x5f /* _ */
}

function isAlphanumeric(code: number): boolean {
  return (code >= 0x30 && code <= 0x39) || (code >= 0x41 && code <= 0x5a) || (code >= 0x61 && code <= 0x7a)
}

function segmentEnd(text: string, from: number, limit: number): number {
  let at = from
  while (at < limit && isBase64urlChar(text.charCodeAt(at))) at++
  return at
}

/**
 * Every JWT in the view of a run: `eyJ` and the rest of its segment, a
 * non-empty claims segment and a signature segment, which may be empty (an
 * unsigned token is still a token). Over-matching is harmless here, missing
 * one is not. Each character is read at most twice.
 *
 * A raw JWT wrapped at a column spans pieces (lines). Its header and claims
 * may cross a line break freely: a line that ends inside them is a wrapped
 * line. Its signature ends the token, so crossing there could eat the next
 * line's first word; see signatureEnd for when it does.
 */
function findJwts(text: string, pieces: RunView['pieces'], found: (start: number, end: number, jwt: string) => void, registered?: SigningInputLookup): void {
  let cursor = 0
  let piece = 0
  for (;;) {
    const start = text.indexOf(JWT_START, cursor)
    if (start === -1) return
    const headerEnd = segmentEnd(text, start, text.length)
    if (text.charCodeAt(headerEnd) !== DOT) {
      cursor = headerEnd
      continue
    }
    const claimsEnd = segmentEnd(text, headerEnd + 1, text.length)
    if (claimsEnd === headerEnd + 1 || text.charCodeAt(claimsEnd) !== DOT) {
      cursor = headerEnd + 1
      continue
    }
    while ((pieces[piece]?.[1] ?? Infinity) <= claimsEnd + 1 && piece + 1 < pieces.length) piece++
    const end = signatureEnd(text, { start, signature: claimsEnd + 1 }, pieces, piece, registered)
    found(start, end, text.slice(start, end))
    cursor = end
  }
}

/** A registered JWT by its signing input, or undefined. */
type SigningInputLookup = (signingInput: string) => string | undefined

/**
 * Where the signature that starts at `at.signature` (in piece `piece`) ends.
 * Within its line it ends at the first character that is not base64url. When
 * it reaches the end of the line, it continues onto the next only when that
 * is surely wrapping: the token is registered (its length is known), or the
 * line is a full line of a block wrapped at one column (as long as the line
 * before or after it). A two-line wrap of an unregistered token is
 * indistinguishable from a token followed by a word; its last line stays.
 */
function signatureEnd(text: string, at: { start: number; signature: number }, pieces: RunView['pieces'], piece: number, registered?: SigningInputLookup): number {
  const lineEnd = (index: number) => pieces[index]?.[1] ?? text.length
  let end = segmentEnd(text, at.signature, lineEnd(piece))
  if (end < lineEnd(piece) || piece + 1 >= pieces.length) return end
  const known = registered?.(text.slice(at.start, at.signature - 1))
  if (known !== undefined && text.startsWith(known, at.start)) return at.start + known.length
  // Line by line, never the whole block at once: each character is read once, however many JWTs a block holds.
  while (end === lineEnd(piece) && piece + 1 < pieces.length && isFullWrappedLine(pieces, piece)) {
    piece++
    end = segmentEnd(text, end, lineEnd(piece))
  }
  return end
}

/** A line as long as the one before or after it (and no longer than a wrap column): one line of a wrapped block. */
function isFullWrappedLine(pieces: RunView['pieces'], piece: number): boolean {
  const length = (index: number) => {
    const p = pieces[index]
    return p ? p[1] - p[0] : -1
  }
  return length(piece) <= MAX_WRAP_COLUMN && (length(piece) === length(piece - 1) || length(piece) === length(piece + 1))
}

function isBase64Char(code: number): boolean {
  return isBase64urlChar(code) || code === 0x2b /* + */ || code === 0x2f /* / */
}

function base64End(text: string, from: number, limit: number): number {
  let at = from
  while (at < limit && isBase64Char(text.charCodeAt(at))) at++
  return at
}

/** Longer than any column base64 is wrapped at: a piece this long is a whole value, not one line of a wrapped one. */
const MAX_WRAP_COLUMN = 512

/**
 * The last piece of the wrapped base64 block that starts in piece `first`.
 * Wrapping makes every line but the last one as long as the second (the
 * first may be shorter: it can start after `token: `). Without this, the
 * first word of the line after a wrapped token would be decoded as part of
 * it, changing its name and eating the word.
 */
function wrappedBlockEnd(pieces: RunView['pieces'], first: number): number {
  const length = (index: number) => {
    const piece = pieces[index]
    return piece ? piece[1] - piece[0] : -1
  }
  const column = length(first + 1)
  if (column === -1 || length(first) > MAX_WRAP_COLUMN) return first
  // A shorter second line ends a two-line block.
  if (column < length(first)) return first + 1
  let last = first + 1
  while (last + 1 < pieces.length && length(last) === column) last++
  return last
}

function onlySpaceFrom(text: string, from: number): boolean {
  let at = from
  while (at < text.length && /\s/.test(text.charAt(at))) at++
  return at === text.length
}

/** `end` plus up to two `=` of padding. */
function paddingEnd(text: string, end: number): number {
  let at = end
  while (at < end + 2 && text[at] === '=') at++
  return at
}

function replacementFor(token: string): Replacement {
  return `<redacted token ${fingerprint(token)}>`
}

/** The compact JWT of a registered token, or undefined for any other secret. */
function compactOf(secret: string): string | undefined {
  try {
    return normalizeToken(secret)
  } catch {
    return undefined
  }
}
