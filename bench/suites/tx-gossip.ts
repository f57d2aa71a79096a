/**
 * `npm run bench -- tx-gossip`: the transaction exchange alone. `TXG_NODES` (16) p2p hosts of
 * p2p/ in this process, real libp2p over TCP on 127.0.0.1, wired as `medrec bench run` wires its
 * nodes (every node's bootnode is node 0, peer exchange on, minPeers 5); `TXG_RATE` (50)
 * transactions a second of `TXG_SIZE` (110) bytes for `TXG_SECONDS` (10) s (`TXG_BATCH_MS` sets
 * txBatchMs), published round-robin by the
 * nodes as the harness's senders submit them; the validator accepts (no pool: only the exchange
 * is measured). Prints the process's CPU per transaction (every node's share summed), the
 * TCP writes per transaction, the validator calls per transaction per node (1.0 is no duplicate)
 * and publish→last-node latency; an idle network's CPU is the baseline (`TXG_RATE=1`).
 * The script imports p2p/ relatively, so a copy of it in another checkout measures that one.
 */
import { createHash } from 'node:crypto'
import { Socket } from 'node:net'
import { createP2P, type P2P } from '../../p2p/index.ts'

const N = Number(process.env.TXG_NODES ?? 16)
const RATE = Number(process.env.TXG_RATE ?? 50)
const SECONDS = Number(process.env.TXG_SECONDS ?? 10)
const SIZE = Number(process.env.TXG_SIZE ?? 110)
const GENESIS = createHash('sha256').update('tx-gossip bench genesis').digest()
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))

export async function runTxGossipBench(): Promise<void> {
  const arrivals = new Map<string, number[]>()
  let calls = 0
  const nodes: P2P[] = []
  const start = async (i: number, bootnodes: string[]) =>
    createP2P(
      { chainId: 4242n, genesisHash: GENESIS, privateKey: createHash('sha256').update(`txg ${i}`).digest(), listen: { host: '127.0.0.1', port: 0 }, bootnodes, maxPeers: 25, minPeers: 5, statusIntervalMs: 0, ...(process.env.TXG_BATCH_MS ? { txBatchMs: Number(process.env.TXG_BATCH_MS) } : {}) },
      {
        getHead: () => ({ head: { number: 0n, hash: GENESIS }, totalDifficulty: 1n }),
        validateTx: (bytes) => {
          calls++
          const key = Buffer.from(bytes.subarray(1, 9)).toString('hex')
          arrivals.get(key)?.push(performance.now())
          return 'accept'
        },
        validateBlock: () => 'ignore',
        getBlocksByRange: async () => [],
        getHeadersByRange: async () => [],
      },
    )
  nodes.push(await start(0, []))
  for (let i = 1; i < N; i++) nodes.push(await start(i, nodes[0]!.listenAddrs()))
  // Peer exchange grows the star to at least minPeers each; then a few heartbeats for the mesh.
  const until = Date.now() + 60_000
  while (nodes.some((n) => n.peerCount() < Math.min(5, N - 1)) && Date.now() < until) await sleep(200)
  await sleep(3000)
  const peers = nodes.map((n) => n.peerCount())
  process.stderr.write(`  ${N} nodes, peers per node ${Math.min(...peers)}-${Math.max(...peers)} (node 0: ${peers[0]})\n`)
  const total = RATE * SECONDS
  const published = new Map<string, number>()
  // Every TCP write of every host (noise frames, each carrying a yamux frame or a few).
  const io = { writes: 0, bytes: 0 }
  const write = Socket.prototype.write
  Socket.prototype.write = function (this: Socket, chunk: unknown, ...rest: unknown[]) {
    io.writes++
    io.bytes += typeof chunk === 'string' ? chunk.length : (chunk as Uint8Array).byteLength
    return (write as (...a: unknown[]) => boolean).call(this, chunk, ...rest)
  } as typeof write
  const cpu0 = process.cpuUsage()
  const t0 = performance.now()
  for (let k = 0; k < total; k++) {
    const due = t0 + (k * 1000) / RATE
    const wait = due - performance.now()
    if (wait > 0) await sleep(wait)
    const tx = new Uint8Array(SIZE)
    tx[0] = 2
    tx.set(createHash('sha256').update(`tx ${k} ${Math.random()}`).digest(), 1)
    const key = Buffer.from(tx.subarray(1, 9)).toString('hex')
    arrivals.set(key, [])
    published.set(key, performance.now())
    nodes[k % N]!.publishTx(tx).catch(() => {})
  }
  const deadline = performance.now() + 30_000
  while ([...arrivals.values()].some((a) => a.length < N - 1) && performance.now() < deadline) await sleep(50)
  const cpu = process.cpuUsage(cpu0)
  Socket.prototype.write = write
  const wall = performance.now() - t0
  const complete = [...arrivals.values()].filter((a) => a.length >= N - 1).length
  const lat = [...arrivals].filter(([, a]) => a.length >= N - 1).map(([k, a]) => Math.max(...a) - published.get(k)!).sort((a, b) => a - b)
  const pct = (p: number) => lat[Math.min(lat.length - 1, Math.floor((p / 100) * lat.length))]?.toFixed(0) ?? 'n/a'
  const cpuMs = (cpu.user + cpu.system) / 1000
  console.log(`tx-gossip: ${N} nodes, ${RATE} tx/s for ${SECONDS} s (${total} transactions of ${SIZE} bytes)`)
  console.log(`  reached every node         ${complete} of ${total}`)
  console.log(`  process CPU                ${cpuMs.toFixed(0)} ms in ${(wall / 1000).toFixed(1)} s (${((cpuMs / wall) * 100).toFixed(0)} % of a core)`)
  console.log(`  CPU per transaction        ${(cpuMs / total).toFixed(2)} ms (all ${N} nodes), ${(cpuMs / total / N).toFixed(3)} ms per node`)
  console.log(`  TCP writes per tx          ${(io.writes / total).toFixed(1)} (${(io.bytes / total / 1024).toFixed(1)} KiB)`)
  console.log(`  validator calls per tx per node  ${(calls / total / (N - 1)).toFixed(2)}`)
  console.log(`  publish → last node p50 / p95 / max (ms)  ${pct(50)} / ${pct(95)} / ${lat.length > 0 ? lat[lat.length - 1]!.toFixed(0) : 'n/a'}`)
  await Promise.all(nodes.map((n) => n.stop()))
}

if (import.meta.url === `file://${process.argv[1]}`) await runTxGossipBench()
