import { createFeeMarket1559Tx, createLegacyTx, createAccessList2930Tx, type TypedTransaction } from '@ethereumjs/tx'
import { Address, hexToBytes } from '@ethereumjs/util'
import { secp256k1 } from '@noble/curves/secp256k1.js'
import { keccak_256 } from '@noble/hashes/sha3.js'
import type { Common } from '@ethereumjs/common'
import { predeployAlloc } from '../../contracts/index.ts'
import type { Genesis } from '../../node/genesis/types.ts'
import type { SenderTx, TxSource } from '../../evm/index.ts'
import type { Chain } from '../../node/chain/index.ts'
import type { PoaSnapshot } from '../../consensus/index.ts'

/** The first keys of the standard development mnemonic ("test test ... junk"). */
export const DEV_KEYS = [
  '0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80',
  '0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d',
  '0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a',
  '0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6',
].map((h) => hexToBytes(h as `0x${string}`))

export function addressOf(pk: Uint8Array): Uint8Array {
  return keccak_256(secp256k1.getPublicKey(pk, false).subarray(1)).subarray(12)
}

/** A small PoA genesis: DEV_KEYS[0] seals (or `authorities`), all DEV_KEYS funded; optionally the system contracts. */
export function testGenesis(opts: { period?: number; epoch?: bigint; authorities?: Uint8Array[]; predeploys?: boolean; hardfork?: Genesis['hardfork'] } = {}): Genesis {
  const authorities = opts.authorities ?? [addressOf(DEV_KEYS[0]!)]
  const alloc = new Map<string, Genesis['alloc'] extends Map<string, infer A> ? A : never>(
    DEV_KEYS.map((k) => ['0x' + Buffer.from(addressOf(k)).toString('hex'), { balance: 10n ** 24n, nonce: 0n, code: undefined, storage: [] as Array<[Uint8Array, Uint8Array]> }]),
  )
  if (opts.predeploys === true) {
    for (const [addr, p] of predeployAlloc(authorities)) alloc.set(addr, { balance: 0n, nonce: 1n, code: p.code, storage: p.storage })
  }
  return {
    chainId: 1337n,
    consensus: 'poa',
    poa: { period: opts.period ?? 0, epoch: opts.epoch ?? 30000n },
    hardfork: opts.hardfork ?? 'shanghai',
    gasLimit: 30_000_000n,
    baseFeePerGas: 1_000_000_000n,
    timestamp: 0n,
    difficulty: 1n,
    vanity: new Uint8Array(32),
    authorities,
    alloc,
  }
}

export function source(items: SenderTx[]): TxSource {
  const skipped = new Set<string>()
  return Object.assign(
    (function* () {
      for (const it of items) if (!skipped.has(it.sender.toString())) yield it
    })(),
    { skipSender: (a: Address) => void skipped.add(a.toString()) },
  )
}

/**
 * Init code of a contract whose runtime, on any call, adds CALLVALUE+1 to slot 0, stores
 * CALLER at slot 1 and emits LOG1(topic = slot 0 value) of 32 bytes of calldata.
 */
export const COUNTER_INITCODE = (() => {
  // runtime: PUSH1 0 SLOAD CALLVALUE ADD PUSH1 1 ADD DUP1 PUSH1 0 SSTORE CALLER PUSH1 1 SSTORE
  //          PUSH1 32 PUSH1 0 PUSH1 0 CALLDATACOPY  (calldata[0..32] -> mem[0..32])
  //          PUSH1 32 PUSH1 0 LOG1 STOP            (topic = new counter value, left on stack)
  const runtime = '600054340160010180600055336001556020600060003760206000a100'
  const len = runtime.length / 2
  // PUSH1 len DUP1 PUSH1 <offset> PUSH1 0 CODECOPY PUSH1 0 RETURN
  const prefix = `60${len.toString(16).padStart(2, '0')}80600b6000396000f3`
  return hexToBytes(`0x${prefix}${runtime}`)
})()

export interface TxFactory {
  next(kind: 'transfer' | 'deploy' | 'call', to?: Uint8Array): SenderTx
}

/** Signs transactions of all three types from DEV_KEYS in turn, tracking nonces. */
export function txFactory(common: Common): TxFactory {
  const nonces = DEV_KEYS.map(() => 0n)
  let turn = 0
  return {
    next(kind, to) {
      const k = turn++ % DEV_KEYS.length
      const pk = DEV_KEYS[k]!
      const nonce = nonces[k]!++
      const base = { nonce, gasLimit: 200_000n, value: BigInt(k + 1), chainId: 1337n }
      const data = kind === 'deploy' ? COUNTER_INITCODE : kind === 'call' ? keccak_256(new Uint8Array([k, Number(nonce & 0xffn)])) : new Uint8Array()
      const dest = kind === 'deploy' ? undefined : kind === 'call' ? to : addressOf(DEV_KEYS[(k + 1) % DEV_KEYS.length]!)
      let tx: TypedTransaction
      if (k % 3 === 0) tx = createFeeMarket1559Tx({ ...base, to: dest, data, maxFeePerGas: 10_000_000_000n, maxPriorityFeePerGas: 2n }, { common }).sign(pk)
      else if (k % 3 === 1) tx = createAccessList2930Tx({ ...base, to: dest, data, gasPrice: 10_000_000_000n, accessList: [] }, { common }).sign(pk)
      else tx = createLegacyTx({ ...base, to: dest, data, gasPrice: 10_000_000_000n }, { common }).sign(pk)
      return { tx, sender: new Address(addressOf(pk)) }
    },
  }
}

/** The poa section of a genesis the test knows to be proof of authority. */
export function poaOf(g: Genesis): { period: number; epoch: bigint } {
  if (g.consensus !== 'poa') throw new Error(`expected a poa genesis, got ${g.consensus}`)
  return g.poa
}

/** The head's clique snapshot of a chain the test knows to be proof of authority. */
export function poaSnap(chain: Chain): PoaSnapshot {
  if (chain.consensus.algorithm !== 'poa') throw new Error(`expected a poa chain, got ${chain.consensus.algorithm}`)
  return chain.snapshot as PoaSnapshot
}

/** A small proof-of-work genesis: every DEV_KEY funded, stamped `timestamp` (seconds). */
export function powTestGenesis(opts: { difficulty?: bigint; targetBlockTime?: number; blockReward?: bigint; timestamp?: bigint } = {}): Genesis {
  const { poa: _poa, consensus: _c, ...base } = testGenesis({ authorities: [] }) as Extract<Genesis, { consensus: 'poa' }>
  return {
    ...base,
    consensus: 'pow',
    pow: { targetBlockTime: opts.targetBlockTime ?? 2, blockReward: opts.blockReward ?? 2n * 10n ** 18n, minimumDifficulty: 16n },
    difficulty: opts.difficulty ?? 256n,
    timestamp: opts.timestamp ?? 0n,
  }
}
