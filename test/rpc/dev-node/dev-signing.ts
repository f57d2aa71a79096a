import type { Test } from 'tap'
import { keccak256, parseTransaction, recoverTransactionAddress, verifyTypedData, type Hex, type TransactionSerialized } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { rpc, rpcRaw, waitFor, type NodeProcess } from '../../helpers/node-process.ts'

/**
 * --dev signing as geth answers it: eth_signTransaction ({raw, tx}, gas, fees and nonce required)
 * and eth_signTypedData_v4 (EIP-712), checked with viem: the signature recovers to the account,
 * verifies, and equals what viem's local account signs with the same (public) dev key. On the shared
 * main node (test/rpc/dev-node.test.ts): dev account 0 sends here and nowhere else.
 */

// The dev mnemonic's first account (anvil's and hardhat's): a public key, as every dev chain has it.
const DEV_KEY: Hex = '0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80'
const dev = privateKeyToAccount(DEV_KEY)
const OTHER = '0x00000000000000000000000000000000000000f1'
const CHAIN_ID = 1337

const MAIL = {
  domain: { name: 'Ether Mail', version: '1', chainId: CHAIN_ID, verifyingContract: '0xCcCCccccCCCCcCCCCCCcCcCccCcCCCcCcccccccC' },
  types: {
    EIP712Domain: [
      { name: 'name', type: 'string' },
      { name: 'version', type: 'string' },
      { name: 'chainId', type: 'uint256' },
      { name: 'verifyingContract', type: 'address' },
    ],
    Person: [
      { name: 'name', type: 'string' },
      { name: 'wallet', type: 'address' },
    ],
    Mail: [
      { name: 'from', type: 'Person' },
      { name: 'to', type: 'Person' },
      { name: 'contents', type: 'string' },
    ],
  },
  primaryType: 'Mail',
  message: {
    from: { name: 'Cow', wallet: '0xCD2a3d9F938E13CD947Ec05AbC7FE734Df8DD826' },
    to: { name: 'Bob', wallet: '0xbBbBBBBbbBBBbbbBbbBbbbbBBbBbbbbBbBbbBBbB' },
    contents: 'Hello, Bob!',
  },
} as const
/** The same typed data as viem types it (a declared EIP712Domain's uint256 chainId is a bigint there). */
const VIEM_MAIL = { ...MAIL, domain: { ...MAIL.domain, chainId: BigInt(CHAIN_ID) } }

export default function devSigning(t: Test, node: NodeProcess): void {
  t.test('eth_signTransaction and eth_signTypedData_v4 on a --dev node', async (t) => {
    const url = node.url
    const chainId = Number(BigInt(await rpc<Hex>(url, 'eth_chainId')))

    await t.test('eth_signTransaction: {raw, tx}, signed by the account, not sent; the raw form can be sent later', async (t) => {
      const nonce = await rpc<Hex>(url, 'eth_getTransactionCount', [dev.address, 'pending'])
      const req = { from: dev.address, to: OTHER, value: '0x1', gas: '0x5208', maxFeePerGas: '0x77359400', maxPriorityFeePerGas: '0x3b9aca00', nonce }
      const res = await rpc<{ raw: Hex; tx: Record<string, unknown> }>(url, 'eth_signTransaction', [req])
      const parsed = parseTransaction(res.raw as TransactionSerialized)
      t.equal(parsed.type, 'eip1559')
      t.equal(parsed.chainId, chainId)
      t.equal(parsed.gas, 21_000n)
      t.equal(parsed.nonce, Number(BigInt(nonce)))
      t.equal(await recoverTransactionAddress({ serializedTransaction: res.raw as TransactionSerialized }), dev.address, 'signed by the dev account')
      t.equal(res.tx.hash, keccak256(res.raw), 'tx.hash is the hash of raw')
      t.equal((res.tx.from as string).toLowerCase(), dev.address.toLowerCase())
      t.equal(res.tx.blockHash, null, 'tx is not in a block')
      t.equal(await rpc<Hex>(url, 'eth_getTransactionCount', [dev.address, 'pending']), nonce, 'not sent: the pending nonce did not move')
      const local = await dev.signTransaction({ chainId, type: 'eip1559', to: OTHER, value: 1n, gas: 21_000n, maxFeePerGas: 2_000_000_000n, maxPriorityFeePerGas: 1_000_000_000n, nonce: Number(BigInt(nonce)) })
      t.equal(res.raw, local, 'the same bytes as viem signs with the same key')
      const hash = await rpc<Hex>(url, 'eth_sendRawTransaction', [res.raw])
      t.equal(hash, res.tx.hash)
      await waitFor(async () => (await rpc(url, 'eth_getTransactionReceipt', [hash])) !== null, 'the signed transaction is mined')
    })

    await t.test('eth_signTransaction with gasPrice gives a legacy transaction', async (t) => {
      const nonce = await rpc<Hex>(url, 'eth_getTransactionCount', [dev.address, 'pending'])
      const res = await rpc<{ raw: Hex; tx: Record<string, unknown> }>(url, 'eth_signTransaction', [{ from: dev.address, to: OTHER, gas: '0x5208', gasPrice: '0x77359400', nonce }])
      t.equal(parseTransaction(res.raw as TransactionSerialized).type, 'legacy')
      t.equal(res.tx.type, '0x0')
    })

    await t.test('eth_signTransaction refuses what geth refuses', async (t) => {
      const base = { from: dev.address, to: OTHER, gas: '0x5208', maxFeePerGas: '0x77359400', maxPriorityFeePerGas: '0x3b9aca00', nonce: '0x0' }
      const cases: Array<[Record<string, unknown>, RegExp]> = [
        [{ ...base, gas: undefined }, /^gas not specified$/],
        [{ ...base, maxFeePerGas: undefined }, /^missing gasPrice or maxFeePerGas\/maxPriorityFeePerGas$/],
        [{ ...base, nonce: undefined }, /^nonce not specified$/],
        [{ ...base, from: OTHER }, /^unknown account$/],
      ]
      for (const [req, message] of cases) {
        const r = await rpcRaw(url, 'eth_signTransaction', [req])
        t.equal(r.error?.code, -32000)
        t.match(r.error?.message, message)
      }
      const wrongChain = await rpcRaw(url, 'eth_signTransaction', [{ ...base, chainId: '0x1' }])
      t.equal(wrongChain.error?.code, -32602)
    })

    await t.test('eth_signTypedData_v4: an EIP-712 signature viem verifies, as an object or as JSON text', async (t) => {
      const sig = await rpc<Hex>(url, 'eth_signTypedData_v4', [dev.address, MAIL])
      t.ok(await verifyTypedData({ address: dev.address, signature: sig, ...VIEM_MAIL }), 'viem verifies it')
      t.equal(sig, await dev.signTypedData(VIEM_MAIL), 'the same signature viem signs with the same key')
      t.equal(await rpc<Hex>(url, 'eth_signTypedData_v4', [dev.address, JSON.stringify(MAIL)]), sig, 'JSON text (MetaMask form) signs the same')
      const tampered = { ...VIEM_MAIL, message: { ...MAIL.message, contents: 'Hello, Eve!' } }
      t.notOk(await verifyTypedData({ address: dev.address, signature: sig, ...tampered }), 'it does not verify for another message')
    })

    await t.test('eth_signTypedData_v4 refuses malformed data and other accounts', async (t) => {
      const notJson = await rpcRaw(url, 'eth_signTypedData_v4', [dev.address, '{not json'])
      t.equal(notJson.error?.code, -32602)
      const noTypes = await rpcRaw(url, 'eth_signTypedData_v4', [dev.address, { primaryType: 'Mail', message: {} }])
      t.equal(noTypes.error?.code, -32602)
      const badField = await rpcRaw(url, 'eth_signTypedData_v4', [dev.address, { ...MAIL, message: { ...MAIL.message, to: { name: 'Bob', wallet: 'nope' } } }])
      t.equal(badField.error?.code, -32602, `a malformed address is refused: ${badField.error?.message}`)
      const other = await rpcRaw(url, 'eth_signTypedData_v4', [OTHER, MAIL])
      t.equal(other.error?.message, 'unknown account')
    })
  })
}
