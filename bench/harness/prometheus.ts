/**
 * The one reader of the Prometheus text exposition format 0.0.4 here, used by the bench harness
 * (scrape.ts) and the tests alike. Strict: it throws a BenchError (BAD_METRICS) on anything a
 * scraper could misread (a sample before its TYPE, a family split in two, bad escapes, duplicate
 * series, histogram buckets that are not cumulative or miss +Inf), so the tests that read a
 * node's /metrics through it check the exposition too.
 *
 * Hand-written on purpose: prom-client only writes the format, and the one small npm parser
 * (parse-prometheus-text-format) is unmaintained and lenient, which would let a malformed
 * exposition pass the tests.
 */
import { BenchError, BenchErrorCode } from './errors.ts'

const bad = (message: string): BenchError => new BenchError(BenchErrorCode.BAD_METRICS, message)

export interface MetricSample {
  name: string
  labels: Record<string, string>
  value: number
}

export interface MetricFamily {
  name: string
  type: string
  help: string | undefined
  samples: MetricSample[]
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*/
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*/
const FLOAT = /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped'])

function parseValue(s: string, line: string): number {
  // prom-client writes "Nan": Go's ParseFloat, which Prometheus reads values with, ignores case.
  if (s.toLowerCase() === 'nan') return NaN
  if (s === '+Inf') return Infinity
  if (s === '-Inf') return -Infinity
  if (!FLOAT.test(s)) throw bad(`bad value "${s}" in: ${line}`)
  return Number(s)
}

/** `{a="x",b="y"}` at the start of `s`: the labels and the rest of the line. */
function parseLabels(s: string, line: string): { labels: Record<string, string>; rest: string } {
  const labels: Record<string, string> = {}
  let i = 1
  if (s[i] === '}') return { labels, rest: s.slice(i + 1) }
  for (;;) {
    const name = LABEL.exec(s.slice(i))?.[0]
    if (name === undefined) throw bad(`bad label name in: ${line}`)
    i += name.length
    if (s.slice(i, i + 2) !== '="') throw bad(`expected =" after label ${name} in: ${line}`)
    i += 2
    let value = ''
    for (;;) {
      const c = s[i]
      if (c === undefined || c === '\n') throw bad(`unterminated label value in: ${line}`)
      if (c === '"') break
      if (c === '\\') {
        const e = s[i + 1]
        if (e === '\\') value += '\\'
        else if (e === '"') value += '"'
        else if (e === 'n') value += '\n'
        else throw bad(`bad escape \\${e} in: ${line}`)
        i += 2
        continue
      }
      value += c
      i++
    }
    i++
    if (Object.hasOwn(labels, name)) throw bad(`label ${name} twice in: ${line}`)
    labels[name] = value
    if (s[i] === ',') {
      i++
      continue
    }
    if (s[i] === '}') return { labels, rest: s.slice(i + 1) }
    throw bad(`expected , or } in: ${line}`)
  }
}

function unescapeHelp(s: string, line: string): string {
  return s.replace(/\\(.)/g, (_m, e: string) => {
    if (e === '\\') return '\\'
    if (e === 'n') return '\n'
    throw bad(`bad escape in HELP: ${line}`)
  })
}

/** The family a sample name belongs to, given the family being read. */
function familyOf(name: string, current: MetricFamily | undefined): boolean {
  if (current === undefined) return false
  if (name === current.name) return current.type !== 'histogram' && current.type !== 'summary'
  if (current.type === 'histogram') return [`${current.name}_bucket`, `${current.name}_sum`, `${current.name}_count`].includes(name)
  return false
}

export function parseExposition(text: string): Map<string, MetricFamily> {
  if (!text.endsWith('\n')) throw bad('the exposition must end with a line feed')
  const families = new Map<string, MetricFamily>()
  let current: MetricFamily | undefined
  const series = new Set<string>()
  /** Families whose TYPE line was read. */
  const typed = new Set<string>()
  for (const line of text.slice(0, -1).split('\n')) {
    if (line.startsWith('#')) {
      const m = /^# (HELP|TYPE) ([^ ]+) ?(.*)$/.exec(line)
      if (m === null) throw bad(`unexpected comment: ${line}`)
      const [, kind, name, rest] = m as unknown as [string, 'HELP' | 'TYPE', string, string]
      if (!NAME.test(name) || NAME.exec(name)![0] !== name) throw bad(`bad metric name in: ${line}`)
      let f = families.get(name)
      if (f === undefined) {
        f = { name, type: 'untyped', help: undefined, samples: [] }
        families.set(name, f)
      } else if (f !== current) {
        throw bad(`family ${name} appears twice, split by another family`)
      }
      if (f.samples.length > 0) throw bad(`${kind} for ${name} after its samples`)
      if (kind === 'HELP') {
        if (f.help !== undefined) throw bad(`second HELP for ${name}`)
        f.help = unescapeHelp(rest, line)
      } else {
        if (typed.has(name)) throw bad(`second TYPE for ${name}`)
        if (!TYPES.has(rest)) throw bad(`unknown type "${rest}" for ${name}`)
        f.type = rest
        typed.add(name)
      }
      current = f
      continue
    }
    // Blank lines are ignored by the format (prom-client puts one between families).
    if (line === '') continue
    const name = NAME.exec(line)?.[0]
    if (name === undefined) throw bad(`bad sample line: ${line}`)
    let rest = line.slice(name.length)
    let labels: Record<string, string> = {}
    if (rest.startsWith('{')) ({ labels, rest } = parseLabels(rest, line))
    const parts = rest.split(' ')
    if (parts[0] !== '' || parts.length < 2 || parts.length > 3) throw bad(`expected " value [timestamp]" in: ${line}`)
    const value = parseValue(parts[1]!, line)
    if (!familyOf(name, current) || !typed.has(current!.name)) throw bad(`sample ${name} has no TYPE line before it (or follows another family)`)
    const key = `${name}${JSON.stringify(Object.entries(labels).sort())}`
    if (series.has(key)) throw bad(`duplicate series: ${line}`)
    series.add(key)
    current!.samples.push({ name, labels, value })
  }
  for (const f of families.values()) checkFamily(f)
  return families
}

function withoutLe(labels: Record<string, string>): string {
  return JSON.stringify(Object.entries(labels).filter(([k]) => k !== 'le').sort())
}

function checkFamily(f: MetricFamily): void {
  if (f.type === 'counter') {
    for (const s of f.samples) if (!(s.value >= 0)) throw bad(`counter ${f.name} has value ${s.value}`)
  }
  if (f.type !== 'histogram') return
  const groups = new Map<string, { les: number[]; counts: number[]; sum?: number; count?: number }>()
  for (const s of f.samples) {
    const key = withoutLe(s.labels)
    let g = groups.get(key)
    if (g === undefined) groups.set(key, (g = { les: [], counts: [] }))
    if (s.name.endsWith('_bucket')) {
      if (s.labels.le === undefined) throw bad(`${s.name} without le`)
      g.les.push(parseValue(s.labels.le, s.name))
      g.counts.push(s.value)
    } else if (s.name.endsWith('_sum')) g.sum = s.value
    else g.count = s.value
  }
  for (const [key, g] of groups) {
    const where = `${f.name}${key}`
    if (g.les.length === 0 || g.les[g.les.length - 1] !== Infinity) throw bad(`${where}: buckets must end with le="+Inf"`)
    for (let i = 1; i < g.les.length; i++) {
      if (!(g.les[i]! > g.les[i - 1]!)) throw bad(`${where}: le values not increasing`)
      if (g.counts[i]! < g.counts[i - 1]!) throw bad(`${where}: bucket counts not cumulative`)
    }
    if (g.sum === undefined || g.count === undefined) throw bad(`${where}: missing _sum or _count`)
    if (g.counts[g.counts.length - 1] !== g.count) throw bad(`${where}: +Inf bucket ${g.counts[g.counts.length - 1]} != _count ${g.count}`)
  }
}

/** The value of the sample `name` with exactly `labels`, or undefined. */
export function sampleValue(families: Map<string, MetricFamily>, name: string, labels: Record<string, string> = {}): number | undefined {
  const want = JSON.stringify(Object.entries(labels).sort())
  for (const f of families.values()) {
    for (const s of f.samples) if (s.name === name && JSON.stringify(Object.entries(s.labels).sort()) === want) return s.value
  }
  return undefined
}

/** The sum of every sample called `name` (all label sets). */
export function sampleSum(families: Map<string, MetricFamily>, name: string): number {
  let sum = 0
  for (const f of families.values()) for (const s of f.samples) if (s.name === name) sum += s.value
  return sum
}
