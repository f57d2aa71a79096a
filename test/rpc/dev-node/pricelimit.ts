import type { Test } from 'tap'
import { createPublicClient, http, type Hex } from 'viem'
import { mnemonicToAccount } from 'viem/accounts'
import { BASE_FEE_FLOOR, lowestReachableBaseFee } from '../../../node/mempool/admission.ts'
import { rpc, rpcRaw, waitFor, type NodeProcess } from '../../helpers/node-process.ts'

/**
 * Admission prices: a fee cap that no base fee the chain can reach will ever meet is refused (the
 * issue's maxFeePerGas of 1 wei, which used to hold the sender's later nonces for good), a fee
 * cap below today's base fee but reachable is admitted as geth does, and --txpool.pricelimit
 * refuses a tip below it with geth's numbers. The first two on the shared main node (dev accounts 3
 * and 4), the last on the node with --txpool.pricelimit 2gwei (dev account 5), both of
 * test/rpc/dev-node.test.ts.
 */

const MNEMONIC = 'test test test test test test test test test test test junk'
const GWEI = 1_000_000_000n
const SINK = '0x00000000000000000000000000000000000000f2'
const account = (i: number) => mnemonicToAccount(MNEMONIC, { addressIndex: i })

async function signed(node: NodeProcess, i: number, fees: { maxFeePerGas: bigint; maxPriorityFeePerGas: bigint }, nonce?: number): Promise<Hex> {
  const a = account(i)
  const n = nonce ?? Number(await rpc<Hex>(node.url, 'eth_getTransactionCount', [a.address, 'pending']))
  return a.signTransaction({ type: 'eip1559', chainId: 1337, nonce: n, to: SINK, value: 1n, gas: 21_000n, ...fees })
}

/** On a node with the default price limit. */
export default function pricelimit(t: Test, node: NodeProcess): void {
  t.test('the base fee floor', async (t) => {
    t.equal(BASE_FEE_FLOOR, 7n)
    t.equal(lowestReachableBaseFee(GWEI), 7n, 'from 1 gwei the base fee can fall to 7 wei, no lower')
    t.equal(lowestReachableBaseFee(3n), 3n, 'below 7 it never falls')
  })

  t.test('a fee cap no base fee will meet is refused; the sender is not blocked', async (t) => {
    const a = account(3)
    const before = await rpc<Hex>(node.url, 'eth_getTransactionCount', [a.address, 'pending'])
    const r = await rpcRaw(node.url, 'eth_sendRawTransaction', [await signed(node, 3, { maxFeePerGas: 1n, maxPriorityFeePerGas: 1n })])
    t.equal(r.error?.code, -32000)
    t.match(r.error?.message, /^max fee per gas less than block base fee: maxFeePerGas: 1, baseFee: \d+; the base fee never falls below 7, so this transaction could never be mined/)
    t.equal(await rpc<Hex>(node.url, 'eth_getTransactionCount', [a.address, 'pending']), before, 'not counted in the pending nonce')
    // The same nonce with a real price is mined.
    const hash = await rpc<Hex>(node.url, 'eth_sendRawTransaction', [await signed(node, 3, { maxFeePerGas: 10n * GWEI, maxPriorityFeePerGas: GWEI }, Number(before))])
    const receipt = await waitFor(() => rpc<{ status: Hex } | null>(node.url, 'eth_getTransactionReceipt', [hash]), 'receipt')
    t.equal(receipt.status, '0x1', 'the next transaction of the sender is mined')

    // Below the current base fee but above the floor: admitted and waiting (geth's pool does the same).
    const client = createPublicClient({ transport: http(node.url) })
    const baseFee = (await client.getBlock()).baseFeePerGas!
    // Half of it: a node shared with other tests may have been sealing empty blocks (each lowers the base fee) for a while.
    const cap = baseFee / 2n
    t.ok(cap > BASE_FEE_FLOOR, 'the base fee is far above the floor')
    const low = await rpcRaw(node.url, 'eth_sendRawTransaction', [await signed(node, 4, { maxFeePerGas: cap, maxPriorityFeePerGas: 0n })])
    t.equal(low.error, undefined, 'a reachable fee cap below the current base fee is admitted')
    const status = await rpc<{ pending: Hex; queued: Hex }>(node.url, 'txpool_status', [])
    t.ok(BigInt(status.pending) + BigInt(status.queued) >= 1n, 'it waits in the pool')
  })
}

/** On a node started with --txpool.pricelimit 2gwei. */
export function pricelimitFlag(t: Test, node: NodeProcess): void {
  t.test('--txpool.pricelimit refuses a lower tip, with the numbers', async (t) => {
    const r = await rpcRaw(node.url, 'eth_sendRawTransaction', [await signed(node, 5, { maxFeePerGas: 10n * GWEI, maxPriorityFeePerGas: GWEI })])
    t.equal(r.error?.code, -32000)
    t.equal(r.error?.message, 'transaction underpriced: gas tip cap 1000000000, minimum needed 2000000000')
    const ok = await rpcRaw(node.url, 'eth_sendRawTransaction', [await signed(node, 5, { maxFeePerGas: 10n * GWEI, maxPriorityFeePerGas: 2n * GWEI })])
    t.equal(ok.error, undefined, 'a tip at the limit is admitted')
  })
}
