/**
 * Small accessible SVG charts for the operator's metrics and the researcher's aggregates: a line
 * chart (one or more series over x) and a horizontal bar chart (one bar per category, so long
 * group names fit a 360 px screen). No chart library: a few dozen elements each, drawn with SVG
 * presentation attributes only (the page's CSP allows no inline style).
 *
 * Screen readers: the SVG is one image whose name states the figures (latest, lowest, highest;
 * every bar's value), and the same data follows as a real table in a disclosure. No CSS of its own:
 * the app's classes (`table.data`, `.scroll`, `.grid`) only.
 */
import type { ComponentChildren, JSX } from 'preact'
import { useId } from 'preact/hooks'
import { formatTick, linear, niceTicks, r1 } from './charts-scale.ts'

/** Series colours with at least 4.5:1 contrast on white (WCAG AA for graphics and text). */
const PALETTE = ['#1f5f99', '#a84300', '#2a7a2a', '#b3202a', '#6a3d9a', '#5c4033']
const TEXT = '#222222'
const GRID = '#d0d0d0'

export interface Point {
  x: number
  y: number
}
export interface LineSeries {
  label: string
  points: readonly Point[]
}
export interface LineChartProps {
  title: string
  xLabel: string
  yLabel: string
  series: readonly LineSeries[]
  formatX?: (x: number) => string
  formatY?: (y: number) => string
  /** At most this many rows in the data table (the latest x values); default 30. */
  tableRows?: number
}

const W = 480
const H = 200
const M = { left: 52, right: 12, top: 12, bottom: 40 }

const plain = (v: number): string => (Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(4))))

/** "latest 12, lowest 3, highest 15" for one series (or "no data"). */
export function seriesSummary(s: LineSeries, fmt: (y: number) => string = plain): string {
  const ys = s.points.map((p) => p.y).filter(Number.isFinite)
  if (ys.length === 0) return `${s.label}: no data`
  return `${s.label}: latest ${fmt(ys.at(-1)!)}, lowest ${fmt(Math.min(...ys))}, highest ${fmt(Math.max(...ys))}`
}

/**
 * The figure: its caption, the SVG (one image named by its figures) and the same data as a table in
 * a disclosure ("Data table: <title>"), which keyboard and screen-reader users open like a button.
 */
function Figure(props: { title: string; svg: JSX.Element; table: ComponentChildren }): JSX.Element {
  const id = useId()
  return (
    <figure class="chart" aria-labelledby={`${id}-cap`}>
      <figcaption id={`${id}-cap`}>{props.title}</figcaption>
      {props.svg}
      <details>
        <summary>Data table: {props.title}</summary>
        <div class="scroll">{props.table}</div>
      </details>
    </figure>
  )
}

export function LineChart(props: LineChartProps): JSX.Element {
  const fx = props.formatX ?? plain
  const fy = props.formatY ?? plain
  const pts = props.series.flatMap((s) => s.points).filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y))
  const xMin = pts.length === 0 ? 0 : Math.min(...pts.map((p) => p.x))
  const xMax = pts.length === 0 ? 1 : Math.max(...pts.map((p) => p.x))
  const yTicks = niceTicks(0, Math.max(0, ...pts.map((p) => p.y)))
  const xTicks = niceTicks(xMin, xMax).filter((x) => x >= xMin - 1e-9 && x <= xMax + 1e-9)
  const yTop = yTicks.at(-1)!
  const sx = linear(xMin, xMax, M.left, W - M.right)
  const sy = linear(0, yTop, H - M.bottom, M.top)
  const yStep = (yTicks[1] ?? 1) - yTicks[0]!
  const label = `${props.title}. ${props.series.map((s) => seriesSummary(s, fy)).join('. ')}.`

  // Table: one row per x (latest first), one column per series.
  const xs = [...new Set(pts.map((p) => p.x))].sort((a, b) => b - a).slice(0, props.tableRows ?? 30)
  const byX = props.series.map((s) => new Map(s.points.map((p) => [p.x, p.y])))
  const table = (
    <table class="data">
      <caption>
        {props.title}
        {xs.length < new Set(pts.map((p) => p.x)).size ? ` (the latest ${xs.length})` : ''}
      </caption>
      <thead>
        <tr>
          <th scope="col">{props.xLabel}</th>
          {props.series.map((s) => (
            <th scope="col" key={s.label}>
              {s.label}
            </th>
          ))}
        </tr>
      </thead>
      <tbody>
        {xs.map((x) => (
          <tr key={x}>
            <th scope="row">{fx(x)}</th>
            {byX.map((m, i) => {
              const y = m.get(x)
              return <td key={i}>{y === undefined ? '' : fy(y)}</td>
            })}
          </tr>
        ))}
      </tbody>
    </table>
  )

  const svg = (
    <svg class="chart-svg" role="img" aria-label={label} viewBox={`0 0 ${W} ${H}`} width="100%" font-family="sans-serif" font-size="12" fill={TEXT}>
      {yTicks.map((y) => (
        <g key={`y${y}`}>
          <line x1={M.left} x2={W - M.right} y1={r1(sy(y))} y2={r1(sy(y))} stroke={GRID} />
          <text x={M.left - 4} y={r1(sy(y) + 4)} text-anchor="end">
            {formatTick(y, yStep)}
          </text>
        </g>
      ))}
      {xTicks.map((x) => (
        <text key={`x${x}`} x={r1(sx(x))} y={H - M.bottom + 14} text-anchor="middle">
          {fx(x)}
        </text>
      ))}
      <line x1={M.left} x2={W - M.right} y1={H - M.bottom} y2={H - M.bottom} stroke={TEXT} />
      <text x={(M.left + W - M.right) / 2} y={H - 6} text-anchor="middle">
        {props.xLabel}
      </text>
      <text x={12} y={(M.top + H - M.bottom) / 2} text-anchor="middle" transform={`rotate(-90 12 ${(M.top + H - M.bottom) / 2})`}>
        {props.yLabel}
      </text>
      {pts.length === 0 ? (
        <text x={(M.left + W - M.right) / 2} y={(M.top + H - M.bottom) / 2} text-anchor="middle">
          no data yet
        </text>
      ) : null}
      {props.series.map((s, i) => {
        const ok = s.points.filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y))
        const colour = PALETTE[i % PALETTE.length]!
        if (ok.length === 1) return <circle key={s.label} cx={r1(sx(ok[0]!.x))} cy={r1(sy(ok[0]!.y))} r={3} fill={colour} />
        return <polyline key={s.label} fill="none" stroke={colour} stroke-width={2} points={ok.map((p) => `${r1(sx(p.x))},${r1(sy(p.y))}`).join(' ')} />
      })}
      {props.series.length > 1
        ? props.series.map((s, i) => (
            <g key={`legend${s.label}`}>
              <rect x={M.left + 8 + i * 110} y={M.top} width={10} height={10} fill={PALETTE[i % PALETTE.length]} />
              <text x={M.left + 22 + i * 110} y={M.top + 9}>
                {s.label}
              </text>
            </g>
          ))
        : null}
    </svg>
  )
  return <Figure title={props.title} svg={svg} table={table} />
}

export interface Bar {
  label: string
  value: number
}
export interface BarChartProps {
  title: string
  /** What the bars count or measure, e.g. "patients" (the value column's heading). */
  valueLabel: string
  /** The category column's heading, e.g. "code". */
  categoryLabel: string
  bars: readonly Bar[]
  formatValue?: (v: number) => string
}

const BAR_H = 22
const LABEL_W = 150
/** SVG text is not wrapped: long category names are cut, in full in the table and each bar's title. */
const MAX_LABEL = 22

export function BarChart(props: BarChartProps): JSX.Element {
  const fv = props.formatValue ?? plain
  const bars = props.bars.filter((b) => Number.isFinite(b.value))
  const ticks = niceTicks(0, Math.max(0, ...bars.map((b) => b.value)))
  const top = ticks.at(-1)!
  const height = M.top + Math.max(1, bars.length) * BAR_H + 24
  const sx = linear(0, top, LABEL_W, W - M.right)
  const step = (ticks[1] ?? 1) - ticks[0]!
  const label =
    bars.length === 0
      ? `${props.title}: no data.`
      : `${props.title}. ${bars.map((b) => `${b.label}: ${fv(b.value)} ${props.valueLabel}`).join('; ')}.`
  const table = (
    <table class="data">
      <caption>{props.title}</caption>
      <thead>
        <tr>
          <th scope="col">{props.categoryLabel}</th>
          <th scope="col">{props.valueLabel}</th>
        </tr>
      </thead>
      <tbody>
        {bars.map((b, i) => (
          <tr key={i}>
            <th scope="row">{b.label}</th>
            <td>{fv(b.value)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  )
  const svg = (
    <svg class="chart-svg" role="img" aria-label={label} viewBox={`0 0 ${W} ${height}`} width="100%" font-family="sans-serif" font-size="12" fill={TEXT}>
      {ticks.map((v) => (
        <g key={`t${v}`}>
          <line x1={r1(sx(v))} x2={r1(sx(v))} y1={M.top} y2={height - 20} stroke={GRID} />
          <text x={r1(sx(v))} y={height - 6} text-anchor="middle">
            {formatTick(v, step)}
          </text>
        </g>
      ))}
      {bars.length === 0 ? (
        <text x={W / 2} y={M.top + 14} text-anchor="middle">
          no data
        </text>
      ) : null}
      {bars.map((b, i) => {
        const y = M.top + i * BAR_H
        const name = b.label.length > MAX_LABEL ? `${b.label.slice(0, MAX_LABEL - 1)}…` : b.label
        return (
          <g key={i}>
            <text x={LABEL_W - 6} y={y + 15} text-anchor="end">
              {name}
            </text>
            <rect x={LABEL_W} y={y + 3} width={r1(Math.max(1, sx(Math.max(0, b.value)) - LABEL_W))} height={BAR_H - 6} fill={PALETTE[0]}>
              <title>{`${b.label}: ${fv(b.value)}`}</title>
            </rect>
          </g>
        )
      })}
    </svg>
  )
  return <Figure title={props.title} svg={svg} table={table} />
}
