import { RLP } from '@ethereumjs/rlp'
import { SyncError, SyncErrorCode } from './errors.ts'

// /medrec/state/1: trie nodes and contract code by hash, for state sync. A request is a run of
// 33-byte items (a kind byte, then the hash); the answer is an RLP list of byte strings, one per
// item in order, empty for what the server lacks, possibly cut short when the byte budget is
// spent (the caller asks again for the rest). Nothing in an answer is trusted: each value is
// checked against the hash it was asked for (keccak(value) == hash) before it is stored.

export const STATE_PROTOCOL = '/medrec/state/1'
/**
 * Items per request: a client sizes its requests by bytes (about MAX_STATE_RESPONSE_BYTES of
 * values at the sizes it has seen), so this only bounds a request (135 kB). Servers before it
 * took 384 and say so in their refusal; the client then asks them for 384.
 */
export const MAX_STATE_ITEMS = 4096
/** Bytes of values per answer: a server stops adding items once past this (geth's snap answers up to 512 kB). */
export const MAX_STATE_RESPONSE_BYTES = 1024 * 1024
/** The frame limit over that budget: one item may be the one that crosses it (code is at most 24 KiB... or more under a fork without EIP-170, so a generous margin). */
export const STATE_FRAME_BYTES = MAX_STATE_RESPONSE_BYTES + 256 * 1024
/** The largest request: MAX_STATE_ITEMS items. */
export const STATE_REQUEST_BYTES = MAX_STATE_ITEMS * 33
const ITEM = 33

export const StateItemKind = { NODE: 0, CODE: 1 } as const
export type StateItemKind = (typeof StateItemKind)[keyof typeof StateItemKind]

export interface StateItem {
  kind: StateItemKind
  hash: Uint8Array
}

export function encodeStateRequest(items: StateItem[]): Uint8Array {
  const out = new Uint8Array(items.length * ITEM)
  items.forEach((it, i) => {
    out[i * ITEM] = it.kind
    out.set(it.hash, i * ITEM + 1)
  })
  return out
}

export function decodeStateRequest(bytes: Uint8Array): StateItem[] {
  if (bytes.length === 0 || bytes.length % ITEM !== 0) throw new SyncError(SyncErrorCode.BAD_STATE_REQUEST, `a state request is a run of ${ITEM}-byte items, not ${bytes.length} bytes`)
  const n = bytes.length / ITEM
  if (n > MAX_STATE_ITEMS) throw new SyncError(SyncErrorCode.BAD_STATE_REQUEST, `a state request asks for at most ${MAX_STATE_ITEMS} items, not ${n}`)
  const items: StateItem[] = []
  for (let i = 0; i < n; i++) {
    const kind = bytes[i * ITEM]!
    if (kind !== StateItemKind.NODE && kind !== StateItemKind.CODE) throw new SyncError(SyncErrorCode.BAD_STATE_REQUEST, `unknown state item kind ${kind}`)
    items.push({ kind, hash: bytes.subarray(i * ITEM + 1, (i + 1) * ITEM) })
  }
  return items
}

export function encodeStateResponse(values: Uint8Array[]): Uint8Array {
  return RLP.encode(values)
}

/** The answer's values; throws on anything but a list of at most `asked` byte strings. */
export function decodeStateResponse(bytes: Uint8Array, asked: number): Uint8Array[] {
  const list = RLP.decode(bytes)
  if (!Array.isArray(list) || list.length > asked || !list.every((v) => v instanceof Uint8Array)) {
    throw new SyncError(SyncErrorCode.BAD_STATE_RESPONSE, `a state answer is a list of at most ${asked} byte strings`)
  }
  return list as Uint8Array[]
}
