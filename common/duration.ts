import { CodedError } from './errors.ts'

/**
 * Durations in Go's `time.Duration` syntax, as geth's flags take them (`--rpc.evmtimeout 5s`)
 * and as its messages print them ("execution aborted (timeout = 5s)"), so operators and
 * clients see the same text from either node.
 */

const NS_PER: Record<string, bigint> = {
  ns: 1n,
  us: 1_000n,
  'µs': 1_000n, // U+00B5 micro sign
  'μs': 1_000n, // U+03BC Greek mu
  ms: 1_000_000n,
  s: 1_000_000_000n,
  m: 60_000_000_000n,
  h: 3_600_000_000_000n,
}

/** Parses `300ms`, `1.5s`, `2m30s`, `0` (Go's time.ParseDuration, without a sign) into milliseconds. */
export function parseDuration(text: string): number {
  const bad = () =>
    new CodedError('INVALID_DURATION', `"${text}" is not a duration: write a number with a unit, e.g. 5s, 500ms, 1m30s (units ns, us, ms, s, m, h; 0 for none)`, { text })
  if (text === '0') return 0
  const part = /(\d*)(?:\.(\d*))?(ns|us|µs|μs|ms|s|m|h)/y
  let at = 0
  let ns = 0n
  while (at < text.length) {
    part.lastIndex = at
    const m = part.exec(text)
    if (m === null || (m[1] === '' && (m[2] ?? '') === '')) throw bad()
    const unit = NS_PER[m[3]!]!
    const frac = m[2] ?? ''
    ns += BigInt(m[1] === '' ? '0' : m[1]!) * unit + (frac === '' ? 0n : (BigInt(frac) * unit) / 10n ** BigInt(frac.length))
    at = part.lastIndex
  }
  if (at === 0) throw bad()
  return Number(ns) / 1e6
}

/** Integer part and trimmed fraction of `ns / unit`: 1500000n, 1000000n → "1.5". */
function decimal(ns: bigint, unit: bigint): string {
  const whole = ns / unit
  const digits = unit.toString().length - 1
  const frac = (ns % unit).toString().padStart(digits, '0').replace(/0+$/, '')
  return frac === '' ? whole.toString() : `${whole}.${frac}`
}

/** Go's Duration.String() of `ms` milliseconds: 5000 → "5s", 500 → "500ms", 90000 → "1m30s". */
export function formatDuration(ms: number): string {
  let ns = BigInt(Math.round(ms * 1e6))
  if (ns === 0n) return '0s'
  const sign = ns < 0n ? '-' : ''
  if (ns < 0n) ns = -ns
  if (ns < 1_000n) return `${sign}${ns}ns`
  if (ns < 1_000_000n) return `${sign}${decimal(ns, 1_000n)}µs`
  if (ns < 1_000_000_000n) return `${sign}${decimal(ns, 1_000_000n)}ms`
  const h = ns / NS_PER.h!
  ns -= h * NS_PER.h!
  const m = ns / NS_PER.m!
  ns -= m * NS_PER.m!
  return `${sign}${h > 0n ? `${h}h` : ''}${h > 0n || m > 0n ? `${m}m` : ''}${decimal(ns, NS_PER.s!)}s`
}
