/**
 * Axis arithmetic for the app's small SVG charts (charts.tsx): "nice" 1-2-5 ticks over a range and
 * tick labels with no more decimals than the step needs. The same approach as the bench reports'
 * hand-drawn charts (bench/harness/svg.ts), kept here because the browser bundle imports nothing of
 * bench/. Pure functions, no DOM: the unit tests import this file directly.
 */

/** A 1-2-5 step for about `count` intervals over a span of `span`. */
export function niceStep(span: number, count = 4): number {
  if (!(span > 0) || !Number.isFinite(span)) return 1
  const rough = span / count
  const mag = 10 ** Math.floor(Math.log10(rough))
  const r = rough / mag
  return (r < 1.5 ? 1 : r < 3 ? 2 : r < 7 ? 5 : 10) * mag
}

/**
 * Ticks covering [min, max] on multiples of a nice step: the first at or below `min`, the last at
 * or above `max`. An empty or flat range gets the ticks of [min, min + 1].
 */
export function niceTicks(min: number, max: number, count = 4): number[] {
  const lo = Number.isFinite(min) ? min : 0
  const hi = Number.isFinite(max) && max > lo ? max : lo + 1
  const step = niceStep(hi - lo, count)
  const first = Math.floor(lo / step + 1e-9) * step
  const ticks = [first]
  while (ticks.at(-1)! < hi - step * 1e-9) ticks.push(first + ticks.length * step)
  // Rounding noise (0.30000000000000004) out of the labels.
  return ticks.map((t) => Number(t.toPrecision(12)))
}

/** A tick label: no more decimals than the step needs; thousands as k, millions as M. */
export function formatTick(v: number, step: number): string {
  const a = Math.abs(v)
  if (a >= 1e6 && step >= 1e5) return `${Number((v / 1e6).toPrecision(6))}M`
  if (a >= 1e4 && step >= 1e3) return `${Number((v / 1e3).toPrecision(6))}k`
  const decimals = step >= 1 ? 0 : Math.min(6, Math.ceil(-Math.log10(step) - 1e-9))
  return v.toFixed(decimals)
}

/** A linear map from [d0, d1] onto [r0, r1] (a flat domain maps to r0). */
export function linear(d0: number, d1: number, r0: number, r1: number): (v: number) => number {
  const span = d1 - d0
  return (v) => (span === 0 ? r0 : r0 + ((v - d0) / span) * (r1 - r0))
}

/** One decimal for SVG coordinates: short, deterministic markup. */
export const r1 = (n: number): number => Math.round(n * 10) / 10
