import t from 'tap'
import type { Block } from '@ethereumjs/block'
import { Address } from '@ethereumjs/util'
import { createRegistry } from '../../node/metrics/index.ts'
import { watchChain } from '../../node/metrics/chain.ts'
import type { SenderTx } from '../../evm/index.ts'
import { setLogLevel } from '../../common/logger.ts'
import { txFactory } from '../helpers/chain.ts'
import { minePow, openPowNode, powSealer, type PowNode } from '../helpers/pow.ts'
import { parseExposition, sampleValue } from '../../bench/harness/prometheus.ts'

/**
 * The chain collectors against a real chain: proof-of-work blocks mined on three chains, then
 * imported into one that reorganises; every number on /metrics is checked against what the
 * imports returned and the events said.
 */

setLogLevel('error')
const sealer = powSealer(t)
const mine = (n: PowNode, author: Address, txs: SenderTx[]) => minePow(n, sealer, author, txs)

t.test('imports by status, failures, reorgs and their depth, and the blocks that joined the chain', async (t) => {
  const a = await openPowNode(t)
  const b = await openPowNode(t)
  const c = await openPowNode(t)
  const registry = createRegistry()
  watchChain(registry, a.chain)
  const value = async (name: string, labels: Record<string, string> = {}) => sampleValue(parseExposition(await registry.metrics()), name, labels)
  const reorgDepths: number[] = []
  a.chain.on('reorg', ({ removed }) => reorgDepths.push(removed.length))

  const fa = txFactory(a.chain.common)
  const fb = txFactory(b.chain.common)
  const minerA = new Address(new Uint8Array(20).fill(0xa1))
  const minerB = new Address(new Uint8Array(20).fill(0xb2))
  const joined: Block[] = []
  for (let i = 0; i < 2; i++) joined.push((await mine(a, minerA, [fa.next('transfer')])).block)
  t.equal(await value('medrec_chain_head_number'), 2, 'head read at scrape time')
  t.equal(await value('medrec_chain_head_total_difficulty'), Number(a.chain.head.totalDifficulty))
  t.equal(await value('medrec_chain_head_timestamp_seconds'), Number(a.chain.head.block.header.timestamp))
  t.equal(await value('medrec_chain_block_transactions_count'), 2, 'blocks built here count as joining too')

  const winning: Block[] = []
  for (let i = 0; i < 4; i++) winning.push((await mine(b, minerB, [fb.next('transfer'), fb.next('transfer')])).block)
  const statuses: string[] = []
  for (const block of winning) statuses.push((await a.chain.importBlock(block)).status)
  statuses.push((await a.chain.importBlock(winning[3]!)).status)
  t.equal(statuses.at(-1), 'known', 'the same block again')
  t.ok(statuses.includes('reorg'), `a reorganised onto b's branch (${statuses.join(', ')})`)
  for (const status of ['head', 'side', 'reorg', 'known']) {
    t.equal(await value('medrec_chain_blocks_imported_total', { status }), statuses.filter((s) => s === status).length, `imported ${status}`)
  }
  t.equal(await value('medrec_chain_block_import_duration_seconds_count'), statuses.filter((s) => s !== 'known').length, 'every import but the known one is timed')
  t.ok((await value('medrec_chain_block_import_duration_seconds_sum'))! > 0)

  // A block whose parent a has never seen.
  const fc = txFactory(c.chain.common)
  await mine(c, minerA, [fc.next('transfer')])
  const orphan = (await mine(c, minerA, [])).block
  await t.rejects(a.chain.importBlock(orphan), { code: 'CHAIN_UNKNOWN_PARENT' })
  t.equal(await value('medrec_chain_block_import_failures_total', { code: 'CHAIN_UNKNOWN_PARENT' }), 1, 'the failure by its code')

  t.equal(await value('medrec_chain_reorgs_total'), reorgDepths.length, 'one count per reorg event')
  t.equal(await value('medrec_chain_reorg_depth_blocks_count'), reorgDepths.length)
  t.equal(await value('medrec_chain_reorg_depth_blocks_sum'), reorgDepths.reduce((x, y) => x + y, 0), 'the blocks each reorg dropped')

  // Every block that joined the canonical chain is counted once: a's own two and b's four.
  joined.push(...winning)
  t.equal(await value('medrec_chain_block_transactions_count'), joined.length, 'one observation per joining block, reorgs included')
  t.equal(await value('medrec_chain_transactions_total'), joined.reduce((n, blk) => n + blk.transactions.length, 0))
  t.equal(await value('medrec_chain_block_transactions_sum'), joined.reduce((n, blk) => n + blk.transactions.length, 0))
  t.equal(await value('medrec_chain_gas_used_total'), joined.reduce((n, blk) => n + Number(blk.header.gasUsed), 0))
  t.equal(await value('medrec_chain_head_number'), 4, "b's head")
})
