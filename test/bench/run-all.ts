// `make bench`: every benchmark in one process, one after the other, under
// one header naming the machine (numbers from different machines are not
// comparable). Speed and memory of the pure core at big-cluster scale are
// measured here, never asserted in tests.
//
//   node --expose-gc test/bench/run-all.ts
//
// Each script also runs alone (tokens.ts, workloads.ts). Tables go to stdout,
// progress to stderr; --expose-gc lets the heap column be read after a full
// collection. About two minutes on a 2-core machine.
import { benchTokens } from './tokens.ts'
import { benchWorkloads } from './workloads.ts'
import { collectGarbage, environmentHeader, isMain } from './harness.ts'

export async function benchAll(): Promise<string> {
  const tables: string[] = []
  for (const bench of [benchTokens, benchWorkloads]) {
    tables.push(await bench())
    // The next benchmark starts from the heap the previous one leaves.
    collectGarbage()
  }
  return tables.join('\n')
}

if (isMain(import.meta.url)) {
  process.stdout.write(`${environmentHeader()}\n\n${await benchAll()}`)
}
