/**
 * Small calls on the main thread (evm/call-inline.ts) over a real chain database: the same
 * answers as the workers give; a long call is stopped at the budget and answered by a worker
 * while blocks keep sealing; --rpc.evmtimeout still holds; long-running precompiles never run here.
 */
import t, { type Test } from 'tap'
import { Address, bytesToHex, hexToBytes } from '@ethereumjs/util'
import { setLogLevel } from '../../common/logger.ts'
import { createCallPool, EvmErrorCode, type CallArgs, type CallPool, type CallPoolOptions } from '../../evm/index.ts'
import { CALL_SUBLEVELS } from '../../node/chain/store.ts'
import { source } from '../helpers/chain.ts'
import { chainWithCode } from '../helpers/code-chain.ts'

setLogLevel('error')

const at = (n: number) => new Address(hexToBytes(`0x${n.toString(16).padStart(40, '0')}`))
const LOOP = at(0x100aa)
const GAS_LEFT = at(0x100bb)
const WRITE = at(0x100cc)
const READ = at(0x100dd)
const REVERT = at(0x100ee)
const INVALID = at(0x100ff)
const MODEXP = at(0x10100)
const ECRECOVER = at(0x10101)
const CODE = new Map([
  [LOOP, '0x5b600056'], // JUMPDEST PUSH1 0 JUMP
  [GAS_LEFT, '0x5a60005260206000f3'], // return gasleft()
  [WRITE, '0x600435600035550060'], // sstore(calldata[0], calldata[4..]) (trailing byte: not reached)
  [READ, '0x60055460005260206000f3'], // return sload(5)
  [REVERT, '0x602a60005260206000fd'], // revert(42)
  [INVALID, '0xfe'],
  // staticcall(gas, 5, 0, 0, 0, 0) and return its success flag; the same on precompile 1
  [MODEXP, '0x600060006000600060055afa60005260206000f3'],
  [ECRECOVER, '0x600060006000600060015afa60005260206000f3'],
])

const { genesis, chain, signer, head, ctx } = await chainWithCode(t, CODE)

function pool(t: Test, over: Partial<CallPoolOptions> = {}): CallPool {
  const p = createCallPool({ db: { path: chain.store.location, ...CALL_SUBLEVELS }, chainId: genesis.chainId, workers: 1, timeoutMs: 0, gasCap: 50_000_000n, ...over })
  t.teardown(() => p.close())
  return p
}

/** A pool whose calls run on this thread (never counted busy, no share limit), once its runner is up. */
async function inlinePool(t: Test, budgetMs: number, over: Partial<CallPoolOptions> = {}): Promise<CallPool> {
  const p = pool(t, { inline: { db: chain.store.db, budgetMs, busyShare: 2, share: 1e6 }, ...over })
  for (let i = 0; i < 400 && p.stats().inline.ran === 0; i++) {
    await p.call({ to: GAS_LEFT }, ctx(), head().stateRoot)
    if (p.stats().inline.ran === 0) await new Promise((r) => setTimeout(r, 10))
  }
  t.ok(p.stats().inline.ran > 0, 'the main-thread runner is up')
  return p
}

/** What a pool answers, or how it refuses, as plain data. */
async function outcome(p: CallPool, kind: 'call' | 'estimate' | 'accessList', args: CallArgs): Promise<unknown> {
  const root = head().stateRoot
  try {
    const r = kind === 'call' ? await p.call(args, ctx(), root) : kind === 'estimate' ? await p.estimateGas(args, ctx(), root) : await p.createAccessList(args, ctx(), root)
    return JSON.parse(JSON.stringify(r, (_, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v instanceof Uint8Array ? bytesToHex(v) : v)))
  } catch (err) {
    const e = err as { code?: string; message: string; context?: Record<string, unknown> }
    return { code: e.code, message: e.message, revert: e.context?.revertData instanceof Uint8Array ? bytesToHex(e.context.revertData) : undefined }
  }
}

const slot = (n: number) => hexToBytes(`0x${n.toString(16).padStart(64, '0')}`)
const CASES: Array<[string, 'call' | 'estimate' | 'accessList', CallArgs]> = [
  ['gasleft', 'call', { to: GAS_LEFT, gas: 100_000n }],
  ['gasleft, default gas', 'call', { to: GAS_LEFT }],
  ['storage write', 'call', { to: WRITE, data: new Uint8Array([...slot(7), ...slot(9)]) }],
  ['estimate of a storage write', 'estimate', { to: WRITE, data: new Uint8Array([...slot(7), ...slot(9)]) }],
  ['estimate of a storage clear (refund)', 'estimate', { to: WRITE, data: new Uint8Array([...slot(7), ...slot(0)]) }],
  ['storage read', 'call', { to: READ }],
  ['access list of a storage read', 'accessList', { to: READ }],
  ['revert', 'call', { to: REVERT }],
  ['estimate of a revert', 'estimate', { to: REVERT }],
  ['invalid opcode', 'call', { to: INVALID }],
  ['estimate of an invalid opcode', 'estimate', { to: INVALID }],
  ['loop out of gas', 'call', { to: LOOP, gas: 200_000n }],
  ['estimate of an endless loop', 'estimate', { to: LOOP, gas: 300_000n }],
  ['ecrecover', 'call', { to: ECRECOVER }],
  ['transfer estimate', 'estimate', { to: at(0xabc), from: new Address(signer.address), value: 1n }],
  ['too little gas', 'call', { to: GAS_LEFT, gas: 20_000n }],
  ['missing code (an account without code)', 'call', { to: at(0xdead), data: new Uint8Array([1, 2, 3]) }],
]

t.test('a call on the main thread answers as a worker does', async (t) => {
  const workers = pool(t)
  const inline = await inlinePool(t, 60_000)
  const before = inline.stats().inline
  for (const [name, kind, args] of CASES) t.same(await outcome(inline, kind, args), await outcome(workers, kind, args), name)
  const after = inline.stats().inline
  t.equal(after.ran - before.ran, CASES.length, 'every case ran on the main thread')
  t.equal(after.stopped, 0)
})

t.test('a 30M-gas loop is stopped at the budget and answered by a worker while blocks keep sealing', async (t) => {
  const workers = pool(t)
  const inline = await inlinePool(t, 4)
  const expected = await outcome(workers, 'call', { to: LOOP, gas: 30_000_000n })
  const from = head().number
  const before = inline.stats().inline
  let pending = true
  const answer = outcome(inline, 'call', { to: LOOP, gas: 30_000_000n }).finally(() => (pending = false))
  let sealedWhilePending = 0
  while (pending) {
    await chain.produce({ signer, source: source([]), deadline: Date.now() + 10_000 })
    if (pending) sealedWhilePending++
  }
  t.same(await answer, expected, 'the worker\'s answer: out of gas')
  t.equal(inline.stats().inline.stopped - before.stopped, 1, 'stopped on the main thread, not run there to the end')
  t.ok(sealedWhilePending >= 2, `${sealedWhilePending} blocks sealed while the call ran (from block ${from})`)
})

t.test('--rpc.evmtimeout still holds: an endless call is stopped here, then on its worker', async (t) => {
  // A 1e12 cap: at 50M the loop runs out of gas inside 300 ms on a quiet machine, and nothing times out.
  const inline = await inlinePool(t, 4, { timeoutMs: 300, gasCap: 10n ** 12n })
  const before = inline.stats().inline
  await t.rejects(inline.call({ to: LOOP, gas: 10n ** 12n }, ctx(), head().stateRoot), { code: EvmErrorCode.EXECUTION_TIMEOUT, message: 'execution aborted (timeout = 300ms)' })
  t.match(inline.stats(), { timeouts: 1, restarts: 0 })
  t.equal(inline.stats().inline.stopped - before.stopped, 1, 'stopped here first')
})

t.test('a precompile that may run long is not run on the main thread: the call goes to a worker', async (t) => {
  const workers = pool(t)
  const inline = await inlinePool(t, 60_000)
  const before = inline.stats().inline
  t.same(await outcome(inline, 'call', { to: MODEXP }), await outcome(workers, 'call', { to: MODEXP }), 'modexp: the worker\'s answer')
  t.same(await outcome(inline, 'estimate', { to: MODEXP }), await outcome(workers, 'estimate', { to: MODEXP }), 'an estimate too')
  const after = inline.stats().inline
  t.equal(after.stopped - before.stopped, 2, 'both stopped here')
  t.equal(after.ran, before.ran, 'neither answered here')
})

t.test('one call at a time here: calls arriving meanwhile go straight to the workers', async (t) => {
  const inline = await inlinePool(t, 4, { workers: 2 })
  const before = inline.stats().inline
  const answers = await Promise.all([1, 2, 3, 4, 5].map(() => outcome(inline, 'call', { to: LOOP, gas: 30_000_000n })))
  for (const a of answers) t.match(a, { error: { message: 'out of gas' } })
  const after = inline.stats().inline
  t.equal(after.stopped - before.stopped, 1, 'the first ran here until its budget')
  t.equal(after.skipped - before.skipped, 4, 'the others never ran here')
})

t.test('a busy thread sends calls to the workers', async (t) => {
  const p = pool(t, { inline: { db: chain.store.db, budgetMs: 60_000, share: 1e6 } })
  for (let i = 0; i < 400 && p.stats().inline.ran === 0; i++) {
    await p.call({ to: GAS_LEFT }, ctx(), head().stateRoot)
    await new Promise((r) => setTimeout(r, 10))
  }
  const before = p.stats().inline
  t.ok(before.ran > 0, 'an idle thread runs them here')
  // Hold the event loop as a block import would, then call at once.
  const until = performance.now() + 150
  while (performance.now() < until);
  await new Promise((r) => setTimeout(r, 1))
  t.same(await outcome(p, 'call', { to: GAS_LEFT }), await outcome(pool(t), 'call', { to: GAS_LEFT }))
  t.equal(p.stats().inline.skipped - before.skipped, 1, 'skipped here: the thread was busy')
})

t.test('a call without a single jump is stopped too: every opcode the inlined loop hands back is checked', async (t) => {
  const workers = pool(t)
  const inline = await inlinePool(t, 2)
  // 8,000 × (PUSH1 0, SLOAD, POP): no jump, no call; tens of ms of ethereumjs steps (the workers
  // check every step too, so their fast lane stops it and the slow lane runs it to the end).
  const code = hexToBytes(`0x${'60005450'.repeat(8000)}`)
  const args: CallArgs = { to: at(0x20000), stateOverrides: [{ address: at(0x20000).bytes, account: { code } }] }
  const before = inline.stats().inline
  t.same(await outcome(inline, 'call', args), await outcome(workers, 'call', args), 'the worker\'s answer')
  t.equal(inline.stats().inline.stopped - before.stopped, 1, 'stopped here at the budget')
})
