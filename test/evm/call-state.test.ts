import t from 'tap'
import { Account, bytesToHex, createAddressFromString, hexToBytes, MapDB, setLengthLeft } from '@ethereumjs/util'
import { blockHashChain, createStateManager } from '../../evm/call.ts'
import { CallRunner, createExecCommon, type AccountOverride, type ExecutionContext } from '../../evm/index.ts'

/**
 * evm/call-state.ts: a call VM keeps its trie reads across calls. Every read must still see the
 * call's own state: its writes, its state overrides (a `state` override empties the rest of the
 * storage), and, on the next call, the committed state again.
 */

const CALLER = createAddressFromString('0x70997970c51812dc3a010c7d01b50e0d17dc79c8')
const C = createAddressFromString('0x3000000000000000000000000000000000000001')
const slot = (n: number) => setLengthLeft(Uint8Array.of(n), 32)
const word = (n: bigint) => n.toString(16).padStart(64, '0')
// Returns SLOAD(1), SLOAD(2) and BALANCE(CALLER); with calldata 1, first SSTORE(1, 5).
const CODE = hexToBytes(`0x${'600035600114601f57' + '600154600052600254602052' + '3331' + '60405260606000f3' + '5b600560015500'}`)

async function setup() {
  const common = createExecCommon(1337n, 'osaka')
  const base = await createStateManager(new MapDB(), common)
  await base.checkpoint()
  await base.putAccount(CALLER, new Account(0n, 1000n))
  await base.putCode(C, CODE)
  await base.putStorage(C, slot(1), Uint8Array.of(1))
  await base.putStorage(C, slot(2), Uint8Array.of(2))
  await base.commit()
  await base.flush()
  const root = await base.getStateRoot()
  const ctx: ExecutionContext = { number: 1n, timestamp: 1n, gasLimit: 30_000_000n, baseFeePerGas: 0n, difficulty: 1n, author: CALLER }
  return { runner: new CallRunner({ execCommon: common, base, blockchain: blockHashChain(async () => undefined), fast: true }), root, ctx }
}

t.test('reads kept across calls never show another call\'s writes or overrides', async (t) => {
  const { runner, root, ctx } = await setup()
  const read = async (extra: Partial<Parameters<CallRunner['call']>[0]> = {}, data = word(0n)) => bytesToHex((await runner.call({ from: CALLER, to: C, data: hexToBytes(`0x${data}`), ...extra }, ctx, root, 0n)).returnValue)
  const committed = `0x${word(1n)}${word(2n)}${word(1000n)}`
  t.equal(await read(), committed, 'the committed slots and balance')
  t.equal(await read(), committed, 'again, from the kept reads')
  // The SSTORE path: `CODE` with calldata 1 stores and stops, so read what it wrote through a
  // state override instead, which writes through the same state manager.
  t.equal(await read({ stateOverrides: [{ address: C.bytes, account: { state: [[slot(1), Uint8Array.of(9)]] } }] }), `0x${word(9n)}${word(0n)}${word(1000n)}`, "a 'state' override empties every other slot, though slot 2 was read before")
  t.equal(await read({ stateOverrides: [{ address: C.bytes, account: { stateDiff: [[slot(1), Uint8Array.of(7)]] } }] }), `0x${word(7n)}${word(2n)}${word(1000n)}`, "a 'stateDiff' override changes only its slot")
  t.equal(await read({ stateOverrides: [{ address: CALLER.bytes, account: { balance: 5n } }] }), `0x${word(1n)}${word(2n)}${word(5n)}`, 'a balance override is seen')
  t.equal(await read(), committed, 'the next call sees the committed state again')
  t.equal((await runner.call({ from: CALLER, to: C, data: hexToBytes(`0x${word(1n)}`) }, ctx, root, 0n)).error, undefined, 'a call that writes slot 1')
  t.equal(await read(), committed, 'and its write is gone for the next one')
})

t.test('a call reads its own writes (kept in the storage cache only) and the committed slots beside them', async (t) => {
  const { runner, root, ctx } = await setup()
  const W = createAddressFromString('0x3000000000000000000000000000000000000002')
  // SSTORE(1, 5), then return SLOAD(1), SLOAD(2).
  const code = hexToBytes(`0x${'6005600155600154600052600254602052604060'}00f3`)
  const run = async (extra: Partial<AccountOverride> = {}) => bytesToHex((await runner.call({ from: CALLER, to: W, stateOverrides: [{ address: W.bytes, account: { code, ...extra } }] }, ctx, root, 0n)).returnValue)
  t.equal(await run(), `0x${word(5n)}${word(0n)}`, 'its write, and an empty slot')
  t.equal(await run({ stateDiff: [[slot(2), Uint8Array.of(3)]] }), `0x${word(5n)}${word(3n)}`, 'its write beside an overridden slot')
  t.equal(await run({ state: [[slot(1), Uint8Array.of(8)], [slot(2), Uint8Array.of(4)]] }), `0x${word(5n)}${word(4n)}`, 'its write over a replaced storage')
  // On the contract with committed storage: write slot 1, read slots 1 and 2 (2 stays committed).
  const onC = bytesToHex((await runner.call({ from: CALLER, to: C, stateOverrides: [{ address: C.bytes, account: { code } }] }, ctx, root, 0n)).returnValue)
  t.equal(onC, `0x${word(5n)}${word(2n)}`, 'its write, and the committed slot next to it')
  const again = bytesToHex((await runner.call({ from: CALLER, to: C, data: hexToBytes(`0x${word(0n)}`) }, ctx, root, 0n)).returnValue)
  t.equal(again, `0x${word(1n)}${word(2n)}${word(1000n)}`, 'the next call sees the committed slots again')
})
