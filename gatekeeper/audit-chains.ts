import type { DatabaseSync } from 'node:sqlite'
import { getAddress, type Address } from 'viem'
import type { RegistrarClient } from '../contracts/client/index.ts'
import { createAuditAnchorer, type AnchorOptions, type AnchorResult, type AuditAnchorer } from './anchor.ts'
import { createAuditLog, type AuditLog } from './audit.ts'
import { GatekeeperError, GatekeeperErrorCode } from './errors.ts'

/**
 * One audit chain per account the gatekeeper serves as: the authority account's (table
 * `audit_log`) and one per delegate (table `audit_delegates`, keyed by the delegate). Each is
 * anchored by its own account, so a patient of a delegate's relationship checks her entries
 * against the delegate's anchor, and no anchor value is shared between accounts (a head anchored
 * by several delegates would link them).
 */

export interface AuditChain {
  account: Address
  log: AuditLog
  anchorer: AuditAnchorer
}

export interface AuditChainsModules {
  db: DatabaseSync
  /** The authority account and its Registrar client. */
  authority: { address: Address; registrar: AnchorRegistrar }
  /** A delegate's Registrar client (its anchors are sent as the delegate); undefined: not one of ours. */
  delegateRegistrar(address: string): AnchorRegistrar | undefined
  now?: () => number
}

type AnchorRegistrar = Pick<RegistrarClient, 'anchorAudit' | 'anchoredSeq' | 'isProviderAccount'>

export function createAuditChains(opts: AnchorOptions, modules: AuditChainsModules) {
  const { db } = modules
  const chains = new Map<string, AuditChain>()

  function open(account: Address, registrar: AnchorRegistrar, delegate: boolean): AuditChain {
    let anchorer: AuditAnchorer | undefined
    const log = createAuditLog(db, { now: modules.now, onAppend: (e) => anchorer?.onAppend(e.seq), ...(delegate ? { table: 'audit_delegates' as const, chain: account } : {}) })
    anchorer = createAuditAnchorer(opts, { audit: log, registrar, address: account })
    const chain = { account, log, anchorer }
    chains.set(account.toLowerCase(), chain)
    return chain
  }

  const authority = open(modules.authority.address, modules.authority.registrar, false)

  function of(account: string): AuditChain {
    const known = chains.get(account.toLowerCase())
    if (known !== undefined) return known
    const registrar = modules.delegateRegistrar(account)
    if (registrar === undefined) throw new GatekeeperError(GatekeeperErrorCode.NOT_FOUND, `${account} is not this gatekeeper's account nor one of its delegates: it has no audit chain here`)
    return open(getAddress(account), registrar, true)
  }

  // Delegates whose chains have entries get their anchoring schedule from the start.
  const existing = db.prepare("SELECT log FROM audit_meta WHERE log LIKE 'audit_delegates:%'").all() as { log: string }[]
  for (const r of existing) {
    const account = r.log.slice('audit_delegates:'.length)
    if (modules.delegateRegistrar(account) !== undefined) of(account)
  }

  return {
    authority,
    /** The chain of the authority account or of one of its delegates (made on first use). */
    of,
    /** Every chain opened so far (the authority's first). */
    list: (): AuditChain[] => [...chains.values()],
    /**
     * Anchors now: one account's chain, or every chain with entries not yet anchored (the
     * authority's always tried, so "nothing new" is still reported for it).
     */
    async anchorNow(account?: string): Promise<{ account: Address; result?: AnchorResult; error?: string }[]> {
      if (account !== undefined) {
        const c = of(account)
        return [{ account: c.account, result: await c.anchorer.anchorNow() }]
      }
      const out: { account: Address; result?: AnchorResult; error?: string }[] = []
      for (const c of chains.values()) {
        if (c !== authority && c.log.head().seq <= c.anchorer.anchoredSeq()) continue
        try {
          out.push({ account: c.account, result: await c.anchorer.anchorNow() })
        } catch (err) {
          out.push({ account: c.account, error: err instanceof Error ? err.message : String(err) })
        }
      }
      return out
    },
    async idle(): Promise<void> {
      for (const c of chains.values()) await c.anchorer.idle()
    },
    close(): void {
      for (const c of chains.values()) c.anchorer.close()
    },
  }
}

export type AuditChains = ReturnType<typeof createAuditChains>
