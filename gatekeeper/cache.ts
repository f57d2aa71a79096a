import type { DatabaseSync } from 'node:sqlite'
import type { MedRecClient } from '../contracts/client/index.ts'
import type { FetchedPointer, Notification, NotificationKind } from './api.ts'

/**
 * The patient's (or viewer's) local copy of fetched records, one row per relationship pointer.
 * A copy held under a grant carries the grant's expiry: it is deleted when the chain's clock
 * (the head block's timestamp, see `advance`) reaches it, and a read never returns it once
 * either the chain's clock or the wall clock has. The watch deletes a viewer's copy when its
 * grant is revoked or narrowed. Deletions overwrite the freed pages (secure_delete, set by openStateDb) and
 * truncate the WAL, so the values do not linger in the files.
 */
export function createRecordCache(db: DatabaseSync) {
  db.exec(`CREATE TABLE IF NOT EXISTS cached_records (
    relationship TEXT NOT NULL,
    pointer_id INTEGER NOT NULL,
    version INTEGER NOT NULL,
    data_hash TEXT NOT NULL,
    fields TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('verified', 'tampered')),
    fetched_at INTEGER NOT NULL,
    bundle TEXT NOT NULL,
    expires_at INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (relationship, pointer_id)
  ) STRICT`)
  // Caches made before expiry was kept: 0 (no expiry) until the watch's next pass re-judges the grant.
  if (!(db.prepare('PRAGMA table_info(cached_records)').all() as { name: string }[]).some((c) => c.name === 'expires_at')) {
    db.exec('ALTER TABLE cached_records ADD COLUMN expires_at INTEGER NOT NULL DEFAULT 0')
  }
  const put = db.prepare(`INSERT INTO cached_records (relationship, pointer_id, version, data_hash, fields, status, fetched_at, bundle, expires_at)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (relationship, pointer_id) DO UPDATE SET version = excluded.version, data_hash = excluded.data_hash,
      fields = excluded.fields, status = excluded.status, fetched_at = excluded.fetched_at, bundle = excluded.bundle, expires_at = excluded.expires_at`)
  const byRel = db.prepare('SELECT * FROM cached_records WHERE relationship = ? ORDER BY pointer_id')
  const dropRel = db.prepare('DELETE FROM cached_records WHERE relationship = ?')
  const dropPointer = db.prepare('DELETE FROM cached_records WHERE relationship = ? AND pointer_id = ?')
  const pointersOf = db.prepare('SELECT pointer_id FROM cached_records WHERE relationship = ?')
  const dropExpired = db.prepare('DELETE FROM cached_records WHERE expires_at != 0 AND expires_at <= ?')
  type Row = { relationship: string; pointer_id: number; version: number; data_hash: string; fields: string; status: 'verified' | 'tampered'; fetched_at: number; bundle: string; expires_at: number }
  /** The latest head timestamp seen (unix seconds). */
  let chainNow = 0
  /** Deleted rows leave no copy in the WAL either. */
  function scrub(deleted: number | bigint): number {
    const n = Number(deleted)
    if (n > 0) db.exec('PRAGMA wal_checkpoint(TRUNCATE)')
    return n
  }
  const toPointer = (r: Row): FetchedPointer & { fetchedAt: number } => ({
    pointerId: r.pointer_id,
    version: r.version,
    dataHash: r.data_hash,
    fields: JSON.parse(r.fields) as number[],
    status: r.status,
    fetchedAt: r.fetched_at,
    bundle: JSON.parse(r.bundle) as FetchedPointer['bundle'],
  })
  return {
    /** Tampered records are kept too, flagged, so the patient can show them to the provider. `expiresAt`: the grant's (0: none). */
    put(relationship: string, p: FetchedPointer, expiresAt = 0): void {
      put.run(relationship.toLowerCase(), p.pointerId, p.version, p.dataHash, JSON.stringify(p.fields), p.status, Date.now(), JSON.stringify(p.bundle), expiresAt)
    },
    /** What is cached for a relationship; copies whose grant expired (by the chain's or the wall clock) are deleted, not returned. */
    of(relationship: string): (FetchedPointer & { fetchedAt: number })[] {
      const now = Math.max(chainNow, Math.floor(Date.now() / 1000))
      const rows = byRel.all(relationship.toLowerCase()) as Row[]
      if (rows.some((r) => r.expires_at !== 0 && r.expires_at <= now)) scrub(dropExpired.run(now).changes)
      return rows.filter((r) => r.expires_at === 0 || r.expires_at > now).map(toPointer)
    },
    /** The chain's clock moved to `headTimestamp`: deletes every copy whose grant expired by it. Returns how many. */
    advance(headTimestamp: number): number {
      chainNow = Math.max(chainNow, headTimestamp)
      return scrub(dropExpired.run(chainNow).changes)
    },
    /** Deletes a relationship's cached copy (grant revoked, relationship ended). Returns how many pointers were dropped. */
    drop(relationship: string): number {
      return scrub(dropRel.run(relationship.toLowerCase()).changes)
    },
    /** Deletes the cached pointers of a relationship that are not in `pointerIds` (a narrowed grant). */
    keepOnly(relationship: string, pointerIds: readonly number[]): number {
      const rel = relationship.toLowerCase()
      const keep = new Set(pointerIds)
      let n = 0
      for (const r of pointersOf.all(rel) as { pointer_id: number }[]) if (!keep.has(Number(r.pointer_id))) n += Number(dropPointer.run(rel, r.pointer_id).changes)
      return scrub(n)
    },
  }
}
export type RecordCache = ReturnType<typeof createRecordCache>

/** How long this account may keep a relationship's records: 0 (for good) as its patient or provider, else its grant's expiry. */
export async function cacheExpiry(client: MedRecClient, relationship: string): Promise<number> {
  const ppr = client.relationship(relationship)
  const info = await ppr.info()
  const self = client.address.toLowerCase()
  if (self === info.patient.toLowerCase() || self === info.provider.toLowerCase()) return 0
  return (await ppr.grantOf(client.address)).expiresAt
}

/** Notifications raised by the watch service, kept so `medrec watch --since` and SSE reconnects miss nothing. */
export function createNotificationLog(db: DatabaseSync) {
  db.exec(`CREATE TABLE IF NOT EXISTS notifications (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    time INTEGER NOT NULL,
    kind TEXT NOT NULL,
    relationship TEXT NOT NULL,
    message TEXT NOT NULL
  ) STRICT`)
  const insert = db.prepare('INSERT INTO notifications (time, kind, relationship, message) VALUES (?, ?, ?, ?) RETURNING id')
  const since = db.prepare('SELECT id, time, kind, relationship, message FROM notifications WHERE id > ? ORDER BY id LIMIT ?')
  const listeners = new Set<(n: Notification) => void>()
  return {
    add(kind: NotificationKind, relationship: string, message: string): Notification {
      const time = Date.now()
      const { id } = insert.get(time, kind, relationship.toLowerCase(), message) as { id: number }
      const n: Notification = { id: Number(id), time, kind, relationship: relationship.toLowerCase(), message }
      for (const l of listeners) l(n)
      return n
    },
    since(id: number, limit = 1000): Notification[] {
      return (since.all(id, limit) as unknown as Notification[]).map((n) => ({ ...n, id: Number(n.id) }))
    },
    /** Returns the unsubscribe function. */
    subscribe(listener: (n: Notification) => void): () => void {
      listeners.add(listener)
      return () => listeners.delete(listener)
    },
  }
}
export type NotificationLog = ReturnType<typeof createNotificationLog>
