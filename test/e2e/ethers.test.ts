import t from 'tap'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { ContractFactory, JsonRpcProvider, Wallet, WebSocketProvider, type Contract } from 'ethers'
import { ROOT, startNodeProcess, tempDir } from '../helpers/node-process.ts'

// The standard development mnemonic's first two keys (funded by `--dev`).
const KEY0 = '0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80'
const KEY1 = '0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d'

const artifact = JSON.parse(readFileSync(join(ROOT, 'test/fixtures/contracts/Store.json'), 'utf8')) as { abi: unknown[]; bytecode: string }

t.test('ethers v6 against a dev node: deploy, transact, events, filters, reverts', async (t) => {
  const dir = tempDir()
  const node = await startNodeProcess(['--dev', '--dev.period', '1'], { datadir: dir.path })
  t.teardown(async () => {
    await node.stop()
    dir.remove()
  })
  const provider = new JsonRpcProvider(node.url, undefined, { staticNetwork: true, polling: true, pollingInterval: 100 })
  t.teardown(() => provider.destroy())
  const net = await provider.getNetwork()
  t.equal(net.chainId, 1337n)

  const wallet = new Wallet(KEY0, provider)
  const other = new Wallet(KEY1, provider)
  t.ok((await provider.getBalance(wallet.address)) > 10n ** 21n, 'dev account is funded')

  const factory = new ContractFactory(artifact.abi as never, artifact.bytecode, wallet)
  const store = (await factory.deploy()) as Contract
  const deployTx = store.deploymentTransaction()!
  const deployReceipt = await deployTx.wait()
  t.equal(deployReceipt!.status, 1)
  const address = await store.getAddress()
  t.equal(deployReceipt!.contractAddress, address)
  t.ok((await provider.getCode(address)).length > 2, 'code is deployed')

  // A log filter installed before the writes sees them through eth_getFilterChanges.
  const filterId = await provider.send('eth_newFilter', [{ address, fromBlock: 'latest' }])

  // Two senders write at once (legacy and EIP-1559 fee fields).
  const asOther = store.connect(other) as Contract
  const [tx1, tx2] = await Promise.all([store.getFunction('set')(7n), asOther.getFunction('set')(9n, { type: 0 })])
  const [r1, r2] = await Promise.all([tx1.wait(), tx2.wait()])
  t.equal(r1!.status, 1)
  t.equal(r2!.status, 1)
  t.equal(await store.getFunction('get')(wallet.address), 7n)
  t.equal(await store.getFunction('get')(other.address), 9n)

  const logs = await provider.getLogs({ address, fromBlock: 0, toBlock: 'latest', topics: [store.interface.getEvent('ValueSet')!.topicHash] })
  t.equal(logs.length, 2, 'eth_getLogs finds both ValueSet events')
  const parsed = logs.map((l) => store.interface.parseLog(l)!).sort((a, b) => Number(a.args[1]) - Number(b.args[1]))
  t.same(parsed.map((p) => [p.args[0], p.args[1]]), [[wallet.address, 7n], [other.address, 9n]])
  // Filtering by the indexed sender keeps only that sender's event.
  const mine = await provider.getLogs({ address, fromBlock: 0, topics: [null, '0x' + wallet.address.slice(2).toLowerCase().padStart(64, '0')] })
  t.equal(mine.length, 1)

  const changes = (await provider.send('eth_getFilterChanges', [filterId])) as unknown[]
  t.equal(changes.length, 2, 'the filter saw both events')
  t.same(await provider.send('eth_getFilterChanges', [filterId]), [], 'and reports nothing twice')
  t.equal(await provider.send('eth_uninstallFilter', [filterId]), true)

  // Events through a contract listener over WebSocket (eth_subscribe logs).
  const ws = new WebSocketProvider(node.wsUrl, undefined, { staticNetwork: true })
  t.teardown(() => ws.destroy())
  const wsStore = store.connect(ws) as Contract
  const seen = new Promise<bigint>((resolve) => void wsStore.on('ValueSet', (_who: string, value: bigint) => resolve(value)))
  await new Promise((r) => setTimeout(r, 200))
  await (await store.getFunction('set')(11n)).wait()
  t.equal(await seen, 11n, 'subscription delivered the event')

  // Revert reasons come back from eth_call (require string and custom error).
  await t.rejects(store.getFunction('set').staticCall(5000n), { message: /Store: value too large/ })
  try {
    await store.getFunction('checkMin').staticCall(1n)
    t.fail('expected a revert')
  } catch (err) {
    const e = err as { revert?: { name: string; args: unknown[] } }
    t.equal(e.revert?.name, 'TooSmall')
  }
  // And estimateGas refuses a call that reverts, with the reason.
  await t.rejects(store.getFunction('set').estimateGas(5000n), { message: /Store: value too large/ })

  const block = await provider.getBlock(r1!.blockNumber, true)
  t.ok(block!.prefetchedTransactions.some((x) => x.hash === tx1.hash), 'full block contains the transaction')
  t.equal(block!.miner.toLowerCase(), '0x0000000000000000000000000000000000000000', 'clique coinbase carries no vote')
})
