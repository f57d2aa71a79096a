import { parseArgs } from 'node:util'
import { parseAddress } from '../node/keys/index.ts'
import { LOG_LEVELS } from '../common/logger.ts'
import { usageError } from './errors.ts'
import type { FlagSpec, ParsedFlags } from './types.ts'

/** Flags every command accepts. */
export const COMMON_FLAGS: FlagSpec[] = [
  { name: 'log.level', kind: 'string', placeholder: 'LEVEL', default: 'info', description: `log verbosity: ${LOG_LEVELS.join(', ')}; debug and trace also print stack traces on errors` },
  { name: 'help', kind: 'boolean', default: 'off', description: 'show this help (also -h)' },
]

/** Optimal string alignment distance: edits plus adjacent swaps, so `prot` is 1 from `port`. */
function distance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)))
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost)
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1)
      d[i]![j] = v
    }
  }
  return d[a.length]![b.length]!
}

/** The closest candidate within a typo's reach, for "did you mean" hints. */
export function suggest(word: string, candidates: readonly string[]): string | undefined {
  const limit = word.length <= 4 ? 1 : 2
  let best: string | undefined
  let bestD = Infinity
  for (const c of candidates) {
    const d = distance(word.toLowerCase(), c.toLowerCase())
    if (d < bestD) [best, bestD] = [c, d]
  }
  return bestD <= limit ? best : undefined
}

class Flags implements ParsedFlags {
  readonly command: string
  readonly values = new Map<string, string[]>()
  readonly positionals: string[] = []

  constructor(command: string) {
    this.command = command
  }
  string(name: string): string | undefined {
    return this.values.get(name)?.at(-1)
  }
  boolean(name: string): boolean {
    return this.values.get(name)?.at(-1) === 'true'
  }
  all(name: string): string[] {
    return this.values.get(name) ?? []
  }
  has(name: string): boolean {
    return this.values.has(name)
  }
}

/**
 * Parses `--flag value`, `--flag=value` and boolean `--flag` (or `--flag=false`) against a
 * command's flags; other words are positional arguments for a command that takes them
 * (`allowPositionals`), else a usage error naming the command. node:util's parseArgs tokenizes;
 * the rules on top are ours because its strict mode would take `--a --b` as a=`--b`, refuse
 * `--flag=false`, and name no close match for a typo.
 */
export function parseFlags(argv: readonly string[], specs: readonly FlagSpec[], command: string, allowPositionals = false): ParsedFlags {
  const byName = new Map(specs.map((s) => [s.name, s]))
  const options = Object.fromEntries(specs.map((s) => [s.name, { type: s.kind }]))
  const { tokens } = parseArgs({ args: [...argv], options, strict: false, allowPositionals: true, tokens: true })
  const flags = new Flags(command)
  for (const token of tokens) {
    const raw = argv[token.index]!
    if (token.kind === 'option-terminator') throw usageError(`unexpected argument "${raw}" for "${command}"`)
    if (token.kind === 'positional') {
      if (!allowPositionals || raw === '-') throw usageError(`unexpected argument "${raw}" for "${command}"`)
      flags.positionals.push(token.value)
      continue
    }
    if (raw === '-h') {
      flags.values.set('help', ['true'])
      continue
    }
    const spec = byName.get(token.name)
    if (spec === undefined || token.rawName !== `--${token.name}`) {
      const name = raw.replace(/^--?/, '').split('=')[0]!
      const near = byName.has(name) ? name : suggest(name, [...byName.keys()])
      throw usageError(`unknown flag ${raw.split('=')[0]} for "${command}"${near === undefined ? '' : ` (did you mean --${near}?)`}`)
    }
    const name = spec.name
    let value: string
    if (spec.kind === 'boolean') {
      const inline = token.inlineValue ? token.value : undefined
      if (inline === undefined || inline === 'true' || inline === '1') value = 'true'
      else if (inline === 'false' || inline === '0') value = 'false'
      else throw usageError(`invalid value for --${name}: expected true or false, got "${inline}"`)
    } else {
      // parseArgs hands a string flag the next word even when it is another flag.
      if (token.value === undefined || (!token.inlineValue && token.value.startsWith('--'))) throw usageError(`flag --${name} needs a value: --${name} ${spec.placeholder ?? 'VALUE'}`)
      value = token.value
    }
    if (spec.kind === 'string' && value === '') throw usageError(`flag --${name} needs a value: --${name} ${spec.placeholder ?? 'VALUE'}`)
    const prev = flags.values.get(name)
    if (prev !== undefined && spec.repeatable !== true) throw usageError(`flag --${name} is given more than once`)
    flags.values.set(name, [...(prev ?? []), value])
  }
  return flags
}

// Value parsers: each names the flag in its error, so exit status 2 points at the culprit.

function bad(flag: string, expected: string, got: string): never {
  throw usageError(`invalid value for --${flag}: expected ${expected}, got "${got}"`)
}

export function parseInteger(s: string, flag: string, min: bigint, max: bigint): bigint {
  if (!/^[0-9]+$/.test(s.trim())) bad(flag, `an integer from ${min} to ${max}`, s)
  const n = BigInt(s.trim())
  if (n < min || n > max) bad(flag, `an integer from ${min} to ${max}`, s)
  return n
}

export function parsePort(s: string, flag: string): number {
  return Number(parseInteger(s, flag, 0n, 65535n))
}

const UNITS: Record<string, number> = { wei: 0, kwei: 3, mwei: 6, gwei: 9, szabo: 12, finney: 15, ether: 18, eth: 18 }

/** Decimal wei, or an amount with a unit: `100ether`, `1.5gwei`, `0x3e8` (hex wei). */
export function parseWei(s: string, flag: string): bigint {
  const expected = 'wei as an integer or with a unit (wei, gwei, ether), e.g. 100ether'
  const t = s.trim().toLowerCase()
  if (/^0x[0-9a-f]+$/.test(t)) return BigInt(t)
  const m = /^([0-9]+)(?:\.([0-9]+))?\s*([a-z]*)$/.exec(t)
  if (m === null) bad(flag, expected, s)
  const decimals = m[3] === '' ? 0 : UNITS[m[3]!]
  if (decimals === undefined) bad(flag, expected, s)
  const frac = (m[2] ?? '').replace(/0+$/, '')
  if (frac.length > decimals) bad(flag, `at most ${decimals} decimals for ${m[3] === '' ? 'wei' : m[3]}`, s)
  return BigInt(m[1]!) * 10n ** BigInt(decimals) + (frac === '' ? 0n : BigInt(frac) * 10n ** BigInt(decimals - frac.length))
}

export function parseAddressFlag(s: string, flag: string): Uint8Array {
  try {
    return parseAddress(s.trim(), 'address')
  } catch (err) {
    throw usageError(`invalid value for --${flag}: ${(err as Error).message}`)
  }
}
