import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { readCapped } from '../../../lib/cli/inputs.ts'
import { UsageError } from '../../../lib/errors.ts'

let dir: string
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'ktr-inputs-'))
})
afterAll(() => rmSync(dir, { recursive: true, force: true }))

function file(name: string, content: string | Buffer): string {
  const path = join(dir, name)
  writeFileSync(path, content)
  return path
}

/** A stream that counts what was pulled from it, endless unless `chunks` runs out. */
function countingStream(chunk: Buffer, chunks = Infinity): { stream: Readable; pulled: () => number } {
  let pulled = 0
  const stream = new Readable({
    read() {
      if (pulled >= chunks) return void this.push(null)
      pulled++
      this.push(chunk)
    },
  })
  return { stream, pulled: () => pulled }
}

describe('readCapped', () => {
  it.each([
    ['a small file', 'eyJ.token.text\n', 64],
    ['a file of exactly the limit', 'x'.repeat(64), 64],
    ['an empty file', '', 64],
    ['UTF-8 text', 'tök€n', 64],
  ])('reads %s whole', async (_name, content, limit) => {
    expect(await readCapped(file(`ok-${content.length}.txt`, content), limit)).toBe(content)
  })

  it('refuses a file one byte over the limit, naming it and the limit, quoting nothing', async () => {
    const path = file('big.txt', 's3cr3t'.repeat(20))
    const attempt = readCapped(path, 100, { name: '--token-file big.txt' })
    await expect(attempt).rejects.toBeInstanceOf(UsageError)
    await expect(attempt).rejects.toThrow(/^--token-file big\.txt is larger than 100 bytes, far more than a token .*; pass a file that holds a single token$/)
    await expect(readCapped(path, 100)).rejects.not.toThrow(/s3cr3t/)
  })

  it('stops reading an endless file (/dev/zero) at the limit', async () => {
    await expect(readCapped('/dev/zero', 64 * 1024)).rejects.toThrow(/\/dev\/zero is larger than 65536 bytes/)
  })

  it('names the error code of a file it cannot read', async () => {
    await expect(readCapped(join(dir, 'missing.txt'), 64)).rejects.toThrow(/^cannot read .*missing\.txt: ENOENT; check the path$/)
    await expect(readCapped(dir, 64)).rejects.toThrow(/: EISDIR; check the path$/)
  })

  it('reads stdin for "-"', async () => {
    const { stream } = countingStream(Buffer.from('abc'), 3)
    expect(await readCapped('-', 64, { stdin: stream })).toBe('abcabcabc')
  })

  it('reads string chunks from stdin as UTF-8', async () => {
    expect(await readCapped('-', 64, { stdin: Readable.from(['tö', 'ken']) })).toBe('töken')
  })

  it('stops pulling from an endless stdin soon after the limit', async () => {
    const { stream, pulled } = countingStream(Buffer.alloc(1024))
    await expect(readCapped('-', 64 * 1024, { stdin: stream })).rejects.toThrow(/^stdin is larger than 65536 bytes/)
    // 65 chunks cross the limit; the stream's read-ahead adds at most its buffer (16 KiB).
    expect(pulled()).toBeLessThan(65 + 17)
  })
})
