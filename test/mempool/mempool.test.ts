import t, { type Test } from 'tap'
import { RLP } from '@ethereumjs/rlp'
import { createAccessList2930Tx, createFeeMarket1559Tx, createLegacyTx, createTxFromRLP, type TypedTransaction } from '@ethereumjs/tx'
import { Address, bytesToHex } from '@ethereumjs/util'
import { createChainCommon } from '../../evm/index.ts'
import { createMempool, createSenderRecovery, type AccountState, type Mempool } from '../../node/mempool/index.ts'
import { DEV_KEYS, addressOf } from '../helpers/chain.ts'

const common = createChainCommon({ chainId: 1337n, period: 2, epoch: 30000n })
const otherChain = createChainCommon({ chainId: 1n, period: 2, epoch: 30000n })
const [K0, K1, K2] = DEV_KEYS as [Uint8Array, Uint8Array, Uint8Array]
const A0 = new Address(addressOf(K0))
const TO = '0x' + '22'.repeat(20)

function tx1559(nonce: number, o: { fee?: bigint; tip?: bigint; gas?: bigint; value?: bigint; key?: Uint8Array; c?: typeof common; data?: Uint8Array } = {}): TypedTransaction {
  return createFeeMarket1559Tx(
    { nonce: BigInt(nonce), to: TO, gasLimit: o.gas ?? 21_000n, maxFeePerGas: o.fee ?? 10n ** 10n, maxPriorityFeePerGas: o.tip ?? 10n ** 9n, value: o.value ?? 1n, chainId: (o.c ?? common).chainId(), data: o.data },
    { common: o.c ?? common },
  ).sign(o.key ?? K0)
}

function setup(accounts: Record<string, AccountState> = {}, opts = {}) {
  const state = new Map(Object.entries(accounts))
  const recovery = createSenderRecovery({ workers: 0 })
  const pool = createMempool(opts, {
    common,
    recovery,
    getAccount: async (a) => state.get(a.toString()) ?? { nonce: 0n, balance: 10n ** 22n },
  })
  pool.head({ baseFee: 10n ** 9n, gasLimit: 30_000_000n })
  return { pool, state }
}

async function refused(t: Test, pool: Mempool, raw: Uint8Array, code: string, message: RegExp | string) {
  await t.rejects(pool.addRaw(raw), { code, message }, code)
}

t.test('every rejection has its code and geth-style message', async (t) => {
  const { pool } = setup({ [A0.toString()]: { nonce: 5n, balance: 10n ** 18n } })
  await refused(t, pool, new Uint8Array([0xc0, 0x01]), 'MALFORMED', /^invalid transaction: /)
  await refused(t, pool, new Uint8Array(200 * 1024), 'OVERSIZED', 'oversized data: transaction size 204800, limit 131072')
  await refused(t, pool, tx1559(5, { c: otherChain }).serialize(), 'WRONG_CHAIN_ID', 'invalid chain id for signer: have 1 want 1337')
  const unprotected = createLegacyTx({ nonce: 5n, to: TO, gasLimit: 21_000n, gasPrice: 10n ** 10n }, { common: createChainCommon({ chainId: 1337n, period: 2, epoch: 1n }) })
  const unsignedFields = unprotected.raw().slice(0, 6)
  const { secp256k1 } = await import('@noble/curves/secp256k1.js')
  const { keccak_256 } = await import('@noble/hashes/sha3.js')
  const sig = secp256k1.sign(keccak_256(RLP.encode(unsignedFields)), K0, { prehash: false, format: 'recovered' })
  const preEip155 = RLP.encode([...unsignedFields, new Uint8Array([27 + sig[0]!]), sig.subarray(1, 33), sig.subarray(33, 65)])
  await refused(t, pool, preEip155, 'UNPROTECTED', 'only replay-protected (EIP-155) transactions allowed over RPC')
  await refused(t, pool, tx1559(4).serialize(), 'NONCE_TOO_LOW', `nonce too low: address ${A0.toString()}, tx: 4 state: 5`)
  await refused(t, pool, tx1559(5, { value: 10n ** 18n }).serialize(), 'INSUFFICIENT_FUNDS', new RegExp(`^insufficient funds for gas \\* price \\+ value: address ${A0.toString()} have 1000000000000000000 want 1000210000000000000$`))
  await refused(t, pool, tx1559(5, { gas: 20_000n }).serialize(), 'INTRINSIC_GAS', 'intrinsic gas too low: gas 20000, minimum needed 21000')
  await refused(t, pool, tx1559(5, { gas: 40_000_000n, fee: 1n, tip: 1n }).serialize(), 'GAS_LIMIT_EXCEEDED', /^exceeds block gas limit/)
  const swapped = RLP.decode(tx1559(5, { fee: 6n, tip: 5n }).serialize().subarray(1)) as Uint8Array[]
  ;[swapped[2], swapped[3]] = [swapped[3]!, swapped[2]!]
  await refused(t, pool, new Uint8Array([2, ...RLP.encode(swapped)]), 'TIP_ABOVE_FEE_CAP', 'max priority fee per gas higher than max fee per gas')
  await refused(t, pool, tx1559(5 + 2000).serialize(), 'NONCE_GAP_TOO_FAR', /^nonce too high/)
  // A signature whose s is flipped to the high half (EIP-2) does not recover a sender.
  const good = tx1559(5)
  const fields = RLP.decode(good.serialize().subarray(1)) as Uint8Array[]
  const n = secp256k1.Point.CURVE().n
  fields[11] = Buffer.from((n - BigInt(bytesToHex(fields[11]!))).toString(16).padStart(64, '0'), 'hex')
  fields[9] = new Uint8Array(fields[9]![0] === 1 ? [] : [1])
  const highS = new Uint8Array([2, ...RLP.encode(fields)])
  const highSCode = await pool.addRaw(highS).then(() => 'accepted', (e: { code?: string }) => e.code)
  t.ok(highSCode === 'BAD_SIGNATURE' || highSCode === 'MALFORMED', `high-s signature refused (${highSCode})`)
  const ok = await pool.addRaw(good.serialize())
  t.equal(bytesToHex(ok.hash), bytesToHex(good.hash()))
  await refused(t, pool, good.serialize(), 'ALREADY_KNOWN', 'already known')
  await refused(t, pool, tx1559(5, { fee: 10n ** 10n + 1n, tip: 10n ** 9n + 1n }).serialize(), 'REPLACEMENT_UNDERPRICED', 'replacement transaction underpriced')
  const { pool: cheap } = setup({}, { minTip: 2n * 10n ** 9n })
  await refused(t, cheap, tx1559(0).serialize(), 'UNDERPRICED', 'transaction underpriced: gas tip cap 1000000000, minimum needed 2000000000')
  const { pool: small } = setup({}, { maxPerSender: 2, maxTotal: 3 })
  await small.addRaw(tx1559(0).serialize())
  await small.addRaw(tx1559(1).serialize())
  await refused(t, small, tx1559(2).serialize(), 'SENDER_LIMIT', /^account limit exceeded/)
  await small.addRaw(tx1559(0, { key: K1 }).serialize())
  await refused(t, small, tx1559(0, { key: K2 }).serialize(), 'POOL_FULL', /^txpool is full/)
})

t.test('out-of-order nonces wait for the gap, then become pending in order', async (t) => {
  const { pool } = setup()
  const announced: string[] = []
  pool.on('pending', (h) => announced.push(bytesToHex(h)))
  const txs = [tx1559(0), tx1559(1), tx1559(2)]
  await pool.addRaw(txs[2]!.serialize())
  await pool.addRaw(txs[1]!.serialize())
  t.same(pool.stats(), { pending: 0, queued: 2 })
  t.equal(await pool.pendingNonce(A0), 0n)
  await pool.addRaw(txs[0]!.serialize())
  t.same(pool.stats(), { pending: 3, queued: 0 })
  t.same(announced, txs.map((x) => bytesToHex(x.hash())), 'announced in nonce order once executable')
  t.same([...pool.pending(10n ** 9n)].map((p) => p.tx.nonce), [0n, 1n, 2n])
  t.equal(await pool.pendingNonce(A0), 3n)
})

t.test('replacement needs +10% on both fee caps', async (t) => {
  const { pool } = setup()
  await pool.addRaw(tx1559(0, { fee: 100n * 10n ** 9n, tip: 10n * 10n ** 9n }).serialize())
  await refused(t, pool, tx1559(0, { fee: 109n * 10n ** 9n, tip: 11n * 10n ** 9n }).serialize(), 'REPLACEMENT_UNDERPRICED', 'replacement transaction underpriced')
  const better = tx1559(0, { fee: 110n * 10n ** 9n, tip: 11n * 10n ** 9n })
  await pool.addRaw(better.serialize())
  t.same([...pool.pending(10n ** 9n)].map((p) => bytesToHex(p.tx.hash())), [bytesToHex(better.hash())])
  t.same(pool.stats(), { pending: 1, queued: 0 })
})

t.test('block building order: best tip first, each sender in nonce order, base fee respected', async (t) => {
  const { pool } = setup()
  await pool.addRaw(tx1559(0, { key: K0, tip: 1n * 10n ** 9n }).serialize())
  await pool.addRaw(tx1559(1, { key: K0, tip: 9n * 10n ** 9n }).serialize())
  await pool.addRaw(tx1559(0, { key: K1, tip: 5n * 10n ** 9n }).serialize())
  await pool.addRaw(tx1559(0, { key: K2, tip: 2n * 10n ** 9n, fee: 2n * 10n ** 9n + 1n }).serialize())
  const order = [...pool.pending(10n ** 9n)].map((p) => `${p.sender.toString().slice(0, 6)}:${p.tx.nonce}`)
  const a = (k: Uint8Array) => new Address(addressOf(k)).toString().slice(0, 6)
  // K2's effective tip is capped by fee - baseFee = 1 gwei + 1.
  t.same(order, [`${a(K1)}:0`, `${a(K2)}:0`, `${a(K0)}:0`, `${a(K0)}:1`])
  const highBase = [...pool.pending(3n * 10n ** 9n)].map((p) => p.sender.toString().slice(0, 6))
  t.notOk(highBase.includes(a(K2)), 'a sender that cannot pay the base fee is left out')
})

t.test('after a block: included and stale dropped, gaps filled are announced', async (t) => {
  const { pool, state } = setup()
  const txs = [0, 1, 2, 4].map((n) => tx1559(n))
  for (const x of txs) await pool.addRaw(x.serialize())
  t.same(pool.stats(), { pending: 3, queued: 1 })
  const announced: bigint[] = []
  pool.on('pending', (h) => announced.push(pool.get(h)!.tx.nonce))
  state.set(A0.toString(), { nonce: 2n, balance: 10n ** 22n })
  await pool.onBlockIncluded([0, 1].map((i) => ({ hash: txs[i]!.hash(), sender: A0, nonce: BigInt(i) })))
  t.equal(pool.get(txs[0]!.hash()), undefined)
  t.ok(pool.get(txs[2]!.hash()))
  t.same(pool.stats(), { pending: 1, queued: 1 })
  await pool.addRaw(tx1559(3).serialize())
  t.same(announced, [3n, 4n], 'filling nonce 3 releases 4')
  state.set(A0.toString(), { nonce: 5n, balance: 10n ** 22n })
  await pool.onBlockIncluded([{ hash: txs[3]!.hash(), sender: A0, nonce: 4n }])
  t.same(pool.stats(), { pending: 0, queued: 0 }, 'everything below the new nonce is gone')
})

t.test('sender recovery: main thread, 1 and 2 workers agree and fill the cache', async (t) => {
  const make = () => [
    ...DEV_KEYS.map((k, i) => tx1559(i, { key: k })),
    ...DEV_KEYS.map((k, i) => createLegacyTx({ nonce: BigInt(i), to: TO, gasLimit: 21_000n, gasPrice: 10n ** 10n }, { common }).sign(k)),
    ...DEV_KEYS.map((k, i) => createAccessList2930Tx({ nonce: BigInt(i), to: TO, gasLimit: 21_000n, gasPrice: 10n ** 10n, accessList: [] }, { common }).sign(k)),
  ].map((x) => createTxFromRLP(x.serialize(), { common }))
  const expected = [...DEV_KEYS, ...DEV_KEYS, ...DEV_KEYS].map((k) => new Address(addressOf(k)).toString())
  for (const workers of [0, 1, 2]) {
    const rec = createSenderRecovery({ workers })
    const txs = make()
    await rec.recoverMany(txs)
    t.same(txs.map((x) => x.getSenderAddress().toString()), expected, `${workers} workers`)
    t.ok(txs.every((x) => (x as unknown as { cache: { senderPubKey?: Uint8Array } }).cache.senderPubKey?.length === 64), 'public key cached')
    // The cache is what ethereumjs uses: a planted key changes the reported sender.
    const probe = make()[0]!
    ;(probe as unknown as { cache: { senderPubKey?: Uint8Array } }).cache.senderPubKey = (txs[1] as unknown as { cache: { senderPubKey: Uint8Array } }).cache.senderPubKey
    t.equal(probe.getSenderAddress().toString(), expected[1])
    const tampered = RLP.decode(make()[0]!.serialize().subarray(1)) as Uint8Array[]
    tampered[10] = new Uint8Array(32).fill(0xff) // r beyond the curve order
    const bad = (() => {
      try {
        return createTxFromRLP(new Uint8Array([2, ...RLP.encode(tampered)]), { common })
      } catch {
        return undefined
      }
    })()
    if (bad !== undefined) await t.rejects(rec.recover(bad), { code: 'BAD_SIGNATURE' }, `${workers} workers refuse a bad signature`)
    await rec.close()
  }
})
