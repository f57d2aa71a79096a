import type { Test } from 'tap'
import {
  Contract, ContractFactory, ZeroAddress, HDNodeWallet, JsonRpcProvider, NonceManager, Wallet, WebSocketProvider, Transaction, getBytes, keccak256, toBeHex, toQuantity, verifyMessage, verifyTypedData, zeroPadValue,
  type ContractTransactionResponse, type JsonRpcPayload, type JsonRpcResult, type Log, type TransactionReceipt,
} from 'ethers'
import { waitFor, type NodeProcess } from '../helpers/node-process.ts'
import { DEV_CHAIN_ID, DEV_KEYS, DEV_MNEMONIC, verifyProof, type Probe, type ProofJson } from './fixture.ts'

/** Counts the requests in each HTTP call ethers makes (one JSON-RPC batch is one call). */
class CountingProvider extends JsonRpcProvider {
  readonly sizes: number[] = []
  override _send(payload: JsonRpcPayload | JsonRpcPayload[]): Promise<JsonRpcResult[]> {
    this.sizes.push(Array.isArray(payload) ? payload.length : 1)
    return super._send(payload)
  }
}

/**
 * ethers 6.17 against a real `--dev` node, as a developer uses it: every operation issue 20 lists,
 * through ethers' own API where it has one (`provider.send` for the methods ethers does not wrap),
 * asserted on what came back. On the dev node test/clients/clients.test.ts shares; `queued` is the
 * mnemonic index of the account whose nonce-gapped transaction the txpool test leaves queued.
 */
export default async function ethersTests(t: Test, node: NodeProcess, probe: Probe, queued: number): Promise<void> {
  const network = { chainId: DEV_CHAIN_ID, name: 'medrec-dev' }
  const provider = new JsonRpcProvider(node.url, network, { staticNetwork: true, pollingInterval: 100 })
  t.teardown(() => provider.destroy())
  const sponsor = new NonceManager(new Wallet(DEV_KEYS[0], provider))
  const sponsorAddress = await sponsor.getAddress()
  const other = new Wallet(DEV_KEYS[1], provider)
  const eoa = new Wallet(DEV_KEYS[2], provider)
  const queuedSender = HDNodeWallet.fromPhrase(DEV_MNEMONIC, undefined, `m/44'/60'/0'/0/${queued}`)
  const unlockedAddress = HDNodeWallet.fromPhrase(DEV_MNEMONIC, undefined, "m/44'/60'/0'/0/4").address
  const slot0 = zeroPadValue('0x', 32)

  let probeContract: Contract
  let address = ''
  t.test('deploy a solc-default (Osaka) contract: CLZ, MCOPY and transient storage run', async (t) => {
    const deployed = (await new ContractFactory(probe.abi as never, probe.bytecode, sponsor).deploy()) as Contract
    const receipt = (await deployed.deploymentTransaction()!.wait())!
    t.equal(receipt.status, 1)
    t.equal(receipt.type, 2)
    address = await deployed.getAddress()
    t.equal(receipt.contractAddress, address)
    probeContract = new Contract(address, probe.abi as never, sponsor)
    t.equal(await provider.getCode(address), probe.deployedBytecode, 'the runtime code is what solc produced')
    t.equal(await probeContract.getFunction('clz')(1n), 255n, 'CLZ')
    t.equal(await probeContract.getFunction('twice')('0xbeef'), '0xbeefbeef', 'MCOPY')
  })

  const sent: Record<string, string> = {}
  let storeBlock = 0
  t.test('value transfers, EIP-1559 and EIP-2930 transactions, receipts, logs by filter and eth_newFilter, blockTimestamp', async (t) => {
    const payee = Wallet.createRandom().address
    const legacyPayee = Wallet.createRandom().address
    const depositSlot = keccak256(`0x${zeroPadValue(other.address, 32).slice(2)}${zeroPadValue('0x01', 32).slice(2)}`)
    const filterId = await provider.send('eth_newFilter', [{ address, fromBlock: 'latest' }])
    const { gasPrice } = await provider.getFeeData()
    const txs = await Promise.all([
      sponsor.sendTransaction({ to: payee, value: 12_345n }),
      probeContract.getFunction('store')(7n) as Promise<ContractTransactionResponse>,
      probeContract.getFunction('storeViaSelf')(12n) as Promise<ContractTransactionResponse>,
      // EIP-2930: a legacy-priced transaction that carries an access list.
      (probeContract.connect(other) as Contract).getFunction('deposit')({ value: 5n, type: 1, gasPrice, accessList: [{ address, storageKeys: [depositSlot] }] }) as Promise<ContractTransactionResponse>,
      eoa.sendTransaction({ to: legacyPayee, value: 1_000n, type: 0 }),
    ])
    const [value, store, nested, deposit] = txs
    Object.assign(sent, { value: value.hash, store: store.hash, nested: nested.hash, deposit: deposit.hash })
    const [rValue, rStore, rNested, rDeposit, rLegacy] = (await Promise.all(txs.map((x) => x.wait()))) as TransactionReceipt[]
    t.same([rValue, rStore, rNested, rDeposit, rLegacy].map((r) => r!.status), [1, 1, 1, 1, 1])
    t.equal(rLegacy!.type, 0, 'a legacy transaction')
    t.equal(await provider.getBalance(legacyPayee), 1_000n)
    storeBlock = rStore!.blockNumber
    t.equal(await provider.getBalance(payee), 12_345n, 'the value arrived')
    t.equal(rValue!.gasUsed, 21_000n)
    t.equal(rValue!.type, 2)
    t.equal(rDeposit!.type, 1)
    const depositTx = await provider.getTransaction(deposit.hash)
    t.same(depositTx!.accessList?.map((e) => [e.address, e.storageKeys]), [[address, [depositSlot]]], 'the access list is kept in the transaction')
    t.equal(await probeContract.getFunction('deposits')(other.address), 5n)
    t.equal(await probeContract.getFunction('stored')(), 12n, 'the nonce order held: storeViaSelf ran last')

    // Logs by filter: the indexed `who` picks the sender's event or the contract's own (storeViaSelf calls itself).
    const fromBlock = Math.min(rValue!.blockNumber, rNested!.blockNumber)
    const mine = await probeContract.queryFilter(probeContract.filters.Stored!(sponsorAddress), fromBlock)
    t.same(mine.map((l) => (l as unknown as { args: unknown[] }).args[1]), [7n])
    const viaSelf = await provider.getLogs({ address, fromBlock, topics: [probeContract.interface.getEvent('Stored')!.topicHash, zeroPadValue(address, 32)] })
    t.same(viaSelf.map((l) => [probeContract.interface.parseLog(l)!.args[1], l.transactionHash]), [[12n, nested.hash]])
    // eth_newFilter installed before the writes sees both Stored events and the Deposited one, once.
    const changes = (await provider.send('eth_getFilterChanges', [filterId])) as Array<{ transactionHash: string }>
    t.same(changes.map((c) => c.transactionHash).sort(), [store.hash, nested.hash, deposit.hash].sort())
    t.same(await provider.send('eth_getFilterChanges', [filterId]), [], 'and reports nothing twice')
    t.equal(await provider.send('eth_uninstallFilter', [filterId]), true)

    // blockTimestamp (ethers' classes have no field for it): on the raw transaction and logs, the block's timestamp.
    const block = (await provider.getBlock(rStore!.blockNumber, true))!
    t.ok(block.prefetchedTransactions.some((x) => x.hash === store.hash), 'the full block holds the transaction')
    t.equal(block.miner, ZeroAddress, 'a clique coinbase that carries no vote')
    const stamp = `0x${block.timestamp.toString(16)}`
    t.equal(((await provider.send('eth_getTransactionByHash', [store.hash])) as { blockTimestamp: string }).blockTimestamp, stamp, 'transaction.blockTimestamp')
    const rawLogs = (await provider.send('eth_getLogs', [{ address, blockHash: block.hash }])) as Array<{ transactionHash: string; blockTimestamp: string }>
    t.equal(rawLogs.find((l) => l.transactionHash === store.hash)?.blockTimestamp, stamp, 'log.blockTimestamp')

    // eth_getBlockReceipts: every receipt of the block, this one among them.
    const receipts = (await provider.send('eth_getBlockReceipts', [`0x${storeBlock.toString(16)}`])) as Array<{ transactionHash: string; gasUsed: string; logs: Array<{ blockTimestamp: string }> }>
    t.equal(receipts.length, block.transactions.length)
    const own = receipts.find((r) => r.transactionHash === store.hash)
    t.equal(BigInt(own!.gasUsed), rStore!.gasUsed)
    t.equal(own!.logs[0]!.blockTimestamp, stamp, 'receipt log blockTimestamp')
  })

  t.test('reverts decode: custom error, panic, require string (eth_call and eth_estimateGas)', async (t) => {
    const revertOf = async (p: Promise<unknown>) => {
      const err = await p.then(() => undefined, (e: unknown) => e as { code?: string; reason?: string | null; revert?: { name: string; args: unknown[] } | null })
      t.equal(err?.code, 'CALL_EXCEPTION', 'the call reverted')
      return err!
    }
    const custom = await revertOf(probeContract.getFunction('checkMin').staticCall(1n))
    t.equal(custom.revert?.name, 'TooSmall')
    t.same(custom.revert?.args.map(String), ['1', '10'])
    const panic = await revertOf(probeContract.getFunction('divide').staticCall(1n, 0n))
    t.equal(panic.revert?.name, 'Panic')
    t.same(panic.revert?.args.map(String), ['18'])
    t.match(panic.reason, /DIVIDE_BY_ZERO/)
    const required = await revertOf(probeContract.getFunction('store').staticCall(5000n))
    t.equal(required.reason, 'ClientProbe: value too large')
    const estimate = await revertOf(probeContract.getFunction('store').estimateGas(5000n))
    t.equal(estimate.reason, 'ClientProbe: value too large')
  })

  t.test('estimateGas with an access list, eth_call with state and block overrides, eth_createAccessList, eth_getProof', async (t) => {
    const data = probeContract.interface.encodeFunctionData('store', [3n])
    const plain = await provider.estimateGas({ from: sponsorAddress, to: address, data })
    const listed = await provider.estimateGas({ from: sponsorAddress, to: address, data, accessList: [{ address, storageKeys: [slot0] }] })
    // The list costs 2,400 + 1,900 and saves 2,000 on the now-warm slot: 2,300 more (the estimates are within 1.5% above exact).
    t.ok(listed - plain > 1_800n && listed - plain < 2_800n, `an access list is charged: ${plain} without, ${listed} with`)

    // ethers has no override parameters: the same eth_call through provider.send.
    const iface = probeContract.interface
    const storedCall = { to: address, data: iface.encodeFunctionData('stored') }
    const overridden = await provider.send('eth_call', [storedCall, 'latest', { [address]: { stateDiff: { [slot0]: zeroPadValue('0x2a', 32) } } }])
    t.equal(iface.decodeFunctionResult('stored', overridden)[0], 42n, 'stateDiff override of slot 0')
    t.equal(await probeContract.getFunction('stored')(), 12n, 'for that call only')
    const info = await provider.send('eth_call', [{ to: address, data: iface.encodeFunctionData('blockInfo') }, 'latest', {}, { number: '0x309', time: '0x3039' }])
    t.same(iface.decodeFunctionResult('blockInfo', info).slice(0, 2), [777n, 12_345n], 'block override of number and time')

    const list = (await provider.send('eth_createAccessList', [{ from: sponsorAddress, to: address, data }, 'latest'])) as { accessList: Array<{ address: string; storageKeys: string[] }>; gasUsed: string }
    t.same(list.accessList, [{ address: address.toLowerCase(), storageKeys: [slot0] }], 'the callee and the slot store() writes')
    t.ok(BigInt(list.gasUsed) > 21_000n)

    const number = await provider.getBlockNumber()
    const [proof, block] = await Promise.all([provider.send('eth_getProof', [address, [slot0], `0x${number.toString(16)}`]) as Promise<ProofJson>, provider.getBlock(number)])
    const verified = await verifyProof(proof, block!.stateRoot!)
    t.equal(verified.codeHash, keccak256(probe.deployedBytecode), 'the proven account has the contract\'s code hash')
    t.same(verified.slots, [12n], 'slot 0 proven under the account\'s storage root')
  })

  t.test('debug_traceTransaction, debug_traceCall, debug_traceBlockByNumber (callTracer and struct logger)', async (t) => {
    interface Frame { type: string; from: string; to: string; input: string; output?: string; gasUsed: string; calls?: Frame[] }
    interface StructLogs { gas: number; failed: boolean; returnValue: string; structLogs: Array<{ op: string }> }
    const iface = probeContract.interface
    const rNested = (await provider.getTransactionReceipt(sent.nested!))!
    const frame = (await provider.send('debug_traceTransaction', [sent.nested, { tracer: 'callTracer' }])) as Frame
    t.equal(BigInt(frame.gasUsed), rNested.gasUsed, 'the top frame used what the receipt says')
    const inner = frame.calls?.[0]
    t.same([inner?.type, inner?.from, inner?.to], ['CALL', address.toLowerCase(), address.toLowerCase()])
    t.equal(inner?.input, iface.encodeFunctionData('store', [12n]), 'the inner call\'s input is what it was called with')

    const rStore = (await provider.getTransactionReceipt(sent.store!))!
    const logs = (await provider.send('debug_traceTransaction', [sent.store])) as StructLogs
    t.equal(BigInt(logs.gas), rStore.gasUsed)
    const ops = new Set(logs.structLogs.map((l) => l.op))
    t.ok(ops.has('TSTORE') && ops.has('SSTORE') && ops.has('LOG2'), 'transient and persistent stores, the event')

    const call = (await provider.send('debug_traceCall', [{ to: address, data: iface.encodeFunctionData('twice', ['0xbeef']) }, 'latest', { disableStack: true }])) as StructLogs
    t.ok(call.structLogs.some((l) => l.op === 'MCOPY'), 'the struct logger names MCOPY')

    const block = (await provider.send('debug_traceBlockByNumber', [`0x${storeBlock.toString(16)}`, { tracer: 'callTracer' }])) as Array<{ txHash: string; result: Frame }>
    t.equal(block.find((b) => b.txHash === sent.store)?.result.input, iface.encodeFunctionData('store', [7n]))
  })

  t.test('WebSocket subscriptions: newHeads, logs, pending transaction hashes', async (t) => {
    const ws = new WebSocketProvider(node.wsUrl, network, { staticNetwork: true })
    t.teardown(() => ws.destroy())
    const heads: number[] = []
    await ws.on('block', (n: number) => void heads.push(n))
    const events: Array<{ value: bigint; log: Log }> = []
    const wsProbe = probeContract.connect(ws) as Contract
    await wsProbe.on('Stored', (_who: string, value: bigint, ev: { log: Log }) => void events.push({ value, log: ev.log }))
    // ethers asks for hashes only (it has no call for geth's full-transaction form).
    const pending: string[] = []
    await ws.on('pending', (hash: string) => void pending.push(hash))
    await waitFor(async () => heads.length > 0, 'a newHeads notification', 10_000)
    const tx = (await probeContract.getFunction('store')(9n)) as ContractTransactionResponse
    await tx.wait()
    await waitFor(async () => events.some((e) => e.log.transactionHash === tx.hash) && pending.includes(tx.hash), 'the Stored log and the pending hash', 10_000)
    t.ok(heads.every((n, i) => i === 0 || n === heads[i - 1]! + 1), `consecutive heads ${heads.join(',')}`)
    t.equal(events.find((e) => e.log.transactionHash === tx.hash)?.value, 9n)
    await wsProbe.removeAllListeners()
    await ws.removeAllListeners()
    // ethers sends eth_unsubscribe without waiting for it, and destroy() rejects what is still pending (unhandled):
    // one more round trip on the socket, answered after the unsubscribes, lets them finish first.
    await ws.send('eth_blockNumber', [])
  })

  t.test('txpool_status / content / inspect', async (t) => {
    // Nonce 3 of an account that has sent nothing: queued until nonces 0-2 come, so it stays for the reads.
    const raw = await queuedSender.signTransaction({ chainId: DEV_CHAIN_ID, nonce: 3, to: sponsorAddress, value: 1n, gasLimit: 21_000n, maxFeePerGas: 10n ** 10n, maxPriorityFeePerGas: 1n, type: 2 })
    const hash = (await provider.broadcastTransaction(raw)).hash
    const status = (await provider.send('txpool_status', [])) as { queued: string }
    t.ok(BigInt(status.queued) >= 1n, `queued ${status.queued}`)
    const content = (await provider.send('txpool_content', [])) as { queued: Record<string, Record<string, { hash: string }>> }
    t.equal(content.queued[queuedSender.address]?.['3']?.hash, hash)
    const inspect = (await provider.send('txpool_inspect', [])) as { queued: Record<string, Record<string, string>> }
    t.equal(inspect.queued[queuedSender.address]?.['3'], `${sponsorAddress}: 1 wei + 21000 gas × 10000000000 wei`)
  })

  t.test('the dev chain\'s unlocked accounts: JsonRpcSigner (eth_sendTransaction, personal_sign), eth_sign', async (t) => {
    const signer = await provider.getSigner(unlockedAddress)
    const tx = await signer.sendTransaction({ to: sponsorAddress, value: 3n })
    const receipt = (await tx.wait())!
    t.equal(receipt.status, 1)
    t.equal(receipt.from, unlockedAddress, 'signed by the node with the unlocked key')
    const signature = await signer.signMessage('hello medrec')
    t.equal(verifyMessage('hello medrec', signature), unlockedAddress, 'personal_sign')
    const ethSign = (await provider.send('eth_sign', [unlockedAddress, '0x68656c6c6f'])) as string
    t.equal(verifyMessage(getBytes('0x68656c6c6f'), ethSign), unlockedAddress, 'eth_sign')
  })

  t.test('batches of more than 100 requests (batchMaxCount 1000)', async (t) => {
    const batched = new CountingProvider(node.url, network, { staticNetwork: true, batchMaxCount: 1000 })
    t.teardown(() => batched.destroy())
    // 300 different questions: ethers answers identical requests in flight with one.
    const accounts = [sponsorAddress, other.address, ...Array.from({ length: 298 }, (_, i) => zeroPadValue(toBeHex(i + 1), 20))]
    const balances = await Promise.all(accounts.map((a) => batched.getBalance(a, 'latest')))
    t.same(batched.sizes, [300], 'one HTTP request carried all 300')
    const [b0, b1] = await Promise.all([provider.getBalance(sponsorAddress), provider.getBalance(other.address)])
    t.same(balances.slice(0, 2), [b0, b1], 'each answer is its own account\'s balance')
    t.ok(balances.slice(2).every((b) => b === 0n))
  })

  t.test('safe and finalized tags (one authority: safe = head, finalized = head - 1)', async (t) => {
    const before = await provider.getBlockNumber()
    const [safe, finalized] = await Promise.all([provider.getBlock('safe'), provider.getBlock('finalized')])
    const after = await provider.getBlockNumber()
    t.ok(safe!.number >= before && safe!.number <= after, `safe ${safe!.number} is the head (${before}..${after})`)
    t.ok(finalized!.number >= before - 1 && finalized!.number <= after - 1, `finalized ${finalized!.number} is the head's parent`)
  })

  t.test('an EIP-7702 delegation end to end (estimated, no gas given)', async (t) => {
    // The EOA signs the authorization (its nonce and the chain id filled in by ethers); the sponsor's type-4 transaction carries it.
    const authorization = await eoa.authorize({ address })
    const asEoa = new Contract(eoa.address, probe.abi as never, sponsor)
    const tx = (await asEoa.getFunction('store')(21n, { authorizationList: [authorization] })) as ContractTransactionResponse
    const receipt = (await tx.wait())!
    t.equal(receipt.status, 1)
    t.equal(receipt.type, 4)
    t.equal(await provider.getCode(eoa.address), `0xef0100${address.slice(2).toLowerCase()}`, 'the delegation designator')
    t.equal(await asEoa.getFunction('stored')(), 21n, 'the EOA\'s own storage')
    t.equal(await probeContract.getFunction('stored')(), 9n, 'not the contract\'s')
    t.equal((await provider.getTransaction(tx.hash))!.authorizationList?.[0]?.address, address)
  })

  t.test('JsonRpcSigner.signTypedData (eth_signTypedData_v4), eth_signTransaction, eth_simulateV1', async (t) => {
    const signer = await provider.getSigner(unlockedAddress)
    const domain = { name: 'medrec', version: '1', chainId: DEV_CHAIN_ID, verifyingContract: address }
    const types = { Grant: [{ name: 'patient', type: 'address' }, { name: 'record', type: 'string' }, { name: 'until', type: 'uint64' }] }
    const message = { patient: sponsorAddress, record: 'lab/2026-12-07', until: 1_900_000_000n }
    const signature = await signer.signTypedData(domain, types, message)
    t.equal(verifyTypedData(domain, types, message, signature), unlockedAddress, 'ethers recovers the unlocked account from the node\'s EIP-712 signature')

    // geth answers {raw, tx}; ethers' JsonRpcSigner.signTransaction hands back whatever the node answers, so decode raw.
    const nonce = await provider.getTransactionCount(unlockedAddress, 'pending')
    const signed = (await provider.send('eth_signTransaction', [{ from: unlockedAddress, to: sponsorAddress, value: '0x7', gas: '0x5208', maxFeePerGas: '0x3b9aca00', maxPriorityFeePerGas: '0x1', nonce: toQuantity(nonce) }])) as { raw: string; tx: { hash: string } }
    const tx = Transaction.from(signed.raw)
    t.same([tx.from, tx.to, tx.value, tx.nonce], [unlockedAddress, sponsorAddress, 7n, nonce])
    t.equal(tx.hash, signed.tx.hash)

    // eth_simulateV1 (ethers has no call for it): one simulated block, the second call reads the first one's write.
    const iface = probeContract.interface
    const [block] = (await provider.send('eth_simulateV1', [{
      blockStateCalls: [{ calls: [
        { from: sponsorAddress, to: address, data: iface.encodeFunctionData('store', [55n]) },
        { from: sponsorAddress, to: address, data: iface.encodeFunctionData('stored') },
      ] }],
    }, 'latest'])) as Array<{ calls: Array<{ status: string; returnData: string }> }>
    t.same(block!.calls.map((c) => c.status), ['0x1', '0x1'])
    t.equal(iface.decodeFunctionResult('stored', block!.calls[1]!.returnData)[0], 55n)
    t.equal(await probeContract.getFunction('stored')(), 9n, 'the chain is unchanged')
  })
}
