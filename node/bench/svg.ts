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
  /** A dashed horizontal line, e.g. the offered rate. */
  reference?: { y: number; label: string }
  /** Shaded x-ranges, e.g. the warm-up. */
  bands?: ReadonlyArray<{ from: number; to: number; label: string }>
  /** Fixed y-axis top (e.g. 1 for a CDF); default: a nice value above the data. */
  yMax?: number
  width?: number
  height?: number
}

const MARGIN = { left: 64, right: 20, top: 36, bottom: 48 }

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
  const dataXMax = Math.max(0, ...finite.map(([x]) => x), ...(c.bands ?? []).map((b) => b.to))
  const dataYMax = Math.max(0, ...finite.map(([, y]) => y), c.reference?.y ?? 0)
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
    out.push(`<rect x="${r1(x0)}" y="${MARGIN.top}" width="${r1(x1 - x0)}" height="${plotH}" fill="#eeeeee"/>`)
    out.push(`<text x="${r1((x0 + x1) / 2)}" y="${MARGIN.top + 14}" text-anchor="middle" fill="#777777">${escapeXml(b.label)}</text>`)
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
  if (finite.length === 0) {
    out.push(`<text x="${MARGIN.left + plotW / 2}" y="${MARGIN.top + plotH / 2}" text-anchor="middle" fill="#777777">no data</text>`)
  } else {
    const pts = finite.map(([x, y]) => `${r1(sx(x))},${r1(sy(y))}`).join(' ')
    out.push(`<polyline fill="none" stroke="#1f77b4" stroke-width="2" points="${pts}"/>`)
  }
  out.push('</svg>')
  return out.join('\n') + '\n'
}
