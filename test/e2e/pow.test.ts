import t, { type Test } from 'tap'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { medrec } from '../cli/run-cli.ts'
import type { BountyResult, BountyView } from '../../gatekeeper/api.ts'
import { createTestNetwork, gatekeeperArgs, type TestNetwork } from '../helpers/network.ts'
import { rpc, waitFor } from '../helpers/node-process.ts'

/**
 * Proof of work with bounties across three real node processes on 127.0.0.1: two mining nodes
 * (one thread each, each collecting as its own etherbase) and a provider node that does not
 * mine. A record update carries a bounty; the miner that mined its block collects the
 * k-anonymous aggregate from the provider's gatekeeper, the other miner cannot.
 */

t.setTimeout(300_000)
let net: TestNetwork
const [PROVIDER, MINER1, MINER2] = [0, 1, 2] as const
const url = (i: number) => net.members[i]!.node!.url
interface RpcBlock { number: string; hash: string; miner: string; difficulty: string }

async function cli(t: Test, member: number, args: string[], expect = 0): Promise<{ json: unknown; stderr: string; stdout: string }> {
  const r = await medrec([...args, '--rpc', url(member), '--datadir', net.members[member]!.datadir])
  t.equal(r.code, expect, `medrec ${args.slice(0, 2).join(' ')} on ${net.members[member]!.name} exits ${expect}${r.code === expect ? '' : `: ${r.stderr}`}`)
  let json: unknown
  try {
    json = JSON.parse(r.stdout)
  } catch {
    json = undefined
  }
  return { json, stderr: r.stderr, stdout: r.stdout }
}

t.before(async () => {
  // Two miners at ~100k hashes/s each make a 1 s target difficulty of about 200k.
  net = await createTestNetwork(3, { authorities: 1, pow: { targetBlockTime: 1, difficulty: 100_000n } })
  await net.start(PROVIDER, { args: gatekeeperArgs(net.members[PROVIDER]!, ['--gatekeeper.k', '1']) })
  // Both miners join through the provider, at once; the second as a researcher would run it: `medrec mine`.
  await Promise.all([
    net.start(MINER1, { miner: true, args: gatekeeperArgs(net.members[MINER1]!) }),
    net.start(MINER2, { miner: true, command: 'mine', args: gatekeeperArgs(net.members[MINER2]!) }),
  ])
})
t.teardown(() => net?.close())

t.test('two miners mine one chain: mining RPC, miner field, convergence', async (t) => {
  const [m1, m2] = [net.members[MINER1]!.address, net.members[MINER2]!.address]
  t.equal(await rpc<boolean>(url(MINER1), 'eth_mining'), true)
  t.equal(await rpc<boolean>(url(PROVIDER), 'eth_mining'), false, 'the provider node does not mine')
  t.equal(await rpc<string>(url(MINER1), 'eth_coinbase'), m1)
  await t.rejects(rpc(url(PROVIDER), 'miner_start'), /no etherbase/, 'a node without an etherbase cannot start mining')
  await t.rejects(rpc(url(MINER1), 'clique_getSigners'), /does not exist/, 'no clique API on a proof-of-work chain')
  // Both miners have blocks on the chain everyone agrees on.
  const miners = await waitFor(async () => {
    const head = Number(BigInt(await rpc<string>(url(PROVIDER), 'eth_blockNumber')))
    const seen = new Set<string>()
    for (let n = 1; n <= head; n++) seen.add((await rpc<RpcBlock>(url(PROVIDER), 'eth_getBlockByNumber', [`0x${n.toString(16)}`, false])).miner)
    return seen.has(m1) && seen.has(m2) ? seen : undefined
  }, 'blocks by both miners', 90_000)
  t.same([...miners].sort(), [m1, m2].sort(), 'every block names one of the two miners')
  t.ok(Number(BigInt(await rpc<string>(url(MINER1), 'eth_hashrate'))) > 0, 'eth_hashrate reports the hashing')
  const agreed = await waitFor(async () => {
    const heads = await Promise.all([PROVIDER, MINER1, MINER2].map(async (i) => Number(BigInt(await rpc<string>(url(i), 'eth_blockNumber')))))
    const n = `0x${(Math.min(...heads) - 2).toString(16)}`
    const hashes = await Promise.all([PROVIDER, MINER1, MINER2].map(async (i) => (await rpc<RpcBlock>(url(i), 'eth_getBlockByNumber', [n, false])).hash))
    return new Set(hashes).size === 1 ? hashes[0] : undefined
  }, 'the three nodes to agree two blocks below their heads', 60_000)
  t.ok(agreed, 'one chain')
})

t.test('a record update carries a bounty; its block\'s miner collects the aggregate, the other miner cannot', async (t) => {
  const file = join(net.members[PROVIDER]!.datadir, 'obs.json')
  writeFileSync(file, JSON.stringify([
    { resourceType: 'Observation', id: 'a1c-1', status: 'final', code: { coding: [{ system: 'http://loinc.org', code: '4548-4', display: 'HbA1c' }] }, valueQuantity: { value: 6.1, unit: '%' }, effectiveDateTime: '2026-10-01T09:00:00Z' },
  ]))
  const patient = net.members[PROVIDER]!.address.replace(/.$/, (c) => (c === '1' ? '2' : '1'))
  await cli(t, PROVIDER, ['provider', 'add-patient', '--identity', 'bob-1980', '--address', patient, '--json'])
  await cli(t, PROVIDER, ['provider', 'add-record', '--identity', 'bob-1980', '--resource', file, '--json'])
  // Whoever mined the update's block owns the bounty, on the chain all three agree on.
  const owner = await waitFor(async () => {
    const lists = await Promise.all([MINER1, MINER2].map((i) => rpc<BountyView[]>(url(i), 'medrec_bounties', [{}])))
    const owners = [MINER1, MINER2].filter((_, j) => lists[j]!.length > 0)
    if (owners.length !== 1) return undefined
    const b = lists[owners[0]! === MINER1 ? 0 : 1]![0]!
    const head = Number(BigInt(await rpc<string>(url(PROVIDER), 'eth_blockNumber')))
    if (head < b.blockNumber + 3) return undefined // a few confirmations: no reorg will move it
    return { member: owners[0]!, bounty: b }
  }, 'the bounty to be owned by one miner, 3 blocks deep', 90_000)
  const other = owner.member === MINER1 ? MINER2 : MINER1
  const block = await rpc<RpcBlock>(url(PROVIDER), 'eth_getBlockByNumber', [`0x${owner.bounty.blockNumber.toString(16)}`, false])
  t.equal(block.miner, net.members[owner.member]!.address, "the bounty's owner is the miner of the update's block")
  t.match(owner.bounty.query, /Observation/)

  const listed = (await cli(t, owner.member, ['bounty', 'list', '--json'])).json as BountyView[]
  t.equal(listed.length, 1)
  t.equal(listed[0]!.collected, false)
  const res = (await cli(t, owner.member, ['bounty', 'collect', '--index', '0', '--json'])).json as BountyResult
  t.equal(res.provider.toLowerCase(), net.members[PROVIDER]!.address)
  t.equal(res.signer.toLowerCase(), res.provider.toLowerCase(), "signed by the provider's key")
  t.same(res.cells.map((c) => ({ code: c.group.code, patients: c.patients })), [{ code: '4548-4', patients: 1 }], 'the aggregate: one patient with an HbA1c')
  const csv = (await cli(t, owner.member, ['bounty', 'export', '--csv'])).stdout.split(/\r?\n/)
  t.equal(csv[0], 'index,relationship,provider,k,group.code,patients,records,value')
  t.match(csv[1], new RegExp(`^0,${res.relationship},${res.provider},1,4548-4,1,1,`, 'i'), 'the stored aggregate, as CSV')
  t.equal(((await cli(t, owner.member, ['bounty', 'list', '--json'])).json as BountyView[])[0]!.collected, true)

  t.same((await cli(t, other, ['bounty', 'list', '--json'])).json, [], 'the other miner owns no bounty')
  const refused = await cli(t, other, ['bounty', 'collect', '--index', '0'], 1)
  t.match(refused.stderr, /owns no bounty #0/)
})

t.test('miner_* control: a node starts mining over RPC, changes etherbase between blocks, and stops', async (t) => {
  const u = url(PROVIDER)
  const [a, b] = ['0x' + 'a1'.repeat(20), '0x' + 'b2'.repeat(20)]
  await t.rejects(rpc(u, 'miner_setEtherbase', ['0x1234']), /invalid/i, 'a malformed address is refused')
  t.equal(await rpc<boolean>(u, 'miner_setEtherbase', [a]), true)
  t.equal(await rpc<string>(u, 'eth_coinbase'), a)
  await t.rejects(rpc(u, 'miner_start', [0]), /threads must be between 1 and 256/)
  t.equal(await rpc(u, 'miner_start', [1]), null)
  t.equal(await rpc<boolean>(u, 'eth_mining'), true)
  const minedBy = async (who: string) =>
    waitFor(async () => {
      const head = await rpc<RpcBlock>(u, 'eth_getBlockByNumber', ['latest', false])
      return head.miner === who ? head : undefined
    }, `a block mined for ${who}`, 90_000)
  await minedBy(a)
  t.equal(await rpc<boolean>(u, 'miner_setEtherbase', [b]), true, 'the etherbase changes while mining')
  await minedBy(b)
  t.equal(await rpc(u, 'miner_stop'), null)
  t.equal(await rpc<boolean>(u, 'eth_mining'), false)
  t.equal(await rpc<string>(u, 'eth_hashrate'), '0x0', 'no hashing once stopped')
})
