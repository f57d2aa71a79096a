import t from 'tap'
import { createCustomCommon, Mainnet } from '@ethereumjs/common'
import { RLP } from '@ethereumjs/rlp'
import { createAccessList2930Tx, createFeeMarket1559Tx, createLegacyTx, createTxFromRLP, type TypedTransaction } from '@ethereumjs/tx'
import { Address, bytesToHex, hexToBytes, publicToAddress } from '@ethereumjs/util'
import { secp256k1 } from '@noble/curves/secp256k1.js'
import { keccak_256 } from '@noble/hashes/sha3.js'
import { setLogSink } from '../../common/logger.ts'
import { createSenderRecovery, recoveryId } from '../../node/mempool/index.ts'
import { ITEM_BYTES, recoverBatch } from '../../node/mempool/recover-worker.ts'

const common = createCustomCommon({ chainId: 1337 }, Mainnet, { hardfork: 'london', eips: [3651, 3855, 3860] })
const KEY0 = hexToBytes('0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80')
const ADDR0 = '0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266'
const KEYS = [KEY0, ...[1, 2, 3].map((i) => keccak_256(new Uint8Array([i])))]
const addressOf = (k: Uint8Array): string => bytesToHex(publicToAddress(secp256k1.getPublicKey(k, false).subarray(1)))
const TO = new Address(hexToBytes(`0x${'22'.repeat(20)}`))
const N = secp256k1.Point.CURVE().n

/** A pre-EIP-155 legacy transaction (v = 27/28), signed by hand: ethereumjs always adds EIP-155. */
function unprotectedLegacy(key: Uint8Array, nonce: bigint): Uint8Array {
  const fields = [nonce, 10n ** 9n, 21_000n, TO.bytes, 1n, new Uint8Array()].map((f) => (typeof f === 'bigint' ? (f === 0n ? new Uint8Array() : hexToBytes(`0x${f.toString(16).padStart(2 * Math.ceil(f.toString(16).length / 2), '0')}`)) : f))
  const sig = secp256k1.sign(keccak_256(RLP.encode(fields)), key, { prehash: false, format: 'recovered' })
  return RLP.encode([...fields, new Uint8Array([27 + sig[0]!]), sig.subarray(1, 33), sig.subarray(33, 65)])
}

/** Fresh, decoded-from-the-wire transactions of every kind (so nothing is cached yet). */
function allKinds(): { txs: TypedTransaction[]; senders: string[] } {
  const raws: Uint8Array[] = []
  const senders: string[] = []
  for (const [i, k] of KEYS.entries()) {
    const nonce = BigInt(i)
    raws.push(createLegacyTx({ nonce, to: TO, gasLimit: 21_000n, gasPrice: 10n ** 9n }, { common }).sign(k).serialize())
    raws.push(createAccessList2930Tx({ nonce, to: TO, gasLimit: 30_000n, gasPrice: 10n ** 9n, accessList: [] }, { common }).sign(k).serialize())
    raws.push(createFeeMarket1559Tx({ nonce, to: TO, gasLimit: 21_000n, maxFeePerGas: 10n ** 10n, maxPriorityFeePerGas: 10n ** 9n }, { common }).sign(k).serialize())
    raws.push(unprotectedLegacy(k, nonce))
    senders.push(...Array(4).fill(addressOf(k)))
  }
  return { txs: raws.map((r) => createTxFromRLP(r, { common })), senders }
}

function tx1559(key = KEY0, nonce = 0n): TypedTransaction {
  const raw = createFeeMarket1559Tx({ nonce, to: TO, gasLimit: 21_000n, maxFeePerGas: 10n ** 10n, maxPriorityFeePerGas: 1n }, { common }).sign(key).serialize()
  return createTxFromRLP(raw, { common })
}

function signedFields(tx: TypedTransaction) {
  const x = tx as TypedTransaction & { maxFeePerGas: bigint; maxPriorityFeePerGas: bigint }
  return { nonce: x.nonce, to: x.to, gasLimit: x.gasLimit, maxFeePerGas: x.maxFeePerGas, maxPriorityFeePerGas: x.maxPriorityFeePerGas, value: x.value, v: x.v, r: x.r, s: x.s }
}

/** The same 1559 transaction with r replaced: one whose x has no point on the curve. */
function withoutPoint(): TypedTransaction {
  const good = tx1559()
  let r = 5n
  for (; ; r++) {
    try {
      new secp256k1.Signature(r, good.s!, 0).recoverPublicKey(good.getHashedMessageToSign())
    } catch {
      break
    }
  }
  return createFeeMarket1559Tx({ ...signedFields(good), r }, { common })
}

t.test('dev key 0 is 0xf39F…2266 (fixture check)', async (t) => {
  t.equal(addressOf(KEY0), ADDR0)
})

t.test('recovery ids: EIP-155 legacy, yParity, pre-EIP-155', async (t) => {
  const { txs } = allKinds()
  for (const tx of txs) {
    const v = tx.v!
    const expected = tx.type !== 0 ? Number(v) : v <= 28n ? Number(v - 27n) : Number(v - 35n - 2n * 1337n)
    t.equal(recoveryId(tx), expected, `type ${tx.type} v=${v}`)
    t.ok(recoveryId(tx) === 0 || recoveryId(tx) === 1)
  }
  t.ok(txs.some((x) => x.type === 0 && x.v! > 2000n), 'an EIP-155 legacy v = recId + 35 + 2 * 1337 is covered')
  t.ok(txs.some((x) => x.type === 0 && x.v! <= 28n), 'a v = 27/28 legacy is covered')
})

for (const workers of [0, 1, 2]) {
  t.test(`${workers} workers: senders of legacy, 2930, 1559 and pre-155 txs, cached once`, async (t) => {
    const rec = createSenderRecovery({ workers, maxBatch: 5 })
    t.teardown(() => rec.close())
    const { txs, senders } = allKinds()
    t.ok(txs.every((x) => x.cache.senderPubKey === undefined), 'nothing cached before')
    const keys = await rec.recoverMany(txs)
    t.equal(keys.length, txs.length)
    for (const [i, tx] of txs.entries()) {
      t.equal(tx.cache.senderPubKey, keys[i], 'the returned key is the cached one')
      t.equal(tx.cache.senderPubKey!.length, 64)
      t.equal(tx.getSenderAddress().toString(), senders[i], `sender of tx ${i} (type ${tx.type})`)
      t.ok(tx.verifySignature())
    }
    t.equal(txs[2]!.getSenderAddress().toString(), ADDR0)

    // ethereumjs reads the cache: a key planted there is the sender it reports.
    const probe = tx1559(KEY0)
    probe.cache.senderPubKey = keys[4]
    t.equal(probe.getSenderAddress().toString(), senders[4], 'a planted key changes the reported sender')
    t.ok(probe.verifySignature(), 'and verifySignature trusts it')
    // And recovery itself never redoes a cached transaction: it hands back the planted key.
    t.equal(await rec.recover(probe), keys[4], 'recovered once, never again')

    // Single requests in one tick share batches and still resolve to the right senders.
    const singles = allKinds()
    const got = await Promise.all(singles.txs.map((x) => rec.recover(x)))
    t.same(got.map((k) => bytesToHex(publicToAddress(k))), singles.senders)
  })
}

t.test('all worker counts agree exactly', async (t) => {
  const results: string[][] = []
  for (const workers of [0, 1, 2]) {
    const rec = createSenderRecovery({ workers })
    const { txs } = allKinds()
    results.push((await rec.recoverMany(txs)).map(bytesToHex))
    await rec.close()
  }
  t.same(results[1], results[0])
  t.same(results[2], results[0])
})

for (const workers of [0, 1]) {
  t.test(`${workers} workers: tampered signatures are refused with BAD_SIGNATURE`, async (t) => {
    const rec = createSenderRecovery({ workers })
    t.teardown(() => rec.close())
    const msg = 'invalid sender: invalid signature'
    await t.rejects(rec.recover(withoutPoint()), { code: 'MEMPOOL_BAD_SIGNATURE', message: msg }, 'r with no curve point')
    const good = tx1559()
    const zeroR = createFeeMarket1559Tx({ ...signedFields(good), r: 0n }, { common })
    await t.rejects(rec.recover(zeroR), { code: 'MEMPOOL_BAD_SIGNATURE', message: msg }, 'r = 0')
    const bigR = createFeeMarket1559Tx({ ...signedFields(good), r: N + 1n }, { common })
    await t.rejects(rec.recover(bigR), { code: 'MEMPOOL_BAD_SIGNATURE', message: msg }, 'r >= n')
    const unsigned = createFeeMarket1559Tx({ nonce: 0n, to: TO, gasLimit: 21_000n }, { common })
    await t.rejects(rec.recover(unsigned), { code: 'MEMPOOL_BAD_SIGNATURE', message: msg }, 'unsigned')
    // A tampered but well-formed r recovers *someone*: just not the signer.
    const other = createFeeMarket1559Tx({ ...signedFields(good), r: good.r! ^ 1n }, { common })
    const k = await rec.recover(other).catch(() => undefined)
    if (k !== undefined) t.not(bytesToHex(publicToAddress(k)), ADDR0, 'a flipped bit in r does not recover the signer')

    // recoverMany: the good ones are still cached; the failure names its index.
    const batch = [tx1559(KEYS[1]), withoutPoint(), tx1559(KEYS[2])]
    await t.rejects(rec.recoverMany(batch), { code: 'MEMPOOL_BAD_SIGNATURE', message: `${msg} (transaction 1 of 3)`, context: { index: 1 } })
    t.equal(batch[0]!.getSenderAddress().toString(), addressOf(KEYS[1]!))
    t.equal(batch[2]!.cache.senderPubKey?.length, 64)
  })
}

t.test('recoverBatch refuses high s (EIP-2) and bad recovery ids', async (t) => {
  const good = tx1559()
  const item = (s: bigint, rec: number) => {
    const b = new Uint8Array(ITEM_BYTES)
    b.set(good.getHashedMessageToSign(), 0)
    b.set(hexToBytes(`0x${good.r!.toString(16).padStart(64, '0')}`), 32)
    b.set(hexToBytes(`0x${s.toString(16).padStart(64, '0')}`), 64)
    b[96] = rec
    return b
  }
  const rec = Number(good.v!)
  const batch = new Uint8Array([...item(good.s!, rec), ...item(N - good.s!, rec ^ 1), ...item(good.s!, 2), ...item(0n, rec)])
  const { pubkeys, ok } = recoverBatch(batch)
  t.same([...ok], [1, 0, 0, 0], 'only the low-s, valid-id item recovers')
  t.equal(bytesToHex(publicToAddress(pubkeys.subarray(0, 64))), ADDR0)
  t.ok(pubkeys.subarray(64).every((b) => b === 0), 'failed items leave zero keys')
  // The high-s twin is a valid ECDSA signature for the same key: refused only because of EIP-2.
  const twin = new secp256k1.Signature(good.r!, N - good.s!, rec ^ 1).recoverPublicKey(good.getHashedMessageToSign())
  t.equal(bytesToHex(publicToAddress(twin.toBytes(false).subarray(1))), ADDR0)
})

/**
 * A worker that runs the real recovery but dies on any message of exactly 2 items (throws) or
 * 3 items (exits). It takes over the port from the real worker module it imports.
 */
const crashingWorker = new URL(
  'data:text/javascript,' +
    encodeURIComponent(`
      import { parentPort } from 'node:worker_threads'
      import { recoverBatch } from ${JSON.stringify(new URL('../../node/mempool/recover-worker.ts', import.meta.url).href)}
      parentPort.removeAllListeners('message')
      parentPort.on('message', (m) => {
        if (m.items.length === 2 * ${ITEM_BYTES}) throw new Error('simulated crash')
        if (m.items.length === 3 * ${ITEM_BYTES}) process.exit(7)
        const { pubkeys, ok } = recoverBatch(m.items)
        parentPort.postMessage({ id: m.id, pubkeys, ok })
      })
    `),
)

t.test('a crashed worker rejects its requests with RECOVERY_FAILED and is replaced', async (t) => {
  const logged: string[] = []
  setLogSink((line) => logged.push(line))
  t.teardown(() => setLogSink((line) => process.stderr.write(line + '\n')))
  const rec = createSenderRecovery({ workers: 1, workerUrl: crashingWorker })
  t.teardown(() => rec.close())
  // Until a worker has loaded, this thread answers: wait for it, so the worker is what is tested.
  await rec.ready!()
  // One request first: the wrapped real worker answers.
  t.equal(bytesToHex(publicToAddress(await rec.recover(tx1559()))), ADDR0)
  // Two requests in one tick travel in one message of 2 items: the worker throws.
  const pair = [tx1559(KEYS[1]), tx1559(KEYS[2])]
  const settled = await Promise.allSettled(pair.map((x) => rec.recover(x)))
  for (const s of settled) {
    t.equal(s.status, 'rejected')
    t.match((s as PromiseRejectedResult).reason, { code: 'MEMPOOL_RECOVERY_FAILED', message: /^sender recovery worker crashed \(simulated crash\); the transaction was not checked, resubmit it$/ })
  }
  t.equal(pair[0]!.cache.senderPubKey, undefined, 'nothing cached for a failed request')
  // The replacement works.
  t.equal(bytesToHex(publicToAddress(await rec.recover(pair[0]!))), addressOf(KEYS[1]!), 'replaced worker answers')
  // A worker that exits (no exception) is handled the same way (once its replacement has loaded).
  await rec.ready!()
  await t.rejects(rec.recoverMany([tx1559(KEYS[1], 1n), tx1559(KEYS[2], 1n), tx1559(KEYS[3], 1n)]), { code: 'MEMPOOL_RECOVERY_FAILED', message: /exit code 7/ })
  await rec.ready!()
  t.equal(bytesToHex(publicToAddress(await rec.recover(tx1559(KEYS[3], 2n)))), addressOf(KEYS[3]!), 'replaced again')
  t.equal(logged.filter((l) => /^ERROR .*Sender recovery worker died; replacing it/.test(l)).length, 2, 'each death is logged once')
  // maxBatch 1 splits the same pair into two messages: no crash.
  const split = createSenderRecovery({ workers: 1, workerUrl: crashingWorker, maxBatch: 1 })
  t.teardown(() => split.close())
  await split.ready!()
  const keys = await Promise.all([tx1559(KEYS[1], 5n), tx1559(KEYS[2], 5n)].map((x) => split.recover(x)))
  t.same(keys.map((k) => bytesToHex(publicToAddress(k))), [addressOf(KEYS[1]!), addressOf(KEYS[2]!)])
})

/** A worker that never finishes loading: it neither says it is ready nor answers. */
const stuckWorker = new URL('data:text/javascript,' + encodeURIComponent('setInterval(() => {}, 1000)'))

t.test('until a worker has loaded, the calling thread answers: the first transactions after a start do not wait on it', async (t) => {
  const rec = createSenderRecovery({ workers: 2, workerUrl: stuckWorker })
  t.teardown(() => rec.close())
  t.equal(bytesToHex(publicToAddress(await rec.recover(tx1559()))), ADDR0, 'recovered without a worker')
  const keys = await rec.recoverMany([tx1559(KEYS[1], 1n), tx1559(KEYS[2], 1n)])
  t.same(keys.map((k) => bytesToHex(publicToAddress(k))), [addressOf(KEYS[1]!), addressOf(KEYS[2]!)], 'a batch too')
})

t.test('close rejects waiting and later requests with RECOVERY_FAILED', async (t) => {
  const rec = createSenderRecovery({ workers: 1 })
  const waiting = t.rejects(rec.recover(tx1559()), { code: 'MEMPOOL_RECOVERY_FAILED', message: 'sender recovery is closed (the node is shutting down); the transaction was not checked' })
  await rec.close()
  await waiting
  await t.rejects(rec.recover(tx1559()), { code: 'MEMPOOL_RECOVERY_FAILED', message: /^sender recovery is closed/ })
  await rec.close() // idempotent
})
