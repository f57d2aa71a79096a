/**
 * The operator's "Metrics" section: the node's key figures from GET /api/metrics (sampled every
 * 2 s over the last 10 minutes by the UI server; counts are per 2 s interval) as small line charts,
 * x in seconds before the latest sample. A figure the server does not report is left out rather
 * than drawn flat.
 */
import type { JSX } from 'preact'
import { LineChart, type LineSeries } from '../charts.tsx'
import type { MetricsSample } from '../api/index.ts'

/** One chart: its title, y-axis label and the sample fields it draws (one series each). */
interface ChartDef {
  title: string
  yLabel: string
  fields: { key: string; label: string }[]
}

const CHARTS: ChartDef[] = [
  { title: 'Chain head', yLabel: 'block', fields: [{ key: 'head', label: 'head block' }] },
  { title: 'Peers', yLabel: 'peers', fields: [{ key: 'peers', label: 'peers' }] },
  {
    title: 'Transaction pool',
    yLabel: 'transactions',
    fields: [
      { key: 'pending', label: 'pending' },
      { key: 'queued', label: 'queued' },
    ],
  },
  {
    title: 'Blocks per interval',
    yLabel: 'blocks',
    fields: [
      { key: 'blocks', label: 'new heads' },
      { key: 'sealed', label: 'sealed here' },
      { key: 'imported', label: 'imported' },
    ],
  },
  { title: 'Transactions in new blocks', yLabel: 'transactions', fields: [{ key: 'blockTxs', label: 'transactions' }] },
  { title: 'Gas in new blocks', yLabel: 'gas', fields: [{ key: 'blockGas', label: 'gas' }] },
  {
    title: 'Block import time',
    yLabel: 'ms',
    fields: [
      { key: 'importMs', label: 'mean' },
      { key: 'importMaxMs', label: 'longest' },
    ],
  },
  {
    title: 'Gatekeeper requests',
    yLabel: 'requests',
    fields: [
      { key: 'served', label: 'served' },
      { key: 'refused', label: 'refused' },
    ],
  },
]

/** Sample times are unix milliseconds; the charts count seconds. */
const seconds = (t: number): number => t / 1000

export function MetricsCharts(props: { samples: readonly MetricsSample[] }): JSX.Element {
  const samples = props.samples
  const last = samples.length === 0 ? 0 : seconds(samples.at(-1)!.t)
  const shown = CHARTS.map((c) => ({ ...c, fields: c.fields.filter((f) => samples.some((s) => typeof s[f.key] === 'number')) })).filter((c) => c.fields.length > 0)
  return (
    <section class="card" aria-labelledby="op-metrics">
      <h2 id="op-metrics">Metrics</h2>
      {samples.length === 0 ? (
        <p class="muted">No samples yet: the node samples its figures every 2 seconds.</p>
      ) : (
        <div class="grid">
          {shown.map((c) => {
            const series: LineSeries[] = c.fields.map((f) => ({
              label: f.label,
              points: samples.filter((s) => typeof s[f.key] === 'number').map((s) => ({ x: Math.round(seconds(s.t) - last), y: s[f.key]! })),
            }))
            return <LineChart key={c.title} title={c.title} xLabel="seconds before now" yLabel={c.yLabel} series={series} formatX={(x) => (x === 0 ? 'now' : `${x} s`)} />
          })}
        </div>
      )}
    </section>
  )
}
