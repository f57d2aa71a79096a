import type { DatabaseSync } from 'node:sqlite'
import type { MedRecClient } from '../contracts/client/index.ts'
import type { BountyResult, BountyView, FetchResult, RelationshipView, ShareParams } from './api.ts'
import { cacheExpiry, type RecordCache } from './cache.ts'
import { GatekeeperError, GatekeeperErrorCode } from './errors.ts'
import { relationshipView } from './relationship-view.ts'
import type { Requester } from './requester.ts'

/**
 * What a participant does through its own node: list its relationships, accept or reject them,
 * share and revoke, fetch records into the cache, and (as a block author) list and collect
 * bounties, keeping collected results locally.
 */
export function createParticipantOps(modules: { client: MedRecClient; requester: Requester; cache: RecordCache; db: DatabaseSync; onChange(): void }) {
  const { client, requester, cache, db } = modules
  db.exec(`CREATE TABLE IF NOT EXISTS bounty_results (
    idx INTEGER PRIMARY KEY,
    collected_at INTEGER NOT NULL,
    result TEXT NOT NULL
  ) STRICT`)
  const putBounty = db.prepare('INSERT INTO bounty_results (idx, collected_at, result) VALUES (?, ?, ?) ON CONFLICT (idx) DO UPDATE SET collected_at = excluded.collected_at, result = excluded.result')
  const collected = db.prepare('SELECT idx FROM bounty_results')
  const allBounties = db.prepare('SELECT result FROM bounty_results ORDER BY idx')

  async function ownSummary() {
    const own = await client.registrar.summaryOf(client.address)
    if (own === undefined) {
      // Patients and viewers alike: without a Summary nothing reaches this account's list or watch.
      throw new GatekeeperError(GatekeeperErrorCode.NOT_FOUND, `${client.address} has no Summary (no identity is registered for it), so relationships and grants naming it do not show here or in "medrec watch". An authority registers identities, patients and third parties alike: on the provider's (an authority's) node run "medrec provider add-patient --identity ID --address ${client.address}" (a third party too, under any ID such as research-lab-7). A grant made before still reads with "medrec patient fetch --relationship ADDRESS"`)
    }
    return client.summary(own)
  }

  return {
    async relationships(): Promise<RelationshipView[]> {
      const summary = await ownSummary()
      const out: RelationshipView[] = []
      for (const e of await summary.entries({ limit: 1000 })) {
        const cached = cache.of(e.relationship).map((c) => ({ pointerId: c.pointerId, version: c.version, status: c.status, fetchedAt: c.fetchedAt }))
        out.push(await relationshipView(client, e, cached))
      }
      return out
    },

    async decide(relationship: string, accept: boolean): Promise<{ relationship: string; status: string; transaction: string }> {
      const summary = await ownSummary()
      const res = accept ? await summary.accept(relationship) : await summary.reject(relationship)
      modules.onChange()
      return { relationship: relationship.toLowerCase(), status: res.status, transaction: res.hash }
    },

    /** Marks the relationship deleted in this account's Summary (the chain keeps its history; the provider keeps its records). */
    async remove(relationship: string): Promise<{ relationship: string; status: string; transaction: string }> {
      const summary = await ownSummary()
      const res = await summary.remove(relationship)
      modules.onChange()
      return { relationship: relationship.toLowerCase(), status: res.status, transaction: res.hash }
    },

    async share(p: ShareParams): Promise<{ grantId: number; transaction: string }> {
      const res = await client.relationship(p.relationship).grant(p.viewer, p.items, p.expiresAt === undefined || p.expiresAt === 0 ? undefined : p.expiresAt)
      return { grantId: res.grantId, transaction: res.hash }
    },

    async revoke(relationship: string, viewer: string): Promise<{ transaction: string }> {
      return { transaction: (await client.relationship(relationship).revoke(viewer)).hash }
    },

    async fetch(relationship: string, pointerIds?: number[], transport?: 'http' | 'p2p'): Promise<FetchResult> {
      const res = await requester.fetchRecords(relationship, pointerIds, transport)
      // A viewer keeps the copy only as long as its grant (the watch deletes it at revocation).
      const until = await cacheExpiry(client, relationship)
      for (const p of res.pointers) cache.put(relationship, p, until)
      return res
    },

    async bounties(): Promise<BountyView[]> {
      const done = new Set((collected.all() as { idx: number }[]).map((r) => Number(r.idx)))
      const list = await client.relationships.bounties(client.address, { limit: 10_000 })
      return list.map((b, index) => ({ index, relationship: b.relationship, pointerId: b.pointerId, blockNumber: Number(b.blockNumber), timestamp: b.timestamp, query: b.query, collected: done.has(index) }))
    },

    async collectBounty(index: number): Promise<BountyResult> {
      const res = await requester.collectBounty(index)
      putBounty.run(index, Date.now(), JSON.stringify(res))
      return res
    },

    collectedBounties(): BountyResult[] {
      return (allBounties.all() as { result: string }[]).map((r) => JSON.parse(r.result) as BountyResult)
    },
  }
}
export type ParticipantOps = ReturnType<typeof createParticipantOps>
