import t, { type Test } from 'tap'
import { cp, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { setLogLevel } from '../../common/logger.ts'
import { Chain } from '../../node/chain/index.ts'
import { serveRanges } from '../../node/sync/serve-ranges.ts'
import { stateKey } from '../../node/sync/state-serve.ts'
import { decodeStateRequest, encodeStateResponse, STATE_PROTOCOL } from '../../node/sync/state-wire.ts'
import { createP2P, type P2P } from '../../p2p/index.ts'
import { createTestNetwork, type TestNetwork } from '../helpers/network.ts'
import { rpc, tempDir, waitFor } from '../helpers/node-process.ts'
import { buildStateChain, type StateChain } from './state-chain.ts'

/**
 * State sync against peers that do not help (issue 23): one that answers trie nodes with bytes
 * that do not hash to what was asked is penalised and dropped while the sync completes from an
 * honest peer; with only peers that do not serve state (an older node without /medrec/state/1,
 * or one whose pivot state is gone) the node falls back to full sync and says why. The victim is
 * a real node process; the other peers are a real node process and libp2p hosts over TCP in this
 * test process, serving a copy of the same chain from a real LevelDB.
 */
t.setTimeout(400_000)
setLogLevel('error')

const q = (n: bigint) => `0x${n.toString(16)}`
type Head = { number: string; hash: string; stateRoot: string }

/**
 * A two-member network (member 0 the one authority) whose member 0 holds a built chain, plus a
 * copy of its data dir: built once for the file (building is most of a case's time) and shared.
 * Each case leaves it as it found it: no node running, the victim (member 1) back to its empty
 * data dir, the copy closed by the case's host.
 */
let shared: Promise<{ net: TestNetwork; built: StateChain; copy: string; emptyVictim: string }> | undefined
t.teardown(async () => {
  if (shared !== undefined) await (await shared).net.close()
})

async function buildShared(): Promise<{ net: TestNetwork; built: StateChain; copy: string; emptyVictim: string }> {
  const net = await createTestNetwork(2, { authorities: 1, period: 1 })
  const keys = new Map(net.members.map((m) => [m.address, m.key]))
  const built = await buildStateChain(net.members[0]!.datadir, net.genesis, keys, net.members[1]!.key, { blocks: 30, accountsPerBlock: 60, deployEvery: 5, slots: 20 })
  const dir = tempDir('medrec-state-copy-').path
  const copy = join(dir, 'node')
  const emptyVictim = join(dir, 'victim')
  await cp(net.members[0]!.datadir, copy, { recursive: true })
  await cp(net.members[1]!.datadir, emptyVictim, { recursive: true })
  return { net, built, copy, emptyVictim }
}

async function builtNetwork(t: Test): Promise<{ net: TestNetwork; built: StateChain; copy: string }> {
  shared ??= buildShared()
  const { net, built, copy, emptyVictim } = await shared
  t.teardown(async () => {
    await Promise.all([net.stop(0), net.stop(1)])
    const victim = net.members[1]!.datadir
    await rm(victim, { recursive: true, force: true })
    await cp(emptyVictim, victim, { recursive: true })
  })
  return { net, built, copy }
}

/**
 * A chain peer serving the copied chain's headers and blocks, and state as `state` says:
 * 'garbage' (random bytes for every item), 'empty' (lacks everything), 'none' (no state protocol).
 */
/** Requests the 'slow' host refused for asking more than it takes. */
let refusals = 0

async function startHost(t: Test, net: TestNetwork, datadir: string, state: 'garbage' | 'empty' | 'none' | 'slow', keyByte: number): Promise<{ host: P2P; chain: Chain }> {
  const chain = await Chain.open(datadir, net.genesis)
  const host = await createP2P(
    { chainId: 4242n, genesisHash: chain.genesisHash, privateKey: new Uint8Array(32).fill(keyByte), listen: { host: '127.0.0.1', port: 0 }, bootnodes: [], discovery: false },
    {
      getHead: () => ({ head: { number: chain.head.block.header.number, hash: chain.head.block.hash() }, totalDifficulty: chain.head.totalDifficulty }),
      validateTx: () => 'ignore',
      validateBlock: () => 'ignore',
      ...serveRanges(chain),
    },
  )
  if (state === 'garbage' || state === 'empty') host.handle(STATE_PROTOCOL, async (frame) => encodeStateResponse(decodeStateRequest(frame).map(() => (state === 'garbage' ? randomBytes(80) : new Uint8Array()))))
  if (state === 'slow') {
    // Honest, 64 items and 400 ms a request: a download long enough to be killed in the middle.
    // It takes at most 64 items a request and refuses more in an earlier server's words (as a
    // server before 8,192-item requests refuses more than 384), so the client must learn to ask it for 64.
    host.handle(STATE_PROTOCOL, async (frame) => {
      await new Promise((r) => setTimeout(r, 400))
      const asked = decodeStateRequest(frame)
      if (asked.length > 64) {
        refusals++
        throw new Error(`a state request asks for at most 64 items, not ${asked.length}`)
      }
      const items = asked
      return encodeStateResponse(await Promise.all(items.map(async (it) => (await chain.store.state.get(stateKey(it.kind, it.hash))) ?? new Uint8Array())))
    })
  }
  t.teardown(async () => {
    await host.stop()
    await chain.close()
  })
  return { host, chain }
}

t.test('a peer serving wrong bytes for a hash is penalised and dropped; the sync completes from an honest peer', async (t) => {
  const { net, built, copy } = await builtNetwork(t)
  const { host: liar } = await startHost(t, net, copy, 'garbage', 11)
  await net.start(0, { sealer: false, bootnodes: [] })
  const victim = await net.start(1, { sealer: false, bootnodes: [liar.listenAddrs()[0]!, net.members[0]!.enode!], args: ['--syncmode', 'snap'] })
  const done = await waitFor(async () => /State sync done[^\n]*pivot=(\d+)/.exec(victim.node!.output()), 'the state sync to finish', 120_000)
  const out = victim.node!.output()
  t.match(out, new RegExp(`State sync: peer dropped[^\\n]*peer=${liar.peerId}[^\\n]*hashes to`), 'the liar was dropped for a value that does not hash to what was asked')
  t.notMatch(out, /falling back to full sync/, 'no fallback: the honest peer served the state')
  await waitFor(async () => !(await rpc<Array<{ id: string }>>(victim.node!.url, 'admin_peers')).some((p) => p.id === liar.peerId), 'the liar to be disconnected', 30_000)
  t.pass('the liar was penalised to a ban: disconnected')
  const pivot = BigInt(done[1]!)
  const [mine, theirs] = await Promise.all([rpc<Head>(victim.node!.url, 'eth_getBlockByNumber', [q(pivot), false]), rpc<Head>(net.members[0]!.node!.url, 'eth_getBlockByNumber', [q(pivot), false])])
  t.equal(mine.stateRoot, theirs.stateRoot, `the pivot ${pivot}'s state root is the honest peer's`)
  const last = built.paid.filter((p) => p.block <= pivot).pop()!
  t.equal(BigInt(await rpc<string>(victim.node!.url, 'eth_getBalance', [last.address, q(pivot)])), last.value, 'and its state answers')
  await waitFor(async () => (await rpc<Head>(victim.node!.url, 'eth_getBlockByNumber', ['latest', false])).hash === (await rpc<Head>(net.members[0]!.node!.url, 'eth_getBlockByNumber', ['latest', false])).hash, 'the victim to reach the head')
  t.pass('the victim reached the honest head')
})

for (const state of ['none', 'empty'] as const) {
  t.test(`with only a peer that ${state === 'none' ? 'does not speak the state protocol' : 'lacks the pivot state'}, the node falls back to full sync`, async (t) => {
    const { net, built, copy } = await builtNetwork(t)
    const { host: peer } = await startHost(t, net, copy, state, 12)
    const victim = await net.start(1, { sealer: false, bootnodes: [peer.listenAddrs()[0]!], args: ['--syncmode', 'snap'] })
    await waitFor(async () => /State sync not possible: falling back to full sync/.test(victim.node!.output()), 'the fallback', 120_000)
    t.match(victim.node!.output(), state === 'none' ? /falling back to full sync[^\n]*does not serve \/medrec\/state\/1|falling back to full sync[^\n]*no peer serves \/medrec\/state\/1/ : /falling back to full sync[^\n]*no peer served the state of 3 pivots/, 'the log says why')
    await waitFor(async () => BigInt((await rpc<Head>(victim.node!.url, 'eth_getBlockByNumber', ['latest', false])).number) >= built.head, 'the full sync to reach the head', 120_000)
    t.not(await rpc(victim.node!.url, 'eth_getTransactionReceipt', [built.contracts[0]!.tx]), null, 'full sync executed block 1: its receipt is there')
    t.notMatch(victim.node!.output(), /State sync done/, 'no state sync happened')
  })
}

t.test('killed in the middle of the state download, the node never takes the half state for a head, and a restart completes it', async (t) => {
  const { net, built, copy } = await builtNetwork(t)
  const { host, chain: source } = await startHost(t, net, copy, 'slow', 13)
  let victim = await net.start(1, { sealer: false, bootnodes: [host.listenAddrs()[0]!], args: ['--syncmode', 'snap'] })
  await waitFor(async () => {
    const s = await rpc<false | Record<string, string>>(victim.node!.url, 'eth_syncing')
    return s !== false && s.syncedAccounts !== undefined && BigInt(s.syncedAccounts) > 0n && BigInt(s.healingTrienodes ?? '0x0') > 0n
  }, 'the download to be under way', 120_000)
  t.notMatch(victim.node!.output(), /State sync done/, 'killed before it finished')
  await victim.node!.kill()
  // What the killed node left: its head is still the genesis, whatever trie nodes it wrote.
  const left = await Chain.open(victim.datadir, net.genesis)
  t.equal(left.head.block.header.number, 0n, 'after the kill the head is the genesis: a half-downloaded state is never a head')
  await left.close()
  victim = await net.start(1, { sealer: false, bootnodes: [host.listenAddrs()[0]!], args: ['--syncmode', 'snap'] })
  const done = await waitFor(async () => /State sync done[^\n]*pivot=(\d+)/.exec(victim.node!.output()), 'the restarted sync to finish', 180_000)
  const pivot = BigInt(done[1]!)
  const want = (await source.blockByNumber(pivot))!.header.stateRoot
  const got = await rpc<Head>(victim.node!.url, 'eth_getBlockByNumber', [q(pivot), false])
  t.equal(got.stateRoot, `0x${Buffer.from(want).toString('hex')}`, `the restarted node completed the state of pivot ${pivot}`)
  const last = built.paid.filter((p) => p.block <= pivot).pop()!
  t.equal(BigInt(await rpc<string>(victim.node!.url, 'eth_getBalance', [last.address, q(pivot)])), last.value, 'and it answers from it')
  t.ok(refusals > 0 && refusals < 20, `asked for more than the peer takes, it learned the peer's limit from its refusal (${refusals} refused)`)
})
