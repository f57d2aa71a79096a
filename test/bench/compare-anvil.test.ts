import t from 'tap'
import { bytesToHex, concatBytes, hexToBytes, setLengthLeft } from '@ethereumjs/util'
import type { Hex } from 'viem'
import { keccak256 } from '../../common/keccak.ts'
import { initCode, LOOP_RUNTIME, shuffleWindows, WRITER_RUNTIME } from '../../bench/suites/compare-anvil-load.ts'
import { actor, createContractVM } from '../helpers/contract-vm.ts'

const word = (n: bigint): string => n.toString(16).padStart(64, '0')

t.test('the loop contract returns the keccak chain it claims, at ~114 gas per iteration', async (t) => {
  const alice = actor('compare-anvil-alice')
  const vm = await createContractVM([], [alice])
  const loop = await vm.deploy(alice, `0x${initCode(LOOP_RUNTIME)}` as Hex)
  let acc: Uint8Array = new Uint8Array(32)
  for (let i = 0n; i < 2000n; i++) acc = keccak256(concatBytes(acc, hexToBytes(`0x${word(i)}`)))
  const r2000 = await vm.call(alice.address, loop, `0x${word(2000n)}`)
  t.equal(r2000.ok, true)
  t.equal(r2000.returnData, bytesToHex(acc), 'acc = keccak256(acc, i) for i < 2000')
  const r1000 = await vm.call(alice.address, loop, `0x${word(1000n)}`)
  t.equal(r2000.gasUsed - r1000.gasUsed, 114_000n, '114 gas per iteration: 98,000 iterations are an ~11.2M-gas call')
  const none = await vm.call(alice.address, loop, `0x${word(0n)}`)
  t.equal(none.returnData, bytesToHex(new Uint8Array(32)), 'no iteration returns 0')
})

t.test('the burst writer puts each write in a fresh slot, counts per sender and logs it', async (t) => {
  const alice = actor('compare-anvil-alice')
  const bob = actor('compare-anvil-bob')
  const vm = await createContractVM([], [alice, bob])
  const writer = await vm.deploy(alice, `0x${initCode(WRITER_RUNTIME)}` as Hex)
  const slotOf = (who: Uint8Array, key: bigint) => keccak256(concatBytes(setLengthLeft(who, 32), hexToBytes(`0x${word(key)}`)))
  for (const [i, key] of [7n, 8n].entries()) {
    const r = await vm.send(alice, writer, `0x${word(key)}${word(100n + key)}`)
    t.equal(r.ok, true)
    // The first write of a sender also creates its count slot (+20k); the burst's later ones are ~50k.
    const [lo, hi] = i === 0 ? [60_000n, 70_000n] : [45_000n, 55_000n]
    t.ok(r.gasUsed > lo && r.gasUsed < hi, `write ${i + 1} costs ${r.gasUsed} gas`)
    t.equal(bytesToHex(await vm.storageAt(writer, slotOf(alice.address, key))), `0x${word(100n + key)}`, 'values[caller][key] = value')
    t.equal(bytesToHex(await vm.storageAt(writer, setLengthLeft(alice.address, 32))), `0x${word(BigInt(i + 1))}`, 'counts[caller] += 1')
    t.same(r.logs[0]?.topics, [`0x${word(1n)}`, bytesToHex(setLengthLeft(alice.address, 32)), `0x${word(key)}`], 'LOG3(1, caller, key)')
    t.equal(r.logs[0]?.data, `0x${word(100n + key)}`)
  }
  await vm.send(bob, writer, `0x${word(7n)}${word(5n)}`)
  t.equal(bytesToHex(await vm.storageAt(writer, slotOf(alice.address, 7n))), `0x${word(107n)}`, "another sender's write with the same key leaves it alone")
  t.equal(bytesToHex(await vm.storageAt(writer, slotOf(bob.address, 7n))), `0x${word(5n)}`)
})

t.test('the burst order: each window is a permutation of the sent order, and nonces arrive out of order', async (t) => {
  // 8 senders interleaved by nonce, as the burst signs them.
  const items = Array.from({ length: 200 }, (_, i) => ({ sender: i % 8, nonce: Math.floor(i / 8) }))
  const shuffled = shuffleWindows(items, 64, 20)
  t.same(shuffleWindows(items, 64, 20), shuffled, 'deterministic')
  for (let start = 0; start < items.length; start += 64) {
    const key = (x: { sender: number; nonce: number }) => x.sender * 1000 + x.nonce
    t.same(shuffled.slice(start, start + 64).map(key).sort((a, b) => a - b), items.slice(start, start + 64).map(key).sort((a, b) => a - b), `window at ${start} holds the same writes`)
  }
  const outOfOrder = shuffled.some((x, i) => shuffled.slice(i + 1).some((y) => y.sender === x.sender && y.nonce < x.nonce))
  t.ok(outOfOrder, 'some sender sends a nonce before a lower one')
})
