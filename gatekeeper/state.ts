import { DatabaseSync } from 'node:sqlite'
import { preparePrivateDb } from './db/connections.ts'
import { errorMessage } from '../common/index.ts'
import { GatekeeperError, GatekeeperErrorCode } from './errors.ts'

/**
 * The gatekeeper's own SQLite file (nonces, audit log, which local patient each relationship
 * stewards, the watch service's last view, the patient's record cache and notifications).
 * Separate from the provider's record database, which an adapter may replace. Owner-only
 * (0600, side files too): it holds the audit log and cached records.
 */
export function openStateDb(path: string): DatabaseSync {
  try {
    if (path !== ':memory:') preparePrivateDb(path)
    const db = new DatabaseSync(path)
    // secure_delete: a deleted row (a revoked grant's cached records) is overwritten, not left in a free page.
    db.exec('PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 5000; PRAGMA synchronous = NORMAL; PRAGMA secure_delete = ON;')
    return db
  } catch (err) {
    throw new GatekeeperError(GatekeeperErrorCode.INTERNAL, `cannot open the gatekeeper state database ${path}: ${errorMessage(err)}`, { path }, err)
  }
}

/** Relationship (PPR address, lower case) → the local patient id whose records it points to. */
export interface RelationshipMap {
  set(relationship: string, patientId: string): void
  get(relationship: string): string | undefined
  /** The relationships of one local patient, oldest first. */
  ofPatient(patientId: string): string[]
  all(): { relationship: string; patientId: string }[]
  count(): number
}

export function createRelationshipMap(db: DatabaseSync): RelationshipMap {
  db.exec(`CREATE TABLE IF NOT EXISTS served_relationships (
    relationship TEXT PRIMARY KEY,
    patient_id TEXT NOT NULL,
    created_at INTEGER NOT NULL
  ) STRICT;
  CREATE INDEX IF NOT EXISTS served_relationships_patient ON served_relationships(patient_id);`)
  const insert = db.prepare('INSERT INTO served_relationships (relationship, patient_id, created_at) VALUES (?, ?, ?) ON CONFLICT(relationship) DO NOTHING')
  const byRel = db.prepare('SELECT patient_id FROM served_relationships WHERE relationship = ?')
  const byPatient = db.prepare('SELECT relationship FROM served_relationships WHERE patient_id = ? ORDER BY created_at, relationship')
  const all = db.prepare('SELECT relationship, patient_id FROM served_relationships ORDER BY created_at, relationship')
  const count = db.prepare('SELECT COUNT(*) AS n FROM served_relationships')
  return {
    set(relationship, patientId) {
      insert.run(relationship.toLowerCase(), patientId, Date.now())
      const bound = this.get(relationship)
      if (bound !== patientId) {
        throw new GatekeeperError(GatekeeperErrorCode.INTERNAL, `relationship ${relationship} already points to local patient ${bound}; a relationship never changes patient`, { relationship })
      }
    },
    get: (relationship) => (byRel.get(relationship.toLowerCase()) as { patient_id: string } | undefined)?.patient_id,
    ofPatient: (patientId) => (byPatient.all(patientId) as { relationship: string }[]).map((r) => r.relationship),
    all: () => (all.all() as { relationship: string; patient_id: string }[]).map((r) => ({ relationship: r.relationship, patientId: r.patient_id })),
    count: () => Number((count.get() as { n: number }).n),
  }
}
