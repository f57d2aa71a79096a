import type { MedRecClient } from '../../../contracts/client/index.ts'
import { fetchAudit } from '../../../gatekeeper/fetch-audit.ts'
import { fetchRecords, type FetchModules, type SendSigned } from '../../../gatekeeper/fetch-records.ts'
import type { AuditResult, FetchResult } from '../../../gatekeeper/api.ts'
import { requestJson } from './http.ts'
import type { BrowserSession } from './types.ts'

type Reply = Awaited<ReturnType<SendSigned>>['reply']

/**
 * Reading records and the audit log with a key held only in this tab: the request is built and signed here (the
 * node's own requester code, gatekeeper/fetch-records.ts), sent through the node's
 * POST /api/gatekeeper relay (this page may reach no other origin; the node finds the provider's
 * gatekeeper on chain), and the reply, encrypted to this key, is opened and checked against the
 * chain here (records against their hashes, the audit view against the provider's anchor:
 * gatekeeper/fetch-audit.ts). The key never leaves the tab.
 */
export function browserRecords(client: MedRecClient, session: BrowserSession): { fetch(relationship: string): Promise<FetchResult>; audit(relationship: string): Promise<AuditResult> } {
  const send: SendSigned = async ({ relationship, signed }) => ({
    reply: await requestJson<Reply>('/api/gatekeeper', { method: 'POST', body: { relationship, request: signed } }),
    transport: 'http',
  })
  const m: FetchModules = { client, privateKey: session.privateKey, chainId: BigInt(session.chainId), send }
  return {
    fetch: (relationship) => fetchRecords(m, relationship),
    audit: (relationship) => fetchAudit(m, relationship),
  }
}
