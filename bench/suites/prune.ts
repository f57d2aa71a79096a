/**
 * `npm run bench -- prune`: the chain database after many blocks that rewrite the same storage,
 * --gcmode full (the default window of 128 blocks) against --gcmode archive, in one process. Every
 * block carries one call of a contract that rewrites 64 slots, so the live state stays the same
 * size while an archive keeps every block's version of it. The full chain seals; the archive one
 * imports the same blocks. Sizes are LevelDB's own files after a compaction of each database.
 */
import { execFileSync } from 'node:child_process'
import { loadavg } from 'node:os'
import { join } from 'node:path'
import { createFeeMarket1559Tx } from '@ethereumjs/tx'
import { Address, createContractAddress, hexToBytes } from '@ethereumjs/util'
import { setLogLevel } from '../../common/logger.ts'
import type { SenderTx, TxSource } from '../../evm/index.ts'
import { Chain, type PruneCycle } from '../../node/chain/index.ts'
import { DEFAULT_STATE_RECENT } from '../../node/config/index.ts'
import { devAccounts, newGenesis } from '../../node/genesis/index.ts'
import { tempDir } from '../harness/process.ts'
import type { Row } from './report.ts'

/** Runtime: for i in 0..63, SSTORE(i, i + NUMBER). */
const SPRAY_INITCODE = hexToBytes('0x601380600b6000396000f360005b80430181556001018060401160025700')

function source(items: SenderTx[]): TxSource {
  return Object.assign(
    (function* () {
      yield* items
    })(),
    { skipSender: () => {} },
  )
}

interface Size {
  keys: number
  bytes: number
  diskBytes: number
}

async function stateSize(chain: Chain): Promise<Size> {
  let keys = 0
  let bytes = 0
  let batch: Uint8Array[] = []
  const flush = async () => {
    for (const v of await chain.store.readStateNodes(batch)) bytes += v?.length ?? 0
    batch = []
  }
  for await (const k of chain.store.stateKeys()) {
    keys++
    bytes += k.length
    batch.push(k)
    if (batch.length >= 1024) await flush()
  }
  await flush()
  await (chain.store.db as unknown as { compactRange(a: Uint8Array, b: Uint8Array): Promise<void> }).compactRange(new Uint8Array([0]), new Uint8Array(64).fill(0xff))
  const diskBytes = Number(execFileSync('du', ['-sb', chain.store.location], { encoding: 'utf8' }).split('\t')[0])
  return { keys, bytes, diskBytes }
}

export async function runPruneBench(blocks = 2000): Promise<Row[]> {
  setLogLevel('warn')
  const dir = tempDir('medrec-prune-')
  try {
    const sealer = devAccounts(1)[0]!
    const g = newGenesis({ chainId: 1337n, authorities: [sealer.address], period: 0, gasLimit: 30_000_000n, alloc: [[sealer.address, 10n ** 24n]], timestamp: 0n })
    const full = await Chain.open(join(dir.path, 'full'), g, { gcMode: 'full' })
    const archive = await Chain.open(join(dir.path, 'archive'), g, { gcMode: 'archive' })
    const cycles: PruneCycle[] = []
    full.pruner!.onCycle = (c) => void cycles.push(c)
    const fees = { maxFeePerGas: 10n ** 11n, maxPriorityFeePerGas: 1n, chainId: 1337n }
    const from = new Address(sealer.address)
    const spray = createContractAddress(from, 0n)
    const tx = (nonce: bigint, to?: Address, data: Uint8Array = new Uint8Array()): SenderTx => ({ tx: createFeeMarket1559Tx({ ...fees, nonce, to, data, gasLimit: 2_000_000n }, { common: full.common }).sign(sealer.privateKey), sender: from })
    const cpu0 = process.cpuUsage()
    const t0 = performance.now()
    let importCpu = 0
    for (let n = 0n; n < BigInt(blocks); n++) {
      const items = [n === 0n ? tx(0n, undefined, SPRAY_INITCODE) : tx(n, spray)]
      const b = await full.produce({ signer: sealer, source: source(items), deadline: Date.now() + 30_000 })
      const c = process.cpuUsage()
      await archive.importBlock(b.block)
      importCpu += process.cpuUsage(c).user + process.cpuUsage(c).system
    }
    const wallS = (performance.now() - t0) / 1000
    const totalCpu = process.cpuUsage(cpu0)
    // One more cycle for the final head, alone in the process: the CPU of one mark and sweep.
    const c1 = process.cpuUsage()
    const w1 = performance.now()
    await full.pruner!.run(full.head.block.header.number)
    const oneCycle = process.cpuUsage(c1)
    const oneCycleWall = performance.now() - w1
    const f = await stateSize(full)
    const a = await stateSize(archive)
    await full.close()
    await archive.close()
    const mb = (b: number) => `${(b / 1024 / 1024).toFixed(2)} MB`
    const lastCycle = cycles[cycles.length - 1]
    return [
      { metric: 'blocks (one 64-slot rewrite each)', value: String(blocks) },
      { metric: `trie keys, full (--state.recent ${DEFAULT_STATE_RECENT})`, value: String(f.keys) },
      { metric: 'trie keys, archive', value: String(a.keys) },
      { metric: 'trie bytes (keys + values), full', value: mb(f.bytes) },
      { metric: 'trie bytes (keys + values), archive', value: mb(a.bytes) },
      { metric: 'chaindata on disk after compaction, full', value: mb(f.diskBytes) },
      { metric: 'chaindata on disk after compaction, archive', value: mb(a.diskBytes) },
      { metric: 'prune cycles completed', value: String(full.pruner!.cycles) },
      { metric: 'last cycle: live keys / scanned / deleted', value: lastCycle === undefined ? '-' : `${lastCycle.live} / ${lastCycle.scanned} / ${lastCycle.deleted}` },
      { metric: 'one cycle alone (final head): CPU ms / wall ms', value: `${((oneCycle.user + oneCycle.system) / 1000).toFixed(0)} / ${oneCycleWall.toFixed(0)}` },
      { metric: 'process CPU (both chains, cycles included), s', value: ((totalCpu.user + totalCpu.system) / 1e6).toFixed(1) },
      { metric: 'of which archive imports, s', value: (importCpu / 1e6).toFixed(1) },
      { metric: 'wall, s', value: wallS.toFixed(1) },
      { metric: 'load average (1 min) at the end', value: loadavg()[0]!.toFixed(1) },
    ]
  } finally {
    dir.remove()
  }
}
