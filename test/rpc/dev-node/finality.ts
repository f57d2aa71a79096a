import type { Test } from 'tap'
import { createPublicClient, http, type Hex } from 'viem'
import { poaFinality } from '../../../node/rpc/finality.ts'
import { rpcRaw, waitFor, type NodeProcess } from '../../helpers/node-process.ts'

/**
 * The safe and finalized tags (node/rpc/finality.ts states the rule): the PoA rule over sealer
 * sequences a hostile minority could produce, and a real dev node answering both tags through
 * eth_getBlockByNumber and viem (the shared main node of test/rpc/dev-node.test.ts).
 */

const A = '0x' + 'a'.repeat(40)
const B = '0x' + 'b'.repeat(40)
const C = '0x' + 'c'.repeat(40)
const D = '0x' + 'd'.repeat(40)
const E = '0x' + 'e'.repeat(40)
const X = '0x' + '9'.repeat(40)

export default function finality(t: Test, node: NodeProcess): void {
  t.test('three authorities in turn: finalized once two others sealed on top, safe once another sealed on top', async (t) => {
    // Head 100 sealed by A, 99 by C, 98 by B, 97 by A...
    const sealers = [A, C, B, A, C, B, A]
    t.same(poaFinality(sealers, 100n, [A, B, C]), { safe: 99n, finalized: 98n })
  })

  t.test('a minority sealing alone never finalizes anything it sealed', async (t) => {
    // A removed signer (X) and one authority (A) sealed the recent blocks: X is not in the set.
    t.same(poaFinality([A, X, X, A, X], 50n, [A, B, C]).finalized, 0n, 'one member of three is no majority: nothing past the genesis is final')
    // Two authorities of five are a minority: 3 are needed, and depth 2(N - M) = 4.
    t.same(poaFinality([A, B, A, B, A, B, A, B], 50n, [A, B, C, D, E]).finalized, 0n, 'two of five: not final')
    // Three distinct sealers within three blocks is a majority of five, but a minority of two
    // could still seal 2 blocks weighing 4: the depth rule waits for 4 blocks on top.
    t.same(poaFinality([A, B, C, D, E, A, B], 50n, [A, B, C, D, E]).finalized, 46n, 'five authorities: 4 blocks on top, 3+ distinct')
  })

  t.test('a block only its own sealer built on is not safe', async (t) => {
    t.same(poaFinality([A, A, B], 10n, [A, B, C]).safe, 8n, 'block 9 (A) has only A on top; 8 (B) has A')
  })

  t.test('a single authority: safe is the head, finalized the block under it; a short chain answers the genesis', async (t) => {
    t.same(poaFinality([A, A, A], 3n, [A]), { safe: 3n, finalized: 2n })
    t.same(poaFinality([], 0n, [A, B, C]), { safe: 0n, finalized: 0n }, 'at the genesis')
    t.same(poaFinality([A], 1n, [A, B, C]), { safe: 0n, finalized: 0n }, 'one block: the genesis for both')
  })

  t.test('a dev node (one authority): finalized is the block under the head, safe the head', async (t) => {
    const client = createPublicClient({ transport: http(node.url) })
    await waitFor(async () => ((await client.getBlockNumber()) >= 3n ? true : undefined), 'three blocks')
    // The three tags read in one batch between two eth_blockNumber reads; retried when a new head
    // landed anywhere in between (a batch's calls run one after another).
    const [latest, safe, finalized] = await waitFor(async () => {
      const calls = [
        { method: 'eth_blockNumber', params: [] },
        ...['latest', 'safe', 'finalized'].map((tag) => ({ method: 'eth_getBlockByNumber', params: [tag, false] })),
        { method: 'eth_blockNumber', params: [] },
      ]
      const res = await fetch(node.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(calls.map((c, id) => ({ jsonrpc: '2.0', id, ...c }))),
      })
      const results = ((await res.json()) as Array<{ id: number; result: unknown }>).sort((a, b) => a.id - b.id).map((r) => r.result)
      if (results[0] !== results[4]) return undefined
      return results.slice(1, 4) as Array<{ number: Hex; hash: Hex; parentHash: Hex }>
    }, 'latest, safe and finalized read at one head')
    t.equal(BigInt(finalized!.number), BigInt(latest!.number) - 1n, 'finalized: one block under the head')
    t.equal(finalized!.hash, latest!.parentHash, "it is the head's parent")
    t.equal(safe!.hash, latest!.hash, 'safe: the head (no other authority exists to build on it)')
    const viaViem = await client.getBlock({ blockTag: 'finalized' })
    t.ok(viaViem.number >= BigInt(finalized!.number), 'viem reads the finalized tag')
    const r = await rpcRaw(node.url, 'eth_getBalance', ['0x' + '0'.repeat(40), 'finalized'])
    t.equal(r.error, undefined, 'state reads take the tag too')
  })
}
