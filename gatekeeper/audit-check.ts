import { keccak_256 } from '@noble/hashes/sha3.js'
import { fromHex, toData } from '../common/hex.ts'
import { canonicalJson } from '../contracts/client/index.ts'

/**
 * The audit log's hash chain as a patient checks it (format 2; the log itself is audit.ts):
 *
 *   entry_n      = canonical JSON of the entry with its `seq` and `time` (ms)
 *   commitment_n = keccak256(salt_n ‖ utf8(entry_n))
 *   hash_n       = keccak256(hash_{n-1} ‖ commitment_n)
 *
 * Pure (@noble, contracts/client and common/hex.ts only; no Node built-in, no Buffer), so the
 * node's requester and the browser app run this one check: a patient whose key lives in the
 * browser verifies her audit view in the page, against the anchor read from the chain there.
 */

export interface AuditInput {
  /** The verified requester; in the provider-only log also `unverified:0x…` or '' (unparseable). */
  requester: string
  method: string
  relationship: string
  /** The relationship's patient, or '' when not known. */
  patient: string
  /** Decimal strings (a request may name any uint256, even one that does not exist). */
  pointerIds: string[]
  /** 0x hex masks, one per pointer. */
  fieldMasks: string[]
  decision: 'granted' | 'refused'
  reason: string
  nonce: string
  /** Where the request came from (provider-only log; '' in the log patients read). */
  remote?: string
}

/** An entry as stored: what was appended plus its place in the chain and its opening. */
export interface AuditEntry extends Omit<AuditInput, 'remote'> {
  remote: string
  seq: number
  /** Unix milliseconds. */
  time: number
  /** 0x + 64 hex: opens the commitment. Shown only to the entry's patient (and the operator). */
  salt: string
  commitment: string
  prevHash: string
  hash: string
}

export interface AuditHead {
  seq: number
  hash: string
}

/**
 * What a patient is given to check her entries against an anchored head: the chain's base, every
 * commitment after it (in seq order, so commitments[i] is seq base.seq + 1 + i), her entries with
 * their salts, and the head the gatekeeper holds now.
 */
export interface AuditView {
  base: AuditHead
  head: AuditHead
  commitments: string[]
  entries: AuditEntry[]
}

/** What a patient's check found. */
export interface AuditCheck {
  /** Every entry's commitment opens, the chain from the base reaches the head given, and seqs line up. */
  linked: boolean
  /** Why `linked` is false ('' when it is true). */
  problem: string
  /** Against the Registrar's latest anchor: 'verified', 'mismatch', or 'none' (no anchor covers the log). */
  anchor: 'verified' | 'mismatch' | 'none'
  /** The recomputed hash at the anchored seq (when the view reaches it). */
  recomputed?: string
  /** Seqs of the entries covered by the anchor (seq ≤ anchored seq). */
  coveredSeqs: number[]
}

export const AUDIT_GENESIS_HASH = toData(new Uint8Array(32))
export const AUDIT_INPUT_KEYS = ['requester', 'method', 'relationship', 'patient', 'pointerIds', 'fieldMasks', 'decision', 'reason', 'nonce', 'remote'] as const
const ENTRY_KEYS = new Set<string>([...AUDIT_INPUT_KEYS, 'seq', 'time', 'salt', 'commitment', 'prevHash', 'hash'])
export const AUDIT_HASH = /^0x[0-9a-f]{64}$/
const encoder = new TextEncoder()

/**
 * The log's hash formulas over a keccak-256 implementation: @noble's here (this module runs in the
 * browser too); the node's serving path passes its WebAssembly keccak (common/keccak.ts), several
 * times faster, with the same bytes.
 */
export function auditHashing(keccak: (data: Uint8Array) => Uint8Array) {
  /** keccak256(a ‖ b) as 0x hex. */
  function hashConcat(a: Uint8Array, b: Uint8Array): string {
    const buf = new Uint8Array(a.length + b.length)
    buf.set(a, 0)
    buf.set(b, a.length)
    return toData(keccak(buf))
  }
  return {
    hashConcat,
    /** keccak256(salt ‖ utf8(entryJson)) as 0x hex. */
    auditCommitment: (salt: string, entryJson: string): string => hashConcat(fromHex(salt), encoder.encode(entryJson)),
    /** keccak256(prevHash ‖ commitment) as 0x hex. */
    auditHash: (prevHash: string, commitment: string): string => hashConcat(fromHex(prevHash), fromHex(commitment)),
  }
}

export const { hashConcat, auditCommitment, auditHash } = auditHashing(keccak_256)

/** The committed form of an entry: its input fields with `seq` and `time`, canonical JSON. */
export function auditEntryJson(entry: Omit<AuditInput, 'remote'> & { remote?: string; seq: number; time: number }): string {
  const { seq, time } = entry
  const body: Record<string, unknown> = { seq, time }
  for (const k of AUDIT_INPUT_KEYS) body[k] = k === 'remote' ? (entry.remote ?? '') : entry[k]
  return canonicalJson(body)
}

/** An entry with the fields the check reads (its content is checked by opening its commitment). */
export function isAuditEntry(raw: unknown): raw is AuditEntry {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) return false
  const e = raw as Record<string, unknown>
  if (Object.keys(e).some((k) => !ENTRY_KEYS.has(k))) return false
  const strings = (x: unknown): boolean => Array.isArray(x) && x.every((v) => typeof v === 'string')
  return Number.isSafeInteger(e.seq) && Number.isSafeInteger(e.time) && typeof e.salt === 'string' && AUDIT_HASH.test(e.salt) && typeof e.commitment === 'string' && typeof e.prevHash === 'string' && typeof e.hash === 'string' &&
    typeof e.requester === 'string' && typeof e.method === 'string' && typeof e.relationship === 'string' && typeof e.reason === 'string' && strings(e.pointerIds) && strings(e.fieldMasks)
}

/**
 * The patient's side: recomputes the chain from the view's base over every commitment, opens the
 * commitment of each of her entries, and compares the hash at the anchored seq with the anchor read
 * from her own chain. Never throws: malformed input is reported as not linked.
 *
 * What it shows: the log the gatekeeper holds now extends the log it anchored, with her entries at
 * the places they had then (a dropped, inserted, edited or reordered entry anywhere before the
 * anchor changes the hash at the anchored seq). What it cannot show: that the gatekeeper opened
 * all of her entries (it could pass one of hers off as someone else's commitment; see the notes),
 * or anything about entries after the anchor until the next anchor.
 */
export function checkAuditView(view: unknown, anchor: AuditHead | undefined): AuditCheck {
  const fail = (problem: string): AuditCheck => ({ linked: false, problem, anchor: anchor === undefined ? 'none' : 'mismatch', coveredSeqs: [] })
  if (view === null || typeof view !== 'object') return fail('the gatekeeper sent no audit view')
  const v = view as Partial<AuditView>
  const { base, head, commitments, entries } = v
  if (base === undefined || head === undefined || !Array.isArray(commitments) || !Array.isArray(entries)) return fail('the audit view lacks base, head, commitments or entries')
  if (!Number.isSafeInteger(base.seq) || base.seq < 0 || typeof base.hash !== 'string' || !AUDIT_HASH.test(base.hash)) return fail('the audit view has a malformed base')
  if (!Number.isSafeInteger(head.seq) || typeof head.hash !== 'string') return fail('the audit view has a malformed head')
  if (base.seq + commitments.length !== head.seq) return fail(`the view holds ${commitments.length} commitments after base ${base.seq}, but the head is #${head.seq}`)
  const bySeq = new Map<number, AuditEntry>()
  for (const raw of entries) {
    if (!isAuditEntry(raw)) return fail('an entry is malformed')
    if (raw.seq <= base.seq || raw.seq > head.seq || bySeq.has(raw.seq)) return fail(`entry #${raw.seq} is outside the chain or repeated`)
    let json: string
    try {
      json = auditEntryJson(raw)
    } catch {
      return fail(`entry #${raw.seq} cannot be put in canonical form`)
    }
    if (auditCommitment(raw.salt, json) !== commitments[raw.seq - base.seq - 1]) return fail(`entry #${raw.seq} does not open its commitment (edited)`)
    bySeq.set(raw.seq, raw)
  }
  let hash = base.hash
  let recomputed: string | undefined = anchor !== undefined && anchor.seq === base.seq ? base.hash : undefined
  for (let i = 0; i < commitments.length; i++) {
    const c = commitments[i]
    if (typeof c !== 'string' || !AUDIT_HASH.test(c)) return fail(`commitment #${base.seq + 1 + i} is malformed`)
    hash = auditHash(hash, c)
    const seq = base.seq + 1 + i
    const e = bySeq.get(seq)
    if (e !== undefined && (e.hash !== hash || e.commitment !== c)) return fail(`entry #${seq} is not at its place in the chain`)
    if (anchor !== undefined && seq === anchor.seq) recomputed = hash
  }
  if (hash !== head.hash.toLowerCase()) return fail(`the commitments do not chain up to the head #${head.seq} the gatekeeper sent`)
  const coveredSeqs = anchor === undefined ? [] : [...bySeq.keys()].filter((s) => s <= anchor.seq)
  if (anchor === undefined || anchor.seq === 0) return { linked: true, problem: '', anchor: 'none', coveredSeqs: [] }
  // An anchor before the base: the format-1 log it covered is not part of this view.
  if (anchor.seq < base.seq) return { linked: true, problem: '', anchor: 'none', coveredSeqs: [] }
  if (recomputed === undefined) return { linked: true, problem: '', anchor: 'mismatch', coveredSeqs }
  return { linked: true, problem: '', anchor: recomputed === anchor.hash.toLowerCase() ? 'verified' : 'mismatch', recomputed, coveredSeqs }
}
