import type { Address } from '@ethereumjs/util'
import { ConsensusError, ConsensusErrorCode } from '../errors.ts'

/** A signer's vote, carried by a block it sealed (coinbase = target, nonce = direction). */
export interface PoaVote {
  signer: string
  block: bigint
  address: string
  authorize: boolean
}

/** Running count of the votes for one target; a target has one direction at a time. */
export interface PoaTally {
  authorize: boolean
  votes: number
}

/**
 * The authorisation state at a block (EIP-225 "snapshot"): the sorted signer list, who sealed
 * the most recent blocks, and the open votes. Immutable: `applyHeader` returns a new one.
 */
export interface PoaSnapshot {
  number: bigint
  hash: Uint8Array
  /** Lowercase 0x addresses, sorted ascending (the in-turn order). */
  signers: string[]
  /** Block number → signer, for the last floor(N/2)+1 blocks. */
  recents: Map<bigint, string>
  /** Open votes in the order they were cast. */
  votes: PoaVote[]
  tally: Map<string, PoaTally>
}

/** What a header contributes to the snapshot; the engine recovers `signer` from the seal. */
export interface SnapshotInput {
  number: bigint
  hash: Uint8Array
  signer: string
  /** Vote target (coinbase, lowercase 0x); the zero address when the block votes for nobody. */
  coinbase: string
  authorize: boolean
  checkpoint: boolean
}

export function createSnapshot(number: bigint, hash: Uint8Array, signers: string[]): PoaSnapshot {
  return { number, hash, signers: [...new Set(signers)].sort(), recents: new Map(), votes: [], tally: new Map() }
}

/** A signer may seal at most one of any floor(N/2)+1 consecutive blocks. */
export function signerLimit(snap: PoaSnapshot): bigint {
  return BigInt(Math.floor(snap.signers.length / 2) + 1)
}

/** In turn: the signer at index number mod N of the sorted list. */
export function isInTurn(snap: PoaSnapshot, number: bigint, signer: Address | string): boolean {
  const s = typeof signer === 'string' ? signer : signer.toString()
  const i = snap.signers.indexOf(s)
  return i >= 0 && BigInt(i) === number % BigInt(snap.signers.length)
}

/** The signer sealed one of the last floor(N/2) blocks, so may not seal block `number`. */
export function signedRecently(snap: PoaSnapshot, number: bigint, signer: string): boolean {
  const limit = signerLimit(snap)
  for (const [n, s] of snap.recents) {
    if (s === signer && number < limit + n) return true
  }
  return false
}

/** A vote that would change something: add a non-signer, or drop a signer. */
export function isValidVote(snap: PoaSnapshot, address: string, authorize: boolean): boolean {
  return snap.signers.includes(address) !== authorize
}

function cast(tally: Map<string, PoaTally>, signers: string[], address: string, authorize: boolean): boolean {
  if (signers.includes(address) === authorize) return false
  const t = tally.get(address)
  if (t === undefined) {
    tally.set(address, { authorize, votes: 1 })
    return true
  }
  // One direction per target at a time: a vote the other way is not counted.
  if (t.authorize !== authorize) return false
  tally.set(address, { authorize, votes: t.votes + 1 })
  return true
}

function uncast(tally: Map<string, PoaTally>, address: string, authorize: boolean): void {
  const t = tally.get(address)
  if (t === undefined || t.authorize !== authorize) return
  if (t.votes > 1) tally.set(address, { authorize, votes: t.votes - 1 })
  else tally.delete(address)
}

function dropOldestRecent(recents: Map<bigint, string>, signerCount: number, number: bigint): void {
  const limit = BigInt(Math.floor(signerCount / 2) + 1)
  if (number >= limit) recents.delete(number - limit)
}

/**
 * The snapshot after one more block (EIP-225): checkpoints reset the votes; the signer must be
 * authorised and not among the recent sealers; its earlier vote on the same target is replaced;
 * a target with more than N/2 votes changes status (strictly more than half: exactly half is not
 * enough), a dropped signer's own open votes are discarded, and nothing cascades.
 */
export function applyToSnapshot(snap: PoaSnapshot, h: SnapshotInput): PoaSnapshot {
  if (h.number !== snap.number + 1n) {
    throw new ConsensusError(ConsensusErrorCode.UNKNOWN_ANCESTOR, `block ${h.number} does not follow snapshot ${snap.number}`, { number: h.number })
  }
  let signers = snap.signers
  const recents = new Map(snap.recents)
  let votes = h.checkpoint ? [] : [...snap.votes]
  const tally = h.checkpoint ? new Map<string, PoaTally>() : new Map(snap.tally)

  dropOldestRecent(recents, signers.length, h.number)
  if (!signers.includes(h.signer)) {
    throw new ConsensusError(ConsensusErrorCode.UNAUTHORIZED_SIGNER, `block ${h.number}: unauthorized signer ${h.signer}`, { number: h.number })
  }
  for (const s of recents.values()) {
    if (s === h.signer) throw new ConsensusError(ConsensusErrorCode.RECENTLY_SIGNED, `block ${h.number}: signer ${h.signer} sealed one of the last ${signerLimit(snap) - 1n} blocks`, { number: h.number })
  }
  recents.set(h.number, h.signer)

  // A signer's new vote on a target replaces its previous one.
  votes = votes.filter((v) => {
    if (v.signer !== h.signer || v.address !== h.coinbase) return true
    uncast(tally, v.address, v.authorize)
    return false
  })
  if (cast(tally, signers, h.coinbase, h.authorize)) votes.push({ signer: h.signer, block: h.number, address: h.coinbase, authorize: h.authorize })

  const t = tally.get(h.coinbase)
  if (t !== undefined && t.votes > signers.length / 2) {
    if (t.authorize) {
      signers = [...signers, h.coinbase].sort()
    } else {
      signers = signers.filter((s) => s !== h.coinbase)
      // One signer fewer: the recent-sealer window shrinks with it.
      dropOldestRecent(recents, signers.length, h.number)
      votes = votes.filter((v) => {
        if (v.signer !== h.coinbase) return true
        uncast(tally, v.address, v.authorize)
        return false
      })
    }
    votes = votes.filter((v) => v.address !== h.coinbase)
    tally.delete(h.coinbase)
  }
  return { number: h.number, hash: h.hash, signers, recents, votes, tally }
}

// ---- storage (not hashed, so JSON is fine) ----

interface SnapshotJson {
  number: string
  hash: string
  signers: string[]
  recents: Array<[string, string]>
  votes: Array<{ signer: string; block: string; address: string; authorize: boolean }>
  tally: Array<[string, PoaTally]>
}

const toHex = (b: Uint8Array): string => `0x${Buffer.from(b).toString('hex')}`

export function encodeSnapshot(s: PoaSnapshot): Uint8Array {
  const json: SnapshotJson = {
    number: s.number.toString(),
    hash: toHex(s.hash),
    signers: s.signers,
    recents: [...s.recents].map(([n, a]) => [n.toString(), a]),
    votes: s.votes.map((v) => ({ ...v, block: v.block.toString() })),
    tally: [...s.tally],
  }
  return new TextEncoder().encode(JSON.stringify(json))
}

export function decodeSnapshot(bytes: Uint8Array): PoaSnapshot {
  const j = JSON.parse(new TextDecoder().decode(bytes)) as SnapshotJson
  return {
    number: BigInt(j.number),
    hash: new Uint8Array(Buffer.from(j.hash.slice(2), 'hex')),
    signers: j.signers,
    recents: new Map(j.recents.map(([n, a]) => [BigInt(n), a])),
    votes: j.votes.map((v) => ({ ...v, block: BigInt(v.block) })),
    tally: new Map(j.tally),
  }
}
