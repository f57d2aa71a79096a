import { GatekeeperError, GatekeeperErrorCode } from '../errors.ts'
import type { AggregateCell } from '../types.ts'

/**
 * The k-anonymity policy of bounty aggregates: which cells of an aggregate may be released.
 *
 * 1. Primary suppression: a cell computed from fewer than k distinct patients is dropped.
 * 2. Whole query: when the query as a whole covers fewer than k patients nothing is released,
 *    so a tiny population cannot leak through a total. A cell's patients are a subset of the
 *    query's, so the largest cell is a lower bound on the total; below k, every cell goes.
 * 3. Secondary (complementary) suppression, against differencing. A requester may hold the
 *    same aggregate with a coarser groupBy (or none), e.g. a count over everything and the same
 *    count by code. Subtracting the released cells from the coarser total would reveal a
 *    suppressed cell. So for every coarser grouping (each proper subset of the groupBy fields,
 *    the empty one being the whole query) and each of its slices, the suppressed cells of the
 *    slice must together cover 0 or at least k patients; while they do not, the smallest
 *    released cell of that slice is suppressed too. What a difference then reveals is an
 *    aggregate over at least k patients' worth of cells.
 *
 * Limits (documented, not solved here): the patient counts of cells are added up, which
 * overstates the patients of a union when one patient has records in several groups, so
 * step 3 is exact only when each patient falls in one group; differences between queries with
 * different filters are not covered; `min`/`max` of a released cell are one patient's value.
 * Differences over time (a patient added between two answers) are bounded by
 * gatekeeper/bounty-release.ts: a bounty is answered once, and a later bounty of the same query
 * releases nothing new unless its cohort differs from every earlier release by 0 or at least k
 * patients. Providers should choose k and their bounty queries with that in mind.
 */

export interface ReleasedCells {
  released: AggregateCell[]
  /** How many cells were withheld (primary and secondary suppression). */
  suppressed: number
}

function subsets<T>(items: readonly T[]): T[][] {
  const out: T[][] = []
  for (let mask = 0; mask < 1 << items.length; mask++) out.push(items.filter((_x, i) => (mask & (1 << i)) !== 0))
  return out
}

export function releaseCells(cells: readonly AggregateCell[], k: number): ReleasedCells {
  if (!Number.isInteger(k) || k < 1) {
    throw new GatekeeperError(GatekeeperErrorCode.INTERNAL, `k-anonymity needs an integer k >= 1, got ${k}; set the gatekeeper's k option`, { k })
  }
  if (cells.length === 0) return { released: [], suppressed: 0 }
  const totalAtLeast = Math.max(...cells.map((c) => c.patients))
  if (totalAtLeast < k) return { released: [], suppressed: cells.length }

  const hidden = cells.map((c) => c.patients < k)
  const fields = [...new Set(cells.flatMap((c) => Object.keys(c.group)))].sort()
  const coarser = subsets(fields).filter((s) => s.length < fields.length)
  const sliceKey = (c: AggregateCell, by: string[]): string => JSON.stringify(by.map((f) => c.group[f] ?? null))

  for (let changed = true; changed; ) {
    changed = false
    for (const by of coarser) {
      const slices = new Map<string, number[]>()
      cells.forEach((c, i) => {
        const key = sliceKey(c, by)
        const list = slices.get(key)
        if (list === undefined) slices.set(key, [i])
        else list.push(i)
      })
      for (const members of slices.values()) {
        const hiddenPatients = members.filter((i) => hidden[i]).reduce((sum, i) => sum + cells[i]!.patients, 0)
        if (hiddenPatients === 0 || hiddenPatients >= k) continue
        // Hide the smallest released cell of the slice (fewest patients, then records, then first).
        let pick = -1
        for (const i of members) {
          if (hidden[i]) continue
          const c = cells[i]!
          const p = pick < 0 ? undefined : cells[pick]!
          if (p === undefined || c.patients < p.patients || (c.patients === p.patients && c.records < p.records)) pick = i
        }
        if (pick >= 0) {
          hidden[pick] = true
          changed = true
        }
      }
    }
  }
  const released = cells.filter((_c, i) => !hidden[i])
  return { released, suppressed: cells.length - released.length }
}
