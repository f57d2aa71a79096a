import type { Address, Hex } from 'viem'
import { fromHex } from '../common/hex.ts'
import { fieldsOfMask, parseRecordQuery, type MedRecClient } from '../contracts/client/index.ts'
import type { FetchedPointer, FetchResult } from './api.ts'
import { verifyRecords } from './commitment.ts'
import { decryptWith } from './ecies.ts'
import { fromWireCode, GatekeeperError, GatekeeperErrorCode } from './errors.ts'
import { newRequest, signRequest } from './request-digest.ts'
import type { GatekeeperReply, RecordsPayload } from './reply.ts'
import type { FhirResource, GatekeeperRequest, RequestMethod, SignedRequestJson } from './types.ts'

/**
 * Fetching a relationship's records and checking them against the chain, with no transport of
 * its own: the node's requester (requester.ts: HTTP or libp2p to the endpoint it finds on chain)
 * and the browser app (through its node's POST /api/gatekeeper relay) both use this one
 * implementation. Pure: contracts/client, @noble and viem only, so it bundles for the browser.
 */

export type Transport = 'http' | 'p2p'

/** Sends a signed request about `relationship` to the gatekeeper of `gatekeeper`; the reply as the gatekeeper sent it. */
export type SendSigned = (req: { relationship: string; gatekeeper: Address; signed: SignedRequestJson; transport?: Transport }) => Promise<{ reply: GatekeeperReply['body']; transport: Transport }>

export interface FetchModules {
  /** Chain reads at the reader's node, as the requesting account. */
  client: MedRecClient
  privateKey: Hex
  chainId: bigint
  send: SendSigned
}

/** Signs a new request, sends it, and opens the reply: a refusal becomes a GatekeeperError with the gatekeeper's code. */
export async function askGatekeeper<T>(m: FetchModules, gatekeeper: Address, fields: Omit<Parameters<typeof newRequest>[0], 'gatekeeper' | 'method'>, method: RequestMethod, transport?: Transport): Promise<{ payload: T; transport: Transport }> {
  const req: GatekeeperRequest = newRequest({ gatekeeper, method, ...fields })
  const signed = signRequest(m.privateKey, m.chainId, req)
  const { reply, transport: used } = await m.send({ relationship: req.relationship, gatekeeper, signed, transport })
  if (!reply.ok) {
    // A code this node does not know (a newer gatekeeper's) still refuses; remoteCode keeps it.
    const code = fromWireCode(reply.error.code) ?? GatekeeperErrorCode.UNREACHABLE
    throw new GatekeeperError(code, `the gatekeeper of ${gatekeeper} refused: ${reply.error.message}`, { remoteCode: reply.error.code, ...(reply.error.retryAfter === undefined ? {} : { retryAfter: reply.error.retryAfter }) })
  }
  const plain = decryptWith(fromHex(m.privateKey), reply.encrypted)
  try {
    return { payload: JSON.parse(new TextDecoder().decode(plain)) as T, transport: used }
  } catch {
    throw new GatekeeperError(GatekeeperErrorCode.UNREACHABLE, `the gatekeeper of ${gatekeeper} sent an unreadable payload`)
  }
}

/** Every pointer (or the given ones) with every field this account may read, each checked against the hash on the reader's chain. */
export async function fetchRecords(m: FetchModules, relationship: string, pointerIds?: number[], transport?: Transport): Promise<FetchResult> {
  const { client } = m
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
      .map((g) => ({ pointerId: g.pointerId, mask: g.fields.reduce((mask, f) => mask | (1n << BigInt(f)), 0n) }))
  }
  if (items.length === 0) throw new GatekeeperError(GatekeeperErrorCode.NOT_FOUND, `nothing to fetch on ${relationship}: no pointers${party ? '' : ' granted'}`)
  const { payload, transport: used } = await askGatekeeper<RecordsPayload>(m, info.provider, { relationship: relationship as Address, pointerIds: items.map((i) => BigInt(i.pointerId)), fieldMasks: items.map((i) => i.mask) }, 'records', transport)
  const pointers: FetchedPointer[] = []
  for (const item of items) {
    const got = payload.pointers?.find((p) => p.pointerId === item.pointerId)
    if (got === undefined) throw new GatekeeperError(GatekeeperErrorCode.UNREACHABLE, `the gatekeeper left out pointer ${item.pointerId}`)
    // The hash and fields come from the reader's chain, never from the gatekeeper's reply.
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
}
