import t from 'tap'
import { createTestNetwork } from '../helpers/network.ts'
import { rpc, startNodeProcess } from '../helpers/node-process.ts'

/**
 * A node is ready when it says so over the IPC channel the harness gives it (`{ event: 'ready',
 * rpc, ws }`), not when a log line looks right: with logs quieter than info there is no
 * "listening" line at all, and the harness still knows the node serves, and where.
 */

t.setTimeout(60_000)

t.test('a node logging only errors is ready, on the URLs it announced, with no log line to parse', async (t) => {
  const net = await createTestNetwork(1, { authorities: 1, period: 1 })
  t.teardown(() => net.close())
  const datadir = net.members[0]!.datadir
  // Port 0: the documented ports (30303, 8545) belong to the README's quick starts, run alongside.
  const node = await startNodeProcess(['--log.level', 'error', '--p2p.addr', '127.0.0.1', '--p2p.port', '0'], { datadir, timeoutMs: 20_000 })
  t.teardown(() => node.kill())
  t.notMatch(node.output(), /listening|Listening on/, 'the node wrote no "listening" line')
  t.match(node.url, /^http:\/\/127\.0\.0\.1:\d+$/, 'the announced JSON-RPC URL')
  t.match(node.wsUrl, /^ws:\/\/127\.0\.0\.1:\d+$/, 'the announced WebSocket URL')
  t.equal(await rpc<string>(node.url, 'eth_chainId'), '0x1092', 'and the node serves there (chain 4242)')
  t.equal(await node.stop(), 0, 'the channel does not keep it from stopping cleanly')
})
