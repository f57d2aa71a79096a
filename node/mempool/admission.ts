import type { Common } from '@ethereumjs/common'
import { RLP } from '@ethereumjs/rlp'
import {
  Capability,
  create1559FeeMarketTxFromBytesArray,
  createAccessList2930TxFromBytesArray,
  createEOACode7702TxFromBytesArray,
  createLegacyTxFromBytesArray,
  type TypedTransaction,
} from '@ethereumjs/tx'
import { bytesToBigInt } from '@ethereumjs/util'
import { keccak256 } from '../../common/keccak.ts'
import { commonFork, txTypeRefusal } from '../../evm/index.ts'
import { SECP256K1_HALF_N } from '../../common/secp256k1.ts'
import { MempoolError, MempoolErrorCode } from './errors.ts'

// Admission before any state is read: decoding a raw transaction and the checks that need no
// state, in geth's order and with geth's messages. The pool (mempool.ts) runs them before the
// costly sender recovery, then its own checks against the account and the pool.

/** EIP-3860: 2 * the EIP-170 code size limit (the Common used here carries no tx params). */
const MAX_INITCODE_SIZE = 49_152
/** EIP-7825's cap on one transaction's gas, from Osaka. */
const MAX_TX_GAS = 1n << 24n
/** RLP field counts of signed legacy, EIP-2930, EIP-1559 and EIP-7702 transactions. */
const FIELDS: Record<number, number> = { 0: 9, 1: 11, 2: 12, 4: 13 }

/** What decoding reads: the chain's Common (chain id, EIPs), the Common transactions decode with, the EIP-155 policy. */
export interface DecodeContext {
  common: Common
  txCommon: Common
  allowUnprotected: boolean
}

/** What the stateless checks read: the head's gas limit and next base fee (unknown before the first head) and the tip floor. */
export interface StatelessContext {
  blockGasLimit: bigint | undefined
  /** `--txpool.pricelimit`: the lowest tip cap (gas price of a legacy transaction) admitted. */
  minGasPrice: bigint
  /** The next block's base fee. */
  baseFee?: bigint
}

/**
 * The EIP-1559 base fee falls by floor(baseFee / 8) per empty block at most, which is 0 from 7
 * wei down: a base fee of 7 or more never goes below 7, and one below 7 never falls at all.
 */
export const BASE_FEE_FLOOR = 7n

/** The lowest base fee the chain can ever reach from a next base fee of `baseFee`. */
export function lowestReachableBaseFee(baseFee: bigint): bigint {
  return baseFee < BASE_FEE_FLOOR ? baseFee : BASE_FEE_FLOOR
}

export function reject(code: MempoolErrorCode, message: string, context?: Record<string, unknown>): never {
  throw new MempoolError(code, message, context)
}

/** A transaction's fee cap and tip cap (both the gas price for legacy and EIP-2930). */
export function fees(tx: TypedTransaction): { feeCap: bigint; tipCap: bigint } {
  if (tx.supports(Capability.EIP1559FeeMarket)) {
    const t = tx as TypedTransaction & { maxFeePerGas: bigint; maxPriorityFeePerGas: bigint }
    return { feeCap: t.maxFeePerGas, tipCap: t.maxPriorityFeePerGas }
  }
  const price = (tx as TypedTransaction & { gasPrice: bigint }).gasPrice
  return { feeCap: price, tipCap: price }
}

/** ethereumjs appends "(tx type=… hash=… …)" to its messages; the client already has that. */
function detail(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).replace(/\s*\(tx type=.*$/s, '').replace(/^invalid transaction:\s*/, '')
}

/** A raw transaction's RLP fields (nested lists for access lists and authorizations) and its type. */
export interface TxFields {
  type: number
  fields: unknown[]
}

/**
 * The transaction from its decoded fields: what ethereumjs's createTxFromRLP does after its
 * RLP decode, so a transaction decoded once (in a recovery worker) is not decoded again. The
 * hash is of `raw`, the bytes the fields came from (see decodeRaw).
 */
export function txFromFields(f: TxFields, raw: Uint8Array, txCommon: Common, hash: Uint8Array = keccak256(raw)): TypedTransaction {
  let tx: TypedTransaction
  const values = f.fields as never
  try {
    const opts = { common: txCommon }
    if (f.type === 0) tx = createLegacyTxFromBytesArray(values, opts)
    else if (f.type === 1) tx = createAccessList2930TxFromBytesArray(values, opts)
    else if (f.type === 2) tx = create1559FeeMarketTxFromBytesArray(values, opts)
    else tx = createEOACode7702TxFromBytesArray(values, opts)
  } catch (err) {
    reject(MempoolErrorCode.MALFORMED, `invalid transaction: rlp: ${detail(err)}`)
  }
  // The hash is keccak of the encoding, and only canonical encodings get here (minimal RLP, no
  // leading zeros: ethereumjs's checks and the chain id's in decodeFields), which re-serialize
  // to `raw` itself: hash it as it came instead of re-encoding. The frozen transaction caches it.
  tx.cache.hash = hash
  return tx
}

/** Decodes a raw transaction, classifying failures the way geth reports them. */
export function decodeRaw(raw: Uint8Array, ctx: DecodeContext): TypedTransaction {
  const f = decodeFields(raw, ctx)
  const tx = txFromFields(f, raw, ctx.txCommon)
  // ethereumjs reads an empty r, s or v as "no signature".
  if (!tx.isSigned()) reject(MempoolErrorCode.BAD_SIGNATURE, 'invalid sender: invalid signature')
  return tx
}

/** The checks of decodeRaw that read the RLP fields (all but ethereumjs's own), in geth's order. */
export function decodeFields(raw: Uint8Array, ctx: DecodeContext): TxFields {
  if (raw.length === 0) reject(MempoolErrorCode.MALFORMED, 'invalid transaction: rlp: empty input')
  const first = raw[0]!
  // EIP-2718: a first byte below 0x80 is a type; a legacy transaction is an RLP list (>= 0xc0).
  if (first >= 0x80 && first < 0xc0) reject(MempoolErrorCode.MALFORMED, 'invalid transaction: rlp: expected input list for a legacy transaction')
  const type = first >= 0xc0 ? 0 : first
  // Blob transactions never, set-code ones from Prague (evm/forks.ts says why, for import too).
  const refused = first >= 0xc0 ? undefined : txTypeRefusal(type, commonFork(ctx.common))
  const count = FIELDS[type]
  if (refused !== undefined || count === undefined) reject(MempoolErrorCode.MALFORMED, `invalid transaction: ${refused ?? `transaction type not supported: type ${type}`}`)
  let fields: unknown
  try {
    fields = RLP.decode(type === 0 ? raw : raw.subarray(1))
  } catch (err) {
    reject(MempoolErrorCode.MALFORMED, `invalid transaction: rlp: ${detail(err)}`)
  }
  if (!Array.isArray(fields) || fields.length !== count) {
    reject(MempoolErrorCode.MALFORMED, `invalid transaction: rlp: expected ${count} fields for a type ${type} transaction, got ${Array.isArray(fields) ? fields.length : 'a string'}`)
  }
  const f = fields as Array<Uint8Array | unknown[]>
  const int = (i: number): bigint => {
    const v = f[i]
    if (!(v instanceof Uint8Array)) reject(MempoolErrorCode.MALFORMED, `invalid transaction: rlp: field ${i} must be a byte string`)
    return bytesToBigInt(v)
  }
  const want = ctx.common.chainId()
  if (type === 0) {
    const v = int(6)
    if (v === 27n || v === 28n) {
      if (!ctx.allowUnprotected) reject(MempoolErrorCode.WRONG_CHAIN_ID, 'only replay-protected (EIP-155) transactions allowed over RPC')
    } else if (v >= 35n) {
      const have = (v - 35n) / 2n
      if (have !== want) reject(MempoolErrorCode.WRONG_CHAIN_ID, `invalid chain id for signer: have ${have} want ${want}`)
    } else {
      reject(MempoolErrorCode.BAD_SIGNATURE, 'invalid sender: invalid signature')
    }
  } else {
    // ethereumjs takes a chain id with leading zeros (its other integers it refuses): the hash
    // below is of the bytes as they came, so they must be the canonical encoding (geth: rlp).
    if (f[0] instanceof Uint8Array && f[0][0] === 0) reject(MempoolErrorCode.MALFORMED, 'invalid transaction: rlp: non-canonical integer (leading zero bytes) for chain id')
    const have = int(0)
    if (have !== want) reject(MempoolErrorCode.WRONG_CHAIN_ID, `invalid chain id for signer: have ${have} want ${want}`)
    if (int(count - 3) > 1n) reject(MempoolErrorCode.BAD_SIGNATURE, 'invalid sender: invalid signature')
    if ((type === 2 || type === 4) && int(2) > int(3)) reject(MempoolErrorCode.UNDERPRICED, 'max priority fee per gas higher than max fee per gas')
  }
  if (int(count - 1) > SECP256K1_HALF_N) reject(MempoolErrorCode.BAD_SIGNATURE, 'invalid sender: invalid signature')
  // EIP-3860 initcode limit, checked here because ethereumjs refuses to construct such a tx.
  const toField = f[type === 0 ? 3 : type === 1 ? 4 : 5]
  const data = f[type === 0 ? 5 : type === 1 ? 6 : 7]
  if (toField instanceof Uint8Array && toField.length === 0 && data instanceof Uint8Array && ctx.common.isActivatedEIP(3860)) {
    const limit = MAX_INITCODE_SIZE
    if (data.length > limit) reject(MempoolErrorCode.OVERSIZED, `max initcode size exceeded: code size ${data.length}, limit ${limit}`)
  }
  // EIP-7825 (Osaka): ethereumjs refuses to construct such a transaction; geth's words.
  const gas = int(type === 0 ? 2 : type === 1 ? 3 : 4)
  if (ctx.common.isActivatedEIP(7825) && gas > MAX_TX_GAS) reject(MempoolErrorCode.GAS_LIMIT_EXCEEDED, `transaction gas limit too high (cap: ${MAX_TX_GAS}, tx: ${gas})`)
  return { type, fields: f }
}

/** Checks that need no state, in geth's order, before the (costly) sender recovery. */
export function checkStateless(tx: TypedTransaction, ctx: StatelessContext): void {
  if (ctx.blockGasLimit !== undefined && tx.gasLimit > ctx.blockGasLimit) {
    reject(MempoolErrorCode.GAS_LIMIT_EXCEEDED, 'exceeds block gas limit', { gas: tx.gasLimit, blockGasLimit: ctx.blockGasLimit })
  }
  const { tipCap } = fees(tx)
  if (tipCap < ctx.minGasPrice) {
    reject(MempoolErrorCode.UNDERPRICED, `transaction underpriced: gas tip cap ${tipCap}, minimum needed ${ctx.minGasPrice}`)
  }
  // Below the current base fee is admitted (as geth: it waits for the base fee to fall), but a
  // fee cap below any base fee the chain can reach would hold the sender's next nonces forever.
  const { feeCap } = fees(tx)
  const floor = ctx.baseFee === undefined ? undefined : lowestReachableBaseFee(ctx.baseFee)
  if (floor !== undefined && feeCap < floor) {
    reject(MempoolErrorCode.UNDERPRICED, `max fee per gas less than block base fee: maxFeePerGas: ${feeCap}, baseFee: ${ctx.baseFee}; the base fee never falls below ${floor}, so this transaction could never be mined: set maxFeePerGas to at least ${ctx.baseFee} (eth_gasPrice suggests a price)`, { feeCap, baseFee: ctx.baseFee })
  }
  const intrinsic = tx.getIntrinsicGas()
  if (tx.gasLimit < intrinsic) reject(MempoolErrorCode.INTRINSIC_GAS, `intrinsic gas too low: gas ${tx.gasLimit}, minimum needed ${intrinsic}`)
}
