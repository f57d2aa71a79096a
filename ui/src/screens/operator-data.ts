/**
 * What the operator screen reads from the node, in one round of parallel JSON-RPC calls: the head,
 * sync status, peers, the pool, and (under PoA) the Clique snapshot, sealing activity and this
 * node's own proposals. A method the node does not have (clique_* under proof of work) or cannot
 * answer (admin_peers with p2p off) leaves its part empty with the node's reason, instead of
 * failing the whole screen.
 */
import { RpcError, type Rpc } from '../api/index.ts'
import type { CliqueSnapshot, CliqueStatus } from './operator-clique.ts'

export interface HeadBlock {
  number: number
  hash: string
  timestamp: number
  miner: string
  transactions: number
  gasUsed: number
}
export interface PeerRow {
  id: string
  address: string
  inbound: boolean
  /** The peer's head, or undefined while its handshake is not done. */
  head: number | undefined
}
export type Syncing = false | { startingBlock: number; currentBlock: number; highestBlock: number }

export interface OperatorView {
  chainId: number
  head: HeadBlock
  syncing: Syncing
  peerCount: number
  /** undefined: the reason the node gave (e.g. p2p is off). */
  peers: PeerRow[] | string
  pool: { pending: number; queued: number } | undefined
  /** undefined under proof of work (no clique_* methods). */
  clique: { snapshot: CliqueSnapshot; status: CliqueStatus; proposals: Record<string, boolean> } | undefined
}

const num = (q: unknown): number => (typeof q === 'string' ? Number(BigInt(q)) : typeof q === 'number' ? q : 0)

interface RawBlock {
  number: string
  hash: string
  timestamp: string
  miner: string
  transactions: unknown[]
  gasUsed: string
}
interface RawPeer {
  id: string
  network: { remoteAddress: string; inbound: boolean }
  protocols: { medrec: 'handshake' | { number: number } }
}

/** JSON-RPC "method not found": the node has no such method (clique_* under PoW). */
const missing = (err: unknown): boolean => err instanceof RpcError && err.code === -32601

export async function loadOperatorView(rpc: Rpc): Promise<OperatorView> {
  const [chainId, block, syncing, peerCount, peers, pool, clique] = await Promise.all([
    rpc.call<string>('eth_chainId'),
    rpc.call<RawBlock>('eth_getBlockByNumber', ['latest', false]),
    rpc.call<false | Record<string, string>>('eth_syncing'),
    rpc.call<string>('net_peerCount'),
    rpc.call<RawPeer[]>('admin_peers').then(
      (list) => list.map((p) => ({ id: p.id, address: p.network.remoteAddress, inbound: p.network.inbound, head: p.protocols.medrec === 'handshake' ? undefined : p.protocols.medrec.number })),
      (err: unknown) => (err instanceof Error ? err.message : String(err)),
    ),
    rpc.call<{ pending: string; queued: string }>('txpool_status').then(
      (s) => ({ pending: num(s.pending), queued: num(s.queued) }),
      () => undefined,
    ),
    Promise.all([rpc.call<CliqueSnapshot>('clique_getSnapshot'), rpc.call<CliqueStatus>('clique_status'), rpc.call<Record<string, boolean>>('clique_proposals')]).then(
      ([snapshot, status, proposals]) => ({ snapshot, status, proposals }),
      (err: unknown) => {
        if (missing(err)) return undefined
        throw err
      },
    ),
  ])
  return {
    chainId: num(chainId),
    head: { number: num(block.number), hash: block.hash, timestamp: num(block.timestamp), miner: block.miner, transactions: block.transactions.length, gasUsed: num(block.gasUsed) },
    syncing: syncing === false ? false : { startingBlock: num(syncing.startingBlock), currentBlock: num(syncing.currentBlock), highestBlock: num(syncing.highestBlock) },
    peerCount: num(peerCount),
    peers,
    pool,
    clique,
  }
}
