import type { Common } from '@ethereumjs/common'
import { createDecodeCommon, createExecCommon, type ChainFork } from '../../evm/index.ts'
import { checkStateless, decodeFields, txFromFields, type StatelessContext, type TxFields } from './admission.ts'
import { MempoolError, MempoolErrorCode } from './errors.ts'
import { ITEM_BYTES, PUBKEY_BYTES, packInto, recoverBatch } from './signature.ts'

// A raw transaction's admission up to its sender, off the main thread: the recovery workers
// decode it, run the checks that need no state (admission.ts, in geth's order) and recover the
// sender, and the pool receives the decoded fields and the key. The pool then builds the
// transaction from the fields (no second RLP decode) and runs only its state and pool checks.

/** What a worker needs to admit a raw transaction: the chain, and the pool's stateless limits as of its arrival. */
export interface IntakeContext extends StatelessContext {
  chainId: bigint
  fork: ChainFork
  allowUnprotected: boolean
}

export interface IntakeItem {
  raw: Uint8Array
  ctx: IntakeContext
  /** The sender's key when the pool knows it already (a re-added transaction): no recovery. */
  pubkey?: Uint8Array
}

export type IntakeResult =
  | (TxFields & { ok: true; pubkey: Uint8Array })
  | { ok: false; code: MempoolErrorCode; message: string; context?: Record<string, unknown> }

/** Decode Commons by chain and fork: a worker serves one chain, built once. */
const commons = new Map<string, { common: Common; txCommon: Common }>()

function commonsFor(ctx: IntakeContext): { common: Common; txCommon: Common } {
  const id = `${ctx.chainId}:${ctx.fork}`
  let c = commons.get(id)
  if (c === undefined) {
    const common = createExecCommon(ctx.chainId, ctx.fork)
    c = { common, txCommon: createDecodeCommon(common) }
    commons.set(id, c)
  }
  return c
}

function refusal(err: unknown): IntakeResult {
  if (err instanceof MempoolError) return { ok: false, code: err.code, message: err.message, context: err.context }
  return { ok: false, code: MempoolErrorCode.MALFORMED, message: `invalid transaction: ${err instanceof Error ? err.message : String(err)}` }
}

const badSignature = (): IntakeResult => ({ ok: false, code: MempoolErrorCode.BAD_SIGNATURE, message: 'invalid sender: invalid signature' })

/** Admits a batch: per item its fields and sender key, or the refusal admission.ts gives it. */
export function admitBatch(items: readonly IntakeItem[]): IntakeResult[] {
  const out: IntakeResult[] = []
  const packed = new Uint8Array(items.length * ITEM_BYTES)
  const toRecover: number[] = []
  for (const item of items) {
    try {
      const { common, txCommon } = commonsFor(item.ctx)
      const f = decodeFields(item.raw, { common, txCommon, allowUnprotected: item.ctx.allowUnprotected })
      // The hash is not needed here (the pool hashes the bytes it got): an empty placeholder.
      const tx = txFromFields(f, item.raw, txCommon, new Uint8Array(32))
      if (!tx.isSigned()) {
        out.push(badSignature())
        continue
      }
      checkStateless(tx, item.ctx)
      if (item.pubkey !== undefined) {
        out.push({ ok: true, type: f.type, fields: f.fields, pubkey: item.pubkey })
        continue
      }
      let ok: boolean
      try {
        ok = packInto(packed, toRecover.length * ITEM_BYTES, tx)
      } catch {
        ok = false
      }
      if (!ok) {
        out.push(badSignature())
        continue
      }
      toRecover.push(out.length)
      out.push({ ok: true, type: f.type, fields: f.fields, pubkey: new Uint8Array() })
    } catch (err) {
      out.push(refusal(err))
    }
  }
  if (toRecover.length === 0) return out
  const { pubkeys, ok } = recoverBatch(packed.subarray(0, toRecover.length * ITEM_BYTES))
  for (const [i, at] of toRecover.entries()) {
    const r = out[at]
    if (r === undefined || !r.ok) continue
    if (ok[i] === 1) r.pubkey = pubkeys.slice(i * PUBKEY_BYTES, (i + 1) * PUBKEY_BYTES)
    else out[at] = badSignature()
  }
  return out
}
