import type { DatabaseSync } from 'node:sqlite'
import type { ImportParams, ImportResult } from './api.ts'
import type { PostgresRecordStore, SqliteRecordStore } from './db/index.ts'
import { GatekeeperError, GatekeeperErrorCode } from './errors.ts'
import { createIdentityBook } from './identity-book.ts'
import type { ExternalRecords, ProviderOps } from './provider.ts'

/**
 * The provider's records as provider.ts's flows use them when they live in the provider's own
 * PostgreSQL database (--gatekeeper.records): patients exist there already, records are written
 * through the mapping (importBundle) and hashed over what the database then holds. The identity ↔
 * patient book goes into the gatekeeper's state database (`state`), not the provider's tables;
 * identities bound in the embedded store (`embedded`, before a move to PostgreSQL) still hold.
 */
export function postgresProviderRecords(records: PostgresRecordStore, state: DatabaseSync, embedded: SqliteRecordStore): ExternalRecords {
  return {
    query: (patientId, q) => records.query(patientId, q),
    hasPatient: (patientId) => records.hasPatient(patientId),
    async write(resources) {
      // Elements the mapping has no column for are reported (and logged) by the import; the hash covers what was stored.
      await records.importBundle({ resourceType: 'Bundle', type: 'collection', entry: resources.map((resource) => ({ resource })) })
    },
    identities: createIdentityBook(state, { patientOf: (identity) => embedded.patientByIdentity(identity)?.id, identityOf: (patientId) => embedded.identityOf(patientId) }),
  }
}

/**
 * The provider's flows in PostgreSQL mode: imports go into the mapped tables, and `publish: true`
 * then re-hashes the pointers over them (the ops were made with postgresProviderRecords).
 */
export function providerOnPostgres(ops: ProviderOps, records: PostgresRecordStore): ProviderOps {
  return {
    ...ops,
    async import(p: ImportParams): Promise<ImportResult> {
      let result: ImportResult
      if (p.bundle !== undefined) result = await records.importBundle(p.bundle)
      else if (p.csv !== undefined && p.resourceType !== undefined) result = await records.importCsv(p.resourceType, p.csv)
      else throw new GatekeeperError(GatekeeperErrorCode.BAD_REQUEST, 'give a FHIR bundle, or CSV text with its resourceType')
      return p.publish === true ? { ...result, update: await ops.update({}) } : result
    },
  }
}
