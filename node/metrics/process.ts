import { monitorEventLoopDelay } from 'node:perf_hooks'
import type { Registry } from './registry.ts'

/** The event-loop monitor's timer, ms: it records each interval whole, so this is taken off. */
const RESOLUTION_MS = 20

/**
 * The process: memory, CPU time, start time and event-loop lag. The lag comes from Node's
 * sampling monitor and covers the time since the previous scrape.
 */
export function watchProcess(registry: Registry): { start(): void; close(): void } {
  const lag = monitorEventLoopDelay({ resolution: RESOLUTION_MS })
  const seconds = (ns: number) => (lag.count === 0 ? 0 : Math.max(0, ns / 1e9 - RESOLUTION_MS / 1000))
  const started = Math.floor(Date.now() / 1000 - process.uptime())
  registry.collected('gauge', { name: 'medrec_process_resident_memory_bytes', help: 'Resident set size, bytes.' }, () => process.memoryUsage.rss())
  registry.collected('gauge', { name: 'medrec_process_heap_used_bytes', help: 'V8 heap in use, bytes.' }, () => process.memoryUsage().heapUsed)
  registry.collected('counter', { name: 'medrec_process_cpu_seconds_total', help: 'User and system CPU time of the process (all threads), seconds.' }, () => {
    const { user, system } = process.cpuUsage()
    return (user + system) / 1e6
  })
  registry.collected('gauge', { name: 'medrec_process_start_time_seconds', help: 'Start time of the process, Unix seconds.' }, () => started)
  // Read in this order at each scrape: p99 first, then max, which resets the window.
  registry.collected('gauge', { name: 'medrec_process_event_loop_lag_p99_seconds', help: '99th percentile of event-loop delay since the previous scrape, seconds.' }, () => seconds(lag.percentile(99)))
  registry.collected('gauge', { name: 'medrec_process_event_loop_lag_max_seconds', help: 'Longest event-loop delay since the previous scrape, seconds.' }, () => {
    const max = seconds(lag.max)
    lag.reset()
    return max
  })
  return { start: () => lag.enable(), close: () => lag.disable() }
}
