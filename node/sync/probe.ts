import { createBlockHeaderFromRLP, type BlockHeader } from '@ethereumjs/block'
import { bytesToHex, equalsBytes } from '@ethereumjs/util'
import { errorMessage } from '../../common/index.ts'
import { ConsensusErrorCode, isConsensusError } from '../../consensus/index.ts'
import { isP2PError, P2PErrorCode, type P2P, type PeerIdStr, type Status } from '../../p2p/index.ts'
import type { Chain } from '../chain/index.ts'
import { isSyncError, SyncError, SyncErrorCode } from './errors.ts'

// A peer's status is only a claim. Before the sync slot goes to a peer, it must back that claim
// with headers: the header at its claimed head (with that hash), and the headers from the block
// it shares with us onwards, verified under the consensus rules against our own stored chain
// (linkage, seal, difficulty, signer set). What it proved is what eth_syncing may report.

/** Headers asked for per probe request (the p2p server caps ranges at 128). */
export const PROBE_RANGE = 64
/** A probe request is a few headers from disk: an honest peer answers in milliseconds. */
export const PROBE_TIMEOUT_MS = 4000

/** What a peer proved about its status. */
export interface VerifiedTarget {
  /** The status that was checked. */
  status: Status
  /**
   * The highest block its headers back: its claimed head when the head header was delivered and
   * (where the engine has an authority set) sealed by an authority we know, else `rangeEnd`.
   */
  highest: bigint
  /** The claimed head itself is backed (see `highest`); peers that proved it are preferred. */
  headProven: boolean
  /** First block to fetch: the verified range starts here and its parent is stored. */
  from: bigint
  /** Last block of the verified range: blocks up to here the peer must serve. */
  rangeEnd: bigint
}

export type ProbeOutcome =
  | { kind: 'verified'; target: VerifiedTarget }
  /** Its head is a block we hold already. */
  | { kind: 'held' }
  /** Nothing held against the peer, nothing to sync now (its head moved back, it left, it is rate limiting us, our clock). */
  | { kind: 'later'; reason: string }
  /** A request timed out: the peer may only be busy, so it is tried again later (network.ts counts these in a row). */
  | { kind: 'slow'; reason: string }
  /** It could not back its claim or sent headers that do not verify: ban it. */
  | { kind: 'false'; reason: string }

const lie = (reason: string) => new SyncError(SyncErrorCode.FALSE_STATUS, `the peer could not back its status: ${reason}`)
const later = (reason: string) => new SyncError(SyncErrorCode.NOT_NOW, `the peer status cannot be checked now: ${reason}`)
const slow = (reason: string) => new SyncError(SyncErrorCode.SLOW_PEER, `the peer did not answer in time: ${reason}`)
/** A probe's stop as its outcome. */
const outcomeOf = (err: SyncError): ProbeOutcome => {
  if (err.code === SyncErrorCode.FALSE_STATUS) return { kind: 'false', reason: err.message }
  if (err.code === SyncErrorCode.SLOW_PEER) return { kind: 'slow', reason: err.message }
  return { kind: 'later', reason: err.message }
}

export interface ProbeDeps {
  chain: Chain
  p2p: P2P
  timeoutMs?: number
  /** Every header a peer delivered, when it arrived (Date.now()): evidence for the clock monitor, before any check. */
  seen?: (header: BlockHeader, from: PeerIdStr, arrivedMs: number) => void
}

/**
 * Checks `status` as `peer` claimed it: resolves with what the peer proved, or why not.
 * A status that changes while it is checked is re-read once (an honest peer's head moves).
 */
export async function probePeer(deps: ProbeDeps, peer: PeerIdStr, status: Status): Promise<ProbeOutcome> {
  let claim = status
  for (let attempt = 0; ; attempt++) {
    try {
      return await probeOnce(deps, peer, claim)
    } catch (err) {
      if (!isSyncError(err)) throw err
      const outcome = outcomeOf(err)
      if (outcome.kind !== 'false' || attempt > 0) return outcome
      // Its head may have moved (a new block, a reorg) between its status and our request:
      // ask again, and judge the status it gives now.
      let fresh: Status
      try {
        fresh = await deps.p2p.requestStatus(peer)
      } catch (e) {
        return isP2PError(e, P2PErrorCode.TIMEOUT) ? outcome : { kind: 'later', reason: errorMessage(e) }
      }
      if (fresh.head.number === claim.head.number && equalsBytes(fresh.head.hash, claim.head.hash)) return outcome
      if (fresh.totalDifficulty < deps.chain.head.totalDifficulty) return { kind: 'later', reason: 'its head is no longer heavier than ours' }
      claim = fresh
    }
  }
}

async function probeOnce(deps: ProbeDeps, peer: PeerIdStr, claim: Status): Promise<ProbeOutcome> {
  const { chain } = deps
  if (await chain.store.hasBlock(claim.head.hash)) return { kind: 'held' }
  const n = claim.head.number
  if (n < 1n) throw lie(`it claims a head heavier than ours at block ${n}`)
  const [head] = await fetchHeaders(deps, peer, n, 1)
  if (head === undefined) throw lie(`it does not serve its claimed head ${n}`)
  if (head.number !== n || !equalsBytes(head.hash(), claim.head.hash)) throw lie(`its header at ${n} is ${bytesToHex(head.hash())}, not its claimed head ${bytesToHex(claim.head.hash)}`)
  const range = await verifiedRange(deps, peer, n)
  const sealed = range.end === n || sealedByKnownAuthority(chain, head)
  return { kind: 'verified', target: { status: claim, highest: sealed ? n : range.end, headProven: sealed, from: range.from, rangeEnd: range.end } }
}

/**
 * The peer's headers from the block it shares with us on, up to `PROBE_RANGE` of them, verified
 * under the consensus rules (our head's successor first; a different branch is walked back,
 * doubling the step, to a block we store; block 1 must link to the genesis both checked).
 */
async function verifiedRange(deps: ProbeDeps, peer: PeerIdStr, target: bigint): Promise<{ from: bigint; end: bigint }> {
  const { chain } = deps
  const ourNext = chain.head.block.header.number + 1n
  let from = ourNext < target ? ourNext : target
  let back = BigInt(PROBE_RANGE)
  for (;;) {
    const left = target - from + 1n
    const headers = await fetchHeaders(deps, peer, from, Number(left < BigInt(PROBE_RANGE) ? left : BigInt(PROBE_RANGE)))
    if (headers.length === 0) throw lie(`it does not serve headers from ${from} below its claimed head ${target}`)
    linked(headers, from)
    const parent = await chain.store.bundle(headers[0]!.parentHash)
    if (parent === undefined) {
      if (from <= 1n) throw lie('its block 1 does not link to our genesis')
      from = from > back ? from - back : 1n
      back *= 2n
      continue
    }
    let prev = parent.block.header
    let snap = await chain.snapshotAt(headers[0]!.parentHash)
    if (snap === undefined) throw later('the shared block was pruned meanwhile')
    for (const h of headers) {
      try {
        chain.consensus.verifyHeader(h, prev, snap, Date.now())
      } catch (err) {
        // A future-dated header says as much about our clock as about the peer.
        if (isConsensusError(err, ConsensusErrorCode.FUTURE_BLOCK)) throw later(errorMessage(err))
        throw lie(`header ${h.number} does not verify: ${errorMessage(err)}`)
      }
      snap = chain.consensus.apply(snap, h)
      prev = h
    }
    return { from, end: prev.number }
  }
}

/** The headers follow each other from `from`: numbers in a row, each the parent of the next. */
function linked(headers: BlockHeader[], from: bigint): void {
  headers.forEach((h, i) => {
    if (h.number !== from + BigInt(i)) throw lie(`asked for headers from ${from}, got ${h.number} at position ${i}`)
    if (i > 0 && !equalsBytes(h.parentHash, headers[i - 1]!.hash())) throw lie(`header ${h.number} does not link to header ${h.number - 1n}`)
  })
}

/**
 * Under an engine with an authority set (PoA), the claimed head must be sealed by an authority
 * of our head's set. Not a proof (the set may have changed since our head), so a head that fails
 * it is not held against the peer: it is only not reported nor preferred.
 */
function sealedByKnownAuthority(chain: Chain, head: BlockHeader): boolean {
  const authorities = chain.consensus.authorities(chain.snapshot)
  if (authorities === undefined) return true
  try {
    return authorities.includes(chain.consensus.author(head).toString())
  } catch {
    return false
  }
}

/**
 * Headers by range, decoded; what the peer fails to deliver becomes a SyncError. A timeout is
 * `slow`, not a lie: a busy peer on a loaded machine misses 4 s now and then, so the probe is
 * tried again later (after a back-off) and only probes timing out in a row end in a ban.
 */
async function fetchHeaders(deps: ProbeDeps, peer: PeerIdStr, from: bigint, count: number): Promise<BlockHeader[]> {
  let raw: Uint8Array[]
  try {
    raw = await deps.p2p.requestHeaders(peer, from, count, { timeoutMs: deps.timeoutMs ?? PROBE_TIMEOUT_MS })
  } catch (err) {
    if (isP2PError(err, P2PErrorCode.TIMEOUT)) throw slow(`headers from ${from}: ${errorMessage(err)}`)
    if (isP2PError(err, P2PErrorCode.NOT_CONNECTED) || isP2PError(err, P2PErrorCode.STOPPED)) throw later(errorMessage(err))
    if (isP2PError(err, P2PErrorCode.REMOTE_ERROR) && err.context?.remoteCode === 'RATE_LIMITED') throw later(errorMessage(err))
    throw lie(`headers from ${from}: ${errorMessage(err)}`)
  }
  const arrived = Date.now()
  let headers: BlockHeader[]
  try {
    headers = raw.map((b) => createBlockHeaderFromRLP(b, { common: deps.chain.store.decodeCommon, setHardfork: false }))
  } catch (err) {
    throw lie(`undecodable header from ${from}: ${errorMessage(err)}`)
  }
  for (const h of headers) deps.seen?.(h, peer, arrived)
  return headers
}
