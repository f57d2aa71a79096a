import { createLogger, errorMessage } from '../common/index.ts'
import type { SqliteRecordStore, StagedRecords } from './db/index.ts'
import { GatekeeperError, GatekeeperErrorCode } from './errors.ts'

const log = createLogger('gatekeeper:publish')

/** A pointer as the chain has it now. */
export interface PointerOnChain {
  version: number
  dataHash: string
}

/**
 * The provider's records and the hashes on chain change together or not at all. A new version
 * is staged (kept aside durably, not served), then the chain update is sent; only when the chain
 * holds the new hash do the records move into the served tables. A failed, reverted or lost
 * update, or a crash anywhere in between, leaves the version the chain names served, so a
 * requester never sees records that disagree with the hash on chain ("tampered").
 */
export function createPublisher(store: SqliteRecordStore) {
  /**
   * Applies what the chain decided about a pointer's staged versions: the one whose hash it now
   * holds is promoted (its update landed, perhaps after a crash or a lost receipt), those it has
   * moved past with another hash are dropped (their update never landed), later ones wait.
   */
  function settle(relationship: string, pointerId: number, onChain: PointerOnChain): void {
    for (const b of store.staged(relationship, pointerId)) {
      if (b.version === onChain.version && b.dataHash === onChain.dataHash.toLowerCase()) {
        if (store.promote(b.id)) log.info('Staged records promoted: the chain holds their hash', { relationship, pointerId, version: b.version })
      } else if (b.version <= onChain.version) {
        store.discard(b.id)
        log.info('Staged records dropped: the chain moved past their version with another hash', { relationship, pointerId, version: b.version })
      }
    }
  }

  /**
   * Stages `batch`, runs `update` (the chain update that puts `batch.dataHash` on chain) and then
   * serves the new records. When the update fails the previous version stays served and the
   * caller learns why; the batch stays staged in case the transaction still lands.
   */
  async function publish<T>(batch: StagedRecords, update: () => Promise<T>): Promise<T> {
    const id = store.stage(batch)
    let result: T
    try {
      result = await update()
    } catch (err) {
      throw new GatekeeperError(
        GatekeeperErrorCode.CHAIN_UPDATE_FAILED,
        `the chain did not take the new version ${batch.version} of pointer ${batch.pointerId} of ${batch.relationship}: ${errorMessage(err)}; the previous version is still served (the new records are kept aside and served only if that transaction still lands): fix the cause and add the records again`,
        { relationship: batch.relationship, pointerId: batch.pointerId, version: batch.version },
        err,
      )
    }
    store.promote(id)
    return result
  }

  return { settle, publish }
}

export type Publisher = ReturnType<typeof createPublisher>

/**
 * For records in the provider's own database (PostgreSQL): nothing is staged. The provider's own
 * systems write those tables too, and what is served is whatever the database holds, so a staged
 * copy could not stay what is served; the records are written first, then the chain update is
 * sent. A failed update leaves the hash on chain behind the records (readers see "tampered")
 * until `medrec provider update` publishes it again, which the error says.
 */
export function createUnstagedPublisher(): Publisher {
  return {
    settle(): void {},
    async publish<T>(batch: StagedRecords, update: () => Promise<T>): Promise<T> {
      try {
        return await update()
      } catch (err) {
        throw new GatekeeperError(
          GatekeeperErrorCode.CHAIN_UPDATE_FAILED,
          `the chain did not take the new version ${batch.version} of pointer ${batch.pointerId} of ${batch.relationship}: ${errorMessage(err)}; the records are already in the provider's database and served, so readers see them as tampered until the hash is published: fix the cause and run "medrec provider update"`,
          { relationship: batch.relationship, pointerId: batch.pointerId, version: batch.version },
          err,
        )
      }
    },
  }
}
