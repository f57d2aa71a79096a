import type { DatabaseSync } from 'node:sqlite'
import type { FetchedPointer, Notification, NotificationKind } from './api.ts'

/** The patient's (or viewer's) local copy of fetched records, one row per relationship pointer. */
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
    PRIMARY KEY (relationship, pointer_id)
  ) STRICT`)
  const put = db.prepare(`INSERT INTO cached_records (relationship, pointer_id, version, data_hash, fields, status, fetched_at, bundle)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (relationship, pointer_id) DO UPDATE SET version = excluded.version, data_hash = excluded.data_hash,
      fields = excluded.fields, status = excluded.status, fetched_at = excluded.fetched_at, bundle = excluded.bundle`)
  const byRel = db.prepare('SELECT * FROM cached_records WHERE relationship = ? ORDER BY pointer_id')
  type Row = { relationship: string; pointer_id: number; version: number; data_hash: string; fields: string; status: 'verified' | 'tampered'; fetched_at: number; bundle: string }
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
    /** Tampered records are kept too, flagged, so the patient can show them to the provider. */
    put(relationship: string, p: FetchedPointer): void {
      put.run(relationship.toLowerCase(), p.pointerId, p.version, p.dataHash, JSON.stringify(p.fields), p.status, Date.now(), JSON.stringify(p.bundle))
    },
    of(relationship: string): (FetchedPointer & { fetchedAt: number })[] {
      return (byRel.all(relationship.toLowerCase()) as Row[]).map(toPointer)
    },
  }
}
export type RecordCache = ReturnType<typeof createRecordCache>

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
