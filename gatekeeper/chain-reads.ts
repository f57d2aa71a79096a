import type { Address } from 'viem'
import type { MedRecClient, RelationshipClient } from '../contracts/client/index.ts'
import { GatekeeperError, GatekeeperErrorCode } from './errors.ts'
import type { RelationshipMap } from './state.ts'

/**
 * The chain reads every way of serving records shares (the signed-request server and the FHIR
 * API): reads remembered until the next head, and the relationships this gatekeeper stewards.
 */

export interface ChainReads {
  /**
   * `read()` once per head per key: the same head gives the same answer, so a burst of requests
   * pays for `canRead` and the pointer once. A failed read is forgotten at once.
   */
  atHead<T>(key: string, read: () => Promise<T>): Promise<T>
  /** Call when the head changes. */
  onHead(): void
  /**
   * A relationship this gatekeeper serves: its contract, the local patient it points to, and its
   * provider (one of this gatekeeper's accounts). NOT_FOUND otherwise.
   */
  served(relationship: string): Promise<{ ppr: RelationshipClient; patientId: string; provider: Address }>
}

export function createChainReads(modules: { client: MedRecClient; relationships: RelationshipMap; ours: (address: string) => boolean }): ChainReads {
  const { client, relationships, ours } = modules
  // The provider of a relationship never changes, and a factory-made relationship stays one; nor
  // does the local patient it points to (RelationshipMap refuses a change), nor our stewardship.
  const providerOf = new Map<string, Address>()
  const servedRels = new Map<string, Awaited<ReturnType<ChainReads['served']>>>()
  let cache = new Map<string, Promise<unknown>>()

  function atHead<T>(key: string, read: () => Promise<T>): Promise<T> {
    let p = cache.get(key) as Promise<T> | undefined
    if (p === undefined) {
      p = read()
      const c = cache
      c.set(key, p)
      p.catch(() => c.delete(key))
      if (c.size > 10_000) cache = new Map()
    }
    return p
  }

  return {
    atHead,
    onHead() {
      cache = new Map()
    },
    async served(rel) {
      const known = servedRels.get(rel)
      if (known !== undefined) return known
      const patientId = relationships.get(rel)
      if (patientId === undefined) throw new GatekeeperError(GatekeeperErrorCode.NOT_FOUND, `this gatekeeper does not serve relationship ${rel}`, { relationship: rel })
      const ppr = client.relationship(rel)
      let provider = providerOf.get(rel)
      if (provider === undefined) {
        if (!(await client.relationships.isRelationship(rel))) throw new GatekeeperError(GatekeeperErrorCode.NOT_FOUND, `${rel} is not a relationship made by the Relationships contract`, { relationship: rel })
        provider = await ppr.provider()
        providerOf.set(rel, provider)
      }
      if (!ours(provider)) throw new GatekeeperError(GatekeeperErrorCode.NOT_FOUND, `relationship ${rel} is stewarded by ${provider}, not by this gatekeeper`, { relationship: rel })
      const out = { ppr, patientId, provider }
      if (servedRels.size < 100_000) servedRels.set(rel, out)
      return out
    },
  }
}
