import { getAddress, recoverMessageAddress, type Address, type Hex } from 'viem'
import type { MedRecClient } from '../contracts/client/index.ts'
import { errorMessage } from '../common/index.ts'
import type { AuditResult, BountyResult, FetchResult } from './api.ts'
import { GatekeeperError, GatekeeperErrorCode, isGatekeeperError } from './errors.ts'
import { fetchAudit } from './fetch-audit.ts'
import { askGatekeeper, fetchRecords, type FetchModules, type Transport } from './fetch-records.ts'
import { parseSignedRequest, type newRequest } from './request.ts'
import { bountyResultHash, type BountyPayload, type GatekeeperReply } from './serve.ts'
import { pinnedRequest } from './tls-pin.ts'
import type { RequestMethod } from './types.ts'

export type { Transport } from './fetch-records.ts'

const ZERO = '0x0000000000000000000000000000000000000000'

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


/**
 * The requesting side: finds a relationship's gatekeeper through the chain (the PPR's endpoint,
 * else the provider's Registrar entry), signs a request bound to it, sends it over HTTP or libp2p,
 * decrypts the reply and checks every record against the hash on this node's own chain.
 */
export function createRequester(modules: RequesterModules) {
  const { client } = modules
  const timeoutMs = modules.timeoutMs ?? 15_000

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

  /**
   * The certificate an https endpoint of `gatekeeper` must present: the fingerprint its Registrar
   * entry publishes with that URL (pinned: the CA store plays no part). An entry that publishes
   * none (a gatekeeper behind a TLS-terminating proxy with a CA's certificate), or an endpoint that
   * is not the entry's URL, leaves the CA store to decide, as for any https site.
   */
  async function pinOf(gatekeeper: Address, endpoint: string): Promise<Hex | undefined> {
    if (!endpoint.startsWith('https://')) return undefined
    const entry = await client.registrar.provider(gatekeeper)
    return entry.url !== '' && new URL(entry.url).origin === new URL(endpoint).origin ? entry.tlsFingerprint : undefined
  }

  async function send(endpoint: string, body: unknown, gatekeeper: Address): Promise<{ reply: GatekeeperReply['body']; transport: Transport }> {
    const { text, transport } = await exchange(endpoint, new TextEncoder().encode(JSON.stringify(body)), await pinOf(gatekeeper, endpoint))
    return { reply: parseReply(text, endpoint), transport }
  }

  /** One request's bytes to `endpoint` over HTTP or libp2p; the reply's text as it came. */
  async function exchange(endpoint: string, bytes: Uint8Array, pin: Hex | undefined): Promise<{ text: string; transport: Transport }> {
    if (endpoint.startsWith('/')) {
      if (modules.p2pRequest === undefined) throw new GatekeeperError(GatekeeperErrorCode.UNREACHABLE, `the gatekeeper is at ${endpoint} (libp2p) but this node runs without p2p: start it with --p2p.port`)
      let raw: Uint8Array
      try {
        raw = await modules.p2pRequest(endpoint, bytes)
      } catch (err) {
        throw new GatekeeperError(GatekeeperErrorCode.UNREACHABLE, `cannot reach the gatekeeper at ${endpoint}: ${errorMessage(err)}`, { endpoint }, err)
      }
      return { text: new TextDecoder().decode(raw), transport: 'p2p' }
    }
    if (!/^https?:\/\//.test(endpoint)) throw new GatekeeperError(GatekeeperErrorCode.UNREACHABLE, `unusable gatekeeper endpoint ${JSON.stringify(endpoint)}: expected an http(s) URL or a /p2p/ multiaddr`)
    let text: string
    if (pin !== undefined) {
      try {
        text = (await pinnedRequest(`${endpoint.replace(/\/+$/, '')}/v1/requests`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: bytes, fingerprint: pin, timeoutMs })).text
      } catch (err) {
        if (isGatekeeperError(err, GatekeeperErrorCode.TLS_PIN_MISMATCH)) throw err
        throw new GatekeeperError(GatekeeperErrorCode.UNREACHABLE, `cannot reach the gatekeeper at ${endpoint}: ${errorMessage(err)}`, { endpoint }, err)
      }
      return { text, transport: 'http' }
    }
    try {
      const res = await fetch(`${endpoint.replace(/\/+$/, '')}/v1/requests`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: bytes,
        signal: AbortSignal.timeout(timeoutMs),
      })
      text = await res.text()
    } catch (err) {
      throw new GatekeeperError(GatekeeperErrorCode.UNREACHABLE, `cannot reach the gatekeeper at ${endpoint}: ${errorMessage(err)}${err instanceof Error && err.cause !== undefined ? ` (${errorMessage(err.cause)})` : ''}`, { endpoint }, err)
    }
    return { text, transport: 'http' }
  }

  const fetchModules: FetchModules = {
    client,
    privateKey: modules.privateKey,
    chainId: modules.chainId,
    send: async ({ relationship, gatekeeper, signed, transport }) => send(await endpointOf(gatekeeper, relationship === ZERO ? undefined : relationship, transport), signed, gatekeeper),
  }
  const ask = <T>(gatekeeper: Address, fields: Omit<Parameters<typeof newRequest>[0], 'gatekeeper' | 'method'>, method: RequestMethod): Promise<{ payload: T; transport: Transport }> =>
    askGatekeeper<T>(fetchModules, gatekeeper, fields, method)

  return {
    endpointOf,

    /**
     * Passes a request signed elsewhere (the browser app's key) to the gatekeeper of
     * `relationship`, found on this node's chain like every request of ours: the page names a
     * relationship, never an endpoint. Only a relationship the Relationships contract created,
     * and only a well-formed request about it, is forwarded; the gatekeeper checks the
     * signature and the grant, and its reply (encrypted to the signer) comes back as it came.
     */
    async relay(relationship: string, signed: unknown): Promise<{ reply: string; transport: Transport }> {
      if (typeof relationship !== 'string' || !/^0x[0-9a-fA-F]{40}$/.test(relationship)) throw new GatekeeperError(GatekeeperErrorCode.BAD_REQUEST, 'relationship must be an address (0x + 40 hex)')
      const parsed = parseSignedRequest(signed)
      if (parsed.request.relationship.toLowerCase() !== relationship.toLowerCase()) throw new GatekeeperError(GatekeeperErrorCode.BAD_REQUEST, `the request is about ${parsed.request.relationship}, not the relationship ${relationship} it is sent for`)
      if (!(await client.relationships.isRelationship(relationship))) throw new GatekeeperError(GatekeeperErrorCode.NOT_FOUND, `${relationship} is not a relationship created by the Relationships contract on this chain: check the address`, { relationship })
      const provider = await client.relationship(relationship).provider()
      const endpoint = await endpointOf(provider, relationship)
      const { text, transport } = await exchange(endpoint, new TextEncoder().encode(JSON.stringify(signed)), await pinOf(provider, endpoint))
      parseReply(text, endpoint) // only a gatekeeper's reply goes back to the page
      return { reply: text, transport }
    },

    /** Every pointer (or the given ones) with every field this account may read, checked against the chain (fetch-records.ts). */
    fetchRecords: (relationship: string, pointerIds?: number[], transport?: Transport): Promise<FetchResult> => fetchRecords(fetchModules, relationship, pointerIds, transport),

    /** Collects bounty #index of this account from the provider that stewards its relationship. */
    async collectBounty(index: number): Promise<BountyResult> {
      const [b] = await client.relationships.bounties(client.address, { offset: index, limit: 1 })
      if (b === undefined) throw new GatekeeperError(GatekeeperErrorCode.NOT_FOUND, `${client.address} owns no bounty #${index}: see "medrec bounty list"`)
      const provider = await client.relationship(b.relationship).provider()
      const { payload } = await ask<BountyPayload>(provider, { relationship: b.relationship, pointerIds: [BigInt(b.pointerId)], index: BigInt(index) }, 'bounty')
      const signer = await recoverMessageAddress({ message: { raw: bountyResultHash(payload.result) }, signature: payload.signature })
      if (signer.toLowerCase() !== provider.toLowerCase()) throw new GatekeeperError(GatekeeperErrorCode.TAMPERED, `the bounty result is signed by ${signer}, not by the provider ${provider}`)
      const r = payload.result
      return { index, relationship: r.relationship, provider, k: r.k, cells: r.cells, suppressed: r.suppressed, computedAt: r.computedAt, ...(r.repeats === undefined ? {} : { repeats: r.repeats }), signature: payload.signature, signer: getAddress(signer) }
    },

    /** The gatekeeper's audit entries about this account's relationships there, checked against its latest anchor on this node's chain (fetch-audit.ts). */
    audit: (relationship?: string, gatekeeper?: string): Promise<AuditResult> => fetchAudit(fetchModules, relationship, gatekeeper),
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
