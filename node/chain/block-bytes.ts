import { createBlockHeaderFromBytesArray, type BlockHeader } from '@ethereumjs/block'
import type { Common } from '@ethereumjs/common'
import { RLP } from '@ethereumjs/rlp'
import { equalsBytes } from '@ethereumjs/util'
import { keccak256 } from '../../common/keccak.ts'

/**
 * A block as it arrived (gossip), read only as far as the checks before relaying need: the
 * header, and each transaction's encoding as the transactions trie holds it. Decoding the
 * transactions into objects (tens of milliseconds for a thousand at a loaded node) waits for the
 * import, after the relay.
 */
export interface BlockBytes {
  readonly bytes: Uint8Array
  readonly header: BlockHeader
  /** keccak of the header's encoding, checked equal to the decoded header's own hash. */
  readonly hash: Uint8Array
  /** Each transaction's canonical encoding: a legacy one's RLP list, a typed one's type ‖ payload. */
  readonly transactions: readonly Uint8Array[]
  readonly uncles: number
}

/** One RLP item inside `buf`: the whole item is [start, end), its payload [payload, end). */
interface Item {
  start: number
  payload: number
  end: number
  list: boolean
}

const fail = (msg: string): never => {
  throw new Error(`invalid block encoding: ${msg}`)
}

/** Reads the item at `at`, refusing what ethereumjs's decoder refuses (non-canonical lengths). */
function item(buf: Uint8Array, at: number, limit: number): Item {
  if (at >= limit) fail('truncated')
  const p = buf[at]!
  if (p < 0x80) return { start: at, payload: at, end: at + 1, list: false }
  const list = p >= 0xc0
  const short = p - (list ? 0xc0 : 0x80)
  let len: number
  let payload: number
  if (short <= 55) {
    len = short
    payload = at + 1
    if (!list && len === 1 && payload < limit && buf[payload]! < 0x80) fail('a single byte below 0x80 is its own encoding')
  } else {
    const lenOfLen = short - 55
    if (at + 1 + lenOfLen > limit) fail('truncated length')
    if (buf[at + 1] === 0) fail('length with leading zeros')
    len = 0
    for (let i = 0; i < lenOfLen; i++) len = len * 256 + buf[at + 1 + i]!
    if (len <= 55) fail('long form for a short item')
    payload = at + 1 + lenOfLen
  }
  const end = payload + len
  if (end > limit) fail('item runs past its list')
  return { start: at, payload, end, list }
}

/** The items of the list `l`. */
function children(buf: Uint8Array, l: Item): Item[] {
  if (!l.list) fail('expected a list')
  const out: Item[] = []
  for (let at = l.payload; at < l.end; ) {
    const it = item(buf, at, l.end)
    out.push(it)
    at = it.end
  }
  return out
}

/**
 * Splits a block's RLP [header, transactions, uncles] without decoding the transactions, and
 * decodes the header with `common`. Throws on malformed RLP, a header ethereumjs refuses, or a
 * header whose encoding is not the canonical one of its fields (its hash would differ from the
 * hash it is announced and sealed under).
 */
export function parseBlockBytes(bytes: Uint8Array, common: Common): BlockBytes {
  const top = item(bytes, 0, bytes.length)
  if (top.end !== bytes.length) fail('bytes after the block')
  const parts = children(bytes, top)
  if (parts.length !== 3) fail(`${parts.length} parts, expected header, transactions and uncles`)
  const [h, txs, uncles] = parts as [Item, Item, Item]
  if (!h.list) fail('the header is not a list')
  const headerBytes = bytes.subarray(h.start, h.end)
  const header = createBlockHeaderFromBytesArray(RLP.decode(headerBytes) as Uint8Array[], { common, setHardfork: false })
  const hash = keccak256(headerBytes)
  if (!equalsBytes(hash, header.hash())) fail('header is not canonically encoded')
  // A typed transaction is an RLP string holding type ‖ payload; the trie keeps those bytes.
  const transactions = children(bytes, txs).map((t) => bytes.subarray(t.list ? t.start : t.payload, t.end))
  return { bytes, header, hash, transactions, uncles: children(bytes, uncles).length }
}
