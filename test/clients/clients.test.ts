import t from 'tap'
import { startDevNode } from '../helpers/node-process.ts'
import castTests from './cast.ts'
import ethersTests from './ethers.ts'
import { compileProbe, DEV_ARGS } from './fixture.ts'
import viemTests from './viem.ts'

/**
 * viem, ethers and cast against one real `--dev` node, one client after another (each was a file
 * with a node and a solc compile of its own: ~9 CPU-s more for the same assertions). Each client
 * deploys its own ClientProbe, so its reads see only its own writes. They send from the same dev
 * accounts (0-2, and 4 unlocked), which is safe one after another: each asks the node for its
 * nonces. Only the txpool tests' nonce-gapped transaction, which stays queued, needs an account per
 * client (mnemonic indexes 3, 5 and 6): the same transaction twice would be refused as known.
 *
 * One client: `npx tap test/clients/clients.test.ts --grep=^cast$`.
 */

const nodeStarting = startDevNode(t, DEV_ARGS)
const probe = compileProbe()
const node = await nodeStarting

const CLIENTS = [['viem', viemTests, 3], ['ethers', ethersTests, 5], ['cast', castTests, 6]] as const
for (const [name, tests, queued] of CLIENTS) await t.test(name, async (t) => tests(t, node, probe, queued))
