import { out, outJson } from '../io.ts'
import { RPC_FLAGS, callNode } from '../rpc-client.ts'
import type { CommandSpec } from '../types.ts'
import { JSON_OUT } from './shared.ts'

interface PeerJson {
  id: string
  network: { remoteAddress: string; inbound: boolean }
  protocols: { medrec?: { head?: string; number?: number; totalDifficulty?: string } }
}

export const peersCommand: CommandSpec = {
  kind: 'command',
  path: 'peers',
  summary: 'list the node\'s connected peers',
  usage: 'peers [--add MULTIADDR] (--datadir DIR | --rpc.jwtsecret FILE) [--rpc URL] [--json]',
  description: 'Prints the peers of a running node (admin_peers): peer id, address, direction and head.\nWith --add, connects to another node first (admin_addPeer), e.g. one of its\n`admin_nodeInfo` listen addresses.',
  flags: [{ name: 'add', kind: 'string', placeholder: 'MULTIADDR', default: 'none', description: 'connect to this peer first' }, ...RPC_FLAGS, JSON_OUT],
  async run(flags) {
    const add = flags.string('add')
    if (add !== undefined) await callNode(flags, 'admin_addPeer', [add])
    const peers = (await callNode(flags, 'admin_peers')) as PeerJson[]
    if (flags.boolean('json')) return outJson(peers)
    out(`${peers.length} peer${peers.length === 1 ? '' : 's'}`)
    for (const p of peers) {
      const head = p.protocols.medrec
      out(`${p.id}  ${p.network.inbound ? 'in ' : 'out'}  ${p.network.remoteAddress}${head?.number === undefined ? '' : `  head ${head.number}`}`)
    }
  },
}
