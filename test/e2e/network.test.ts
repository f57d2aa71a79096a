import t from 'tap'
import { createFeeMarket1559Tx } from '@ethereumjs/tx'
import { bytesToHex } from '@ethereumjs/util'
import { decodeFunctionResult, encodeFunctionData, type Hex } from 'viem'
import { AUTHORITY_SET_ADDRESS, authoritySetAbi } from '../../contracts/index.ts'
import { createChainCommon } from '../../evm/index.ts'
import { createTestNetwork, type TestNetwork } from '../helpers/network.ts'
import { rpc, waitFor } from '../helpers/node-process.ts'

/**
 * A PoA network of real node processes on 127.0.0.1 (issue 5): convergence, transactions from
 * any node, voting authorities in and out, a minority vote, and a restarted node catching up.
 */

// Several node processes on two cores: give the whole file room.
t.setTimeout(600_000)

interface BlockJson {
  hash: string
  stateRoot: string
  miner: string
  number: string
}

const url = (net: TestNetwork, i: number) => net.members[i]!.node!.url
const block = (net: TestNetwork, i: number, n: number | 'latest') => rpc<BlockJson | null>(url(net, i), 'eth_getBlockByNumber', [n === 'latest' ? n : `0x${n.toString(16)}`, false])
const tag = (n: number | 'latest') => (n === 'latest' ? n : `0x${n.toString(16)}`)
const signers = (net: TestNetwork, i: number, at: number | 'latest' = 'latest') => rpc<string[]>(url(net, i), 'clique_getSigners', [tag(at)])
/** The block's sealer (its `miner` is the Clique vote target, as in geth). */
const sealer = (net: TestNetwork, i: number, n: number) => rpc<string>(url(net, i), 'clique_getSigner', [`0x${n.toString(16)}`])

async function contractAuthorities(net: TestNetwork, i: number, at: number | 'latest' = 'latest'): Promise<string[]> {
  const data = encodeFunctionData({ abi: authoritySetAbi, functionName: 'authorities' })
  const out = await rpc<Hex>(url(net, i), 'eth_call', [{ to: AUTHORITY_SET_ADDRESS, data }, tag(at)])
  return decodeFunctionResult({ abi: authoritySetAbi, functionName: 'authorities', data: out }).map((a) => a.toLowerCase())
}

/** Waits until every running member has block `n` with the same hash and state root. */
async function converged(net: TestNetwork, n: number, running: number[], timeoutMs = 60_000): Promise<BlockJson> {
  return waitFor(
    async () => {
      const bs = await Promise.all(running.map((i) => block(net, i, n)))
      if (bs.some((b) => b === null)) return undefined
      const first = bs[0]!
      return bs.every((b) => b!.hash === first.hash && b!.stateRoot === first.stateRoot) ? first : undefined
    },
    `members ${running.join(',')} to agree on block ${n}`,
    timeoutMs,
  )
}

async function headNumber(net: TestNetwork, i: number): Promise<number> {
  return Number(BigInt(await rpc<string>(url(net, i), 'eth_blockNumber')))
}

t.test('four authorities converge, include transactions from any node, and vote a fifth in and out', async (t) => {
  const net = await createTestNetwork(5, { authorities: 4, period: 1 })
  t.teardown(() => net.close())
  await net.start(0)
  // The fifth member (not yet an authority) starts with the others: one start-up less to wait for later.
  await Promise.all([1, 2, 3, 4].map((i) => net.start(i)))
  const all = [0, 1, 2, 3]
  await converged(net, 5, all)
  t.pass('four nodes agree on block 5 (hash and state root)')
  t.equal(Number(BigInt(await rpc<string>(url(net, 0), 'net_peerCount'))) >= 1, true, 'node 0 has peers')

  // a transaction sent to node 3 is included and seen by node 0
  const common = createChainCommon({ chainId: 4242n, period: 1, epoch: 30000n })
  const sender = net.members[1]!
  const nonce = BigInt(await rpc<string>(url(net, 3), 'eth_getTransactionCount', [sender.address, 'pending']))
  const tx = createFeeMarket1559Tx({ nonce, to: net.members[2]!.address as Hex, value: 12345n, gasLimit: 21000n, maxFeePerGas: 10n ** 11n, maxPriorityFeePerGas: 10n ** 9n, chainId: 4242n }, { common }).sign(sender.key)
  const hash = await rpc<string>(url(net, 3), 'eth_sendRawTransaction', [bytesToHex(tx.serialize())])
  const receipt = await waitFor(() => rpc<{ blockNumber: string; status: string } | null>(url(net, 0), 'eth_getTransactionReceipt', [hash]), 'the transaction to be included', 30_000)
  t.equal(receipt.status, '0x1', 'included, and node 0 has the receipt')
  await converged(net, Number(BigInt(receipt.blockNumber)), all)

  // a minority vote (one of four) changes nothing
  const candidate = net.members[4]!
  await rpc(url(net, 0), 'clique_propose', [candidate.address, true])
  const startVote = await headNumber(net, 0)
  await waitFor(async () => (await headNumber(net, 0)) >= startVote + 8, 'eight more blocks')
  t.notOk((await signers(net, 1)).includes(candidate.address), 'one vote of four: still not a signer')
  const snap = await rpc<{ tally: Record<string, { authorize: boolean; votes: number }> }>(url(net, 1), 'clique_getSnapshot', [])
  t.same(snap.tally[candidate.address], { authorize: true, votes: 1 }, 'the tally holds exactly the one vote')
  t.same(await rpc(url(net, 0), 'clique_proposals'), { [candidate.address]: true })

  // a majority (three of four) votes it in; its node (running since the start) then seals
  await rpc(url(net, 1), 'clique_propose', [candidate.address, true])
  await rpc(url(net, 2), 'clique_propose', [candidate.address, true])
  await waitFor(async () => (await signers(net, 3)).includes(candidate.address), 'the candidate to be voted in', 60_000)
  const five = [...all, 4]
  await waitFor(async () => {
    const s = await Promise.all(five.map((i) => signers(net, i)))
    return s.every((x) => x.length === 5 && x.join() === s[0]!.join())
  }, 'every node to see five signers', 60_000).catch(async (err: Error) => {
    const heads = await Promise.all(five.map((i) => headNumber(net, i)))
    throw new Error(`${err.message}; heads ${heads.join(',')}; node 4 log:\n${net.members[4]!.node!.output().split('\n').filter((l) => /WARN|ERROR|Sync|reorg/i.test(l)).slice(-15).join('\n')}`)
  })
  const votedAt = await headNumber(net, 2)
  t.same(await contractAuthorities(net, 2, votedAt), (await signers(net, 2, votedAt)).slice().sort(), 'the AuthoritySet contract agrees with clique_getSigners')
  const sealedByCandidate = await waitFor(async () => {
    const head = await headNumber(net, 0)
    for (let n = head; n > head - 5 && n > 0; n--) {
      if ((await sealer(net, 0, n)) === candidate.address) return n
    }
    return undefined
  }, 'a block sealed by the new authority', 60_000)
  t.ok(sealedByCandidate > 0, `the new authority sealed block ${sealedByCandidate}`)

  // three of five vote it out again; it stops sealing and follows the chain
  for (const i of [0, 1, 2]) await rpc(url(net, i), 'clique_propose', [candidate.address, false])
  await waitFor(async () => !(await signers(net, 3)).includes(candidate.address), 'the authority to be voted out', 60_000)
  // Compare at one block: the head may move (or reorg around the vote) between two reads.
  const seenAt = await headNumber(net, 3)
  t.same(await contractAuthorities(net, 3, seenAt), (await signers(net, 3, seenAt)).slice().sort(), 'the contract follows the removal')
  await waitFor(async () => (await headNumber(net, 4)) >= seenAt + 6, 'the removed node to keep following the chain', 60_000)
  const after = await converged(net, seenAt + 6, five)
  // Where the removal took effect on the converged chain (a reorg may have moved it by a block).
  let droppedAt = Number(BigInt(after.number))
  while (droppedAt > 1 && !(await signers(net, 0, droppedAt - 1)).includes(candidate.address)) droppedAt--
  t.pass(`on the converged chain the removal took effect at block ${droppedAt} (node 3 first saw it at ${seenAt})`)
  for (let n = droppedAt + 1; n <= Number(BigInt(after.number)); n++) {
    t.not(await sealer(net, 0, n), candidate.address, `block ${n} is not sealed by the removed authority`)
  }

  // a node killed and restarted catches up
  await net.members[2]!.node!.kill()
  net.members[2]!.node = undefined
  const whileDown = await headNumber(net, 0)
  await waitFor(async () => (await headNumber(net, 0)) >= whileDown + 5, 'the others to seal on')
  await net.start(2)
  const target = await headNumber(net, 0)
  await converged(net, target, [0, 2], 60_000)
  t.pass(`the restarted node caught up to block ${target}`)
})
