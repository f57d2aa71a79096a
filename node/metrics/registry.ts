import { Gauge, Registry, type LabelValues } from 'prom-client'
import { createLogger, errorMessage } from '../../common/index.ts'

const log = createLogger('metrics')

/** The Content-Type of `Registry.metrics()`: the Prometheus text exposition format 0.0.4. */
export const CONTENT_TYPE = Registry.PROMETHEUS_CONTENT_TYPE

/**
 * A node's own prom-client registry. Never prom-client's global one: tests run several nodes in
 * one process, and their metrics must not mix (nor clash on registration).
 */
export function createRegistry(): Registry {
  return new Registry()
}

/** One labelled value of a gauge read at scrape time. */
export interface Sample<L extends string> {
  labels: LabelValues<L>
  value: number
}

export interface GaugeSpec<L extends string> {
  /** `medrec_…`, no `_total` (only counters end so). */
  name: string
  /** One line: what is measured, in which unit. */
  help: string
  labelNames?: readonly L[]
}

/**
 * A gauge whose value `read` returns at each scrape (its prom-client `collect()`). prom-client
 * fails the whole scrape when one collect throws; here the failure is logged and costs only this
 * gauge's samples (none when labelled, NaN — Prometheus's "no value" — when not).
 */
export function scrapedGauge<L extends string = never>(registry: Registry, spec: GaugeSpec<L>, read: () => number | readonly Sample<L>[]): Gauge<L> {
  const labelled = (spec.labelNames ?? []).length > 0
  return new Gauge<L>({
    name: spec.name,
    help: spec.help,
    labelNames: spec.labelNames ?? [],
    registers: [registry],
    collect() {
      let got: number | readonly Sample<L>[]
      try {
        got = read()
      } catch (err) {
        this.reset()
        if (!labelled) this.set(NaN)
        log.warn('Metric not collected', { metric: spec.name }, errorMessage(err))
        return
      }
      if (typeof got === 'number') return this.set(got)
      this.reset()
      for (const s of got) this.set(s.labels, s.value)
    },
  })
}
