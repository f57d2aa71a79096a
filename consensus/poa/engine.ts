import type { BlockHeader } from '@ethereumjs/block'
import { Address, KECCAK256_RLP_ARRAY, equalsBytes } from '@ethereumjs/util'
import { secp256k1 } from '@noble/curves/secp256k1.js'
import { ConsensusError, ConsensusErrorCode } from '../errors.ts'
import type { Consensus, HeadCandidate, PreparedHeader, Proposal, SealPlan, Sealer, SealerKey, Snapshot, Voting } from '../types.ts'
import { EXTRA_SEAL, EXTRA_VANITY, addressOfPublicKey, recoverSigner, sealHash, signSeal } from './seal.ts'
import { applyToSnapshot, createSnapshot, decodeSnapshot, encodeSnapshot, isInTurn, isValidVote, signedRecently, signerLimit, type PoaSnapshot } from './snapshot.ts'

export interface PoaOptions {
  /** Seconds between blocks; 0 seals as soon as there are transactions. */
  period: number
  /** Blocks between checkpoints, which carry the signer list. */
  epoch: bigint
  /** Seconds a header's timestamp may run ahead of the local clock (clock drift); default `futureAllowanceSeconds(period)`. */
  allowedFutureSeconds: number
  /** Per-signer delay unit for out-of-turn sealing (geth: 500 ms). */
  wiggleMs: number
  /** Random source for the wiggle, injectable for tests. */
  random: () => number
}

export const DIFF_IN_TURN = 2n
export const DIFF_NO_TURN = 1n
export const NONCE_DROP = new Uint8Array(8)
export const NONCE_AUTH = new Uint8Array(8).fill(0xff)
const ZERO_HASH = new Uint8Array(32)

/**
 * How far (whole seconds) a header may run ahead of the local clock under PoA: half a period,
 * at least 1 s. Clique in geth allows nothing (verifyHeader: header.Time > now is ErrFutureBlock),
 * but geth's chain (before the merge) parked such blocks and retried them for up to 30 s, so a
 * sealer whose clock is ahead still had its blocks imported, and every honest sealer then waited
 * until that timestamp plus the period before sealing the next: 10 s of skew was a 10 s stall per
 * block of that sealer. Here a block too far ahead is refused (and retried by sync once it is due),
 * so honest sealers carry on from their own head. Half a period bounds the stall one early block
 * can cause to half a slot; 1 s is the floor because timestamps are whole seconds and an in-turn
 * block is sealed the moment its second starts: a sealer a few milliseconds ahead is not at fault.
 */
export function futureAllowanceSeconds(period: number): number {
  return Math.max(1, Math.ceil(period / 2))
}

export const defaultPoaOptions: Omit<PoaOptions, 'period' | 'epoch' | 'allowedFutureSeconds'> = {
  wiggleMs: 500,
  random: Math.random,
}

function hexAddr(bytes: Uint8Array): string {
  return new Address(bytes).toString()
}

/** Signers listed in a checkpoint header's extraData. */
export function checkpointSigners(header: BlockHeader): string[] {
  const extra = header.extraData
  const list = extra.subarray(EXTRA_VANITY, extra.length - EXTRA_SEAL)
  const out: string[] = []
  for (let i = 0; i + 20 <= list.length; i += 20) out.push(hexAddr(list.subarray(i, i + 20)))
  return out
}

/**
 * EIP-225 Clique rules: header checks, the snapshot with signer voting (coinbase + nonce,
 * strict majority, reset at checkpoints), sealing, and the EIP-3436 fork choice.
 */
export class PoaEngine implements Consensus<PoaSnapshot> {
  readonly algorithm = 'poa' as const
  readonly opts: PoaOptions
  readonly voting: Voting

  constructor(opts: Pick<PoaOptions, 'period' | 'epoch'> & Partial<PoaOptions>) {
    this.opts = { ...defaultPoaOptions, allowedFutureSeconds: futureAllowanceSeconds(opts.period), ...opts }
    // The chain hands snapshots over as the engine-neutral Snapshot; under this engine they are PoaSnapshots.
    const poa = (s: Snapshot) => s as PoaSnapshot
    this.voting = {
      pickVote: (snap, number, proposals) => this.pickVote(poa(snap), number, proposals),
      signers: (snap) => poa(snap).signers,
      snapshotJson: (snap) => snapshotJson(poa(snap)),
      inTurn: (header) => header.difficulty === DIFF_IN_TURN,
    }
  }

  get blockTime(): number {
    return this.opts.period
  }

  get commonConsensus(): Record<string, unknown> {
    return { type: 'poa', algorithm: 'clique', clique: { period: this.opts.period, epoch: Number(this.opts.epoch) } }
  }

  encodeSnapshot(snap: PoaSnapshot): Uint8Array {
    return encodeSnapshot(snap)
  }

  decodeSnapshot(bytes: Uint8Array): PoaSnapshot {
    return decodeSnapshot(bytes)
  }

  blockReward(): bigint {
    return 0n
  }

  authorities(snap: PoaSnapshot): string[] {
    return snap.signers
  }

  authoritiesAfter(parentSnap: PoaSnapshot, number: bigint, author: Address, prepared: PreparedHeader): string[] {
    return this.signersAfter(parentSnap, number, author, prepared)
  }

  createSealer(key: SealerKey): Sealer {
    const privateKey = key.privateKey
    if (privateKey === undefined) {
      throw new ConsensusError(ConsensusErrorCode.UNAUTHORIZED_SIGNER, `${key.address.toString()} cannot seal: a proof-of-authority chain seals with an unlocked authority key (--authority ADDRESS --password FILE)`)
    }
    const own = addressOfPublicKey(secp256k1.getPublicKey(privateKey, false))
    if (!own.equals(key.address)) {
      throw new ConsensusError(ConsensusErrorCode.UNAUTHORIZED_SIGNER, `cannot seal for ${key.address.toString()} with the key of ${own.toString()}: under proof of authority the author is the sealing key's account`)
    }
    return {
      author: key.address,
      seal: async (header) => ({ extraData: this.seal(header, privateKey) }),
      hashrate: () => 0,
      close: async () => {},
    }
  }

  isCheckpoint(number: bigint): boolean {
    return number % this.opts.epoch === 0n
  }

  genesisExtraData(vanity: Uint8Array, authorities: Uint8Array[]): Uint8Array {
    return genesisExtraData(vanity, authorities)
  }

  genesisSnapshot(genesis: BlockHeader): PoaSnapshot {
    return createSnapshot(0n, genesis.hash(), checkpointSigners(genesis))
  }

  apply(parentSnap: PoaSnapshot, header: BlockHeader): PoaSnapshot {
    return applyToSnapshot(parentSnap, {
      number: header.number,
      hash: header.hash(),
      signer: this.author(header).toString(),
      coinbase: header.coinbase.toString(),
      authorize: equalsBytes(header.nonce, NONCE_AUTH),
      checkpoint: this.isCheckpoint(header.number),
    })
  }

  /**
   * EIP-3436: is `a` a better head than `b`? Higher total difficulty, then the lower number,
   * then the signer least recently in turn, then the lower hash, so that two equally heavy
   * forks never deadlock the network. Each candidate carries the snapshot at its parent.
   */
  isBetterHead(a: HeadCandidate<PoaSnapshot>, b: HeadCandidate<PoaSnapshot>): boolean {
    if (a.totalDifficulty !== b.totalDifficulty) return a.totalDifficulty > b.totalDifficulty
    const an = a.header.number
    const bn = b.header.number
    if (an !== bn) return an < bn
    const ra = this.turnDistance(a)
    const rb = this.turnDistance(b)
    if (ra !== rb) return ra > rb
    return Buffer.compare(a.header.hash(), b.header.hash()) < 0
  }

  /** (number - signer index) mod N: 0 for an in-turn block, larger for a longer-ago turn. */
  private turnDistance(c: HeadCandidate<PoaSnapshot>): bigint {
    const signers = c.parentSnap.signers
    const i = BigInt(Math.max(0, signers.indexOf(this.author(c.header).toString())))
    const n = BigInt(Math.max(1, signers.length))
    return (((c.header.number - i) % n) + n) % n
  }

  /** The signer list after a block by `signer` that carries `prepared`'s vote (before sealing). */
  signersAfter(parentSnap: PoaSnapshot, number: bigint, signer: Address, prepared: Pick<PreparedHeader, 'coinbase' | 'nonce'>): string[] {
    return applyToSnapshot(parentSnap, {
      number,
      hash: new Uint8Array(32),
      signer: signer.toString(),
      coinbase: prepared.coinbase.toString(),
      authorize: equalsBytes(prepared.nonce, NONCE_AUTH),
      checkpoint: this.isCheckpoint(number),
    }).signers
  }

  /** The vote to carry in the next block: a random proposal that would still change something. */
  pickVote(snap: PoaSnapshot, number: bigint, proposals: readonly Proposal[]): Proposal | undefined {
    if (this.isCheckpoint(number)) return undefined
    const valid = proposals.filter((p) => isValidVote(snap, p.address, p.authorize))
    if (valid.length === 0) return undefined
    return valid[Math.floor(this.opts.random() * valid.length)]
  }

  author(header: BlockHeader): Address {
    return recoverSigner(header)
  }

  verifyHeader(header: BlockHeader, parent: BlockHeader, snap: PoaSnapshot, now: number): void {
    const fail = (code: ConsensusErrorCode, msg: string): never => {
      throw new ConsensusError(code, `block ${header.number}: ${msg}`, { number: header.number })
    }
    if (header.timestamp > BigInt(Math.floor(now / 1000) + this.opts.allowedFutureSeconds)) {
      fail(ConsensusErrorCode.FUTURE_BLOCK, `timestamp ${header.timestamp} is more than ${this.opts.allowedFutureSeconds}s ahead of the local clock; check the system clock`)
    }
    if (header.timestamp < parent.timestamp + BigInt(this.opts.period)) {
      fail(ConsensusErrorCode.INVALID_TIMESTAMP, `timestamp ${header.timestamp} is earlier than parent ${parent.timestamp} + period ${this.opts.period}`)
    }
    const checkpoint = this.isCheckpoint(header.number)
    if (checkpoint && !header.coinbase.isZero()) fail(ConsensusErrorCode.INVALID_CHECKPOINT_BENEFICIARY, 'checkpoint block has a non-zero beneficiary')
    const nonce = header.nonce
    if (!equalsBytes(nonce, NONCE_DROP) && !equalsBytes(nonce, NONCE_AUTH)) fail(ConsensusErrorCode.INVALID_VOTE, 'nonce must be 0x00..00 or 0xff..ff (a vote)')
    if (checkpoint && !equalsBytes(nonce, NONCE_DROP)) fail(ConsensusErrorCode.INVALID_CHECKPOINT_VOTE, 'checkpoint block carries a vote')
    const extra = header.extraData
    if (extra.length < EXTRA_VANITY) fail(ConsensusErrorCode.MISSING_VANITY, 'extra-data 32 byte vanity prefix missing')
    if (extra.length < EXTRA_VANITY + EXTRA_SEAL) fail(ConsensusErrorCode.MISSING_SIGNATURE, 'extra-data 65 byte signature suffix missing')
    const listBytes = extra.length - EXTRA_VANITY - EXTRA_SEAL
    if (!checkpoint && listBytes !== 0) fail(ConsensusErrorCode.EXTRA_SIGNERS, 'non-checkpoint block contains extra signer list')
    if (checkpoint && listBytes % 20 !== 0) fail(ConsensusErrorCode.INVALID_CHECKPOINT_SIGNERS, 'invalid signer list on checkpoint block')
    if (checkpoint && checkpointSigners(header).join() !== snap.signers.join()) {
      fail(ConsensusErrorCode.INVALID_CHECKPOINT_SIGNERS, 'checkpoint signer list differs from the authorised signers')
    }
    if (!equalsBytes(header.mixHash, ZERO_HASH)) fail(ConsensusErrorCode.INVALID_MIX_DIGEST, 'non-zero mix digest')
    if (!equalsBytes(header.uncleHash, KECCAK256_RLP_ARRAY)) fail(ConsensusErrorCode.INVALID_UNCLE_HASH, 'non empty uncle hash')
    if (header.difficulty !== DIFF_IN_TURN && header.difficulty !== DIFF_NO_TURN) fail(ConsensusErrorCode.INVALID_DIFFICULTY, `invalid difficulty ${header.difficulty}`)

    const signer = this.author(header).toString()
    if (!snap.signers.includes(signer)) fail(ConsensusErrorCode.UNAUTHORIZED_SIGNER, `unauthorized signer ${signer}`)
    if (signedRecently(snap, header.number, signer)) fail(ConsensusErrorCode.RECENTLY_SIGNED, `signer ${signer} sealed one of the last ${signerLimit(snap) - 1n} blocks`)
    const want = isInTurn(snap, header.number, signer) ? DIFF_IN_TURN : DIFF_NO_TURN
    if (header.difficulty !== want) fail(ConsensusErrorCode.WRONG_DIFFICULTY, `wrong difficulty ${header.difficulty}, want ${want}`)
  }

  sealPlan(signer: Address, parent: BlockHeader, snap: PoaSnapshot, now: number): SealPlan {
    const s = signer.toString()
    const number = parent.number + 1n
    if (!snap.signers.includes(s)) return { canSeal: false, reason: `${s} is not an authorised signer` }
    if (signedRecently(snap, number, s)) return { canSeal: false, reason: 'signed recently, must wait for others' }
    const inTurn = isInTurn(snap, number, s)
    let delayMs = Math.max(0, Number(parent.timestamp + BigInt(this.opts.period)) * 1000 - now)
    if (!inTurn) delayMs += Math.floor(this.opts.random() * Number(signerLimit(snap)) * this.opts.wiggleMs)
    return { canSeal: true, delayMs, inTurn }
  }

  prepare(signer: Address, parent: BlockHeader, snap: PoaSnapshot, now: number, vote?: Proposal): PreparedHeader {
    const number = parent.number + 1n
    const cast = vote !== undefined && !this.isCheckpoint(number) ? vote : undefined
    const signers = this.isCheckpoint(number) ? snap.signers.map((a) => new Address(Buffer.from(a.slice(2), 'hex')).bytes) : []
    const extraData = new Uint8Array(EXTRA_VANITY + 20 * signers.length + EXTRA_SEAL)
    signers.forEach((a, i) => extraData.set(a, EXTRA_VANITY + 20 * i))
    const earliest = parent.timestamp + BigInt(this.opts.period)
    const clock = BigInt(Math.floor(now / 1000))
    return {
      coinbase: cast === undefined ? new Address(new Uint8Array(20)) : new Address(Buffer.from(cast.address.slice(2), 'hex')),
      nonce: cast?.authorize === true ? NONCE_AUTH : NONCE_DROP,
      mixHash: ZERO_HASH,
      difficulty: isInTurn(snap, number, signer) ? DIFF_IN_TURN : DIFF_NO_TURN,
      extraData,
      timestamp: clock > earliest ? clock : earliest,
    }
  }

  seal(header: BlockHeader, privateKey: Uint8Array): Uint8Array {
    const extra = new Uint8Array(header.extraData)
    extra.set(signSeal(sealHash(header), privateKey), extra.length - EXTRA_SEAL)
    return extra
  }
}

/** geth's snapshot JSON: signers and tally as objects keyed by address, recents by number. */
function snapshotJson(s: PoaSnapshot): unknown {
  return {
    number: Number(s.number),
    hash: `0x${Buffer.from(s.hash).toString('hex')}`,
    signers: Object.fromEntries(s.signers.map((a) => [a, {}])),
    recents: Object.fromEntries([...s.recents].map(([n, a]) => [n.toString(), a])),
    votes: s.votes.map((x) => ({ signer: x.signer, block: Number(x.block), address: x.address, authorize: x.authorize })),
    tally: Object.fromEntries(s.tally),
  }
}

/** The genesis extraData for an initial signer list (EIP-225 layout, zero seal). */
export function genesisExtraData(vanity: Uint8Array, signers: Uint8Array[]): Uint8Array {
  const sorted = [...signers].sort((a, b) => Buffer.compare(a, b))
  const out = new Uint8Array(EXTRA_VANITY + 20 * sorted.length + EXTRA_SEAL)
  out.set(vanity.subarray(0, EXTRA_VANITY), 0)
  sorted.forEach((s, i) => out.set(s, EXTRA_VANITY + 20 * i))
  return out
}
