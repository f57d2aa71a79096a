import { createLogger, errorMessage } from '../../common/index.ts'
import { MetricsError, MetricsErrorCode } from './errors.ts'

const log = createLogger('metrics')

/** The Content-Type of `Registry.render()`: the Prometheus text exposition format 0.0.4. */
export const CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8'

/** Prometheus client libraries' default histogram buckets (seconds). */
export const DEFAULT_BUCKETS: readonly number[] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

/** Every metric of this node is named `medrec_…`. */
export const PREFIX = 'medrec_'

export type MetricType = 'counter' | 'gauge' | 'histogram'

/** Label values by label name: exactly the metric's label names. */
export type Labels<L extends string> = Readonly<Record<L, string>>

/** One value of a metric read at scrape time. */
export interface Sample<L extends string = string> {
  labels?: Labels<L>
  value: number
}

export interface MetricOptions<L extends string> {
  /** `medrec_…`; a counter's name ends in `_total`. */
  name: string
  /** One line: what is measured, in which unit. */
  help: string
  labelNames?: readonly L[]
}

export interface HistogramOptions<L extends string> extends MetricOptions<L> {
  /** Upper bounds, strictly increasing; `+Inf` is added. Default DEFAULT_BUCKETS. */
  buckets?: readonly number[]
}

export interface Counter<L extends string = never> {
  inc(labels?: Labels<L>): void
  /** Adds `by` (>= 0; 0 makes the series appear at 0). */
  add(by: number, labels?: Labels<L>): void
}

export interface Gauge<L extends string = never> {
  set(value: number, labels?: Labels<L>): void
}

export interface Histogram<L extends string = never> {
  observe(value: number, labels?: Labels<L>): void
}

/**
 * Metrics of one process, written by hand in the Prometheus text format (no client library):
 * counters, gauges and histograms, with labels, or read by a callback at scrape time.
 * Families render in registration order; an unlabelled counter, gauge or histogram shows 0
 * from the start, a labelled one each label set once it is first touched.
 */
export interface Registry {
  counter<L extends string = never>(opts: MetricOptions<L>): Counter<L>
  gauge<L extends string = never>(opts: MetricOptions<L>): Gauge<L>
  histogram<L extends string = never>(opts: HistogramOptions<L>): Histogram<L>
  /** A counter or gauge whose samples `read` returns at each scrape (a number when unlabelled). */
  collected<L extends string = never>(type: 'counter' | 'gauge', opts: MetricOptions<L>, read: () => number | readonly Sample<L>[]): void
  /** Every family as the text exposition format 0.0.4 (CONTENT_TYPE). */
  render(): string
}

interface Family {
  name: string
  help: string
  type: MetricType
  /** Sample lines, or throws (a collector failed: the family renders without samples). */
  lines(): string[]
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/

/** `# HELP` text: backslash and line feed escaped. */
export function escapeHelp(s: string): string {
  return s.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')
}

/** A label value: backslash, double quote and line feed escaped. */
export function escapeLabelValue(s: string): string {
  return s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')
}

/** A sample value as Go's ParseFloat reads it (`+Inf`, `-Inf`, `NaN`). */
export function formatValue(v: number): string {
  if (Number.isNaN(v)) return 'NaN'
  if (v === Infinity) return '+Inf'
  if (v === -Infinity) return '-Inf'
  return String(v)
}

function labelText(names: readonly string[], values: readonly string[], extra?: [string, string]): string {
  const pairs = names.map((n, i) => `${n}="${escapeLabelValue(values[i]!)}"`)
  if (extra !== undefined) pairs.push(`${extra[0]}="${escapeLabelValue(extra[1])}"`)
  return pairs.length === 0 ? '' : `{${pairs.join(',')}}`
}

export function createRegistry(): Registry {
  const families: Family[] = []
  /** Every sample name in use (a histogram takes its `_bucket`, `_sum` and `_count`). */
  const taken = new Set<string>()

  function define(type: MetricType, opts: MetricOptions<string>): readonly string[] {
    const { name } = opts
    const fail = (message: string): never => {
      throw new MetricsError(MetricsErrorCode.INVALID_NAME, message, { name })
    }
    if (!METRIC_NAME.test(name) || !name.startsWith(PREFIX)) fail(`metric name "${name}" must start with ${PREFIX} and use only letters, digits, _ and :`)
    if (type === 'counter' && !name.endsWith('_total')) fail(`counter "${name}" must end in _total`)
    if (type !== 'counter' && name.endsWith('_total')) fail(`only counters end in _total, not the ${type} "${name}"`)
    const labelNames = opts.labelNames ?? []
    for (const l of labelNames) {
      if (!LABEL_NAME.test(l) || l.startsWith('__')) fail(`label name "${l}" of ${name} must use only letters, digits and _, and not start with __`)
      if (type === 'histogram' && l === 'le') fail(`histogram ${name} cannot have a label "le": it names the buckets`)
    }
    if (new Set(labelNames).size !== labelNames.length) fail(`metric ${name} lists a label name twice`)
    const names = type === 'histogram' ? [name, `${name}_bucket`, `${name}_sum`, `${name}_count`] : [name]
    for (const n of names) {
      if (taken.has(n)) throw new MetricsError(MetricsErrorCode.DUPLICATE_METRIC, `metric name ${n} is registered twice`, { name })
    }
    for (const n of names) taken.add(n)
    return labelNames
  }

  /** The values of `labels` in label-name order; throws unless they are exactly the label names. */
  function valuesOf(name: string, labelNames: readonly string[], labels: Readonly<Record<string, string>> | undefined): string[] {
    const given = labels === undefined ? [] : Object.keys(labels)
    if (given.length !== labelNames.length || labelNames.some((n) => typeof labels?.[n] !== 'string')) {
      throw new MetricsError(MetricsErrorCode.INVALID_LABELS, `metric ${name} takes labels {${labelNames.join(',')}}, got {${given.join(',')}}`, { name })
    }
    return labelNames.map((n) => labels![n]!)
  }

  function checkNumber(name: string, v: number): void {
    if (typeof v !== 'number' || Number.isNaN(v)) throw new MetricsError(MetricsErrorCode.INVALID_VALUE, `metric ${name} got ${String(v)}, not a number`, { name })
  }

  /** Series of a counter or gauge: label values → value. */
  function scalar(type: 'counter' | 'gauge', opts: MetricOptions<string>) {
    const labelNames = define(type, opts)
    const series = new Map<string, { values: string[]; value: number }>()
    if (labelNames.length === 0) series.set('[]', { values: [], value: 0 })
    const entry = (labels: Readonly<Record<string, string>> | undefined) => {
      const values = valuesOf(opts.name, labelNames, labels)
      const key = JSON.stringify(values)
      let e = series.get(key)
      if (e === undefined) series.set(key, (e = { values, value: 0 }))
      return e
    }
    families.push({
      name: opts.name,
      help: opts.help,
      type,
      lines: () => [...series.values()].map((e) => `${opts.name}${labelText(labelNames, e.values)} ${formatValue(e.value)}`),
    })
    return entry
  }

  return {
    counter<L extends string = never>(opts: MetricOptions<L>): Counter<L> {
      const entry = scalar('counter', opts)
      const add = (by: number, labels?: Labels<L>) => {
        checkNumber(opts.name, by)
        if (by < 0) throw new MetricsError(MetricsErrorCode.INVALID_VALUE, `counter ${opts.name} cannot decrease (add ${by}): use a gauge`, { name: opts.name })
        entry(labels).value += by
      }
      return { inc: (labels) => add(1, labels), add }
    },

    gauge<L extends string = never>(opts: MetricOptions<L>): Gauge<L> {
      const entry = scalar('gauge', opts)
      return {
        set(value, labels) {
          checkNumber(opts.name, value)
          entry(labels).value = value
        },
      }
    },

    histogram<L extends string = never>(opts: HistogramOptions<L>): Histogram<L> {
      const bounds = [...(opts.buckets ?? DEFAULT_BUCKETS)]
      if (bounds.length === 0 || bounds.some((b, i) => !Number.isFinite(b) || (i > 0 && b <= bounds[i - 1]!))) {
        throw new MetricsError(MetricsErrorCode.INVALID_VALUE, `histogram ${opts.name} needs finite, strictly increasing buckets, got [${bounds.join(', ')}]`, { name: opts.name })
      }
      const labelNames = define('histogram', opts)
      const les = [...bounds.map(formatValue), '+Inf']
      /** Per label set: observations per bucket (not cumulative; the last is above every bound), sum, count. */
      const series = new Map<string, { values: string[]; counts: number[]; sum: number; count: number }>()
      const fresh = (values: string[]) => ({ values, counts: new Array<number>(les.length).fill(0), sum: 0, count: 0 })
      if (labelNames.length === 0) series.set('[]', fresh([]))
      families.push({
        name: opts.name,
        help: opts.help,
        type: 'histogram',
        lines() {
          const out: string[] = []
          for (const s of series.values()) {
            let cumulative = 0
            for (let i = 0; i < les.length; i++) {
              cumulative += s.counts[i]!
              out.push(`${opts.name}_bucket${labelText(labelNames, s.values, ['le', les[i]!])} ${cumulative}`)
            }
            out.push(`${opts.name}_sum${labelText(labelNames, s.values)} ${formatValue(s.sum)}`)
            out.push(`${opts.name}_count${labelText(labelNames, s.values)} ${s.count}`)
          }
          return out
        },
      })
      return {
        observe(value, labels) {
          checkNumber(opts.name, value)
          const values = valuesOf(opts.name, labelNames, labels)
          const key = JSON.stringify(values)
          let s = series.get(key)
          if (s === undefined) series.set(key, (s = fresh(values)))
          let i = bounds.findIndex((b) => value <= b)
          if (i === -1) i = bounds.length
          s.counts[i]!++
          s.sum += value
          s.count++
        },
      }
    },

    collected<L extends string = never>(type: 'counter' | 'gauge', opts: MetricOptions<L>, read: () => number | readonly Sample<L>[]): void {
      const labelNames = define(type, opts)
      families.push({
        name: opts.name,
        help: opts.help,
        type,
        lines() {
          const got = read()
          const samples: readonly Sample<string>[] = typeof got === 'number' ? [{ value: got }] : got
          return samples.map((s) => {
            checkNumber(opts.name, s.value)
            return `${opts.name}${labelText(labelNames, valuesOf(opts.name, labelNames, s.labels))} ${formatValue(s.value)}`
          })
        },
      })
    },

    render(): string {
      const out: string[] = []
      for (const f of families) {
        out.push(`# HELP ${f.name} ${escapeHelp(f.help)}`, `# TYPE ${f.name} ${f.type}`)
        try {
          out.push(...f.lines())
        } catch (err) {
          // One broken collector must not cost the whole scrape.
          log.warn('Metric not collected', { metric: f.name }, errorMessage(err))
        }
      }
      return out.join('\n') + '\n'
    },
  }
}
