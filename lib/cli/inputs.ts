// Reading what the operator hands over as a file or on stdin (--token-file,
// --token-file -), with a size cap applied while reading: a token is a few
// KiB, and `--token-file /dev/zero` or a runaway pipe must cost 64 KiB of
// memory, not all of it. Also the --key-file loader (PEM or JWKS) the runbooks share.
import { CONFIG_FILE_LIMIT, readFileCapped, sizeText } from '../capped-read.ts'
import { UsageError } from '../errors.ts'
import { MAX_TOKEN_BYTES } from '../token/decode.ts'
import { keysFromJwks, loadPublicKeysFromPem, type VerificationKey } from '../token/keys.ts'

/** The default cap: the largest token decodeToken accepts. */
export const DEFAULT_INPUT_LIMIT = MAX_TOKEN_BYTES

export interface ReadCappedOptions {
  /** Read for '-'. Default process.stdin. */
  readonly stdin?: AsyncIterable<unknown>
  /** How messages name the input: "--token-file token.txt". Default: the path, or "stdin". */
  readonly name?: string
}

/**
 * Reads `source` (a path, or '-' for stdin) as UTF-8, at most `limit` bytes.
 * Stops reading as soon as the input is longer and throws a UsageError that
 * names it; an unreadable file is a UsageError naming the error code. Never
 * quotes the content.
 */
export async function readCapped(source: string, limit: number = DEFAULT_INPUT_LIMIT, options: ReadCappedOptions = {}): Promise<string> {
  const name = options.name ?? (source === '-' ? 'stdin' : source)
  const bytes = source === '-' ? await readStream(options.stdin ?? process.stdin, limit) : await readFileOrUsageError(source, limit, name)
  if (bytes === undefined) throw tooLarge(name, limit)
  return bytes.toString('utf8')
}

function tooLarge(name: string, limit: number): UsageError {
  return new UsageError(`${name} is larger than ${limit} bytes, far more than a token (a few KiB); pass a file that holds a single token`)
}

/** The file's bytes up to `limit`, or undefined when there are more; an unreadable file is a UsageError naming it. */
async function readFileOrUsageError(path: string, limit: number, name: string): Promise<Buffer | undefined> {
  try {
    return await readFileCapped(path, limit)
  } catch (err) {
    throw unreadable(name, err)
  }
}

async function readStream(stream: AsyncIterable<unknown>, limit: number): Promise<Buffer | undefined> {
  const chunks: Buffer[] = []
  let size = 0
  // Leaving the loop early (return) ends the iteration, which destroys a Node stream: nothing more is read.
  for await (const chunk of stream) {
    const buffer = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : Buffer.from(chunk as Uint8Array)
    size += buffer.length
    if (size > limit) return undefined
    chunks.push(buffer)
  }
  return Buffer.concat(chunks)
}

function unreadable(name: string, err: unknown): UsageError {
  const code = (err as { code?: unknown } | null)?.code
  return new UsageError(`cannot read ${name}: ${typeof code === 'string' ? code : 'read error'}; check the path`, { cause: err })
}

/** --token-file: a file or `-` (stdin), read with the cap; an empty one is a usage error. */
export async function readTokenFile(path: string, stdin: AsyncIterable<unknown>): Promise<string> {
  const raw = await readCapped(path, DEFAULT_INPUT_LIMIT, { stdin, name: `--token-file ${path}` })
  if (raw.trim() === '') throw new UsageError(`--token-file ${path} is empty: write the token into it`)
  return raw
}

/**
 * The text of a --key-file, read with the cap: a PEM key or a JWKS is a few
 * KiB, and `--key-file /dev/zero` must not read 512 MiB and die.
 */
export async function readKeyFile(path: string): Promise<string> {
  const name = `--key-file ${path}`
  const bytes = await readFileOrUsageError(path, CONFIG_FILE_LIMIT, name)
  if (bytes === undefined) {
    throw new UsageError(`${name} is larger than ${sizeText(CONFIG_FILE_LIMIT)}, far more than public keys (a few KiB); pass the PEM public key(s) or the JWKS (kubectl get --raw /openid/v1/jwks)`)
  }
  return bytes.toString('utf8')
}

/** The keys of a --key-file: PEM public keys (as --service-account-key-file), or a JWKS document as /openid/v1/jwks serves it. */
export async function loadKeyFile(path: string): Promise<VerificationKey[]> {
  const content = await readKeyFile(path)
  if (content.trimStart().startsWith('{')) {
    try {
      return keysFromJwks(JSON.parse(content) as unknown, path)
    } catch (err) {
      throw new UsageError(`--key-file ${path} looks like JSON but is not a JWKS (${err instanceof Error ? err.message : String(err)}); save it with kubectl get --raw /openid/v1/jwks`)
    }
  }
  return loadPublicKeysFromPem(content, path)
}
