/**
 * The scale suite's chain (`npm run bench -- scale`): MedRec patients onboarded in-process through
 * the real Chain (real LevelDB, blocks built, executed and committed as a sealing node does), in
 * full blocks. Each patient: funded (to pay for her accepts), registered by an authority, then for
 * each provider the workload's "new record" transactions (create the relationship, first pointer,
 * link; medrec-flows.ts's newRecordTxs) and her accept. Every receipt must succeed.
 */
import { readdir, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { Level } from 'level'
import { Address, hexToBytes } from '@ethereumjs/util'
import { createFeeMarket1559Tx } from '@ethereumjs/tx'
import { keccak_256 } from '@noble/hashes/sha3.js'
import { bytesToHex, concatHex, toHex, type Address as Hex20, type Hex } from 'viem'
import { cloneAddress, encodeCall, summaryAbi, REGISTRAR_ADDRESS, SUMMARY_IMPLEMENTATION_ADDRESS } from '../../contracts/index.ts'
import { createChainCommon, type SenderTx } from '../../evm/index.ts'
import type { Chain } from '../../node/chain/index.ts'
import type { PoaSnapshot } from '../../consensus/index.ts'
import { privateKeyToAddress } from '../../node/keys/index.ts'
import { BenchError, BenchErrorCode } from './errors.ts'
import { FLOW_ENDPOINT, GAS, flowDataHash, newRecordTxs, registerTx, relationshipAddress, setupSalt } from './workloads/medrec-flows.ts'
import type { TxFields } from './workloads/types.ts'

/** Who sends what: an authority registers, `providers` authorities create relationships, one member funds the patients. */
export interface ScaleActors {
  registrar: Uint8Array
  providers: Uint8Array[]
  funder: Uint8Array
  /** Every authority's key, by address (lower-case 0x), to seal in turn. */
  signerKeys: Map<string, Uint8Array>
}

/** Patient j's key: deterministic, so a run can be reasoned about afterwards. */
export const patientKey = (j: number): Uint8Array => keccak_256(new TextEncoder().encode(`medrec-scale-patient-${j}`))
export const identityOf = (j: number): string => `scale-patient-${j}`
/** Enough for two accepts at the fee cap below. */
const PATIENT_FUNDS = 10n ** 17n
const FEES = { maxFeePerGas: 10n ** 11n, maxPriorityFeePerGas: 10n ** 9n }
const TAG = toHex('medrec-scale', { size: 32 })

/** The Summary `Registrar.register(identity, participant)` creates: a clone with (participant, identity) as its arguments. */
export function summaryAddress(participant: Hex20, identity: string): Hex20 {
  return cloneAddress(REGISTRAR_ADDRESS, SUMMARY_IMPLEMENTATION_ADDRESS, concatHex([participant, toHex(identity)]))
}

/** Relationship of patient j with provider p (index into the providers). */
export function scaleRelationship(providerAddr: Hex20, j: number, p: number): Hex20 {
  const patient = bytesToHex(privateKeyToAddress(patientKey(j))) as Hex20
  return relationshipAddress(providerAddr, patient, summaryAddress(patient, identityOf(j)), FLOW_ENDPOINT, setupSalt(TAG, j * 8 + p))
}

export interface OnboardStats {
  blocks: number
  transactions: number
  gasUsed: bigint
  /** CPU (user + system) spent in Chain.produce: execution, state commit and the LevelDB batch. */
  produceCpuMs: number
  produceWallMs: number
}

/** The transactions onboarding patient j, in the order they must run. */
function patientTxs(j: number, a: ScaleActors): Array<{ fields: TxFields; key: Uint8Array }> {
  const key = patientKey(j)
  const patient = bytesToHex(privateKeyToAddress(key)) as Hex20
  const summary = summaryAddress(patient, identityOf(j))
  const out: Array<{ fields: TxFields; key: Uint8Array }> = [
    { fields: { to: privateKeyToAddress(key), value: PATIENT_FUNDS, gasLimit: 21_000n }, key: a.funder },
    { fields: registerTx(identityOf(j), patient), key: a.registrar },
  ]
  const rels: Hex20[] = []
  a.providers.forEach((pk, p) => {
    const provider = bytesToHex(privateKeyToAddress(pk)) as Hex20
    const salt: Hex = setupSalt(TAG, j * 8 + p)
    const rel = relationshipAddress(provider, patient, summary, FLOW_ENDPOINT, salt)
    rels.push(rel)
    for (const fields of newRecordTxs(patient, FLOW_ENDPOINT, salt, flowDataHash(salt), rel)) out.push({ fields, key: pk })
  })
  for (const rel of rels) out.push({ fields: { to: hexToBytes(summary), data: hexToBytes(encodeCall(summaryAbi, 'accept', [rel])), gasLimit: GAS.accept }, key })
  return out
}

/**
 * Onboards patients [from, to) into `chain`, in blocks filled up to the gas limit (by the
 * transactions' gas limits, as the builder counts them); one sealer after another, timestamps one
 * second apart long ago (valid for any peer's clock).
 */
export async function onboardPatients(chain: Chain, chainId: bigint, period: number, epoch: bigint, a: ScaleActors, from: number, to: number): Promise<OnboardStats> {
  if (chain.consensus.algorithm !== 'poa') throw new BenchError(BenchErrorCode.BAD_WORKLOAD, 'the scale chain is sealed under PoA: use a PoA genesis')
  const common = createChainCommon({ chainId, period, epoch })
  const nonces = new Map<Uint8Array, bigint>()
  const nonceOf = async (key: Uint8Array): Promise<bigint> => {
    const n = nonces.get(key) ?? (await chain.headAccount(new Address(privateKeyToAddress(key)))).nonce
    nonces.set(key, n + 1n)
    return n
  }
  const stats: OnboardStats = { blocks: 0, transactions: 0, gasUsed: 0n, produceCpuMs: 0, produceWallMs: 0 }
  const gasLimit = chain.head.block.header.gasLimit
  let txs: SenderTx[] = []
  let reserved = 0n
  const seal = async () => {
    if (txs.length === 0) return
    const number = chain.head.block.header.number + 1n
    const signers = (chain.snapshot as PoaSnapshot).signers
    const who = signers[Number(number % BigInt(signers.length))]!
    const src = Object.assign(txs[Symbol.iterator](), { skipSender() {} })
    const cpu0 = process.cpuUsage()
    const t0 = performance.now()
    const bundle = await chain.produce({ signer: { address: hexToBytes(who as Hex), privateKey: a.signerKeys.get(who.toLowerCase())! }, source: src, deadline: Date.now() + 600_000, now: Number(number) * 1000 })
    const cpu = process.cpuUsage(cpu0)
    stats.produceWallMs += performance.now() - t0
    stats.produceCpuMs += (cpu.user + cpu.system) / 1000
    if (bundle.block.transactions.length !== txs.length) throw new BenchError(BenchErrorCode.BAD_WORKLOAD, `scale chain: block ${number} took ${bundle.block.transactions.length} of ${txs.length} transactions`)
    const failed = bundle.receipts.findIndex((r) => r.status !== 1)
    if (failed >= 0) throw new BenchError(BenchErrorCode.BAD_WORKLOAD, `scale chain: transaction ${failed} of block ${number} (${bytesToHex(bundle.block.transactions[failed]!.hash())}) reverted: the onboarding steps or their order are wrong`)
    stats.blocks += 1
    stats.transactions += txs.length
    stats.gasUsed += bundle.receipts.reduce((n, r) => n + r.gasUsed, 0n)
    txs = []
    reserved = 0n
  }
  for (let j = from; j < to; j++) {
    const steps = patientTxs(j, a)
    const need = steps.reduce((n, s) => n + s.fields.gasLimit, 0n)
    // A patient's steps stay in one block: her accepts need her funding and her relationships.
    if (reserved + need > gasLimit) await seal()
    for (const s of steps) {
      const tx = createFeeMarket1559Tx({ ...FEES, ...s.fields, nonce: await nonceOf(s.key), chainId }, { common }).sign(s.key)
      txs.push({ tx, sender: new Address(privateKeyToAddress(s.key)) })
    }
    reserved += need
  }
  await seal()
  return stats
}

/** Entries and bytes (keys + values) of the trie sublevel ('s', the Merkle Patricia state) of a closed chain database. */
export async function trieSize(datadir: string): Promise<{ entries: number; bytes: number }> {
  const db = new Level<Uint8Array, Uint8Array>(join(datadir, 'chaindata'), { keyEncoding: 'view', valueEncoding: 'view' })
  try {
    const s = db.sublevel<Uint8Array, Uint8Array>('s', { keyEncoding: 'view', valueEncoding: 'view' })
    let entries = 0
    let bytes = 0
    for await (const [k, v] of s.iterator()) {
      entries += 1
      bytes += k.length + v.length
    }
    return { entries, bytes }
  } finally {
    await db.close()
  }
}

/** Bytes of the files under `dir` (LevelDB's size on disk). */
export async function dirBytes(dir: string): Promise<number> {
  let total = 0
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name)
    total += e.isDirectory() ? await dirBytes(p) : (await stat(p)).size
  }
  return total
}
