import t from 'tap'
import { createTestNetwork, type TestNetwork } from '../helpers/network.ts'
import { rpc, waitFor } from '../helpers/node-process.ts'

/**
 * Peer exchange between real node processes: three authorities that all boot from node 0 end up
 * a full mesh (node 2 learns node 1 from node 0) and agree on the head; a fourth node run with
 * --nodiscover still networks: it dials its bootnode only, and the others learn it and dial it.
 */

t.setTimeout(120_000)

const url = (net: TestNetwork, i: number) => net.members[i]!.node!.url
const peerCount = async (net: TestNetwork, i: number) => Number(BigInt(await rpc<string>(url(net, i), 'net_peerCount')))
const peerIds = async (net: TestNetwork, i: number) => (await rpc<{ id: string }[]>(url(net, i), 'admin_peers')).map((p) => p.id).sort()
const nodeId = async (net: TestNetwork, i: number) => (await rpc<{ id: string }>(url(net, i), 'admin_nodeInfo')).id

t.test('three nodes booted from one find each other and agree on the head; --nodiscover only stops that', async (t) => {
  const net = await createTestNetwork(4, { authorities: 3, period: 1 })
  t.teardown(() => net.close())
  const boot = (await net.start(0)).enode!
  await net.start(1, { bootnodes: [boot] })
  await waitFor(async () => (await peerCount(net, 1)) === 1, 'node 1 to join node 0')
  await net.start(2, { bootnodes: [boot] })
  await waitFor(async () => (await peerCount(net, 2)) === 2, 'node 2 to reach two peers', 15_000)
  t.pass('node 2, booted from node 0 only, has two peers')
  const ids = await Promise.all([0, 1, 2].map((i) => nodeId(net, i)))
  t.same(await peerIds(net, 2), [ids[0], ids[1]].sort(), 'node 0 and node 1')
  t.ok((await peerIds(net, 1)).includes(ids[2]!), 'node 1 has node 2 as a peer')
  const head = await waitFor(
    async () => {
      const heads = await Promise.all([0, 1, 2].map((i) => rpc<{ hash: string; number: string }>(url(net, i), 'eth_getBlockByNumber', ['latest', false])))
      return Number(heads[0]!.number) >= 2 && heads.every((h) => h.hash === heads[0]!.hash) && `${Number(heads[0]!.number)} ${heads[0]!.hash}`
    },
    'the three nodes to agree on the head',
    15_000,
  )
  t.ok(head, `same head, past block 1, on all three (${head})`)

  // --nodiscover (geth's meaning): networking on, bootnodes only, no peer exchange. Nodes 1 and 2
  // still do it: they learn node 3 from node 0 and dial it. Once node 3 is connected to all three
  // it has nothing left to dial, so its connections say who dialled whom: a node 3 that asked
  // node 0 for peers (at once, after the handshake) would have dialled 1 and 2 itself, long
  // before their next peer-exchange round; with --nodiscover only the bootnode is outbound.
  await net.start(3, { bootnodes: [boot], sealer: false, args: ['--nodiscover'] })
  const peers3 = await waitFor(
    async () => {
      const peers = await rpc<{ id: string; network: { inbound: boolean } }[]>(url(net, 3), 'admin_peers')
      return peers.length === 3 && peers
    },
    'nodes 1 and 2 to learn node 3 from node 0 and dial it',
    60_000,
  )
  t.same(peers3.map((p) => p.id).sort(), [...ids].sort(), 'node 3 is connected to nodes 0, 1 and 2')
  t.same(peers3.filter((p) => !p.network.inbound).map((p) => p.id), [ids[0]], 'node 3 (--nodiscover) dialled only its bootnode: nodes 1 and 2 dialled it')
  t.ok(net.members[3]!.enode?.includes('/p2p/'), 'and listens')
})
