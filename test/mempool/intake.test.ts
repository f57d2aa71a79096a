import t from 'tap'
import { RLP } from '@ethereumjs/rlp'
import { createAccessList2930Tx, createFeeMarket1559Tx, createLegacyTx, type TypedTransaction } from '@ethereumjs/tx'
import { Address, bytesToHex, hexToBytes, publicToAddress } from '@ethereumjs/util'
import { secp256k1 } from '@noble/curves/secp256k1.js'
import { keccak_256 } from '@noble/hashes/sha3.js'
import { createChainCommon } from '../../evm/index.ts'
import { createMempool, createSenderRecovery, MempoolError, type IntakeItem, type Mempool, type SenderRecovery } from '../../node/mempool/index.ts'

// Intake off the main thread: with a recovery that can admit (the node's), a raw transaction
// is decoded, checked statelessly and recovered in a worker, and the pool builds the
// transaction from the worker's fields. It must refuse and accept exactly as the pool's own
// (in-thread) admission does, with geth's words, in geth's order.

const common = createChainCommon({ chainId: 1337n, period: 1, hardfork: 'osaka' })
const other = createChainCommon({ chainId: 1n, period: 1, hardfork: 'osaka' })
const KEYS = [1, 2, 3].map((i) => keccak_256(new Uint8Array([9, i])))
/** Signs what Osaka's ethereumjs refuses to build (a gas limit above EIP-7825's cap). */
const prague = createChainCommon({ chainId: 1337n, period: 1, hardfork: 'prague' })
const K0 = KEYS[0]!
const addr = (k: Uint8Array) => new Address(publicToAddress(secp256k1.getPublicKey(k, false).subarray(1)))
const TO = new Address(hexToBytes(`0x${'33'.repeat(20)}`))
const GWEI = 10n ** 9n
const N = secp256k1.Point.CURVE().n
const word = (n: bigint) => (n === 0n ? new Uint8Array() : hexToBytes(`0x${n.toString(16).padStart(2 * Math.ceil(n.toString(16).length / 2), '0')}`))

function tx1559(nonce: number, o: { fee?: bigint; tip?: bigint; gas?: bigint; key?: Uint8Array; data?: Uint8Array; create?: boolean; c?: typeof common } = {}): TypedTransaction {
  return createFeeMarket1559Tx(
    { nonce: BigInt(nonce), to: o.create === true ? undefined : TO, gasLimit: o.gas ?? 21_000n, maxFeePerGas: o.fee ?? 10n * GWEI, maxPriorityFeePerGas: o.tip ?? GWEI, value: 1n, data: o.data },
    { common: o.c ?? common },
  ).sign(o.key ?? K0)
}

function edit1559(tx: TypedTransaction, change: (f: Uint8Array[]) => void): Uint8Array {
  const fields = RLP.decode(tx.serialize().subarray(1)) as Uint8Array[]
  change(fields)
  return new Uint8Array([2, ...RLP.encode(fields)])
}

/** A recovery that only recovers: the pool then admits on its own thread (the reference). */
function recoverOnly(inner: SenderRecovery): SenderRecovery {
  return { recover: (tx) => inner.recover(tx), recoverMany: (txs) => inner.recoverMany(txs), close: () => inner.close() }
}

function pool(recovery: SenderRecovery, opts: { minGasPrice?: bigint } = {}): Mempool {
  const p = createMempool({ maxPerSender: 200, maxQueuedPerSender: 200, ...opts }, { common, recovery, getAccount: async () => ({ nonce: 0n, balance: 10n ** 22n }) })
  p.head({ baseFee: GWEI, gasLimit: 30_000_000n })
  return p
}

type Outcome = { added: { hash: string; sender: string; bytes: string; key: number | undefined } } | { refused: { code: string; message: string } }

async function outcome(p: Mempool, raw: Uint8Array): Promise<Outcome> {
  try {
    const a = await p.addRaw(raw)
    return { added: { hash: bytesToHex(a.hash), sender: a.sender.toString(), bytes: bytesToHex(a.tx.serialize()), key: a.tx.cache.senderPubKey?.length } }
  } catch (err) {
    if (!(err instanceof MempoolError)) throw err
    return { refused: { code: err.code, message: err.message } }
  }
}

function cases(): Array<[string, Uint8Array]> {
  const good = tx1559(0)
  const legacySigned = createLegacyTx({ nonce: 1n, to: TO, gasLimit: 21_000n, gasPrice: 10n * GWEI, value: 1n }, { common }).sign(K0)
  const badV = RLP.decode(legacySigned.serialize()) as Uint8Array[]
  badV[6] = new Uint8Array([30])
  let rNoPoint = 5n
  for (; ; rNoPoint++) {
    try {
      new secp256k1.Signature(rNoPoint, good.s!, Number(good.v)).recoverPublicKey(good.getHashedMessageToSign())
    } catch {
      break
    }
  }
  return [
    ['1559', good.serialize()],
    ['legacy (EIP-155)', legacySigned.serialize()],
    ['2930', createAccessList2930Tx({ nonce: 2n, to: TO, gasLimit: 30_000n, gasPrice: 10n * GWEI, accessList: [{ address: TO.toString(), storageKeys: [`0x${'00'.repeat(31)}01`] }] }, { common }).sign(K0).serialize()],
    ['another sender', tx1559(0, { key: KEYS[1] }).serialize()],
    ['empty', new Uint8Array()],
    ['bad RLP', new Uint8Array([0xc1, 0x01, 0x02])],
    ['a string', new Uint8Array([0x82, 0x01, 0x02])],
    ['type 5', new Uint8Array([0x05, 0xc0])],
    ['blob', new Uint8Array([0x03, 0xc0])],
    ['field count', new Uint8Array([2, ...RLP.encode([1, 2, 3])])],
    ['leading zero', edit1559(good, (f) => (f[1] = new Uint8Array([0, 1])))],
    ['padded chain id', edit1559(good, (f) => (f[0] = new Uint8Array([0, ...f[0]!])))],
    ['initcode', edit1559(tx1559(3, { create: true, data: new Uint8Array(1), gas: 5_000_000n }), (f) => (f[7] = new Uint8Array(49_153)))],
    ['gas cap (EIP-7825)', tx1559(3, { gas: (1n << 24n) + 1n, c: prague }).serialize()],
    ['wrong chain', tx1559(3, { c: other }).serialize()],
    ['high s', edit1559(good, (f) => ((f[11] = word(N - good.s!)), (f[9] = good.v === 1n ? new Uint8Array() : new Uint8Array([1]))))],
    ['yParity 2', edit1559(good, (f) => (f[9] = new Uint8Array([2])))],
    ['legacy v 30', RLP.encode(badV)],
    ['r without a point', edit1559(good, (f) => (f[10] = word(rNoPoint)))],
    ['r = 0', edit1559(good, (f) => (f[10] = new Uint8Array()))],
    ['tip above fee cap', edit1559(tx1559(3, { fee: 6n * GWEI, tip: 5n * GWEI }), (f) => ([f[2], f[3]] = [f[3]!, f[2]!]))],
    ['above the block gas limit', tx1559(3, { gas: 30_000_001n, c: prague }).serialize()],
    ['fee cap below any base fee', tx1559(3, { fee: 6n, tip: 1n }).serialize()],
    ['intrinsic gas', tx1559(3, { gas: 20_000n }).serialize()],
    ['intrinsic gas (calldata)', tx1559(3, { gas: 21_050n, data: new Uint8Array([1, 0, 0, 0, 0, 0, 0, 0, 0, 0]) }).serialize()],
    ['underpriced tip', tx1559(4, { tip: 1n }).serialize()],
    ['duplicate', good.serialize()],
  ]
}

t.test('worker intake accepts and refuses exactly as the in-thread admission, with the same words', async (t) => {
  for (const workers of [0, 1]) {
    const rec = createSenderRecovery({ workers })
    t.teardown(() => rec.close())
    const inWorker = pool(rec, { minGasPrice: 2n })
    const here = pool(recoverOnly(rec), { minGasPrice: 2n })
    const added: string[] = []
    for (const [name, raw] of cases()) {
      const want = await outcome(here, raw)
      const got = await outcome(inWorker, raw)
      t.same(got, want, `workers ${workers}: ${name}`)
      if ('added' in got) added.push(name)
    }
    t.same(inWorker.stats(), here.stats(), `workers ${workers}: the same pool`)
    t.same(added, ['1559', 'legacy (EIP-155)', '2930', 'another sender'], `workers ${workers}: what was admitted`)
  }
})

t.test('the pool sends raw bytes to the worker: no decode or recovery on its thread, one admission per transaction', async (t) => {
  const inner = createSenderRecovery({ workers: 1 })
  t.teardown(() => inner.close())
  const admitted: IntakeItem[] = []
  const recovered: string[] = []
  const spy: SenderRecovery = {
    recover: (tx) => (recovered.push(bytesToHex(tx.hash())), inner.recover(tx)),
    recoverMany: (txs) => inner.recoverMany(txs),
    close: () => inner.close(),
    admit: (item) => (admitted.push(item), inner.admit!(item)),
  }
  const p = pool(spy)
  const tx = tx1559(0)
  const raw = tx.serialize()
  const [a, b] = await Promise.allSettled([p.addRaw(raw), p.addRaw(raw)])
  t.equal(a.status, 'fulfilled')
  t.match(b, { status: 'rejected', reason: { code: 'MEMPOOL_ALREADY_KNOWN', message: 'already known' } }, 'a concurrent duplicate is known before any worker sees it')
  t.equal(admitted.length, 1, 'one admission for two submissions')
  t.same(recovered, [], 'nothing recovered on the pool\'s side')
  t.equal(bytesToHex(admitted[0]!.raw), bytesToHex(raw), 'the worker got the raw bytes')
  const added = (a as PromiseFulfilledResult<Awaited<ReturnType<Mempool['addRaw']>>>).value
  t.equal(bytesToHex(added.tx.hash()), bytesToHex(tx.hash()), 'the hash of the bytes as they came')
  t.equal(bytesToHex(added.tx.serialize()), bytesToHex(raw), 'built from the fields: the same transaction')
  t.equal(added.sender.toString(), addr(K0).toString())
  t.equal(added.tx.cache.senderPubKey?.length, 64, 'the worker\'s key is on the transaction (the builder recovers nothing)')
  const [first] = [...p.pending(GWEI)]
  t.equal(first!.tx, added.tx, 'the builder gets the very same object')

  // Included, then dropped by a reorg: the copy that comes back carries the remembered key.
  await p.onBlockIncluded([{ hash: tx.hash(), sender: addr(K0), nonce: 0n }])
  await p.addRaw(raw).catch(() => undefined)
  t.equal(admitted.length, 2)
  t.equal(admitted[1]!.pubkey?.length, 64, 'a re-added transaction is not recovered again')
})

/** A worker whose admit batches crash it (a throw), while recovery batches work. */
const crashingWorker = new URL(
  'data:text/javascript,' +
    encodeURIComponent(`
      import { parentPort } from 'node:worker_threads'
      import { recoverBatch } from ${JSON.stringify(new URL('../../node/mempool/recover-worker.ts', import.meta.url).href)}
      parentPort.removeAllListeners('message')
      parentPort.on('message', (m) => {
        if (m.admit !== undefined) throw new Error('simulated crash')
        const { pubkeys, ok } = recoverBatch(m.items)
        parentPort.postMessage({ id: m.id, pubkeys, ok })
      })
    `),
)

t.test('a worker that dies during intake: RECOVERY_FAILED (not a bad signature), and a resubmission is not already known', async (t) => {
  const rec = createSenderRecovery({ workers: 1, workerUrl: crashingWorker })
  t.teardown(() => rec.close())
  const p = pool(rec)
  const raw = tx1559(0).serialize()
  // Until a worker has loaded, this thread admits: wait for it (and for its replacement), so the worker is what is tested.
  await rec.ready!()
  await t.rejects(p.addRaw(raw), { code: 'MEMPOOL_RECOVERY_FAILED', message: /^sender recovery worker crashed \(simulated crash\)/ })
  await rec.ready!()
  await t.rejects(p.addRaw(raw), { code: 'MEMPOOL_RECOVERY_FAILED' }, 'the replacement dies the same way; still not "already known"')
  t.same(p.stats(), { pending: 0, queued: 0 })
})

t.test('close: waiting and later admissions reject with RECOVERY_FAILED', async (t) => {
  const rec = createSenderRecovery({ workers: 1 })
  const p = pool(rec)
  const waiting = t.rejects(p.addRaw(tx1559(0).serialize()), { code: 'MEMPOOL_RECOVERY_FAILED', message: /^sender recovery is closed/ })
  await rec.close()
  await waiting
  await t.rejects(p.addRaw(tx1559(1).serialize()), { code: 'MEMPOOL_RECOVERY_FAILED', message: /^sender recovery is closed/ })
})
