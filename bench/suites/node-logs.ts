import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Member } from '../harness/local-network.ts'

/** MEDREC_BENCH_LOGS=DIR keeps every node's whole log (DIR/node0.log, …) for a post-mortem. */
export function keepNodeLogs(members: readonly Member[]): void {
  const dir = process.env.MEDREC_BENCH_LOGS
  if (dir === undefined) return
  mkdirSync(dir, { recursive: true })
  for (const m of members) if (m.node !== undefined) writeFileSync(join(dir, `${m.name}.log`), m.node.output())
  process.stderr.write(`  node logs in ${dir}\n`)
}
