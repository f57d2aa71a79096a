import { bytesToHex } from '@ethereumjs/util'
import { toQuantity } from '../../common/index.ts'
import type { Chain } from '../chain/index.ts'
import type { Network } from '../sync/index.ts'
import { CLIENT_VERSION } from './eth.ts'
import { RpcError } from './errors.ts'
import type { RpcMethods } from './types.ts'
import * as v from './validate.ts'

export interface AdminModules {
  chain: Chain
  /** Absent when the node runs without p2p (a lone dev node). */
  network: Network | undefined
}

/** `admin_*`, `net_peerCount` and `eth_syncing`, shaped as geth's where geth has them. */
export function createAdminMethods(modules: AdminModules): RpcMethods {
  const { chain, network } = modules
  const need = (): Network => {
    if (network === undefined) throw RpcError.server('p2p is off on this node: start it with --p2p.port or --bootnodes')
    return network
  }
  return {
    net_peerCount: (p) => (v.params(p, 0, 0), toQuantity(BigInt(network?.p2p.peerCount() ?? 0))),
    eth_syncing: (p) => {
      v.params(p, 0, 0)
      const s = network?.syncing() ?? false
      if (s === false) return false
      const blocks = { startingBlock: toQuantity(s.startingBlock), currentBlock: toQuantity(s.currentBlock), highestBlock: toQuantity(s.highestBlock) }
      if (s.state === undefined) return blocks
      // geth's state-sync fields (healing* are the nodes and codes asked for and not yet stored), and the pivot.
      const { pivot, ...counts } = s.state
      return { ...blocks, ...Object.fromEntries(Object.entries(counts).map(([k, n]) => [k, toQuantity(BigInt(n))])), pivotBlock: toQuantity(pivot) }
    },
    admin_nodeInfo: (p) => {
      v.params(p, 0, 0)
      const head = chain.head
      const addrs = network?.p2p.listenAddrs() ?? []
      return {
        id: network?.p2p.peerId ?? null,
        name: CLIENT_VERSION,
        // libp2p multiaddrs ending in /p2p/<peer id>: pass any of them to --bootnodes or admin_addPeer
        listenAddrs: addrs,
        enode: addrs[0] ?? null,
        protocols: {
          medrec: {
            network: Number(chain.common.chainId()),
            genesis: bytesToHex(chain.genesisHash),
            head: bytesToHex(head.block.hash()),
            number: Number(head.block.header.number),
            difficulty: toQuantity(head.totalDifficulty),
          },
        },
      }
    },
    admin_peers: (p) => {
      v.params(p, 0, 0)
      return need().p2p.peers().map((peer) => ({
        id: peer.id,
        name: '',
        network: { remoteAddress: peer.addrs[0] ?? '', inbound: peer.direction === 'inbound' },
        score: peer.score,
        protocols: {
          medrec:
            peer.status === null
              ? 'handshake'
              : { head: bytesToHex(peer.status.head.hash), number: Number(peer.status.head.number), totalDifficulty: toQuantity(peer.status.totalDifficulty) },
        },
      }))
    },
    admin_addPeer: async (p) => {
      v.params(p, 1, 1)
      if (typeof p[0] !== 'string') throw RpcError.invalidParams('invalid argument 0: expected a multiaddr string ending in /p2p/<peer id>')
      try {
        await need().p2p.addPeer(p[0])
      } catch (err) {
        if (err instanceof RpcError) throw err
        throw RpcError.server(`cannot add peer ${p[0]}: ${(err as Error).message}`)
      }
      return true
    },
  }
}
