/**
 * What the harness observes while the load runs: every node's new heads (eth_subscribe over
 * WebSocket) with the time each block and transaction reached that node's chain, and once a
 * second each node process's CPU and RSS from /proc. Times are `performance.now()` values; the
 * analysis makes them relative to the start of the load.
 */
import { readFileSync } from 'node:fs'
import { createLogger } from '../../common/logger.ts'
import { errorMessage } from '../../common/errors.ts'
import { BenchError, BenchErrorCode } from './errors.ts'
import { rpc, toNumber, waitFor } from './rpc.ts'
import { cpuPercent } from './stats.ts'

const log = createLogger('bench:collect')

export interface BlockInfo {
  hash: string
  number: number
  parentHash: string
  /** Header timestamp, seconds. */
  timestamp: number
  miner: string
  txs: string[]
}

interface RpcBlock {
  hash: string
  number: string
  parentHash: string
  timestamp: string
  miner: string
  transactions: string[]
}

export interface HeadLog {
  /** Blocks seen on any node, by hash. */
  blocks: Map<string, BlockInfo>
  /** Per node: when each block became part of that node's chain (its head, or an ancestor of a new head). */
  blockAt: Array<Map<string, number>>
  /** Per node: when each transaction first appeared in a block of that node's chain. */
  txAt: Array<Map<string, number>>
  /** Per node: its heads in the order it announced them (with when), for reorgs and their depth. */
  headsSeen?: Array<Array<{ hash: string; at: number }>>
}

export interface HeadWatcher extends HeadLog {
  /** Every node's newest head number seen so far. */
  heads(): number[]
  /** Waits until the queued block fetches are done. */
  settled(): Promise<void>
  close(): void
}

/**
 * Subscribes to newHeads on every node and resolves once all subscriptions are confirmed.
 * Blocks at or below `baseNumber` are not walked back into (they predate the run).
 */
export async function watchHeads(nodes: Array<{ url: string; wsUrl: string }>, baseNumber: number): Promise<HeadWatcher> {
  const blocks = new Map<string, BlockInfo>()
  const blockAt = nodes.map(() => new Map<string, number>())
  const txAt = nodes.map(() => new Map<string, number>())
  const headsSeen = nodes.map((): Array<{ hash: string; at: number }> => [])
  const latest = nodes.map(() => baseNumber)
  const queues: Array<Promise<void>> = nodes.map(() => Promise.resolve())
  const sockets: Array<WebSocket | undefined> = []

  const fetchBlock = async (i: number, hash: string): Promise<BlockInfo> => {
    const known = blocks.get(hash)
    if (known !== undefined) return known
    const b = await rpc<RpcBlock | null>(nodes[i]!.url, 'eth_getBlockByHash', [hash, false])
    if (b === null) throw new BenchError(BenchErrorCode.RPC, `node ${i} announced block ${hash} but does not serve it`)
    const info: BlockInfo = { hash: b.hash, number: toNumber(b.number), parentHash: b.parentHash, timestamp: toNumber(b.timestamp), miner: b.miner, txs: b.transactions }
    blocks.set(hash, info)
    return info
  }

  // A reorg announces only the new tip: walk back to a block this node already had, so every
  // block of its chain gets the time it joined that chain.
  const onHead = (i: number, hash: string, at: number) => {
    queues[i] = queues[i]!.then(async () => {
      headsSeen[i]!.push({ hash, at })
      let h: string | undefined = hash
      while (h !== undefined && !blockAt[i]!.has(h)) {
        const b = await fetchBlock(i, h)
        if (b.number <= baseNumber) break
        blockAt[i]!.set(h, at)
        for (const tx of b.txs) if (!txAt[i]!.has(tx)) txAt[i]!.set(tx, at)
        h = b.parentHash
      }
    }).catch((err: unknown) => log.warn('could not read an announced block', { node: i, hash }, errorMessage(err)))
  }

  // A node that goes away (killed by a fault) is watched again once it is back: the socket is
  // reopened until it connects, and the node's head at that moment is walked back like any
  // announced one, so the blocks it synced while the harness could not see it get their time.
  let closed = false
  const RETRY_MS = 250
  const subscribe = (i: number, first: boolean): Promise<void> =>
    new Promise<void>((resolve, reject) => {
      const n = nodes[i]!
      const ws = new WebSocket(n.wsUrl)
      sockets[i] = ws
      let confirmed = false
      let ended = false
      const timer = setTimeout(() => reject(new BenchError(BenchErrorCode.TIMEOUT, `node ${i} did not confirm the newHeads subscription at ${n.wsUrl} within 10 s`)), 10_000)
      // A refused connection reports only 'error', a dropped one 'error' and/or 'close': once per socket.
      const onEnd = () => {
        clearTimeout(timer)
        if (ended) return
        ended = true
        reject(new BenchError(BenchErrorCode.RPC, `WebSocket to node ${i} at ${n.wsUrl} failed`))
        if (closed || (first && !confirmed)) return
        if (confirmed) log.info('node went away: watching for it to come back', { node: i })
        setTimeout(() => {
          if (!closed) subscribe(i, false).catch(() => {})
        }, RETRY_MS)
      }
      ws.onopen = () => ws.send(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'eth_subscribe', params: ['newHeads'] }))
      ws.onerror = onEnd
      ws.onclose = onEnd
      ws.onmessage = (ev) => {
        const at = performance.now()
        let msg: { id?: number; result?: string; error?: { message: string }; params?: { result: { hash: string; number: string } } }
        try {
          msg = JSON.parse(String(ev.data)) as typeof msg
        } catch {
          return log.warn('ignoring a WebSocket frame that is not JSON', { node: i })
        }
        if (msg.id === 1) {
          clearTimeout(timer)
          if (msg.error !== undefined) return reject(new BenchError(BenchErrorCode.RPC, `eth_subscribe on node ${i}: ${msg.error.message}`))
          confirmed = true
          resolve()
          if (!first) {
            log.info('watching node again', { node: i })
            rpc<RpcBlock>(n.url, 'eth_getBlockByNumber', ['latest', false]).then(
              (b) => {
                latest[i] = Math.max(latest[i]!, toNumber(b.number))
                onHead(i, b.hash, at)
              },
              (err: unknown) => log.warn('could not read the head of a node that came back', { node: i }, errorMessage(err)),
            )
          }
          return
        }
        const head = msg.params?.result
        if (head === undefined) return
        latest[i] = Math.max(latest[i]!, toNumber(head.number))
        onHead(i, head.hash, at)
      }
    })

  await Promise.all(nodes.map((_, i) => subscribe(i, true))).catch((err: unknown) => {
    closed = true
    for (const ws of sockets) ws?.close()
    throw err
  })

  return {
    blocks,
    blockAt,
    txAt,
    headsSeen,
    heads: () => [...latest],
    settled: async () => {
      await Promise.all(queues)
    },
    close: () => {
      closed = true
      for (const ws of sockets) ws?.close()
    },
  }
}

/** The canonical chain at `url` from its head back to (excluding) `baseNumber`, oldest first. */
export async function finalChain(url: string, seen: HeadLog, baseNumber: number): Promise<BlockInfo[]> {
  const head = await rpc<RpcBlock>(url, 'eth_getBlockByNumber', ['latest', false])
  const chain: BlockInfo[] = []
  let hash = head.hash
  for (;;) {
    let b = seen.blocks.get(hash)
    if (b === undefined) {
      const r = await rpc<RpcBlock>(url, 'eth_getBlockByHash', [hash, false])
      b = { hash: r.hash, number: toNumber(r.number), parentHash: r.parentHash, timestamp: toNumber(r.timestamp), miner: r.miner, txs: r.transactions }
      seen.blocks.set(hash, b)
    }
    if (b.number <= baseNumber) break
    chain.push(b)
    hash = b.parentHash
  }
  return chain.reverse()
}

/** One reading of the node processes (and the harness itself). */
export interface ResourceSample {
  at: number
  /** Per node: CPU in percent of one core since the previous sample; NaN if unreadable. */
  cpu: number[]
  /** Per node: resident set size, MB. */
  rssMb: number[]
  harnessCpu: number
  harnessRssMb: number
}

export interface ResourceSampler {
  /** False where /proc/<pid> cannot be read (not Linux): node figures are then NaN. */
  readonly available: boolean
  samples: ResourceSample[]
  stop(): void
}

/** Linux reports process times in clock ticks of 1/100 s (USER_HZ) on every mainstream architecture. */
const CLOCK_TICKS = 100

/** utime + stime in ms from /proc/<pid>/stat, or undefined. */
export function readProcCpuMs(pid: number, read: (path: string) => string = (p) => readFileSync(p, 'utf8')): number | undefined {
  try {
    const stat = read(`/proc/${pid}/stat`)
    // The command name (field 2) may hold spaces and parentheses: count fields after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    const ticks = Number(fields[11]) + Number(fields[12])
    return Number.isFinite(ticks) ? (ticks * 1000) / CLOCK_TICKS : undefined
  } catch {
    return undefined
  }
}

/** VmRSS in MB from /proc/<pid>/status, or undefined. */
export function readProcRssMb(pid: number, read: (path: string) => string = (p) => readFileSync(p, 'utf8')): number | undefined {
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(read(`/proc/${pid}/status`))
    return m === null ? undefined : Number(m[1]) / 1024
  } catch {
    return undefined
  }
}

/**
 * Samples CPU and RSS of the processes `pids` names, read again at each sample: a node restarted
 * by a fault has a new pid, whose whole CPU time falls after the previous sample.
 */
export function sampleResources(pids: number[] | (() => number[]), everyMs = 1000): ResourceSampler {
  const current = typeof pids === 'function' ? pids : () => pids
  let prevPids = current()
  const available = prevPids.length > 0 && readProcCpuMs(prevPids[0]!) !== undefined
  const samples: ResourceSample[] = []
  let prevAt = performance.now()
  let prevCpu = prevPids.map((p) => (available ? (readProcCpuMs(p) ?? NaN) : NaN))
  let prevHarness = process.cpuUsage()
  const timer = setInterval(() => {
    const at = performance.now()
    const wall = at - prevAt
    const now = current()
    const cpuNow = now.map((p) => (available ? (readProcCpuMs(p) ?? NaN) : NaN))
    const harness = process.cpuUsage()
    samples.push({
      at,
      cpu: cpuNow.map((c, i) => cpuPercent(now[i] === prevPids[i] ? prevCpu[i]! : 0, c, wall)),
      rssMb: now.map((p) => (available ? (readProcRssMb(p) ?? NaN) : NaN)),
      // process.cpuUsage is in microseconds.
      harnessCpu: cpuPercent((prevHarness.user + prevHarness.system) / 1000, (harness.user + harness.system) / 1000, wall),
      harnessRssMb: process.memoryUsage.rss() / 2 ** 20,
    })
    prevAt = at
    prevPids = now
    prevCpu = cpuNow
    prevHarness = harness
  }, everyMs)
  return { available, samples, stop: () => clearInterval(timer) }
}

/** Waits until node `url`'s head is at least `n`. */
export function headAtLeast(url: string, n: number, what: string, timeoutMs: number): Promise<number> {
  return waitFor(async () => {
    const h = toNumber(await rpc<string>(url, 'eth_blockNumber'))
    return h >= n ? h : undefined
  }, what, timeoutMs)
}
