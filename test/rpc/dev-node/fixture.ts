import type { Test } from 'tap'
import { keccak256, numberToHex, toHex, type Hex } from 'viem'
import { privateKeyToAccount, type PrivateKeyAccount } from 'viem/accounts'
import { rpc, waitFor, type NodeProcess } from '../../helpers/node-process.ts'

/**
 * The dev nodes test/rpc/dev-node.test.ts shares among the JSON-RPC tests that need a real node
 * (a node's start costs ~2.4 CPU-s, more than most of these tests take to run), and what keeps the
 * tests on one node apart: each sends from accounts no other test on that node sends from.
 *
 * Dev accounts (the mnemonic's, by index) on the main node: 0 dev-signing (the authority too);
 * 1, 2 geth-methods; 3, 4 pricelimit; 6, 7 subscriptions-geth; 8, 9 dev-accounts (2 and 3 also
 * sign messages there, which moves no nonce); 5 pays for fundedAccount(). Everything else sends
 * from an account of its own from fundedAccount().
 */

/** One block a second (the tests wait on receipts), and a batch answer cap a test can reach (geth-methods). */
export const MAIN_ARGS = ['--dev.period', '1', '--rpc.batch-response-max-size', '100000']
/**
 * The runaway traces and simulations meet a 2 s --rpc.evmtimeout (trace, simulate): short, as each
 * burns a core until then, and long enough for a 25 MB trace to reach the size cap first on a busy machine.
 */
export const TIMEOUT_ARGS = ['--dev.period', '1', '--rpc.evmtimeout', '2s']
/**
 * Flags that would disturb the other tests, each read by one test only: calls on the main thread
 * (simulate's second test) and a 2 gwei tip floor (pricelimit's last test; nothing else sends here).
 */
export const ODD_ARGS = ['--dev.period', '1', '--rpc.callworkers', '0', '--rpc.evmtimeout', '1s', '--txpool.pricelimit', '2gwei']

/** A test file's part that runs on a node another part shares. */
export type NodeTests = (t: Test, node: NodeProcess) => Promise<void> | void

/** The dev mnemonic's account 5 (unlocked on a --dev node), which funds fundedAccount()'s keys. */
const FUNDER = '0x9965507D1a55bcC2695C58ba16FB37d819B0A4dc'
const ETH = 10n ** 18n

// One funding at a time: eth_sendTransaction takes its nonce from the pool's pending count.
let funding: Promise<unknown> = Promise.resolve()

/**
 * An account of its own for the test that names it (`name` picks the key, so a run is repeatable),
 * holding 1000 ETH on `node` once this resolves.
 */
export function fundedAccount(node: NodeProcess, name: string): Promise<PrivateKeyAccount> {
  const account = privateKeyToAccount(keccak256(toHex(`medrec test account: ${name}`)))
  const funded = funding.then(async () => {
    const hash = await rpc<Hex>(node.url, 'eth_sendTransaction', [{ from: FUNDER, to: account.address, value: numberToHex(1000n * ETH) }])
    const receipt = await waitFor(() => rpc<{ status: Hex } | null>(node.url, 'eth_getTransactionReceipt', [hash]), `the funding of ${name}`)
    if (receipt.status !== '0x1') throw new Error(`funding ${name} failed: ${JSON.stringify(receipt)}`)
    return account
  })
  funding = funded.catch(() => undefined)
  return funded
}
