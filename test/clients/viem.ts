import type { Test } from 'tap'
import {
  BaseError, ContractFunctionRevertedError, createPublicClient, createTestClient, createWalletClient, decodeFunctionResult, defineChain, encodeFunctionData,
  http, keccak256, parseAbiItem, parseTransaction, recoverMessageAddress, recoverTransactionAddress, toEventSelector, verifyMessage, verifyTypedData, webSocket,
  type Address, type Hex, type Log, type TransactionSerialized,
} from 'viem'
import { generatePrivateKey, mnemonicToAccount, nonceManager, privateKeyToAccount } from 'viem/accounts'
import { waitFor, type NodeProcess } from '../helpers/node-process.ts'
import { DEV_CHAIN_ID, DEV_KEYS, DEV_MNEMONIC, verifyProof, type Probe } from './fixture.ts'

/**
 * viem 2.57 against a real `--dev` node, as a developer uses it: every operation issue 20 lists,
 * each through viem's own action where viem has one (`client.request` where it has none), asserted
 * on what came back. On the dev node test/clients/clients.test.ts shares; `queued` is the mnemonic index
 * of the account whose nonce-gapped transaction the txpool test leaves queued (one per client).
 */
export default async function viemTests(t: Test, node: NodeProcess, probe: Probe, queued: number): Promise<void> {
  const dev = defineChain({ id: DEV_CHAIN_ID, name: 'medrec dev', nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 }, rpcUrls: { default: { http: [node.url], webSocket: [node.wsUrl] } } })
  const sponsor = privateKeyToAccount(DEV_KEYS[0], { nonceManager })
  const other = privateKeyToAccount(DEV_KEYS[1], { nonceManager })
  const eoa = privateKeyToAccount(DEV_KEYS[2])
  const queuedSender = mnemonicToAccount(DEV_MNEMONIC, { addressIndex: queued })
  const unlocked = mnemonicToAccount(DEV_MNEMONIC, { addressIndex: 4 }).address
  const client = createPublicClient({ chain: dev, transport: http(node.url), pollingInterval: 100 })
  const wallet = createWalletClient({ chain: dev, transport: http(node.url), account: sponsor })
  const abi = probe.abi
  const storedEvent = parseAbiItem('event Stored(address indexed who, uint256 value)')
  const receiptOf = (hash: Hex) => client.waitForTransactionReceipt({ hash, pollingInterval: 100 })

  let address: Address = '0x'
  t.test('deploy a solc-default (Osaka) contract: CLZ, MCOPY and transient storage run', async (t) => {
    t.equal(probe.evmVersion, 'osaka')
    const receipt = await receiptOf(await wallet.deployContract({ abi, bytecode: probe.bytecode }))
    t.equal(receipt.status, 'success')
    t.equal(receipt.type, 'eip1559')
    address = receipt.contractAddress!
    t.equal(await client.getCode({ address }), probe.deployedBytecode, 'the runtime code is what solc produced')
    t.equal(await client.readContract({ address, abi, functionName: 'clz', args: [1n] }), 255n, 'CLZ')
    t.equal(await client.readContract({ address, abi, functionName: 'twice', args: ['0xbeef'] }), '0xbeefbeef', 'MCOPY')
  })

  const sent: Record<string, Hex> = {}
  t.test('value transfers, EIP-1559 and EIP-2930 transactions, receipts, logs by filter, blockTimestamp', async (t) => {
    const payee = privateKeyToAccount(generatePrivateKey()).address
    const depositSlot = keccak256(`0x${other.address.slice(2).toLowerCase().padStart(64, '0')}${'01'.padStart(64, '0')}`)
    const [value, store, nested, deposit] = await Promise.all([
      wallet.sendTransaction({ to: payee, value: 12_345n }),
      wallet.writeContract({ address, abi, functionName: 'store', args: [7n] }),
      wallet.writeContract({ address, abi, functionName: 'storeViaSelf', args: [12n] }),
      // EIP-2930: a legacy-priced transaction that carries an access list.
      createWalletClient({ chain: dev, transport: http(node.url), account: other }).writeContract({
        address, abi, functionName: 'deposit', value: 5n, type: 'eip2930', gasPrice: await client.getGasPrice(),
        accessList: [{ address, storageKeys: [depositSlot] }],
      }),
    ])
    Object.assign(sent, { value, store, nested, deposit })
    const [rValue, rStore, rNested, rDeposit] = await Promise.all([value, store, nested, deposit].map(receiptOf))
    t.same([rValue, rStore, rNested, rDeposit].map((r) => r!.status), ['success', 'success', 'success', 'success'])
    t.equal(await client.getBalance({ address: payee }), 12_345n, 'the value arrived')
    t.equal(rValue!.gasUsed, 21_000n)
    t.equal(rValue!.type, 'eip1559')
    t.equal(rDeposit!.type, 'eip2930')
    const depositTx = await client.getTransaction({ hash: deposit })
    t.same(depositTx.accessList, [{ address, storageKeys: [depositSlot] }], 'the access list is kept in the transaction')
    t.equal(await client.readContract({ address, abi, functionName: 'deposits', args: [other.address] }), 5n)
    t.equal(await client.readContract({ address, abi, functionName: 'stored' }), 12n, 'the nonce order held: storeViaSelf ran last')

    // Logs by filter: the indexed `who` picks the sender's event or the contract's own (storeViaSelf calls itself).
    const fromBlock = rValue!.blockNumber < rNested!.blockNumber ? rValue!.blockNumber : rNested!.blockNumber
    const mine = await client.getLogs({ address, event: storedEvent, args: { who: sponsor.address }, fromBlock })
    t.same(mine.map((l) => l.args.value), [7n])
    const viaSelf = await client.getLogs({ address, event: storedEvent, args: { who: address }, fromBlock })
    t.same(viaSelf.map((l) => [l.args.value, l.transactionHash]), [[12n, nested]])

    // blockTimestamp on transactions and on logs, in receipts too (geth's receipt has none of its own): the block's timestamp.
    const block = await client.getBlock({ blockNumber: rStore!.blockNumber })
    t.equal((await client.getTransaction({ hash: store })).blockTimestamp, block.timestamp, 'transaction.blockTimestamp')
    t.equal(rStore!.logs[0]!.blockTimestamp, block.timestamp, 'receipt log blockTimestamp')
    t.equal(mine[0]!.blockTimestamp, block.timestamp, 'eth_getLogs blockTimestamp')

    // eth_getBlockReceipts: every receipt of the block, this one among them.
    const receipts = await client.getBlockReceipts({ blockNumber: rStore!.blockNumber })
    t.equal(receipts.length, block.transactions.length)
    t.same(receipts.find((r) => r.transactionHash === store)?.logs.map((l) => l.logIndex), rStore!.logs.map((l) => l.logIndex))
  })

  t.test('reverts decode: custom error, panic, require string (eth_call and eth_estimateGas)', async (t) => {
    const revertOf = async (p: Promise<unknown>) => {
      const err = await p.then(() => undefined, (e: unknown) => e)
      t.ok(err instanceof BaseError, 'the call reverted')
      const revert = (err as BaseError).walk((e) => e instanceof ContractFunctionRevertedError)
      t.ok(revert instanceof ContractFunctionRevertedError, 'as a ContractFunctionRevertedError')
      return revert as ContractFunctionRevertedError
    }
    const custom = await revertOf(client.readContract({ address, abi, functionName: 'checkMin', args: [1n] }))
    t.equal(custom.data?.errorName, 'TooSmall')
    t.same(custom.data?.args, [1n, 10n])
    const panic = await revertOf(client.readContract({ address, abi, functionName: 'divide', args: [1n, 0n] }))
    t.equal(panic.data?.errorName, 'Panic')
    t.same(panic.data?.args, [0x12n])
    t.match(panic.reason, /divide by zero|division/i)
    const required = await revertOf(client.readContract({ address, abi, functionName: 'store', args: [5000n] }))
    t.equal(required.reason, 'ClientProbe: value too large')
    const estimate = await revertOf(client.estimateContractGas({ address, abi, functionName: 'store', args: [5000n], account: sponsor }))
    t.equal(estimate.reason, 'ClientProbe: value too large')
  })

  t.test('estimateGas with an access list, eth_call with state and block overrides, eth_createAccessList, eth_getProof', async (t) => {
    const data = encodeFunctionData({ abi, functionName: 'store', args: [3n] })
    const slot0 = `0x${'00'.repeat(32)}` as Hex
    const plain = await client.estimateGas({ account: sponsor.address, to: address, data })
    const listed = await client.estimateGas({ account: sponsor.address, to: address, data, accessList: [{ address, storageKeys: [slot0] }] })
    // The list costs 2,400 + 1,900 and saves 2,000 on the now-warm slot: 2,300 more (the estimates are within 1.5% above exact).
    t.ok(listed - plain > 1_800n && listed - plain < 2_800n, `an access list is charged: ${plain} without, ${listed} with`)

    const stored = (d: Hex) => decodeFunctionResult({ abi, functionName: 'stored', data: d })
    const storedData = encodeFunctionData({ abi, functionName: 'stored' })
    const overridden = await client.call({ to: address, data: storedData, stateOverride: [{ address, stateDiff: [{ slot: slot0, value: `0x${'2a'.padStart(64, '0')}` }] }] })
    t.equal(stored(overridden.data!), 42n, 'stateDiff override of slot 0')
    t.equal(await client.readContract({ address, abi, functionName: 'stored' }), 12n, 'for that call only')
    const rich = privateKeyToAccount(generatePrivateKey()).address
    const balance = await client.call({ to: address, data: encodeFunctionData({ abi, functionName: 'balanceOf', args: [rich] }), stateOverride: [{ address: rich, balance: 10n ** 30n }] })
    t.equal(decodeFunctionResult({ abi, functionName: 'balanceOf', data: balance.data! }), 10n ** 30n, 'balance override')
    const info = await client.call({ to: address, data: encodeFunctionData({ abi, functionName: 'blockInfo' }), blockOverrides: { number: 777n, time: 12_345n } })
    const [number, time] = decodeFunctionResult({ abi, functionName: 'blockInfo', data: info.data! }) as readonly [bigint, bigint, Address]
    t.same([number, time], [777n, 12_345n], 'block override of number and time')

    const list = await client.createAccessList({ account: sponsor.address, to: address, data })
    t.same(list.accessList, [{ address, storageKeys: [slot0] }], 'the callee and the slot store() writes')
    t.ok(list.gasUsed > 21_000n)

    const blockNumber = await client.getBlockNumber()
    const [proof, block] = await Promise.all([client.getProof({ address, storageKeys: [slot0], blockNumber }), client.getBlock({ blockNumber })])
    const verified = await verifyProof(proof, block.stateRoot)
    t.equal(verified.codeHash, keccak256(probe.deployedBytecode), 'the proven account has the contract\'s code hash')
    t.same(verified.slots, [12n], 'slot 0 proven under the account\'s storage root')
    t.equal(proof.storageProof[0]!.value, 12n)
  })

  t.test('debug_traceTransaction, debug_traceCall, debug_traceBlockByNumber (callTracer and struct logger)', async (t) => {
    interface Frame { type: string; from: Address; to: Address; input: Hex; output?: Hex; gasUsed: Hex; calls?: Frame[] }
    interface StructLogs { gas: number; failed: boolean; returnValue: Hex; structLogs: Array<{ op: string; depth: number }> }
    const rNested = await client.getTransactionReceipt({ hash: sent.nested! })
    const frame = await client.request<{ Method: 'debug_traceTransaction'; Parameters: [Hex, { tracer: string }]; ReturnType: Frame }>({ method: 'debug_traceTransaction', params: [sent.nested!, { tracer: 'callTracer' }] })
    t.equal(BigInt(frame.gasUsed), rNested.gasUsed, 'the top frame used what the receipt says')
    t.equal(frame.calls?.length, 1)
    const inner = frame.calls![0]!
    t.same([inner.type, inner.from, inner.to], ['CALL', address.toLowerCase(), address.toLowerCase()])
    t.equal(inner.input, encodeFunctionData({ abi, functionName: 'store', args: [12n] }), 'the inner call\'s input is what it was called with')
    t.equal(inner.output, `0x${'0c'.padStart(64, '0')}`)

    const rStore = await client.getTransactionReceipt({ hash: sent.store! })
    const logs = await client.request<{ Method: 'debug_traceTransaction'; Parameters: [Hex]; ReturnType: StructLogs }>({ method: 'debug_traceTransaction', params: [sent.store!] })
    t.equal(BigInt(logs.gas), rStore.gasUsed)
    t.equal(logs.failed, false)
    const ops = new Set(logs.structLogs.map((l) => l.op))
    t.ok(ops.has('TSTORE') && ops.has('SSTORE') && ops.has('LOG2'), 'transient and persistent stores, the event')

    const call = await client.request<{ Method: 'debug_traceCall'; Parameters: [object, string, object]; ReturnType: StructLogs }>({
      method: 'debug_traceCall', params: [{ to: address, data: encodeFunctionData({ abi, functionName: 'clz', args: [1n] }) }, 'latest', { disableStack: true }],
    })
    t.ok(call.structLogs.some((l) => l.op === 'CLZ'), 'the struct logger names CLZ')
    t.equal(call.returnValue, `0x${'ff'.padStart(64, '0')}`)

    const block = await client.request<{ Method: 'debug_traceBlockByNumber'; Parameters: [Hex, object]; ReturnType: Array<{ txHash: Hex; result: Frame }> }>({
      method: 'debug_traceBlockByNumber', params: [`0x${rNested.blockNumber.toString(16)}`, { tracer: 'callTracer', tracerConfig: { onlyTopCall: true } }],
    })
    const traced = block.find((b) => b.txHash === sent.nested)
    t.equal(traced?.result.input, encodeFunctionData({ abi, functionName: 'storeViaSelf', args: [12n] }))
    t.equal(traced?.result.calls, undefined, 'onlyTopCall')
  })

  t.test('WebSocket subscriptions: newHeads, logs, pending transactions in full', async (t) => {
    const ws = createPublicClient({ chain: dev, transport: webSocket(node.wsUrl) })
    t.teardown(() => ws.transport.getRpcClient().then((c) => c.close()))
    const heads: bigint[] = []
    const stopHeads = ws.watchBlocks({ poll: false, onBlock: (b) => void heads.push(b.number) })
    const events: Log[] = []
    const stopLogs = ws.watchContractEvent({ address, abi, eventName: 'Stored', poll: false, onLogs: (l) => void events.push(...l) })
    const pending: Array<{ hash: Hex; from: Address; input: Hex }> = []
    // viem's watchPendingTransactions gives hashes only; its transport subscribes to whole transactions (geth's `true`).
    const { unsubscribe } = await ws.transport.subscribe({
      params: ['newPendingTransactions', true] as unknown as ['newPendingTransactions'],
      onData: (d) => void pending.push(d.result as { hash: Hex; from: Address; input: Hex }),
      onError: () => undefined,
    })
    // watchBlocks/watchContractEvent subscribe asynchronously: wait until a head has arrived through them.
    await waitFor(async () => heads.length > 0, 'a newHeads notification', 10_000)
    const hash = await wallet.writeContract({ address, abi, functionName: 'store', args: [9n] })
    await receiptOf(hash)
    await waitFor(async () => events.some((e) => e.transactionHash === hash) && heads.length >= 2, 'the Stored log', 10_000)
    stopHeads()
    stopLogs()
    await unsubscribe()
    t.ok(heads.every((n, i) => i === 0 || n === heads[i - 1]! + 1n), `consecutive heads ${heads.join(',')}`)
    t.equal((events.find((e) => e.transactionHash === hash) as unknown as { args: { value: bigint } }).args.value, 9n)
    const tx = pending.find((p) => p.hash === hash)
    t.ok(tx, 'the pending transaction came whole')
    t.equal(tx?.from, sponsor.address.toLowerCase())
    t.equal(tx?.input, encodeFunctionData({ abi, functionName: 'store', args: [9n] }))
  })

  t.test('txpool_status / content / inspect through viem\'s test actions', async (t) => {
    const pool = createTestClient({ chain: dev, mode: 'anvil', transport: http(node.url) })
    // Nonce 3 of an account that has sent nothing: queued until nonces 0-2 come, so it stays for the reads.
    const raw = await queuedSender.signTransaction({ chainId: DEV_CHAIN_ID, nonce: 3, to: sponsor.address, value: 1n, gas: 21_000n, maxFeePerGas: 10n ** 10n, maxPriorityFeePerGas: 1n })
    const hash = await client.sendRawTransaction({ serializedTransaction: raw })
    const status = await pool.getTxpoolStatus()
    t.ok(status.queued >= 1, `queued ${status.queued}`)
    const content = await pool.getTxpoolContent()
    t.equal(content.queued[queuedSender.address]?.['3']?.hash, hash)
    const inspect = await pool.inspectTxpool()
    t.equal(inspect.queued[queuedSender.address]?.['3'], `${sponsor.address}: 1 wei + 21000 gas × 10000000000 wei`)
  })

  t.test('the dev chain\'s unlocked accounts: eth_sendTransaction, personal_sign, eth_sign', async (t) => {
    const signer = createWalletClient({ chain: dev, transport: http(node.url), account: unlocked })
    const hash = await signer.sendTransaction({ to: sponsor.address, value: 3n })
    const receipt = await receiptOf(hash)
    t.equal(receipt.status, 'success')
    t.equal(receipt.from, unlocked.toLowerCase(), 'signed by the node with the unlocked key')
    const signature = await signer.signMessage({ message: 'hello medrec' })
    t.ok(await verifyMessage({ address: unlocked, message: 'hello medrec', signature }), 'personal_sign')
    const ethSign = await client.request<{ Method: 'eth_sign'; Parameters: [Address, Hex]; ReturnType: Hex }>({ method: 'eth_sign', params: [unlocked, '0x68656c6c6f'] })
    t.equal(await recoverMessageAddress({ message: { raw: '0x68656c6c6f' }, signature: ethSign }), unlocked, 'eth_sign')
  })

  t.test('http({ batch: true }): 300 requests in one batch', async (t) => {
    const bodies: number[] = []
    const batched = createPublicClient({ chain: dev, transport: http(node.url, { batch: true, onFetchRequest: (r) => void r.clone().json().then((b) => bodies.push((b as unknown[]).length)) }) })
    const accounts = Array.from({ length: 300 }, (_, i) => (i % 2 === 0 ? sponsor.address : other.address))
    const balances = await Promise.all(accounts.map((a) => batched.getBalance({ address: a })))
    t.same(bodies, [300], 'one HTTP request carried all 300')
    const [b0, b1] = await Promise.all([client.getBalance({ address: sponsor.address }), client.getBalance({ address: other.address })])
    t.ok(balances.every((b, i) => b === (i % 2 === 0 ? b0 : b1)), 'every answer is the right account\'s balance')
  })

  t.test('safe and finalized tags (one authority: safe = head, finalized = head - 1)', async (t) => {
    const before = await client.getBlockNumber()
    const [safe, finalized] = await Promise.all([client.getBlock({ blockTag: 'safe' }), client.getBlock({ blockTag: 'finalized' })])
    const after = await client.getBlockNumber()
    t.ok(safe.number >= before && safe.number <= after, `safe ${safe.number} is the head (${before}..${after})`)
    t.ok(finalized.number >= before - 1n && finalized.number <= after - 1n, `finalized ${finalized.number} is the head's parent`)
  })

  t.test('an EIP-7702 delegation end to end (estimated, no gas given)', async (t) => {
    const authorization = await wallet.signAuthorization({ account: eoa, contractAddress: address })
    const hash = await wallet.writeContract({ address: eoa.address, abi, functionName: 'store', args: [21n], authorizationList: [authorization] })
    const receipt = await receiptOf(hash)
    t.equal(receipt.status, 'success')
    t.equal(receipt.type, 'eip7702')
    t.equal(await client.getCode({ address: eoa.address }), `0xef0100${address.slice(2).toLowerCase()}`, 'the delegation designator')
    t.equal(await client.readContract({ address: eoa.address, abi, functionName: 'stored' }), 21n, 'the EOA\'s own storage')
    t.equal(await client.readContract({ address, abi, functionName: 'stored' }), 9n, 'not the contract\'s')
    t.equal((await client.getTransaction({ hash })).authorizationList?.[0]?.address, address)
  })

  t.test('eth_simulateV1 (simulateCalls), eth_signTypedData_v4 (signTypedData), eth_signTransaction', async (t) => {
    // Calls in one simulated block see each other's writes; a revert is reported per call, not thrown.
    const { results } = await client.simulateCalls({
      account: sponsor.address,
      calls: [
        { to: address, abi, functionName: 'store', args: [55n] },
        { to: address, abi, functionName: 'stored' },
        { to: address, abi, functionName: 'checkMin', args: [1n] },
      ],
    })
    t.same(results.map((r) => r.status), ['success', 'success', 'failure'])
    t.equal(results[1]!.result, 55n, 'the second call read the first one\'s write')
    t.same(results[0]!.logs?.map((l) => l.topics[0]), [toEventSelector(storedEvent)], 'with the first call\'s log')
    t.match(results[2]!.error?.message, /TooSmall/, 'the revert named')
    t.equal(await client.readContract({ address, abi, functionName: 'stored' }), 9n, 'the chain is unchanged')

    const signer = createWalletClient({ chain: dev, transport: http(node.url), account: unlocked })
    const typed = {
      domain: { name: 'medrec', version: '1', chainId: DEV_CHAIN_ID, verifyingContract: address },
      types: { Grant: [{ name: 'patient', type: 'address' }, { name: 'record', type: 'string' }, { name: 'until', type: 'uint64' }] },
      primaryType: 'Grant' as const,
      message: { patient: sponsor.address, record: 'lab/2026-12-07', until: 1_900_000_000n },
    }
    const signature = await signer.signTypedData(typed)
    t.ok(await verifyTypedData({ address: unlocked, signature, ...typed }), 'eth_signTypedData_v4: viem verifies the node\'s EIP-712 signature')

    // geth answers {raw, tx} (viem's signTransaction expects anvil's bare string, so ask directly).
    const nonce = await client.getTransactionCount({ address: unlocked, blockTag: 'pending' })
    const signed = await client.request<{ Method: 'eth_signTransaction'; Parameters: [object]; ReturnType: { raw: Hex; tx: { hash: Hex } } }>({
      method: 'eth_signTransaction', params: [{ from: unlocked, to: sponsor.address, value: '0x7', gas: '0x5208', maxFeePerGas: '0x3b9aca00', maxPriorityFeePerGas: '0x1', nonce: `0x${nonce.toString(16)}` }],
    })
    const parsed = parseTransaction(signed.raw)
    t.same([parsed.to, parsed.value, parsed.nonce], [sponsor.address.toLowerCase(), 7n, nonce])
    t.equal(await recoverTransactionAddress({ serializedTransaction: signed.raw as TransactionSerialized }), unlocked, 'signed by the unlocked account')
    t.equal(signed.tx.hash, keccak256(signed.raw))
  })
}
