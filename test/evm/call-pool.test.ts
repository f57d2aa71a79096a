/**
 * The call pool over a real chain database: worker threads open the chain's LevelDB next to the
 * main thread (classic-level `multithreading`) and run calls at committed roots; a call past the
 * timeout is stopped and its worker replaced; the wait queue is bounded; close releases the DB.
 */
import t, { type Test } from 'tap'
import { Address, bytesToHex, hexToBytes } from '@ethereumjs/util'
import { setLogLevel } from '../../common/logger.ts'
import { formatDuration, parseDuration } from '../../common/duration.ts'
import { createCallPool, EvmErrorCode, type CallPool, type CallPoolOptions } from '../../evm/index.ts'
import { Chain } from '../../node/chain/index.ts'
import { CALL_SUBLEVELS } from '../../node/chain/store.ts'
import { DEV_KEYS, addressOf, source, txFactory } from '../helpers/chain.ts'
import { chainWithCode } from '../helpers/code-chain.ts'

setLogLevel('error')

const LOOP = new Address(hexToBytes('0x00000000000000000000000000000000000100aa'))
const GAS_LEFT = new Address(hexToBytes('0x00000000000000000000000000000000000100bb'))
const CALLER_BALANCE = new Address(hexToBytes('0x00000000000000000000000000000000000100cc'))
const CODE = new Map([
  [LOOP, '0x5b600056'], // JUMPDEST PUSH1 0 JUMP
  [GAS_LEFT, '0x5a60005260206000f3'], // return gasleft()
  [CALLER_BALANCE, '0x333160005260206000f3'], // return CALLER.balance
])

const { genesis, chain, datadir, signer, head, ctx } = await chainWithCode(t, CODE)
const word = (b: Uint8Array) => BigInt(bytesToHex(b))

/**
 * The loops below must outlast their timeouts on any machine: at a 50M cap the fast interpreter
 * ends LOOP out of gas in ~0.2 s, inside a 300 ms timeout; at 1e12 it would take hours.
 */
const LOOP_GAS_CAP = 10n ** 12n

function pool(t: Test, over: Partial<CallPoolOptions> = {}): CallPool {
  const p = createCallPool({ db: { path: chain.store.location, ...CALL_SUBLEVELS }, chainId: genesis.chainId, workers: 1, timeoutMs: 1000, gasCap: LOOP_GAS_CAP, ...over })
  t.teardown(() => p.close())
  return p
}

t.test('a worker runs the same call as the main thread, at the head just committed', async (t) => {
  const p = pool(t)
  const main = await chain.executor.call({ to: GAS_LEFT, gas: 100_000n }, ctx(), head().stateRoot)
  const off = await p.call({ to: GAS_LEFT, gas: 100_000n }, ctx(), head().stateRoot)
  t.same(off, main, 'same result, gas and error as the executor')

  // A block committed after the worker opened the database: its state is visible at once.
  const f = txFactory(chain.common)
  await chain.produce({ signer, source: source([f.next('transfer')]), deadline: Date.now() + 10_000 })
  const receiver = new Address(addressOf(DEV_KEYS[1]!))
  const res = await p.call({ to: CALLER_BALANCE, from: receiver }, ctx(), head().stateRoot)
  t.equal(word(res.returnValue), (await chain.headAccount(receiver)).balance, 'balance after the new block')
})

t.test('a call past the timeout is stopped with geth\'s message, and its worker serves on', async (t) => {
  const p = pool(t, { timeoutMs: 300 })
  await t.rejects(p.call({ to: LOOP, gas: 10n ** 12n }, ctx(), head().stateRoot), { code: EvmErrorCode.EXECUTION_TIMEOUT, message: 'execution aborted (timeout = 300ms)' })
  await t.rejects(p.estimateGas({ to: LOOP, gas: 10n ** 12n }, ctx(), head().stateRoot), { code: EvmErrorCode.EXECUTION_TIMEOUT }, 'an estimate too')
  t.match(p.stats(), { timeouts: 2, restarts: 0, workers: 1 }, 'stopped by the interrupt check: the thread was not lost')
  const ok = await p.call({ to: GAS_LEFT }, ctx(), head().stateRoot)
  t.ok(word(ok.returnValue) > 0n, 'the same worker answers the next call')
})

t.test('code without a single jump is stopped by the check before every step, not by terminating its worker', async (t) => {
  const p = pool(t, { timeoutMs: 300 })
  // 400,000 × (PUSH1 0, SLOAD, POP): ~42M gas, seconds of ethereumjs steps, no jump or call.
  const to = new Address(hexToBytes('0x0000000000000000000000000000000000020000'))
  const code = hexToBytes(`0x${'60005450'.repeat(400_000)}`)
  await t.rejects(p.call({ to, stateOverrides: [{ address: to.bytes, account: { code } }] }, ctx(), head().stateRoot), { code: EvmErrorCode.EXECUTION_TIMEOUT })
  t.match(p.stats(), { timeouts: 1, restarts: 0 }, 'stopped by the check: the thread was not lost')
})

t.test('long calls cannot starve short ones: a view call is answered while loops hold the slow lane', async (t) => {
  const p = pool(t, { workers: 2, timeoutMs: 20_000 })
  await p.call({ to: GAS_LEFT }, ctx(), head().stateRoot) // both workers up
  let loopsPending = true
  const loops = Promise.allSettled([1, 2, 3].map(() => p.call({ to: LOOP, gas: 10n ** 12n }, ctx(), head().stateRoot))).finally(() => (loopsPending = false))
  // Wait until one loop runs in the slow lane and the others wait for it.
  for (let i = 0; i < 400 && !(p.stats().busy === 1 && p.stats().queued === 2); i++) await new Promise((r) => setTimeout(r, 10))
  t.match(p.stats(), { busy: 1, queued: 2 }, 'one slow job running, two waiting behind it')
  for (let i = 0; i < 5; i++) {
    const res = await p.call({ to: CALLER_BALANCE, from: new Address(signer.address) }, ctx(), head().stateRoot)
    t.equal(res.error, undefined)
  }
  t.ok(loopsPending, 'five view calls answered while the loops were still running or waiting')
  await p.close()
  await loops
})

t.test('the gas cap bounds what a caller asks for; 0 means no cap', async (t) => {
  const capped = pool(t, { gasCap: 100_000n })
  const left = word((await capped.call({ to: GAS_LEFT, gas: 10_000_000n }, ctx(), head().stateRoot)).returnValue)
  t.ok(left < 100_000n, `gasleft() ${left} under the cap`)
  const uncapped = pool(t, { gasCap: 0n })
  const more = word((await uncapped.call({ to: GAS_LEFT, gas: 10_000_000n }, ctx(), head().stateRoot)).returnValue)
  t.ok(more > 9_000_000n, `gasleft() ${more} with no cap`)
  await t.rejects(capped.estimateGas({ to: LOOP }, ctx(), head().stateRoot), { code: EvmErrorCode.GAS_ESTIMATION_FAILED, message: /^gas required exceeds allowance \(100000\)/ })
})

t.test('the wait queue is bounded: a full queue refuses at once', async (t) => {
  const p = pool(t, { timeoutMs: 300, maxQueue: 1 })
  // The worker starts with the first call; until it is up, one call per worker plus maxQueue may wait.
  const first = t.rejects(p.call({ to: LOOP, gas: 10n ** 12n }, ctx(), head().stateRoot), { code: EvmErrorCode.EXECUTION_TIMEOUT })
  // Once over its fast budget, the second finds the slow lane's queue (1) taken by the first.
  const second = t.rejects(p.call({ to: LOOP, gas: 10n ** 12n }, ctx(), head().stateRoot), { code: EvmErrorCode.CALL_QUEUE_FULL }, 'the slow lane is bounded too')
  t.equal(p.stats().busy, 0, 'the worker is still starting')
  await t.rejects(p.call({ to: GAS_LEFT }, ctx(), head().stateRoot), { code: EvmErrorCode.CALL_QUEUE_FULL, message: /retry later/ })
  await first
  await second
})

t.test('a root that is not in the database is refused', async (t) => {
  const p = pool(t)
  await t.rejects(p.call({ to: GAS_LEFT }, ctx(), new Uint8Array(32).fill(7)), { code: EvmErrorCode.MISSING_STATE })
})

t.test('close refuses running and new calls and releases the database', async (t) => {
  const p = pool(t, { timeoutMs: 0 })
  const running = t.rejects(p.call({ to: LOOP, gas: 10n ** 12n }, ctx(), head().stateRoot), { code: EvmErrorCode.CALL_POOL_CLOSED })
  for (let i = 0; i < 200 && p.stats().busy === 0; i++) await new Promise((r) => setTimeout(r, 25))
  await p.close()
  await running
  await t.rejects(p.call({ to: GAS_LEFT }, ctx(), head().stateRoot), { code: EvmErrorCode.CALL_POOL_CLOSED })
})

t.test('a second open of the same chain database in this process is refused, as the file lock would', async (t) => {
  await t.rejects(Chain.open(datadir, genesis), { code: 'LEVEL_DATABASE_NOT_OPEN' })
})

t.test('durations in Go syntax, as geth prints and parses them', async (t) => {
  t.same([5000, 500, 1500, 90_000, 3_600_000, 0, 0.5].map(formatDuration), ['5s', '500ms', '1.5s', '1m30s', '1h0m0s', '0s', '500µs'])
  t.same(['5s', '500ms', '1.5s', '1m30s', '0', '2h', '250us'].map(parseDuration), [5000, 500, 1500, 90_000, 0, 7_200_000, 0.25])
  for (const bad of ['5', 's', '', '-1s', '5 s', '1.5']) t.throws(() => parseDuration(bad), { code: 'INVALID_DURATION' }, `"${bad}" refused`)
})
