/**
 * A hand-written SVG line chart: axes with "nice" ticks, axis labels, a title, one series as a
 * <polyline>, optional shaded x-bands (warm-up) and a dashed horizontal reference (offered rate).
 * No chart library: the output is small, deterministic and readable in any browser.
 */

export interface LineChart {
  title: string
  xLabel: string
  yLabel: string
  points: ReadonlyArray<readonly [number, number]>
  /** Further series drawn in other colours, with a legend (e.g. one per node); `label` names the first. */
  more?: ReadonlyArray<{ label: string; points: ReadonlyArray<readonly [number, number]> }>
  label?: string
  /** A dashed horizontal line, e.g. the offered rate. */
  reference?: { y: number; label: string }
  /** Shaded x-ranges, e.g. the warm-up. */
  bands?: ReadonlyArray<Band>
  /** Fixed y-axis top (e.g. 1 for a CDF); default: a nice value above the data. */
  yMax?: number
  width?: number
  height?: number
}

/** A shaded x-range with a label at its top; `row` 1 puts the label a line lower (faults, under the phases). */
export interface Band {
  from: number
  to: number
  label: string
  /** Default light grey (phases); faults use FAULT_FILL. */
  fill?: string
  row?: number
}

const MARGIN = { left: 64, right: 20, top: 36, bottom: 48 }
/** Faults are shaded red, so they stand apart from the grey warm-up and drain. */
export const FAULT_FILL = '#f6d5d5'
/** Series colours, the first as the single-series charts have always used. */
const PALETTE = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf']

export function escapeXml(s: string): string {
  return s.replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c]!)
}

/** A 1-2-5 step for about `count` intervals over [0, max]. */
export function niceStep(max: number, count = 5): number {
  if (!(max > 0) || !Number.isFinite(max)) return 1
  const rough = max / count
  const mag = 10 ** Math.floor(Math.log10(rough))
  const r = rough / mag
  return (r < 1.5 ? 1 : r < 3 ? 2 : r < 7 ? 5 : 10) * mag
}

/** Ticks 0, step, 2·step, … up to the first one at or above `max`. */
export function niceTicks(max: number, count = 5): number[] {
  const step = niceStep(max, count)
  const ticks = [0]
  while (ticks.at(-1)! < max - step * 1e-9) ticks.push(ticks.length * step)
  // Rounding noise (0.30000000000000004) out of the labels.
  return ticks.map((t) => Number(t.toPrecision(12)))
}

/** A tick label: no more decimals than the step needs, thousands as k. */
export function formatTick(v: number, step: number): string {
  if (Math.abs(v) >= 10_000 && step >= 1000) return `${Number((v / 1000).toPrecision(6))}k`
  const decimals = step >= 1 ? 0 : Math.min(6, Math.ceil(-Math.log10(step) - 1e-9))
  return v.toFixed(decimals)
}

const r1 = (n: number): string => String(Math.round(n * 10) / 10)

export function lineChartSvg(c: LineChart): string {
  const width = c.width ?? 720
  const height = c.height ?? 360
  const plotW = width - MARGIN.left - MARGIN.right
  const plotH = height - MARGIN.top - MARGIN.bottom
  const finite = c.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y))
  const others = (c.more ?? []).map((m) => ({ label: m.label, points: m.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y)) }))
  const all = [...finite, ...others.flatMap((o) => o.points)]
  const dataXMax = Math.max(0, ...all.map(([x]) => x), ...(c.bands ?? []).map((b) => b.to))
  const dataYMax = Math.max(0, ...all.map(([, y]) => y), c.reference?.y ?? 0)
  const xTicks = niceTicks(dataXMax > 0 ? dataXMax : 1)
  const yTicks = c.yMax !== undefined ? niceTicks(c.yMax) : niceTicks(dataYMax > 0 ? dataYMax : 1)
  const xMax = xTicks.at(-1)!
  const yMax = c.yMax ?? yTicks.at(-1)!
  const sx = (x: number) => MARGIN.left + (x / xMax) * plotW
  const sy = (y: number) => MARGIN.top + plotH - (Math.min(y, yMax) / yMax) * plotH
  const xStep = xTicks[1] ?? 1
  const yStep = yTicks[1] ?? 1

  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<title>${escapeXml(c.title)}</title>`,
    `<rect x="0" y="0" width="${width}" height="${height}" fill="white"/>`,
    `<text x="${width / 2}" y="20" text-anchor="middle" font-size="14" font-weight="bold">${escapeXml(c.title)}</text>`,
  ]
  for (const b of c.bands ?? []) {
    const x0 = sx(Math.max(0, b.from))
    const x1 = sx(Math.min(xMax, b.to))
    if (x1 <= x0) continue
    const fault = b.fill === FAULT_FILL
    out.push(`<rect x="${r1(x0)}" y="${MARGIN.top}" width="${r1(x1 - x0)}" height="${plotH}" fill="${b.fill ?? '#eeeeee'}"${fault ? ' fill-opacity="0.8" class="fault"' : ''}/>`)
    out.push(`<text x="${r1((x0 + x1) / 2)}" y="${MARGIN.top + 14 * (1 + (b.row ?? 0))}" text-anchor="middle" fill="${fault ? '#aa3333' : '#777777'}">${escapeXml(b.label)}</text>`)
  }
  // Grid and tick labels.
  for (const y of yTicks) {
    out.push(`<line x1="${MARGIN.left}" y1="${r1(sy(y))}" x2="${MARGIN.left + plotW}" y2="${r1(sy(y))}" stroke="#dddddd"/>`)
    out.push(`<text x="${MARGIN.left - 6}" y="${r1(sy(y) + 4)}" text-anchor="end">${formatTick(y, yStep)}</text>`)
  }
  for (const x of xTicks) {
    out.push(`<line x1="${r1(sx(x))}" y1="${MARGIN.top + plotH}" x2="${r1(sx(x))}" y2="${MARGIN.top + plotH + 5}" stroke="black"/>`)
    out.push(`<text x="${r1(sx(x))}" y="${MARGIN.top + plotH + 18}" text-anchor="middle">${formatTick(x, xStep)}</text>`)
  }
  // Axes and their labels.
  out.push(`<line x1="${MARGIN.left}" y1="${MARGIN.top}" x2="${MARGIN.left}" y2="${MARGIN.top + plotH}" stroke="black"/>`)
  out.push(`<line x1="${MARGIN.left}" y1="${MARGIN.top + plotH}" x2="${MARGIN.left + plotW}" y2="${MARGIN.top + plotH}" stroke="black"/>`)
  out.push(`<text x="${MARGIN.left + plotW / 2}" y="${height - 8}" text-anchor="middle">${escapeXml(c.xLabel)}</text>`)
  out.push(`<text x="16" y="${MARGIN.top + plotH / 2}" text-anchor="middle" transform="rotate(-90 16 ${MARGIN.top + plotH / 2})">${escapeXml(c.yLabel)}</text>`)
  if (c.reference !== undefined) {
    const y = r1(sy(c.reference.y))
    out.push(`<line x1="${MARGIN.left}" y1="${y}" x2="${MARGIN.left + plotW}" y2="${y}" stroke="#cc3333" stroke-dasharray="6 4"/>`)
    out.push(`<text x="${MARGIN.left + plotW - 4}" y="${r1(sy(c.reference.y) - 5)}" text-anchor="end" fill="#cc3333">${escapeXml(c.reference.label)}</text>`)
  }
  for (const [k, o] of others.entries()) {
    const colour = PALETTE[(k + 1) % PALETTE.length]!
    if (o.points.length > 0) out.push(`<polyline fill="none" stroke="${colour}" stroke-width="2" points="${o.points.map(([x, y]) => `${r1(sx(x))},${r1(sy(y))}`).join(' ')}"/>`)
  }
  if (others.length > 0) {
    // Legend, top right inside the plot: the first series, then the others.
    for (const [k, label] of [c.label ?? '', ...others.map((o) => o.label)].entries()) {
      const y = MARGIN.top + 14 + 14 * k
      out.push(`<rect x="${MARGIN.left + plotW - 110}" y="${y - 8}" width="10" height="10" fill="${PALETTE[k % PALETTE.length]}"/>`)
      out.push(`<text x="${MARGIN.left + plotW - 96}" y="${y + 1}">${escapeXml(label)}</text>`)
    }
  }
  if (finite.length === 0 && others.every((o) => o.points.length === 0)) {
    out.push(`<text x="${MARGIN.left + plotW / 2}" y="${MARGIN.top + plotH / 2}" text-anchor="middle" fill="#777777">no data</text>`)
  } else if (finite.length > 0) {
    const pts = finite.map(([x, y]) => `${r1(sx(x))},${r1(sy(y))}`).join(' ')
    out.push(`<polyline fill="none" stroke="#1f77b4" stroke-width="2" points="${pts}"/>`)
  }
  out.push('</svg>')
  return out.join('\n') + '\n'
}

export interface BarChart {
  title: string
  xLabel: string
  yLabel: string
  /** One bar per bin: [from, to) and its height. */
  bars: ReadonlyArray<{ from: number; to: number; count: number }>
  width?: number
  height?: number
}

/** A histogram: one <rect class="bar"> per bin on the same axes, ticks and labels as the line chart. */
export function barChartSvg(c: BarChart): string {
  const width = c.width ?? 720
  const height = c.height ?? 360
  const plotW = width - MARGIN.left - MARGIN.right
  const plotH = height - MARGIN.top - MARGIN.bottom
  const xMin = Math.min(0, ...c.bars.map((b) => b.from))
  const xTicks = niceTicks(Math.max(1, ...c.bars.map((b) => b.to)) - xMin).map((t) => t + xMin)
  const yTicks = niceTicks(Math.max(1, ...c.bars.map((b) => b.count)))
  const xMax = xTicks.at(-1)!
  const yMax = yTicks.at(-1)!
  const sx = (x: number) => MARGIN.left + ((x - xMin) / (xMax - xMin)) * plotW
  const sy = (y: number) => MARGIN.top + plotH - (y / yMax) * plotH
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<title>${escapeXml(c.title)}</title>`,
    `<rect x="0" y="0" width="${width}" height="${height}" fill="white"/>`,
    `<text x="${width / 2}" y="20" text-anchor="middle" font-size="14" font-weight="bold">${escapeXml(c.title)}</text>`,
  ]
  for (const y of yTicks) {
    out.push(`<line x1="${MARGIN.left}" y1="${r1(sy(y))}" x2="${MARGIN.left + plotW}" y2="${r1(sy(y))}" stroke="#dddddd"/>`)
    out.push(`<text x="${MARGIN.left - 6}" y="${r1(sy(y) + 4)}" text-anchor="end">${formatTick(y, yTicks[1] ?? 1)}</text>`)
  }
  for (const x of xTicks) {
    out.push(`<line x1="${r1(sx(x))}" y1="${MARGIN.top + plotH}" x2="${r1(sx(x))}" y2="${MARGIN.top + plotH + 5}" stroke="black"/>`)
    out.push(`<text x="${r1(sx(x))}" y="${MARGIN.top + plotH + 18}" text-anchor="middle">${formatTick(x, (xTicks[1] ?? 1) - xTicks[0]!)}</text>`)
  }
  for (const b of c.bars) {
    if (b.count <= 0) continue
    const x0 = sx(b.from)
    const x1 = sx(b.to)
    out.push(`<rect class="bar" x="${r1(x0 + 0.5)}" y="${r1(sy(b.count))}" width="${r1(Math.max(1, x1 - x0 - 1))}" height="${r1(sy(0) - sy(b.count))}" fill="${PALETTE[0]}"><title>${b.from}–${b.to}: ${b.count}</title></rect>`)
  }
  out.push(`<line x1="${MARGIN.left}" y1="${MARGIN.top}" x2="${MARGIN.left}" y2="${MARGIN.top + plotH}" stroke="black"/>`)
  out.push(`<line x1="${MARGIN.left}" y1="${MARGIN.top + plotH}" x2="${MARGIN.left + plotW}" y2="${MARGIN.top + plotH}" stroke="black"/>`)
  out.push(`<text x="${MARGIN.left + plotW / 2}" y="${height - 8}" text-anchor="middle">${escapeXml(c.xLabel)}</text>`)
  out.push(`<text x="16" y="${MARGIN.top + plotH / 2}" text-anchor="middle" transform="rotate(-90 16 ${MARGIN.top + plotH / 2})">${escapeXml(c.yLabel)}</text>`)
  if (c.bars.every((b) => b.count <= 0)) out.push(`<text x="${MARGIN.left + plotW / 2}" y="${MARGIN.top + plotH / 2}" text-anchor="middle" fill="#777777">no data</text>`)
  out.push('</svg>')
  return out.join('\n') + '\n'
}
