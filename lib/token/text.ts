// Everything printed from a token came from whoever wrote the token: a claim
// can hold terminal escape sequences, line breaks or 60 KiB of padding. These
// helpers make such strings safe to put on one line of a report.

/** C0/C1 control characters and the Unicode bidi overrides that can reorder what a terminal shows. */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const UNSAFE_CHARACTERS = /[\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g

// Kubernetes object names go up to 253 characters; they must come through whole.
export const MAX_PRINTABLE_LENGTH = 256

/** Caps `value` at `maxLength` characters and escapes control characters as `\uXXXX`. */
export function printable(value: string, maxLength = MAX_PRINTABLE_LENGTH): string {
  const capped = value.length > maxLength ? `${value.slice(0, maxLength)}…` : value
  return capped.replace(UNSAFE_CHARACTERS, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`)
}

/** Collapses any run of whitespace (line breaks included) to one space, so a message stays on one line. */
export function oneLine(value: string): string {
  return value.replace(/\s+/g, ' ').trim()
}
