/**
 * A workload's off-chain requests (`plan.requests`, e.g. MedRec's gatekeeper fetch), made open
 * loop at their rate through the measured window and timed beside the transactions.
 */
import { errorMessage } from '../../common/errors.ts'
import { sleep } from './rpc.ts'
import { distribution, type Distribution } from './stats.ts'
import type { WorkloadPlan } from './workloads/index.ts'

/** At most this many requests in flight, as for transactions. */
const MAX_IN_FLIGHT = 256
const MAX_ERROR_KINDS = 5

export type RequestPlan = NonNullable<WorkloadPlan['requests']>

export interface RequestRecord {
  /** performance.now() when it was made. */
  at: number
  ms: number
  ok: boolean
  error?: string
}

export interface RequestSummary {
  name: string
  /** Offered requests per second. */
  rate: number
  sent: number
  errors: number
  /** The first few distinct error messages with counts. */
  errorKinds: Record<string, number>
  /** Of the answered ones. */
  latencyMs: Distribution
}

/** Calls `plan.run(i)` for i = 0, 1, … at `plan.rate` per second from `from` until `to` (performance.now() times). */
export async function runRequests(plan: RequestPlan, from: number, to: number, signal?: AbortSignal): Promise<RequestRecord[]> {
  const records: RequestRecord[] = []
  const inflight = new Set<Promise<void>>()
  for (let i = 0; plan.rate > 0; i++) {
    const due = from + (i * 1000) / plan.rate
    if (due >= to || signal?.aborted === true) break
    // Timers round to whole milliseconds and may fire a fraction early: never start before due.
    for (let wait = due - performance.now(); wait > 0; wait = due - performance.now()) await sleep(wait)
    const rec: RequestRecord = { at: performance.now(), ms: NaN, ok: true }
    records.push(rec)
    const p = (async () => {
      try {
        await plan.run(i)
      } catch (err) {
        rec.ok = false
        rec.error = errorMessage(err)
      }
      rec.ms = performance.now() - rec.at
    })()
    inflight.add(p)
    void p.finally(() => inflight.delete(p))
    if (inflight.size >= MAX_IN_FLIGHT) await Promise.race(inflight)
  }
  await Promise.all(inflight)
  return records
}

export function summariseRequests(plan: Pick<RequestPlan, 'name' | 'rate'>, records: readonly RequestRecord[]): RequestSummary {
  const errorKinds: Record<string, number> = {}
  for (const r of records) {
    if (r.ok || r.error === undefined) continue
    if (errorKinds[r.error] !== undefined || Object.keys(errorKinds).length < MAX_ERROR_KINDS) errorKinds[r.error] = (errorKinds[r.error] ?? 0) + 1
  }
  return {
    name: plan.name,
    rate: plan.rate,
    sent: records.length,
    errors: records.filter((r) => !r.ok).length,
    errorKinds,
    latencyMs: distribution(records.filter((r) => r.ok).map((r) => r.ms)),
  }
}
