import t, { type Test } from 'tap'
import { RLP } from '@ethereumjs/rlp'
import { createTxFromRLP } from '@ethereumjs/tx'
import { Address, bytesToHex, hexToBytes } from '@ethereumjs/util'
import { decodeFunctionResult, encodeFunctionData, type Hex } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { Chain } from '../../node/chain/index.ts'
import type { ChainFork } from '../../evm/index.ts'
import { DEV_KEYS, addressOf, source, testGenesis } from '../helpers/chain.ts'
import { tempDir } from '../helpers/node-process.ts'
import { compileProbe } from '../helpers/osaka-probe.ts'
import { setLogLevel } from '../../common/logger.ts'

/**
 * The chain's fork decides the EVM: a contract compiled with solc's default settings (Osaka:
 * CLZ, TSTORE/TLOAD, MCOPY) deploys and runs on an Osaka chain and fails on a Shanghai one; an
 * EIP-7702 delegation works end to end; blob transactions never enter a block. Real chains on
 * LevelDB, blocks built, sealed, and re-executed by a replica.
 */

setLogLevel('error')

const probe = compileProbe()
const [K0, K1] = [DEV_KEYS[0]!, DEV_KEYS[1]!]
const signer = { address: addressOf(K0), privateKey: K0 }
const viemAccount = (k: Uint8Array) => privateKeyToAccount(bytesToHex(k) as Hex)
const GWEI = 1_000_000_000n

async function openChain(t: Test, hardfork: ChainFork): Promise<Chain> {
  const dir = tempDir()
  const chain = await Chain.open(dir.path, testGenesis({ hardfork }))
  t.teardown(async () => {
    await chain.close()
    dir.remove()
  })
  return chain
}

/** Signs with viem (an independent encoder), decodes as the node decodes. */
async function signed(chain: Chain, key: Uint8Array, tx: Record<string, unknown>) {
  const raw = await viemAccount(key).signTransaction({ chainId: 1337, maxFeePerGas: 10n * GWEI, maxPriorityFeePerGas: GWEI, ...tx } as Parameters<ReturnType<typeof viemAccount>['signTransaction']>[0])
  return { tx: createTxFromRLP(hexToBytes(raw), { common: chain.common }), sender: new Address(addressOf(key)) }
}

async function produce(chain: Chain, items: Awaited<ReturnType<typeof signed>>[]) {
  return chain.produce({ signer, source: source(items), deadline: Date.now() + 60_000 })
}

async function call(chain: Chain, to: Uint8Array, fn: string, args: unknown[] = []) {
  const head = chain.head.block.header
  const data = encodeFunctionData({ abi: probe.abi, functionName: fn, args })
  const r = await chain.executor.call({ from: new Address(addressOf(K0)), to: new Address(to), data: hexToBytes(data) }, chain.contextOf(head, new Address(signer.address)), head.stateRoot)
  return { error: r.error, value: r.error === undefined ? decodeFunctionResult({ abi: probe.abi, functionName: fn, data: bytesToHex(r.returnValue) as Hex }) : undefined }
}

t.test('solc\'s default settings target Osaka and use CLZ, TSTORE/TLOAD and MCOPY', async (t) => {
  t.equal(probe.evmVersion, 'osaka')
  for (const op of ['CLZ', 'TSTORE', 'TLOAD', 'MCOPY']) t.match(probe.opcodes, new RegExp(`\\b${op}\\b`), `the runtime uses ${op}`)
})

t.test('an Osaka chain runs the solc-default contract; a replica re-executes it; a Shanghai chain cannot', async (t) => {
  const chain = await openChain(t, 'osaka')
  const deployed = await produce(chain, [await signed(chain, K0, { nonce: 0, gas: 1_000_000n, data: bytesToHex(probe.initCode) })])
  const address = deployed.receipts[0]!.contractAddress!
  t.equal(deployed.receipts[0]!.status, 1, 'deployed')
  t.same((await call(chain, address, 'clz', [1n])).value, 255n, 'CLZ(1) = 255')
  t.same((await call(chain, address, 'clz', [0n])).value, 256n, 'CLZ(0) = 256 (EIP-7939)')
  t.same((await call(chain, address, 'clz', [1n << 255n])).value, 0n)
  t.equal((await call(chain, address, 'twice', ['0xc0ffee'])).value, '0xc0ffeec0ffee', 'MCOPY copies')
  const guard = encodeFunctionData({ abi: probe.abi, functionName: 'guarded', args: [41n] })
  const used = await produce(chain, [await signed(chain, K0, { nonce: 1, gas: 200_000n, to: bytesToHex(address), data: guard })])
  t.equal(used.receipts[0]!.status, 1, 'a transaction using transient storage succeeds')
  t.same((await call(chain, address, 'stored')).value, 42n)

  // The same blocks re-executed from genesis by a second node of the same chain.
  const replica = await openChain(t, 'osaka')
  for (const n of [1n, 2n]) {
    const { status, bundle } = await replica.importBlock((await chain.blockByNumber(n))!)
    t.equal(status, 'head')
    t.equal(bytesToHex(bundle.block.header.stateRoot), bytesToHex((await chain.blockByNumber(n))!.header.stateRoot), `block ${n}: same state root`)
  }

  // A node that runs the same genesis with Shanghai rules cannot follow: TLOAD is an invalid opcode there.
  const old = await openChain(t, 'shanghai')
  t.equal((await old.importBlock((await chain.blockByNumber(1n))!)).status, 'head', 'the deployment itself uses no new opcode')
  await t.rejects(old.importBlock((await chain.blockByNumber(2n))!), { code: 'CHAIN_INVALID_BLOCK', message: /execution mismatch/ })
  const clz = await call(old, address, 'clz', [1n])
  t.match(clz.error, { reverted: false, message: /invalid opcode/ }, 'CLZ is an invalid opcode under Shanghai')
  t.match((await call(old, address, 'blobs')).error, { message: /invalid opcode/ }, 'so is BLOBHASH')
})

t.test('each fork has its own opcodes: Cancun has MCOPY and TSTORE but no CLZ', async (t) => {
  const chain = await openChain(t, 'cancun')
  const deployed = await produce(chain, [await signed(chain, K0, { nonce: 0, gas: 1_000_000n, data: bytesToHex(probe.initCode) })])
  const address = deployed.receipts[0]!.contractAddress!
  t.equal((await call(chain, address, 'twice', ['0x01'])).value, '0x0101', 'MCOPY')
  t.same((await call(chain, address, 'blobs')).value, [`0x${'00'.repeat(32)}`, 1n], 'BLOBHASH and BLOBBASEFEE answer as on a chain without blobs')
  t.match((await call(chain, address, 'clz', [1n])).error, { message: /invalid opcode/ }, 'no CLZ before Osaka')
})

t.test('EIP-7702: an EOA delegates to the contract with a viem-signed authorization and runs its code', async (t) => {
  const chain = await openChain(t, 'osaka')
  const deployed = await produce(chain, [await signed(chain, K0, { nonce: 0, gas: 1_000_000n, data: bytesToHex(probe.initCode) })])
  const target = bytesToHex(deployed.receipts[0]!.contractAddress!) as Hex
  const eoa = addressOf(K1)
  // K1 authorises; K0 sends and pays (a sponsored delegation): the authority's nonce is its own, 0.
  const authorization = await viemAccount(K1).signAuthorization({ chainId: 1337, address: target, nonce: 0 })
  const guard = encodeFunctionData({ abi: probe.abi, functionName: 'guarded', args: [6n] })
  const item = await signed(chain, K0, { type: 'eip7702', nonce: 1, gas: 300_000n, to: bytesToHex(eoa), data: guard, authorizationList: [authorization] })
  t.equal(item.tx.type, 4, 'a set-code transaction')
  const block = await produce(chain, [item])
  t.equal(block.block.transactions.length, 1, 'included')
  t.equal(block.receipts[0]!.status, 1, 'the call through the delegated EOA ran the contract\'s code')
  const head = chain.head.block.header.stateRoot
  t.equal(bytesToHex(await chain.executor.getCode(new Address(eoa), head)), `0xef0100${target.slice(2)}`, 'the EOA\'s code is the delegation designator')
  t.equal((await chain.executor.getAccount(new Address(eoa), head)).nonce, 1n, 'the authorization bumped the authority\'s nonce')
  t.same((await call(chain, eoa, 'stored')).value, 7n, 'storage written in the EOA\'s own account')
  t.same((await call(chain, hexToBytes(target), 'stored')).value, 0n, 'not in the contract\'s')
  t.same((await call(chain, eoa, 'clz', [2n])).value, 254n, 'calls through the EOA run the delegated code')

  const replica = await openChain(t, 'osaka')
  for (const n of [1n, 2n]) t.equal((await replica.importBlock((await chain.blockByNumber(n))!)).status, 'head', `replica imports block ${n}`)
  t.equal(bytesToHex(replica.head.block.header.stateRoot), bytesToHex(chain.head.block.header.stateRoot))
})

t.test('a block carrying a blob transaction is refused with the reason; so is a set-code one before Prague', async (t) => {
  const chain = await openChain(t, 'cancun')
  const empty = await produce(chain, [])
  const [header, , uncles] = RLP.decode(empty.block.serialize()) as [Uint8Array[], Uint8Array[], Uint8Array[]]
  const blob = await viemAccount(K0).signTransaction({
    type: 'eip4844', chainId: 1337, nonce: 0, gas: 21_000n, maxFeePerGas: 10n * GWEI, maxPriorityFeePerGas: GWEI, maxFeePerBlobGas: 1n,
    to: `0x${'22'.repeat(20)}`, blobVersionedHashes: [`0x01${'00'.repeat(31)}`],
  })
  const withBlob = RLP.encode([header, [hexToBytes(blob)], uncles])
  await t.rejects(chain.decodePrechecked(chain.parseBlock(withBlob)), {
    code: 'CHAIN_INVALID_BLOCK',
    message: /^block 1: transaction 0: transaction type not supported: type 3; blob transactions are refused: a medrec chain has no blob market/,
  })
  const authorization = await viemAccount(K1).signAuthorization({ chainId: 1337, address: `0x${'33'.repeat(20)}`, nonce: 0 })
  const setCode = await viemAccount(K0).signTransaction({
    type: 'eip7702', chainId: 1337, nonce: 0, gas: 100_000n, maxFeePerGas: 10n * GWEI, maxPriorityFeePerGas: GWEI, to: `0x${'22'.repeat(20)}`, authorizationList: [authorization],
  })
  await t.rejects(chain.decodePrechecked(chain.parseBlock(RLP.encode([header, [hexToBytes(setCode)], uncles]))), {
    code: 'CHAIN_INVALID_BLOCK',
    message: /transaction type not supported: type 4; set-code transactions need the prague fork and this chain runs cancun/,
  })
})
