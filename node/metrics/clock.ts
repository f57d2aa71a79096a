import type { Registry } from 'prom-client'
import type { ClockMonitor } from '../clock/index.ts'
import { scrapedGauge } from './registry.ts'

/** This node's clock against the network's, and each recent sealer's, from the clock monitor. */
export function watchClock(registry: Registry, clock: ClockMonitor): void {
  scrapedGauge(
    registry,
    { name: 'medrec_clock_offset_seconds', help: "This node's clock minus the network's, seconds, estimated from the authorities' blocks (positive: ahead; NaN before any arrived)." },
    () => clock.offsetSeconds() ?? NaN,
  )
  scrapedGauge(registry, { name: 'medrec_clock_tolerance_seconds', help: 'Clock offset beyond which the node warns and an authority stops sealing (a clock found ahead: beyond 5 s at least), seconds.' }, () => clock.toleranceMs / 1000)
  scrapedGauge(registry, { name: 'medrec_clock_sealing_refused', help: '1 while this authority refuses to seal because its clock is off, else 0.' }, () => (clock.sealingFault() === undefined ? 0 : 1))
  scrapedGauge(
    registry,
    { name: 'medrec_clock_sealer_ahead_seconds', help: "Each recent sealer's clock minus the network's, seconds, from its least delayed recent block (positive: ahead).", labelNames: ['sealer'] },
    () => clock.sealers().map((s) => ({ labels: { sealer: s.sealer }, value: s.aheadSeconds })),
  )
}
