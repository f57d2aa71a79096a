import t from 'tap'
import { setLogLevel } from '../../common/logger.ts'
import { createTestNetwork, type TestNetwork } from '../helpers/network.ts'
import { rpc, waitFor } from '../helpers/node-process.ts'
import { buildStateChain } from '../sync/state-chain.ts'

/**
 * State sync with real node processes over libp2p/TCP (issue 23): three authorities seal on a
 * chain with accounts and contract storage; a fresh fourth node started with --syncmode snap
 * downloads a recent block's state instead of executing history, answers that state (balances,
 * eth_call) with the network's root, then follows the head by range sync and gossip.
 */
t.setTimeout(600_000)
setLogLevel('error')

const url = (net: TestNetwork, i: number) => net.members[i]!.node!.url
const q = (n: bigint) => `0x${n.toString(16)}`
type Head = { number: string; hash: string; stateRoot: string }
const block = (net: TestNetwork, i: number, tag: string) => rpc<Head | null>(url(net, i), 'eth_getBlockByNumber', [tag, false])

t.test('a fresh node state-syncs from a running network, then follows the head', async (t) => {
  const net = await createTestNetwork(4, { authorities: 3, period: 1 })
  t.teardown(() => net.close())
  const keys = new Map(net.members.map((m) => [m.address, m.key]))
  const built = await buildStateChain(net.members[0]!.datadir, net.genesis, keys, net.members[3]!.key, { blocks: 40, accountsPerBlock: 20, deployEvery: 4, slots: 30 })
  await net.start(0)
  await Promise.all([1, 2].map((i) => net.start(i, { bootnodes: [net.members[0]!.enode!] })))
  // The three seal on top of the built chain.
  await waitFor(async () => {
    const hs = await Promise.all([0, 1, 2].map((i) => block(net, i, 'latest')))
    return hs.every((h) => h !== null && BigInt(h.number) >= built.head + 3n)
  }, 'the authorities to seal on the built chain', 120_000)

  await net.start(3, { sealer: false, bootnodes: [0, 1, 2].map((i) => net.members[i]!.enode!), args: ['--syncmode', 'snap'] })
  let sawStateProgress = false
  const done = await waitFor(async () => {
    const s = await rpc<false | Record<string, string>>(url(net, 3), 'eth_syncing')
    if (s !== false && s.syncedAccounts !== undefined) sawStateProgress = true
    return /State sync done[^\n]*pivot=(\d+)/.exec(net.members[3]!.node!.output())
  }, 'the fresh node to finish state sync', 180_000)
  const pivot = BigInt(done[1]!)
  t.ok(pivot > 0n, `state-synced at pivot ${pivot}`)
  t.notMatch(net.members[3]!.node!.output(), /falling back to full sync/, 'no fallback to full sync')

  const [mine, theirs] = await Promise.all([block(net, 3, q(pivot)), block(net, 0, q(pivot))])
  t.equal(mine?.hash, theirs?.hash, 'same pivot block')
  t.equal(mine?.stateRoot, theirs?.stateRoot, "the pivot's state root is the network's")

  // Its state answers at the pivot: balances of accounts paid across the chain, and a call into each contract's storage.
  const paid = built.paid.filter((p) => p.block <= pivot)
  const contracts = built.contracts.filter((c) => c.block <= pivot)
  t.ok(paid.length > 0 && contracts.length > 0, `${paid.length} paid accounts and ${contracts.length} contracts in the pivot state`)
  for (const p of [paid[0]!, paid[Math.floor(paid.length / 2)]!, paid[paid.length - 1]!]) {
    t.equal(BigInt(await rpc<string>(url(net, 3), 'eth_getBalance', [p.address, q(pivot)])), p.value, `balance of ${p.address} at the pivot`)
  }
  for (const c of contracts) {
    const slot = `0x${(9).toString(16).padStart(64, '0')}`
    const got = await rpc<string>(url(net, 3), 'eth_call', [{ to: c.address, data: slot }, q(pivot)])
    t.equal(BigInt(got), 63n, `eth_call of contract ${c.address} reads slot 9 = 63 at the pivot`)
    t.equal(await rpc<string>(url(net, 3), 'eth_getCode', [c.address, q(pivot)]), await rpc<string>(url(net, 0), 'eth_getCode', [c.address, q(pivot)]), 'and its code is the network\'s')
  }
  // History was not executed here: the first deploy's receipt exists on the network only.
  t.not(await rpc(url(net, 0), 'eth_getTransactionReceipt', [built.contracts[0]!.tx]), null, 'the network has the receipt of block 1')
  t.equal(await rpc(url(net, 3), 'eth_getTransactionReceipt', [built.contracts[0]!.tx]), null, 'the state-synced node executed no block below its pivot (no receipt)')
  t.ok(sawStateProgress || /State sync done/.test(net.members[3]!.node!.output()), `eth_syncing reported state progress while it ran (${sawStateProgress ? 'seen' : 'too quick to poll'})`)

  // Then it follows the head: a block sealed after the sync reaches it, the same block as the network's.
  const later = BigInt((await block(net, 0, 'latest'))!.number) + 3n
  await waitFor(async () => {
    const [a, b] = await Promise.all([block(net, 3, q(later)), block(net, 0, q(later))])
    return a !== null && b !== null && a.hash === b.hash
  }, `the synced node to follow the head to block ${later}`, 120_000)
  t.pass(`it follows the head: block ${later} is the network's`)
  await waitFor(async () => (await rpc(url(net, 3), 'eth_syncing')) === false, 'eth_syncing to say false once caught up', 30_000)
  t.pass('eth_syncing is false once caught up')
})
