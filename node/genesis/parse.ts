import { readFile } from 'node:fs/promises'
import { predeployAlloc } from '../../contracts/predeploys.ts'
import { GenesisError, GenesisErrorCode } from './errors.ts'
import type { Genesis, GenesisAccount, GenesisAllocJson, GenesisJson } from './types.ts'

const TOP_KEYS = new Set(['config', 'gasLimit', 'baseFeePerGas', 'timestamp', 'vanity', 'authorities', 'alloc', 'predeploys'])
const DEFAULT_BASE_FEE = 1_000_000_000n
const DEFAULT_EPOCH = 30_000n

function fail(path: string, msg: string): never {
  throw new GenesisError(GenesisErrorCode.INVALID_GENESIS, `genesis.${path}: ${msg}`, { path })
}

function obj(v: unknown, path: string): Record<string, unknown> {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) fail(path, `must be an object, got ${JSON.stringify(v)}`)
  return v as Record<string, unknown>
}

/** A quantity as hex ("0x1f") or decimal ("31") string, or a JSON integer. */
function quantity(v: unknown, path: string, min = 0n, max = (1n << 256n) - 1n): bigint {
  let n: bigint
  if (typeof v === 'number' && Number.isSafeInteger(v)) n = BigInt(v)
  else if (typeof v === 'string' && /^0x[0-9a-fA-F]+$/.test(v)) n = BigInt(v)
  else if (typeof v === 'string' && /^[0-9]+$/.test(v)) n = BigInt(v)
  else fail(path, `must be a hex (0x...) or decimal quantity, got ${JSON.stringify(v)}`)
  if (n < min || n > max) fail(path, `must be between ${min} and ${max}, got ${n}`)
  return n
}

function hexBytes(v: unknown, path: string, maxLen?: number): Uint8Array {
  if (typeof v !== 'string' || !/^0x([0-9a-fA-F]{2})*$/.test(v)) fail(path, `must be 0x-prefixed hex bytes, got ${JSON.stringify(v)}`)
  const b = new Uint8Array(Buffer.from(v.slice(2), 'hex'))
  if (maxLen !== undefined && b.length > maxLen) fail(path, `must be at most ${maxLen} bytes, got ${b.length}`)
  return b
}

function address(v: unknown, path: string): string {
  if (typeof v !== 'string' || !/^(0x)?[0-9a-fA-F]{40}$/.test(v)) fail(path, `must be a 20-byte 0x address, got ${JSON.stringify(v)}`)
  return '0x' + v.replace(/^0x/, '').toLowerCase()
}

function integer(v: unknown, path: string, min: number, what: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) fail(path, `must be an integer >= ${min} (${what}), got ${JSON.stringify(v)}`)
  return v
}

function account(v: unknown, path: string): GenesisAccount {
  const a = obj(v, path) as GenesisAllocJson & Record<string, unknown>
  for (const k of Object.keys(a)) if (!['balance', 'nonce', 'code', 'storage'].includes(k)) fail(`${path}.${k}`, 'unknown field (allowed: balance, nonce, code, storage)')
  const storage: Array<[Uint8Array, Uint8Array]> = []
  if (a.storage !== undefined) {
    for (const [slot, value] of Object.entries(obj(a.storage, `${path}.storage`))) {
      storage.push([hexBytes(slot, `${path}.storage key`, 32), hexBytes(value, `${path}.storage.${slot}`, 32)])
    }
  }
  return {
    balance: a.balance === undefined ? 0n : quantity(a.balance, `${path}.balance`),
    nonce: a.nonce === undefined ? 0n : quantity(a.nonce, `${path}.nonce`, 0n, (1n << 64n) - 1n),
    code: a.code === undefined ? undefined : hexBytes(a.code, `${path}.code`, 24_576),
    storage,
  }
}

/** Validates a genesis document; every error names the JSON path and what is expected. */
export function parseGenesis(json: unknown): Genesis {
  const g = obj(json, 'root')
  for (const k of Object.keys(g)) if (!TOP_KEYS.has(k)) fail(k, `unknown field (allowed: ${[...TOP_KEYS].join(', ')})`)
  const config = obj(g.config, 'config')
  for (const k of Object.keys(config)) if (!['chainId', 'consensus', 'poa'].includes(k)) fail(`config.${k}`, 'unknown field (allowed: chainId, consensus, poa)')
  const chainId = quantity(config.chainId, 'config.chainId', 1n, (1n << 53n) - 1n)
  if (config.consensus !== 'poa') {
    fail('config.consensus', config.consensus === 'pow' ? 'pow is not available in this release: use "poa"' : `must be "poa", got ${JSON.stringify(config.consensus)}`)
  }
  const poa = obj(config.poa, 'config.poa')
  const period = integer(poa.period, 'config.poa.period', 0, 'seconds between blocks')
  const epoch = poa.epoch === undefined ? DEFAULT_EPOCH : BigInt(integer(poa.epoch, 'config.poa.epoch', 1, 'blocks between checkpoints'))
  const gasLimit = quantity(g.gasLimit, 'gasLimit', 5000n, (1n << 63n) - 1n)
  const baseFeePerGas = g.baseFeePerGas === undefined ? DEFAULT_BASE_FEE : quantity(g.baseFeePerGas, 'baseFeePerGas', 1n)
  const timestamp = g.timestamp === undefined ? 0n : quantity(g.timestamp, 'timestamp', 0n, (1n << 64n) - 1n)
  const vanityRaw = g.vanity === undefined ? new Uint8Array() : hexBytes(g.vanity, 'vanity', 32)
  const vanity = new Uint8Array(32)
  vanity.set(vanityRaw)
  if (!Array.isArray(g.authorities) || g.authorities.length === 0) fail('authorities', 'must list at least one authority address (the initial sealers)')
  const seen = new Set<string>()
  const authorities = (g.authorities as unknown[]).map((a, i) => {
    const addr = address(a, `authorities[${i}]`)
    if (seen.has(addr)) fail(`authorities[${i}]`, `${addr} is listed twice`)
    seen.add(addr)
    return new Uint8Array(Buffer.from(addr.slice(2), 'hex'))
  })
  const alloc = new Map<string, GenesisAccount>()
  for (const [key, value] of Object.entries(obj(g.alloc ?? {}, 'alloc'))) {
    const addr = address(key, `alloc key ${key}`)
    if (alloc.has(addr)) fail(`alloc.${key}`, `${addr} appears twice`)
    alloc.set(addr, account(value, `alloc.${key}`))
  }
  if (g.predeploys !== undefined && typeof g.predeploys !== 'boolean') fail('predeploys', 'must be true or false')
  if (g.predeploys !== false) {
    for (const [addr, p] of predeployAlloc(authorities)) {
      if (alloc.has(addr)) {
        throw new GenesisError(GenesisErrorCode.PREDEPLOY_CONFLICT, `genesis.alloc.${addr}: this address is reserved for a MedRec system contract; remove the entry or set "predeploys": false`)
      }
      alloc.set(addr, { balance: 0n, nonce: 1n, code: p.code, storage: p.storage })
    }
  }
  return { chainId, consensus: 'poa', poa: { period, epoch }, gasLimit, baseFeePerGas, timestamp, vanity, authorities, alloc }
}

export async function readGenesisFile(path: string): Promise<Genesis> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    throw new GenesisError(GenesisErrorCode.GENESIS_FILE, `cannot read genesis file ${path}: ${(err as Error).message}`)
  }
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (err) {
    throw new GenesisError(GenesisErrorCode.GENESIS_FILE, `genesis file ${path} is not valid JSON: ${(err as Error).message}`)
  }
  return parseGenesis(json)
}

const q = (n: bigint) => `0x${n.toString(16)}`
const h = (b: Uint8Array) => `0x${Buffer.from(b).toString('hex')}`

/** The JSON form; predeploys are written out in alloc, so `predeploys` is false. */
export function genesisToJson(g: Genesis): GenesisJson {
  const alloc: Record<string, GenesisAllocJson> = {}
  for (const [addr, a] of [...g.alloc].sort(([x], [y]) => (x < y ? -1 : 1))) {
    const e: GenesisAllocJson = { balance: q(a.balance) }
    if (a.nonce !== 0n) e.nonce = q(a.nonce)
    if (a.code !== undefined) e.code = h(a.code)
    if (a.storage.length > 0) e.storage = Object.fromEntries(a.storage.map(([k, v]) => [h(k), h(v)]))
    alloc[addr] = e
  }
  return {
    config: { chainId: Number(g.chainId), consensus: 'poa', poa: { period: g.poa.period, epoch: Number(g.poa.epoch) } },
    gasLimit: q(g.gasLimit),
    baseFeePerGas: q(g.baseFeePerGas),
    timestamp: q(g.timestamp),
    vanity: h(g.vanity),
    authorities: g.authorities.map(h),
    alloc,
    predeploys: false,
  }
}
