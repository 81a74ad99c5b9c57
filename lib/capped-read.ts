// Reading a file with a size cap applied while reading, never after: a
// kubeconfig, key file, env file or backup someone hands over may be
// /dev/zero, a FIFO or a runaway file, and `readFile` would first try to hold
// all of it (a RangeError at 512 MiB, or a hang that grows without bound).
// At most limit + 1 bytes are read: one more than allowed proves "too large".
import { closeSync, openSync, readSync } from 'node:fs'
import { open } from 'node:fs/promises'

export const KiB = 1024
export const MiB = 1024 * KiB

/** Kubeconfigs, key files and env files are a few KiB; 4 MiB leaves room for a kubeconfig with many clusters. */
export const CONFIG_FILE_LIMIT = 4 * MiB

/** "4 MiB", "64 KiB" or "100 bytes", for messages. */
export function sizeText(bytes: number): string {
  if (bytes >= MiB && bytes % MiB === 0) return `${bytes / MiB} MiB`
  if (bytes >= KiB && bytes % KiB === 0) return `${bytes / KiB} KiB`
  return `${bytes} bytes`
}

/** Up to `limit` bytes of `path`, or undefined when it holds more. Open and read errors are thrown as they are. */
export async function readFileCapped(path: string, limit: number): Promise<Buffer | undefined> {
  const handle = await open(path, 'r')
  try {
    const buffer = Buffer.alloc(limit + 1)
    let filled = 0
    while (filled < buffer.length) {
      const { bytesRead } = await handle.read(buffer, filled, buffer.length - filled, null)
      if (bytesRead === 0) break
      filled += bytesRead
    }
    return filled > limit ? undefined : buffer.subarray(0, filled)
  } finally {
    await handle.close()
  }
}

/** readFileCapped for callers that must stay synchronous (flag parsing reads the env file). */
export function readFileCappedSync(path: string, limit: number): Buffer | undefined {
  const fd = openSync(path, 'r')
  try {
    const buffer = Buffer.alloc(limit + 1)
    let filled = 0
    while (filled < buffer.length) {
      const bytesRead = readSync(fd, buffer, filled, buffer.length - filled, null)
      if (bytesRead === 0) break
      filled += bytesRead
    }
    return filled > limit ? undefined : buffer.subarray(0, filled)
  } finally {
    closeSync(fd)
  }
}
