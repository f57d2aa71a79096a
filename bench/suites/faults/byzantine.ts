/**
 * (f) Byzantine peers: a sealing authority is joined, one at a time, by peers made here with the
 * project's own p2p host (the same chain id and genesis, so the handshake succeeds):
 * - a liar whose status claims a head 1000 blocks ahead and whose headers are garbage;
 * - a peer gossiping garbage blocks; one gossiping garbage transactions.
 * Expected: each is banned (disconnected, its redial refused) within seconds, the reason in the
 * node's log, while the node keeps sealing at its period.
 */
import { randomBytes } from 'node:crypto'
import { hexToBytes } from '@ethereumjs/util'
import { errorMessage } from '../../../common/errors.ts'
import { createP2P, type P2P, type P2PModules } from '../../../p2p/index.ts'
import { createLocalNetwork, type Member } from '../../harness/local-network.ts'
import { rpc, sleep, toNumber } from '../../harness/rpc.ts'
import { keepNodeLogs } from '../node-logs.ts'
import { fmt, seconds, type Scenario, type ScenarioResult } from './scenario.ts'

const PERIOD = 1
const BAN_DEADLINE_MS = 60_000

interface Attacker {
  name: string
  /** The node must ban it for this reason. */
  reason: string
  modules(realHead: () => number): Partial<P2PModules>
  /** What it does once connected, until `stopped()`. */
  attack?(p2p: P2P, stopped: () => boolean): Promise<void>
}

const ATTACKERS: Attacker[] = [
  {
    name: 'lying status: a head 1000 blocks ahead, garbage headers',
    reason: 'false-status',
    modules: (realHead) => ({
      getHead: () => ({ head: { number: BigInt(realHead() + 1000), hash: randomBytes(32) }, totalDifficulty: BigInt(realHead() + 1000) * 2n }),
      getHeadersByRange: async (_from, count) => Array.from({ length: Math.min(count, 64) }, () => randomBytes(508)),
      getBlocksByRange: async () => [],
    }),
  },
  {
    name: 'invalid gossip: garbage blocks, 20/s',
    reason: 'gossip',
    modules: () => ({}),
    async attack(p2p, stopped) {
      while (!stopped()) {
        await p2p.publishBlock(randomBytes(600)).catch(() => 0)
        await sleep(50)
      }
    },
  },
  {
    name: 'invalid gossip: garbage transactions, 20/s',
    reason: 'gossip',
    modules: () => ({}),
    async attack(p2p, stopped) {
      while (!stopped()) {
        await p2p.publishTx(randomBytes(120)).catch(() => 0)
        await sleep(50)
      }
    },
  },
]

/** Runs one attacker against `target`; how long it stayed connected, and what the node did. */
async function runAttacker(a: Attacker, target: Member, genesisHash: Uint8Array, realHead: () => number) {
  const honest: P2PModules = {
    getHead: () => ({ head: { number: 0n, hash: genesisHash }, totalDifficulty: 1n }),
    validateTx: () => 'ignore',
    validateBlock: () => 'ignore',
    getBlocksByRange: async () => [],
    getHeadersByRange: async () => [],
  }
  let connectedAt: number | undefined
  let disconnectedAt: number | undefined
  const p2p = await createP2P(
    { chainId: 4242n, genesisHash, privateKey: randomBytes(32), listen: { host: '127.0.0.1', port: 0 }, bootnodes: [], statusIntervalMs: 1000, heartbeatIntervalMs: 200 },
    { ...honest, ...a.modules(realHead) },
  )
  let stopped = false
  try {
    p2p.on('peer:connected', () => (connectedAt ??= performance.now()))
    p2p.on('peer:disconnected', () => (disconnectedAt ??= performance.now()))
    await p2p.addPeer(target.enode!)
    const attacking = a.attack?.(p2p, () => stopped)
    const end = performance.now() + BAN_DEADLINE_MS
    while (disconnectedAt === undefined && performance.now() < end) await sleep(100)
    stopped = true
    await attacking
    // Banned means refused too, not only dropped: dial again and ask for its status. The node
    // drops the connection once noise names us, so the dial may "succeed" and the request fail.
    let reconnected = 0
    p2p.on('peer:connected', () => reconnected++)
    const nodeId = target.enode!.split('/p2p/')[1]!
    const redial =
      disconnectedAt === undefined
        ? 'not banned'
        : await p2p
            .addPeer(target.enode!)
            .then(() => p2p.requestStatus(nodeId))
            .then(
              () => 'accepted',
              (err: unknown) => `refused (${String((err as { code?: unknown }).code ?? errorMessage(err).slice(0, 40))})`,
            )
    if (reconnected > 0) return { connectedMs: NaN, redial: 'accepted (status handshake done again)', reason: '' }
    const id = p2p.peerId
    const line = target.node!.output().split('\n').find((l) => l.includes('Banned peer') && l.includes(id)) ?? ''
    return { connectedMs: connectedAt === undefined || disconnectedAt === undefined ? NaN : disconnectedAt - connectedAt, redial, reason: /reason=(\S+)/.exec(line)?.[1] ?? '(no ban logged)' }
  } finally {
    stopped = true
    await p2p.stop()
  }
}

export const byzantineScenario: Scenario = {
  name: 'byzantine',
  description: 'peers with a lying status or invalid gossip join a sealing authority: time to ban, the reason, redial refused, sealing unaffected',
  async run(): Promise<ScenarioResult> {
    const title = `Byzantine peers against one sealing authority (${PERIOD} s blocks)`
    const expectation = 'each attacker is disconnected and banned (redial refused) within seconds, the reason logged; the node seals on'
    const net = await createLocalNetwork(1, { period: PERIOD, logLevel: 'info' })
    const problems: string[] = []
    const rows: ScenarioResult['rows'] = []
    try {
      const m = await net.start(0)
      const url = m.node!.url
      const genesisHash = hexToBytes((await rpc<{ hash: `0x${string}` }>(url, 'eth_getBlockByNumber', ['0x0', false])).hash)
      let head = toNumber(await rpc<string>(url, 'eth_blockNumber'))
      const follow = setInterval(() => void rpc<string>(url, 'eth_blockNumber').then((h) => (head = toNumber(h)), () => undefined), 250)
      const h0 = head
      const t0 = performance.now()
      try {
        for (const a of ATTACKERS) {
          const r = await runAttacker(a, m, genesisHash, () => head)
          const ok = Number.isFinite(r.connectedMs) && r.redial.startsWith('refused') && r.reason.includes(a.reason)
          if (!ok) problems.push(`${a.name}: ${Number.isFinite(r.connectedMs) ? `reason ${r.reason}, redial ${r.redial}` : 'not banned'}`)
          rows.push({ metric: `${a.name}: connected → banned`, value: `${Number.isFinite(r.connectedMs) ? seconds(r.connectedMs) : 'never'}, reason ${r.reason}, redial ${r.redial}` })
        }
      } finally {
        clearInterval(follow)
      }
      const elapsed = (performance.now() - t0) / 1000
      const sealed = toNumber(await rpc<string>(url, 'eth_blockNumber')) - h0
      if (sealed < (elapsed / PERIOD) * 0.8) problems.push(`only ${sealed} blocks in ${fmt(elapsed, 0)} s`)
      rows.push({ metric: 'blocks sealed meanwhile', value: `${sealed} in ${fmt(elapsed, 0)} s` })
      if (problems.length > 0) rows.push({ metric: 'problems', value: problems.join('; ') })
      return { title, verdict: problems.length === 0 ? 'pass' : 'fail', expectation, rows }
    } finally {
      keepNodeLogs(net.members)
      await net.close()
    }
  },
}
