import t from 'tap'
import { join } from 'node:path'
import { createFeeMarket1559Tx } from '@ethereumjs/tx'
import { Address, createContractAddress, hexToBytes } from '@ethereumjs/util'
import { setLogLevel } from '../../common/logger.ts'
import { toData, toQuantity } from '../../common/hex.ts'
import { Chain } from '../../node/chain/index.ts'
import { DEV_KEYS, addressOf, testGenesis } from '../helpers/chain.ts'
import { rpc, rpcRaw, startNodeProcess, tempDir, waitFor, type NodeProcess } from '../helpers/node-process.ts'

setLogLevel('error')

/**
 * Runtime: for i in 0..63, SSTORE(i, i + NUMBER); 64 slots rewritten by every call, so every
 * block makes about a hundred trie nodes dead. Init code copies the 19-byte runtime out.
 */
const SPRAY_INITCODE = hexToBytes('0x601380600b6000396000f360005b80430181556001018060401160025700')
const KEY = DEV_KEYS[1]!
const SENDER = new Address(addressOf(KEY))
const SPRAY = createContractAddress(SENDER, 0n)
const RECENT = 16

const slotValue = async (url: string, slot: number, block: bigint): Promise<bigint> => BigInt(await rpc<string>(url, 'eth_getStorageAt', [SPRAY.toString(), toQuantity(BigInt(slot)), toQuantity(block)]))

/** Whether block `n` holds a call of the spray contract (the dev node's own set-up transactions do not count). */
async function sprayedIn(url: string, n: bigint): Promise<boolean> {
  const b = await rpc<{ transactions: Array<{ to: string | null }> }>(url, 'eth_getBlockByNumber', [toQuantity(n), true])
  return b.transactions.some((tx) => tx.to?.toLowerCase() === SPRAY.toString().toLowerCase())
}

/**
 * A --gcmode full node process with a 16-block window under a stream of storage writes, killed
 * with SIGKILL the moment a prune cycle starts, three times: after each restart every block of
 * the window answers its state (values and proofs), and old blocks are refused over JSON-RPC
 * with -32000 "missing trie node ... --gcmode archive".
 */
t.test('SIGKILL during state pruning loses nothing in the window; older state is refused with a clear error', async (t) => {
  const dir = tempDir()
  t.teardown(() => dir.remove())
  const scratch = await Chain.open(join(dir.path, 'scratch'), testGenesis())
  const common = scratch.common
  await scratch.close()
  const sign = (nonce: bigint, to: Address | undefined, data: Uint8Array): string =>
    toData(createFeeMarket1559Tx({ nonce, to, data, gasLimit: 1_600_000n, maxFeePerGas: 10_000_000_000n, maxPriorityFeePerGas: 1n, chainId: 1337n }, { common }).sign(KEY).serialize())
  const args = ['--dev', '--dev.period', '0', '--gcmode', 'full', '--state.recent', String(RECENT)]
  const datadir = join(dir.path, 'node')
  let node: NodeProcess = await startNodeProcess(args, { datadir, timeoutMs: 180_000 })
  t.teardown(() => node.stop({ killAfterMs: 10_000 }))
  const deployHash = await rpc<string>(node.url, 'eth_sendRawTransaction', [sign(0n, undefined, SPRAY_INITCODE)])
  await waitFor(async () => (await rpc(node.url, 'eth_getTransactionReceipt', [deployHash])) !== null, 'the spray contract deployed', 60_000)

  /** Sends spray calls one after another from the account's next nonce until `stop()`. */
  const pump = (url: string, stop: () => boolean) =>
    (async () => {
      let nonce = BigInt(await rpc<string>(url, 'eth_getTransactionCount', [SENDER.toString(), 'latest']))
      while (!stop()) {
        const ok = await rpc(url, 'eth_sendRawTransaction', [sign(nonce, SPRAY, new Uint8Array())]).then(
          () => true,
          () => false,
        )
        if (!ok) return
        nonce++
        // A few in the pool at a time: blocks of one to a few calls, sealed as they come.
        while (nonce % 4n === 0n && !stop()) {
          // An error is a node that is gone (killed): stop waiting.
          const included = await rpc<string>(url, 'eth_getTransactionCount', [SENDER.toString(), 'latest']).then((n) => BigInt(n) >= nonce - 2n, () => true)
          if (included) break
          await new Promise((r) => setTimeout(r, 20))
        }
      }
    })()

  /** Every block of the window answers slot values that match its own block number and proofs. */
  const checkWindow = async (url: string, label: string) => {
    const head = BigInt(await rpc<string>(url, 'eth_blockNumber'))
    let bad = 0
    for (let n = head - BigInt(RECENT) + 1n; n <= head; n++) {
      if (n < 2n) continue
      // The value every slot holds at block n: NUMBER of the last block up to n with a call (0 before the first).
      let last = n
      while (last > 0n && !(await sprayedIn(url, last))) last--
      const s0 = await slotValue(url, 0, n)
      const s63 = await slotValue(url, 63, n)
      const proof = await rpcRaw(url, 'eth_getProof', [SPRAY.toString(), ['0x0', '0x3f'], toQuantity(n)])
      const want = last === 0n ? [0n, 0n] : [last, last + 63n]
      if (s0 !== want[0] || s63 !== want[1] || proof.error !== undefined) {
        bad++
        t.comment(`block ${n}: slot 0 ${s0}, slot 63 ${s63}, expected ${want[0]}/${want[1]}${proof.error === undefined ? '' : `, proof: ${proof.error.message}`}`)
      }
    }
    t.equal(bad, 0, `${label}: every block of the window ${head - BigInt(RECENT) + 1n}..${head} answers its own state`)
    return head
  }

  let midCycle = 0
  for (let round = 0; round < 3; round++) {
    const before = BigInt(await rpc<string>(node.url, 'eth_blockNumber'))
    let killed = false
    const current = node
    // SIGKILL on the line that starts a cycle, from the pipe's own handler: no poll in between.
    // Not the cycle a restart starts at once (little to delete): one at least a window later.
    let seen = ''
    current.proc.stderr!.on('data', (chunk: Buffer) => {
      seen += chunk.toString()
      if (killed) return
      const due = [...seen.matchAll(/Pruning state\s.*?head=(\d+)/g)].some((m) => BigInt(m[1]!) >= before + BigInt(RECENT))
      if (due) {
        killed = true
        current.proc.kill('SIGKILL')
      }
    })
    await pump(current.url, () => killed)
    await current.exited
    t.ok(killed, `round ${round}: killed as a prune cycle started (head was ${before})`)
    const after = seen.slice(seen.lastIndexOf('Pruning state'))
    if (!after.includes('Pruned state')) midCycle++
    node = await startNodeProcess(args, { datadir, timeoutMs: 180_000 })
    await checkWindow(node.url, `round ${round}, after the restart`)
  }
  t.comment(`${midCycle} of 3 kills landed before the cycle's end line`)

  // The node goes on: a full cycle completes, and what it dropped is refused over JSON-RPC.
  let stopPump = false
  const running = pump(node.url, () => stopPump)
  let keptFrom = 0n
  await waitFor(
    async () => {
      const m = [...node.output().matchAll(/Pruned state .*?keptFrom=(\d+)/g)].pop()
      if (m !== undefined) keptFrom = BigInt(m[1]!)
      return keptFrom > 3n
    },
    'a completed prune cycle',
    120_000,
  )
  stopPump = true
  await running
  // What is still in the pool makes more blocks (and may start a cycle): the window moves until it is in.
  await waitFor(async () => (await rpc<string>(node.url, 'eth_getTransactionCount', [SENDER.toString(), 'latest'])) === (await rpc<string>(node.url, 'eth_getTransactionCount', [SENDER.toString(), 'pending'])), 'the pool drained', 120_000)
  const head = await checkWindow(node.url, 'after a completed cycle')
  t.ok(head - keptFrom < BigInt(RECENT) * 3n)
  // The newest block below the window whose state is gone: an empty block at the window's edge
  // has the same state root as the oldest kept one (that state is kept, rightly answered).
  const rootAt = async (n: bigint) => (await rpc<{ stateRoot: string }>(node.url, 'eth_getBlockByNumber', [toQuantity(n), false])).stateRoot
  const keptRoot = await rootAt(keptFrom)
  let pruned = keptFrom - 1n
  while ((await rootAt(pruned)) === keptRoot) pruned--
  const old = toQuantity(pruned)
  for (const [method, params] of [
    ['eth_getStorageAt', [SPRAY.toString(), '0x0', old]],
    ['eth_getBalance', [SENDER.toString(), old]],
    ['eth_getProof', [SPRAY.toString(), ['0x0'], old]],
    ['eth_call', [{ to: SPRAY.toString() }, old]],
  ] as const) {
    const r = await rpcRaw(node.url, method, [...params])
    t.equal(r.error?.code, -32000, `${method} at pruned block ${pruned}: -32000`)
    t.match(r.error?.message ?? '', /missing trie node 0x[0-9a-f]{64} \(path \).*--gcmode archive/, `${method}: names the missing node and the fix`)
  }
  t.equal(BigInt(await rpc<string>(node.url, 'eth_getBalance', [SENDER.toString(), toQuantity(keptFrom)])) > 0n, true, `block ${keptFrom}, the oldest kept, answers`)
})
