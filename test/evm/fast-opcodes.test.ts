import t, { type Test } from 'tap'
import { readFileSync } from 'node:fs'
import type { Common } from '@ethereumjs/common'
import { createEVM } from '@ethereumjs/evm'
import { MerkleStateManager } from '@ethereumjs/statemanager'
import { Account, bytesToHex, createAddressFromString, hexToBytes, MapDB } from '@ethereumjs/util'
import { keccak256 as viemKeccak, toHex, type Hex } from 'viem'
import { blockHashChain, createStateManager } from '../../evm/call.ts'
import { CallRunner, createExecCommon, enableSyncSteps, fastOpcodes, installFastOpcodes, type ExecutionContext } from '../../evm/index.ts'
import { LOOP_RUNTIME, WRITER_RUNTIME } from '../../bench/suites/compare-anvil-load.ts'
import { actor, type Actor } from '../helpers/contract-vm.ts'
import { createMedRecVM, type MedRecVM } from '../helpers/medrec-vm.ts'

/**
 * evm/fast-opcodes.ts against ethereumjs's own handlers: the same corpus runs on a stock EVM and on
 * one with the fast opcodes and synchronous steps, and every run must agree on gas, return data,
 * the error, logs, the refund and the state root afterwards.
 */

const CALLER = createAddressFromString('0x70997970c51812dc3a010c7d01b50e0d17dc79c8')
const TARGET = createAddressFromString('0x1000000000000000000000000000000000000001')
const hex = (s: string) => hexToBytes(`0x${s}` as Hex)
const word = (n: bigint) => n.toString(16).padStart(64, '0')

interface Run {
  gas: bigint
  ret: string
  error: string | undefined
  logs: string
  refund: bigint
  root: string
}

async function run(fast: boolean, code: Uint8Array, data: Uint8Array, gasLimit: bigint, common: Common = createExecCommon(1337n, 'osaka')): Promise<Run> {
  const sm = new MerkleStateManager({ common })
  const evm = await createEVM({ common, stateManager: sm, customOpcodes: fast ? fastOpcodes(common) : undefined })
  if (fast) await enableSyncSteps(evm, common)
  await sm.putAccount(CALLER, new Account(0n, 10n ** 20n))
  await sm.putCode(TARGET, code)
  const r = await evm.runCall({ caller: CALLER, origin: CALLER, to: TARGET, data, gasLimit })
  const ex = r.execResult
  return {
    gas: ex.executionGasUsed,
    ret: bytesToHex(ex.returnValue),
    error: ex.exceptionError?.error,
    logs: JSON.stringify((ex.logs ?? []).map(([a, topics, d]) => [bytesToHex(a), topics.map((x) => bytesToHex(x)), bytesToHex(d)])),
    refund: ex.gasRefund ?? 0n,
    root: bytesToHex(await sm.getStateRoot()),
  }
}

async function same(t: Test, what: string, code: Uint8Array, data: Uint8Array, gasLimit: bigint): Promise<Run> {
  const stock = await run(false, code, data, gasLimit)
  const fast = await run(true, code, data, gasLimit)
  if (JSON.stringify(stock, big) !== JSON.stringify(fast, big)) t.same(fast, stock, what)
  else t.pass(what)
  return stock
}
const big = (_: string, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)

// A seeded generator, so a failure names a reproducible case.
function rng(seed: number): () => number {
  let s = seed >>> 0
  return () => {
    s = (s + 0x6d2b79f5) >>> 0
    let x = s
    x = Math.imul(x ^ (x >>> 15), x | 1)
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61)
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296
  }
}

/** Offsets and lengths at memory's edges: word boundaries, the 32-bit and 64-bit limits, 2^256 - 1. */
const EDGES = [0n, 1n, 31n, 32n, 33n, 63n, 64n, 1024n, 0x10000n, (1n << 32n) - 1n, 1n << 32n, (1n << 53n) + 1n, (1n << 64n) - 1n, 1n << 255n, (1n << 256n) - 1n]
const push = (v: bigint) => {
  const h = v.toString(16)
  const bytes = Math.max(1, Math.ceil(h.length / 2))
  return (0x5f + bytes).toString(16) + h.padStart(bytes * 2, '0')
}

t.test('memory edges: MSTORE, MSTORE8, MLOAD and KECCAK256 at every edge offset and length, with plenty and with tight gas', async (t) => {
  for (const offset of EDGES) {
    for (const gas of [10_000_000n, 40n]) {
      // value, offset, MSTORE; offset, MLOAD; return the loaded word
      await same(t, `MSTORE/MLOAD at ${offset}, gas ${gas}`, hex(`${push(0xdeadbeefn << 200n)}${push(offset)}52${push(offset)}51600052602060${'00'}f3`), new Uint8Array(), gas)
      await same(t, `MSTORE8 at ${offset}, gas ${gas}`, hex(`${push(0x1ffn)}${push(offset)}53596000526020600${'0'}f3`), new Uint8Array(), gas)
      for (const length of [0n, 1n, 32n, 33n, 1024n, (1n << 64n) - 1n, (1n << 256n) - 1n]) {
        await same(t, `KECCAK256(${offset}, ${length}), gas ${gas}`, hex(`60aa601f53${push(length)}${push(offset)}20600052602060${'00'}f3`), new Uint8Array(), gas)
      }
    }
  }
})

t.test('stack underflow in each fast opcode and its gas function', async (t) => {
  for (const op of ['20', '51', '52', '53']) {
    await same(t, `${op} on an empty stack`, hex(op), new Uint8Array(), 100_000n)
    await same(t, `${op} with one item`, hex(`6001${op}`), new Uint8Array(), 100_000n)
  }
})

t.test('random bytecode: stack, memory, hashing, jumps, storage, logs, invalid opcodes, tight gas', async (t) => {
  const r = rng(20)
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!
  // Opcodes weighted toward the fast ones and what feeds them.
  const ops = ['52', '52', '53', '51', '51', '20', '20', '01', '02', '03', '10', '15', '16', '18', '1b', '1c', '50', '59', '5a', '80', '81', '82', '90', '91', '5b', '55', '54', 'a1', '35', '5f', 'fe', '0c', '56', '57']
  for (let i = 0; i < 250; i++) {
    let code = ''
    const n = 4 + Math.floor(r() * 40)
    for (let j = 0; j < n; j++) {
      const k = r()
      if (k < 0.4) code += push(r() < 0.7 ? BigInt(Math.floor(r() * 200)) : pick(EDGES))
      else code += pick(ops)
    }
    code += '596000f3' // return memory so far: MSIZE, 0, RETURN
    const gas = r() < 0.3 ? BigInt(Math.floor(r() * 3000)) : 1_000_000n
    await same(t, `program ${i}: ${code} at ${gas} gas`, hex(code), hex(word(BigInt(i))), gas)
  }
})

t.test('the compare-anvil loop and writer contracts, and out of gas at every gas limit around a small loop', async (t) => {
  for (const n of [0n, 1n, 7n, 300n]) await same(t, `loop of ${n}`, hex(LOOP_RUNTIME), hex(word(n)), 10_000_000n)
  const full = await same(t, 'writer', hex(WRITER_RUNTIME), hex(word(5n) + word(77n)), 1_000_000n)
  t.equal(full.error, undefined, 'the writer succeeds')
  const loop = await run(false, hex(LOOP_RUNTIME), hex(word(1n)), 1_000_000n)
  // Every gas limit from 0 to just past what the loop needs: each boundary of each opcode.
  const stock: Run[] = []
  const fast: Run[] = []
  for (let g = 0n; g <= loop.gas + 1n; g++) {
    stock.push(await run(false, hex(LOOP_RUNTIME), hex(word(1n)), g))
    fast.push(await run(true, hex(LOOP_RUNTIME), hex(word(1n)), g))
  }
  t.same(fast, stock, `all ${stock.length} gas limits agree`)
  t.equal(stock.filter((x) => x.error === 'out of gas').length, Number(loop.gas), 'every limit below the need runs out of gas')
})

/** The MedRec papers' main flow (test/contracts/flows.test.ts), every outcome recorded. */
async function medrecFlow(m: MedRecVM, [hospital, clinic, patient, researcher]: Actor[]): Promise<unknown[]> {
  const out: unknown[] = []
  const summary = await m.register(clinic!, 'sha256:patient-national-id', patient!)
  out.push(await m.registrar.view('resolve', ['sha256:patient-national-id']))
  const ppr = await m.createRelationship(hospital!, patient!, 'https://gk.hospital.example/fhir')
  out.push(await ppr.send(hospital!, 'addPointer', ['{"resourceType":"Observation"}', 3, viemKeccak(toHex('labs-v1')), '{"aggregate":"count"}']))
  out.push(await ppr.send(hospital!, 'linkPatient', []))
  out.push(await summary.send(patient!, 'accept', [ppr.address]))
  out.push(await ppr.view('canRead', [patient!.hex, 0n, 7n]))
  out.push(await ppr.view('canRead', [researcher!.hex, 0n, 1n]))
  out.push(await ppr.send(researcher!, 'linkPatient', []))
  out.push(await summary.view('entryOf', [ppr.address]))
  return out
}

t.test('the MedRec contracts: a flow gives the same outcomes, gas and logs on fast opcodes', async (t) => {
  const people = ['hospital', 'clinic', 'patient', 'researcher'].map(actor)
  const stock = await createMedRecVM(people.slice(0, 2), people.slice(2))
  const fast = await createMedRecVM(people.slice(0, 2), people.slice(2))
  await installFastOpcodes(fast.vm.vm.evm, fast.vm.vm.common)
  const a = await medrecFlow(stock, people)
  const b = await medrecFlow(fast, people)
  t.same(JSON.parse(JSON.stringify(b, big)), JSON.parse(JSON.stringify(a, big)), 'every step agrees')
  t.ok(JSON.stringify(a, big).includes('"logs":[{'), 'the flow emitted logs')
})

t.test('a tracer on a fast EVM still sees every step (the sync steps stand aside for step listeners)', async (t) => {
  const count = async (fast: boolean) => {
    const common = createExecCommon(1337n, 'osaka')
    const sm = new MerkleStateManager({ common })
    const evm = await createEVM({ common, stateManager: sm, customOpcodes: fast ? fastOpcodes(common) : undefined })
    if (fast) await enableSyncSteps(evm, common)
    await sm.putCode(TARGET, hex(LOOP_RUNTIME))
    let steps = 0
    evm.events.on('step', () => void steps++)
    await evm.runCall({ caller: CALLER, to: TARGET, data: hex(word(50n)), gasLimit: 1_000_000n })
    return steps
  }
  const stock = await count(false)
  t.ok(stock > 1000)
  t.equal(await count(true), stock)
})

t.test('CallRunner on fast opcodes: interrupts stop a loop, nothing leaks between calls, block overrides and jump analyses are per call and per code', async (t) => {
  const common = createExecCommon(1337n, 'osaka')
  const base = await createStateManager(new MapDB(), common)
  // Two codes of one length whose only JUMPDEST sits at different places: a jump analysis shared
  // between them would accept a jump into push data.
  const jumpsTo3 = hex('6003565b00') // PUSH1 3, JUMP, JUMPDEST, STOP
  const jumpsToStop = hex('600356005b') // PUSH1 3, JUMP, STOP, JUMPDEST
  const a = createAddressFromString('0x2000000000000000000000000000000000000001')
  const b = createAddressFromString('0x2000000000000000000000000000000000000002')
  const loop = createAddressFromString('0x2000000000000000000000000000000000000003')
  // SSTORE(0, CALLDATALOAD(0)) then MSTORE and return TIMESTAMP and the old slot
  const writer = createAddressFromString('0x2000000000000000000000000000000000000004')
  await base.checkpoint()
  await base.putAccount(CALLER, new Account(0n, 10n ** 20n))
  await base.putCode(a, jumpsTo3)
  await base.putCode(b, jumpsToStop)
  await base.putCode(loop, hex(LOOP_RUNTIME))
  await base.putCode(writer, hex('600054' + '600035600055' + '600052' + '4260205260406000f3'))
  await base.commit()
  await base.flush()
  const root = await base.getStateRoot()
  const ctx: ExecutionContext = { number: 5n, timestamp: 1_000n, gasLimit: 30_000_000n, baseFeePerGas: 7n, difficulty: 1n, author: CALLER }
  let checks = 0
  let limit = Infinity
  const runner = new CallRunner({ execCommon: common, base, blockchain: blockHashChain(async () => undefined), fast: true, interrupt: () => {
    if (++checks > limit) throw new Error('interrupted')
  } })
  t.equal((await runner.call({ from: CALLER, to: a }, ctx, root, 0n)).error, undefined, 'a jump to a JUMPDEST')
  t.match((await runner.call({ from: CALLER, to: b }, ctx, root, 0n)).error?.message, /invalid JUMP/, 'the same jump into a STOP, in code of the same length, is refused')
  t.equal((await runner.call({ from: CALLER, to: a }, ctx, root, 0n)).error, undefined, 'and the first code still jumps')

  limit = checks + 50
  await t.rejects(runner.call({ from: CALLER, to: loop, data: hex(word(100_000n)) }, ctx, root, 0n), /interrupted/, 'the interrupt check runs inside a synchronous run of steps')
  limit = Infinity

  const first = await runner.call({ from: CALLER, to: writer, data: hex(word(9n)) }, ctx, root, 0n)
  t.equal(bytesToHex(first.returnValue), `0x${word(0n)}${word(1_000n)}`, 'the slot starts empty; TIMESTAMP is the head\'s')
  const overridden = await runner.call({ from: CALLER, to: writer, data: hex(word(9n)), blockOverrides: { time: 2_000n } }, ctx, root, 0n)
  t.equal(bytesToHex(overridden.returnValue), `0x${word(0n)}${word(2_000n)}`, 'a block override is seen, and the previous call\'s write is not')
  const again = await runner.call({ from: CALLER, to: writer, data: hex(word(9n)) }, ctx, root, 0n)
  t.equal(bytesToHex(again.returnValue), `0x${word(0n)}${word(1_000n)}`, 'the next call without the override sees the head\'s time again')
  const stockRunner = new CallRunner({ execCommon: common, base, blockchain: blockHashChain(async () => undefined) })
  const args = { from: CALLER, to: writer, data: hex(word(9n)) }
  t.equal(await runner.estimateGas(args, ctx, root, 0n), await stockRunner.estimateGas(args, ctx, root, 0n), 'estimates agree with the stock EVM')
})

t.test('the Store contract (MedRec fixtures): estimates and calls agree with the stock EVM', async (t) => {
  const store = (JSON.parse(readFileSync(new URL('../fixtures/contracts/Store.json', import.meta.url), 'utf8')) as { deployedBytecode: Hex }).deployedBytecode
  for (const [what, data] of [['set(42)', `60fe47b1${word(42n)}`], ['set(0)', `60fe47b1${word(0n)}`], ['unknown selector', 'deadbeef']] as const) {
    await same(t, `Store ${what}`, hexToBytes(store), hex(data), 1_000_000n)
  }
})

// fast-loop.ts: the inlined opcodes. Each program runs on the stock EVM and on the fast one (whose
// inner loop inlines these opcodes' ordinary paths), and must agree on everything `same` compares.
const WORDS = [0n, 1n, 2n, 31n, 32n, 255n, 256n, 257n, (1n << 64n) - 1n, 1n << 64n, (1n << 128n) + 3n, (1n << 255n) - 1n, 1n << 255n, (1n << 256n) - 2n, (1n << 256n) - 1n]
/**
 * The inlined loop starts after the jump analysis, which ethereumjs runs at the first JUMP or JUMPI:
 * straight-line code would never reach it. So the programs below start by jumping over nothing.
 */
const JUMP_IN = '6003565b' // PUSH1 3, JUMP, JUMPDEST
const BINARY = { '01': 'ADD', '02': 'MUL', '03': 'SUB', '04': 'DIV', '06': 'MOD', '10': 'LT', '11': 'GT', '14': 'EQ', '16': 'AND', '17': 'OR', '18': 'XOR', '1b': 'SHL', '1c': 'SHR' } as const

t.test('inlined arithmetic, comparison, bitwise and shift opcodes on every pair of edge words', async (t) => {
  for (const [op, name] of Object.entries(BINARY)) {
    // For each pair: b, a, OP (a on top); the result's top bit(s) (r >> 255: a result of 2^256 or
    // more would show as 2) and the result, each stored at the next word; then return them all.
    let code = JUMP_IN
    let at = 0n
    for (const a of WORDS) {
      for (const b of WORDS) {
        code += `${push(b)}${push(a)}${op}8060ff1c${push(at)}52${push(at + 32n)}52`
        at += 64n
      }
    }
    code += `${push(at)}6000f3`
    await same(t, `${name} on ${WORDS.length ** 2} pairs`, hex(code), new Uint8Array(), 30_000_000n)
  }
  let unary = JUMP_IN
  WORDS.forEach((a, i) => (unary += `${push(a)}15${push(BigInt(i * 64))}52${push(a)}19${push(BigInt(i * 64 + 32))}52`))
  await same(t, 'ISZERO and NOT', hex(`${unary}${push(BigInt(WORDS.length * 64))}6000f3`), new Uint8Array(), 1_000_000n)
})

t.test('inlined stack opcodes: every DUP and SWAP at a depth of 16 and of fewer items, PUSH0, POP, overflow at 1024', async (t) => {
  const sixteen = Array.from({ length: 16 }, (_, i) => push(BigInt(i + 1) * 0x1111n)).join('')
  for (let n = 1; n <= 16; n++) {
    const dup = (0x7f + n).toString(16)
    const swap = (0x8f + n).toString(16)
    // After the op, store the top two words and return them.
    const tail = '600052602052604060' + '00f3'
    await same(t, `DUP${n} over 16 items`, hex(`${JUMP_IN}${sixteen}${dup}${tail}`), new Uint8Array(), 100_000n)
    await same(t, `SWAP${n} over 17 items`, hex(`${JUMP_IN}${sixteen}5f${swap}${tail}`), new Uint8Array(), 100_000n)
    await same(t, `DUP${n} over ${n - 1} items (underflow)`, hex(`${JUMP_IN}${sixteen.slice(0, (n - 1) * 6)}${dup}00`), new Uint8Array(), 100_000n)
    await same(t, `SWAP${n} over ${n} items (underflow)`, hex(`${JUMP_IN}${sixteen.slice(0, n * 6)}${swap}00`), new Uint8Array(), 100_000n)
  }
  await same(t, 'POP on an empty stack', hex(`${JUMP_IN}50`), new Uint8Array(), 100_000n)
  await same(t, 'PUSH0, PUSH0, ADD, POP', hex(`${JUMP_IN}5f5f015000`), new Uint8Array(), 100_000n)
  // A loop that pushes until the stack overflows: JUMPDEST, PUSH0, PUSH1 0, JUMP; and the same with DUP1.
  await same(t, 'PUSH0 until the stack overflows', hex('5b5f600056'), new Uint8Array(), 1_000_000n)
  await same(t, 'DUP1 until the stack overflows', hex('5f5b80600156'), new Uint8Array(), 1_000_000n)
  await same(t, 'PUSH32 until the stack overflows', hex(`5b7f${'ab'.repeat(32)}600056`), new Uint8Array(), 1_000_000n)
})

t.test('inlined jumps: taken and not, into push data, past the end, at huge destinations', async (t) => {
  for (const dest of [0n, 3n, 4n, 5n, 6n, 7n, 8n, 9n, 100n, 1n << 32n, (1n << 256n) - 1n]) {
    for (const cond of [0n, 1n, (1n << 256n) - 1n]) {
      // PUSH1 1, JUMPI(dest, cond) ... ; bytes 3..: JUMPDEST, PUSH1 0x5b (a JUMPDEST byte in push data), JUMPDEST, STOP
      await same(t, `JUMPI to ${dest} if ${cond}`, hex(`${push(cond)}${push(dest)}575b605b5b00`), new Uint8Array(), 100_000n)
    }
    await same(t, `JUMP to ${dest}`, hex(`${push(dest)}565b605b5b00`), new Uint8Array(), 100_000n)
  }
  await same(t, 'JUMP and JUMPI on an empty or one-item stack', hex('56'), new Uint8Array(), 100_000n)
  await same(t, 'JUMPI on one item', hex('600157'), new Uint8Array(), 100_000n)
})

t.test('inlined memory opcodes: within memory already paid for, at its edge, and growing it', async (t) => {
  // MSTORE at 0x40 pays for three words; then MSTORE/MLOAD/KECCAK256 inside, at the edge and past it.
  const grow = `${JUMP_IN}${push(7n)}${push(0x40n)}52`
  for (const off of [0n, 1n, 32n, 33n, 64n, 65n, 95n, 96n]) {
    await same(t, `MSTORE at ${off} after paying for 96 bytes`, hex(`${grow}${push(0xabcdefn << 100n)}${push(off)}52596000f3`), new Uint8Array(), 100_000n)
    await same(t, `MLOAD at ${off} after paying for 96 bytes`, hex(`${grow}${push(off)}51600052596000f3`), new Uint8Array(), 100_000n)
    for (const len of [1n, 31n, 32n, 64n, 96n - off, 97n - off]) {
      await same(t, `KECCAK256(${off}, ${len}) after paying for 96 bytes`, hex(`${grow}${push(len)}${push(off)}20600052596000f3`), new Uint8Array(), 100_000n)
    }
  }
})

t.test('inlined opcodes out of gas at every gas limit of a program using each of them', async (t) => {
  // Every inlined opcode at least once, memory paid for first, a taken JUMPI (over an INVALID)
  // and an untaken one, then STOP.
  const head = JUMP_IN + '60ff600052' + '6001600201' + '6003600402' + '600503' + '600604' + '600706' + '600110' + '600111' + '600114' + '15' + '60ff16' + '600f17' + '600f18' + '19' + '60011b' + '60021c' + '5f50' + '8090' + '600051' + '6020600020' + '6001'
  const at = (n: number) => `60${(head.length / 2 + n).toString(16).padStart(2, '0')}`
  // +0 PUSH1 +4, +2 JUMPI, +3 INVALID, +4 JUMPDEST, +5 PUSH0, +6 PUSH1 0, +8 JUMPI (not taken),
  // +9 PUSH1 +13, +11 JUMP, +12 INVALID, +13 JUMPDEST, +14 STOP
  const code = hex(`${head}${at(4)}57fe5b5f600057${at(13)}56fe5b00`)
  const full = await run(false, code, new Uint8Array(), 100_000n)
  t.equal(full.error, undefined, 'the program runs to its STOP')
  const stock: Run[] = []
  const fast: Run[] = []
  for (let g = 0n; g <= full.gas + 1n; g++) {
    stock.push(await run(false, code, new Uint8Array(), g))
    fast.push(await run(true, code, new Uint8Array(), g))
  }
  t.same(fast, stock, `all ${stock.length} gas limits agree`)
})

t.test('a gas limit above 2^53 (the inlined loop keeps gas as a number, so it stands aside) gives the same results', async (t) => {
  await same(t, 'loop of 20 with 2^60 gas', hex(LOOP_RUNTIME), hex(word(20n)), 1n << 60n)
})
