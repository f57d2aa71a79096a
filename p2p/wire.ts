/**
 * Wire formats: protocol ids, topic names and the msgpackr envelopes of the request/response
 * protocols. Each request and each response is one length-prefixed (unsigned varint) frame.
 * msgpackr output is not canonical: nothing here is ever hashed.
 *
 *   status request      StatusWire
 *   status response     { ok: true, status: StatusWire }
 *   by-range request    { from: uint, count: number }
 *   by-range response   { ok: true, items: bin[] }
 *   app request         the caller's bytes as they are (p2p does not read them)
 *   app response        { ok: true, data: bin }
 *   peers request       {} (an empty map; fields a later version adds are ignored)
 *   peers response      { ok: true, peers: [{ id: string, addrs: string[] }] }: at most
 *                       MAX_EXCHANGED_PEERS entries of distinct peer ids, each with 1 to
 *                       MAX_ADDRS_PER_PEER multiaddrs ending in /p2p/<that id>
 *   any error response  { ok: false, code: string, message: string }
 *
 * Unsigned integers that may exceed 2^53 (chain id, block number, total difficulty) travel as
 * minimal big-endian byte strings (no leading zero byte; zero is the empty string), as in RLP.
 */
import { Packr } from 'msgpackr'
import { errorMessage } from '../common/errors.ts'
import { P2PError } from './errors.ts'
import { parsePeerAddr } from './dialer.ts'
import type { PeerIdStr, Status } from './types.ts'

export const PROTOCOLS = {
  status: '/medrec/status/1',
  blocksByRange: '/medrec/blocks-by-range/1',
  headersByRange: '/medrec/headers-by-range/1',
  /** Peer exchange: a chain peer's other chain peers and their listen addresses. */
  peers: '/medrec/peers/1',
} as const
export type ProtocolName = keyof typeof PROTOCOLS

/** Topic names; the transaction topic carries batches (p2p/tx-batch.ts) since version 2. */
export function topicNames(chainId: bigint): { tx: string; block: string } {
  return { tx: `/medrec/${chainId}/txs/2`, block: `/medrec/${chainId}/block/1` }
}

/** Error codes a server may answer with. */
export const RemoteErrorCode = {
  BAD_REQUEST: 'BAD_REQUEST',
  /** An app protocol handler threw; the message is the error's message. */
  HANDLER_ERROR: 'HANDLER_ERROR',
  /** Peer exchange is served only to chain peers (status handshake done, same chain). */
  NOT_CHAIN_PEER: 'NOT_CHAIN_PEER',
  RATE_LIMITED: 'RATE_LIMITED',
  SERVER_ERROR: 'SERVER_ERROR',
  WRONG_CHAIN: 'WRONG_CHAIN',
} as const
export type RemoteErrorCode = (typeof RemoteErrorCode)[keyof typeof RemoteErrorCode]

const packr = new Packr({ useRecords: false, moreTypes: false, mapsAsObjects: true, bundleStrings: false })

function bad(message: string): never {
  throw new P2PError('P2P_INVALID_RESPONSE', message)
}

export function uintToBytes(v: bigint): Uint8Array {
  if (v < 0n) throw new RangeError('negative')
  if (v === 0n) return new Uint8Array(0)
  let hex = v.toString(16)
  if (hex.length % 2) hex = '0' + hex
  return Uint8Array.from(Buffer.from(hex, 'hex'))
}

export function bytesToUint(b: unknown, field: string, maxBytes = 32): bigint {
  if (!(b instanceof Uint8Array)) bad(`${field}: not bytes`)
  if (b.length > maxBytes) bad(`${field}: longer than ${maxBytes} bytes`)
  if (b.length === 0) return 0n
  if (b[0] === 0) bad(`${field}: leading zero`)
  return BigInt('0x' + Buffer.from(b).toString('hex'))
}

function hash32(b: unknown, field: string): Uint8Array {
  if (!(b instanceof Uint8Array) || b.length !== 32) bad(`${field}: not 32 bytes`)
  return Uint8Array.from(b)
}

function record(v: unknown, what: string): Record<string, unknown> {
  // A plain object only: msgpackr decodes some bytes (0xc1, extensions) to class instances.
  const proto = typeof v === 'object' && v !== null ? Object.getPrototypeOf(v) : undefined
  if (proto !== Object.prototype && proto !== null) bad(`${what}: not a map`)
  return v as Record<string, unknown>
}

/** Exactly one msgpack value; anything else (garbage, trailing bytes) is an error. */
export function unpackOne(frame: Uint8Array): unknown {
  let values: unknown[]
  try {
    values = packr.unpackMultiple(frame) as unknown[]
  } catch (err) {
    throw new P2PError('P2P_INVALID_RESPONSE', 'undecodable frame', undefined, err)
  }
  if (values.length !== 1) bad(`expected one msgpack value, got ${values.length}`)
  return values[0]
}

export function pack(value: unknown): Uint8Array {
  return packr.pack(value)
}

function statusToWire(s: Status): Record<string, Uint8Array> {
  return {
    chainId: uintToBytes(s.chainId),
    genesisHash: s.genesisHash,
    headNumber: uintToBytes(s.head.number),
    headHash: s.head.hash,
    totalDifficulty: uintToBytes(s.totalDifficulty),
  }
}

function statusFromWire(v: unknown): Status {
  const o = record(v, 'status')
  return {
    chainId: bytesToUint(o.chainId, 'chainId', 8),
    genesisHash: hash32(o.genesisHash, 'genesisHash'),
    head: { number: bytesToUint(o.headNumber, 'headNumber', 8), hash: hash32(o.headHash, 'headHash') },
    totalDifficulty: bytesToUint(o.totalDifficulty, 'totalDifficulty', 32),
  }
}

export function encodeStatusRequest(s: Status): Uint8Array {
  return pack(statusToWire(s))
}
export function decodeStatusRequest(frame: Uint8Array): Status {
  return statusFromWire(unpackOne(frame))
}
export function encodeStatusResponse(s: Status): Uint8Array {
  return pack({ ok: true, status: statusToWire(s) })
}

export interface RangeRequest {
  from: bigint
  count: number
}
export function encodeRangeRequest(r: RangeRequest): Uint8Array {
  return pack({ from: uintToBytes(r.from), count: r.count })
}
export function decodeRangeRequest(frame: Uint8Array): RangeRequest {
  const o = record(unpackOne(frame), 'range request')
  const from = bytesToUint(o.from, 'from', 8)
  const count = o.count
  if (typeof count !== 'number' || !Number.isSafeInteger(count) || count < 1) bad('count: not a positive integer')
  return { from, count }
}
export function encodeItemsResponse(items: readonly Uint8Array[]): Uint8Array {
  return pack({ ok: true, items })
}

export function encodeAppResponse(data: Uint8Array): Uint8Array {
  return pack({ ok: true, data })
}

export function decodeAppResponse(frame: Uint8Array): Response<Uint8Array> {
  const r = decodeResponse(frame)
  if (!r.ok) return r
  const data = r.body.data
  if (!(data instanceof Uint8Array)) bad('data: not bytes')
  return { ok: true, value: data }
}

export function encodeErrorResponse(code: RemoteErrorCode, message: string): Uint8Array {
  return pack({ ok: false, code, message: message.slice(0, 256) })
}

export type Response<T> = { ok: true; value: T } | { ok: false; code: string; message: string }

function decodeResponse(frame: Uint8Array): { ok: true; body: Record<string, unknown> } | { ok: false; code: string; message: string } {
  const o = record(unpackOne(frame), 'response')
  if (o.ok === true) return { ok: true, body: o }
  if (o.ok === false) {
    if (typeof o.code !== 'string' || typeof o.message !== 'string') bad('error response without code/message')
    return { ok: false, code: o.code.slice(0, 64), message: o.message.slice(0, 256) }
  }
  return bad('response without ok')
}

export function decodeStatusResponse(frame: Uint8Array): Response<Status> {
  const r = decodeResponse(frame)
  return r.ok ? { ok: true, value: statusFromWire(r.body.status) } : r
}

/** Items of a by-range response: at most `maxCount`, each a byte string of at most `maxItemBytes`. */
export function decodeItemsResponse(frame: Uint8Array, maxCount: number, maxItemBytes: number): Response<Uint8Array[]> {
  const r = decodeResponse(frame)
  if (!r.ok) return r
  const items = r.body.items
  if (!Array.isArray(items)) bad('items: not an array')
  if (items.length > maxCount) bad(`items: ${items.length} > requested ${maxCount}`)
  for (const [i, item] of items.entries()) {
    if (!(item instanceof Uint8Array)) bad(`items[${i}]: not bytes`)
    if (item.length === 0) bad(`items[${i}]: empty`)
    if (item.length > maxItemBytes) bad(`items[${i}]: ${item.length} bytes > ${maxItemBytes}`)
  }
  return { ok: true, value: items as Uint8Array[] }
}

/** Most peers in one peer-exchange response. */
export const MAX_EXCHANGED_PEERS = 16
/** Most addresses of one peer in a peer-exchange response. */
export const MAX_ADDRS_PER_PEER = 4
/** Largest peers response frame we read (16 peers of 4 addresses of 256 characters fit). */
export const PEERS_MAX_RESPONSE_BYTES = 32 * 1024
/** Longest address string accepted in a peer-exchange response (a TCP multiaddr with a peer id is ~100). */
const MAX_ADDR_CHARS = 256

/** One peer of a peer-exchange response: its id and multiaddrs that end in `/p2p/<id>`. */
export interface ExchangedPeer {
  id: PeerIdStr
  addrs: string[]
}

export function encodePeersRequest(): Uint8Array {
  return pack({})
}

/** A peers request is a map (empty today); anything else is refused as a bad request. */
export function decodePeersRequest(frame: Uint8Array): void {
  record(unpackOne(frame), 'peers request')
}

export function encodePeersResponse(peers: readonly ExchangedPeer[]): Uint8Array {
  return pack({ ok: true, peers: peers.map((p) => ({ id: p.id, addrs: p.addrs })) })
}

/**
 * A peers response, checked whole: one bad entry (a peer id that does not parse, an address
 * that is not a multiaddr or names another peer, too many of anything, a repeated id) makes the
 * whole response invalid, so a peer cannot slip a bad address among good ones.
 */
export function decodePeersResponse(frame: Uint8Array): Response<ExchangedPeer[]> {
  const r = decodeResponse(frame)
  if (!r.ok) return r
  const peers = r.body.peers
  if (!Array.isArray(peers)) bad('peers: not an array')
  if (peers.length > MAX_EXCHANGED_PEERS) bad(`peers: ${peers.length} > ${MAX_EXCHANGED_PEERS}`)
  const seen = new Set<PeerIdStr>()
  const out: ExchangedPeer[] = []
  for (const [i, entry] of peers.entries()) {
    const o = record(entry, `peers[${i}]`)
    if (typeof o.id !== 'string' || o.id.length > MAX_ADDR_CHARS) bad(`peers[${i}].id: not a string`)
    const addrs = o.addrs
    if (!Array.isArray(addrs) || addrs.length === 0 || addrs.length > MAX_ADDRS_PER_PEER) bad(`peers[${i}].addrs: not 1 to ${MAX_ADDRS_PER_PEER} addresses`)
    let id: PeerIdStr | undefined
    for (const [j, a] of addrs.entries()) {
      if (typeof a !== 'string' || a.length > MAX_ADDR_CHARS) bad(`peers[${i}].addrs[${j}]: not a short string`)
      let peer: PeerIdStr
      try {
        peer = parsePeerAddr(a).peer
      } catch (err) {
        throw new P2PError('P2P_INVALID_RESPONSE', `peers[${i}].addrs[${j}]: ${errorMessage(err)}`, undefined, err)
      }
      // The id as parsed (canonical form) must be the entry's id as written.
      if (peer !== o.id) bad(`peers[${i}].addrs[${j}]: names peer ${peer}, not ${o.id}`)
      id = peer
    }
    if (id === undefined || seen.has(id)) bad(`peers[${i}]: repeated peer ${String(o.id)}`)
    seen.add(id)
    out.push({ id, addrs: addrs as string[] })
  }
  return { ok: true, value: out }
}
