import t from 'tap'
import { networkInterfaces } from 'node:os'
import { reachableListenAddrs } from '../../p2p/listen-addrs.ts'
import { startNode } from './helpers.ts'

/**
 * admin_nodeInfo and the gatekeeper's Registrar entry give out p2p.listenAddrs() (issue 19): for
 * a wildcard listen that must be every address, those another host can dial first, never 127.0.0.1 first.
 */

/** This machine's IPv4 addresses another host could reach. */
const externalIPv4 = () =>
  Object.values(networkInterfaces())
    .flat()
    .filter((i) => i !== undefined && i.family === 'IPv4' && !i.internal && !i.address.startsWith('169.254.'))
    .map((i) => i!.address)

t.test('a node listening on 0.0.0.0 lists every non-internal interface address first, loopback last', async (t) => {
  const a = await startNode(t, 1, { listen: { host: '0.0.0.0', port: 0 } })
  const addrs = a.p2p.listenAddrs()
  const hosts = addrs.map((x) => x.split('/')[2])
  const external = externalIPv4()
  if (external.length === 0) {
    t.same(hosts, ['127.0.0.1'], 'a host with loopback only still lists its loopback address')
    return
  }
  t.same([...hosts.slice(0, external.length)].sort(), [...external].sort(), `every non-internal IPv4 interface comes first: ${addrs.join(' ')}`)
  t.equal(hosts.at(-1), '127.0.0.1', 'loopback last')
  t.ok(addrs.every((x) => x.endsWith(`/p2p/${a.p2p.peerId}`)), 'each ends with the peer id (usable as --bootnodes)')
})

t.test('a node listening on one address lists that address, loopback included', async (t) => {
  const a = await startNode(t, 2, { listen: { host: '127.0.0.1', port: 0 } })
  t.match(a.p2p.listenAddrs(), [/^\/ip4\/127\.0\.0\.1\/tcp\/\d+\/p2p\//], 'the loopback address it listens on')
})

t.test('wildcard listens put loopback and link-local last', async (t) => {
  const id = '/tcp/30303/p2p/16Uiu2'
  const all = [`/ip4/127.0.0.1${id}`, `/ip4/169.254.3.4${id}`, `/ip4/10.0.0.7${id}`, `/ip6/::1${id}`, `/ip6/fe80::1${id}`, `/ip6/2001:db8::7${id}`]
  const ordered = [`/ip4/10.0.0.7${id}`, `/ip6/2001:db8::7${id}`, `/ip4/127.0.0.1${id}`, `/ip4/169.254.3.4${id}`, `/ip6/::1${id}`, `/ip6/fe80::1${id}`]
  t.same(reachableListenAddrs(all, '0.0.0.0'), ordered)
  t.same(reachableListenAddrs(all, '::'), ordered)
  t.same(reachableListenAddrs([`/ip4/127.0.0.1${id}`], '0.0.0.0'), [`/ip4/127.0.0.1${id}`], 'loopback-only host: kept')
  t.same(reachableListenAddrs([`/ip4/127.0.0.1${id}`, `/ip4/127.0.0.1${id}`], '127.0.0.1'), [`/ip4/127.0.0.1${id}`], 'an explicit listen: as is, once')
})
