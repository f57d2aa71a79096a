/**
 * A node under an eth_call flood (issue 17, item 2): a dev authority while clients send max-gas
 * endless-loop eth_calls back to back (the 1e9-gas call: --rpc.gascap 1e9). Meanwhile a
 * prober sends eth_blockNumber and a view eth_call every 50 ms and times them, and the blocks
 * sealed are counted against the period. Printed: p50/p99 of both (idle first, then under the
 * flood), blocks sealed vs expected, and how long each loop call took to be answered with the
 * timeout. `old: true` runs the same with --rpc.callworkers 0 (calls on the main thread, as
 * before): there the timeout cannot fire, and probes still unanswered at the end count with the
 * time they have waited.
 */
import { Wallet } from 'ethers'
import { percentile, type Row } from './report.ts'
import { startNodeProcess, tempDir } from '../harness/process.ts'
import { rpc, rpcRaw, waitFor } from '../harness/rpc.ts'

const KEY0 = '0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80'
/** JUMPDEST PUSH1 0 JUMP: loops until its gas runs out. */
const LOOP = '5b600056'
/** Returns CALLER.balance: a view call that reads state. */
const CALLER_BALANCE = '333160005260206000f3'
const GAS_CAP = 1_000_000_000n

export interface CallFloodOptions {
  seconds: number
  /** Concurrent flooding clients. */
  attackers: number
  period: number
  timeout: string
  /** Calls on the main thread (--rpc.callworkers 0), the behaviour before the call workers. */
  old: boolean
}

interface Probe {
  blockNumber: number[]
  view: number[]
}

const fmt = (ms: number) => (Number.isFinite(ms) ? `${ms.toFixed(ms < 10 ? 2 : 0)} ms` : 'n/a')

export async function runCallFlood(o: CallFloodOptions): Promise<Row[]> {
  const dir = tempDir('medrec-bench-calls-')
  const args = ['--dev', '--dev.period', String(o.period), '--rpc.gascap', GAS_CAP.toString(), '--rpc.evmtimeout', o.timeout, '--log.level', 'warn']
  if (o.old) args.push('--rpc.callworkers', '0')
  const node = await startNodeProcess({ args, datadir: dir.path, timeoutMs: 60_000 })
  try {
    const wallet = new Wallet(KEY0)
    let nonce = 0
    const deploy = async (runtime: string): Promise<string> => {
      const init = `0x60${(runtime.length / 2).toString(16).padStart(2, '0')}80600b6000396000f3${runtime}`
      const raw = await wallet.signTransaction({ to: null, data: init, nonce: nonce++, gasLimit: 200_000n, maxFeePerGas: 10n ** 10n, maxPriorityFeePerGas: 1n, chainId: 1337n, type: 2 })
      const hash = await rpc<string>(node.url, 'eth_sendRawTransaction', [raw])
      return (await waitFor(() => rpc<{ contractAddress: string } | null>(node.url, 'eth_getTransactionReceipt', [hash]), 'receipt', 30_000)).contractAddress
    }
    const loop = await deploy(LOOP)
    const view = await deploy(CALLER_BALANCE)
    const viewCall = () => rpc(node.url, 'eth_call', [{ to: view, from: wallet.address }, 'latest'])
    for (let i = 0; i < 20; i++) await viewCall() // warm: worker start-up and VM caches

    /** Probes every 50 ms until `endAt`; a probe still out when the phase ends counts with its wait so far. */
    const probe = async (endAt: number): Promise<Probe> => {
      const out: Probe = { blockNumber: [], view: [] }
      const timed = async (into: number[], fn: () => Promise<unknown>) => {
        const t0 = performance.now()
        const done = fn().then(() => true, () => false)
        const late = new Promise<false>((r) => setTimeout(() => r(false), Math.max(0, endAt - t0)))
        await Promise.race([done, late])
        into.push(performance.now() - t0)
      }
      // Two independent probers: a slow answer to one does not hold back the other's samples.
      const every = async (into: number[], fn: () => Promise<unknown>) => {
        while (performance.now() < endAt) {
          await timed(into, fn)
          await new Promise((r) => setTimeout(r, 50))
        }
      }
      await Promise.all([every(out.blockNumber, () => rpc(node.url, 'eth_blockNumber')), every(out.view, viewCall)])
      return out
    }

    const idle = await probe(performance.now() + 5000)

    // The flood: each attacker sends the next loop call as soon as the last one is answered.
    const startBlock = BigInt(await rpc<string>(node.url, 'eth_blockNumber'))
    const windowStart = Date.now() / 1000
    const t0 = performance.now()
    const endAt = t0 + o.seconds * 1000
    const answered: number[] = []
    const answers = new Map<string, number>()
    let stop = false
    const attackers = Array.from({ length: o.attackers }, async () => {
      while (!stop && performance.now() < endAt) {
        const s = performance.now()
        const r = await rpcRaw(node.url, 'eth_call', [{ to: loop, gas: `0x${GAS_CAP.toString(16)}` }, 'latest']).catch(() => undefined)
        if (r === undefined) return
        answered.push(performance.now() - s)
        const key = r.error === undefined ? 'result' : `${r.error.code} ${r.error.message}`
        answers.set(key, (answers.get(key) ?? 0) + 1)
      }
    })
    const loaded = await probe(endAt)
    const seconds = (performance.now() - t0) / 1000
    const windowEnd = windowStart + seconds
    stop = true
    // Answered during the run, for the table; the old behaviour's last call may run for a minute more.
    const answeredInRun = [...answered]
    await Promise.all(attackers)
    // The chain's own record: blocks whose timestamp falls inside the flood (a block sealed late,
    // after a stall, carries the time it was sealed).
    let sealed = 0
    const head = BigInt(await rpc<string>(node.url, 'eth_blockNumber'))
    for (let n = startBlock + 1n; n <= head; n++) {
      const b = await rpc<{ timestamp: string }>(node.url, 'eth_getBlockByNumber', [`0x${n.toString(16)}`, false])
      const ts = Number(BigInt(b.timestamp))
      if (ts > windowStart && ts <= windowEnd) sealed++
    }

    // The timeout firing on its own: one loop call with nothing else running.
    const lone: number[] = []
    if (!o.old) {
      for (let i = 0; i < 3; i++) {
        const s = performance.now()
        await rpcRaw(node.url, 'eth_call', [{ to: loop, gas: `0x${GAS_CAP.toString(16)}` }, 'latest'])
        lone.push(performance.now() - s)
      }
    }

    const label = o.old ? 'main thread (old)' : 'call workers'
    const rows: Row[] = [
      { metric: `[${label}] idle: eth_blockNumber p50 / p99`, value: `${fmt(percentile(idle.blockNumber, 50))} / ${fmt(percentile(idle.blockNumber, 99))} (${idle.blockNumber.length} probes)` },
      { metric: `[${label}] idle: view eth_call p50 / p99`, value: `${fmt(percentile(idle.view, 50))} / ${fmt(percentile(idle.view, 99))}` },
      { metric: `[${label}] flood: eth_blockNumber p50 / p99`, value: `${fmt(percentile(loaded.blockNumber, 50))} / ${fmt(percentile(loaded.blockNumber, 99))} (${loaded.blockNumber.length} probes)` },
      { metric: `[${label}] flood: view eth_call p50 / p99`, value: `${fmt(percentile(loaded.view, 50))} / ${fmt(percentile(loaded.view, 99))}` },
      {
        metric: `[${label}] blocks sealed during the flood`,
        value: `${sealed} (expected ${Math.floor(seconds / o.period)} in ${seconds.toFixed(1)} s at ${o.period} s blocks)`,
      },
      { metric: `[${label}] loop calls answered during the run`, value: `${answeredInRun.length} (${o.attackers} clients back to back)` },
      { metric: `[${label}] loop call → answer p50 / max`, value: answered.length === 0 ? 'none answered' : `${fmt(percentile(answered, 50))} / ${fmt(Math.max(...answered))}` },
      ...[...answers].map(([k, n]) => ({ metric: `[${label}] answer`, value: `${n} × ${k}` })),
      ...(lone.length === 0 ? [] : [{ metric: `[${label}] lone loop call → timeout answer`, value: lone.map((ms) => fmt(ms)).join(', ') }]),
    ]
    return rows
  } finally {
    // A main-thread loop would run for a minute more: kill rather than wait.
    await node.kill()
    dir.remove()
  }
}
