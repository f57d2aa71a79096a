import t, { type Test } from 'tap'
import { createCustomCommon, Mainnet, type Common } from '@ethereumjs/common'
import { RLP } from '@ethereumjs/rlp'
import { createAccessList2930Tx, createFeeMarket1559Tx, createLegacyTx, type TypedTransaction } from '@ethereumjs/tx'
import { Address, bytesToHex, hexToBytes, publicToAddress, toChecksumAddress } from '@ethereumjs/util'
import { secp256k1 } from '@noble/curves/secp256k1.js'
import { keccak_256 } from '@noble/hashes/sha3.js'
import {
  createMempool,
  createSenderRecovery,
  MempoolError,
  type AccountState,
  type Mempool,
  type MempoolOptions,
  type SenderRecovery,
} from '../../node/mempool/index.ts'

const chain = (chainId: number): Common => createCustomCommon({ chainId }, Mainnet, { hardfork: 'london', eips: [3651, 3855, 3860] })
const common = chain(1337)
const KEY0 = hexToBytes('0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80')
const [K0, K1, K2, K3] = [KEY0, ...[1, 2, 3].map((i) => keccak_256(new Uint8Array([i])))] as [Uint8Array, Uint8Array, Uint8Array, Uint8Array]
const addr = (k: Uint8Array) => new Address(publicToAddress(secp256k1.getPublicKey(k, false).subarray(1)))
const A0 = addr(K0)
const CA0 = toChecksumAddress(A0.toString())
const TO = new Address(hexToBytes(`0x${'22'.repeat(20)}`))
const GWEI = 10n ** 9n
const BASE_FEE = GWEI
const RICH = 10n ** 22n
const N = secp256k1.Point.CURVE().n

interface TxOpts {
  fee?: bigint
  tip?: bigint
  gas?: bigint
  value?: bigint
  key?: Uint8Array
  c?: Common
  data?: Uint8Array
  create?: boolean
}

function tx1559(nonce: number | bigint, o: TxOpts = {}): TypedTransaction {
  return createFeeMarket1559Tx(
    {
      nonce: BigInt(nonce),
      to: o.create === true ? undefined : TO,
      gasLimit: o.gas ?? 21_000n,
      maxFeePerGas: o.fee ?? 10n * GWEI,
      maxPriorityFeePerGas: o.tip ?? GWEI,
      value: o.value ?? 1n,
      data: o.data,
    },
    { common: o.c ?? common },
  ).sign(o.key ?? K0)
}

function legacy(nonce: number, o: TxOpts & { price?: bigint } = {}): TypedTransaction {
  return createLegacyTx({ nonce: BigInt(nonce), to: TO, gasLimit: o.gas ?? 21_000n, gasPrice: o.price ?? 10n * GWEI, value: 1n }, { common: o.c ?? common }).sign(o.key ?? K0)
}

/** Re-encodes a 1559 transaction after editing its RLP fields. */
function edit1559(tx: TypedTransaction, change: (f: Uint8Array[]) => void): Uint8Array {
  const fields = RLP.decode(tx.serialize().subarray(1)) as Uint8Array[]
  change(fields)
  return new Uint8Array([2, ...RLP.encode(fields)])
}

/** Minimal big-endian bytes, as RLP integers must be. */
const word = (n: bigint) => (n === 0n ? new Uint8Array() : hexToBytes(`0x${n.toString(16).padStart(2 * Math.ceil(n.toString(16).length / 2), '0')}`))
const hex = (tx: { hash(): Uint8Array }) => bytesToHex(tx.hash())

function setup(opts: Partial<MempoolOptions> = {}, accounts: Record<string, AccountState> = {}, recovery?: SenderRecovery) {
  const state = new Map(Object.entries(accounts))
  const inner = recovery ?? createSenderRecovery({ workers: 0 })
  const calls: string[] = []
  const counted: SenderRecovery = {
    recover: (tx) => {
      calls.push(hex(tx))
      return inner.recover(tx)
    },
    recoverMany: (txs) => inner.recoverMany(txs),
    close: () => inner.close(),
  }
  const pool = createMempool(opts, {
    common,
    recovery: counted,
    getAccount: async (a) => state.get(a.toString()) ?? { nonce: 0n, balance: RICH },
  })
  pool.head({ baseFee: BASE_FEE, gasLimit: 30_000_000n })
  const announced: string[] = []
  pool.on('pending', (h) => announced.push(bytesToHex(h)))
  return { pool, state, calls, announced }
}

async function refused(t: Test, pool: Mempool, raw: Uint8Array, code: string, message: RegExp | string, what = code) {
  const err = await pool.addRaw(raw).then(
    () => undefined,
    (e: unknown) => e,
  )
  t.type(err, MempoolError, `${what}: a MempoolError`)
  t.match(err, { code, message }, what)
  if (typeof message === 'string') t.equal((err as Error).message, message, `${what}: exact message`)
}

const order = (it: Iterable<{ tx: TypedTransaction; sender: Address }>) => [...it].map((p) => `${p.sender.toString().slice(0, 6)}:${p.tx.nonce}`)
const tag = (k: Uint8Array, n: number) => `${addr(k).toString().slice(0, 6)}:${n}`

t.test('decoding rejections: MALFORMED, OVERSIZED, WRONG_CHAIN_ID, BAD_SIGNATURE, tip above fee cap', async (t) => {
  const { pool, calls } = setup()
  await refused(t, pool, new Uint8Array(), 'MEMPOOL_MALFORMED', 'invalid transaction: rlp: empty input')
  await refused(t, pool, new Uint8Array([0xc1, 0x01, 0x02]), 'MEMPOOL_MALFORMED', /^invalid transaction: rlp: .+/, 'MALFORMED (bad RLP)')
  await refused(t, pool, new Uint8Array([0x82, 0x01, 0x02]), 'MEMPOOL_MALFORMED', 'invalid transaction: rlp: expected input list for a legacy transaction', 'MALFORMED (string)')
  await refused(t, pool, new Uint8Array([0x05, 0xc0]), 'MEMPOOL_MALFORMED', 'invalid transaction: transaction type not supported: type 5; this chain accepts legacy, EIP-2930 (1) and EIP-1559 (2) transactions', 'MALFORMED (type 5)')
  await refused(t, pool, new Uint8Array([0x00, 0xc0]), 'MEMPOOL_MALFORMED', /^invalid transaction: transaction type not supported: type 0;/, 'MALFORMED (type 0)')
  await refused(t, pool, new Uint8Array([0x03, 0xc0]), 'MEMPOOL_MALFORMED', /^invalid transaction: transaction type not supported: type 3;/, 'MALFORMED (blob)')
  await refused(t, pool, new Uint8Array([2, ...RLP.encode([1, 2, 3])]), 'MEMPOOL_MALFORMED', 'invalid transaction: rlp: expected 12 fields for a type 2 transaction, got 3', 'MALFORMED (fields)')
  const listField = RLP.decode(legacy(0).serialize()) as Array<Uint8Array | Uint8Array[]>
  listField[6] = []
  await refused(t, pool, RLP.encode(listField), 'MEMPOOL_MALFORMED', 'invalid transaction: rlp: field 6 must be a byte string', 'MALFORMED (list field)')
  const leadingZero = edit1559(tx1559(0), (f) => (f[1] = new Uint8Array([0, 1])))
  await refused(t, pool, leadingZero, 'MEMPOOL_MALFORMED', /^invalid transaction: rlp: .+/, 'MALFORMED (ethereumjs field check)')
  // ethereumjs decodes this one; its hash would not be the hash of its canonical encoding.
  const paddedChainId = edit1559(tx1559(0), (f) => (f[0] = new Uint8Array([0, ...(f[0] as Uint8Array)])))
  await refused(t, pool, paddedChainId, 'MEMPOOL_MALFORMED', 'invalid transaction: rlp: non-canonical integer (leading zero bytes) for chain id', 'MALFORMED (chain id with a leading zero)')

  await refused(t, pool, new Uint8Array(200 * 1024), 'MEMPOOL_OVERSIZED', 'oversized data: transaction size 204800, limit 131072')
  // ethereumjs will not even build one, so the oversized initcode is spliced into the RLP.
  const initcode = edit1559(tx1559(0, { create: true, data: new Uint8Array(1), gas: 5_000_000n }), (f) => (f[7] = new Uint8Array(49_153)))
  await refused(t, pool, initcode, 'MEMPOOL_OVERSIZED', 'max initcode size exceeded: code size 49153, limit 49152', 'OVERSIZED (EIP-3860)')

  await refused(t, pool, tx1559(0, { c: chain(1) }).serialize(), 'MEMPOOL_WRONG_CHAIN_ID', 'invalid chain id for signer: have 1 want 1337')
  await refused(t, pool, legacy(0, { c: chain(5) }).serialize(), 'MEMPOOL_WRONG_CHAIN_ID', 'invalid chain id for signer: have 5 want 1337', 'WRONG_CHAIN_ID (legacy v)')
  await refused(t, pool, createAccessList2930Tx({ nonce: 0n, to: TO, gasLimit: 21_000n, gasPrice: GWEI }, { common: chain(1) }).sign(K0).serialize(), 'MEMPOOL_WRONG_CHAIN_ID', 'invalid chain id for signer: have 1 want 1337', 'WRONG_CHAIN_ID (2930)')
  const pre155 = unprotected(K0, 0)
  await refused(t, pool, pre155, 'MEMPOOL_WRONG_CHAIN_ID', 'only replay-protected (EIP-155) transactions allowed over RPC', 'unprotected legacy')

  const good = tx1559(0)
  const highS = edit1559(good, (f) => {
    f[11] = word(N - good.s!)
    f[9] = good.v === 1n ? new Uint8Array() : new Uint8Array([1])
  })
  await refused(t, pool, highS, 'MEMPOOL_BAD_SIGNATURE', 'invalid sender: invalid signature', 'BAD_SIGNATURE (high s, EIP-2)')
  await refused(t, pool, edit1559(good, (f) => (f[9] = new Uint8Array([2]))), 'MEMPOOL_BAD_SIGNATURE', 'invalid sender: invalid signature', 'BAD_SIGNATURE (yParity 2)')
  const badV = RLP.decode(legacy(0).serialize()) as Uint8Array[]
  badV[6] = new Uint8Array([30])
  await refused(t, pool, RLP.encode(badV), 'MEMPOOL_BAD_SIGNATURE', 'invalid sender: invalid signature', 'BAD_SIGNATURE (legacy v = 30)')
  await refused(t, pool, edit1559(good, (f) => (f[10] = word(rWithoutPoint(good)))), 'MEMPOOL_BAD_SIGNATURE', 'invalid sender: invalid signature', 'BAD_SIGNATURE (no point)')
  await refused(t, pool, edit1559(good, (f) => (f[10] = new Uint8Array())), 'MEMPOOL_BAD_SIGNATURE', 'invalid sender: invalid signature', 'BAD_SIGNATURE (r = 0)')
  await refused(t, pool, edit1559(good, (f) => (f[10] = word(N + 1n))), 'MEMPOOL_BAD_SIGNATURE', 'invalid sender: invalid signature', 'BAD_SIGNATURE (r >= n)')

  const swapped = edit1559(tx1559(0, { fee: 6n * GWEI, tip: 5n * GWEI }), (f) => ([f[2], f[3]] = [f[3]!, f[2]!]))
  await refused(t, pool, swapped, 'MEMPOOL_UNDERPRICED', 'max priority fee per gas higher than max fee per gas', 'UNDERPRICED (tip above fee cap)')

  t.equal(calls.length, 2, 'only the two that needed the curve to be refused were recovered (no point, r >= n)')
  t.same(pool.stats(), { pending: 0, queued: 0 }, 'nothing refused is kept')

  const lax = setup({ allowUnprotected: true })
  const added = await lax.pool.addRaw(pre155)
  t.equal(added.sender.toString(), A0.toString(), 'allowUnprotected accepts a v = 27/28 transaction')
})

/** A pre-EIP-155 legacy transaction (v = 27/28), signed by hand: ethereumjs always adds EIP-155. */
function unprotected(key: Uint8Array, nonce: number): Uint8Array {
  const int = (n: bigint) => (n === 0n ? new Uint8Array() : hexToBytes(`0x${n.toString(16).padStart(2 * Math.ceil(n.toString(16).length / 2), '0')}`))
  const fields = [int(BigInt(nonce)), int(10n * GWEI), int(21_000n), TO.bytes, int(1n), new Uint8Array()]
  const sig = secp256k1.sign(keccak_256(RLP.encode(fields)), key, { prehash: false, format: 'recovered' })
  return RLP.encode([...fields, new Uint8Array([27 + sig[0]!]), sig.subarray(1, 33), sig.subarray(33, 65)])
}

function rWithoutPoint(tx: TypedTransaction): bigint {
  for (let r = 5n; ; r++) {
    try {
      new secp256k1.Signature(r, tx.s!, Number(tx.v)).recoverPublicKey(tx.getHashedMessageToSign())
    } catch {
      return r
    }
  }
}

t.test('state and policy rejections', async (t) => {
  const { pool, calls } = setup({}, { [A0.toString()]: { nonce: 5n, balance: 10n ** 18n } })
  await refused(t, pool, tx1559(4).serialize(), 'MEMPOOL_NONCE_TOO_LOW', `nonce too low: address ${CA0}, tx: 4 state: 5`)
  await refused(t, pool, tx1559(5, { value: 10n ** 18n }).serialize(), 'MEMPOOL_INSUFFICIENT_FUNDS', `insufficient funds for gas * price + value: address ${CA0} have 1000000000000000000 want 1000210000000000000`)
  await refused(t, pool, legacy(5, { price: 10n ** 14n }).serialize(), 'MEMPOOL_INSUFFICIENT_FUNDS', `insufficient funds for gas * price + value: address ${CA0} have 1000000000000000000 want 2100000000000000001`, 'INSUFFICIENT_FUNDS (legacy gasPrice)')
  await refused(t, pool, tx1559(5, { gas: 20_000n }).serialize(), 'MEMPOOL_INTRINSIC_GAS', 'intrinsic gas too low: gas 20000, minimum needed 21000')
  await refused(t, pool, tx1559(5, { gas: 21_050n, data: new Uint8Array([1, 0, 0, 0, 0, 0, 0, 0, 0, 0]) }).serialize(), 'MEMPOOL_INTRINSIC_GAS', 'intrinsic gas too low: gas 21050, minimum needed 21052', 'INTRINSIC_GAS (calldata)')
  await refused(t, pool, tx1559(5, { gas: 30_000_001n }).serialize(), 'MEMPOOL_GAS_LIMIT_EXCEEDED', 'exceeds block gas limit')
  t.equal(calls.length, 3, 'stateless checks run before recovery: only the 3 state rejections were recovered')

  await pool.addRaw(tx1559(5).serialize())
  await refused(t, pool, tx1559(5).serialize(), 'MEMPOOL_ALREADY_KNOWN', 'already known')
  await refused(t, pool, tx1559(5, { fee: 11n * GWEI - 1n, tip: 2n * GWEI }).serialize(), 'MEMPOOL_REPLACEMENT_UNDERPRICED', 'replacement transaction underpriced')

  const cheap = setup({ minGasPrice: 2n * GWEI })
  await refused(t, cheap.pool, tx1559(0).serialize(), 'MEMPOOL_UNDERPRICED', 'transaction underpriced: gas tip cap 1000000000, minimum needed 2000000000')
  await refused(t, cheap.pool, legacy(0, { price: GWEI }).serialize(), 'MEMPOOL_UNDERPRICED', 'transaction underpriced: gas tip cap 1000000000, minimum needed 2000000000', 'UNDERPRICED (legacy)')
  await cheap.pool.addRaw(tx1559(0, { tip: 2n * GWEI }).serialize())

  const small = setup({ maxPerSender: 2, maxTotal: 3, maxQueuedPerSender: 3 })
  await refused(t, small.pool, tx1559(4).serialize(), 'MEMPOOL_NONCE_GAP_TOO_FAR', `nonce too high: address ${CA0}, tx: 4 state: 0; the pool queues at most 3 nonces ahead of the account, send the missing nonces first`)
  await small.pool.addRaw(tx1559(3).serialize())
  await small.pool.addRaw(tx1559(0).serialize())
  await refused(t, small.pool, tx1559(1).serialize(), 'MEMPOOL_SENDER_LIMIT', `account limit exceeded: address ${CA0} has 2 transactions in the pool, limit 2; wait for some to be included`)
  await small.pool.addRaw(tx1559(0, { key: K1 }).serialize())
  await refused(t, small.pool, tx1559(0, { key: K2 }).serialize(), 'MEMPOOL_POOL_FULL', 'txpool is full: 3 transactions, limit 3; retry after the next block')
  await small.pool.addRaw(tx1559(0, { fee: 20n * GWEI, tip: 2n * GWEI }).serialize())
  t.same(small.pool.stats(), { pending: 2, queued: 1 }, 'a replacement is allowed at the limits')

  // Only queued transactions are bounded by the distance: a contiguous run may go further.
  const run = setup({ maxQueuedPerSender: 2 })
  for (let n = 0; n < 6; n++) await run.pool.addRaw(tx1559(n).serialize())
  t.same(run.pool.stats(), { pending: 6, queued: 0 })
})

t.test('a worker failure is reported as RECOVERY_FAILED, not as a bad signature', async (t) => {
  const failing: SenderRecovery = {
    recover: () => Promise.reject(new MempoolError('MEMPOOL_RECOVERY_FAILED', 'sender recovery worker crashed (boom); the transaction was not checked, resubmit it')),
    recoverMany: () => Promise.reject(new Error('unused')),
    close: async () => {},
  }
  const { pool } = setup({}, {}, failing)
  await refused(t, pool, tx1559(0).serialize(), 'MEMPOOL_RECOVERY_FAILED', 'sender recovery worker crashed (boom); the transaction was not checked, resubmit it')
  // A resubmission is not "already known".
  await refused(t, pool, tx1559(0).serialize(), 'MEMPOOL_RECOVERY_FAILED', /^sender recovery worker crashed/, 'second attempt')
})

t.test('each sender is recovered exactly once and the key stays on the transaction', async (t) => {
  const { pool, calls } = setup()
  const tx = tx1559(0)
  const raw = tx.serialize()
  const [a, b] = await Promise.allSettled([pool.addRaw(raw), pool.addRaw(raw)])
  t.equal(a.status, 'fulfilled')
  t.match(b, { status: 'rejected', reason: { code: 'MEMPOOL_ALREADY_KNOWN', message: 'already known' } }, 'a concurrent duplicate is already known')
  t.same(calls, [hex(tx)], 'one recovery for two submissions')
  const added = (a as PromiseFulfilledResult<Awaited<ReturnType<Mempool['addRaw']>>>).value
  t.equal(added.sender.toString(), A0.toString())
  t.equal(bytesToHex(added.hash), hex(tx))
  t.equal(added.tx.cache.senderPubKey?.length, 64, 'public key cached on the pooled transaction')
  const [p] = [...pool.pending(BASE_FEE)]
  t.equal(p!.tx, added.tx, 'the builder gets the very same object')
  t.equal(p!.sender, added.sender)
  t.equal(pool.get(tx.hash())!.tx, added.tx)
  t.equal(pool.get(new Uint8Array(32)), undefined)
})

t.test('out-of-order nonces wait for the gap, then become pending in order', async (t) => {
  const { pool, announced } = setup()
  const txs = [tx1559(0), tx1559(1), tx1559(2)]
  await pool.addRaw(txs[2]!.serialize())
  await pool.addRaw(txs[1]!.serialize())
  t.same(pool.stats(), { pending: 0, queued: 2 })
  t.same([...pool.pending(BASE_FEE)], [], 'nothing executable yet')
  t.equal(await pool.pendingNonce(A0), 0n)
  t.same(announced, [])
  await pool.addRaw(txs[0]!.serialize())
  t.same(pool.stats(), { pending: 3, queued: 0 })
  t.same(announced, txs.map(hex), 'announced in nonce order once executable')
  t.same(order(pool.pending(BASE_FEE)), [0, 1, 2].map((n) => tag(K0, n)))
  t.equal(await pool.pendingNonce(A0), 3n)
  t.equal(await pool.pendingNonce(addr(K3)), 0n, 'unknown sender: the account nonce')
})

t.test('replacement needs +10% on both caps (geth rule)', async (t) => {
  const { pool, announced } = setup()
  const first = tx1559(0, { fee: 100n * GWEI, tip: 10n * GWEI })
  await pool.addRaw(first.serialize())
  await refused(t, pool, tx1559(0, { fee: 109n * GWEI, tip: 20n * GWEI }).serialize(), 'MEMPOOL_REPLACEMENT_UNDERPRICED', 'replacement transaction underpriced', 'fee cap +9%')
  await refused(t, pool, tx1559(0, { fee: 200n * GWEI, tip: 11n * GWEI - 1n }).serialize(), 'MEMPOOL_REPLACEMENT_UNDERPRICED', 'replacement transaction underpriced', 'tip cap just under +10%')
  const better = tx1559(0, { fee: 110n * GWEI, tip: 11n * GWEI })
  await pool.addRaw(better.serialize())
  t.same([...pool.pending(BASE_FEE)].map((p) => hex(p.tx)), [hex(better)], 'exactly +10% replaces')
  t.equal(pool.get(first.hash()), undefined, 'the old one is gone')
  t.same(pool.stats(), { pending: 1, queued: 0 })
  t.same(announced, [hex(first), hex(better)], 'the executable replacement is announced')
  // Zero tips cannot be bumped by a percentage: geth also wants strictly higher caps.
  const { pool: zero } = setup()
  await zero.addRaw(tx1559(0, { tip: 0n }).serialize())
  await refused(t, zero, tx1559(0, { fee: 20n * GWEI, tip: 0n }).serialize(), 'MEMPOOL_REPLACEMENT_UNDERPRICED', 'replacement transaction underpriced', 'tip 0 -> 0')
  // Replacing a queued transaction announces nothing.
  const q = setup()
  await q.pool.addRaw(tx1559(3).serialize())
  await q.pool.addRaw(tx1559(3, { fee: 20n * GWEI, tip: 2n * GWEI }).serialize())
  t.same(q.announced, [])
  t.same(q.pool.stats(), { pending: 0, queued: 1 })
})

t.test('block building order: best effective tip first, each sender in nonce order', async (t) => {
  const { pool } = setup()
  await pool.addRaw(tx1559(0, { key: K0, tip: 1n * GWEI }).serialize())
  await pool.addRaw(tx1559(1, { key: K0, tip: 9n * GWEI }).serialize())
  await pool.addRaw(tx1559(0, { key: K1, tip: 5n * GWEI }).serialize())
  // K2's effective tip is capped by fee - baseFee = 1 gwei + 1.
  await pool.addRaw(tx1559(0, { key: K2, tip: 2n * GWEI, fee: 2n * GWEI + 1n }).serialize())
  // Legacy: effective tip = gasPrice - baseFee = 3 gwei.
  await pool.addRaw(legacy(0, { key: K3, price: 4n * GWEI }).serialize())
  await pool.addRaw(legacy(1, { key: K3, price: 4n * GWEI }).serialize())
  t.same(order(pool.pending(BASE_FEE)), [tag(K1, 0), tag(K3, 0), tag(K3, 1), tag(K2, 0), tag(K0, 0), tag(K0, 1)])
  // A higher base fee: K2 (fee cap 2 gwei + 1) cannot pay 3 gwei and is left out.
  t.same(order(pool.pending(3n * GWEI)), [tag(K1, 0), tag(K0, 0), tag(K0, 1), tag(K3, 0), tag(K3, 1)])
  // Equal tips: first come, first served.
  const ties = setup()
  await ties.pool.addRaw(tx1559(0, { key: K2 }).serialize())
  await ties.pool.addRaw(tx1559(0, { key: K1 }).serialize())
  await ties.pool.addRaw(tx1559(0, { key: K3 }).serialize())
  t.same(order(ties.pool.pending(BASE_FEE)), [tag(K2, 0), tag(K1, 0), tag(K3, 0)])
  // A sender whose next nonce cannot pay the base fee stops there, even if later ones could.
  const gap = setup()
  await gap.pool.addRaw(tx1559(0, { fee: 2n * GWEI, tip: GWEI }).serialize())
  await gap.pool.addRaw(tx1559(1, { fee: 50n * GWEI, tip: 9n * GWEI }).serialize())
  t.same(order(gap.pool.pending(3n * GWEI)), [])
  t.same(order(gap.pool.pending(2n * GWEI)), [tag(K0, 0), tag(K0, 1)])
})

t.test('the builder can skip a sender; the iterator sees arrivals and replacements', async (t) => {
  const { pool } = setup()
  for (const n of [0, 1, 2]) await pool.addRaw(tx1559(n, { key: K0, tip: 5n * GWEI }).serialize())
  for (const n of [0, 1]) await pool.addRaw(tx1559(n, { key: K1, tip: 3n * GWEI }).serialize())
  const it = pool.pending(BASE_FEE)
  const got: string[] = []
  for (const p of it) {
    got.push(`${p.sender.toString().slice(0, 6)}:${p.tx.nonce}`)
    if (p.sender.equals(A0) && p.tx.nonce === 0n) it.skipSender(A0) // nonce 0 failed: 1 and 2 cannot run
  }
  t.same(got, [tag(K0, 0), tag(K1, 0), tag(K1, 1)])

  const live = pool.pending(BASE_FEE)
  t.same(order([live.next().value!]), [tag(K0, 0)])
  await pool.addRaw(tx1559(2, { key: K1, tip: 3n * GWEI }).serialize()) // arrives mid-block
  const bumped = tx1559(1, { key: K0, tip: 6n * GWEI, fee: 11n * GWEI })
  await pool.addRaw(bumped.serialize()) // replaced mid-block
  const rest = [...live]
  t.same(order(rest), [tag(K0, 1), tag(K0, 2), tag(K1, 0), tag(K1, 1), tag(K1, 2)])
  t.equal(hex(rest[0]!.tx), hex(bumped), 'the replacement is offered')
})

t.test('the hash of the encoding as received is the hash ethereumjs computes, for every type', async (t) => {
  const { pool } = setup()
  const list = [{ address: TO.toString(), storageKeys: [bytesToHex(keccak_256(new Uint8Array([1])))] }]
  const txs = [
    legacy(0),
    createAccessList2930Tx({ nonce: 1n, to: TO, gasLimit: 30_000n, gasPrice: 10n * GWEI, accessList: list, data: new Uint8Array([0, 1]), chainId: 1337n }, { common }).sign(K0),
    createFeeMarket1559Tx({ nonce: 2n, gasLimit: 100_000n, maxFeePerGas: 10n * GWEI, maxPriorityFeePerGas: GWEI, accessList: list, data: new Uint8Array(70).fill(7), chainId: 1337n }, { common }).sign(K0),
  ]
  for (const x of txs) {
    const added = await pool.addRaw(x.serialize())
    t.equal(bytesToHex(added.hash), hex(x), `type ${x.type}`)
    t.equal(bytesToHex(added.tx.hash()), hex(x))
    t.equal(bytesToHex(added.tx.serialize()), bytesToHex(x.serialize()))
  }
})

t.test('one live iterator serves a block: arrivals after it ran dry, new senders, gaps, skips, nothing twice', async (t) => {
  const { pool } = setup()
  await pool.addRaw(tx1559(0, { key: K0 }).serialize())
  const it = pool.pending(BASE_FEE)
  t.same(order([it.next().value!]), [tag(K0, 0)])
  t.equal(it.next().done, true, 'ran dry')
  await pool.addRaw(tx1559(1, { key: K0 }).serialize()) // the sender it had popped
  await pool.addRaw(tx1559(0, { key: K1, tip: 5n * GWEI }).serialize()) // a sender new to the pool
  await pool.addRaw(tx1559(2, { key: K1, tip: 5n * GWEI }).serialize()) // queued behind a gap
  t.same(order(it), [tag(K1, 0), tag(K0, 1)], 'taken up after done, best tip first; nonce 2 waits')
  t.equal(it.next().done, true)
  await pool.addRaw(tx1559(1, { key: K1, tip: 5n * GWEI }).serialize()) // fills the gap: 1 and 2
  await pool.addRaw(tx1559(2, { key: K0 }).serialize())
  const k1 = it.next().value!
  t.same(order([k1]), [tag(K1, 1)])
  it.skipSender(k1.sender) // K1 nonce 1 failed in the block: 2 cannot run
  t.same(order(it), [tag(K0, 2)])
  await pool.addRaw(tx1559(3, { key: K1, tip: 5n * GWEI }).serialize())
  t.same(order(it), [], 'a skipped sender stays skipped')
  // A replacement of something already handed out to the block being built is refused: that block spends its nonce.
  await refused(t, pool, tx1559(2, { key: K0, tip: 2n * GWEI, fee: 20n * GWEI }).serialize(), 'MEMPOOL_NONCE_TOO_LOW', /nonce 2 is being sealed into the next block by 0x/, 'replacing a nonce being sealed')
  t.same(order(it), [])
  t.same(order(pool.pending(BASE_FEE)), [0, 1, 2, 3].map((n) => tag(K1, n)).concat([0, 1, 2].map((n) => tag(K0, n))), 'a new iterator starts from the pool again')
})

t.test('what the builder was given is held until its block lands, is abandoned or skips it', async (t) => {
  const { pool } = setup()
  await pool.addRaw(tx1559(0, { key: K0 }).serialize())
  await pool.addRaw(tx1559(0, { key: K1 }).serialize())
  const it = pool.pending(BASE_FEE)
  const got = [it.next().value!, it.next().value!]
  const bump = (k: Uint8Array) => tx1559(0, { key: k, tip: 2n * GWEI, fee: 20n * GWEI })
  await refused(t, pool, bump(K0).serialize(), 'MEMPOOL_NONCE_TOO_LOW', /being sealed/, 'held while the block is built')
  it.skipSender(got[1]!.sender) // the builder left K1's transaction out (it failed or did not fit)
  const k1 = bump(K1)
  await pool.addRaw(k1.serialize())
  t.equal(hex(pool.get(k1.hash())!.tx), hex(k1), 'a skipped transaction can be replaced')
  it.release() // the block was abandoned
  await pool.addRaw(bump(K0).serialize())
  t.same(pool.stats(), { pending: 2, queued: 0 }, 'released: replaced')
  // A new builder supersedes the last one; a new head ends the hold too.
  const first = pool.pending(BASE_FEE)
  first.next()
  const second = pool.pending(BASE_FEE)
  const held = second.next().value!
  await refused(t, pool, tx1559(0, { key: held.sender.equals(A0) ? K0 : K1, tip: 5n * GWEI, fee: 50n * GWEI }).serialize(), 'MEMPOOL_NONCE_TOO_LOW', /being sealed/, 'held by the newer builder')
  await pool.onBlockIncluded([])
  await pool.addRaw(tx1559(0, { key: held.sender.equals(A0) ? K0 : K1, tip: 5n * GWEI, fee: 50n * GWEI }).serialize())
  t.pass('a new head ends the hold')
})

t.test('a live iterator that fell behind the arrivals log rescans the pool', async (t) => {
  // More executable arrivals than the pool's log keeps (freshLog, 64 here) while the iterator is not read.
  const keys = Array.from({ length: 9 }, (_, i) => keccak_256(new Uint8Array([7, i])))
  const pubkeys = new Map<string, Uint8Array>()
  const raws: Uint8Array[] = []
  for (let n = 0; n < 25; n++) {
    for (const k of keys) {
      const tx = tx1559(n, { key: k })
      pubkeys.set(hex(tx), secp256k1.getPublicKey(k, false).subarray(1))
      raws.push(tx.serialize())
    }
  }
  // Senders are known: skip the (main-thread) recovery of the signatures.
  const known: SenderRecovery = {
    recover: async (tx) => (tx.cache.senderPubKey = pubkeys.get(hex(tx))!),
    recoverMany: async (txs) => txs.map((tx) => (tx.cache.senderPubKey = pubkeys.get(hex(tx))!)),
    close: async () => {},
  }
  const { pool } = setup({ maxPerSender: 200, maxQueuedPerSender: 200, freshLog: 64 }, {}, known)
  await pool.addRaw(raws[0]!)
  const it = pool.pending(BASE_FEE)
  t.same(order([it.next().value!]), [tag(keys[0]!, 0)])
  for (const raw of raws.slice(1)) await pool.addRaw(raw)
  const seen = new Set<string>()
  const next = new Map<string, bigint>([[addr(keys[0]!).toString(), 1n]])
  let ok = true
  for (const p of it) {
    const s = p.sender.toString()
    const id = `${s}:${p.tx.nonce}`
    if (seen.has(id) || (next.get(s) ?? 0n) !== p.tx.nonce) ok = false
    seen.add(id)
    next.set(s, p.tx.nonce + 1n)
  }
  t.ok(ok, 'each sender in nonce order, nothing twice')
  t.equal(seen.size, raws.length - 1, 'every other transaction handed out')
})

t.test('after a block: included and stale dropped, gaps filled are announced once', async (t) => {
  const { pool, state, announced } = setup()
  const txs = [0, 1, 2, 4].map((n) => tx1559(n))
  for (const x of txs) await pool.addRaw(x.serialize())
  t.same(pool.stats(), { pending: 3, queued: 1 })
  announced.length = 0
  state.set(A0.toString(), { nonce: 2n, balance: RICH })
  await pool.onBlockIncluded([0, 1].map((i) => ({ hash: txs[i]!.hash(), sender: A0, nonce: BigInt(i) })))
  t.equal(pool.get(txs[0]!.hash()), undefined)
  t.equal(pool.get(txs[1]!.hash()), undefined)
  t.ok(pool.get(txs[2]!.hash()))
  t.same(pool.stats(), { pending: 1, queued: 1 })
  t.same(announced, [], 'nonce 2 was already pending: not announced again')
  t.equal(await pool.pendingNonce(A0), 3n)
  await pool.addRaw(tx1559(3).serialize())
  t.same(announced.map((h) => pool.get(hexToBytes(h as `0x${string}`))!.tx.nonce), [3n, 4n], 'filling nonce 3 releases 4')
  t.same(Object.keys(pool.content().queued), [])

  // A block from elsewhere jumps the nonce over a gap: queued transactions become executable.
  const jump = setup()
  for (const n of [0, 3, 4]) await jump.pool.addRaw(tx1559(n).serialize())
  jump.announced.length = 0
  jump.state.set(A0.toString(), { nonce: 3n, balance: RICH })
  await jump.pool.onBlockIncluded([{ hash: new Uint8Array(32).fill(9), sender: A0, nonce: 2n }])
  t.same(jump.pool.stats(), { pending: 2, queued: 0 })
  t.equal(jump.announced.length, 2, 'nonces 3 and 4 announced')

  // The state read lags the block: the included nonces still move the sender on.
  const lag = setup()
  const l = [0, 1, 2].map((n) => tx1559(n))
  for (const x of l) await lag.pool.addRaw(x.serialize())
  await lag.pool.onBlockIncluded([{ hash: l[0]!.hash(), sender: A0, nonce: 0n }, { hash: l[1]!.hash(), sender: A0, nonce: 1n }])
  t.same(order(lag.pool.pending(BASE_FEE)), [tag(K0, 2)])
  await refused(t, lag.pool, tx1559(1, { fee: 50n * GWEI }).serialize(), 'MEMPOOL_NONCE_TOO_LOW', `nonce too low: address ${CA0}, tx: 1 state: 2`, 'NONCE_TOO_LOW from the block, ahead of state')

  // The pool follows the block before its state reads resolve: a block built at once on the new
  // head is not offered what the head included.
  const prompt = setup()
  const pr = [0, 1, 2].map((n) => tx1559(n))
  for (const x of pr) await prompt.pool.addRaw(x.serialize())
  const settled = prompt.pool.onBlockIncluded([{ hash: pr[0]!.hash(), sender: A0, nonce: 0n }, { hash: pr[1]!.hash(), sender: A0, nonce: 1n }])
  t.same(order(prompt.pool.pending(BASE_FEE)), [tag(K0, 2)], 'at once, not after the account reads')
  await settled

  // The block spent the sender's money: what it can no longer pay for is dropped.
  const poor = setup()
  for (const n of [0, 1, 2, 3]) await poor.pool.addRaw(tx1559(n, { value: n === 3 ? 10n ** 18n : 1n }).serialize())
  poor.state.set(A0.toString(), { nonce: 1n, balance: 10n ** 17n })
  await poor.pool.onBlockIncluded([{ hash: tx1559(0).hash(), sender: A0, nonce: 0n }])
  t.same(order(poor.pool.pending(BASE_FEE)), [tag(K0, 1), tag(K0, 2)])
  t.same(poor.pool.stats(), { pending: 2, queued: 0 })

  state.set(A0.toString(), { nonce: 5n, balance: RICH })
  await pool.onBlockIncluded([{ hash: txs[3]!.hash(), sender: A0, nonce: 4n }])
  t.same(pool.stats(), { pending: 0, queued: 0 }, 'everything below the new nonce is gone')
  t.same(pool.content(), { pending: {}, queued: {} })
})

t.test('head: a lower gas limit drops what no block can hold and refuses new ones', async (t) => {
  const { pool } = setup()
  await pool.addRaw(tx1559(0).serialize())
  await pool.addRaw(tx1559(1, { gas: 200_000n }).serialize())
  await pool.addRaw(tx1559(2).serialize())
  pool.head({ baseFee: BASE_FEE, gasLimit: 100_000n })
  t.same(order(pool.pending(BASE_FEE)), [tag(K0, 0)])
  t.same(pool.stats(), { pending: 1, queued: 1 }, 'nonce 2 waits again for nonce 1')
  await refused(t, pool, tx1559(1, { gas: 100_001n, fee: 20n * GWEI, tip: 2n * GWEI }).serialize(), 'MEMPOOL_GAS_LIMIT_EXCEEDED', 'exceeds block gas limit')
  await pool.addRaw(tx1559(1, { gas: 100_000n }).serialize())
  t.same(pool.stats(), { pending: 3, queued: 0 })
})

t.test('content and stats: txpool_content shape', async (t) => {
  const { pool } = setup()
  await pool.addRaw(tx1559(0).serialize())
  await pool.addRaw(tx1559(2).serialize())
  await pool.addRaw(tx1559(1, { key: K1 }).serialize())
  const c = pool.content()
  const C1 = toChecksumAddress(addr(K1).toString())
  t.same(Object.keys(c.pending), [CA0])
  t.same(Object.keys(c.pending[CA0]!), ['0'])
  t.same(Object.keys(c.queued).sort(), [CA0, C1].sort())
  t.same(Object.keys(c.queued[CA0]!), ['2'])
  t.equal(c.queued[C1]!['1']!.tx.nonce, 1n)
  t.same(pool.stats(), { pending: 1, queued: 2 })
})

t.test('sender recovery in workers feeds the pool the same senders', async (t) => {
  const recovery = createSenderRecovery({ workers: 2 })
  t.teardown(() => recovery.close())
  const { pool } = setup({}, {}, recovery)
  const results = await Promise.all([K0, K1, K2, K3].flatMap((k) => [0, 1, 2].map((n) => pool.addRaw((n === 1 ? legacy(n, { key: k }) : tx1559(n, { key: k })).serialize()))))
  t.same(
    results.map((r) => r.sender.toString()),
    [K0, K1, K2, K3].flatMap((k) => [0, 1, 2].map(() => addr(k).toString())),
  )
  t.same(pool.stats(), { pending: 12, queued: 0 })
})

t.test('sender keys of included transactions are remembered: a re-added copy is not recovered again', async (t) => {
  const fresh: boolean[] = []
  const inner = createSenderRecovery({ workers: 0 })
  const spy: SenderRecovery = {
    recover: (tx) => {
      fresh.push(tx.cache.senderPubKey === undefined)
      return inner.recover(tx)
    },
    recoverMany: (txs) => inner.recoverMany(txs),
    close: () => inner.close(),
  }
  const { pool, state } = setup({}, {}, spy)
  const tx = tx1559(0)
  await pool.addRaw(tx.serialize())
  t.same(fresh, [true], 'first arrival: recovered')
  state.set(A0.toString(), { nonce: 1n, balance: RICH })
  await pool.onBlockIncluded([{ hash: tx.hash(), sender: A0, nonce: 0n }])
  t.equal(pool.get(tx.hash()), undefined, 'included: out of the pool')
  const key = pool.senderKey(tx.hash())
  t.equal(key === undefined ? undefined : new Address(publicToAddress(key)).toString(), A0.toString(), 'but its sender key is remembered')
  // A reorg drops the block: the transaction comes back as raw bytes.
  state.set(A0.toString(), { nonce: 0n, balance: RICH })
  await pool.addRaw(tx.serialize())
  t.same(fresh, [true, false], 'the re-added copy reuses the key instead of recovering')
  t.equal(pool.get(tx.hash())?.sender.toString(), A0.toString())
  t.equal(pool.senderKey(new Uint8Array(32)), undefined, 'unknown hash: no key')
})

t.test('a reorg moves senders back to the new head: the dropped branch\'s transactions return and stay executable', async (t) => {
  const { pool, state } = setup()
  const txs = [0, 1, 2, 3].map((n) => tx1559(n))
  for (const x of txs) await pool.addRaw(x.serialize())
  // Branch A includes nonces 0..2.
  state.set(A0.toString(), { nonce: 3n, balance: RICH })
  await pool.onBlockIncluded([0, 1, 2].map((i) => ({ hash: txs[i]!.hash(), sender: A0, nonce: BigInt(i) })))
  t.same(pool.stats(), { pending: 1, queued: 0 })
  // Branch B wins with only nonce 0: A's block is dropped, its transactions come back.
  state.set(A0.toString(), { nonce: 1n, balance: RICH })
  await pool.onBlocksRemoved([0, 1, 2].map((i) => ({ hash: txs[i]!.hash(), sender: A0, nonce: BigInt(i) })))
  await pool.onBlockIncluded([{ hash: txs[0]!.hash(), sender: A0, nonce: 0n }])
  for (const i of [0, 1, 2]) await pool.addRaw(txs[i]!.serialize()).catch(() => undefined)
  t.ok(pool.get(txs[1]!.hash()) && pool.get(txs[2]!.hash()), 'nonces 1 and 2 are back (not refused as too low)')
  t.equal(pool.get(txs[0]!.hash()), undefined, 'nonce 0 is in the new branch: not back')
  t.same(pool.stats(), { pending: 3, queued: 0 }, '1, 2 and 3 are executable again')
  t.same([...pool.pending(BASE_FEE)].map((p) => p.tx.nonce), [1n, 2n, 3n], 'and handed to the next block in order')
  t.equal(await pool.pendingNonce(A0), 4n)
})
