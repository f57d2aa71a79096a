import type { Hex } from 'viem'
import type { RegistrarClient } from '../contracts/client/index.ts'
import { createLogger, errorMessage } from '../common/index.ts'
import type { AuditHead, AuditLog } from './audit.ts'
import { GatekeeperError, GatekeeperErrorCode, isGatekeeperError } from './errors.ts'

const log = createLogger('gatekeeper:anchor')

/**
 * Anchors the audit log's head in the Registrar (`anchorAudit(seq, head)`), automatically every
 * `everyEntries` new entries or every `intervalMs` when there is anything new, whichever comes
 * first, and on demand (`medrec provider anchor-audit`). The transaction runs in the background:
 * a request that triggers an anchor never waits for it. One anchor is in flight at a time; a
 * failure is logged and retried at the next trigger (not sooner than `retryMs` after it).
 */

export interface AnchorOptions {
  /** Anchor after this many new entries; 0: not by count. */
  everyEntries: number
  /** Anchor this often when the log grew; 0: not by time. */
  intervalMs: number
  /** Wait at least this long after a failure before an automatic retry (default 10 s). */
  retryMs?: number
}

export interface AnchorModules {
  audit: AuditLog
  registrar: Pick<RegistrarClient, 'anchorAudit' | 'anchoredSeq' | 'isProviderAccount'>
  /** The gatekeeper's account (the anchor's sender). */
  address: string
}

export interface AnchorResult {
  seq: number
  head: string
  transaction: string
}

export interface AuditAnchorer {
  /** Tell it an entry was appended (the count trigger). */
  onAppend(seq: number): void
  /** Anchors the current head now (waits for an anchor in flight first); refuses when nothing is new. */
  anchorNow(): Promise<AnchorResult>
  /** The seq this gatekeeper last anchored (as far as it knows). */
  anchoredSeq(): number
  /** Settles when no anchor is in flight (tests, shutdown). */
  idle(): Promise<void>
  close(): void
}

export function createAuditAnchorer(opts: AnchorOptions, modules: AnchorModules): AuditAnchorer {
  const { audit, registrar } = modules
  const retryMs = opts.retryMs ?? 10_000
  let anchored = -1 // unknown until read from the chain
  let inFlight: Promise<AnchorResult> | undefined
  let failedAt = -Infinity
  let closed = false
  let provider: boolean | undefined
  let refreshing: Promise<void> | undefined
  /** The newest head this anchorer verified: the next check starts there, so its cost follows the new entries only. */
  let checked: AuditHead | undefined

  /** The chain's word on where we stand; read once, and again after a failure. */
  async function refresh(): Promise<void> {
    anchored = await registrar.anchoredSeq(modules.address)
    provider = await registrar.isProviderAccount(modules.address)
  }

  function send(): Promise<AnchorResult> {
    const run = (async (): Promise<AnchorResult> => {
      if (anchored < 0 || provider === undefined) await refresh()
      if (provider === false) throw new GatekeeperError(GatekeeperErrorCode.FORBIDDEN, `${modules.address} is neither an authority nor a verified delegate, so the Registrar refuses its audit anchors`)
      const head = audit.head()
      if (head.seq === 0) throw new GatekeeperError(GatekeeperErrorCode.NOT_FOUND, 'the audit log is empty: nothing to anchor yet')
      if (head.seq <= anchored) throw new GatekeeperError(GatekeeperErrorCode.NOT_FOUND, `the audit head #${head.seq} is anchored already (anchored seq ${anchored})`, { seq: anchored })
      // Never anchor a log that does not extend what was checked before: that would cement a rewrite.
      // The first check after a start covers the whole log once; later ones only what is new.
      audit.verify(undefined, checked)
      checked = head
      const tx = await registrar.anchorAudit(head.seq, head.hash as Hex)
      anchored = Math.max(anchored, head.seq)
      log.info('Anchored the audit log', { seq: head.seq, head: head.hash, transaction: tx.hash })
      return { seq: head.seq, head: head.hash, transaction: tx.hash }
    })()
    inFlight = run
    run.then(
      () => {
        if (inFlight === run) inFlight = undefined
      },
      () => {
        if (inFlight === run) inFlight = undefined
        failedAt = performance.now()
        // The chain may know better (another anchor, a lost receipt): read it again next time.
        anchored = -1
        provider = undefined
      },
    )
    return run
  }

  function trigger(why: string): void {
    if (closed || inFlight !== undefined || performance.now() - failedAt < retryMs) return
    send().catch((err: unknown) => {
      const quiet = provider === false || isGatekeeperError(err, GatekeeperErrorCode.NOT_FOUND)
      if (quiet) log.debug('Not anchoring the audit log', { why }, errorMessage(err))
      else log.warn('Could not anchor the audit log; retrying at the next trigger', { why }, errorMessage(err))
    })
  }

  const timer = opts.intervalMs > 0 ? setInterval(() => {
    if (audit.head().seq > Math.max(anchored, 0)) trigger('interval')
  }, opts.intervalMs) : undefined
  timer?.unref()
  // Learn the anchored seq now, so the first entries already count towards the next anchor.
  if (opts.everyEntries > 0 || opts.intervalMs > 0) {
    refreshing = refresh()
      .catch(() => undefined)
      .finally(() => (refreshing = undefined))
  }

  return {
    onAppend(seq) {
      if (opts.everyEntries <= 0 || closed) return
      if (anchored < 0) {
        // Where the chain stands is not known (yet, or since a failure): learn it in the background.
        if (refreshing === undefined && performance.now() - failedAt >= retryMs) {
          refreshing = refresh()
            .catch((err: unknown) => {
              failedAt = performance.now()
              log.warn('Could not read the audit anchor from the chain; retrying at the next trigger', undefined, errorMessage(err))
            })
            .finally(() => (refreshing = undefined))
        }
        return
      }
      if (seq - anchored >= opts.everyEntries) trigger('entries')
    },
    async anchorNow() {
      if (inFlight !== undefined) await inFlight.catch(() => undefined)
      return send()
    },
    anchoredSeq: () => Math.max(anchored, 0),
    async idle() {
      while (inFlight !== undefined) await inFlight.catch(() => undefined)
    },
    close() {
      closed = true
      if (timer !== undefined) clearInterval(timer)
    },
  }
}
