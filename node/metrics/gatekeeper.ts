import type { ServedRequest } from '../../gatekeeper/index.ts'
import { Counter, Histogram, type Registry } from 'prom-client'

/** Request handling takes milliseconds to a few seconds (chain reads, database, encryption). */
const DURATION_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5]

/** The gatekeeper's requests (HTTP and libp2p alike): how each ended and how long it took. Returns its observer. */
export function watchGatekeeper(registry: Registry): (served: ServedRequest) => void {
  const requests = new Counter({ name: 'medrec_gatekeeper_requests_total', help: 'Gatekeeper requests by method (records, bounty, audit, unknown) and outcome (ok or the refusal code).', labelNames: ['method', 'outcome'], registers: [registry] })
  const duration = new Histogram({ name: 'medrec_gatekeeper_request_duration_seconds', help: 'Time to answer a gatekeeper request, by method.', labelNames: ['method'], buckets: DURATION_BUCKETS, registers: [registry] })
  return ({ method, outcome, seconds }) => {
    requests.inc({ method, outcome })
    duration.observe({ method }, seconds)
  }
}
