import type { Test } from 'tap'
import { execFile, spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { ROOT, tempDir, waitFor, type NodeProcess } from '../helpers/node-process.ts'
import { DEV_ADDRESSES, DEV_KEYS, DEV_MNEMONIC, verifyProof, type Probe, type ProofJson } from './fixture.ts'

/**
 * Foundry's cast 1.7.1 (from its npm package, @foundry-rs/cast-linux-amd64) against a real `--dev`
 * node, as a developer uses it: every operation issue 20 lists that cast has a command for (`cast rpc`
 * for the methods it does not wrap), each asserted on what cast printed.
 * cast cannot batch requests or subscribe to newHeads or pending transactions: those are in the ethers
 * and viem files. On the dev node test/clients/clients.test.ts shares; `queued` is the mnemonic index of
 * the account whose nonce-gapped transaction the txpool test leaves queued (key3 and A3 below).
 */
export default async function castTests(t: Test, node: NodeProcess, probe: Probe, queued: number): Promise<void> {
  const CAST = join(ROOT, 'node_modules', '.bin', 'cast')
  const run = promisify(execFile)
  if (!existsSync(CAST)) throw new Error(`${CAST} is missing: cast comes with the devDependency @foundry-rs/cast-linux-amd64 (npm ci on linux x64)`)

  // cast keeps caches under ~/.foundry: a throwaway home keeps the runs hermetic.
  const home = tempDir()
  t.teardown(() => home.remove())
  const env = { PATH: process.env.PATH ?? '', HOME: home.path, NO_COLOR: '1' }
  const rpcUrl = ['--rpc-url', node.url]

  /** After the subcommand's words: trailing arguments (`cast send --create CODE [SIG] [ARGS]...`) would take flags as values. */
  const withFlags = (args: string[], flags: string[]) => {
    const at = args[0] === 'wallet' ? 2 : 1
    return [...args.slice(0, at), ...flags, ...args.slice(at)]
  }

  /** `cast ARGS` with `--rpc-url URL` (unless `noRpc`): its stdout, trimmed; rejects with stderr on a non-zero exit. */
  async function cast(args: string[], opts: { noRpc?: boolean } = {}): Promise<string> {
    try {
      const { stdout } = await run(CAST, opts.noRpc === true ? args : withFlags(args, rpcUrl), { env, timeout: 60_000 })
      return stdout.trim()
    } catch (err) {
      const e = err as { stderr?: string; message: string }
      throw new Error(e.stderr?.trim() || e.message)
    }
  }
  const castJson = async <T>(args: string[]): Promise<T> => JSON.parse(await cast(withFlags(args, ['--json']))) as T
  /** The error cast printed for a command that must fail. */
  async function castError(args: string[]): Promise<string> {
    return cast(args).then((out) => `unexpected success: ${out}`, (err: Error) => err.message)
  }

  interface Receipt { status: string; type: string; gasUsed: string; blockNumber: string; contractAddress: string | null; from: string; transactionHash: string; logs: Array<{ data: string; blockTimestamp?: string }> }
  const [K0, K1, K2] = DEV_KEYS
  const [A0, A1, A2] = DEV_ADDRESSES
  const key3 = await cast(['wallet', 'private-key', DEV_MNEMONIC, String(queued)], { noRpc: true })
  const A3 = await cast(['wallet', 'address', '--private-key', key3], { noRpc: true })
  const A4 = await cast(['wallet', 'address', '--mnemonic', DEV_MNEMONIC, '--mnemonic-index', '4'], { noRpc: true })
  const key4 = await cast(['wallet', 'private-key', DEV_MNEMONIC, '4'], { noRpc: true })
  const slot0 = `0x${'00'.repeat(32)}`
  const word = (n: number) => `0x${n.toString(16).padStart(64, '0')}`
  const lower = (a: string) => a.toLowerCase()

  let address = ''
  t.test('cast send --create: a solc-default (Osaka) contract deploys; cast code, cast call (CLZ, MCOPY)', async (t) => {
    const receipt = await castJson<Receipt>(['send', '--private-key', K0, '--create', probe.bytecode])
    t.equal(receipt.status, '0x1')
    t.equal(receipt.type, '0x2', 'EIP-1559 by default')
    address = receipt.contractAddress!
    t.equal(await cast(['code', address]), probe.deployedBytecode, 'the runtime code is what solc produced')
    t.equal(await cast(['call', address, 'clz(uint256)(uint256)', '1']), '255', 'CLZ')
    t.equal(await cast(['call', address, 'twice(bytes)(bytes)', '0xbeef']), '0xbeefbeef', 'MCOPY')
  })

  const sent: Record<string, string> = {}
  t.test('value, EIP-1559 and EIP-2930 transactions; cast receipt/tx/balance/nonce/storage/logs/block; blockTimestamp', async (t) => {
    const payee = await cast(['wallet', 'address', '--private-key', word(0xc0ffee)], { noRpc: true })
    const depositSlot = await cast(['index', 'address', A1, '1'], { noRpc: true })
    const nonce = Number(await cast(['nonce', A0]))
    // One sender's transactions in parallel need their nonces given; --async prints the hash without waiting.
    const [value, store, nested, deposit] = await Promise.all([
      cast(['send', '--async', '--private-key', K0, '--nonce', String(nonce), payee, '--value', '12345']),
      cast(['send', '--async', '--private-key', K0, '--nonce', String(nonce + 1), address, 'store(uint256)', '7']),
      cast(['send', '--async', '--private-key', K0, '--nonce', String(nonce + 2), address, 'storeViaSelf(uint256)', '12']),
      // EIP-2930: --legacy with an access list.
      cast(['send', '--async', '--private-key', K1, '--legacy', '--access-list', JSON.stringify([{ address, storageKeys: [depositSlot] }]), address, 'deposit()', '--value', '5']),
    ])
    Object.assign(sent, { value, store, nested, deposit })
    const [rValue, rStore, rNested, rDeposit] = await Promise.all([value!, store!, nested!, deposit!].map((h) => castJson<Receipt>(['receipt', h])))
    t.same([rValue, rStore, rNested, rDeposit].map((r) => r!.status), ['0x1', '0x1', '0x1', '0x1'])
    t.equal(BigInt(rValue!.gasUsed), 21_000n)
    t.same([rValue!.type, rDeposit!.type], ['0x2', '0x1'])
    // Logs by filter: the event's indexed `who` given as an argument.
    const fromBlock = String(Math.min(Number(rValue!.blockNumber), Number(rNested!.blockNumber)))
    const stored = 'Stored(address indexed who, uint256 value)'
    type Logs = Array<{ data: string; transactionHash: string; blockTimestamp: string }>
    const [balance, depositTx, deposits, nonceAfter, slot, mine, viaSelf, block, storeTx] = await Promise.all([
      cast(['balance', payee]),
      castJson<{ accessList: Array<{ address: string; storageKeys: string[] }> }>(['tx', deposit!]),
      cast(['call', address, 'deposits(address)(uint256)', A1]),
      cast(['nonce', A0]),
      cast(['storage', address, '0']),
      castJson<Logs>(['logs', '--from-block', fromBlock, '--address', address, stored, A0]),
      castJson<Logs>(['logs', '--from-block', fromBlock, '--address', address, stored, address]),
      castJson<{ number: string; timestamp: string; transactions: string[]; miner: string }>(['block', String(Number(rStore!.blockNumber))]),
      castJson<{ blockTimestamp: string }>(['tx', store!]),
    ])
    t.equal(balance, '12345', 'the value arrived')
    t.same(depositTx.accessList, [{ address: lower(address), storageKeys: [depositSlot] }], 'the access list is kept in the transaction')
    t.equal(deposits, '5')
    t.equal(nonceAfter, String(nonce + 3))
    t.equal(slot, word(12), 'slot 0: storeViaSelf ran last')
    t.same(mine.map((l) => [l.data, l.transactionHash]), [[word(7), store]])
    t.same(viaSelf.map((l) => [l.data, l.transactionHash]), [[word(12), nested]])

    // blockTimestamp on the transaction and on logs (and on the logs in receipts): the block's timestamp.
    t.ok(block.transactions.includes(store!), 'cast block lists the transaction')
    t.equal(block.miner, `0x${'00'.repeat(20)}`, 'a clique coinbase that carries no vote')
    t.equal(storeTx.blockTimestamp, block.timestamp, 'transaction.blockTimestamp')
    t.equal(mine[0]?.blockTimestamp, block.timestamp, 'log.blockTimestamp')
    t.equal(rStore!.logs[0]?.blockTimestamp, block.timestamp, 'receipt log blockTimestamp')

    const receipts = await castJson<Receipt[]>(['rpc', 'eth_getBlockReceipts', block.number])
    t.same(receipts.map((r) => r.transactionHash), block.transactions, 'eth_getBlockReceipts: every receipt, in block order')
  })

  t.test('reverts: cast call and cast estimate name the custom error, panic and require string', async (t) => {
    const custom = await castError(['call', address, 'checkMin(uint256)(uint256)', '1'])
    t.match(custom, /error code 3: execution reverted: custom error 0xe94fe3af/)
    const customData = /data: "(0x[0-9a-f]+)"/.exec(custom)?.[1] ?? ''
    t.equal(await cast(['decode-error', '--sig', 'TooSmall(uint256,uint256)', customData], { noRpc: true }), '1\n10', 'cast decode-error decodes TooSmall(1, 10)')
    const panic = await castError(['call', address, 'divide(uint256,uint256)(uint256)', '1', '0'])
    t.match(panic, /error code 3: execution reverted: division or modulo by zero/)
    t.equal(await cast(['decode-error', '--sig', 'Panic(uint256)', /data: "(0x[0-9a-f]+)"/.exec(panic)?.[1] ?? ''], { noRpc: true }), '18')
    t.match(await castError(['call', address, 'store(uint256)', '5000']), /error code 3: execution reverted: ClientProbe: value too large/)
    t.match(await castError(['estimate', address, 'store(uint256)', '5000']), /execution reverted: ClientProbe: value too large/)
  })

  t.test('cast estimate --access-list, cast call with state and block overrides, cast access-list, cast proof', async (t) => {
    const [plain, listed] = await Promise.all([cast(['estimate', '--from', A0, address, 'store(uint256)', '3']), cast(['estimate', '--from', A0, address, 'store(uint256)', '3', '--access-list'])])
    // The list costs 2,400 + 1,900 and saves 2,000 on the now-warm slot: 2,300 more (the estimates are within 1.5% above exact).
    const diff = Number(listed) - Number(plain)
    t.ok(diff > 1_800 && diff < 2_800, `an access list is charged: ${plain} without, ${listed} with`)

    const [overridden, actual, balance, info, list] = await Promise.all([
      cast(['call', address, 'stored()(uint256)', '--override-state-diff', `${address}:0:${word(42)}`]),
      cast(['call', address, 'stored()(uint256)']),
      cast(['call', address, 'balanceOf(address)(uint256)', A3, '--override-balance', `${A3}:123456789`]),
      cast(['call', address, 'blockInfo()(uint256,uint256,address)', '--block.number', '777', '--block.time', '12345']),
      castJson<{ accessList: Array<{ address: string; storageKeys: string[] }>; gasUsed: string }>(['access-list', '--from', A0, address, 'store(uint256)', '3']),
    ])
    // cast prints a number as `123456789 [1.234e8]`: the first word is the value.
    const first = (line: string) => line.split(' ')[0]
    t.equal(overridden, '42', 'state-diff override of slot 0')
    t.equal(actual, '12', 'for that call only')
    t.equal(first(balance), '123456789', 'balance override')
    t.same(info.split('\n').slice(0, 2).map(first), ['777', '12345'], 'block override of number and time')
    t.same(list.accessList, [{ address: lower(address), storageKeys: [slot0] }], 'the callee and the slot store() writes')

    const number = await cast(['block-number'])
    const [proof, stateRoot] = await Promise.all([castJson<ProofJson>(['proof', address, '0', '--block', number]), cast(['block', number, '--field', 'stateRoot'])])
    const verified = await verifyProof(proof, stateRoot)
    t.equal(verified.codeHash, await cast(['keccak', probe.deployedBytecode], { noRpc: true }), 'the proven account has the contract\'s code hash')
    t.same(verified.slots, [12n], 'slot 0 proven under the account\'s storage root')
  })

  t.test('cast run replays a transaction; debug_traceTransaction/traceCall/traceBlockByNumber through cast rpc', async (t) => {
    interface Frame { type: string; from: string; to: string; input: string; gasUsed: string; calls?: Frame[] }
    const data = await cast(['calldata', 'clz(uint256)', '1'], { noRpc: true })
    const [nestedGas, storeGas, storeBlock, replay, frameJson, logsJson, callJson] = await Promise.all([
      cast(['receipt', sent.nested!, 'gasUsed']),
      cast(['receipt', sent.store!, 'gasUsed']),
      cast(['receipt', sent.store!, 'blockNumber']),
      // cast run re-executes the block up to the transaction in its own EVM from the node's state (as the node answers it).
      cast(['run', sent.nested!]),
      cast(['rpc', 'debug_traceTransaction', sent.nested!, '{"tracer":"callTracer"}']),
      cast(['rpc', 'debug_traceTransaction', sent.store!]),
      cast(['rpc', 'debug_traceCall', JSON.stringify({ to: address, data }), 'latest', '{"disableStack":true}']),
    ])
    const gasUsed = BigInt(nestedGas)
    t.match(replay, /Transaction successfully executed/)
    t.match(replay, new RegExp(`Gas used: ${gasUsed}\\b`), 'cast\'s own EVM used what the receipt says')

    const frame = JSON.parse(frameJson) as Frame
    t.equal(BigInt(frame.gasUsed), gasUsed)
    const inner = frame.calls?.[0]
    t.same([inner?.type, inner?.from, inner?.to], ['CALL', lower(address), lower(address)])
    t.equal(inner?.input, await cast(['calldata', 'store(uint256)', '12'], { noRpc: true }), 'the inner call\'s input is what it was called with')

    const logs = JSON.parse(logsJson) as { gas: number; structLogs: Array<{ op: string }> }
    t.equal(BigInt(logs.gas), BigInt(storeGas))
    const ops = new Set(logs.structLogs.map((l) => l.op))
    t.ok(ops.has('TSTORE') && ops.has('SSTORE') && ops.has('LOG2'), 'transient and persistent stores, the event')

    const call = JSON.parse(callJson) as { structLogs: Array<{ op: string }>; returnValue: string }
    t.ok(call.structLogs.some((l) => l.op === 'CLZ'), 'the struct logger names CLZ')
    t.equal(call.returnValue, word(255))

    const block = JSON.parse(await cast(['rpc', 'debug_traceBlockByNumber', `0x${BigInt(storeBlock).toString(16)}`, '{"tracer":"callTracer"}'])) as Array<{ txHash: string; result: Frame }>
    t.equal(block.find((b) => b.txHash === sent.store)?.result.input, await cast(['calldata', 'store(uint256)', '7'], { noRpc: true }))
  })

  t.test('cast logs --subscribe over WebSocket; eth_subscribe newHeads through cast rpc', async (t) => {
    // Without --json, cast prints each log as the subscription delivers it (no history: no --from-block).
    const sub = spawn(CAST, ['logs', '--subscribe', '--rpc-url', node.wsUrl, '--address', address, 'Stored(address indexed who, uint256 value)'], { env })
    t.teardown(() => void sub.kill())
    let out = ''
    sub.stdout.on('data', (d: Buffer) => void (out += d.toString()))
    // A write mined before cast has subscribed is not streamed: write again until one shows (at most three).
    let seen: string | undefined
    for (let i = 0; i < 3 && seen === undefined; i++) {
      const { transactionHash: hash } = await castJson<Receipt>(['send', '--private-key', K0, address, 'store(uint256)', '9'])
      seen = await waitFor(async () => out.includes(hash) && hash, `cast to print the log of ${hash}`, 3_000).catch(() => undefined)
    }
    t.ok(seen, 'cast streamed a Stored log from the subscription while it ran')
    t.match(out, new RegExp(`data: ${word(9)}`), 'with its data')
    t.match(await cast(['rpc', '--rpc-url', node.wsUrl, 'eth_subscribe', 'newHeads'], { noRpc: true }), /^"0x[0-9a-f]+"$/, 'a newHeads subscription id')
  })

  t.test('txpool_status / content / inspect through cast rpc', async (t) => {
    // Nonce 3 of an account that has sent nothing: queued until nonces 0-2 come, so it stays for the reads.
    const hash = await cast(['send', '--async', '--private-key', key3, '--nonce', '3', '--gas-limit', '21000', '--gas-price', '10gwei', '--priority-gas-price', '1', A0, '--value', '1'])
    const status = JSON.parse(await cast(['rpc', 'txpool_status'])) as { queued: string }
    t.ok(BigInt(status.queued) >= 1n, `queued ${status.queued}`)
    const content = JSON.parse(await cast(['rpc', 'txpool_content'])) as { queued: Record<string, Record<string, { hash: string }>> }
    t.equal(content.queued[A3]?.['3']?.hash, hash)
    const inspect = JSON.parse(await cast(['rpc', 'txpool_inspect'])) as { queued: Record<string, Record<string, string>> }
    t.equal(inspect.queued[A3]?.['3'], `${A0}: 1 wei + 21000 gas × 10000000000 wei`)
  })

  t.test('unlocked dev accounts: cast send --unlocked (eth_sendTransaction), eth_sign and personal_sign = cast wallet sign', async (t) => {
    const receipt = await castJson<Receipt>(['send', '--unlocked', '--from', A4, A0, '--value', '3'])
    t.equal(receipt.status, '0x1')
    t.equal(receipt.from, lower(A4), 'signed by the node with the unlocked key')
    const local = await cast(['wallet', 'sign', '--private-key', key4, 'hello'], { noRpc: true })
    t.equal(JSON.parse(await cast(['rpc', 'eth_sign', A4, '0x68656c6c6f'])), local, 'eth_sign signs as cast wallet sign does (RFC 6979)')
    t.equal(JSON.parse(await cast(['rpc', 'personal_sign', '0x68656c6c6f', A4])), local, 'personal_sign too')
    t.match(await cast(['wallet', 'verify', '--address', A4, 'hello', local], { noRpc: true }), /Validation succeeded/)
  })

  t.test('cast block safe / finalized (one authority: safe = head, finalized = head - 1)', async (t) => {
    const before = Number(await cast(['block-number']))
    const [safe, finalized] = (await Promise.all([cast(['block', 'safe', '--field', 'number']), cast(['block', 'finalized', '--field', 'number'])])).map(Number)
    const after = Number(await cast(['block-number']))
    t.ok(safe! >= before && safe! <= after, `safe ${safe} is the head (${before}..${after})`)
    t.ok(finalized! >= before - 1 && finalized! <= after - 1, `finalized ${finalized} is the head's parent`)
  })

  t.test('an EIP-7702 delegation: cast wallet sign-auth, cast send --auth', async (t) => {
    const auth = await cast(['wallet', 'sign-auth', address, '--private-key', K2])
    const receipt = await castJson<Receipt>(['send', '--private-key', K0, A2, 'store(uint256)', '21', '--auth', auth])
    t.equal(receipt.status, '0x1')
    t.equal(receipt.type, '0x4')
    t.equal(await cast(['code', A2]), `0xef0100${lower(address).slice(2)}`, 'the delegation designator')
    t.equal(await cast(['call', A2, 'stored()(uint256)']), '21', 'the EOA\'s own storage')
    t.equal(await cast(['call', address, 'stored()(uint256)']), '9', 'not the contract\'s')
  })

  t.test('eth_signTypedData_v4 = cast wallet sign --data; eth_simulateV1 through cast rpc', async (t) => {
    const typed = JSON.stringify({
      types: {
        EIP712Domain: [{ name: 'name', type: 'string' }, { name: 'chainId', type: 'uint256' }, { name: 'verifyingContract', type: 'address' }],
        Grant: [{ name: 'patient', type: 'address' }, { name: 'record', type: 'string' }],
      },
      primaryType: 'Grant',
      domain: { name: 'medrec', chainId: 1337, verifyingContract: address },
      message: { patient: A0, record: 'lab/2026-12-07' },
    })
    const local = await cast(['wallet', 'sign', '--private-key', key4, '--data', typed], { noRpc: true })
    t.equal(JSON.parse(await cast(['rpc', 'eth_signTypedData_v4', A4, typed])), local, 'the node signs the EIP-712 digest cast computes')

    const calls = [
      { from: A0, to: address, data: await cast(['calldata', 'store(uint256)', '55'], { noRpc: true }) },
      { from: A0, to: address, data: await cast(['calldata', 'stored()'], { noRpc: true }) },
    ]
    const [block] = JSON.parse(await cast(['rpc', 'eth_simulateV1', JSON.stringify({ blockStateCalls: [{ calls }] }), 'latest'])) as Array<{ calls: Array<{ status: string; returnData: string }> }>
    t.same(block!.calls.map((c) => [c.status, c.returnData]), [['0x1', word(55)], ['0x1', word(55)]], 'the second call read the first one\'s write')
    t.equal(await cast(['call', address, 'stored()(uint256)']), '9', 'the chain is unchanged')
  })
}
