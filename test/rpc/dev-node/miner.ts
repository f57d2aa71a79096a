import type { Test } from 'tap'
import { rpc, waitFor, type NodeProcess } from '../../helpers/node-process.ts'

/** miner_* and eth_mining/eth_coinbase/eth_hashrate on a proof-of-authority dev node (the shared main node of test/rpc/dev-node.test.ts). */
const DEV0 = '0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266'

export default function miner(t: Test, node: NodeProcess): void {
  t.test('on a PoA chain the authority is the etherbase: mining can stop and start, the author cannot change', async (t) => {
    t.teardown(() => rpc(node.url, 'miner_start'))
    const u = node.url
    t.equal(await rpc<boolean>(u, 'eth_mining'), true, 'an authority seals from the start')
    t.equal(await rpc<string>(u, 'eth_coinbase'), DEV0)
    t.equal(await rpc<string>(u, 'eth_hashrate'), '0x0', 'signing is not hashing')
    await t.rejects(rpc(u, 'miner_setEtherbase', ['0x' + 'b2'.repeat(20)]), /seals as 0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266 with its key; it cannot author blocks for/)
    t.equal(await rpc<string>(u, 'eth_coinbase'), DEV0, 'unchanged')
    await t.rejects(rpc(u, 'miner_start', ['lots']), /invalid/i)
    t.equal(await rpc(u, 'miner_stop'), null)
    t.equal(await rpc<boolean>(u, 'eth_mining'), false)
    const last = await rpc<{ number: string; timestamp: string }>(u, 'eth_getBlockByNumber', ['latest', false])
    const stopped = Number(BigInt(last.number))
    // The barrier is the chain's own schedule: at a 1 s period, blocks stopped + 1 and + 2 were due by its timestamp + 2 s,
    // so once the clock is past that (+1 s for the block that may have been in flight), a running sealer would have sealed them.
    const due = (Number(BigInt(last.timestamp)) + 3) * 1000
    await new Promise((r) => setTimeout(r, Math.max(0, due - Date.now())))
    t.ok(Number(BigInt(await rpc<string>(u, 'eth_blockNumber'))) <= stopped + 1, 'no new blocks while stopped (one may have been in flight)')
    t.equal(await rpc(u, 'miner_start'), null)
    await waitFor(async () => Number(BigInt(await rpc<string>(u, 'eth_blockNumber'))) > stopped + 1, 'sealing to resume', 15_000)
    t.equal(await rpc<boolean>(u, 'eth_mining'), true)
    await t.rejects(rpc(u, 'clique_getSigners', [1, 2]), /too many arguments/, 'the clique API is there on PoA')
  })
}
