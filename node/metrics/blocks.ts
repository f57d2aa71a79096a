/**
 * When this node sealed or relayed each recent block, as structured events: the benchmarks put
 * the events of several nodes on one machine (one clock) side by side to measure propagation,
 * sealed at one node → relayed by each other node. A Prometheus series per block hash would be
 * unbounded churn for a scraper, so these are served as JSON beside /metrics (`GET /blocks`).
 */

/** How many events are kept: minutes of blocks at the shortest periods. */
export const BLOCK_EVENTS_KEPT = 4096

export interface BlockEvent {
  /** sealed: this node sealed and committed it; relayed: a gossiped block passed its precheck and went on to the peers (before its import). */
  event: 'sealed' | 'relayed'
  hash: string
  number: number
  /** Unix time, milliseconds with a fraction (performance.timeOrigin + performance.now()). */
  at: number
}

export interface BlockEvents {
  record(event: BlockEvent['event'], hash: string, number: bigint): void
  /** Oldest first. */
  list(): BlockEvent[]
}

export function blockEvents(kept = BLOCK_EVENTS_KEPT): BlockEvents {
  const events: BlockEvent[] = []
  return {
    record(event, hash, number) {
      events.push({ event, hash, number: Number(number), at: performance.timeOrigin + performance.now() })
      if (events.length > kept) events.splice(0, events.length - kept)
    },
    list: () => [...events],
  }
}
