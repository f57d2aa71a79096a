import t from 'tap'
import { barChartSvg, escapeXml, formatTick, lineChartSvg, niceStep, niceTicks } from '../../bench/harness/svg.ts'

const polylines = (svg: string): string[] => [...svg.matchAll(/<polyline\b[^>]*\bpoints="([^"]*)"/g)].map((m) => m[1]!)

t.test('nice ticks: 1-2-5 steps from 0 to at least the maximum', async (t) => {
  t.same(niceTicks(17), [0, 5, 10, 15, 20])
  t.same(niceTicks(20), [0, 5, 10, 15, 20])
  t.same(niceTicks(1), [0, 0.2, 0.4, 0.6, 0.8, 1])
  t.same(niceTicks(0.3), [0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3], 'no rounding noise')
  t.same(niceTicks(1234), [0, 200, 400, 600, 800, 1000, 1200, 1400])
  t.equal(niceStep(0), 1, 'no data: a unit step')
  t.equal(niceStep(NaN), 1)
  t.equal(formatTick(0.2, 0.2), '0.2')
  t.equal(formatTick(0.05, 0.05), '0.05')
  t.equal(formatTick(15, 5), '15')
  t.equal(formatTick(20000, 5000), '20k')
})

t.test('a line chart: axes, labels, one polyline in plot coordinates', async (t) => {
  // 720 × 360 with margins 64/20/36/48: the plot spans x 64..700 and y 36..312.
  const svg = lineChartSvg({ title: 'tx/s <a & b>', xLabel: 'seconds', yLabel: 'tx/s', points: [[0, 0], [5, 10], [10, 20]] })
  t.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg" width="720" height="360"/)
  t.ok(svg.trimEnd().endsWith('</svg>'))
  t.same(polylines(svg), ['64,312 382,174 700,36'])
  t.match(svg, '<title>tx/s &lt;a &amp; b&gt;</title>', 'the title is escaped')
  t.notMatch(svg, '<a & b>')
  t.match(svg, '>seconds</text>')
  t.match(svg, /rotate\(-90[^>]*>tx\/s<\/text>/, 'the y label is vertical')
  for (const tick of ['0', '5', '10', '15', '20']) t.match(svg, new RegExp(`text-anchor="end">${tick}</text>`), `y tick ${tick}`)
  // Tags are balanced enough for an XML reader: every opened element is closed or self-closing.
  const open = [...svg.matchAll(/<(\w+)[^>]*?(\/?)>/g)].filter((m) => m[2] === '').map((m) => m[1])
  const closed = [...svg.matchAll(/<\/(\w+)>/g)].map((m) => m[1])
  t.same(open.sort(), closed.sort(), 'every element is closed')
})

t.test('reference line, bands, a fixed y range, no data', async (t) => {
  const svg = lineChartSvg({ title: 'x', xLabel: 'x', yLabel: 'y', points: [[0, 5], [10, 50]], reference: { y: 10, label: 'offered 10/s' }, bands: [{ from: 0, to: 2, label: 'warm-up' }], yMax: 20 })
  t.same(polylines(svg), ['64,243 700,36'], 'a value above yMax is drawn at the top')
  t.match(svg, /<line [^>]*y1="174"[^>]*stroke-dasharray/, 'the reference at y=10')
  t.match(svg, '>offered 10/s</text>')
  t.match(svg, /<rect x="64" y="36" width="127.2" height="276" fill="#eeeeee"\/>/, 'the warm-up band spans 0..2 of 10')
  t.match(svg, '>warm-up</text>')
  const empty = lineChartSvg({ title: 'x', xLabel: 'x', yLabel: 'y', points: [] })
  t.same(polylines(empty), [], 'no polyline without data')
  t.match(empty, '>no data</text>')
  const nan = lineChartSvg({ title: 'x', xLabel: 'x', yLabel: 'y', points: [[0, NaN], [1, 1]] })
  t.same(polylines(nan), ['700,36'], 'non-finite points are skipped')
  t.equal(escapeXml(`"it's"`), '&quot;it&apos;s&quot;')
})

t.test('a bar chart: a rect per non-empty bin, heights by count; more series in a line chart get a legend', async (t) => {
  const svg = barChartSvg({ title: 'Intervals <ms>', xLabel: 'ms', yLabel: 'n', bars: [{ from: 0, to: 100, count: 2 }, { from: 100, to: 200, count: 0 }, { from: 200, to: 300, count: 4 }] })
  const bars = [...svg.matchAll(/<rect class="bar" x="([\d.]+)" y="([\d.]+)" width="([\d.]+)" height="([\d.]+)"/g)].map((m) => m.slice(1).map(Number))
  t.equal(bars.length, 2, 'the empty bin draws nothing')
  t.ok(Math.abs(bars[1]![3]! - 2 * bars[0]![3]!) < 0.2, 'twice the count, twice the height')
  t.ok(bars[1]![0]! > bars[0]![0]!, 'in x order')
  t.match(svg, '<title>Intervals &lt;ms&gt;</title>')
  t.match(barChartSvg({ title: 'x', xLabel: 'x', yLabel: 'y', bars: [] }), 'no data')
  const multi = lineChartSvg({ title: 't', xLabel: 'x', yLabel: 'y', points: [[0, 1], [1, 2]], label: 'node 0', more: [{ label: 'node 1', points: [[0, 3], [1, 4]] }] })
  t.equal(polylines(multi).length, 2, 'one polyline per series')
  t.match(multi, '>node 0</text>')
  t.match(multi, '>node 1</text>')
  t.match(multi, 'stroke="#ff7f0e"', 'the second series in the second colour')
})
