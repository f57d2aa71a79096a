import { getAddress, type Address } from 'viem'
import type { AuditEntryView, AuditResult } from './api.ts'
import { checkAuditView, isAuditEntry, type AuditView } from './audit-check.ts'
import { GatekeeperError, GatekeeperErrorCode } from './errors.ts'
import { askGatekeeper, type FetchModules } from './fetch-records.ts'

/**
 * Reading a gatekeeper's audit log as a patient and checking it against the gatekeeper's latest
 * anchor, read from the reader's own chain: the whole chain is recomputed from every entry's
 * commitment (only this account's entries are opened), so an entry dropped, edited or inserted
 * before the anchor shows as a mismatch. Pure like fetch-records.ts: the node's requester and the
 * browser app (a key held in the page, the request relayed by its node) run this one code.
 */

const ZERO = '0x0000000000000000000000000000000000000000'

/** The audit entries about `relationship` (or, with `gatekeeper` alone, about every relationship of this account there). */
export async function fetchAudit(m: FetchModules, relationship?: string, gatekeeper?: string): Promise<AuditResult> {
  const { client } = m
  const gk = gatekeeper !== undefined ? getAddress(gatekeeper) : relationship !== undefined ? await client.relationship(relationship).provider() : undefined
  if (gk === undefined) throw new GatekeeperError(GatekeeperErrorCode.BAD_REQUEST, 'name a relationship or a gatekeeper (provider account) to read the audit log of')
  // Read before the request: an anchor on chain is of a head the gatekeeper held earlier, so the view reaches it.
  const anchor = await client.registrar.latestAuditAnchor(gk)
  // The view is the gatekeeper's word until checked: typed as possibly missing anything.
  const { payload } = await askGatekeeper<{ view?: Partial<AuditView> }>(m, gk, { relationship: (relationship ?? ZERO) as Address }, 'audit')
  const view = payload.view
  const check = checkAuditView(view, anchor === undefined ? undefined : { seq: anchor.seq, hash: anchor.head })
  // A broken log still shows what it holds (the problem is named); entries without the fields shown are left out.
  const raw = Array.isArray(view?.entries) ? view.entries.filter(isAuditEntry) : []
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
}
