import { keccak_256 } from '@noble/hashes/sha3.js'
import type { DatabaseSync } from 'node:sqlite'
import { fromHex, toData } from '../common/index.ts'
import { canonicalJson } from '../contracts/client/index.ts'
import { GatekeeperError, GatekeeperErrorCode } from './errors.ts'

/**
 * The gatekeeper's audit log: every request, served or refused, appended to a hash chain.
 *
 *   entry_n = canonical JSON of the entry with its `seq` (1, 2, …) and `time` (ms)
 *   hash_n  = keccak256(hash_{n-1} ‖ utf8(entry_n)),   hash_0 = 32 zero bytes
 *
 * SQLite triggers refuse UPDATE and DELETE, and `verify()` recomputes the chain, so an edited,
 * deleted or reordered row is found even if someone drops the triggers. Removing the newest
 * rows leaves a valid shorter chain: that is caught only against a head recorded elsewhere
 * (`verify(anchor)`, e.g. a head anchored on chain or one a patient saw earlier).
 */

export interface AuditInput {
  /** The verified requester, or `unverified:0x…` for a request whose signature failed. */
  requester: string
  method: string
  relationship: string
  /** The relationship's patient, or '' when not known. */
  patient: string
  pointerIds: number[]
  /** 0x hex masks, one per pointer. */
  fieldMasks: string[]
  decision: 'granted' | 'refused'
  reason: string
  nonce: string
}

/** An entry as stored: what was appended plus its place in the chain. */
export interface AuditEntry extends AuditInput {
  seq: number
  /** Unix milliseconds. */
  time: number
  prevHash: string
  hash: string
}

export interface AuditHead {
  seq: number
  hash: string
}

export interface AuditFilter {
  /** Entries about any of these relationships. */
  relationships?: readonly string[]
  requester?: string
  /** From this seq on (inclusive). */
  fromSeq?: number
  /** At most this many (default 1000, at most 10000). */
  limit?: number
}

/**
 * What a patient checks its entries with. Each entry carries `prevHash` and `hash`, so
 * `verifyAuditEntries` can recompute every hash from the entry's content and its predecessor's
 * hash, and check consecutive entries link. That shows the gatekeeper committed exactly these
 * entries at these places of its chain; it cannot later change them without breaking the chain
 * the provider (and anyone holding a later head) verifies. It does not show that no entry about
 * the patient was left out: that needs the intermediate entries, which are other patients' data.
 */
export interface AuditProof {
  head: AuditHead
  entries: AuditEntry[]
}

export interface AuditLog {
  append(entry: AuditInput): AuditEntry
  head(): AuditHead
  entries(filter?: AuditFilter): AuditEntry[]
  /** Recomputes the whole chain. Throws AUDIT_CORRUPT naming the first bad seq. */
  verify(anchor?: AuditHead): { ok: true; count: number }
  proofFor(entries: readonly { seq: number }[]): AuditProof
}

export const AUDIT_GENESIS_HASH = toData(new Uint8Array(32))
const DEFAULT_LIMIT = 1000
const MAX_LIMIT = 10_000
const INPUT_KEYS = ['requester', 'method', 'relationship', 'patient', 'pointerIds', 'fieldMasks', 'decision', 'reason', 'nonce'] as const
const encoder = new TextEncoder()

interface Row {
  seq: number
  time: number
  requester: string
  relationship: string
  entry: string
  prev_hash: string
  hash: string
}

/** keccak256(prevHash ‖ utf8(entryJson)) as 0x hex. */
export function auditHash(prevHash: string, entryJson: string): string {
  const prev = fromHex(prevHash)
  const text = encoder.encode(entryJson)
  const buf = new Uint8Array(prev.length + text.length)
  buf.set(prev, 0)
  buf.set(text, prev.length)
  return toData(keccak_256(buf))
}

/** The hashed form of an entry: every field but `prevHash` and `hash`, canonical JSON. */
export function auditEntryJson(entry: AuditInput & { seq: number; time: number }): string {
  const { seq, time } = entry
  const body: Record<string, unknown> = { seq, time }
  for (const k of INPUT_KEYS) body[k] = entry[k]
  return canonicalJson(body)
}

function normalise(e: AuditInput): AuditInput {
  const bad = (what: string): never => {
    throw new GatekeeperError(GatekeeperErrorCode.INTERNAL, `audit entry: ${what}`)
  }
  for (const k of ['requester', 'method', 'relationship', 'patient', 'reason', 'nonce'] as const) if (typeof e[k] !== 'string') bad(`${k} must be a string`)
  if (e.decision !== 'granted' && e.decision !== 'refused') bad(`decision must be 'granted' or 'refused', got ${JSON.stringify(e.decision)}`)
  if (!Array.isArray(e.pointerIds) || !e.pointerIds.every((p) => Number.isSafeInteger(p) && p >= 0)) bad('pointerIds must be non-negative integers')
  if (!Array.isArray(e.fieldMasks) || !e.fieldMasks.every((m) => typeof m === 'string')) bad('fieldMasks must be strings')
  return {
    requester: e.requester.toLowerCase(),
    method: e.method,
    relationship: e.relationship.toLowerCase(),
    patient: e.patient.toLowerCase(),
    pointerIds: [...e.pointerIds],
    fieldMasks: [...e.fieldMasks],
    decision: e.decision,
    reason: e.reason,
    nonce: e.nonce.toLowerCase(),
  }
}

function toEntry(row: Row): AuditEntry {
  const body = JSON.parse(row.entry) as AuditInput & { seq: number; time: number }
  return { ...body, seq: row.seq, time: row.time, prevHash: row.prev_hash, hash: row.hash }
}

export function createAuditLog(db: DatabaseSync, opts: { now?: () => number } = {}): AuditLog {
  const now = opts.now ?? Date.now
  db.exec(`CREATE TABLE IF NOT EXISTS audit_log (
    seq INTEGER PRIMARY KEY,
    time INTEGER NOT NULL,
    requester TEXT NOT NULL,
    relationship TEXT NOT NULL,
    entry TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
  ) STRICT;
  CREATE INDEX IF NOT EXISTS audit_log_relationship ON audit_log(relationship, seq);
  CREATE INDEX IF NOT EXISTS audit_log_requester ON audit_log(requester, seq);
  CREATE TRIGGER IF NOT EXISTS audit_log_no_update BEFORE UPDATE ON audit_log
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
  CREATE TRIGGER IF NOT EXISTS audit_log_no_delete BEFORE DELETE ON audit_log
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;`)

  const headStmt = db.prepare('SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1')
  const insert = db.prepare('INSERT INTO audit_log (seq, time, requester, relationship, entry, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?)')
  const all = db.prepare('SELECT seq, time, requester, relationship, entry, prev_hash, hash FROM audit_log ORDER BY seq')
  const bySeq = db.prepare('SELECT seq, time, requester, relationship, entry, prev_hash, hash FROM audit_log WHERE seq = ?')

  function head(): AuditHead {
    const row = headStmt.get() as { seq: number; hash: string } | undefined
    return row === undefined ? { seq: 0, hash: AUDIT_GENESIS_HASH } : { seq: Number(row.seq), hash: row.hash }
  }

  function corrupt(seq: number, what: string): never {
    throw new GatekeeperError(GatekeeperErrorCode.AUDIT_CORRUPT, `the audit log is corrupt at seq ${seq}: ${what}; restore the state database from a backup and keep this copy for investigation`, { seq })
  }

  return {
    append(input) {
      const e = normalise(input)
      // IMMEDIATE: the head read and the insert happen under one write lock, so two
      // connections cannot both append after the same head.
      try {
        db.exec('BEGIN IMMEDIATE')
      } catch (err) {
        throw new GatekeeperError(GatekeeperErrorCode.INTERNAL, `cannot append to the audit log: ${(err as Error).message}`, undefined, err)
      }
      try {
        const prev = head()
        const seq = prev.seq + 1
        const time = Math.floor(now())
        const json = auditEntryJson({ ...e, seq, time })
        const hash = auditHash(prev.hash, json)
        insert.run(seq, time, e.requester, e.relationship, json, prev.hash, hash)
        db.exec('COMMIT')
        return { ...e, seq, time, prevHash: prev.hash, hash }
      } catch (err) {
        db.exec('ROLLBACK')
        throw new GatekeeperError(GatekeeperErrorCode.INTERNAL, `cannot append to the audit log: ${(err as Error).message}`, undefined, err)
      }
    },

    head,

    entries(filter = {}) {
      const where: string[] = []
      const params: (string | number)[] = []
      if (filter.relationships !== undefined) {
        if (filter.relationships.length === 0) return []
        where.push(`relationship IN (${filter.relationships.map(() => '?').join(', ')})`)
        params.push(...filter.relationships.map((r) => r.toLowerCase()))
      }
      if (filter.requester !== undefined) {
        where.push('requester = ?')
        params.push(filter.requester.toLowerCase())
      }
      if (filter.fromSeq !== undefined) {
        where.push('seq >= ?')
        params.push(filter.fromSeq)
      }
      const limit = Math.min(Math.max(1, Math.floor(filter.limit ?? DEFAULT_LIMIT)), MAX_LIMIT)
      params.push(limit)
      // Only placeholders are interpolated; every value is bound.
      const sql = `SELECT seq, time, requester, relationship, entry, prev_hash, hash FROM audit_log${where.length > 0 ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY seq LIMIT ?`
      return (db.prepare(sql).all(...params) as unknown as Row[]).map(toEntry)
    },

    verify(anchor) {
      let expectSeq = 1
      let prevHash: string = AUDIT_GENESIS_HASH
      let anchorSeen = false
      for (const raw of all.iterate()) {
        const row = raw as unknown as Row
        const seq = Number(row.seq)
        if (seq !== expectSeq) corrupt(expectSeq, seq > expectSeq ? `rows ${expectSeq}..${seq - 1} are missing (deleted)` : `unexpected seq ${seq}`)
        if (row.prev_hash !== prevHash) corrupt(seq, 'its prevHash is not the previous entry\'s hash (a row was deleted, reordered or replaced)')
        let body: Record<string, unknown>
        try {
          body = JSON.parse(row.entry) as Record<string, unknown>
        } catch {
          corrupt(seq, 'its entry is not JSON')
        }
        if (body.seq !== seq || body.time !== Number(row.time)) corrupt(seq, 'its entry names another seq or time (rows were reordered or edited)')
        if (body.requester !== row.requester || body.relationship !== row.relationship) corrupt(seq, 'its indexed requester or relationship differs from its entry (edited row)')
        let canonical: string
        try {
          canonical = canonicalJson(body)
        } catch {
          corrupt(seq, 'its entry cannot be put in canonical form')
        }
        if (canonical !== row.entry) corrupt(seq, 'its entry is not in canonical form (edited row)')
        if (auditHash(prevHash, row.entry) !== row.hash) corrupt(seq, 'its hash does not match its contents (edited row)')
        if (anchor !== undefined && seq === anchor.seq) {
          if (row.hash !== anchor.hash.toLowerCase()) corrupt(seq, `its hash differs from the anchored head ${anchor.hash}`)
          anchorSeen = true
        }
        prevHash = row.hash
        expectSeq = seq + 1
      }
      if (anchor !== undefined && anchor.seq > 0 && !anchorSeen) corrupt(expectSeq, `the log ends at seq ${expectSeq - 1}, before the anchored head ${anchor.seq} (rows were removed)`)
      return { ok: true, count: expectSeq - 1 }
    },

    proofFor(entries) {
      const out: AuditEntry[] = []
      for (const { seq } of entries) {
        const row = bySeq.get(seq) as Row | undefined
        if (row === undefined) throw new GatekeeperError(GatekeeperErrorCode.NOT_FOUND, `no audit entry with seq ${seq}`)
        out.push(toEntry(row))
      }
      return { head: head(), entries: out }
    },
  }
}

/**
 * Receiver side of `proofFor`/`entries`: true when every entry's hash is keccak256(prevHash ‖
 * its canonical content) and entries with consecutive seqs link (prevHash = the previous hash).
 * Entries need not be consecutive (a patient sees only its own). False, never a throw, on
 * malformed input.
 */
export function verifyAuditEntries(entries: readonly unknown[], head?: AuditHead): boolean {
  try {
    if (!Array.isArray(entries)) return false
    let prev: AuditEntry | undefined
    for (const raw of entries) {
      if (raw === null || typeof raw !== 'object') return false
      const e = raw as AuditEntry
      if (!Number.isSafeInteger(e.seq) || e.seq < 1 || typeof e.prevHash !== 'string' || typeof e.hash !== 'string') return false
      if (!/^0x[0-9a-f]{64}$/.test(e.prevHash) || !/^0x[0-9a-f]{64}$/.test(e.hash)) return false
      if (e.seq === 1 && e.prevHash !== AUDIT_GENESIS_HASH) return false
      if (prev !== undefined) {
        if (e.seq <= prev.seq) return false
        if (e.seq === prev.seq + 1 && e.prevHash !== prev.hash) return false
      }
      const extra = Object.keys(e).filter((k) => !(INPUT_KEYS as readonly string[]).includes(k) && !['seq', 'time', 'prevHash', 'hash'].includes(k))
      if (extra.length > 0) return false
      if (auditHash(e.prevHash, auditEntryJson(e)) !== e.hash) return false
      if (head !== undefined && e.seq > head.seq) return false
      if (head !== undefined && e.seq === head.seq && e.hash !== head.hash) return false
      prev = e
    }
    return true
  } catch {
    return false
  }
}
