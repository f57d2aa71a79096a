import t from 'tap'
import { createAddressFromString } from '@ethereumjs/util'
import { toFunctionSelector, type Hex } from 'viem'
import { powDifficulty } from '../../bench/harness/cluster.ts'
import { readProcCpuMs, readProcRssMb } from '../../bench/harness/collect.ts'
import { defaultSenders, DONOTHING_INITCODE, findWorkload, NOTHING_SELECTOR, WORKLOAD_CATALOG, WORKLOAD_NAMES, WORKLOADS } from '../../bench/harness/workloads/index.ts'
import { actor, createContractVM } from '../helpers/contract-vm.ts'

t.test('DoNothing: nothing() succeeds within the workload gas, anything else reverts', async (t) => {
  t.equal(NOTHING_SELECTOR, toFunctionSelector('function nothing()'), 'the selector solc would use')
  const alice = actor('bench-alice')
  const vm = await createContractVM([], [alice])
  const address = await vm.deploy(alice, DONOTHING_INITCODE as Hex)
  const code = await vm.vm.stateManager.getCode(createAddressFromString(address))
  t.equal(code.length, 21, 'the 21-byte runtime is deployed')
  const ok = await vm.send(alice, address, NOTHING_SELECTOR as Hex)
  t.equal(ok.ok, true, 'nothing() succeeds')
  t.equal(ok.returnData, '0x', 'and returns nothing')
  t.same(ok.logs, [])
  // The workload signs each call with a 30,000 gas limit.
  t.ok(ok.gasUsed > 21_000n && ok.gasUsed < 30_000n, `a call costs ${ok.gasUsed} gas`)
  for (const data of ['0x', '0x12345678', `${NOTHING_SELECTOR.slice(0, 8)}00`] as Hex[]) {
    const r = await vm.send(alice, address, data)
    t.equal(r.ok, false, `calldata ${data} reverts`)
    t.equal(r.error, 'revert')
  }
})

t.test('workload names, senders, PoW difficulty', async (t) => {
  t.equal(findWorkload('transfer')?.name, 'transfer')
  t.equal(findWorkload('donothing')?.name, 'donothing')
  t.equal(findWorkload('nosuch'), undefined)
  t.equal(new Set(WORKLOAD_NAMES).size, WORKLOAD_NAMES.length, 'names are unique')
  t.same(WORKLOADS.map((w) => [w.name, w.description, w.nodeArgs !== undefined]), WORKLOAD_CATALOG.map((w) => [w.name, w.description, w.ownNodes]), 'the catalog (what the CLI reads) lists every workload as it is')
  t.equal(defaultSenders(50, 4), 16, 'at least 16')
  t.equal(defaultSenders(10, 3), 18, 'a multiple of the node count')
  t.equal(defaultSenders(1000, 4), 100, 'about 10/s per sender')
  t.equal(defaultSenders(100_000, 16), 256, 'at most 256')
  t.equal(defaultSenders(5, 16), 16)
  // Miners share the cores: at most one hashing thread per core.
  t.equal(powDifficulty(4, 2, 2), 400_000n)
  t.equal(powDifficulty(1, 2, 8), 200_000n)
  t.equal(powDifficulty(3, 1, 4), 300_000n)
})

t.test('/proc readings', async (t) => {
  // utime is field 14 and stime field 15; the name may hold spaces and parentheses.
  const stat = '4242 (node (x) y) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 11 0 123 456 789'
  t.equal(readProcCpuMs(4242, () => stat), 3000, '(250 + 50) ticks of 10 ms')
  t.equal(readProcRssMb(4242, () => 'Name:\tnode\nVmPeak:\t 999 kB\nVmRSS:\t  204800 kB\n'), 200)
  const missing = () => {
    throw new Error('ENOENT')
  }
  t.equal(readProcCpuMs(1, missing), undefined, 'unreadable: undefined')
  t.equal(readProcRssMb(1, missing), undefined)
  t.equal(readProcRssMb(1, () => 'Name:\tx\n'), undefined, 'no VmRSS line (a kernel thread)')
  if (process.platform === 'linux') {
    const cpu = readProcCpuMs(process.pid)
    t.ok(cpu !== undefined && cpu >= 0, `this process: ${cpu} ms of CPU`)
    const rss = readProcRssMb(process.pid)!
    t.ok(Math.abs(rss - process.memoryUsage.rss() / 2 ** 20) < 50, `this process: ${rss.toFixed(0)} MB resident`)
  }
})
