import type { DatabaseSync } from 'node:sqlite'
import type { FhirResource } from '../types.ts'

// Records the provider has written but the chain does not name yet. A new version of a pointer's
// records is kept here, in the record database but apart from the served tables, from before its
// chain update is sent until the chain holds its hash: then it moves into the served tables in one
// transaction (promote). Until then requests are served the version the chain names, so a failed,
// reverted or lost update (or a crash in between) never makes the served records disagree with
// the hash on chain. An additive table: the schema version does not change.

/** A new version of one pointer's records, waiting for its chain update. */
export interface StagedRecords {
  patientId: string
  /** Lowercase relationship address. */
  relationship: string
  pointerId: number
  /** The pointer version the update creates. */
  version: number
  /** The hash the update puts on chain. */
  dataHash: string
  /** The resources to upsert once the chain holds `dataHash`. */
  resources: readonly FhirResource[]
}

export interface StagedBatch extends StagedRecords {
  id: number
  createdAt: number
}

const DDL = `
CREATE TABLE IF NOT EXISTS staged_records (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  patient_id TEXT NOT NULL,
  relationship TEXT NOT NULL,
  pointer_id INTEGER NOT NULL,
  version INTEGER NOT NULL,
  data_hash TEXT NOT NULL,
  resources TEXT NOT NULL,
  created_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS staged_records_pointer ON staged_records (relationship, pointer_id);
`

type Row = { id: number; patient_id: string; relationship: string; pointer_id: number; version: number; data_hash: string; resources: string; created_at: number }

function batchOf(row: Record<string, unknown>): StagedBatch {
  const r = row as Row
  return {
    id: Number(r.id),
    patientId: String(r.patient_id),
    relationship: String(r.relationship),
    pointerId: Number(r.pointer_id),
    version: Number(r.version),
    dataHash: String(r.data_hash),
    resources: JSON.parse(String(r.resources)) as FhirResource[],
    createdAt: Number(r.created_at),
  }
}

/** The staging table on the store's writer connection (created on first use). */
export function createStagingTable(db: DatabaseSync) {
  db.exec(DDL)
  // Read before every served pointer (publish.ts settle): prepared once.
  const ofStmt = db.prepare('SELECT * FROM staged_records WHERE relationship = ? AND pointer_id = ? ORDER BY id')
  return {
    add(b: StagedRecords): number {
      const res = db
        .prepare('INSERT INTO staged_records (patient_id, relationship, pointer_id, version, data_hash, resources, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)')
        .run(b.patientId, b.relationship.toLowerCase(), b.pointerId, b.version, b.dataHash.toLowerCase(), JSON.stringify(b.resources), Date.now())
      return Number(res.lastInsertRowid)
    },
    get(id: number): StagedBatch | undefined {
      const row = db.prepare('SELECT * FROM staged_records WHERE id = ?').get(id)
      return row === undefined ? undefined : batchOf(row)
    },
    of(relationship: string, pointerId: number): StagedBatch[] {
      return ofStmt.all(relationship.toLowerCase(), pointerId).map(batchOf)
    },
    remove(id: number): void {
      db.prepare('DELETE FROM staged_records WHERE id = ?').run(id)
    },
  }
}
