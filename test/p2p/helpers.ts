import { createHash } from 'node:crypto'
import type { Test } from 'tap'
import { createLibp2p, type Libp2p } from 'libp2p'
import { tcp } from '@libp2p/tcp'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import { lpStream } from '@libp2p/utils'
import { createP2P, type ChainHead, type GossipResult, type P2P, type P2PInit, type P2PModules, type PeerIdStr, type Status } from '../../p2p/index.ts'
import { setLogLevel, setLogSink } from '../../common/logger.ts'
import { decodeStatusRequest, encodeStatusResponse, PROTOCOLS } from '../../p2p/wire.ts'

/** Log lines of this test process (debug level, not printed): tests look for penalty reasons. */
export const logs: string[] = []
setLogLevel('debug')
setLogSink((line) => {
  logs.push(line)
  if (process.env.P2P_TEST_LOG) process.stderr.write(line + '\n')
})

/** Penalty reasons logged for `peer` so far. */
export function penalties(peer: string): string[] {
  return logs.filter((l) => l.includes('Peer penalised') && l.includes(`peer=${peer}`)).map((l) => /reason=(\S+)/.exec(l)?.[1] ?? '?')
}

export const CHAIN_ID = 1337n
export const GENESIS = createHash('sha256').update('genesis').digest()

/** A deterministic node key. */
export function nodeKey(n: number): Uint8Array {
  return createHash('sha256').update(`node key ${n}`).digest()
}

export const HEAD: ChainHead = { head: { number: 7n, hash: createHash('sha256').update('head 7').digest() }, totalDifficulty: 15n }

/** Block `n` of the fake chain the default handlers serve: recognisable bytes. */
export function fakeBlock(n: bigint, size = 100): Uint8Array {
  const b = new Uint8Array(size).fill(Number(n % 251n) + 1)
  new DataView(b.buffer).setUint32(0, Number(n))
  return b
}
export function fakeHeader(n: bigint): Uint8Array {
  return fakeBlock(n, 40)
}

export interface Received {
  tx: { bytes: Uint8Array; from: PeerIdStr }[]
  block: { bytes: Uint8Array; from: PeerIdStr }[]
}

export interface TestNode {
  p2p: P2P
  received: Received
  /** Change what the validators answer. */
  verdict: { tx: GossipResult; block: GossipResult }
  head: ChainHead
}

/** A p2p node on 127.0.0.1:0 with fast timers; validators record what they see. */
export async function startNode(t: Test, n: number, init: Partial<P2PInit> = {}, modules: Partial<P2PModules> = {}): Promise<TestNode> {
  const received: Received = { tx: [], block: [] }
  const verdict = { tx: 'accept' as GossipResult, block: 'accept' as GossipResult }
  const node: Partial<TestNode> = { received, verdict, head: HEAD }
  const p2p = await createP2P(
    {
      chainId: CHAIN_ID,
      genesisHash: GENESIS,
      privateKey: nodeKey(n),
      listen: { host: '127.0.0.1', port: 0 },
      heartbeatIntervalMs: 100,
      requestTimeoutMs: 3000,
      statusIntervalMs: 0,
      dialIntervalMs: 100,
      dialBackoffMinMs: 100,
      dialBackoffMaxMs: 1000,
      ...init,
    },
    {
      getHead: () => node.head!,
      validateTx: (bytes, from) => {
        received.tx.push({ bytes, from })
        return verdict.tx
      },
      validateBlock: (bytes, from) => {
        received.block.push({ bytes, from })
        return verdict.block
      },
      getBlocksByRange: async (from, count) => Array.from({ length: count }, (_, i) => fakeBlock(from + BigInt(i))),
      getHeadersByRange: async (from, count) => Array.from({ length: count }, (_, i) => fakeHeader(from + BigInt(i))),
      ...modules,
    },
  )
  node.p2p = p2p
  t.teardown(() => p2p.stop())
  return node as TestNode
}

/** How many times `node`'s validator saw exactly these bytes. */
export function seen(node: TestNode, kind: 'tx' | 'block', bytes: Uint8Array): number {
  const want = Buffer.from(bytes)
  return node.received[kind].filter((r) => want.equals(r.bytes)).length
}

export async function waitFor(what: string, cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const until = Date.now() + timeoutMs
  while (!cond()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`)
    await sleep(20)
  }
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))

/** Waits until every pair is connected and handshaken (status known on both sides). */
export async function waitConnected(pairs: [TestNode, TestNode][], timeoutMs = 5000): Promise<void> {
  const linked = (a: TestNode, b: TestNode) => a.p2p.peers().some((p) => p.id === b.p2p.peerId && p.status !== null)
  await waitFor('connections', () => pairs.every(([a, b]) => linked(a, b) && linked(b, a)), timeoutMs)
}

/**
 * Publishes fresh messages from `from` until `to` has seen one (the gossip mesh forms at a
 * heartbeat after the subscriptions are exchanged); returns how many were sent.
 */
export async function warmUp(from: TestNode, to: TestNode, kind: 'tx' | 'block' = 'tx'): Promise<number> {
  const before = to.received[kind].length
  for (let i = 0; i < 100; i++) {
    const bytes = createHash('sha256').update(`warm-up ${kind} ${i} ${Math.random()}`).digest()
    // Before the subscriptions are exchanged a publish finds nobody (NO_PEERS): just try again.
    await (kind === 'tx' ? from.p2p.publishTx(bytes) : from.p2p.publishBlock(bytes)).catch((err: { code?: string }) => {
      if (err.code !== 'P2P_NO_PEERS') throw err
    })
    const until = Date.now() + 300
    while (Date.now() < until) {
      if (to.received[kind].length > before) return i + 1
      await sleep(20)
    }
  }
  throw new Error('gossip never arrived')
}

export type RawNode = Libp2p

/**
 * A bare libp2p host (no gossipsub) that answers the status handshake like a good peer,
 * for tests that misbehave on the request/response protocols; with `status` null it does not
 * speak the status protocol at all (a client that never handshakes).
 */
export async function startRawNode(t: Test, status: Status | null = { chainId: CHAIN_ID, genesisHash: GENESIS, ...HEAD }): Promise<RawNode> {
  const node = await createLibp2p({
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: { identify: identify() },
  })
  t.teardown(() => node.stop())
  if (status === null) return node
  await node.handle(PROTOCOLS.status, async (stream) => {
    const lp = lpStream(stream)
    decodeStatusRequest((await lp.read()).subarray())
    await lp.write(encodeStatusResponse(status))
    await stream.close()
  })
  return node
}
