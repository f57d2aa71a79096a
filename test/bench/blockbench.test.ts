import t, { type Test } from 'tap'
import { encodePacked, keccak256, encodeAbiParameters, type Hex } from 'viem'
import { cpuHeavyAbi } from '../../contracts/generated/bench/cpu-heavy.ts'
import { ioHeavyAbi } from '../../contracts/generated/bench/io-heavy.ts'
import { kvStoreAbi } from '../../contracts/generated/bench/kv-store.ts'
import { smallBankAbi } from '../../contracts/generated/bench/small-bank.ts'
import { decodeLog, decodeResult, encodeCall } from '../../contracts/index.ts'
import {
  CPU_SORT_SIZE,
  cpuheavyPlan,
  cpuheavySeed,
  cpuheavySetup,
  createZipf,
  findWorkload,
  IO_SLOTS,
  ioheavyCall,
  ioheavyPlan,
  ioheavySetup,
  kvKey,
  kvLoadValue,
  kvstoreCalls,
  kvstorePlan,
  kvstoreSetup,
  seededRandom,
  smallbankCall,
  smallbankOpening,
  smallbankPlan,
  smallbankSetup,
  type ContractSetup,
  type WorkloadPlan,
} from '../../bench/harness/workloads/index.ts'
import { actor, createContractVM, type Actor, type ContractVM, type Outcome } from '../helpers/contract-vm.ts'

const hex = (b: Uint8Array | undefined): Hex => `0x${Buffer.from(b ?? new Uint8Array()).toString('hex')}`
const SENDERS = Array.from({ length: 8 }, (_, i) => actor(`blockbench-sender-${i}`))
const FUNDER = actor('blockbench-funder')

/** Runs a set-up's list as the network would (deploy, then every loading transaction from the funder). */
async function runSetup(t: Test, setup: ContractSetup): Promise<{ vm: ContractVM; contract: Hex }> {
  const vm = await createContractVM([], [FUNDER, ...SENDERS])
  const contract = await vm.deploy(FUNDER, setup.initcode as Hex)
  const txs = setup.txs(Buffer.from(contract.slice(2), 'hex'))
  let bad = 0
  let maxGas = 0n
  for (const tx of txs) {
    const r = await vm.send(FUNDER, hex(tx.fields.to), hex(tx.fields.data))
    if (!r.ok || r.gasUsed > tx.fields.gasLimit) bad++
    if (r.gasUsed > maxGas) maxGas = r.gasUsed
  }
  t.equal(bad, 0, `all ${txs.length} set-up transactions succeed within their gas limit (max ${maxGas} gas)`)
  return { vm, contract }
}

interface Executed { sender: number; seq: number; out: Outcome }

/** The plan's transactions in the order the harness signs them (by seq, then sender), each checked against its gas limit. */
async function runPlan(t: Test, vm: ContractVM, plan: WorkloadPlan, perSender: number, senders: Actor[] = SENDERS): Promise<Executed[]> {
  const done: Executed[] = []
  const failed: string[] = []
  for (let seq = 0; seq < perSender; seq++) {
    for (let sender = 0; sender < senders.length; sender++) {
      const tx = plan.tx(sender, seq)
      if (hex(tx.to) !== plan.contract) failed.push(`(${sender}, ${seq}): sent to ${hex(tx.to)}, not the contract`)
      const out = await vm.send(senders[sender]!, hex(tx.to), hex(tx.data), tx.value ?? 0n)
      if (!out.ok || out.gasUsed > tx.gasLimit) failed.push(`(${sender}, ${seq}): ${out.error ?? `${out.gasUsed} > ${tx.gasLimit} gas`}`)
      done.push({ sender, seq, out })
    }
  }
  t.same(failed, [], `all ${done.length} calls succeed within their gas limits`)
  return done
}

const gasRange = (xs: Executed[]): string => {
  const g = xs.map((x) => x.out.gasUsed).sort((a, b) => (a < b ? -1 : 1))
  return `${g[0]}–${g[g.length - 1]} gas`
}

t.test('the four workloads are registered', async (t) => {
  for (const name of ['cpuheavy', 'ioheavy', 'kvstore', 'smallbank']) t.equal(findWorkload(name)?.name, name)
})

t.test('the PRNG and the Zipfian sampler: deterministic, and skewed as YCSB expects', async (t) => {
  const a = seededRandom(7, 3, 11)
  const b = seededRandom(7, 3, 11)
  const xs = Array.from({ length: 100 }, () => a())
  t.same(Array.from({ length: 100 }, () => b()), xs, 'the same parts give the same stream')
  t.not(seededRandom(7, 3, 12)(), xs[0], 'another seq gives another stream')
  t.not(seededRandom(7, 4, 11)(), xs[0], 'another sender gives another stream')
  t.not(seededRandom(7, 3 + 2 ** 32, 11)(), xs[0], 'the high bits of a part count')
  const u = seededRandom(1)
  let sum = 0
  for (let i = 0; i < 100_000; i++) sum += u()
  t.ok(Math.abs(sum / 100_000 - 0.5) < 0.01, `uniform mean ${(sum / 100_000).toFixed(4)}`)

  const zipf = createZipf(1000)
  const counts = new Array<number>(1000).fill(0)
  const r = seededRandom(2)
  const N = 200_000
  for (let i = 0; i < N; i++) counts[zipf.sample(r())]!++
  t.equal(counts.reduce((x, y) => x + y, 0), N, 'every sample is a key in [0, n)')
  const sorted = [...counts].sort((x, y) => y - x)
  const top10 = sorted.slice(0, 100).reduce((x, y) => x + y, 0) / N
  t.ok(top10 > 0.6, `the top 10 % of keys get ${(top10 * 100).toFixed(1)} % of accesses`)
  t.ok(Math.abs(counts[0]! / N - 0.134) < 0.01, `key 0 gets ${((counts[0]! / N) * 100).toFixed(1)} % (1/zeta(1000, 0.99) = 13.4 %)`)
  t.ok(counts[0]! > counts[1]! && counts[1]! > counts[9]! && counts[9]! > counts[99]!, 'popularity falls with rank')
  const uniformTop = createZipf(1000, 0.01)
  const c2 = new Array<number>(1000).fill(0)
  for (let i = 0; i < N; i++) c2[uniformTop.sample(r())]!++
  t.ok(c2.sort((x, y) => y - x).slice(0, 100).reduce((x, y) => x + y, 0) / N < 0.2, 'near theta 0 the skew goes (the check can fail)')

  const p1 = kvstorePlan('0x00000000000000000000000000000000000000aa')
  const p2 = kvstorePlan('0x00000000000000000000000000000000000000aa')
  t.same(p1.tx(5, 17), p2.tx(5, 17), 'tx(sender, seq) is a pure function')
  t.same(p1.tx(5, 17), p1.tx(5, 17))
  t.notSame(p1.tx(5, 17).data, p1.tx(5, 18).data)
  t.same(smallbankCall(2, 9), smallbankCall(2, 9))
  t.equal(cpuheavySeed(1, 2), cpuheavySeed(1, 2))
  t.not(cpuheavySeed(1, 2), cpuheavySeed(2, 1))
})

t.test('CPUHeavy: every call sorts its pseudo-random array', async (t) => {
  const { vm, contract } = await runSetup(t, cpuheavySetup)
  const inputs = (seed: bigint, size: number) =>
    Array.from({ length: size }, (_, i) => BigInt(keccak256(encodePacked(['uint256', 'uint256'], [seed, BigInt(i)])))).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
  const check = (done: Executed[], size: number) => {
    let wrong = 0
    for (const { sender, seq, out } of done) {
      const ev = decodeLog(cpuHeavyAbi, out.logs[0]!.topics, out.logs[0]!.data)
      const want = inputs(cpuheavySeed(sender, seq), size)
      if (ev.eventName !== 'Sorted' || ev.args.seed !== cpuheavySeed(sender, seq) || ev.args.n !== BigInt(size)) wrong++
      else if (ev.args.first !== want[0] || ev.args.middle !== want[size >> 1] || ev.args.last !== want[size - 1]) wrong++
    }
    return wrong
  }
  // The workload's size, a call from each of two senders (the costly part: ~10x a small sort's time
  // here), then small sorts from all eight, three each (most of a small one's time is the
  // transaction's own overhead; ten each took most of this test's time and reach no other path).
  const full = await runPlan(t, vm, cpuheavyPlan(contract), 1, SENDERS.slice(0, 2))
  t.equal(check(full, CPU_SORT_SIZE), 0, "every Sorted event names the call's seed and the smallest, middle and largest input")
  const mean = full.reduce((s, x) => s + x.out.gasUsed, 0n) / BigInt(full.length)
  t.ok(mean > 300_000n && mean < 600_000n, `a call sorting ${CPU_SORT_SIZE} words costs ${gasRange(full)}, mean ${mean}`)
  const small = await runPlan(t, vm, cpuheavyPlan(contract, 17), 3)
  t.equal(check(small, 17), 0, 'and so does every call sorting 17 words')
  for (const seed of [cpuheavySeed(0, 0), cpuheavySeed(7, 1)]) {
    const got = decodeResult(cpuHeavyAbi, 'sorted', (await vm.call(FUNDER.address, contract, encodeCall(cpuHeavyAbi, 'sorted', [BigInt(CPU_SORT_SIZE), seed]))).returnData)
    t.same(got, inputs(seed, CPU_SORT_SIZE), 'the whole array comes back in order, with exactly the inputs')
  }
  const edge = await vm.send(FUNDER, contract, encodeCall(cpuHeavyAbi, 'sort', [1n, 5n]))
  t.ok(edge.ok && (await vm.send(FUNDER, contract, encodeCall(cpuHeavyAbi, 'sort', [0n, 5n]))).ok, 'n = 0 and n = 1 do not underflow')
})

t.test('IOHeavy: scans read back what the writes stored', async (t) => {
  const { vm, contract } = await runSetup(t, ioheavySetup)
  const valueOf = (k: bigint) => BigInt(keccak256(encodeAbiParameters([{ type: 'uint256' }], [k])))
  const check = (done: Executed[], slots: number) => {
    let wrong = 0
    for (const { sender, seq, out } of done) {
      const call = ioheavyCall(sender, seq, slots)
      const ev = decodeLog(ioHeavyAbi, out.logs[0]!.topics, out.logs[0]!.data)
      if (call.op === 'write') {
        if (ev.eventName !== 'Written' || ev.args.start !== call.start || ev.args.n !== BigInt(slots)) wrong++
        continue
      }
      let xor = 0n
      for (let k = call.start; k < call.start + call.n; k++) xor ^= valueOf(k)
      if (ev.eventName !== 'Scanned' || ev.args.start !== call.start || ev.args.found !== BigInt(slots) || ev.args.xorOfValues !== xor) wrong++
    }
    return wrong
  }
  const full = await runPlan(t, vm, ioheavyPlan(contract), 4)
  t.equal(check(full, IO_SLOTS), 0, `every write names its range; every scan finds all ${IO_SLOTS} values it expects`)
  const writes = full.filter((x) => x.seq % 2 === 0)
  const scans = full.filter((x) => x.seq % 2 === 1)
  t.ok(writes.every((x) => x.out.gasUsed > 300_000n && x.out.gasUsed < 600_000n), `a write costs ${gasRange(writes)}; a scan ${gasRange(scans)}`)
  // Then many calls over 3 slots, on a second contract (a sender's ranges start again at its first key).
  const { vm: vm2, contract: contract2 } = await runSetup(t, ioheavySetup)
  const small = await runPlan(t, vm2, ioheavyPlan(contract2, 3), 24)
  t.equal(check(small, 3), 0, 'and so do 3-slot calls')
  const last = ioheavyCall(3, 2)
  t.equal(decodeResult(ioHeavyAbi, 'get', (await vm.call(FUNDER.address, contract, encodeCall(ioHeavyAbi, 'get', [last.start + 5n]))).returnData), valueOf(last.start + 5n), 'a stored value read directly')
  t.not(ioheavyCall(3, 0).start, ioheavyCall(3, 2).start, 'each write takes a fresh range')
  t.not(ioheavyCall(3, 0).start, ioheavyCall(4, 0).start, 'senders do not share ranges')
  const unwritten = await vm.send(FUNDER, contract, encodeCall(ioHeavyAbi, 'scan', [ioheavyCall(3, 4).start, 20n]))
  const ev = decodeLog(ioHeavyAbi, unwritten.logs[0]!.topics, unwritten.logs[0]!.data)
  t.equal(ev.eventName === 'Scanned' ? ev.args.found : -1n, 0n, 'a scan of a range not yet written finds nothing (the check can fail)')
})

t.test('KVStore (YCSB A): a read returns the last value written to its key', async (t) => {
  // 200 records rather than the workload's 1,000 (loading costs ~0.3 s per batch of 25 here).
  const records = 200
  const { vm, contract } = await runSetup(t, kvstoreSetup(records))
  const model = new Map<number, Hex>(Array.from({ length: records }, (_, i) => [i, kvLoadValue(i)]))
  const get = async (record: number) => decodeResult(kvStoreAbi, 'get', (await vm.call(FUNDER.address, contract, encodeCall(kvStoreAbi, 'get', [kvKey(record)]))).returnData)
  t.equal(await get(records - 1), kvLoadValue(records - 1), 'the last record is loaded')
  t.equal(await get(records), '0x', 'and no more')
  const done = await runPlan(t, vm, kvstorePlan(contract, records), 25)
  const call = kvstoreCalls(records)
  const updated = new Set<number>()
  let reads = 0
  let readsAfterUpdate = 0
  let wrong = 0
  for (const { sender, seq, out } of done) {
    const c = call(sender, seq)
    if (c.op === 'update') {
      model.set(c.record, c.value)
      updated.add(c.record)
      continue
    }
    reads++
    if (updated.has(c.record)) readsAfterUpdate++
    if (decodeResult(kvStoreAbi, 'get', out.returnData) !== model.get(c.record)) wrong++
  }
  t.equal(wrong, 0, `all ${reads} reads return the key's latest value`)
  t.ok(reads > done.length * 0.4 && reads < done.length * 0.6, `about half of ${done.length} calls are reads (${reads})`)
  t.ok(readsAfterUpdate > 30, `${readsAfterUpdate} reads hit a key updated during the run (Zipf's hot keys)`)
  for (const record of [0, 1, 2, 100, records - 1]) t.equal(await get(record), model.get(record), `record ${record} holds its last value`)
  t.ok(done.every((x) => x.out.gasUsed < 100_000n), `a call costs ${gasRange(done)}`)
})

interface Account { savings: bigint; checking: bigint }

/** Smallbank's rules, written again here: the contract must agree with this model call by call. */
async function smallbankRun(t: Test, accounts: number, perSender: number) {
  const { vm, contract } = await runSetup(t, smallbankSetup(accounts))
  const model: Account[] = Array.from({ length: accounts }, (_, i) => smallbankOpening(i))
  const total = () => model.reduce((s, a) => s + a.savings + a.checking, 0n)
  const initial = total()
  const f = { deposits: 0n, savingsIn: 0n, savingsOut: 0n, checks: 0n, penalties: 0n, declined: 0, balanceWrong: 0, declinedEvents: 0 }
  const done = await runPlan(t, vm, smallbankPlan(contract, accounts), perSender)
  for (const { sender, seq, out } of done) {
    const c = smallbankCall(sender, seq, accounts)
    let declined = false
    switch (c.op) {
      case 'amalgamate': {
        const from = model[c.from]!
        const moved = from.savings + from.checking
        from.savings = 0n
        from.checking = 0n
        model[c.to]!.checking += moved
        break
      }
      case 'balance':
        if (decodeResult(smallBankAbi, 'balance', out.returnData) !== model[c.account]!.savings + model[c.account]!.checking) f.balanceWrong++
        break
      case 'depositChecking':
        model[c.account]!.checking += c.amount
        f.deposits += c.amount
        break
      case 'sendPayment':
        if (model[c.from]!.checking < c.amount) declined = true
        else {
          model[c.from]!.checking -= c.amount
          model[c.to]!.checking += c.amount
        }
        break
      case 'transactSavings':
        if (model[c.account]!.savings + c.amount < 0n) declined = true
        else {
          model[c.account]!.savings += c.amount
          if (c.amount > 0n) f.savingsIn += c.amount
          else f.savingsOut -= c.amount
        }
        break
      case 'writeCheck': {
        const a = model[c.account]!
        f.checks += c.amount
        if (a.savings + a.checking < c.amount) {
          a.checking -= c.amount + 1n
          f.penalties += 1n
        } else a.checking -= c.amount
        break
      }
    }
    if (declined) f.declined++
    if (out.logs.length > 0 && decodeLog(smallBankAbi, out.logs[0]!.topics, out.logs[0]!.data).eventName === 'Declined') f.declinedEvents++
  }
  t.equal(f.balanceWrong, 0, 'every Balance call returns the model balance')
  t.equal(f.declinedEvents, f.declined, `${f.declined} declined calls, each with a Declined event`)
  let onChain = 0n
  let differ = 0
  for (let i = 0; i < accounts; i++) {
    const [savings, checking] = decodeResult(smallBankAbi, 'accountOf', (await vm.call(FUNDER.address, contract, encodeCall(smallBankAbi, 'accountOf', [BigInt(i)]))).returnData)
    onChain += savings + checking
    if (savings !== model[i]!.savings || checking !== model[i]!.checking) differ++
  }
  t.equal(differ, 0, `all ${accounts} accounts match the model`)
  t.equal(onChain, total())
  t.equal(onChain, initial + f.deposits + f.savingsIn - f.savingsOut - f.checks - f.penalties, 'money is conserved but for deposits, savings transactions, checks and penalties')
  t.ok(done.every((x) => x.out.gasUsed < 80_000n), `a call costs ${gasRange(done)}`)
  return { ...f, negative: model.filter((a) => a.checking < 0n).length }
}

t.test('Smallbank: 100 accounts, the standard mix, money conserved', async (t) => {
  // 100 accounts rather than the workload's 1,000: one full opening batch, and few views to check.
  const f = await smallbankRun(t, 100, 25)
  t.ok(f.deposits > 0n && f.checks > 0n, 'deposits and checks happened')
})

t.test('Smallbank on 6 accounts: overdrafts are penalised and impossible moves declined, never reverted', async (t) => {
  const f = await smallbankRun(t, 6, 25)
  t.ok(f.penalties > 0n, `${f.penalties} overdraft penalties`)
  t.ok(f.declined > 0, `${f.declined} declined payments or withdrawals`)
  t.ok(f.negative >= 0)
})
