import t from 'tap'
import { join } from 'node:path'
import { bytesToHex } from '@ethereumjs/util'
import { Chain } from '../../node/chain/index.ts'
import { readGenesisFile } from '../../node/genesis/index.ts'
import { setLogLevel } from '../../common/logger.ts'
import { testGenesis, txFactory } from '../helpers/chain.ts'
import { rpc, startNodeProcess, tempDir, waitFor } from '../helpers/node-process.ts'
import { toData } from '../../common/hex.ts'

setLogLevel('error')

/**
 * SIGKILL while the node is sealing and committing blocks under load, three times at
 * random moments; after each restart the head is a complete block whose state root matches
 * a re-execution of the whole chain from genesis.
 */
t.test('SIGKILL during block import: restart finds a consistent head and state root', async (t) => {
  const dir = tempDir()
  t.teardown(() => dir.remove())
  let lastSeen = 0n
  // Transactions from the dev keys; the node gets them as fast as it takes them. Signed as the
  // pump first needs them and kept (every round resends from the first): signing all 3000 up
  // front cost ~6 CPU-s, most of it for transactions no round reached.
  const scratch = await Chain.open(join(dir.path, 'scratch'), testGenesis())
  const f = txFactory(scratch.common)
  await scratch.close()
  const MAX_TXS = 3000
  const raws: string[] = []
  const batchAt = (from: number): string[] => {
    while (raws.length < Math.min(from + 20, MAX_TXS)) raws.push(toData(f.next('transfer').tx.serialize()))
    return raws.slice(from, from + 20)
  }

  for (let round = 0; round < 3; round++) {
    const node = await startNodeProcess(['--dev', '--dev.period', '0'], { datadir: dir.path })
    const head = BigInt(await rpc<string>(node.url, 'eth_blockNumber'))
    t.ok(head >= lastSeen, `round ${round}: restart head ${head} >= head seen before the kill ${lastSeen}`)
    // Keep several requests in flight so blocks are being built and committed continuously. Every
    // round sends from the first transaction again: the pool is not kept across a kill, so what
    // was pending is gone, and later nonces alone would wait behind the gap forever (the
    // included ones are refused as too low).
    let sent = 0
    let stop = false
    const pump = (async () => {
      while (!stop && sent < MAX_TXS) {
        const batch = batchAt(sent)
        sent += batch.length
        await Promise.all(batch.map((raw) => rpc(node.url, 'eth_sendRawTransaction', [raw]).catch(() => undefined)))
      }
    })()
    // First a block made under this load (on a busy machine a start-up can take longer than the
    // whole random window), then the kill at a random moment of the production that follows.
    await waitFor(async () => (lastSeen = BigInt(await rpc<string>(node.url, 'eth_blockNumber'))) > head, `round ${round}: a block after the restart`, 60_000)
    const killAfter = Math.floor(Math.random() * 1200)
    const until = Date.now() + killAfter
    while (Date.now() < until) {
      lastSeen = BigInt(await rpc<string>(node.url, 'eth_blockNumber'))
      await new Promise((r) => setTimeout(r, 50))
    }
    await node.kill()
    stop = true
    await pump
    t.ok(lastSeen > head, `round ${round}: the node was making blocks when killed (head ${head} at the restart, ${lastSeen} seen)`)
  }

  t.comment(`${raws.length} of at most ${MAX_TXS} transactions were signed`)
  // Re-execute everything from genesis in a fresh database and compare with the stored head.
  const genesis = await readGenesisFile(join(dir.path, 'genesis.json'))
  const crashed = await Chain.open(dir.path, genesis)
  const replica = await Chain.open(join(dir.path, 'replica'), genesis)
  t.ok(crashed.head.block.header.number >= lastSeen, 'no block seen over RPC was lost')
  for (let n = 1n; n <= crashed.head.block.header.number; n++) await replica.importBlock((await crashed.blockByNumber(n))!)
  t.equal(bytesToHex(replica.head.block.header.stateRoot), bytesToHex(crashed.head.block.header.stateRoot), 'state root equals a re-execution from genesis')
  t.equal(bytesToHex(crashed.executor.stateRoot), bytesToHex(crashed.head.block.header.stateRoot), 'state opened at the head root')
  t.ok(crashed.head.block.header.number > 0n, `chain has ${crashed.head.block.header.number} blocks`)
  await replica.close()
  await crashed.close()
})
