import { monitorEventLoopDelay } from 'node:perf_hooks'
import { Counter, type Registry } from 'prom-client'
import { scrapedGauge } from './registry.ts'

/** The event-loop monitor's timer, ms: it records each interval whole, so this is taken off. */
const RESOLUTION_MS = 20

/**
 * The process: memory, CPU time, start time and event-loop lag. The lag comes from Node's
 * sampling monitor and covers the time since the previous scrape. (prom-client's default
 * metrics are not used: they are named process_* / nodejs_*, and dashboards read medrec_process_*.)
 */
export function watchProcess(registry: Registry): { start(): void; close(): void } {
  const lag = monitorEventLoopDelay({ resolution: RESOLUTION_MS })
  const seconds = (ns: number) => (lag.count === 0 ? 0 : Math.max(0, ns / 1e9 - RESOLUTION_MS / 1000))
  const started = Math.floor(Date.now() / 1000 - process.uptime())
  scrapedGauge(registry, { name: 'medrec_process_resident_memory_bytes', help: 'Resident set size, bytes.' }, () => process.memoryUsage.rss())
  scrapedGauge(registry, { name: 'medrec_process_heap_used_bytes', help: 'V8 heap in use, bytes.' }, () => process.memoryUsage().heapUsed)
  new Counter({
    name: 'medrec_process_cpu_seconds_total',
    help: 'User and system CPU time of the process (all threads), seconds.',
    registers: [registry],
    collect() {
      // The process keeps the total: the counter takes it as it is at each scrape.
      const { user, system } = process.cpuUsage()
      this.reset()
      this.inc((user + system) / 1e6)
    },
  })
  scrapedGauge(registry, { name: 'medrec_process_start_time_seconds', help: 'Start time of the process, Unix seconds.' }, () => started)
  // Both lag figures are taken by the p99 gauge's collect, which prom-client runs first (it
  // collects in registration order), then the window resets.
  let maxLag = 0
  scrapedGauge(registry, { name: 'medrec_process_event_loop_lag_p99_seconds', help: '99th percentile of event-loop delay since the previous scrape, seconds.' }, () => {
    const p99 = seconds(lag.percentile(99))
    maxLag = seconds(lag.max)
    lag.reset()
    return p99
  })
  scrapedGauge(registry, { name: 'medrec_process_event_loop_lag_max_seconds', help: 'Longest event-loop delay since the previous scrape, seconds.' }, () => maxLag)
  return { start: () => lag.enable(), close: () => lag.disable() }
}
