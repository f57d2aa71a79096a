import { readClient, type GatekeeperInfo, type Rpc } from '../api/index.ts'
import { SUMMARY_STATUSES, type Pointer } from '../../../contracts/client/index.ts'

/** One relationship this provider's gatekeeper serves, as the provider screen lists it. */
export interface ProviderRelationship {
  relationship: string
  patient: string
  identity: string | undefined
  /** The patient's decision in her Summary ('awaiting-approval', 'accepted', …). */
  status: string
  terminated: boolean
  consentRequired: boolean
  pointers: Pointer[]
}

/** How many relationships the list reads at most (each costs a few eth_calls). */
export const LIST_LIMIT = 300

/**
 * The relationships this gatekeeper serves, read from the chain: those whose endpoint is this
 * gatekeeper's (each is held by a per-relationship delegate account, not the node's own, so the
 * Relationships contract's per-provider list does not find them). Newest first, at most LIST_LIMIT.
 */
export async function providerRelationships(rpc: Rpc, info: GatekeeperInfo): Promise<ProviderRelationship[]> {
  const client = readClient(rpc)
  // one scan of the factory's RelationshipCreated logs (the contract keeps no list), the newest LIST_LIMIT
  const all = (await client.relationships.relationships({ limit: Number.MAX_SAFE_INTEGER })).slice(-LIST_LIMIT)
  const out: ProviderRelationship[] = []
  for (const relationship of all.reverse()) {
    const ppr = client.relationship(relationship)
    const info2 = await ppr.info()
    if (info2.endpoint !== info.endpoint) continue
    const [identity, entry, pointers] = await Promise.all([
      client.registrar.identityOf(info2.patient),
      info2.linked ? client.summary(info2.patientSummary).entryOf(relationship) : Promise.resolve(undefined),
      ppr.pointers({ limit: 100 }),
    ])
    out.push({
      relationship: relationship.toLowerCase(),
      patient: info2.patient,
      identity,
      status: entry?.status ?? (info2.linked ? SUMMARY_STATUSES[0] : 'not linked'),
      terminated: info2.terminated,
      consentRequired: info2.consentRequired,
      pointers,
    })
  }
  return out
}
