import type { MedRecClient } from '../../../contracts/client/index.ts'
import { fetchRecords, type SendSigned } from '../../../gatekeeper/fetch-records.ts'
import type { FetchResult } from '../../../gatekeeper/api.ts'
import { requestJson } from './http.ts'
import type { BrowserSession } from './types.ts'

type Reply = Awaited<ReturnType<SendSigned>>['reply']

/**
 * Reading records with a key held only in this tab: the request is built and signed here (the
 * node's own requester code, gatekeeper/fetch-records.ts), sent through the node's
 * POST /api/gatekeeper relay (this page may reach no other origin; the node finds the provider's
 * gatekeeper on chain), and the reply, encrypted to this key, is opened and checked against the
 * chain here. The key never leaves the tab.
 */
export function browserRecords(client: MedRecClient, session: BrowserSession): { fetch(relationship: string): Promise<FetchResult> } {
  const send: SendSigned = async ({ relationship, signed }) => ({
    reply: await requestJson<Reply>('/api/gatekeeper', { method: 'POST', body: { relationship, request: signed } }),
    transport: 'http',
  })
  return {
    fetch: (relationship) => fetchRecords({ client, privateKey: session.privateKey, chainId: BigInt(session.chainId), send }, relationship),
  }
}
