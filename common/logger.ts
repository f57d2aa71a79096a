/**
 * Module-scoped logger `(msg, context?, err?)` writing geth-style lines to stderr:
 *   INFO [11-23|13:40:01.123] Sealed new block   module=producer number=12 txs=40
 * The level is process-wide and set once by the CLI (`--log.level`).
 */
export type LogLevel = 'error' | 'warn' | 'info' | 'debug' | 'trace'
const RANK: Record<LogLevel, number> = { error: 0, warn: 1, info: 2, debug: 3, trace: 4 }
export const LOG_LEVELS = Object.keys(RANK) as LogLevel[]

let threshold = RANK.info
let sink: (line: string) => void = (line) => process.stderr.write(line + '\n')

export function setLogLevel(level: LogLevel): void {
  threshold = RANK[level]
}
export function isLogLevel(s: string): s is LogLevel {
  return Object.hasOwn(RANK, s)
}
/** Redirect output (tests capture lines this way). */
export function setLogSink(fn: (line: string) => void): void {
  sink = fn
}

export type LogFn = (msg: string, context?: Record<string, unknown>, err?: unknown) => void
export interface Logger {
  error: LogFn
  warn: LogFn
  info: LogFn
  debug: LogFn
  trace: LogFn
  enabled(level: LogLevel): boolean
}

function fmtValue(v: unknown): string {
  if (typeof v === 'bigint') return v.toString()
  if (v instanceof Uint8Array) return '0x' + Buffer.from(v).toString('hex')
  if (typeof v === 'string') return /[\s="]/.test(v) ? JSON.stringify(v) : v
  if (v !== null && typeof v === 'object') return JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? x.toString() : x))
  return String(v)
}

function stamp(d: Date): string {
  const p = (n: number, w = 2) => String(n).padStart(w, '0')
  return `${p(d.getMonth() + 1)}-${p(d.getDate())}|${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}`
}

export function createLogger(module: string): Logger {
  const emit = (level: LogLevel) => (msg: string, context?: Record<string, unknown>, err?: unknown) => {
    if (RANK[level] > threshold) return
    let line = `${level.toUpperCase().padEnd(5)} [${stamp(new Date())}] ${msg.padEnd(36)} module=${module}`
    if (context) for (const [k, v] of Object.entries(context)) line += ` ${k}=${fmtValue(v)}`
    if (err !== undefined) line += ` err=${fmtValue(err instanceof Error ? err.message : err)}`
    sink(line)
  }
  return {
    error: emit('error'),
    warn: emit('warn'),
    info: emit('info'),
    debug: emit('debug'),
    trace: emit('trace'),
    enabled: (level) => RANK[level] <= threshold,
  }
}
