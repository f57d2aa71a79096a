import { randomBytes } from 'node:crypto'
import type { DatabaseSync } from 'node:sqlite'
import { errorMessage, fromHex, toData } from '../common/index.ts'
import { keccak256 } from '../common/keccak.ts'
import { canonicalJson } from '../contracts/client/index.ts'
import { AUDIT_GENESIS_HASH, AUDIT_HASH as HASH, auditEntryJson, auditHashing, type AuditEntry, type AuditHead, type AuditInput, type AuditView } from './audit-check.ts'
import { GatekeeperError, GatekeeperErrorCode } from './errors.ts'

// The WebAssembly keccak on the serving path: every served read appends an entry (two hashes).
const { auditCommitment, auditHash, hashConcat } = auditHashing(keccak256)

// The chain's maths and the patient's check are pure, for the browser too (audit-check.ts).
export { AUDIT_GENESIS_HASH, auditCommitment, auditEntryJson, auditHash, checkAuditView, type AuditCheck, type AuditEntry, type AuditHead, type AuditInput, type AuditView } from './audit-check.ts'

/**
 * The gatekeeper's audit logs: every request, served or refused, appended to a hash chain of
 * salted per-entry commitments (format 2).
 *
 *   entry_n      = canonical JSON of the entry with its `seq` (base+1, base+2, …) and `time` (ms)
 *   commitment_n = keccak256(salt_n ‖ utf8(entry_n)),  salt_n = 32 random bytes kept beside the row
 *   hash_n       = keccak256(hash_{n-1} ‖ commitment_n),  hash_base = the base hash
 *
 * Why commitments: the head (anchored on chain) covers every patient's entries, yet a patient may
 * see only her own. The gatekeeper gives her every commitment of the chain and, for her entries,
 * the entry and its salt; she opens her commitments and recomputes the chain to the anchored head
 * without learning anything about the others (the salt keeps a low-entropy entry, e.g. "viewer X
 * read pointer 0", from being guessed from its commitment). See `checkAuditView` (audit-check.ts).
 *
 * A fresh log starts at base (0, 32 zero bytes). A log migrated from format 1 (hash over the
 * entry itself) keeps its old rows in `<table>_v1` and continues from their head as base, so seqs
 * keep growing (the Registrar only accepts growing anchors) and the old head is covered by every
 * later anchor.
 *
 * SQLite triggers refuse UPDATE and DELETE, and `verify()` recomputes the chain, so an edited,
 * deleted or reordered row is found even if someone drops the triggers. An insider who rewrites
 * the whole chain consistently is caught only against a head recorded elsewhere: `verify(anchor)`
 * for the provider, `checkAuditView` against the Registrar's anchor for a patient.
 */

export interface AuditFilter {
  /** Entries about any of these relationships. */
  relationships?: readonly string[]
  requester?: string
  /** From this seq on (inclusive). */
  fromSeq?: number
  /** At most this many (default 1000, at most 10000). */
  limit?: number
}

export interface AuditLog {
  /** Appends and commits now, in a transaction of its own. */
  append(entry: AuditInput): AuditEntry
  /**
   * Appends in a group commit: the entries asked for in one event-loop turn are chained and
   * committed in one transaction at the end of the turn (setImmediate). Resolves once the entry
   * is committed, as durable as `append`'s; rejects when the transaction failed (then none of
   * that turn's entries is in the log). A server that answers only after this resolves still
   * never serves a read without its entry.
   */
  appendSoon(entry: AuditInput): Promise<AuditEntry>
  head(): AuditHead
  /** Where the format-2 chain starts (0 and zero hash unless migrated). */
  base(): AuditHead
  entries(filter?: AuditFilter): AuditEntry[]
  /** The chain as a patient checks it, opened only for entries about `relationships`. */
  view(relationships: readonly string[]): AuditView
  /** The entry at `seq`, or undefined. */
  at(seq: number): AuditEntry | undefined
  /**
   * Recomputes the chain (from `from`, an entry already checked, else from the base). Throws
   * AUDIT_CORRUPT naming the first bad seq. Returns how many entries it checked.
   */
  verify(anchor?: AuditHead, from?: AuditHead): { ok: true; count: number }
}

export const AUDIT_FORMAT = 2
const DEFAULT_LIMIT = 1000
const MAX_LIMIT = 10_000
const DECIMAL = /^(?:0|[1-9][0-9]{0,77})$/
const encoder = new TextEncoder()

interface Row {
  seq: number
  time: number
  requester: string
  relationship: string
  entry: string
  salt: string
  commitment: string
  prev_hash: string
  hash: string
}

function normalise(e: AuditInput): Required<AuditInput> {
  const bad = (what: string): never => {
    throw new GatekeeperError(GatekeeperErrorCode.INTERNAL, `audit entry: ${what}`)
  }
  for (const k of ['requester', 'method', 'relationship', 'patient', 'reason', 'nonce'] as const) if (typeof e[k] !== 'string') bad(`${k} must be a string`)
  if (e.remote !== undefined && typeof e.remote !== 'string') bad('remote must be a string')
  if (e.decision !== 'granted' && e.decision !== 'refused') bad(`decision must be 'granted' or 'refused', got ${JSON.stringify(e.decision)}`)
  if (!Array.isArray(e.pointerIds) || !e.pointerIds.every((p) => typeof p === 'string' && DECIMAL.test(p))) bad('pointerIds must be decimal strings')
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
    remote: e.remote ?? '',
  }
}

function toEntry(row: Row): AuditEntry {
  const body = JSON.parse(row.entry) as AuditInput & { seq: number; time: number }
  return { ...body, remote: body.remote ?? '', seq: Number(row.seq), time: Number(row.time), salt: row.salt, commitment: row.commitment, prevHash: row.prev_hash, hash: row.hash }
}

function corruptError(table: string, seq: number, what: string): GatekeeperError {
  return new GatekeeperError(GatekeeperErrorCode.AUDIT_CORRUPT, `the audit log ${table} is corrupt at seq ${seq}: ${what}; restore the state database from a backup and keep this copy for investigation`, { seq, table })
}

function columns(db: DatabaseSync, table: string): string[] {
  return (db.prepare(`PRAGMA table_info(${table})`).all() as { name: string }[]).map((c) => c.name)
}

/**
 * A log in format 1 (hash_n = keccak(hash_{n-1} ‖ utf8(entry_n))) is checked, renamed to
 * `<table>_v1` (still append-only) and its head becomes the base of the format-2 chain. A corrupt
 * old log is refused: continuing from it would anchor a broken history.
 */
function migrateV1(db: DatabaseSync, table: string): AuditHead {
  let prev: string = AUDIT_GENESIS_HASH
  let expect = 1
  for (const raw of db.prepare(`SELECT seq, entry, prev_hash, hash FROM ${table} ORDER BY seq`).iterate()) {
    const row = raw as { seq: number; entry: string; prev_hash: string; hash: string }
    const seq = Number(row.seq)
    if (seq !== expect || row.prev_hash !== prev || hashConcat(fromHex(prev), encoder.encode(row.entry)) !== row.hash) {
      throw new GatekeeperError(
        GatekeeperErrorCode.AUDIT_CORRUPT,
        `the audit log ${table} is in the old format (1) and corrupt at seq ${expect}, so it cannot be migrated to format ${AUDIT_FORMAT}: restore the state database from a backup (or move it aside to start a new log) and keep this copy for investigation`,
        { seq: expect, table },
      )
    }
    prev = row.hash
    expect = seq + 1
  }
  db.exec(`DROP TRIGGER IF EXISTS ${table}_no_update; DROP TRIGGER IF EXISTS ${table}_no_delete;
    ALTER TABLE ${table} RENAME TO ${table}_v1;
    DROP INDEX IF EXISTS ${table}_relationship; DROP INDEX IF EXISTS ${table}_requester;
    CREATE TRIGGER ${table}_v1_no_update BEFORE UPDATE ON ${table}_v1 BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
    CREATE TRIGGER ${table}_v1_no_delete BEFORE DELETE ON ${table}_v1 BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;`)
  return { seq: expect - 1, hash: prev }
}

export interface AuditLogOptions {
  now?: () => number
  /**
   * The table: 'audit_log' (default: the authority account's chain, what its patients read and
   * it anchors), the provider-only 'audit_provider', or 'audit_delegates', which holds one chain
   * per delegate account (`chain`), each anchored by that delegate.
   */
  table?: 'audit_log' | 'audit_provider' | 'audit_delegates'
  /** For 'audit_delegates': the delegate account (0x address) whose chain this is. */
  chain?: string
  /** Told after every append (e.g. the anchoring schedule). */
  onAppend?: (entry: AuditEntry) => void
}

export function createAuditLog(db: DatabaseSync, opts: AuditLogOptions = {}): AuditLog {
  const now = opts.now ?? Date.now
  const table = opts.table ?? 'audit_log'
  const keyed = table === 'audit_delegates'
  const chain = opts.chain?.toLowerCase() ?? ''
  if (keyed !== /^0x[0-9a-f]{40}$/.test(chain)) throw new GatekeeperError(GatekeeperErrorCode.INTERNAL, keyed ? `the audit chain of a delegate needs the delegate's address, got ${JSON.stringify(opts.chain)}` : `only audit_delegates holds several chains (${table} was given chain ${opts.chain})`)
  // Each chain has its own row in audit_meta; every statement of a keyed table is scoped to the chain.
  const logName = keyed ? `${table}:${chain}` : table
  const K = keyed ? 'chain = ? AND ' : ''
  const kp: string[] = keyed ? [chain] : []
  db.exec(`CREATE TABLE IF NOT EXISTS audit_meta (
    log TEXT PRIMARY KEY,
    format INTEGER NOT NULL,
    base_seq INTEGER NOT NULL,
    base_hash TEXT NOT NULL
  ) STRICT`)
  let base: AuditHead = { seq: 0, hash: AUDIT_GENESIS_HASH }
  db.exec('BEGIN IMMEDIATE')
  try {
    const meta = db.prepare('SELECT format, base_seq, base_hash FROM audit_meta WHERE log = ?').get(logName) as { format: number; base_seq: number; base_hash: string } | undefined
    if (meta !== undefined) {
      if (Number(meta.format) !== AUDIT_FORMAT) throw new GatekeeperError(GatekeeperErrorCode.INTERNAL, `the audit log ${table} is in format ${meta.format}, this node reads format ${AUDIT_FORMAT}: run the medrec version that wrote it, or restore a backup`)
      base = { seq: Number(meta.base_seq), hash: meta.base_hash }
    } else {
      const cols = columns(db, table)
      if (!keyed && cols.length > 0 && !cols.includes('commitment')) base = migrateV1(db, table)
      db.prepare('INSERT INTO audit_meta (log, format, base_seq, base_hash) VALUES (?, ?, ?, ?)').run(logName, AUDIT_FORMAT, base.seq, base.hash)
    }
    if (keyed) {
      db.exec(`CREATE TABLE IF NOT EXISTS ${table} (
        chain TEXT NOT NULL,
        seq INTEGER NOT NULL,
        time INTEGER NOT NULL,
        requester TEXT NOT NULL,
        relationship TEXT NOT NULL,
        entry TEXT NOT NULL,
        salt TEXT NOT NULL,
        commitment TEXT NOT NULL,
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL,
        PRIMARY KEY (chain, seq)
      ) STRICT, WITHOUT ROWID;
      CREATE INDEX IF NOT EXISTS ${table}_relationship ON ${table}(chain, relationship, seq);
      CREATE INDEX IF NOT EXISTS ${table}_requester ON ${table}(chain, requester, seq);`)
    } else {
      db.exec(`CREATE TABLE IF NOT EXISTS ${table} (
      seq INTEGER PRIMARY KEY,
      time INTEGER NOT NULL,
      requester TEXT NOT NULL,
      relationship TEXT NOT NULL,
      entry TEXT NOT NULL,
      salt TEXT NOT NULL,
      commitment TEXT NOT NULL,
      prev_hash TEXT NOT NULL,
      hash TEXT NOT NULL
    ) STRICT;
    CREATE INDEX IF NOT EXISTS ${table}_relationship ON ${table}(relationship, seq);
    CREATE INDEX IF NOT EXISTS ${table}_requester ON ${table}(requester, seq);`)
    }
    db.exec(`CREATE TRIGGER IF NOT EXISTS ${table}_no_update BEFORE UPDATE ON ${table}
      BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
    CREATE TRIGGER IF NOT EXISTS ${table}_no_delete BEFORE DELETE ON ${table}
      BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;`)
    db.exec('COMMIT')
  } catch (err) {
    db.exec('ROLLBACK')
    throw err
  }

  const COLS = 'seq, time, requester, relationship, entry, salt, commitment, prev_hash, hash'
  const headStmt = db.prepare(`SELECT seq, hash FROM ${table} WHERE ${K}1 ORDER BY seq DESC LIMIT 1`)
  const insert = db.prepare(`INSERT INTO ${table} (${keyed ? 'chain, ' : ''}${COLS}) VALUES (${keyed ? '?, ' : ''}?, ?, ?, ?, ?, ?, ?, ?, ?)`)
  const after = db.prepare(`SELECT ${COLS} FROM ${table} WHERE ${K}seq > ? ORDER BY seq`)
  const allCommitments = db.prepare(`SELECT commitment FROM ${table} WHERE ${K}1 ORDER BY seq`)
  const bySeq = db.prepare(`SELECT ${COLS} FROM ${table} WHERE ${K}seq = ?`)

  function head(): AuditHead {
    const row = headStmt.get(...kp) as { seq: number; hash: string } | undefined
    return row === undefined ? { ...base } : { seq: Number(row.seq), hash: row.hash }
  }

  function corrupt(seq: number, what: string): never {
    throw corruptError(logName, seq, what)
  }

  function entries(filter: AuditFilter = {}): AuditEntry[] {
    const where: string[] = keyed ? ['chain = ?'] : []
    const params: (string | number)[] = [...kp]
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
    const sql = `SELECT ${COLS} FROM ${table}${where.length > 0 ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY seq LIMIT ?`
    return (db.prepare(sql).all(...params) as unknown as Row[]).map(toEntry)
  }

  // Statements, not exec(): an append is on every served read's path, and exec() parses its SQL each time.
  const beginStmt = db.prepare('BEGIN IMMEDIATE')
  const commitStmt = db.prepare('COMMIT')
  const rollbackStmt = db.prepare('ROLLBACK')

  /**
   * Chains and inserts `inputs` (normalised) after the head in one transaction. IMMEDIATE: the
   * head read and the inserts happen under one write lock, so two connections cannot both append
   * after the same head.
   */
  function write(inputs: readonly Required<AuditInput>[]): AuditEntry[] {
    try {
      beginStmt.run()
    } catch (err) {
      throw new GatekeeperError(GatekeeperErrorCode.INTERNAL, `cannot append to the audit log: ${errorMessage(err)}`, undefined, err)
    }
    const written: AuditEntry[] = []
    try {
      let prev = head()
      const time = Math.floor(now())
      for (const e of inputs) {
        const seq = prev.seq + 1
        const json = auditEntryJson({ ...e, seq, time })
        const salt = toData(randomBytes(32))
        const commitment = auditCommitment(salt, json)
        const hash = auditHash(prev.hash, commitment)
        insert.run(...kp, seq, time, e.requester, e.relationship, json, salt, commitment, prev.hash, hash)
        written.push({ ...e, seq, time, salt, commitment, prevHash: prev.hash, hash })
        prev = { seq, hash }
      }
      commitStmt.run()
    } catch (err) {
      if (db.isTransaction) rollbackStmt.run()
      throw new GatekeeperError(GatekeeperErrorCode.INTERNAL, `cannot append to the audit log: ${errorMessage(err)}`, undefined, err)
    }
    for (const entry of written) opts.onAppend?.(entry)
    return written
  }

  /** The group commit's entries of this turn, in the order they were asked for. */
  let pending: { input: Required<AuditInput>; resolve: (e: AuditEntry) => void; reject: (err: unknown) => void }[] = []

  function flush(): void {
    const batch = pending
    pending = []
    let written: AuditEntry[]
    try {
      written = write(batch.map((b) => b.input))
    } catch (err) {
      for (const b of batch) b.reject(err)
      return
    }
    batch.forEach((b, i) => b.resolve(written[i]!))
  }

  return {
    append(input) {
      return write([normalise(input)])[0]!
    },

    appendSoon(input) {
      let e: Required<AuditInput>
      try {
        e = normalise(input)
      } catch (err) {
        return Promise.reject(err)
      }
      return new Promise<AuditEntry>((resolve, reject) => {
        if (pending.length === 0) setImmediate(flush)
        pending.push({ input: e, resolve, reject })
      })
    },

    head,
    base: () => ({ ...base }),
    entries,

    view(relationships) {
      // One synchronous read: no append can land between the commitments, the entries and the head.
      const commitments = (allCommitments.all(...kp) as { commitment: string }[]).map((r) => r.commitment)
      const mine = relationships.length === 0 ? [] : entries({ relationships, limit: MAX_LIMIT })
      return { base: { ...base }, head: head(), commitments, entries: mine }
    },

    at(seq) {
      const row = bySeq.get(...kp, seq) as Row | undefined
      return row === undefined ? undefined : toEntry(row)
    },

    verify(anchor, from) {
      const start = from !== undefined && from.seq > base.seq ? from : base
      if (start !== base) {
        const row = bySeq.get(...kp, start.seq) as Row | undefined
        if (row === undefined || row.hash !== start.hash.toLowerCase()) corrupt(start.seq, `its hash is no longer the ${start.hash} checked before`)
      }
      let expectSeq = start.seq + 1
      let prevHash = start.hash.toLowerCase()
      let anchorSeen = anchor !== undefined && (anchor.seq < start.seq || (anchor.seq === start.seq && anchor.hash.toLowerCase() === prevHash))
      for (const raw of after.iterate(...kp, start.seq)) {
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
        if (!HASH.test(row.salt) || auditCommitment(row.salt, row.entry) !== row.commitment) corrupt(seq, 'its commitment does not match its contents (edited row)')
        if (auditHash(prevHash, row.commitment) !== row.hash) corrupt(seq, 'its hash does not match its commitment (edited row)')
        if (anchor !== undefined && seq === anchor.seq) {
          if (row.hash !== anchor.hash.toLowerCase()) corrupt(seq, `its hash differs from the anchored head ${anchor.hash}`)
          anchorSeen = true
        }
        prevHash = row.hash
        expectSeq = seq + 1
      }
      if (anchor !== undefined && anchor.seq > 0 && !anchorSeen) {
        corrupt(expectSeq, anchor.seq < base.seq ? `the anchored head ${anchor.seq} is in the old-format log before the base ${base.seq}` : `the log ends at seq ${expectSeq - 1}, before the anchored head ${anchor.seq} (rows were removed)`)
      }
      return { ok: true, count: expectSeq - 1 - start.seq }
    },
  }
}
