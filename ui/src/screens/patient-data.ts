import { browserClient, browserRecords, readClient, type AuditResult, type FetchResult, type RelationshipView, type Rpc, type Session } from '../api/index.ts'
import { parseRecordQuery, type GrantState, type MedRecClient } from '../../../contracts/client/index.ts'
import { relationshipView } from '../../../gatekeeper/relationship-view.ts'

/**
 * What the patient screen does, for either kind of sign-in. The node's account: the node's
 * gatekeeper (medrec_*) acts, fetches, verifies and checks the audit log. A key in the browser:
 * the same chain actions signed here through contracts/client (accept, reject, delete, share,
 * revoke), and records and the audit log read with a request signed here, relayed by the node
 * (POST /api/gatekeeper), decrypted and checked here (gatekeeper/fetch-records.ts, fetch-audit.ts).
 */
export interface PatientData {
  /** Who signs, in words, for the signing dialogs. */
  signer: string
  relationships(): Promise<RelationshipView[]>
  decide(relationship: string, accept: boolean): Promise<string>
  share(relationship: string, viewer: string, items: { pointerId: number; fields: number[] }[], expiresAt: number): Promise<string>
  revoke(relationship: string, viewer: string): Promise<string>
  /** The people this relationship's records are shared with, and what each may read. */
  grants(relationship: string): Promise<{ viewer: string; identity: string | undefined; grant: GrantState }[]>
  consentRequired(relationship: string): Promise<boolean>
  /** A MedRec identity → its account, from the Registrar; undefined when not registered. */
  resolve(identity: string): Promise<string | undefined>
  identityOf(address: string): Promise<string | undefined>
  /** Deletes an entry from her Summary (the chain keeps the record of it). */
  remove(relationship: string): Promise<string>
  fetch(relationship: string): Promise<FetchResult>
  audit(relationship: string): Promise<AuditResult>
}

export function patientData(session: Session, rpc: Rpc): PatientData {
  const client: MedRecClient = session.kind === 'browser' ? browserClient(rpc, session.privateKey) : readClient(rpc)
  const reads = {
    async grants(relationship: string) {
      const ppr = client.relationship(relationship)
      const viewers = await ppr.viewers({ limit: 200 })
      return Promise.all(viewers.map(async (viewer) => ({ viewer, identity: await client.registrar.identityOf(viewer), grant: await ppr.grantOf(viewer) })))
    },
    async consentRequired(relationship: string) {
      return (await client.relationship(relationship).info()).consentRequired
    },
    async resolve(identity: string) {
      return (await client.registrar.resolve(identity))?.participant
    },
    identityOf: (address: string) => client.registrar.identityOf(address),
  }
  if (session.kind === 'node') {
    return {
      ...reads,
      signer: `this node's account ${session.account} (the node signs)`,
      relationships: () => rpc.medrec('medrec_relationships'),
      decide: async (relationship, accept) => (await rpc.medrec(accept ? 'medrec_accept' : 'medrec_reject', { relationship })).transaction,
      remove: async (relationship) => (await rpc.medrec('medrec_delete', { relationship })).transaction,
      share: async (relationship, viewer, items, expiresAt) => (await rpc.medrec('medrec_share', { relationship, viewer, items, expiresAt })).transaction,
      revoke: async (relationship, viewer) => (await rpc.medrec('medrec_revoke', { relationship, viewer })).transaction,
      fetch: (relationship) => rpc.medrec('medrec_fetch', { relationship }),
      audit: (relationship) => rpc.medrec('medrec_audit', { relationship }),
    }
  }
  return {
    ...reads,
    signer: `the key in this browser, account ${session.account} (signed here; the node only relays the transaction)`,
    async relationships() {
      const entries = await client.summary().entries({ limit: 1000 })
      return Promise.all(entries.map((e) => relationshipView(client, e, [])))
    },
    async decide(relationship, accept) {
      const summary = client.summary()
      return (accept ? await summary.accept(relationship) : await summary.reject(relationship)).hash
    },
    remove: async (relationship) => (await client.summary().remove(relationship)).hash,
    share: async (relationship, viewer, items, expiresAt) => (await client.relationship(relationship).grant(viewer, items, expiresAt === 0 ? undefined : expiresAt)).hash,
    revoke: async (relationship, viewer) => (await client.relationship(relationship).revoke(viewer)).hash,
    ...browserRecords(client, session),
  }
}

/** A pointer's stored query as its resource type and field names; undefined when it is outside the grammar. */
export function queryOf(text: string): { resourceType: string; fields: readonly string[] } | undefined {
  try {
    return parseRecordQuery(text).query
  } catch {
    return undefined
  }
}

/** Plain words for a Summary status. */
export const STATUS_WORDS: Record<string, string> = {
  'awaiting-approval': 'Waiting for your approval',
  'update-pending': 'New records waiting for your approval',
  accepted: 'Accepted',
  rejected: 'Rejected',
  deleted: 'Deleted',
}
