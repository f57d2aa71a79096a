import { verifyMerkleProof } from '@ethereumjs/mpt'
import { RLP } from '@ethereumjs/rlp'
import { keccak_256 } from '@noble/hashes/sha3.js'
import type { Test } from 'tap'
import { createPublicClient, http, type Hex } from 'viem'
import { rpc, waitFor, type NodeProcess } from '../../helpers/node-process.ts'
import { fundedAccount } from './fixture.ts'

/**
 * eth_getProof (EIP-1186) through a real dev node, each proof checked by an independent verifier:
 * @ethereumjs/mpt's proof trie rebuilt from the returned nodes against the block header's
 * stateRoot (and the account's storageHash), with @noble's keccak, and the account leaf decoded
 * by hand. An account that does not exist and a slot never written prove their absence. On the
 * shared main node (test/rpc/dev-node.test.ts), from an account of its own.
 */

const GWEI = 1_000_000_000n
// Init code: SSTORE(0, 42), SSTORE(7, 0x0102), then deploy nothing.
const INIT = '0x602a6000556101026007550000' as const

interface ProofJson {
  address: Hex
  accountProof: Hex[]
  balance: Hex
  codeHash: Hex
  nonce: Hex
  storageHash: Hex
  storageProof: Array<{ key: Hex; value: Hex; proof: Hex[] }>
}
const bytes = (h: Hex): Uint8Array => new Uint8Array(Buffer.from(h.slice(2), 'hex'))
const hex = (b: Uint8Array): Hex => `0x${Buffer.from(b).toString('hex')}`
const EMPTY_ROOT = hex(keccak_256(RLP.encode(new Uint8Array())))
const EMPTY_CODE = hex(keccak_256(new Uint8Array()))

export default async function getProof(t: Test, node: NodeProcess): Promise<void> {
  const url = node.url
  const client = createPublicClient({ transport: http(url) })
  const alice = await fundedAccount(node, 'get-proof')

  /** The account leaf the proof reaches, checked against the state root; null for a proven absence. */
  async function verifyAccount(p: ProofJson, stateRoot: Hex): Promise<Uint8Array | null> {
    return verifyMerkleProof(bytes(p.address), p.accountProof.map(bytes), { root: bytes(stateRoot), useKeyHashing: true })
  }

  async function verifySlot(p: ProofJson, i: number): Promise<Uint8Array | null> {
    const s = p.storageProof[i]!
    return verifyMerkleProof(bytes(s.key), s.proof.map(bytes), { root: bytes(p.storageHash), useKeyHashing: true })
  }

  async function deployed(): Promise<{ address: Hex; blockNumber: bigint }> {
    const nonce = await client.getTransactionCount({ address: alice.address, blockTag: 'pending' })
    const raw = await alice.signTransaction({ type: 'eip1559', chainId: 1337, nonce, data: INIT, gas: 100_000n, maxFeePerGas: 10n * GWEI, maxPriorityFeePerGas: GWEI })
    const hash = await rpc<Hex>(url, 'eth_sendRawTransaction', [raw])
    const r = await waitFor(() => rpc<{ contractAddress: Hex; blockNumber: Hex; status: Hex } | null>(url, 'eth_getTransactionReceipt', [hash]), 'deploy receipt')
    t.equal(r.status, '0x1', 'the storage-writing deploy succeeded')
    return { address: r.contractAddress, blockNumber: BigInt(r.blockNumber) }
  }

  t.test('an account with storage: account and slots verify against the block stateRoot, an unwritten slot proves its absence', async (t) => {
    const { address, blockNumber } = await deployed()
    const block = await client.getBlock({ blockNumber })
    const keys: Hex[] = [`0x${'0'.repeat(64)}`, `0x${'0'.repeat(63)}7`, `0x${'0'.repeat(63)}9`]
    const p = await rpc<ProofJson>(url, 'eth_getProof', [address, keys, `0x${blockNumber.toString(16)}`])

    const leaf = await verifyAccount(p, block.stateRoot)
    t.ok(leaf, 'the account proof reaches a leaf under the block stateRoot')
    const [nonce, balance, storageRoot, codeHash] = RLP.decode(leaf!) as Uint8Array[]
    t.equal(BigInt(hex(nonce!) === '0x' ? 0 : hex(nonce!)), BigInt(p.nonce), 'nonce is the proven one')
    t.equal(BigInt(hex(balance!) === '0x' ? 0 : hex(balance!)), BigInt(p.balance), 'balance is the proven one')
    t.equal(hex(storageRoot!), p.storageHash, 'storageHash is the proven one')
    t.equal(hex(codeHash!), p.codeHash, 'codeHash is the proven one')
    t.equal(p.nonce, '0x1', 'a contract starts at nonce 1 (EIP-161)')
    t.equal(p.codeHash, EMPTY_CODE, 'it deployed no code')
    t.not(p.storageHash, EMPTY_ROOT, 'it has storage')

    t.same(p.storageProof.map((s) => [s.key, s.value]), [[keys[0], '0x2a'], [keys[1], '0x102'], [keys[2], '0x0']], 'values as quantities, keys as sent')
    t.same(RLP.decode((await verifySlot(p, 0))!), Uint8Array.from([42]), 'slot 0 = 42 under storageHash')
    t.same(RLP.decode((await verifySlot(p, 1))!), Uint8Array.from([1, 2]), 'slot 7 = 0x0102 under storageHash')
    t.equal(await verifySlot(p, 2), null, 'slot 9 was never written: a valid proof of absence')

    // A lying proof does not verify: the same nodes against the parent's root, or a tampered node.
    const parent = await client.getBlock({ blockNumber: blockNumber - 1n })
    await t.rejects(verifyAccount(p, parent.stateRoot), 'the proof is of this block state, not its parent')
    const tampered = { ...p, accountProof: p.accountProof.map((n, i) => (i === p.accountProof.length - 1 ? (`${n.slice(0, -2)}${n.endsWith('00') ? '01' : '00'}` as Hex) : n)) }
    await t.rejects(verifyAccount(tampered, block.stateRoot), 'a changed leaf does not hash to the root')
  })

  t.test('a historical root: before the deploy the same account proves its absence against that block', async (t) => {
    const { address, blockNumber } = await deployed()
    const before = blockNumber - 1n
    const header = await client.getBlock({ blockNumber: before })
    const p = await rpc<ProofJson>(url, 'eth_getProof', [address, [`0x${'0'.repeat(64)}`], { blockHash: header.hash }])
    t.equal(await verifyAccount(p, header.stateRoot), null, 'absent at the parent block: proof of non-existence against its stateRoot')
    t.same({ balance: p.balance, nonce: p.nonce, codeHash: p.codeHash, storageHash: p.storageHash }, { balance: '0x0', nonce: '0x0', codeHash: EMPTY_CODE, storageHash: EMPTY_ROOT }, "geth's empty values")
    t.same(p.storageProof, [{ key: `0x${'0'.repeat(64)}`, value: '0x0', proof: [] }], 'each slot of an absent account: 0 with an empty proof (the empty trie has no node)')
  })

  t.test('an account that never existed, at latest; viem reads the proof', async (t) => {
    const nobody = '0x00000000000000000000000000000000000000ee' as const
    const head = await client.getBlock({ blockTag: 'latest' })
    const p = await client.getProof({ address: nobody, storageKeys: [], blockNumber: head.number })
    t.equal(p.address.toLowerCase(), nobody)
    t.equal(await verifyAccount({ ...p, address: nobody, balance: '0x0', nonce: '0x0', storageProof: [] } as unknown as ProofJson, head.stateRoot), null, 'proved absent under the head stateRoot')
    const latest = await client.getBlock({ blockTag: 'latest' })
    // Pinned to one number, so the head cannot move between the proof and the check.
    const pinned = await rpc<ProofJson>(url, 'eth_getProof', [alice.address, [], `0x${latest.number.toString(16)}`])
    const pinnedLeaf = await verifyAccount(pinned, latest.stateRoot)
    t.ok(pinnedLeaf, 'a funded account is present')
    t.equal(BigInt(pinned.balance), await client.getBalance({ address: alice.address, blockNumber: latest.number }), 'its proven balance is eth_getBalance at that block')
  })

  t.test('bad parameters are -32602 with the argument named', async (t) => {
    const r = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'eth_getProof', params: [alice.address, 'nope', 'latest'] }) })
    const body = (await r.json()) as { error?: { code: number; message: string } }
    t.equal(body.error?.code, -32602)
    t.match(body.error?.message, /invalid argument 1/)
  })
}
