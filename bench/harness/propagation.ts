/**
 * Block propagation from the nodes' own block events (`GET /blocks` beside /metrics, see
 * node/metrics/blocks.ts): when each node sealed or relayed each block, on the one clock of the
 * machine they share. Read after a run; nothing is parsed from logs.
 */
import type { BlockEvent } from '../../node/metrics/index.ts'
import { BenchError, BenchErrorCode } from './errors.ts'

export type { BlockEvent }

/** A node's recent block events, from its metrics URL (`…/metrics`, served with `--metrics`). */
export async function readBlockEvents(metricsUrl: string): Promise<BlockEvent[]> {
  const url = metricsUrl.replace(/\/metrics$/, '/blocks')
  const res = await fetch(url, { signal: AbortSignal.timeout(10_000) })
  if (res.status !== 200) throw new BenchError(BenchErrorCode.RPC, `GET ${url} answered ${res.status}: is the node a medrec node started with --metrics?`)
  return (await res.json()) as BlockEvent[]
}

/** Per block and other node: ms from the block's sealing at its sealer to its relay at that node. */
export function relayDelays(eventsByNode: readonly (readonly BlockEvent[])[]): number[] {
  const sealedAt = new Map<string, number>()
  for (const events of eventsByNode) for (const e of events) if (e.event === 'sealed') sealedAt.set(e.hash, e.at)
  return eventsByNode.flatMap((events) =>
    events.flatMap((e) => {
      const sealed = e.event === 'relayed' ? sealedAt.get(e.hash) : undefined
      return sealed === undefined ? [] : [e.at - sealed]
    }),
  )
}
