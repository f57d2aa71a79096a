/**
 * A strict reader of the Prometheus text exposition format 0.0.4, for tests: it throws on
 * anything a scraper could misread (a sample before its TYPE, a family split in two, bad
 * escapes, duplicate series, histogram buckets that are not cumulative or miss +Inf).
 */

export interface Sample {
  name: string
  labels: Record<string, string>
  value: number
}

export interface Family {
  name: string
  type: string
  help: string | undefined
  samples: Sample[]
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*/
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*/
const FLOAT = /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped'])

function parseValue(s: string, line: string): number {
  if (s === 'NaN') return NaN
  if (s === '+Inf') return Infinity
  if (s === '-Inf') return -Infinity
  if (!FLOAT.test(s)) throw new Error(`bad value "${s}" in: ${line}`)
  return Number(s)
}

/** `{a="x",b="y"}` at the start of `s`: the labels and the rest of the line. */
function parseLabels(s: string, line: string): { labels: Record<string, string>; rest: string } {
  const labels: Record<string, string> = {}
  let i = 1
  if (s[i] === '}') return { labels, rest: s.slice(i + 1) }
  for (;;) {
    const name = LABEL.exec(s.slice(i))?.[0]
    if (name === undefined) throw new Error(`bad label name in: ${line}`)
    i += name.length
    if (s.slice(i, i + 2) !== '="') throw new Error(`expected =" after label ${name} in: ${line}`)
    i += 2
    let value = ''
    for (;;) {
      const c = s[i]
      if (c === undefined || c === '\n') throw new Error(`unterminated label value in: ${line}`)
      if (c === '"') break
      if (c === '\\') {
        const e = s[i + 1]
        if (e === '\\') value += '\\'
        else if (e === '"') value += '"'
        else if (e === 'n') value += '\n'
        else throw new Error(`bad escape \\${e} in: ${line}`)
        i += 2
        continue
      }
      value += c
      i++
    }
    i++
    if (Object.hasOwn(labels, name)) throw new Error(`label ${name} twice in: ${line}`)
    labels[name] = value
    if (s[i] === ',') {
      i++
      continue
    }
    if (s[i] === '}') return { labels, rest: s.slice(i + 1) }
    throw new Error(`expected , or } in: ${line}`)
  }
}

function unescapeHelp(s: string, line: string): string {
  return s.replace(/\\(.)/g, (_m, e: string) => {
    if (e === '\\') return '\\'
    if (e === 'n') return '\n'
    throw new Error(`bad escape in HELP: ${line}`)
  })
}

/** The family a sample name belongs to, given the family being read. */
function familyOf(name: string, current: Family | undefined): boolean {
  if (current === undefined) return false
  if (name === current.name) return current.type !== 'histogram' && current.type !== 'summary'
  if (current.type === 'histogram') return [`${current.name}_bucket`, `${current.name}_sum`, `${current.name}_count`].includes(name)
  return false
}

export function parseExposition(text: string): Map<string, Family> {
  if (!text.endsWith('\n')) throw new Error('the exposition must end with a line feed')
  const families = new Map<string, Family>()
  let current: Family | undefined
  const series = new Set<string>()
  /** Families whose TYPE line was read. */
  const typed = new Set<string>()
  for (const line of text.slice(0, -1).split('\n')) {
    if (line.startsWith('#')) {
      const m = /^# (HELP|TYPE) ([^ ]+) ?(.*)$/.exec(line)
      if (m === null) throw new Error(`unexpected comment: ${line}`)
      const [, kind, name, rest] = m as unknown as [string, 'HELP' | 'TYPE', string, string]
      if (!NAME.test(name) || NAME.exec(name)![0] !== name) throw new Error(`bad metric name in: ${line}`)
      let f = families.get(name)
      if (f === undefined) {
        f = { name, type: 'untyped', help: undefined, samples: [] }
        families.set(name, f)
      } else if (f !== current) {
        throw new Error(`family ${name} appears twice, split by another family`)
      }
      if (f.samples.length > 0) throw new Error(`${kind} for ${name} after its samples`)
      if (kind === 'HELP') {
        if (f.help !== undefined) throw new Error(`second HELP for ${name}`)
        f.help = unescapeHelp(rest, line)
      } else {
        if (typed.has(name)) throw new Error(`second TYPE for ${name}`)
        if (!TYPES.has(rest)) throw new Error(`unknown type "${rest}" for ${name}`)
        f.type = rest
        typed.add(name)
      }
      current = f
      continue
    }
    if (line.trim() === '') throw new Error('blank line in the exposition')
    const name = NAME.exec(line)?.[0]
    if (name === undefined) throw new Error(`bad sample line: ${line}`)
    let rest = line.slice(name.length)
    let labels: Record<string, string> = {}
    if (rest.startsWith('{')) ({ labels, rest } = parseLabels(rest, line))
    const parts = rest.split(' ')
    if (parts[0] !== '' || parts.length < 2 || parts.length > 3) throw new Error(`expected " value [timestamp]" in: ${line}`)
    const value = parseValue(parts[1]!, line)
    if (!familyOf(name, current) || !typed.has(current!.name)) throw new Error(`sample ${name} has no TYPE line before it (or follows another family)`)
    const key = `${name}${JSON.stringify(Object.entries(labels).sort())}`
    if (series.has(key)) throw new Error(`duplicate series: ${line}`)
    series.add(key)
    current!.samples.push({ name, labels, value })
  }
  for (const f of families.values()) checkFamily(f)
  return families
}

function withoutLe(labels: Record<string, string>): string {
  return JSON.stringify(Object.entries(labels).filter(([k]) => k !== 'le').sort())
}

function checkFamily(f: Family): void {
  if (f.type === 'counter') {
    for (const s of f.samples) if (!(s.value >= 0)) throw new Error(`counter ${f.name} has value ${s.value}`)
  }
  if (f.type !== 'histogram') return
  const groups = new Map<string, { les: number[]; counts: number[]; sum?: number; count?: number }>()
  for (const s of f.samples) {
    const key = withoutLe(s.labels)
    let g = groups.get(key)
    if (g === undefined) groups.set(key, (g = { les: [], counts: [] }))
    if (s.name.endsWith('_bucket')) {
      if (s.labels.le === undefined) throw new Error(`${s.name} without le`)
      g.les.push(parseValue(s.labels.le, s.name))
      g.counts.push(s.value)
    } else if (s.name.endsWith('_sum')) g.sum = s.value
    else g.count = s.value
  }
  for (const [key, g] of groups) {
    const where = `${f.name}${key}`
    if (g.les.length === 0 || g.les[g.les.length - 1] !== Infinity) throw new Error(`${where}: buckets must end with le="+Inf"`)
    for (let i = 1; i < g.les.length; i++) {
      if (!(g.les[i]! > g.les[i - 1]!)) throw new Error(`${where}: le values not increasing`)
      if (g.counts[i]! < g.counts[i - 1]!) throw new Error(`${where}: bucket counts not cumulative`)
    }
    if (g.sum === undefined || g.count === undefined) throw new Error(`${where}: missing _sum or _count`)
    if (g.counts[g.counts.length - 1] !== g.count) throw new Error(`${where}: +Inf bucket ${g.counts[g.counts.length - 1]} != _count ${g.count}`)
  }
}

/** The value of the sample `name` with exactly `labels`, or undefined. */
export function sampleValue(families: Map<string, Family>, name: string, labels: Record<string, string> = {}): number | undefined {
  const want = JSON.stringify(Object.entries(labels).sort())
  for (const f of families.values()) {
    for (const s of f.samples) if (s.name === name && JSON.stringify(Object.entries(s.labels).sort()) === want) return s.value
  }
  return undefined
}

/** The sum of every sample called `name` (all label sets). */
export function sampleSum(families: Map<string, Family>, name: string): number {
  let sum = 0
  for (const f of families.values()) for (const s of f.samples) if (s.name === name) sum += s.value
  return sum
}
