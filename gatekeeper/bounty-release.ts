import { createHash, createHmac } from 'node:crypto'
import type { DatabaseSync } from 'node:sqlite'
import { keccak256, stringToHex, type Hex } from 'viem'
import { canonicalJson, parseBountyQuery, type BountyQuery } from '../contracts/client/index.ts'
import { createLogger } from '../common/index.ts'
import { releaseCells, type CohortCell } from './db/index.ts'
import { GatekeeperError, GatekeeperErrorCode } from './errors.ts'
import type { AggregateCell, RecordSource } from './types.ts'
import type { BountyRelease } from './api.ts'

const log = createLogger('gatekeeper:bounty')

/**
 * A bounty is answered once. Its aggregate is computed at its first collection, signed, stored
 * in state.sqlite, and every later collection returns exactly that stored reply (same JSON
 * bytes, same signature): recomputing over live data would let the owner collect, wait for one
 * new patient, collect again and subtract.
 *
 * Why first collection and not "as of the bounty's block": the provider's database keeps no
 * history (records are upserted in place, with no block they belong to), so the data as of a
 * past block cannot be rebuilt; freezing at the first collection gives the same guarantee for a
 * single bounty (one answer, ever) without inventing a versioned store.
 *
 * Across bounties of the same canonical query (each pointer update makes a new one, owned by
 * the block's author), a fresh release is compared with every earlier fresh release of that
 * query. The cohort of a release is the set of (patient, released cell) memberships its cells
 * were computed over; the difference between two releases is the number of distinct patients
 * whose membership differs. When that is at least 1 and below k, subtracting the two releases
 * would isolate fewer than k patients, so the new bounty releases nothing new: it is answered
 * with the earlier release's cells (signed again for this bounty, with `repeats` naming the
 * release they come from) rather than refused. Reasons: a refusal would not be final (the owner
 * would retry until the difference reached k, which makes the answer depend on when it asks),
 * whereas a repeat is a final answer like every other; and a repeat tells the owner nothing a
 * refusal would not (that the population moved by fewer than k). A difference of 0 releases
 * afresh: nothing about a patient changed between the two.
 *
 * Cohorts never leave the provider and are stored only as HMAC-SHA256 of the patient id (keyed
 * by the gatekeeper's secret) and a hash of the cell's group, so state.sqlite alone does not
 * list which patients a bounty covered. A RecordSource that cannot report cohorts
 * (no `aggregateWithCohorts`) gets one fresh release per query; later bounties repeat it.
 */

/** One bounty as the chain records it (the owner's BountyCreated event number `index`). */
export interface BountyOnChain {
  owner: string
  index: number
  relationship: string
  pointerId: number
  blockNumber: number
  query: string
}

/** What the provider computed for a bounty, and signs. */
export interface BountyResultBody extends BountyOnChain, BountyRelease {}

/** The decrypted body of a bounty reply. */
export interface BountyPayload {
  method: 'bounty'
  result: BountyResultBody
  signature: Hex
}

/** The hash the provider signs over a bounty result: keccak256 of its canonical JSON (signed EIP-191). */
export function bountyResultHash(result: BountyResultBody): Hex {
  return keccak256(stringToHex(canonicalJson(result)))
}

/** A source that can say which patients each cell covers (the SQLite store can). */
export type CohortSource = RecordSource & { aggregateWithCohorts?(q: BountyQuery): Promise<CohortCell[]> }

export interface BountyReleaseOptions {
  k: number
  /** The provider account that signs (checksummed, as it appears in results). */
  provider: string
}

export interface BountyReleaseModules {
  /** The gatekeeper's state.sqlite. */
  db: DatabaseSync
  source: CohortSource
  /** Keys the cohort HMAC (the gatekeeper's secret). */
  secret: Uint8Array
  /** EIP-191 signature of a 32-byte hash by the account that stewards `relationship` (the provider, or its delegate). */
  sign(hash: Hex, relationship: string): Promise<Hex>
  /** The account that stewards `relationship`, when not `provider` (a delegate), as it appears in results. */
  providerOf?(relationship: string): string | undefined
  now(): number
}

interface Row {
  bounty: string
  owner: string
  idx: number
  block_number: number
  cohort: string | null
  payload: string
}

export function createBountyReleases(opts: BountyReleaseOptions, modules: BountyReleaseModules) {
  const { db, source } = modules
  if (!Number.isInteger(opts.k) || opts.k < 1) throw new GatekeeperError(GatekeeperErrorCode.INTERNAL, `k-anonymity needs an integer k >= 1, got ${opts.k}; set the gatekeeper's k option`, { k: opts.k })
  db.exec(`CREATE TABLE IF NOT EXISTS bounty_releases (
    bounty TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    idx INTEGER NOT NULL,
    block_number INTEGER NOT NULL,
    query_key TEXT NOT NULL,
    released_at INTEGER NOT NULL,
    fresh INTEGER NOT NULL CHECK (fresh IN (0, 1)),
    cohort TEXT,
    payload TEXT NOT NULL
  ) STRICT;
  CREATE INDEX IF NOT EXISTS bounty_releases_query ON bounty_releases(query_key, fresh);`)
  const byId = db.prepare('SELECT bounty, owner, idx, block_number, cohort, payload FROM bounty_releases WHERE bounty = ?')
  const freshOf = db.prepare('SELECT bounty, owner, idx, block_number, cohort, payload FROM bounty_releases WHERE query_key = ? AND fresh = 1 ORDER BY released_at, rowid')
  const insert = db.prepare('INSERT INTO bounty_releases (bounty, owner, idx, block_number, query_key, released_at, fresh, cohort, payload) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)')
  const cohortKey = createHmac('sha256', modules.secret).update('medrec bounty cohort v1').digest()
  // One computation per query at a time: the check against earlier releases and the insert of
  // this one must not interleave with another bounty of the same query.
  const queues = new Map<string, Promise<unknown>>()

  /** A reorg can put another bounty at the same index: the id names the bounty, not the slot. */
  const idOf = (b: BountyOnChain): string => `${b.owner.toLowerCase()}:${b.index}:${b.blockNumber}:${b.relationship.toLowerCase()}:${b.pointerId}`

  function membership(cells: CohortCell[], released: Set<AggregateCell>): string[] | undefined {
    const out = new Set<string>()
    for (const c of cells) {
      if (!released.has(c.cell)) continue
      const group = createHash('sha256').update(canonicalJson(c.cell.group)).digest('hex').slice(0, 16)
      for (const id of c.patientIds) out.add(`${createHmac('sha256', cohortKey).update(id).digest('hex').slice(0, 32)}.${group}`)
    }
    return [...out].sort()
  }

  /** Distinct patients whose (patient, cell) memberships differ between two cohorts. */
  function patientsDiffering(a: readonly string[], b: readonly string[]): number {
    const sa = new Set(a)
    const sb = new Set(b)
    const patients = new Set<string>()
    for (const m of sa) if (!sb.has(m)) patients.add(m.split('.')[0]!)
    for (const m of sb) if (!sa.has(m)) patients.add(m.split('.')[0]!)
    return patients.size
  }

  async function compute(b: BountyOnChain, queryKey: string, query: BountyQuery): Promise<string> {
    const id = idOf(b)
    const already = byId.get(id) as Row | undefined
    if (already !== undefined) return already.payload
    const withCohorts = source.aggregateWithCohorts !== undefined
    const rows: CohortCell[] = withCohorts ? await source.aggregateWithCohorts!(query) : (await source.aggregate(query)).map((cell) => ({ cell, patientIds: [] }))
    const { released, suppressed } = releaseCells(
      rows.map((r) => r.cell),
      opts.k,
    )
    // Nothing released is nothing to difference: not stored, so a later collection may release.
    if (released.length === 0) {
      throw new GatekeeperError(GatekeeperErrorCode.K_ANONYMITY, `no cell of bounty #${b.index} covers at least k=${opts.k} patients, so nothing can be released`, { index: b.index, k: opts.k })
    }
    const cohort = withCohorts ? membership(rows, new Set(released)) : undefined
    let nearest: { row: Row; diff: number } | undefined
    for (const row of freshOf.all(queryKey) as unknown as Row[]) {
      // Without cohorts on either side no difference can be bounded: treat it as too small.
      const diff = cohort === undefined || row.cohort === null ? 0 : patientsDiffering(JSON.parse(row.cohort) as string[], cohort)
      const conflicts = cohort === undefined || row.cohort === null || (diff >= 1 && diff < opts.k)
      if (conflicts && (nearest === undefined || diff <= nearest.diff)) nearest = { row, diff }
    }
    let result: BountyResultBody
    if (nearest === undefined) {
      result = { ...header(b), k: opts.k, cells: released, suppressed, computedAt: modules.now() }
    } else {
      const earlier = (JSON.parse(nearest.row.payload) as BountyPayload).result
      result = { ...header(b), k: earlier.k, cells: earlier.cells, suppressed: earlier.suppressed, computedAt: earlier.computedAt, repeats: { owner: nearest.row.owner, index: Number(nearest.row.idx), blockNumber: Number(nearest.row.block_number) } }
      log.info('Bounty repeats an earlier release: its cohort differs by fewer than k patients', { index: b.index, repeats: nearest.row.idx, k: opts.k })
    }
    const payload: BountyPayload = { method: 'bounty', result, signature: await modules.sign(bountyResultHash(result), b.relationship) }
    const text = JSON.stringify(payload)
    // Another collection of the same bounty cannot have finished meanwhile (same queue), but a
    // stored row always wins: the first answer is the answer.
    const raced = byId.get(id) as Row | undefined
    if (raced !== undefined) return raced.payload
    insert.run(id, b.owner.toLowerCase(), b.index, b.blockNumber, queryKey, modules.now(), nearest === undefined ? 1 : 0, nearest === undefined && cohort !== undefined ? JSON.stringify(cohort) : null, text)
    return text
  }

  function header(b: BountyOnChain): Pick<BountyResultBody, 'owner' | 'index' | 'relationship' | 'pointerId' | 'blockNumber' | 'query' | 'provider'> {
    return { owner: b.owner, index: b.index, relationship: b.relationship.toLowerCase(), pointerId: b.pointerId, blockNumber: b.blockNumber, query: b.query, provider: modules.providerOf?.(b.relationship) ?? opts.provider }
  }

  return {
    /**
     * The bounty's one answer: the stored reply if it was answered before, else computed,
     * signed and stored now. Throws K_ANONYMITY when nothing can be released (not stored).
     */
    async answer(b: BountyOnChain): Promise<BountyPayload> {
      const stored = byId.get(idOf(b)) as Row | undefined
      if (stored !== undefined) return JSON.parse(stored.payload) as BountyPayload
      const { query } = parseBountyQuery(b.query)
      const queryKey = canonicalJson(query)
      const prev = queues.get(queryKey) ?? Promise.resolve()
      const run = prev.catch(() => undefined).then(() => compute(b, queryKey, query))
      queues.set(queryKey, run)
      try {
        return JSON.parse(await run) as BountyPayload
      } finally {
        if (queues.get(queryKey) === run) queues.delete(queryKey)
      }
    },
  }
}

export type BountyReleases = ReturnType<typeof createBountyReleases>
