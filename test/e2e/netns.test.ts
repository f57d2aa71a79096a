import t from 'tap'
import { createFeeMarket1559Tx } from '@ethereumjs/tx'
import { bytesToHex } from '@ethereumjs/util'
import type { Hex } from 'viem'
import { createNetnsLab, netnsUnavailable, type NetnsLab } from '../../bench/harness/netns.ts'
import { createChainCommon } from '../../evm/index.ts'
import { createTestNetwork, type TestNetwork } from '../helpers/network.ts'
import { keepLogsOnFailure, rpc, waitFor } from '../helpers/node-process.ts'
import { plainNode } from '../helpers/plain-node.ts'

/**
 * Four PoA authorities on four hosts (issue 19): each node in its own network namespace with its own
 * address, no loopback between them, all found through one bootnode. They join and seal; a 3|1
 * partition keeps the majority sealing while the lone authority stops by Clique's rule (it may seal
 * one block in three), and the heal converges; a 2|2 partition halts both sides by the same rule
 * and heals to one chain. Every transaction any node acknowledged, on either side of either cut,
 * is in the final chain that all four share.
 */

t.setTimeout(180_000)

interface Snapshot {
  number: number
  hash: string
  signers: Record<string, unknown>
  recents: Record<string, string>
}
interface Receipt {
  blockNumber: string
  blockHash: string
  status: string
}

const AUTHORITIES = 4
const PERIOD = 1

const skip = netnsUnavailable()

t.test('four authorities in separate network namespaces survive a 3|1 and a 2|2 partition with no transaction lost', { skip: skip ?? false }, async (t) => {
  const lab: NetnsLab = createNetnsLab(AUTHORITIES)
  let net: TestNetwork | undefined
  keepLogsOnFailure(t, () => (net?.members ?? []).map((m, i) => [`node${i}`, m.node]))
  t.teardown(async () => {
    await net?.close()
    lab.close()
  })
  net = await createTestNetwork(AUTHORITIES, {
    period: PERIOD,
    placement: (i) => ({ p2pAddr: lab.hosts[i]!.addr, rpcAddr: lab.hosts[i]!.rpcAddr, launch: lab.hosts[i]!.launch(plainNode) }),
  })
  const members = net.members
  const url = (i: number) => members[i]!.node!.url
  const all = [0, 1, 2, 3]
  const head = async (i: number) => Number(BigInt(await rpc<string>(url(i), 'eth_blockNumber')))
  const blockHash = async (i: number, n: number) => (await rpc<{ hash: string } | null>(url(i), 'eth_getBlockByNumber', [`0x${n.toString(16)}`, false]))?.hash
  const phase = (name: string, ms: number) => t.comment(`${name}: ${(ms / 1000).toFixed(1)} s`)

  // ---- join through one bootnode, over the bridge only ----
  let started = Date.now()
  await net.start(0)
  const boot = members[0]!.enode!
  t.match(boot, /^\/ip4\/10\.77\.0\.1\/tcp\/\d+\/p2p\//, 'the bootnode listens on its own namespace address')
  await Promise.all([1, 2, 3].map((i) => net!.start(i, { bootnodes: [boot] })))
  // A full mesh (found by peer exchange from the one bootnode), so that each side of a cut is connected.
  const peers = await waitFor(
    async () => {
      const ps = await Promise.all(all.map((i) => rpc<Array<{ network: { remoteAddress: string } }>>(url(i), 'admin_peers')))
      return ps.every((p) => p.length === AUTHORITIES - 1) ? ps : undefined
    },
    'every node to peer with the other three',
    60_000,
  )
  for (const [i, ps] of peers.entries()) {
    const others = ps.map((p) => /\/ip4\/([\d.]+)\//.exec(p.network.remoteAddress)?.[1]).sort()
    t.same(others, lab.hosts.filter((h) => h.index !== i).map((h) => h.addr).sort(), `node ${i} reaches the other three at their own addresses`)
  }
  phase('join', Date.now() - started)

  // Each node's own account sends to that node only, so nonces never race across a cut.
  const common = createChainCommon({ chainId: 4242n, period: PERIOD, epoch: 30000n })
  const nonces = all.map(() => 0n)
  const acked: Array<{ hash: string; to: number; when: string }> = []
  const send = async (i: number, when: string) => {
    const tx = createFeeMarket1559Tx(
      { nonce: nonces[i]!, to: members[(i + 1) % AUTHORITIES]!.address as Hex, value: 1n, gasLimit: 21000n, maxFeePerGas: 10n ** 11n, maxPriorityFeePerGas: 10n ** 9n, chainId: 4242n },
      { common },
    ).sign(members[i]!.key)
    const hash = await rpc<string>(url(i), 'eth_sendRawTransaction', [bytesToHex(tx.serialize())])
    nonces[i]!++
    acked.push({ hash, to: i, when })
  }
  const sendToAll = (when: string) => Promise.all(all.map((i) => send(i, when)))
  const signerOf = (i: number) => members[i]!.address.toLowerCase()
  /** Every one of `side`'s signers sealed too recently to seal on node `at`'s head: Clique forbids that side another block. */
  const halted = async (side: number[], at: number) => {
    const snap = await rpc<Snapshot>(url(at), 'clique_getSnapshot', [])
    const limit = Math.floor(Object.keys(snap.signers).length / 2) + 1
    const next = snap.number + 1
    const recent = new Set(Object.entries(snap.recents).filter(([n]) => next < limit + Number(n)).map(([, s]) => s.toLowerCase()))
    const sealers = side.map(signerOf)
    return sealers.every((s) => recent.has(s)) ? snap : undefined
  }
  /** Waits until the nodes share one block at least as high as `atLeast`; resolves with its number. */
  const converged = (nodes: number[], atLeast: number, what: string) =>
    waitFor(
      async () => {
        const n = Math.max(atLeast, Math.min(...(await Promise.all(nodes.map(head)))))
        const hashes = await Promise.all(nodes.map((i) => blockHash(i, n)))
        return hashes.every((h) => h !== undefined && h === hashes[0]) ? n : undefined
      },
      what,
      60_000,
    )

  await sendToAll('before any partition')
  await converged(all, 3, 'the four to agree on block 3')

  // ---- 3|1: the majority keeps sealing, the lone authority stops ----
  lab.partition([[0, 1, 2], [3]])
  started = Date.now()
  const cut1 = await head(0)
  await sendToAll('during 3|1')
  await waitFor(async () => (await Promise.all([0, 1, 2].map(head))).every((h) => h >= cut1 + 6), 'the three to seal six more blocks', 30_000)
  const majoritySealing = Date.now() - started
  const lone = await waitFor(() => halted([3], 3), 'the lone authority to have sealed within its signer-limit window', 30_000)
  t.ok(lone.number <= cut1 + 2, `the lone authority's chain stops at ${lone.number} (cut at ${cut1}) while the three seal on`)
  phase('3|1: three authorities sealed six blocks', majoritySealing)
  lab.heal()
  started = Date.now()
  const target1 = await head(0)
  await converged(all, target1, 'the four to converge after the 3|1 heal')
  phase('3|1 heal → one chain on all four', Date.now() - started)

  // ---- 2|2: both sides halt (no side has more than half), then heal to one chain ----
  lab.partition([[0, 1], [2, 3]])
  started = Date.now()
  const cut2 = await head(0)
  await sendToAll('during 2|2')
  const [left, right] = await Promise.all([
    waitFor(async () => (await halted([0, 1], 0)) !== undefined && (await halted([0, 1], 1)), 'side {0,1} to halt by the signer limit', 30_000),
    waitFor(async () => (await halted([2, 3], 2)) !== undefined && (await halted([2, 3], 3)), 'side {2,3} to halt by the signer limit', 30_000),
  ])
  t.ok(left.number <= cut2 + 2 && right.number <= cut2 + 2, `both sides halt within two blocks of the cut at ${cut2}: at ${left.number} and ${right.number}`)
  phase('2|2 → both sides halted', Date.now() - started)
  lab.heal()
  started = Date.now()
  await converged(all, Math.max(left.number, right.number) + 2, 'the four to seal on one chain after the 2|2 heal')
  phase('2|2 heal → sealing again on one chain on all four', Date.now() - started)

  // ---- no transaction lost ----
  started = Date.now()
  await sendToAll('after both heals')
  const receipts = await waitFor(
    async () => {
      const rs = await Promise.all(acked.map((a) => Promise.all(all.map((i) => rpc<Receipt | null>(url(i), 'eth_getTransactionReceipt', [a.hash])))))
      return rs.every((perNode) => perNode.every((r) => r !== null)) ? rs : undefined
    },
    `all ${acked.length} acknowledged transactions to be included on every node`,
    60_000,
  ).catch(async (err: Error) => {
    const missing = await Promise.all(acked.map(async (a) => ((await rpc<Receipt | null>(url(0), 'eth_getTransactionReceipt', [a.hash])) === null ? `${a.hash} (to node ${a.to}, ${a.when})` : undefined)))
    throw new Error(`${err.message}; missing on node 0: ${missing.filter((m) => m !== undefined).join(', ')}`)
  })
  const highest = Math.max(...receipts.flat().map((r) => Number(BigInt(r!.blockNumber))))
  const final = await converged(all, highest, 'the four to share the block of the last receipt')
  // Read again once the four share that block: the first receipts may come from two competing
  // blocks at the tip (two authorities sealing the same height), which fork choice then settles.
  const settled = await Promise.all(acked.map((a) => Promise.all(all.map((i) => rpc<Receipt | null>(url(i), 'eth_getTransactionReceipt', [a.hash])))))
  for (const [k, perNode] of settled.entries()) {
    const r = perNode[0]
    t.ok(r !== null && perNode.every((x) => x?.blockHash === r?.blockHash && x?.status === '0x1'), `${acked[k]!.when}, sent to node ${acked[k]!.to}: in block ${r === null ? '(none)' : Number(BigInt(r!.blockNumber))} on all four`)
  }
  // The receipts' blocks are canonical: each is the block at its number on the shared chain.
  for (const r of new Set(settled.map((perNode) => `${perNode[0]!.blockNumber} ${perNode[0]!.blockHash}`))) {
    const [n, hash] = r.split(' ')
    t.equal(await blockHash(0, Number(BigInt(n!))), hash, `block ${Number(BigInt(n!))} is canonical`)
  }
  t.pass(`all ${acked.length} acknowledged transactions are on the one chain the four share at block ${final}`)
  phase('last transactions included everywhere', Date.now() - started)
})
