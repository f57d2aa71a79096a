/**
 * A relationship as its account sees it, read from the chain: the PPR's parties and pointers, and
 * this account's grant when it is a viewer. Pure (the contracts client only), so the node's
 * participant and the browser app build the same view.
 */
import type { MedRecClient, SummaryEntry } from '../contracts/client/index.ts'
import type { RelationshipView } from './api.ts'

/** The view of one Summary entry of `client.address`; `cached` is what the caller holds of its records. */
export async function relationshipView(client: MedRecClient, e: SummaryEntry, cached: RelationshipView['cached']): Promise<RelationshipView> {
  const ppr = client.relationship(e.relationship)
  const info = await ppr.info()
  const pointers = (await ppr.pointers({ limit: 1000 })).map((p) => ({ pointerId: p.pointerId, query: p.query, fieldCount: p.fieldCount, dataHash: p.dataHash, version: p.version }))
  const view: RelationshipView = {
    relationship: e.relationship.toLowerCase(),
    role: e.role,
    status: e.status,
    provider: info.provider,
    patient: info.patient,
    endpoint: info.endpoint,
    terminated: info.terminated,
    pointers,
    cached,
  }
  if (e.role === 'viewer') {
    const g = await ppr.grantOf(client.address)
    view.grant = { grantId: g.grantId, expiresAt: g.expiresAt, active: g.active, items: g.items }
  }
  return view
}
