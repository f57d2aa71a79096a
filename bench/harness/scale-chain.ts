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
import { bytesToHex, concatHex, keccak256, toHex, type Address as Hex20, type Hex } from 'viem'
import { cloneAddress, encodeCall, patientProviderRelationshipAbi, summaryAbi, REGISTRAR_ADDRESS, SUMMARY_IMPLEMENTATION_ADDRESS } from '../../contracts/index.ts'
import { createChainCommon, type SenderTx } from '../../evm/index.ts'
import type { Rpc } from '../../contracts/client/index.ts'
import type { Chain } from '../../node/chain/index.ts'
import type { NodeConfig } from '../../node/config/index.ts'
import type { Genesis } from '../../node/genesis/index.ts'
import { createMempool, createSenderRecovery } from '../../node/mempool/index.ts'
import { DEFAULT_RPC, createEthMethods, createFilterManager, createInProcessRpc } from '../../node/rpc/index.ts'
import type { PoaSnapshot } from '../../consensus/index.ts'
import { privateKeyToAddress } from '../../node/keys/index.ts'
import { BenchError, BenchErrorCode } from './errors.ts'
import { FLOW_BOUNTY, FLOW_ENDPOINT, GAS, flowDataHash, newRecordTxs, registerTx, relationshipAddress, setupSalt } from './workloads/medrec-flows.ts'
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

/** The CREATE2 salt of patient j's relationship with provider p; participants below 0 (the watched one) get theirs above every patient's. */
const saltOf = (j: number, p: number): Hex => setupSalt(TAG, j >= 0 ? j * 8 + p : 2 ** 40 - j * 8 + p)

/** Relationship of patient j with provider p (index into the providers). */
export function scaleRelationship(providerAddr: Hex20, j: number, p: number): Hex20 {
  const patient = bytesToHex(privateKeyToAddress(patientKey(j))) as Hex20
  return relationshipAddress(providerAddr, patient, summaryAddress(patient, identityOf(j)), FLOW_ENDPOINT, saltOf(j, p))
}

export interface OnboardStats {
  blocks: number
  /** The patients' transactions (the watched patient's and her changes are counted apart). */
  transactions: number
  gasUsed: bigint
  watchedTransactions: number
  /** Every transaction's gas, the watched patient's included (how full the blocks were). */
  blockGasUsed: bigint
  /** CPU (user + system) spent in Chain.produce: execution, state commit and the LevelDB batch. */
  produceCpuMs: number
  produceWallMs: number
}

/**
 * The transactions onboarding patient j, in the order they must run. `accept: false` leaves her
 * relationships pending (the watched patient: nothing for her watch to fetch).
 */
function patientTxs(j: number, a: ScaleActors, accept = true): Array<{ fields: TxFields; key: Uint8Array }> {
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
    const salt: Hex = saltOf(j, p)
    const rel = relationshipAddress(provider, patient, summary, FLOW_ENDPOINT, salt)
    rels.push(rel)
    for (const fields of newRecordTxs(patient, FLOW_ENDPOINT, salt, flowDataHash(salt), rel)) out.push({ fields, key: pk })
  })
  if (accept) for (const rel of rels) out.push({ fields: { to: hexToBytes(summary), data: hexToBytes(encodeCall(summaryAbi, 'accept', [rel])), gasLimit: GAS.accept }, key })
  return out
}

/**
 * The patient the watch service follows (`--patients` counts the others): onboarded first, her
 * two relationships left pending, and every WATCH_CHANGE_EVERY-th block of a run carries one
 * change for her (her first provider updates pointer 0), so a block either concerns her or not.
 */
export const WATCHED = -1
export const WATCH_CHANGE_EVERY = 10
const UPDATE_POINTER_GAS = 400_000n

function watchedChange(a: ScaleActors, k: number): { fields: TxFields; key: Uint8Array } {
  const rel = scaleRelationship(bytesToHex(privateKeyToAddress(a.providers[0]!)) as Hex20, WATCHED, 0)
  const data = encodeCall(patientProviderRelationshipAbi, 'updatePointer', [0n, keccak256(toHex(`watched-update-${k}`)), FLOW_BOUNTY.json])
  return { fields: { to: hexToBytes(rel), data: hexToBytes(data), gasLimit: UPDATE_POINTER_GAS }, key: a.providers[0]! }
}

/** What `onBlock` learns of each block sealed. */
export interface SealedBlock {
  number: bigint
  /** Whether the block carries a change for the watched patient. */
  watchedChange: boolean
}

/**
 * Onboards patients [from, to) into `chain` (the watched patient first when `from` is 0), in
 * blocks filled up to the gas limit (by the transactions' gas limits, as the builder counts them);
 * one sealer after another, each block `period` seconds after its parent and never ahead of the
 * clock (a network at that period could go no faster; peers refuse blocks from the future).
 * `onBlock` runs after each block is committed (the watch's turn).
 */
export async function onboardPatients(chain: Chain, chainId: bigint, period: number, epoch: bigint, a: ScaleActors, from: number, to: number, onBlock?: (b: SealedBlock) => Promise<void>): Promise<OnboardStats> {
  if (chain.consensus.algorithm !== 'poa') throw new BenchError(BenchErrorCode.BAD_WORKLOAD, 'the scale chain is sealed under PoA: use a PoA genesis')
  const common = createChainCommon({ chainId, period, epoch })
  const nonces = new Map<Uint8Array, bigint>()
  const nonceOf = async (key: Uint8Array): Promise<bigint> => {
    const n = nonces.get(key) ?? (await chain.headAccount(new Address(privateKeyToAddress(key)))).nonce
    nonces.set(key, n + 1n)
    return n
  }
  const stats: OnboardStats = { blocks: 0, transactions: 0, gasUsed: 0n, watchedTransactions: 0, blockGasUsed: 0n, produceCpuMs: 0, produceWallMs: 0 }
  const gasLimit = chain.head.block.header.gasLimit
  let txs: SenderTx[] = []
  /** Per transaction of `txs`: the watched patient's (kept out of the per-patient figures). */
  let watched: boolean[] = []
  let reserved = 0n
  let sealed = 0
  const sign = async (s: { fields: TxFields; key: Uint8Array }, forWatched: boolean) => {
    const tx = createFeeMarket1559Tx({ ...FEES, ...s.fields, nonce: await nonceOf(s.key), chainId }, { common }).sign(s.key)
    txs.push({ tx, sender: new Address(privateKeyToAddress(s.key)) })
    watched.push(forWatched)
    reserved += s.fields.gasLimit
  }
  const seal = async () => {
    if (txs.length === 0) return
    const change = (sealed + 1) % WATCH_CHANGE_EVERY === 0
    if (change) await sign(watchedChange(a, Number(chain.head.block.header.number)), true)
    const number = chain.head.block.header.number + 1n
    const at = Number(chain.head.block.header.timestamp + BigInt(period)) * 1000
    if (at > Date.now()) await new Promise((r) => setTimeout(r, at - Date.now()))
    // The in-turn signer when it may seal, else one that may (after the live set-up blocks, the recent signers need not be in turn).
    const plans = (chain.snapshot as PoaSnapshot).signers.map((w) => ({ w, plan: chain.consensus.sealPlan(new Address(hexToBytes(w as Hex)), chain.head.block.header, chain.snapshot, Date.now()) }))
    const who = (plans.find((x) => x.plan.canSeal && x.plan.inTurn) ?? plans.find((x) => x.plan.canSeal))?.w
    if (who === undefined) throw new BenchError(BenchErrorCode.BAD_WORKLOAD, `scale chain: no authority may seal block ${number}`)
    const src = Object.assign(txs[Symbol.iterator](), { skipSender() {} })
    const cpu0 = process.cpuUsage()
    const t0 = performance.now()
    const bundle = await chain.produce({ signer: { address: hexToBytes(who as Hex), privateKey: a.signerKeys.get(who.toLowerCase())! }, source: src, deadline: Date.now() + 600_000, now: Date.now() })
    const cpu = process.cpuUsage(cpu0)
    stats.produceWallMs += performance.now() - t0
    stats.produceCpuMs += (cpu.user + cpu.system) / 1000
    if (bundle.block.transactions.length !== txs.length) throw new BenchError(BenchErrorCode.BAD_WORKLOAD, `scale chain: block ${number} took ${bundle.block.transactions.length} of ${txs.length} transactions`)
    const failed = bundle.receipts.findIndex((r) => r.status !== 1)
    if (failed >= 0) throw new BenchError(BenchErrorCode.BAD_WORKLOAD, `scale chain: transaction ${failed} of block ${number} (${bytesToHex(bundle.block.transactions[failed]!.hash())}) reverted: the onboarding steps or their order are wrong`)
    stats.blocks += 1
    bundle.receipts.forEach((r, i) => {
      if (watched[i] === true) stats.watchedTransactions += 1
      else {
        stats.transactions += 1
        stats.gasUsed += r.gasUsed
      }
    })
    stats.blockGasUsed += bundle.receipts.reduce((n, r) => n + r.gasUsed, 0n)
    txs = []
    watched = []
    reserved = 0n
    sealed += 1
    await onBlock?.({ number, watchedChange: change })
  }
  const patients = from === 0 ? [WATCHED, ...Array.from({ length: to }, (_, j) => j)] : Array.from({ length: to - from }, (_, i) => from + i)
  for (const j of patients) {
    const steps = patientTxs(j, a, j !== WATCHED)
    const need = steps.reduce((n, s) => n + s.fields.gasLimit, 0n)
    // A patient's steps stay in one block: her accepts need her funding and her relationships
    // (room is kept for the watched patient's change).
    if (reserved + need + UPDATE_POINTER_GAS > gasLimit) await seal()
    for (const s of steps) await sign(s, j === WATCHED)
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

/**
 * The node's own JSON-RPC methods (eth_*, with eth_call on the main thread as the gatekeeper's
 * in-process transport has it) over an open Chain, as a client transport: the watch service and
 * the contract client read the in-process chain exactly as they read a node. `close` stops the
 * pool's recovery.
 */
export function chainRpc(chain: Chain, genesis: Genesis): { rpc: Rpc; close(): Promise<void> } {
  const recovery = createSenderRecovery({ workers: 0 })
  const mempool = createMempool({}, { common: chain.common, recovery, getAccount: (a) => chain.headAccount(a) })
  const config: NodeConfig = { datadir: '', genesis, rpc: { ...DEFAULT_RPC, port: 0, callWorkers: 0 }, authority: undefined, logLevel: 'warn', dev: false, p2p: undefined, gatekeeper: undefined }
  const eth = createEthMethods({ chain, mempool, filters: undefined as never, config })
  eth.setFilters(createFilterManager({ getLogs: eth.getLogs, headNumber: () => chain.head.block.header.number }))
  return { rpc: createInProcessRpc({ ...eth.table, ...eth.inProcess }), close: () => recovery.close() }
}
