import type { DatabaseSync } from 'node:sqlite'
import { GatekeeperError, GatekeeperErrorCode } from './errors.ts'

/**
 * Which MedRec identity each local patient has, for a record source that cannot hold it: the
 * provider's own PostgreSQL tables are theirs, so the book lives in the gatekeeper's state
 * (beside the relationship map). One identity per patient and one patient per identity.
 * `earlier` is the book kept before (the embedded store's, for a provider that moved its records
 * to PostgreSQL): its bindings still count, and are never contradicted.
 */
export interface IdentityBook {
  /** Refuses (BAD_REQUEST) a binding that would give the patient or the identity a second partner. */
  check(identity: string, patientId: string): void
  /** Binds `identity` to `patientId`, checked as `check` does; binding the same pair again is a no-op. */
  bind(identity: string, patientId: string): void
  patientOf(identity: string): string | undefined
  identityOf(patientId: string): string | undefined
}

export interface EarlierIdentities {
  patientOf(identity: string): string | undefined
  identityOf(patientId: string): string | undefined
}

export function createIdentityBook(db: DatabaseSync, earlier?: EarlierIdentities): IdentityBook {
  db.exec(`CREATE TABLE IF NOT EXISTS patient_identities (
    identity TEXT PRIMARY KEY,
    patient_id TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL
  ) STRICT;`)
  const insert = db.prepare('INSERT INTO patient_identities (identity, patient_id, created_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING')
  const byIdentity = db.prepare('SELECT patient_id FROM patient_identities WHERE identity = ?')
  const byPatient = db.prepare('SELECT identity FROM patient_identities WHERE patient_id = ?')
  const patientOf = (identity: string) => (byIdentity.get(identity) as { patient_id: string } | undefined)?.patient_id ?? earlier?.patientOf(identity)
  const identityOf = (patientId: string) => (byPatient.get(patientId) as { identity: string } | undefined)?.identity ?? earlier?.identityOf(patientId)
  function check(identity: string, patientId: string): void {
    const held = identityOf(patientId)
    if (held !== undefined && held !== identity) {
      throw new GatekeeperError(GatekeeperErrorCode.BAD_REQUEST, `local patient ${JSON.stringify(patientId)} already has the MedRec identity ${JSON.stringify(held)}; a patient has one identity: add records by that identity or by patient id`, { patientId })
    }
    const bound = patientOf(identity)
    if (bound !== undefined && bound !== patientId) {
      throw new GatekeeperError(GatekeeperErrorCode.BAD_REQUEST, `identity ${JSON.stringify(identity)} already belongs to local patient ${JSON.stringify(bound)}; an identity names one patient`, { identity })
    }
  }
  return {
    check,
    bind(identity, patientId) {
      check(identity, patientId)
      insert.run(identity, patientId, Date.now())
    },
    patientOf,
    identityOf,
  }
}
