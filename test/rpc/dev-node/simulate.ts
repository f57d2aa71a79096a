import type { Test } from 'tap'
import { getContractAddress, keccak256, padHex, toHex, type Hex } from 'viem'
import { rpc, rpcRaw, type NodeProcess } from '../../helpers/node-process.ts'

/**
 * eth_simulateV1 against a dev node, as geth's internal/ethapi/simulate.go answers it: blocks
 * chained on the base block (numbers, times, parent hashes, BLOCKHASH), state carried from call
 * to call and block to block (nonces, balances, created contracts), per-block overrides, geth's
 * result shape and error codes, traceTransfers, and nothing kept afterwards. Hostile requests:
 * out-of-order blocks, too many blocks, overdrawn senders, bad nonces and fees, gas above the
 * block's limit, a runaway loop (stopped at --rpc.evmtimeout while the node keeps answering).
 * On test/rpc/dev-node.test.ts's node with --rpc.evmtimeout 2s (shared with trace, whose
 * transactions touch nothing read here), and on its node with --rpc.callworkers 0.
 */

const FROM = '0x00000000000000000000000000000000000000f0'
const TO = '0x00000000000000000000000000000000000000f1'
const PROBE = '0x00000000000000000000000000000000000000c1'
const IDENTITY = '0x0000000000000000000000000000000000000004'
const MOVED = '0x0000000000000000000000000000000000001234'
const ETH = 10n ** 18n
const word = (n: bigint | number): Hex => padHex(toHex(n), { size: 32 })
const q = (n: bigint | number): Hex => toHex(n)

// Returns BALANCE(TO).
const RETURN_BALANCE_OF_TO = `0x73${TO.slice(2)}3160005260206000f3` as Hex
// Returns BLOCKHASH(calldata word 0).
const RETURN_BLOCKHASH = '0x6000354060005260206000f3' as Hex
// LOG1(topic keccak256(NUMBER word), data = the NUMBER word), then returns NUMBER.
const LOG_AND_NUMBER: Hex = '0x43600052602060002060206000a160206000f3'
// Init code deploying LOG_AND_NUMBER (runtime length 19 = 0x13, copied from offset 12).
const DEPLOY_LOGGER: Hex = `0x6013600c60003960136000f3${LOG_AND_NUMBER.slice(2)}`
// Reverts with Error("no").
const REVERT_NO = (`0x7f08c379a0${'0'.repeat(56)}6000527f${'0'.repeat(62)}206004527f${'0'.repeat(62)}02602452${'7f6e6f' + '0'.repeat(60)}604452606460` + '00fd') as Hex
// An endless loop.
const LOOP: Hex = '0x5b600056'
/**
 * Three calls of it in a block whose gas limit lets each have a transaction's most gas (2^24): one
 * alone runs out of gas in ~1.5 s on a quiet machine, before the 2 s timeout; three take ~3x that.
 */
const RUNAWAY = { blockStateCalls: [{ stateOverrides: { [PROBE]: { code: LOOP } }, blockOverrides: { gasLimit: q(50_000_000) }, calls: [{ from: FROM, to: PROBE }, { from: FROM, to: PROBE }, { from: FROM, to: PROBE }] }] }

type Block = { number: Hex; hash: Hex; parentHash: Hex; timestamp: Hex; stateRoot: Hex; gasUsed: Hex; baseFeePerGas: Hex; miner: Hex; transactions: Array<Hex | { hash: Hex; from: Hex }>; calls: Call[] }
type Call = { returnData: Hex; logs: Array<{ address: Hex; topics: Hex[]; data: Hex; blockNumber: Hex; blockHash: Hex; transactionHash: Hex; transactionIndex: Hex; logIndex: Hex; removed: boolean }>; gasUsed: Hex; maxUsedGas: Hex; status: Hex; error?: { code: number; message: string; data?: Hex } }

/** On a node with --rpc.evmtimeout 2s. */
export default function simulate(t: Test, node: NodeProcess): void {
  t.test('eth_simulateV1 against a dev node', async (t) => {
    const url = node.url
    const sim = (opts: Record<string, unknown>, block: unknown = 'latest') => rpc<Block[]>(url, 'eth_simulateV1', [opts, block])
    const simRaw = (opts: Record<string, unknown>, block: unknown = 'latest') => rpcRaw(url, 'eth_simulateV1', [opts, block])
    const rich = { [FROM]: { balance: q(10n * ETH) } }
    const base = await rpc<{ number: Hex; hash: Hex; timestamp: Hex; stateRoot: Hex; miner: Hex }>(url, 'eth_getBlockByNumber', ['latest', false])

    await t.test('blocks chain on the base block and carry state from call to call', async (t) => {
      const out = await sim({
        blockStateCalls: [
          { stateOverrides: rich, calls: [{ from: FROM, to: TO, value: q(ETH) }, { from: FROM, to: TO, value: q(2n * ETH) }] },
          { stateOverrides: { [PROBE]: { code: RETURN_BALANCE_OF_TO } }, calls: [{ from: FROM, to: PROBE }] },
          { stateOverrides: { [PROBE]: { code: RETURN_BLOCKHASH } }, calls: [{ from: FROM, to: PROBE, input: word(BigInt(base.number) + 1n) }] },
        ],
      }, base.number)
      t.equal(out.length, 3)
      t.same(out.map((b) => BigInt(b.number)), [1n, 2n, 3n].map((d) => BigInt(base.number) + d), 'numbers count up from the base')
      t.same(out.map((b) => BigInt(b.timestamp)), [12n, 24n, 36n].map((d) => BigInt(base.timestamp) + d), 'times step 12 s (geth)')
      t.equal(out[0]!.parentHash, base.hash, 'the first block builds on the base')
      t.equal(out[1]!.parentHash, out[0]!.hash)
      t.equal(out[2]!.parentHash, out[1]!.hash)
      t.equal(out[0]!.calls[0]!.status, '0x1')
      t.equal(out[0]!.calls[0]!.gasUsed, q(21_000))
      t.equal(out[0]!.calls[0]!.returnData, '0x')
      t.same(out[0]!.calls[0]!.logs, [], 'logs is an empty array, never null')
      t.equal(out[0]!.gasUsed, q(42_000), 'the block counts both calls')
      t.equal(out[0]!.transactions.length, 2)
      t.not(out[0]!.transactions[0], out[0]!.transactions[1], 'each call is its own transaction (the nonce moved)')
      t.equal(BigInt(out[1]!.calls[0]!.returnData), 3n * ETH, 'a later block sees what earlier calls moved')
      t.equal(out[2]!.calls[0]!.returnData, out[0]!.hash, 'BLOCKHASH of a simulated block is its simulated hash')
      t.equal(out[0]!.baseFeePerGas, '0x0', 'base fee 0 without validation (geth)')
      t.equal(out[0]!.miner.toLowerCase(), base.miner.toLowerCase(), 'the base block’s author is the coinbase')
      t.equal(await rpc<Hex>(url, 'eth_getBalance', [TO, 'latest']), '0x0', 'nothing was kept')
    })

    await t.test('state roots are real: an empty block keeps the base root, a change moves it', async (t) => {
      const out = await sim({ blockStateCalls: [{}, { stateOverrides: rich, calls: [{ from: FROM, to: TO, value: '0x1' }] }] }, base.number)
      t.equal(out[0]!.stateRoot, base.stateRoot, 'no change, the same root')
      t.not(out[1]!.stateRoot, base.stateRoot)
    })

    await t.test('a contract created in one block runs in the next; logs as geth shapes them; full transactions', async (t) => {
      const created = getContractAddress({ from: FROM, nonce: 0n })
      const out = await sim({ blockStateCalls: [{ calls: [{ from: FROM, input: DEPLOY_LOGGER }] }, { calls: [{ from: FROM, to: created }] }], returnFullTransactions: true }, base.number)
      t.equal(out[0]!.calls[0]!.status, '0x1')
      const c = out[1]!.calls[0]!
      t.equal(BigInt(c.returnData), BigInt(base.number) + 2n, 'the created contract ran in the next block')
      t.equal(c.logs.length, 1)
      const log = c.logs[0]!
      t.equal(log.address.toLowerCase(), created.toLowerCase())
      t.same(log.topics, [keccak256(word(BigInt(base.number) + 2n))])
      t.equal(log.blockHash, out[1]!.hash)
      t.equal(log.blockNumber, out[1]!.number)
      const tx = out[1]!.transactions[0] as { hash: Hex; from: Hex }
      t.equal(log.transactionHash, tx.hash)
      t.equal(tx.from.toLowerCase(), FROM, 'full transactions carry the sender')
      t.equal(log.logIndex, '0x0')
      t.equal(log.removed, false)
      t.ok(BigInt(c.maxUsedGas) >= BigInt(c.gasUsed))
    })

    await t.test('call failures are per call: a revert (code 3, data) and a VM error (-32015)', async (t) => {
      const out = await sim({ blockStateCalls: [{ stateOverrides: { [PROBE]: { code: REVERT_NO }, [TO]: { code: '0xfe' } }, calls: [{ from: FROM, to: PROBE }, { from: FROM, to: TO }, { from: FROM, to: FROM }] }] })
      const [rev, invalid, ok] = out[0]!.calls
      t.equal(rev!.status, '0x0')
      t.equal(rev!.error?.code, 3)
      t.equal(rev!.error?.message, 'execution reverted: no')
      t.equal(rev!.error?.data, rev!.returnData)
      t.equal(invalid!.status, '0x0')
      t.equal(invalid!.error?.code, -32015)
      t.match(invalid!.error?.message, /invalid opcode/)
      t.equal(ok!.status, '0x1', 'the block goes on after a failed call')
    })

    await t.test('traceTransfers: each ether move as an ERC-20 Transfer log from 0xeeee…eeee', async (t) => {
      const out = await sim({ blockStateCalls: [{ stateOverrides: rich, calls: [{ from: FROM, to: TO, value: q(5) }] }], traceTransfers: true })
      const logs = out[0]!.calls[0]!.logs
      t.equal(logs.length, 1)
      t.equal(logs[0]!.address, '0xeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee')
      t.same(logs[0]!.topics, [keccak256(new TextEncoder().encode('Transfer(address,address,uint256)')), padHex(FROM, { size: 32 }), padHex(TO, { size: 32 })])
      t.equal(BigInt(logs[0]!.data), 5n)
      // LOG0, then CALL TO with 1 wei, then LOG0: the transfers sit where they happened, as geth lists them.
      const callsOut = `0x60006000a06000600060006000600173${TO.slice(2)}5af15060006000a000` as Hex
      const nested = await sim({ blockStateCalls: [{ stateOverrides: { ...rich, [PROBE]: { code: callsOut } }, calls: [{ from: FROM, to: PROBE, value: q(2) }] }], traceTransfers: true })
      const order = nested[0]!.calls[0]!.logs.map((l) => (l.address === '0xeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee' ? `transfer ${BigInt(l.data)}` : 'log'))
      t.same(order, ['transfer 2', 'log', 'transfer 1', 'log'], 'in execution order')
      t.same(nested[0]!.calls[0]!.logs.map((l) => BigInt(l.logIndex)), [0n, 1n, 2n, 3n])
      const plain = await sim({ blockStateCalls: [{ stateOverrides: rich, calls: [{ from: FROM, to: TO, value: q(5) }] }] })
      t.same(plain[0]!.calls[0]!.logs, [], 'without it, no pseudo-logs')
    })

    await t.test('movePrecompileToAddress and block overrides per block', async (t) => {
      const out = await sim({
        blockStateCalls: [
          { stateOverrides: { [IDENTITY]: { movePrecompileToAddress: MOVED } }, calls: [{ from: FROM, to: MOVED, input: '0xbeef' }] },
          { blockOverrides: { number: q(BigInt(base.number) + 5n), time: q(BigInt(base.timestamp) + 100n) }, calls: [{ from: FROM, to: MOVED, input: '0xbeef' }] },
        ],
      }, base.number)
      t.equal(out[0]!.calls[0]!.returnData, '0xbeef', 'identity at the address it was moved to')
      t.equal(out.length, 5, 'the gap up to the asked number is filled with empty blocks')
      t.same(out.slice(1, 4).map((b) => b.calls.length), [0, 0, 0])
      t.equal(BigInt(out[4]!.timestamp), BigInt(base.timestamp) + 100n)
      t.equal(out[4]!.calls[0]!.returnData, '0x', 'a move lasts for its block only')
    })

    await t.test('refusals carry geth’s codes', async (t) => {
      const n = BigInt(base.number)
      const cases: Array<[string, Record<string, unknown>, number, RegExp]> = [
        ['no blocks', { blockStateCalls: [] }, -32602, /empty input/],
        ['numbers out of order', { blockStateCalls: [{ blockOverrides: { number: q(n + 2n) } }, { blockOverrides: { number: q(n + 2n) } }] }, -38020, /block numbers must be in order: \d+ <= \d+/],
        ['times out of order', { blockStateCalls: [{ blockOverrides: { time: q(BigInt(base.timestamp)) } }] }, -38021, /block timestamps must be in order/],
        ['more than 256 blocks', { blockStateCalls: [{ blockOverrides: { number: q(n + 257n) } }] }, -38026, /too many blocks/],
        ['257 entries', { blockStateCalls: Array.from({ length: 257 }, () => ({})) }, -38026, /too many blocks/],
        ['value above the balance', { blockStateCalls: [{ calls: [{ from: FROM, to: TO, value: q(ETH) }] }] }, -38014, /insufficient funds for gas \* price \+ value: address 0x0+f0 have 0 want 1000000000000000000/],
        ['gas below intrinsic', { blockStateCalls: [{ calls: [{ from: FROM, to: TO, gas: q(20_000) }] }] }, -38013, /intrinsic gas too low: have 20000, want 21000/],
        ['gas above the block limit', { blockStateCalls: [{ blockOverrides: { gasLimit: q(30_000) }, calls: [{ from: FROM, to: TO, gas: q(21_000) }, { from: FROM, to: TO, gas: q(21_000) }] }] }, -38015, /block gas limit reached: remaining: 9000, required: 21000/],
        ['validation: nonce too high', { validation: true, blockStateCalls: [{ stateOverrides: rich, calls: [{ from: FROM, to: TO, nonce: q(5), maxFeePerGas: q(10n ** 10n) }] }] }, -38011, /nonce too high: address 0x0+f0, tx: 5 state: 0/],
        ['validation: nonce too low', { validation: true, blockStateCalls: [{ stateOverrides: { [FROM]: { balance: q(ETH), nonce: q(3) } }, calls: [{ from: FROM, to: TO, nonce: q(1), maxFeePerGas: q(10n ** 10n) }] }] }, -38010, /nonce too low/],
        ['validation: fee cap below the base fee', { validation: true, blockStateCalls: [{ stateOverrides: rich, blockOverrides: { baseFeePerGas: q(100) }, calls: [{ from: FROM, to: TO, maxFeePerGas: q(99) }] }] }, -38012, /max fee per gas less than block base fee/],
      ]
      for (const [what, opts, code, message] of cases) {
        const r = await simRaw(opts, base.number)
        t.equal(r.error?.code, code, what)
        t.match(r.error?.message, message, what)
      }
      const wrongShape = await simRaw({ blockStateCalls: [{ calls: [{ from: FROM, to: 'nope' }] }] })
      t.equal(wrongShape.error?.code, -32602)
    })

    await t.test('validation charges the base fee and pays the tip', async (t) => {
      const out = await sim({ validation: true, blockStateCalls: [{ stateOverrides: { ...rich, [PROBE]: { code: RETURN_BALANCE_OF_TO } }, blockOverrides: { baseFeePerGas: q(10), feeRecipient: TO }, calls: [{ from: FROM, to: PROBE, maxFeePerGas: q(15), maxPriorityFeePerGas: q(2) }, { from: FROM, to: PROBE, maxFeePerGas: q(15), maxPriorityFeePerGas: q(2), nonce: q(1) }] }] })
      const first = out[0]!.calls[0]!
      t.equal(BigInt(out[0]!.calls[1]!.returnData), BigInt(first.gasUsed) * 2n, 'the fee recipient got tip × gas of the first call')
    })

    await t.test('a runaway loop is stopped at --rpc.evmtimeout and the node keeps answering', async (t) => {
      const pending = simRaw(RUNAWAY)
      t.ok(BigInt(await rpc<Hex>(url, 'eth_blockNumber')) >= 0n, 'answered while the loop runs')
      const r = await pending
      t.equal(r.error?.code, -32000)
      t.match(r.error?.message, /execution aborted \(timeout = 2s\)/)
    })
  })

}

/** On a node with --rpc.callworkers 0 --rpc.evmtimeout 1s. */
export function simulateMainThread(t: Test, node: NodeProcess): void {
  t.test('eth_simulateV1 on the main thread (--rpc.callworkers 0): the same answers, the same timeout', async (t) => {
    const url = node.url
    const out = await rpc<Block[]>(url, 'eth_simulateV1', [{ blockStateCalls: [{ stateOverrides: { [FROM]: { balance: q(ETH) } }, calls: [{ from: FROM, to: TO, value: q(7) }] }, { stateOverrides: { [PROBE]: { code: RETURN_BALANCE_OF_TO } }, calls: [{ from: FROM, to: PROBE }] }] }])
    t.equal(BigInt(out[1]!.calls[0]!.returnData), 7n)
    const loop = await rpcRaw(url, 'eth_simulateV1', [RUNAWAY])
    t.equal(loop.error?.code, -32000)
    t.match(loop.error?.message, /execution aborted \(timeout = 1s\)/)
    t.equal(BigInt(await rpc<Hex>(url, 'eth_getBalance', [TO, 'latest'])), 0n, 'nothing was kept')
  })
}
