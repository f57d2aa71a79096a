/**
 * The closed loop (`--clients C`), as Caliper's and BlockBench's clients run it: C clients, each
 * owning a disjoint set of senders (sender s belongs to client s mod C), each sending its next
 * pre-signed transaction only once the previous one is included, i.e. seen in a head at the
 * node it was sent to. The offered rate is what the network's inclusion allows.
 */
import { errorMessage } from '../../common/errors.ts'
import { createLogger } from '../../common/logger.ts'
import type { SendRecord } from './analyse.ts'
import { rpc, sleep } from './rpc.ts'
import type { SignedTx } from './workloads/index.ts'

const log = createLogger('bench:closed-loop')
/** How often a waiting client looks at the head log: well under a block time, cheap (map lookups). */
const POLL_MS = 5
/** After a rejected send, a pause before the client's next one, so a node that refuses everything is not hammered. */
const REJECT_PAUSE_MS = 250

export interface ClosedLoopOptions {
  /** Pre-signed, in prepare's order (interleaved by nonce across senders). */
  txs: readonly SignedTx[]
  urls: readonly string[]
  clients: number
  /** performance.now() when the load starts, and when clients stop starting new sends. */
  t0: number
  stopAt: number
  /** Whether `hash` is in a block of node `node`'s chain. */
  isIncluded(hash: string, node: number): boolean
  onSecond(s: number): void
  signal?: AbortSignal
}

export interface ClosedLoopResult {
  sends: SendRecord[]
  /** Clients that used up their pre-signed transactions before the end. */
  exhausted: number
}

/** Each client's transactions in send order: sender s goes to client s mod C. */
export function clientQueues(txs: readonly SignedTx[], clients: number): SignedTx[][] {
  const queues: SignedTx[][] = Array.from({ length: clients }, () => [])
  for (const tx of txs) queues[tx.sender % clients]!.push(tx)
  return queues
}

/**
 * Pre-signed transactions per sender for a closed loop of `seconds`: a client's transactions
 * go one per block at most, so the blocks the run can see bound it; PoW's intervals vary, and
 * an endpoint under --rpc may seal on every transaction, hence the margin.
 */
export function closedLoopDepth(seconds: number, period: number, irregular: boolean): number {
  return Math.ceil((seconds / Math.max(0.1, period)) * (irregular ? 4 : 1.5)) + 4
}

export async function sendClosedLoop(o: ClosedLoopOptions): Promise<ClosedLoopResult> {
  const sends: SendRecord[] = []
  let second = -1
  let exhausted = 0
  const now = () => performance.now()
  const waitIncluded = async (tx: SignedTx): Promise<void> => {
    while (!o.isIncluded(tx.hash, tx.node) && now() < o.stopAt && o.signal?.aborted !== true) await sleep(POLL_MS)
  }
  const client = async (queue: readonly SignedTx[]): Promise<void> => {
    for (const tx of queue) {
      if (now() >= o.stopAt || o.signal?.aborted === true) return
      const at = now()
      const s = Math.floor((at - o.t0) / 1000)
      if (s > second) o.onSecond((second = s))
      const rec: SendRecord = { hash: tx.hash, node: tx.node, at, ok: true, late: false }
      sends.push(rec)
      try {
        await rpc<string>(o.urls[tx.node]!, 'eth_sendRawTransaction', [tx.raw])
      } catch (err) {
        rec.ok = false
        rec.error = errorMessage(err).replace(/^eth_sendRawTransaction to \S+: /, '')
        // A sender's later nonces may now wait behind a gap: its next send is tried anyway, and
        // waiting for it ends with the run at worst.
        await sleep(REJECT_PAUSE_MS)
        continue
      }
      await waitIncluded(tx)
    }
    if (now() < o.stopAt) exhausted++
  }
  await Promise.all(clientQueues(o.txs, o.clients).map(client))
  if (exhausted > 0) log.warn('closed-loop clients ran out of pre-signed transactions before the end', { exhausted })
  sends.sort((a, b) => a.at - b.at)
  return { sends, exhausted }
}
