import { getAddress, recoverMessageAddress, type Address, type Hex } from 'viem'
import { fieldsOfMask, parseRecordQuery, type MedRecClient } from '../contracts/client/index.ts'
import { errorMessage, fromHex } from '../common/index.ts'
import type { AuditEntryView, AuditResult, BountyResult, FetchedPointer, FetchResult } from './api.ts'
import { checkAuditView, type AuditEntry } from './audit.ts'
import { verifyRecords } from './commitment.ts'
import { decryptWith } from './ecies.ts'
import { fromWireCode, GatekeeperError, GatekeeperErrorCode } from './errors.ts'
import { newRequest, signRequest } from './request.ts'
import { bountyResultHash, type AuditPayload, type BountyPayload, type GatekeeperReply, type RecordsPayload } from './serve.ts'
import type { FhirResource, GatekeeperRequest, RequestMethod } from './types.ts'

/** The libp2p protocol the gatekeeper serves on the node's host. */
export const GATEKEEPER_PROTOCOL = '/medrec/gatekeeper/1'

export interface RequesterModules {
  /** Chain reads at this node's head, as the requesting account. */
  client: MedRecClient
  privateKey: Hex
  chainId: bigint
  /** One request over libp2p to a `/p2p/`-terminated multiaddr; absent when this node runs without p2p. */
  p2pRequest?: (multiaddr: string, body: Uint8Array) => Promise<Uint8Array>
  timeoutMs?: number
}

export type Transport = 'http' | 'p2p'

/**
 * The requesting side: finds a relationship's gatekeeper through the chain (the PPR's endpoint,
 * else the provider's Registrar entry), signs a request bound to it, sends it over HTTP or libp2p,
 * decrypts the reply and checks every record against the hash on this node's own chain.
 */
export function createRequester(modules: RequesterModules) {
  const { client } = modules
  const timeoutMs = modules.timeoutMs ?? 15_000
  const privateKeyBytes = fromHex(modules.privateKey)

  /**
   * The relationship's own endpoint (for a delegate's relationship, the relay of its verifying
   * authority), else the provider's Registrar entry; `prefer` picks the transport: the
   * relationship's endpoint when it is of that kind, else the entry's.
   */
  async function endpointOf(gatekeeper: Address, relationship?: string, prefer?: Transport): Promise<string> {
    if (relationship !== undefined) {
      const own = await client.relationship(relationship).endpoint()
      if (own !== '' && (prefer === undefined || (prefer === 'p2p') === own.startsWith('/'))) return own
    }
    const entry = await client.registrar.provider(gatekeeper)
    if (prefer === 'p2p' && entry.multiaddr === '') throw new GatekeeperError(GatekeeperErrorCode.NOT_FOUND, `provider ${gatekeeper} publishes no libp2p multiaddr in the Registrar`, { gatekeeper })
    if (prefer === 'http' && entry.url === '') throw new GatekeeperError(GatekeeperErrorCode.NOT_FOUND, `provider ${gatekeeper} publishes no HTTP URL in the Registrar`, { gatekeeper })
    const found = prefer === 'p2p' || (prefer === undefined && entry.url === '') ? entry.multiaddr : entry.url
    if (found === '') throw new GatekeeperError(GatekeeperErrorCode.NOT_FOUND, `provider ${gatekeeper} publishes no gatekeeper endpoint in the Registrar`, { gatekeeper })
    return found
  }

  async function send(endpoint: string, body: unknown): Promise<{ reply: GatekeeperReply['body']; transport: Transport }> {
    const bytes = new TextEncoder().encode(JSON.stringify(body))
    if (endpoint.startsWith('/')) {
      if (modules.p2pRequest === undefined) throw new GatekeeperError(GatekeeperErrorCode.UNREACHABLE, `the gatekeeper is at ${endpoint} (libp2p) but this node runs without p2p: start it with --p2p.port`)
      let raw: Uint8Array
      try {
        raw = await modules.p2pRequest(endpoint, bytes)
      } catch (err) {
        throw new GatekeeperError(GatekeeperErrorCode.UNREACHABLE, `cannot reach the gatekeeper at ${endpoint}: ${errorMessage(err)}`, { endpoint }, err)
      }
      return { reply: parseReply(new TextDecoder().decode(raw), endpoint), transport: 'p2p' }
    }
    if (!/^https?:\/\//.test(endpoint)) throw new GatekeeperError(GatekeeperErrorCode.UNREACHABLE, `unusable gatekeeper endpoint ${JSON.stringify(endpoint)}: expected an http(s) URL or a /p2p/ multiaddr`)
    let text: string
    try {
      const res = await fetch(`${endpoint.replace(/\/+$/, '')}/v1/requests`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: bytes,
        signal: AbortSignal.timeout(timeoutMs),
      })
      text = await res.text()
    } catch (err) {
      throw new GatekeeperError(GatekeeperErrorCode.UNREACHABLE, `cannot reach the gatekeeper at ${endpoint}: ${errorMessage(err)}`, { endpoint }, err)
    }
    return { reply: parseReply(text, endpoint), transport: 'http' }
  }

  async function ask<T>(gatekeeper: Address, endpoint: string, fields: Omit<Parameters<typeof newRequest>[0], 'gatekeeper' | 'method'>, method: RequestMethod): Promise<{ payload: T; transport: Transport }> {
    const req: GatekeeperRequest = newRequest({ gatekeeper, method, ...fields })
    const signed = signRequest(modules.privateKey, modules.chainId, req)
    const { reply, transport } = await send(endpoint, signed)
    if (!reply.ok) {
      // A code this node does not know (a newer gatekeeper's) still refuses; remoteCode keeps it.
      const code = fromWireCode(reply.error.code) ?? GatekeeperErrorCode.UNREACHABLE
      throw new GatekeeperError(code, `the gatekeeper of ${gatekeeper} refused: ${reply.error.message}`, { remoteCode: reply.error.code, ...(reply.error.retryAfter === undefined ? {} : { retryAfter: reply.error.retryAfter }) })
    }
    const plain = decryptWith(privateKeyBytes, reply.encrypted)
    try {
      return { payload: JSON.parse(new TextDecoder().decode(plain)) as T, transport }
    } catch {
      throw new GatekeeperError(GatekeeperErrorCode.UNREACHABLE, `the gatekeeper of ${gatekeeper} sent an unreadable payload`)
    }
  }

  return {
    endpointOf,

    /** Every pointer (or the given ones) with every field this account may read, checked against the chain. */
    async fetchRecords(relationship: string, pointerIds?: number[], transport?: Transport): Promise<FetchResult> {
      const ppr = client.relationship(relationship)
      const info = await ppr.info()
      const self = client.address.toLowerCase()
      const party = self === info.patient.toLowerCase() || self === info.provider.toLowerCase()
      let items: { pointerId: number; mask: bigint }[]
      if (party) {
        const count = await ppr.pointerCount()
        const ids = pointerIds ?? Array.from({ length: count }, (_, i) => i)
        items = []
        for (const id of ids) items.push({ pointerId: id, mask: (1n << BigInt((await ppr.pointer(id)).fieldCount)) - 1n })
      } else {
        const grant = await ppr.grantOf(client.address)
        if (!grant.active) throw new GatekeeperError(GatekeeperErrorCode.FORBIDDEN, `${client.address} holds no active grant on ${relationship}`)
        items = grant.items
          .filter((g) => pointerIds === undefined || pointerIds.includes(g.pointerId))
          .map((g) => ({ pointerId: g.pointerId, mask: g.fields.reduce((m, f) => m | (1n << BigInt(f)), 0n) }))
      }
      if (items.length === 0) throw new GatekeeperError(GatekeeperErrorCode.NOT_FOUND, `nothing to fetch on ${relationship}: no pointers${party ? '' : ' granted'}`)
      const endpoint = await endpointOf(info.provider, relationship, transport)
      const { payload, transport: used } = await ask<RecordsPayload>(info.provider, endpoint, { relationship: relationship as Address, pointerIds: items.map((i) => BigInt(i.pointerId)), fieldMasks: items.map((i) => i.mask) }, 'records')
      const pointers: FetchedPointer[] = []
      for (const item of items) {
        const got = payload.pointers?.find((p) => p.pointerId === item.pointerId)
        if (got === undefined) throw new GatekeeperError(GatekeeperErrorCode.UNREACHABLE, `the gatekeeper left out pointer ${item.pointerId}`)
        // The hash and fields come from this node's chain, never from the gatekeeper's reply.
        const onChain = await ppr.pointer(item.pointerId)
        const query = parseRecordQuery(onChain.query).query
        const fields = query.fields
        const granted = [...got.fields].sort((a, b) => a - b)
        const resources = (got.bundle?.entry ?? []).map((e) => e.resource as FhirResource)
        const asked = fieldsOfMask(item.mask)
        const sameFields = granted.length === asked.length && granted.every((f, i) => f === asked[i])
        let ok = false
        try {
          // The commitments cover ids and values; the type comes from the query on chain.
          const sameType = resources.every((r) => r !== null && typeof r === 'object' && r.resourceType === query.resourceType)
          ok = sameFields && sameType && verifyRecords({ fields: [...fields], resources, granted, proof: got.proof, dataHash: onChain.dataHash })
        } catch {
          ok = false
        }
        pointers.push({ pointerId: item.pointerId, version: onChain.version, fields: granted, status: ok ? 'verified' : 'tampered', dataHash: onChain.dataHash, bundle: got.bundle })
      }
      return { relationship: relationship.toLowerCase(), gatekeeper: info.provider, transport: used, pointers }
    },

    /** Collects bounty #index of this account from the provider that stewards its relationship. */
    async collectBounty(index: number): Promise<BountyResult> {
      const [b] = await client.relationships.bounties(client.address, { offset: index, limit: 1 })
      if (b === undefined) throw new GatekeeperError(GatekeeperErrorCode.NOT_FOUND, `${client.address} owns no bounty #${index}: see "medrec bounty list"`)
      const provider = await client.relationship(b.relationship).provider()
      const endpoint = await endpointOf(provider, b.relationship)
      const { payload } = await ask<BountyPayload>(provider, endpoint, { relationship: b.relationship, pointerIds: [BigInt(b.pointerId)], index: BigInt(index) }, 'bounty')
      const signer = await recoverMessageAddress({ message: { raw: bountyResultHash(payload.result) }, signature: payload.signature })
      if (signer.toLowerCase() !== provider.toLowerCase()) throw new GatekeeperError(GatekeeperErrorCode.TAMPERED, `the bounty result is signed by ${signer}, not by the provider ${provider}`)
      const r = payload.result
      return { index, relationship: r.relationship, provider, k: r.k, cells: r.cells, suppressed: r.suppressed, computedAt: r.computedAt, ...(r.repeats === undefined ? {} : { repeats: r.repeats }), signature: payload.signature, signer: getAddress(signer) }
    },

    /**
     * The gatekeeper's audit entries about this account's relationships there, checked against
     * the gatekeeper's latest anchor read from this node's own chain: the whole chain is
     * recomputed from every entry's commitment (only this account's entries are opened), so an
     * entry dropped, edited or inserted before the anchor shows as a mismatch.
     */
    async audit(relationship?: string, gatekeeper?: string): Promise<AuditResult> {
      const gk = gatekeeper !== undefined ? getAddress(gatekeeper) : relationship !== undefined ? await client.relationship(relationship).provider() : undefined
      if (gk === undefined) throw new GatekeeperError(GatekeeperErrorCode.BAD_REQUEST, 'name a relationship or a gatekeeper (provider account) to read the audit log of')
      const endpoint = await endpointOf(gk, relationship)
      // Read before the request: an anchor on chain is of a head the gatekeeper held earlier, so the view reaches it.
      const anchor = await client.registrar.latestAuditAnchor(gk)
      const { payload } = await ask<AuditPayload>(gk, endpoint, { relationship: (relationship ?? '0x0000000000000000000000000000000000000000') as Address }, 'audit')
      const check = checkAuditView(payload.view, anchor === undefined ? undefined : { seq: anchor.seq, hash: anchor.head })
      const view = payload.view as Partial<AuditPayload['view']> | undefined
      const raw: AuditEntry[] = Array.isArray(view?.entries) ? view.entries : []
      const through = anchor?.seq ?? 0
      const entries: AuditEntryView[] = raw.map((e) => ({
        seq: e.seq, time: e.time, requester: e.requester, method: e.method, relationship: e.relationship, pointerIds: e.pointerIds, fieldMasks: e.fieldMasks,
        decision: e.decision, reason: e.reason, hash: e.hash, prevHash: e.prevHash, covered: check.anchor !== 'none' && e.seq <= through,
      }))
      const covered = entries.filter((e) => e.covered).length
      return {
        gatekeeper: gk,
        entries,
        head: { seq: Number(view?.head?.seq ?? 0), hash: String(view?.head?.hash ?? '') },
        linked: check.linked,
        problem: check.problem,
        anchor: anchor === undefined ? null : { seq: anchor.seq, head: anchor.head, blockNumber: Number(anchor.blockNumber), transaction: anchor.transaction },
        covered: { throughSeq: check.anchor === 'none' ? 0 : through, status: check.anchor, entries: covered },
        uncovered: { fromSeq: (check.anchor === 'none' ? Number(view?.base?.seq ?? 0) : through) + 1, entries: entries.length - covered },
      }
    },
  }
}

export type Requester = ReturnType<typeof createRequester>

function parseReply(text: string, endpoint: string): GatekeeperReply['body'] {
  let body: unknown
  try {
    body = JSON.parse(text)
  } catch {
    throw new GatekeeperError(GatekeeperErrorCode.UNREACHABLE, `${endpoint} did not answer with gatekeeper JSON: ${text.slice(0, 120)}`)
  }
  const b = body as GatekeeperReply['body']
  if (b === null || typeof b !== 'object' || (b.ok !== true && b.ok !== false)) throw new GatekeeperError(GatekeeperErrorCode.UNREACHABLE, `${endpoint} answered with something that is not a gatekeeper reply`)
  return b
}
