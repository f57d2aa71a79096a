import type { Test } from 'tap'
import { concat, getAddress, keccak256, numberToHex, padHex, stringToHex, toHex, type Hex } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { DEFAULT_APIS, NAMESPACES, accessOf } from '../../../node/rpc/access.ts'
import { rpc, rpcRaw, waitFor, type NodeProcess } from '../../helpers/node-process.ts'

/**
 * debug_traceTransaction / debug_traceCall / debug_traceBlockByNumber / debug_traceBlockByHash
 * against a real dev node: hand-assembled contracts whose every opcode the test knows, so the
 * struct logs are compared op by op with what the code does and the call tree with the calls it
 * makes; then what a hostile caller sends (unknown hashes, unknown tracers, runaway traces). On
 * test/rpc/dev-node.test.ts's node with --rpc.evmtimeout 2s (the runaway trace below meets it),
 * which it shares with simulate (no transactions there): dev account 1 is this file's.
 */

const KEY: Hex = '0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d'
const alice = privateKeyToAccount(KEY)
const CHAIN_ID = 1337
const GWEI = 1_000_000_000n
const TX_GAS = 200_000n

// ---- a tiny assembler: the same token list gives the bytecode and the expected op sequences ----

const OPS: Record<string, number> = {
  STOP: 0x00, ADD: 0x01, ISZERO: 0x15, POP: 0x50, CALLDATALOAD: 0x35, MSTORE: 0x52, SLOAD: 0x54, SSTORE: 0x55, JUMP: 0x56, JUMPI: 0x57,
  GAS: 0x5a, JUMPDEST: 0x5b, PUSH1: 0x60, PUSH2: 0x61, PUSH20: 0x73, PUSH32: 0x7f, DUP1: 0x80, CALL: 0xf1, RETURN: 0xf3, REVERT: 0xfd,
}
/** An op, an op with its immediate (hex without 0x, or a label to resolve to a PUSH1), or a label (`@name`, becomes a JUMPDEST). */
type Token = string | [string, string]

function assemble(tokens: Token[]): Hex {
  const labels = new Map<string, number>()
  let pc = 0
  for (const tok of tokens) {
    if (typeof tok === 'string' && tok.startsWith('@')) labels.set(tok, pc++)
    else if (typeof tok === 'string') pc++
    else pc += 1 + (tok[0] === 'PUSH1' ? 1 : (OPS[tok[0]]! - 0x5f))
  }
  let code = ''
  for (const tok of tokens) {
    if (typeof tok === 'string') code += (tok.startsWith('@') ? OPS.JUMPDEST! : OPS[tok]!).toString(16).padStart(2, '0')
    else {
      const width = OPS[tok[0]]! - 0x5f
      const arg = tok[1].startsWith('@') ? labels.get(tok[1])!.toString(16) : tok[1]
      code += OPS[tok[0]]!.toString(16) + arg.padStart(width * 2, '0')
    }
  }
  return `0x${code}`
}
/** The op names of `tokens`, in order: the ops a run straight through them executes. */
const opNames = (tokens: Token[]): string[] => tokens.map((tok) => (typeof tok === 'string' ? (tok.startsWith('@') ? 'JUMPDEST' : tok) : tok[0]))

/** Init code that deploys `runtime` as is. */
function deployCode(runtime: Hex): Hex {
  const len = (runtime.length - 2) / 2
  const l = len.toString(16).padStart(4, '0')
  return `0x61${l}600e60003961${l}6000f3${runtime.slice(2)}`
}

// Callee: word 0 of calldata non-zero: revert with Error("nope"); else slot 0 += 1, return the new value.
const ERROR_WORD = `08c379a0${'0'.repeat(56)}`
const NOPE_WORD = stringToHex('nope', { size: 32 }).slice(2)
const CALLEE_HEAD: Token[] = [['PUSH1', '00'], 'CALLDATALOAD', ['PUSH1', '@fail'], 'JUMPI']
const CALLEE_OK: Token[] = [['PUSH1', '00'], 'SLOAD', ['PUSH1', '01'], 'ADD', 'DUP1', ['PUSH1', '00'], 'SSTORE', ['PUSH1', '00'], 'MSTORE', ['PUSH1', '20'], ['PUSH1', '00'], 'RETURN']
const CALLEE_FAIL: Token[] = [
  '@fail', ['PUSH32', ERROR_WORD], ['PUSH1', '00'], 'MSTORE', ['PUSH1', '20'], ['PUSH1', '04'], 'MSTORE', ['PUSH1', '04'], ['PUSH1', '24'], 'MSTORE',
  ['PUSH32', NOPE_WORD], ['PUSH1', '44'], 'MSTORE', ['PUSH1', '64'], ['PUSH1', '00'], 'REVERT',
]
const CALLEE = assemble([...CALLEE_HEAD, ...CALLEE_OK, ...CALLEE_FAIL])

// Caller: forwards calldata word 0 to the callee (CALL, its 32-byte answer to memory 0x40), then
// reverts if calldata word 1 is non-zero, else returns memory 0x40..0x60.
const callerParts = (callee: Hex) => {
  const beforeCall: Token[] = [['PUSH1', '00'], 'CALLDATALOAD', ['PUSH1', '00'], 'MSTORE', ['PUSH1', '20'], ['PUSH1', '40'], ['PUSH1', '20'], ['PUSH1', '00'], ['PUSH1', '00'], ['PUSH20', callee.slice(2)], 'GAS', 'CALL']
  const afterCall: Token[] = ['POP', ['PUSH1', '20'], 'CALLDATALOAD', ['PUSH1', '@rev'], 'JUMPI']
  const ret: Token[] = [['PUSH1', '20'], ['PUSH1', '40'], 'RETURN']
  const rev: Token[] = ['@rev', ['PUSH1', '00'], ['PUSH1', '00'], 'REVERT']
  return { beforeCall, afterCall, ret, rev, code: assemble([...beforeCall, ...afterCall, ...ret, ...rev]) }
}

const word = (n: bigint | number): Hex => padHex(toHex(n), { size: 32 })
const args = (arg: number, rev: number): Hex => concat([word(arg), word(rev)])

interface Receipt {
  transactionHash: Hex
  blockHash: Hex
  blockNumber: Hex
  gasUsed: Hex
  status: Hex
  contractAddress: Hex | null
}
interface StructLog {
  pc: number
  op: string
  gas: number
  gasCost: number
  depth: number
  error?: string
  stack?: Hex[]
  memory?: string[]
  storage?: Record<string, string>
  returnData?: Hex
}
interface StructTrace {
  gas: number
  failed: boolean
  returnValue: Hex
  structLogs: StructLog[]
}
interface Frame {
  type: string
  from: Hex
  to?: Hex
  gas: Hex
  gasUsed: Hex
  input: Hex
  output?: Hex
  error?: string
  revertReason?: string
  value?: Hex
  calls?: Frame[]
}

// ---- on the node ----

export default async function trace(t: Test, node: NodeProcess): Promise<void> {
  const url = node.url
  let nonce = Number(await rpc<Hex>(url, 'eth_getTransactionCount', [alice.address, 'pending']))
  async function send(to: Hex | undefined, data: Hex): Promise<Hex> {
    const raw = await alice.signTransaction({ type: 'eip1559', chainId: CHAIN_ID, nonce: nonce++, to, data, gas: TX_GAS, maxFeePerGas: 10n * GWEI, maxPriorityFeePerGas: GWEI })
    return rpc<Hex>(url, 'eth_sendRawTransaction', [raw])
  }
  const receiptOf = (hash: Hex): Promise<Receipt> => waitFor(() => rpc<Receipt | null>(url, 'eth_getTransactionReceipt', [hash]), `receipt of ${hash}`)
  async function rpcError(method: string, params: unknown[]): Promise<{ code: number; message: string }> {
    const r = await rpcRaw(url, method, params)
    if (r.error === undefined) throw new Error(`${method} was answered ${JSON.stringify(r.result).slice(0, 200)}, expected an error`)
    return r.error
  }

  const calleeAddr = getAddress((await receiptOf(await send(undefined, deployCode(CALLEE)))).contractAddress!)
  const caller = callerParts(calleeAddr)
  const callerAddr = getAddress((await receiptOf(await send(undefined, deployCode(caller.code)))).contractAddress!)
  const lower = (a: Hex): Hex => a.toLowerCase() as Hex

  t.test('debug_traceTransaction (struct logs): the ops the contracts run, in order and at their depths, with gas, stack and storage', async (t) => {
    const receipt = await receiptOf(await send(callerAddr, args(0, 0)))
    const trace = await rpc<StructTrace>(url, 'debug_traceTransaction', [receipt.transactionHash])
    const expected = [
      ...opNames(caller.beforeCall).map((op) => [op, 1]),
      ...opNames([...CALLEE_HEAD, ...CALLEE_OK]).map((op) => [op, 2]),
      ...opNames([...caller.afterCall, ...caller.ret]).map((op) => [op, 1]),
    ]
    t.same(trace.structLogs.map((l) => [l.op, l.depth]), expected, 'every op of the caller, the callee inside its CALL at depth 2, then the caller again')
    t.equal(trace.failed, false)
    t.equal(trace.gas, Number(receipt.gasUsed), "gas: the transaction's gas used, as its receipt")
    const counter = BigInt(trace.returnValue)
    t.ok(counter >= 1n, 'returns the counter')
    t.equal(trace.returnValue, word(counter), "returnValue: the caller's 32 bytes")

    const first = trace.structLogs[0]!
    t.same([first.pc, first.gasCost, first.stack], [0, 3, []], 'PUSH1 at pc 0 costs 3 and starts on an empty stack')
    t.equal(first.gas, Number(TX_GAS) - 21_000 - 64 * 4, 'gas at the first op: the limit less the intrinsic gas (64 zero calldata bytes)')
    t.equal(trace.structLogs[1]!.gas, first.gas - 3, 'the next op starts with 3 less')
    t.same(trace.structLogs[2]!.stack, ['0x0'], 'stack words as 0x quantities, bottom first')
    t.notOk('memory' in first, 'no memory unless enableMemory')

    const sload = trace.structLogs.find((l) => l.op === 'SLOAD')!
    const sstore = trace.structLogs.find((l) => l.op === 'SSTORE')!
    t.equal(sload.gasCost, 2100, 'a cold SLOAD costs 2100')
    t.same(sload.storage, { ['0'.repeat(64)]: (counter - 1n).toString(16).padStart(64, '0') }, 'SLOAD shows the slot with the value it reads (before this transaction)')
    t.same(sstore.storage, { ['0'.repeat(64)]: counter.toString(16).padStart(64, '0') }, 'SSTORE shows the slot with the value it writes')
    t.equal(sstore.stack!.at(-1), '0x0', 'SSTORE key on top of the stack')

    const parent = numberToHex(BigInt(receipt.blockNumber) - 1n)
    const asCall = await rpc<StructTrace>(url, 'debug_traceCall', [{ from: alice.address, to: callerAddr, data: args(0, 0), gas: numberToHex(TX_GAS) }, parent])
    t.same(asCall, trace, 'debug_traceCall of the same message on the parent block: the same trace, gas included')

    const call = trace.structLogs.find((l) => l.op === 'CALL')!
    const calleeFirst = trace.structLogs[trace.structLogs.indexOf(call) + 1]!
    t.equal(call.gasCost, 2600 + 6 + calleeFirst.gas, "CALL's cost: cold account access, two words of memory and the gas it forwards (geth's callGasTemp)")
  })

  t.test('callTracer: the call tree, a reverted inner call with its reason, a reverted outer call', async (t) => {
    const sent = [await send(callerAddr, args(0, 0)), await send(callerAddr, args(1, 0)), await send(callerAddr, args(0, 1))]
    const [ok, inner, outer] = (await Promise.all(sent.map(receiptOf))) as [Receipt, Receipt, Receipt]
    t.equal(inner.status, '0x1', 'an inner revert leaves the transaction successful')
    t.equal(outer.status, '0x0', 'the outer revert fails it')

    const okTree = await rpc<Frame>(url, 'debug_traceTransaction', [ok.transactionHash, { tracer: 'callTracer' }])
    const counter = BigInt(okTree.output!)
    t.same(okTree, {
      type: 'CALL',
      from: lower(alice.address),
      gas: numberToHex(TX_GAS),
      gasUsed: ok.gasUsed,
      to: lower(callerAddr),
      input: args(0, 0),
      output: word(counter),
      calls: [{ type: 'CALL', from: lower(callerAddr), gas: okTree.calls![0]!.gas, gasUsed: okTree.calls![0]!.gasUsed, to: lower(calleeAddr), input: word(0), output: word(counter), value: '0x0' }],
      value: '0x0',
    }, 'top frame: the transaction (its gas limit, its gas used); one CALL to the callee with word 0 and its answer')
    t.ok(BigInt(okTree.calls![0]!.gasUsed) > 2100n + 2900n && BigInt(okTree.calls![0]!.gasUsed) < BigInt(okTree.calls![0]!.gas), "the callee's gas used: its SLOAD and SSTORE, under what it was given")

    const innerTree = await rpc<Frame>(url, 'debug_traceTransaction', [inner.transactionHash, { tracer: 'callTracer' }])
    t.equal(innerTree.error, undefined, 'the top call did not fail')
    t.equal(innerTree.output, `0x${ERROR_WORD}`, "the caller returns what the CALL copied: the revert data's first word")
    t.match(innerTree.calls![0], { type: 'CALL', error: 'execution reverted', revertReason: 'nope', output: `0x08c379a0${word(0x20).slice(2)}${word(4).slice(2)}${NOPE_WORD}` }, 'the callee frame: reverted, with its Error(string) reason and data')

    const outerTree = await rpc<Frame>(url, 'debug_traceTransaction', [outer.transactionHash, { tracer: 'callTracer' }])
    t.match(outerTree, { error: 'execution reverted', gasUsed: outer.gasUsed }, 'the top frame reverted')
    t.equal(outerTree.output, undefined, 'empty revert data: no output')
    t.equal(outerTree.revertReason, undefined, 'no reason without Error(string)')
    t.match(outerTree.calls![0], { type: 'CALL', to: lower(calleeAddr) }, 'the inner call stays in the tree')
    t.equal(outerTree.calls![0]!.error, undefined, 'and it did not fail itself')

    const outerLogs = await rpc<StructTrace>(url, 'debug_traceTransaction', [outer.transactionHash])
    t.same([outerLogs.failed, outerLogs.structLogs.at(-1)!.op], [true, 'REVERT'], 'struct logs of the reverted transaction end at its REVERT')
    const innerLogs = await rpc<StructTrace>(url, 'debug_traceTransaction', [inner.transactionHash])
    t.same(innerLogs.structLogs.filter((l) => l.depth === 2).map((l) => l.op), opNames([...CALLEE_HEAD, ...CALLEE_FAIL]), "the callee's revert path, op by op")

    const top = await rpc<Frame>(url, 'debug_traceTransaction', [ok.transactionHash, { tracer: 'callTracer', tracerConfig: { onlyTopCall: true } }])
    t.equal(top.calls, undefined, 'onlyTopCall: no inner frames')
    t.equal(top.output, okTree.output)
  })

  t.test("a transaction is traced after its block's earlier transactions (their state), and debug_traceBlockByNumber/ByHash trace each", async (t) => {
    t.equal(await rpc(url, 'miner_stop'), null)
    const h1 = await send(callerAddr, args(0, 0))
    const h2 = await send(callerAddr, args(0, 0))
    t.equal(await rpc(url, 'miner_start'), null)
    const [r1, r2] = [await receiptOf(h1), await receiptOf(h2)]
    t.equal(r1.blockHash, r2.blockHash, 'both in one block')
    const [t1, t2] = [await rpc<Frame>(url, 'debug_traceTransaction', [h1, { tracer: 'callTracer' }]), await rpc<Frame>(url, 'debug_traceTransaction', [h2, { tracer: 'callTracer' }])]
    t.equal(BigInt(t2.output!), BigInt(t1.output!) + 1n, 'the second sees the counter the first wrote in the same block')
    const s2 = await rpc<StructTrace>(url, 'debug_traceTransaction', [h2])
    t.equal(BigInt(`0x${Object.values(s2.structLogs.find((l) => l.op === 'SLOAD')!.storage!)[0]}`), BigInt(t1.output!), "its SLOAD reads the first's write")

    const block = await rpc<{ hash: Hex; number: Hex; transactions: Hex[] }>(url, 'eth_getBlockByNumber', [r1.blockNumber, false])
    const byNumber = await rpc<Array<{ txHash: Hex; result: Frame }>>(url, 'debug_traceBlockByNumber', [r1.blockNumber, { tracer: 'callTracer' }])
    t.same(byNumber.map((r) => r.txHash), block.transactions, "one result per transaction, in the block's order")
    t.same(byNumber.find((r) => r.txHash === h2)!.result, t2, 'the same trace as debug_traceTransaction')
    const byHash = await rpc<Array<{ txHash: Hex; result: StructTrace }>>(url, 'debug_traceBlockByHash', [block.hash])
    t.same(byHash.find((r) => r.txHash === h2)!.result, s2, 'by hash, struct logs')
  })

  t.test('debug_traceCall: a message at a block, with the config flags', async (t) => {
    const tree = await rpc<Frame>(url, 'debug_traceCall', [{ from: alice.address, to: callerAddr, data: args(1, 0), gas: '0x30000' }, 'latest', { tracer: 'callTracer' }])
    t.match(tree, { type: 'CALL', gas: '0x30000', calls: [{ error: 'execution reverted', revertReason: 'nope' }] }, 'the call tree of the message')
    const logs = await rpc<StructTrace>(url, 'debug_traceCall', [{ to: callerAddr, data: args(0, 0) }, 'latest', { enableMemory: true, disableStack: true, disableStorage: true, enableReturnData: true }])
    t.same(logs.structLogs.map((l) => l.op), opNames([...caller.beforeCall, ...CALLEE_HEAD, ...CALLEE_OK, ...caller.afterCall, ...caller.ret]), 'the same ops as the transaction')
    t.ok(logs.structLogs.every((l) => l.stack === undefined && l.storage === undefined), 'disableStack, disableStorage')
    const ret = logs.structLogs.at(-1)!
    t.same(ret.memory!.slice(0, 3), [word(0).slice(2), '0'.repeat(64), logs.returnValue.slice(2)], 'enableMemory: 32-byte words (the forwarded argument, the answer at 0x40)')
    t.equal(ret.returnData, logs.returnValue, "enableReturnData: the callee's answer")
    const limited = await rpc<StructTrace>(url, 'debug_traceCall', [{ to: callerAddr, data: args(0, 0) }, 'latest', { limit: 5 }])
    t.equal(limited.structLogs.length, 5, 'limit: the first N steps')
  })

  t.test('hostile callers: unknown hashes and tracers, bad params, runaway traces stay bounded and the node keeps serving', async (t) => {
    const unknown = keccak256('0x1234')
    t.match(await rpcError('debug_traceTransaction', [unknown]), { code: -32000, message: `transaction ${unknown} not found` })
    t.match(await rpcError('debug_traceBlockByHash', [unknown]), { code: -32000, message: /not found/ })
    t.match(await rpcError('debug_traceBlockByNumber', ['0xffffff']), { code: -32000, message: /not found/ })
    t.match(await rpcError('debug_traceBlockByNumber', ['0x0']), { code: -32000, message: 'genesis is not traceable' })
    t.match(await rpcError('debug_traceTransaction', ['0x12']), { code: -32602 })
    t.match(await rpcError('debug_traceTransaction', [unknown, 'callTracer']), { code: -32602, message: /trace config object/ })
    t.match(await rpcError('debug_traceCall', [{ to: callerAddr }, 'latest', { tracer: 'prestateTracer' }]), { code: -32000, message: /"prestateTracer" is not available/ })
    t.match(await rpcError('debug_traceCall', [{ to: callerAddr }, 'latest', { limit: -1 }]), { code: -32602 })
    t.match(await rpcError('debug_traceCall', [{ to: callerAddr }, 'latest', { timeout: 'soon' }]), { code: -32602 })
    // What the tracer cannot honour is refused, never silently left out of the traced message.
    // (Access lists, authorizations and state/block overrides are traced: test/rpc/dev-node/trace-overrides.ts.)
    t.match(await rpcError('debug_traceCall', [{ to: callerAddr }, 'latest', { txIndex: '0x0' }]), { code: -32602, message: /txIndex/ })
    t.match(await rpcError('debug_traceCall', [{ to: callerAddr }, 'latest', { tracer: 'callTracer', tracerConfig: { withLog: true } }]), { code: -32602, message: /withLog/ })

    // Init code that grows memory to 32 KiB and then loops forever: every step logs 1,025 memory words.
    const loop = assemble([['PUSH1', '00'], ['PUSH2', '8000'], 'MSTORE', '@top', ['PUSH1', '@top'], 'JUMP'])
    const big = await rpcError('debug_traceCall', [{ data: loop, gas: '0x2faf080' }, 'latest', { enableMemory: true }])
    t.match(big, { code: -32005, message: /trace larger than this node's cap of 25000000 bytes.*"limit"/ }, 'a struct-log trace past the cap is refused with the way out')

    const short = await rpcError('debug_traceCall', [{ data: loop, gas: '0x2faf080' }, 'latest', { tracer: 'callTracer', timeout: '100ms' }])
    t.match(short, { code: -32000, message: /execution timeout: the trace ran past 100 ms/ }, "the caller's shorter timeout")

    // Asking for an hour gets the node's --rpc.evmtimeout (2 s); meanwhile the node answers others.
    let traceDone = false
    const runaway = rpcError('debug_traceCall', [{ data: loop, gas: '0x2faf080' }, 'latest', { tracer: 'callTracer', timeout: '1h' }]).finally(() => (traceDone = true))
    const head = await rpc<Hex>(url, 'eth_blockNumber')
    t.equal(traceDone, false, 'eth_blockNumber is answered while the trace runs')
    t.ok(BigInt(head) > 0n)
    t.match(await runaway, { code: -32000, message: /execution timeout: the trace ran past 2000 ms/ }, 'stopped at the node budget, not the hour asked')

    // One trace runs and four wait; a sixth at once is refused rather than queued without end.
    const flood = await Promise.all(Array.from({ length: 6 }, () => rpcRaw(url, 'debug_traceCall', [{ data: loop, gas: '0x2faf080' }, 'latest', { tracer: 'callTracer', timeout: '200ms' }])))
    const codes = flood.map((r) => r.error?.code)
    t.equal(codes.filter((c) => c === -32005).length, 1, 'one refused as busy')
    t.equal(codes.filter((c) => c === -32000).length, 5, 'the rest stopped at their time budget')
    t.match(flood.find((r) => r.error?.code === -32005)!.error, { message: /traces are running or waiting/ })
  })

  t.test('debug is its own namespace, off by default as in geth', async (t) => {
    t.ok((NAMESPACES as readonly string[]).includes('debug'), '--rpc.api debug is accepted')
    // Not protected: it shows only chain data, which is public; its cost is bounded instead (evmtimeout, size cap, one at a time).
    t.same(accessOf('debug_traceTransaction', []), { namespace: 'debug', protected: false })
    t.notOk(DEFAULT_APIS.includes('debug'), "not in --rpc.api's default")
  })
}
