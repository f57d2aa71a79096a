/**
 * The wire of `/medrec/txs/1`, transaction exchange in the manner of eth/68: each chain peer
 * keeps one long-lived stream to each other peer and writes length-prefixed msgpack frames on
 * it, so a message costs one yamux frame and never a stream negotiation.
 *
 *   gossip    { k: 'g', txs: bin[], h: bin, t: bin, s: uint[] }
 *             `txs` transactions pushed in full; `h` the announced hashes (32 bytes each,
 *             concatenated), `t` their types (one byte each), `s` their sizes in bytes
 *   get       { k: 'q', id: uint, h: bin }   the hashes asked for (32 bytes each, concatenated)
 *   pooled    { k: 'p', id: uint, txs: bin[] } the answer to `get` `id`: those of the asked
 *             transactions the peer holds, in any order, a subset (missing ones are left out)
 *
 * Every count and size is bounded here, so a frame that passes `decodeTxFrame` is safe to act
 * on; what it claims (that the hashes exist, that a body matches) is checked by the fetcher.
 */
import { P2PError } from './errors.ts'
import { pack, unpackOne } from './wire.ts'

/** Most hashes announced in one frame (geth's maxTxAnnounces per packet). */
export const MAX_ANNOUNCE = 4096
/** Most transactions pushed in one gossip frame. */
export const MAX_PUSH = 1024
/** Most hashes asked for in one request (geth's maxTxRetrievals). */
export const MAX_GET = 256
/** A request is filled up to this many announced bytes (geth's maxTxRetrievalSize); a server answers at most that plus one transaction. */
export const GET_BYTES = 128 * 1024

export interface Announced {
  hash: Uint8Array
  type: number
  size: number
}

export type TxFrame =
  | { kind: 'gossip'; txs: Uint8Array[]; announced: Announced[] }
  | { kind: 'get'; id: number; hashes: Uint8Array[] }
  | { kind: 'pooled'; id: number; txs: Uint8Array[] }

/** A transaction's type as eth/68 announces it: the typed envelope's first byte, 0 for legacy RLP. */
export function txType(tx: Uint8Array): number {
  return tx.length > 0 && tx[0]! < 0x80 ? tx[0]! : 0
}

function concat(hashes: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(hashes.length * 32)
  hashes.forEach((h, i) => out.set(h, i * 32))
  return out
}

function split(h: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = []
  for (let i = 0; i < h.length; i += 32) out.push(h.subarray(i, i + 32))
  return out
}

export function encodeTxFrame(f: TxFrame): Uint8Array {
  switch (f.kind) {
    case 'gossip':
      return pack({ k: 'g', txs: f.txs, h: concat(f.announced.map((a) => a.hash)), t: Uint8Array.from(f.announced.map((a) => a.type)), s: f.announced.map((a) => a.size) })
    case 'get':
      return pack({ k: 'q', id: f.id, h: concat(f.hashes) })
    case 'pooled':
      return pack({ k: 'p', id: f.id, txs: f.txs })
  }
}

function bad(message: string): never {
  throw new P2PError('P2P_INVALID_MESSAGE', `transaction frame: ${message}`)
}

function byteStrings(v: unknown, max: number, maxTxBytes: number, field: string): Uint8Array[] {
  if (!Array.isArray(v) || v.length > max) bad(`${field}: expected at most ${max} byte strings`)
  for (const [i, x] of v.entries()) {
    if (!(x instanceof Uint8Array) || x.length === 0) bad(`${field}[${i}]: not a non-empty byte string`)
    if (x.length > maxTxBytes) throw new P2PError('P2P_OVERSIZED', `transaction frame: ${field}[${i}]: ${x.length} bytes > ${maxTxBytes}`)
  }
  return v as Uint8Array[]
}

function hashList(v: unknown, max: number, field: string): Uint8Array[] {
  if (!(v instanceof Uint8Array) || v.length % 32 !== 0 || v.length > max * 32) bad(`${field}: expected at most ${max} 32-byte hashes`)
  return split(v)
}

function requestId(v: unknown): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) bad('id: not a non-negative integer')
  return v
}

/** One frame, checked against every bound; throws P2PError INVALID_MESSAGE. */
export function decodeTxFrame(frame: Uint8Array, maxTxBytes: number): TxFrame {
  let v: unknown
  try {
    v = unpackOne(frame)
  } catch (err) {
    throw new P2PError('P2P_INVALID_MESSAGE', 'transaction frame: undecodable', undefined, err)
  }
  const proto = typeof v === 'object' && v !== null ? Object.getPrototypeOf(v) : undefined
  if (proto !== Object.prototype && proto !== null) bad('not a map')
  const o = v as Record<string, unknown>
  if (o.k === 'g') {
    const txs = byteStrings(o.txs, MAX_PUSH, maxTxBytes, 'txs')
    const hashes = hashList(o.h, MAX_ANNOUNCE, 'h')
    const types = o.t
    const sizes = o.s
    if (!(types instanceof Uint8Array) || types.length !== hashes.length) bad('t: expected one type byte per hash')
    if (!Array.isArray(sizes) || sizes.length !== hashes.length) bad('s: expected one size per hash')
    const announced = hashes.map((hash, i): Announced => {
      const size: unknown = sizes[i]
      if (typeof size !== 'number' || !Number.isInteger(size) || size < 1 || size > maxTxBytes) bad(`s[${i}]: not a size from 1 to ${maxTxBytes}`)
      return { hash, type: types[i]!, size }
    })
    if (txs.length === 0 && announced.length === 0) bad('empty gossip')
    return { kind: 'gossip', txs, announced }
  }
  if (o.k === 'q') {
    const id = requestId(o.id)
    const hashes = hashList(o.h, MAX_GET, 'h')
    if (hashes.length === 0) bad('h: empty request')
    return { kind: 'get', id, hashes }
  }
  if (o.k === 'p') return { kind: 'pooled', id: requestId(o.id), txs: byteStrings(o.txs, MAX_GET, maxTxBytes, 'txs') }
  return bad(`unknown kind ${JSON.stringify(typeof o.k === 'string' ? o.k.slice(0, 16) : typeof o.k)}`)
}

/** Transaction bytes a sender puts in one gossip frame (a larger backlog goes in several). */
export const PUSH_FRAME_BYTES = 256 * 1024

/**
 * Largest frame a peer may send: a full push (PUSH_FRAME_BYTES and one more transaction) beside
 * a full announcement (MAX_ANNOUNCE × at most 32 + 1 + 9 bytes), or an answer (GET_BYTES and one
 * more transaction), and msgpack's framing of each item.
 */
export function txFrameLimit(maxTxBytes: number): number {
  return Math.max(GET_BYTES, PUSH_FRAME_BYTES) + maxTxBytes + MAX_ANNOUNCE * 42 + MAX_PUSH * 5 + 1024
}
