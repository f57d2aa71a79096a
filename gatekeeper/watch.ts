import type { DatabaseSync } from 'node:sqlite'
import type { Hex } from 'viem'
import type { MedRecClient, Rpc, SummaryEntry } from '../contracts/client/index.ts'
import { createLogger, errorMessage } from '../common/index.ts'
import { cacheExpiry, type RecordCache, type NotificationLog } from './cache.ts'
import type { Requester } from './requester.ts'

const log = createLogger('gatekeeper:watch')

/** Past this many blocks since the last pass, every entry is read again instead of the logs in between. */
const MAX_CATCH_UP = 5_000n
/** eth_getLogs filters take this many addresses at a time. */
const ADDRESSES_PER_QUERY = 500
const hex = (n: bigint): Hex => `0x${n.toString(16)}`

interface Seen {
  status: string
  changedAt: number
  terminated: number
  grantId: number
  /** pointerId:version,… of what the cache holds (or last attempted). */
  versions: string
}

/**
 * The patient side of the paper's steps 4–9: follows the account's Summary at every new head
 * through the logs of the blocks since the last pass (its own and its relationships' events), so
 * a head costs what changed for this account, not a read of every relationship;
 * raises notifications (new relationship, update pending, grant, acceptance, termination) and,
 * for accepted relationships and active grants, fetches records whose on-chain version changed
 * into the local cache, verified against the chain. A viewer's cached copy is deleted as soon as
 * a head shows its grant revoked, expired (by that head's timestamp) or the relationship ended,
 * and narrowed to the pointers a replacing grant still names.
 */
export function createWatcher(modules: { client: MedRecClient; rpc: Rpc; requester: Requester; db: DatabaseSync; cache: RecordCache; notifications: NotificationLog }) {
  const { client, rpc, requester, db, cache, notifications } = modules
  db.exec(`CREATE TABLE IF NOT EXISTS watch_seen (
    relationship TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    changed_at INTEGER NOT NULL,
    terminated INTEGER NOT NULL,
    grant_id INTEGER NOT NULL,
    versions TEXT NOT NULL
  ) STRICT`)
  const get = db.prepare('SELECT status, changed_at AS changedAt, terminated, grant_id AS grantId, versions FROM watch_seen WHERE relationship = ?')
  const put = db.prepare(`INSERT INTO watch_seen (relationship, status, changed_at, terminated, grant_id, versions) VALUES (?, ?, ?, ?, ?, ?)
    ON CONFLICT (relationship) DO UPDATE SET status = excluded.status, changed_at = excluded.changed_at, terminated = excluded.terminated, grant_id = excluded.grant_id, versions = excluded.versions`)

  let running: Promise<void> | undefined
  let again = false

  async function check(entry: SummaryEntry, headTime: number): Promise<void> {
    const rel = entry.relationship.toLowerCase()
    const before = get.get(rel) as Seen | undefined
    const ppr = client.relationship(rel)
    const info = await ppr.info()
    const grant = entry.role === 'viewer' ? await ppr.grantOf(client.address) : undefined
    // The contract's `active` ignores expiry; canRead judges it by the block timestamp, and so does this.
    const live = grant !== undefined && grant.active && (grant.expiresAt === 0 || headTime < grant.expiresAt)
    if (live && grant.expiresAt !== 0) expiries.set(rel, grant.expiresAt)
    else expiries.delete(rel)
    const now: Seen = { status: entry.status, changedAt: entry.changedAt, terminated: info.terminated ? 1 : 0, grantId: live ? grant.grantId : 0, versions: before?.versions ?? '' }
    if (entry.role === 'viewer') {
      const ended = !live || now.terminated === 1 || now.status === 'rejected' || now.status === 'deleted'
      const dropped = ended ? cache.drop(rel) : cache.keepOnly(rel, grant!.items.map((i) => i.pointerId))
      if (dropped > 0) {
        const why = now.terminated === 1 ? 'the relationship was terminated' : !live && grant?.active === true ? 'the grant expired' : ended ? 'the grant was revoked or ended' : 'the grant no longer covers them'
        log.info('Deleted cached records the grant no longer covers', { relationship: rel, pointers: dropped, reason: why })
        notifications.add('grant', rel, `Access to ${dropped} pointer(s) of relationship ${rel} ended (${why}): the local copy was deleted`)
        if (ended) now.versions = ''
      }
    }
    if (before === undefined) {
      if (entry.role === 'patient') notifications.add('relationship-added', rel, `Provider ${info.provider} added records for you: accept or reject relationship ${rel}`)
      else notifications.add('grant', rel, `Patient ${info.patient} shared records of relationship ${rel} with you`)
    } else {
      if (before.status !== now.status) {
        if (now.status === 'update-pending') notifications.add('update-pending', rel, `Provider ${info.provider} updated records of relationship ${rel}`)
        else if (now.status === 'accepted') notifications.add('accepted', rel, `Relationship ${rel} accepted`)
        else if (now.status === 'rejected') notifications.add('rejected', rel, `Relationship ${rel} rejected`)
      } else if (entry.role === 'patient' && now.changedAt !== before.changedAt && now.status === 'update-pending') {
        notifications.add('update-pending', rel, `Provider ${info.provider} updated records of relationship ${rel}`)
      }
      if (entry.role === 'viewer' && now.grantId !== 0 && now.grantId !== before.grantId) notifications.add('grant', rel, `Patient ${info.patient} changed what relationship ${rel} shares with you`)
      if (now.terminated === 1 && before.terminated === 0) notifications.add('terminated', rel, `Relationship ${rel} was terminated`)
    }
    // Remember what was notified before fetching, so a failed fetch is retried without repeating notifications.
    put.run(rel, now.status, now.changedAt, now.terminated, now.grantId, now.versions)
    // Fetch when the patient accepted (their own records) or a grant is active (a viewer), and the
    // pointers changed since the last fetch.
    const wantFetch = now.terminated === 0 && ((entry.role === 'patient' && now.status === 'accepted') || (entry.role === 'viewer' && now.grantId !== 0 && now.status !== 'rejected' && now.status !== 'deleted'))
    if (!wantFetch) return
    const pointers = await ppr.pointers()
    const versions = `${now.grantId}|${pointers.map((p) => `${p.pointerId}:${p.version}`).join(',')}`
    if (versions === now.versions) return
    await fetchInto(rel, grant?.expiresAt ?? 0)
    put.run(rel, now.status, now.changedAt, now.terminated, now.grantId, versions)
  }

  /** `expiresAt`: how long the copy may be kept (the grant's expiry; read from the chain when not given). */
  async function fetchInto(rel: string, expiresAt?: number): Promise<void> {
    try {
      const res = await requester.fetchRecords(rel)
      const until = expiresAt ?? (await cacheExpiry(client, rel))
      for (const p of res.pointers) cache.put(rel, p, until)
      const bad = res.pointers.filter((p) => p.status === 'tampered')
      if (bad.length > 0) notifications.add('records-tampered', rel, `Records of pointer(s) ${bad.map((p) => p.pointerId).join(', ')} of ${rel} do not match the hash on chain: kept apart and flagged`)
      else notifications.add('records-fetched', rel, `Fetched and verified ${res.pointers.length} pointer(s) of ${rel} over ${res.transport}`)
    } catch (err) {
      log.warn('Fetching records failed', { relationship: rel }, errorMessage(err))
      throw err
    }
  }

  // Where the last pass left off: changes after this block are read from its logs.
  let cursor: { number: bigint; hash: string; summary: string } | undefined
  /** The Summary's entries as last read (relationship → entry): the addresses whose logs concern this account. */
  let entries = new Map<string, SummaryEntry>()
  /** Relationships whose check failed (a fetch, a read): checked again at the next head. */
  const retry = new Set<string>()
  /** Viewer relationships with a live grant that ends at a time (no event marks that moment). */
  const expiries = new Map<string, number>()

  async function pass(): Promise<void> {
    // Headers only: a block's transaction list is what made a quiet pass cost ~12 ms on full blocks.
    const head = await rpc.request<{ number: Hex; hash: string; timestamp: Hex }>('eth_getHeaderByNumber', ['latest'])
    const headNumber = BigInt(head.number)
    const headTime = Number(BigInt(head.timestamp))
    const expired = cache.advance(headTime)
    if (expired > 0) log.info('Deleted cached records whose grant expired', { pointers: expired, headTime })
    const own = await client.registrar.summaryOf(client.address)
    if (own === undefined) {
      cursor = undefined
      return
    }
    const summary = own.toLowerCase()
    let toCheck: Set<string>
    const touched = cursor === undefined || cursor.summary !== summary ? undefined : await changedSince(cursor, headNumber, summary)
    if (touched === undefined) {
      // First pass, a new Summary, a reorg below the cursor or a long gap: read every entry.
      const list = await client.summary(own).entries({ limit: 1000 })
      entries = new Map(list.map((e) => [e.relationship.toLowerCase(), e]))
      toCheck = new Set(entries.keys())
    } else {
      for (const rel of touched) {
        const entry = await client.summary(own).entryOf(rel)
        if (entry !== undefined) entries.set(rel, entry)
      }
      toCheck = new Set([...touched, ...retry])
      for (const [rel, at] of expiries) if (headTime >= at) toCheck.add(rel)
    }
    for (const rel of toCheck) {
      const entry = entries.get(rel)
      if (entry === undefined) continue
      try {
        await check(entry, headTime)
        retry.delete(rel)
      } catch (err) {
        retry.add(rel)
        log.debug('Watch check failed; retried at the next head', { relationship: rel }, errorMessage(err))
      }
    }
    cursor = { number: headNumber, hash: head.hash, summary }
  }

  /**
   * The relationships named by logs of this account's Summary or of its relationships in the
   * blocks after the cursor up to `to`: the work of a pass follows what changed, not how many
   * relationships there are. Undefined when those logs cannot stand for the change (the cursor's
   * block left the canonical chain, too many blocks passed, the Summary changed owner).
   */
  async function changedSince(from: NonNullable<typeof cursor>, to: bigint, summary: string): Promise<Set<string> | undefined> {
    if (to <= from.number) return to === from.number && (await hashAt(from.number)) === from.hash ? new Set() : undefined
    if (to - from.number > MAX_CATCH_UP || (await hashAt(from.number)) !== from.hash) return undefined
    const touched = new Set<string>()
    const addresses = [summary, ...entries.keys()]
    for (let i = 0; i < addresses.length; i += ADDRESSES_PER_QUERY) {
      const logs = await rpc.request<{ address: string; topics: string[] }[]>('eth_getLogs', [{ address: addresses.slice(i, i + ADDRESSES_PER_QUERY), fromBlock: hex(from.number + 1n), toBlock: hex(to) }])
      for (const l of logs) {
        const address = l.address.toLowerCase()
        if (address !== summary) touched.add(address)
        // Every Summary event about an entry indexes the relationship second (RelationshipAdded,
        // StatusChanged, RelationshipTerminated); one without it (OwnerChanged) changes everything.
        else if (l.topics.length >= 3) touched.add(`0x${l.topics[2]!.slice(-40)}`.toLowerCase())
        else return undefined
      }
    }
    return touched
  }

  async function hashAt(n: bigint): Promise<string | undefined> {
    return (await rpc.request<{ hash: string } | null>('eth_getHeaderByNumber', [hex(n)]))?.hash
  }

  return {
    /** Call at every new head; passes never overlap, and one that arrives during a pass runs after it. */
    poll(): Promise<void> {
      if (running !== undefined) {
        again = true
        return running
      }
      running = (async () => {
        try {
          do {
            again = false
            await pass()
          } while (again)
        } catch (err) {
          log.debug('Watch pass failed', undefined, errorMessage(err))
        } finally {
          running = undefined
        }
      })()
      return running
    },
    /** Fetches now (the CLI's `patient fetch`), storing into the cache. */
    fetchInto,
  }
}
export type Watcher = ReturnType<typeof createWatcher>
