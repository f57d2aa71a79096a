import type { Test } from 'tap'
import { createPublicClient, createWalletClient, defineChain, http, type Hex } from 'viem'
import { rpcRaw, type NodeProcess } from '../../helpers/node-process.ts'
import { compileProbe } from '../../helpers/osaka-probe.ts'
import { fundedAccount } from './fixture.ts'

/**
 * The dev chain runs the newest fork: a contract compiled with solc's default settings (Osaka)
 * deploys and runs through JSON-RPC (calls in the call workers, which must run the same fork),
 * an EIP-7702 delegation works end to end with viem, and a blob transaction is refused with its
 * reason. On the shared main node of test/rpc/dev-node.test.ts, from accounts of its own (the
 * EOA's delegation stays on it).
 */

const dev = defineChain({ id: 1337, name: 'medrec dev', nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 }, rpcUrls: { default: { http: [] } } })

export default async function osakaDev(t: Test, node: NodeProcess): Promise<void> {
  const probe = compileProbe()
  const sponsor = await fundedAccount(node, 'osaka-dev sponsor')
  const eoa = await fundedAccount(node, 'osaka-dev eoa')
  const transport = http(node.url)
  const client = createPublicClient({ chain: dev, transport, pollingInterval: 100 })
  const wallet = createWalletClient({ chain: dev, transport, account: sponsor })

  t.test('a solc-default (Osaka) contract deploys and runs on the dev chain: CLZ, MCOPY, transient storage', async (t) => {
    const hash = await wallet.deployContract({ abi: probe.abi, bytecode: `0x${Buffer.from(probe.initCode).toString('hex')}` })
    const receipt = await client.waitForTransactionReceipt({ hash, pollingInterval: 100 })
    t.equal(receipt.status, 'success')
    const address = receipt.contractAddress!
    t.equal(await client.readContract({ address, abi: probe.abi, functionName: 'clz', args: [1n] }), 255n, 'CLZ through eth_call')
    t.equal(await client.readContract({ address, abi: probe.abi, functionName: 'twice', args: ['0xbeef'] }), '0xbeefbeef')
    t.same(await client.readContract({ address, abi: probe.abi, functionName: 'blobs' }), [`0x${'00'.repeat(32)}`, 1n], 'BLOBHASH 0, BLOBBASEFEE 1 wei: no blobs')
    const gas = await client.estimateContractGas({ address, abi: probe.abi, functionName: 'guarded', args: [1n], account: sponsor })
    t.ok(gas > 21_000n && gas < 100_000n, `estimated ${gas}`)
    const write = await wallet.writeContract({ address, abi: probe.abi, functionName: 'guarded', args: [1n] })
    t.equal((await client.waitForTransactionReceipt({ hash: write, pollingInterval: 100 })).status, 'success', 'TSTORE/TLOAD in a mined transaction')
    t.equal(await client.readContract({ address, abi: probe.abi, functionName: 'stored' }), 2n)

    // EIP-7702: the EOA authorises the contract's code; the sponsor's type-4 transaction carries it.
    const authorization = await wallet.signAuthorization({ account: eoa, contractAddress: address })
    // Gas given: eth_estimateGas does not apply an authorizationList yet (geth does), so its
    // estimate would leave out the delegation and the 25,000 gas per authorization.
    const setCode = await wallet.writeContract({ address: eoa.address, abi: probe.abi, functionName: 'guarded', args: [9n], authorizationList: [authorization], gas: 300_000n })
    const setReceipt = await client.waitForTransactionReceipt({ hash: setCode, pollingInterval: 100 })
    t.equal(setReceipt.status, 'success', 'the set-code transaction ran the contract\'s code in the EOA')
    t.equal(await client.getCode({ address: eoa.address }), `0xef0100${address.slice(2).toLowerCase()}`, 'the delegation designator')
    t.equal(await client.readContract({ address: eoa.address, abi: probe.abi, functionName: 'stored' }), 10n, 'the EOA\'s own storage')
    t.equal(await client.readContract({ address: eoa.address, abi: probe.abi, functionName: 'clz', args: [4n] }), 253n, 'calls through the EOA')
    // The EOA still sends its own transactions (EIP-3607 lets a delegated EOA through).
    const own = await createWalletClient({ chain: dev, transport, account: eoa }).sendTransaction({ to: sponsor.address, value: 1n })
    t.equal((await client.waitForTransactionReceipt({ hash: own, pollingInterval: 100 })).status, 'success')
  })

  t.test('a blob transaction is refused over JSON-RPC with the reason', async (t) => {
    const raw = await sponsor.signTransaction({
      type: 'eip4844', chainId: 1337, nonce: 100, gas: 21_000n, maxFeePerGas: 10n ** 10n, maxPriorityFeePerGas: 1n, maxFeePerBlobGas: 1n,
      to: eoa.address, blobVersionedHashes: [`0x01${'00'.repeat(31)}` as Hex],
    })
    const r = await rpcRaw(node.url, 'eth_sendRawTransaction', [raw])
    t.equal(r.error?.code, -32000)
    t.match(r.error?.message, /^invalid transaction: transaction type not supported: type 3; blob transactions are refused: a medrec chain has no blob market/)
  })
}
