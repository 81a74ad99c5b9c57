// A JSON document written in pieces instead of one string. At 30,000 pods a
// rotation's report is ~30 MB of JSON: JSON.stringify made it one string,
// the redactor read it, and the write copied it into a buffer of the same
// size, all at the end of the run when the heap was at its fullest. Here the
// text comes out in chunks of about CHUNK_CHARS, identical when joined to
// JSON.stringify(value, replacer, indent).
//
// A chunk ends after a whole member (the next one starts with the `,` or
// line break that follows it), so a string value, and so a token, is never
// cut in two: the redactor, which reads each chunk on its own, sees every
// token whole. (Nor does a run of token characters cross a line break of
// pretty-printed JSON: lines end with `{`, `[` or `,`, or with a value whose
// next line starts with `}` or `]`.)
export type JsonReplacer = (key: string, value: unknown) => unknown

const CHUNK_CHARS = 64 * 1024
/** A container of fewer plain members than this is stringified at once: the walk pays per member only where it can save memory. */
const WHOLE_BELOW = 64

export function* jsonChunks(value: unknown, replacer: JsonReplacer = (_k, v) => v, indent = 2, chunkChars = CHUNK_CHARS): Generator<string> {
  let pending: string[] = []
  let size = 0
  const root = prepared({ '': value }, '', value, replacer)
  for (const piece of omitted(root) ? [] : pieces(root, replacer, ' '.repeat(indent), '')) {
    // Cut only between members: before the separator that follows a whole one.
    if (size >= chunkChars && (piece.startsWith(',') || piece.startsWith('\n'))) {
      yield pending.join('')
      pending = []
      size = 0
    }
    pending.push(piece)
    size += piece.length
  }
  if (pending.length > 0) yield pending.join('')
}

/**
 * What JSON.stringify writes for member `key` of `holder`: toJSON applied,
 * then the replacer. (A small member is handed to JSON.stringify whole,
 * which applies both again to the result: the replacer must give the same
 * value for what it already returned, as lib/output.ts's does.)
 */
function prepared(holder: object, key: string, value: unknown, replacer: JsonReplacer): unknown {
  const own = value !== null && typeof value === 'object' && typeof (value as { toJSON?: unknown }).toJSON === 'function' ? (value as { toJSON: (k: string) => unknown }).toJSON(key) : value
  return replacer.call(holder, key, own)
}

/** Worth writing member by member: many members, or a member that holds others (a small object around a big list). */
function isBig(value: unknown): boolean {
  if (value === null || typeof value !== 'object') return false
  const members = Array.isArray(value) ? value : Object.values(value)
  return members.length >= WHOLE_BELOW || members.some((m) => m !== null && typeof m === 'object' && Object.keys(m).length > 0)
}

/** Values JSON.stringify leaves out of an object (and writes as null in an array). */
const omitted = (v: unknown) => v === undefined || typeof v === 'function' || typeof v === 'symbol'

/**
 * The text of a prepared value at nesting `margin`, in pieces: a big array
 * or object member by member, a small one (or any other value) as
 * JSON.stringify writes it, indented as it would be in place.
 */
function* pieces(value: unknown, replacer: JsonReplacer, step: string, margin: string): Generator<string> {
  const isArray = Array.isArray(value)
  if (!isBig(value)) {
    const text = JSON.stringify(value, replacer, step)
    yield margin ? text.replaceAll('\n', `\n${margin}`) : text
    return
  }
  const inner = margin + step
  const obj = value as Record<string, unknown>
  let first = true
  yield isArray ? '[' : '{'
  for (const key of isArray ? Array.from(obj as unknown as unknown[], (_, i) => String(i)) : Object.keys(obj)) {
    const member = prepared(obj, key, obj[key], replacer)
    if (!isArray && omitted(member)) continue
    yield `${first ? '' : ','}\n${inner}${isArray ? '' : `${JSON.stringify(key)}: `}`
    first = false
    if (omitted(member)) yield 'null'
    else yield* pieces(member, replacer, step, inner)
  }
  // Every member left out (undefined): JSON.stringify writes `{}`.
  yield first ? (isArray ? ']' : '}') : `\n${margin}${isArray ? ']' : '}'}`
}
