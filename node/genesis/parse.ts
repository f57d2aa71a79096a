import { readFile } from 'node:fs/promises'
import { errorCode } from '../../common/errors.ts'
import { CHAIN_FORKS, DEFAULT_FORK, type ChainFork } from '../../common/forks.ts'
import { AUTHORITY_SET_ADDRESS, PPR_IMPLEMENTATION_ADDRESS, REGISTRAR_ADDRESS, RELATIONSHIPS_ADDRESS, SUMMARY_IMPLEMENTATION_ADDRESS } from '../../contracts/addresses.ts'
import { predeployAlloc } from '../../contracts/predeploys.ts'
import { isKeyError, KeyErrorCode, parseAddress } from '../keys/index.ts'
import { GenesisError, GenesisErrorCode } from './errors.ts'
import type { Genesis, GenesisAccount, PowParams } from './types.ts'

export const DEFAULT_EPOCH = 30_000n
export const DEFAULT_BASE_FEE = 1_000_000_000n
export const MIN_GAS_LIMIT = 5000n
const MAX_GAS_LIMIT = (1n << 63n) - 1n
const MAX_U64 = (1n << 64n) - 1n
const MAX_U256 = (1n << 256n) - 1n

const TOP_KEYS = ['config', 'gasLimit', 'baseFeePerGas', 'timestamp', 'difficulty', 'vanity', 'authorities', 'alloc', 'predeploys']
const FORK_KEYS = CHAIN_FORKS.map((f) => `${f}Time`)
/** geth's block-numbered forks up to London: always on here, so accepted only as 0. */
const LONDON_BLOCK_KEYS = [
  'homesteadBlock', 'eip150Block', 'eip155Block', 'eip158Block', 'byzantiumBlock', 'constantinopleBlock',
  'petersburgBlock', 'istanbulBlock', 'muirGlacierBlock', 'berlinBlock', 'londonBlock', 'arrowGlacierBlock', 'grayGlacierBlock',
]
const CONFIG_KEYS = ['chainId', 'consensus', 'poa', 'pow', ...FORK_KEYS, ...LONDON_BLOCK_KEYS]
const POA_KEYS = ['period', 'epoch']
const POW_KEYS = ['targetBlockTime', 'blockReward', 'minimumDifficulty']
export const DEFAULT_POW_DIFFICULTY = 100_000n
export const DEFAULT_MINIMUM_DIFFICULTY = 1_000n
/** 2 ether, Ethereum's reward from Constantinople to the Merge. */
export const DEFAULT_BLOCK_REWARD = 2n * 10n ** 18n
const ACCOUNT_KEYS = ['balance', 'nonce', 'code', 'storage']
const PREDEPLOY_NAMES: Record<string, string> = {
  [AUTHORITY_SET_ADDRESS]: 'AuthoritySet',
  [REGISTRAR_ADDRESS]: 'Registrar',
  [RELATIONSHIPS_ADDRESS]: 'Relationships',
  [PPR_IMPLEMENTATION_ADDRESS]: 'PatientProviderRelationship (the implementation relationships clone)',
  [SUMMARY_IMPLEMENTATION_ADDRESS]: 'Summary (the implementation Summaries clone)',
}

type Obj = Record<string, unknown>

function fail(path: string, msg: string, code: GenesisErrorCode = GenesisErrorCode.INVALID_GENESIS): never {
  const at = path === '' ? 'genesis' : `genesis.${path}`
  throw new GenesisError(code, `${at}: ${msg}`, { path: at })
}

function shown(v: unknown): string {
  if (v === undefined) return 'nothing'
  const s = JSON.stringify(v) ?? String(v)
  return s.length > 80 ? `${s.slice(0, 77)}...` : s
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    const cur = [i]
    for (let j = 1; j <= b.length; j++) cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1))
    prev = cur
  }
  return prev[b.length]!
}

/** Unknown keys are errors so that a typo ("gaslimit") cannot silently fall back to a default. */
function onlyKeys(o: Obj, allowed: string[], prefix: string): void {
  for (const k of Object.keys(o)) {
    if (allowed.includes(k)) continue
    const near = allowed.find((a) => a.toLowerCase() === k.toLowerCase() || editDistance(a.toLowerCase(), k.toLowerCase()) <= 2)
    const hint = near === undefined ? '' : `did you mean "${near}"? `
    fail(`${prefix}${k}`, `unknown field: ${hint}(allowed: ${allowed.join(', ')})`)
  }
}

function object(v: unknown, path: string, what: string): Obj {
  if (v === undefined) fail(path, `is required: an object (${what})`)
  if (v === null || typeof v !== 'object' || Array.isArray(v)) fail(path, `must be an object (${what}), got ${shown(v)}`)
  return v as Obj
}

/** A quantity: hex ("0x1f") or decimal ("31") string, or a JSON safe integer. */
function quantity(v: unknown, path: string, what: string, min: bigint, max: bigint): bigint {
  let n: bigint | undefined
  if (typeof v === 'number' && Number.isSafeInteger(v)) n = BigInt(v)
  else if (typeof v === 'string' && /^0x[0-9a-fA-F]+$/i.test(v)) n = BigInt(v)
  else if (typeof v === 'string' && /^[0-9]+$/.test(v)) n = BigInt(v)
  if (n === undefined) {
    if (v === undefined) fail(path, `is required (${what}, a hex "0x..." or decimal string)`)
    fail(path, `must be a hex "0x..." or decimal integer string (${what}), got ${shown(v)}`)
  }
  if (n < min || n > max) fail(path, `must be between ${min} and ${max} (${what}), got ${n}`)
  return n
}

/** A JSON number that is an integer >= min. */
function integer(v: unknown, path: string, min: 0 | 1, what: string): number {
  const kind = min === 0 ? 'a non-negative integer' : 'a positive integer'
  if (v === undefined) fail(path, `is required: ${kind} (${what})`)
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) fail(path, `must be ${kind} (${what}), got ${shown(v)}`)
  return v
}

function hexBytes(v: unknown, path: string, what: string, maxLen?: number): Uint8Array {
  if (typeof v !== 'string' || !/^0x([0-9a-fA-F]{2})*$/.test(v)) fail(path, `must be 0x-prefixed hex with an even number of digits (${what}), got ${shown(v)}`)
  const b = new Uint8Array(Buffer.from(v.slice(2), 'hex'))
  if (maxLen !== undefined && b.length > maxLen) fail(path, `must be at most ${maxLen} bytes (${what}), got ${b.length}`)
  return b
}

/** 32-byte word, left-padded like geth's common.HexToHash, so "0x1" and "0x00..01" are one slot. */
function word(b: Uint8Array): Uint8Array {
  const out = new Uint8Array(32)
  out.set(b, 32 - b.length)
  return out
}

/** Lowercase 0x address. geth files often omit the 0x in alloc keys, so it is optional there. */
function address(v: unknown, path: string, what: string, optionalPrefix: boolean): string {
  let s = v
  if (optionalPrefix && typeof s === 'string' && /^[0-9a-fA-F]{40}$/.test(s)) s = `0x${s}`
  try {
    if (typeof s !== 'string') throw new TypeError('not a string')
    return `0x${Buffer.from(parseAddress(s, 'address')).toString('hex')}`
  } catch (err) {
    if (isKeyError(err, KeyErrorCode.BAD_CHECKSUM)) fail(path, err.message)
    fail(path, `must be a 20-byte address, 0x followed by 40 hex digits (${what}), got ${shown(v)}`)
  }
}

function account(v: unknown, path: string): GenesisAccount {
  const a = object(v, path, 'an account: balance, nonce, code, storage')
  onlyKeys(a, ACCOUNT_KEYS, `${path}.`)
  const storage: Array<[Uint8Array, Uint8Array]> = []
  const seen = new Set<string>()
  if (a.storage !== undefined) {
    for (const [slot, value] of Object.entries(object(a.storage, `${path}.storage`, 'storage slot => value, both hex'))) {
      const key = word(hexBytes(slot, `${path}.storage.${slot}`, 'the key is a storage slot of at most 32 bytes', 32))
      const k = Buffer.from(key).toString('hex')
      if (seen.has(k)) fail(`${path}.storage.${slot}`, 'names a slot that is already set (keys are left-padded to 32 bytes): keep one entry')
      seen.add(k)
      storage.push([key, word(hexBytes(value, `${path}.storage.${slot}`, 'a storage value of at most 32 bytes', 32))])
    }
  }
  return {
    balance: a.balance === undefined ? 0n : quantity(a.balance, `${path}.balance`, 'balance in wei', 0n, MAX_U256),
    nonce: a.nonce === undefined ? 0n : quantity(a.nonce, `${path}.nonce`, 'account nonce', 0n, MAX_U64),
    code: a.code === undefined ? undefined : hexBytes(a.code, `${path}.code`, 'runtime bytecode'),
    storage,
  }
}

type EngineSection = { consensus: 'poa'; poa: { period: number; epoch: bigint } } | { consensus: 'pow'; pow: PowParams }

/** The engine's section of config: `poa` (period, epoch) or `pow` (target block time, reward, minimum difficulty). */
function engineSection(config: Obj): EngineSection {
  const other = config.consensus === 'poa' ? 'pow' : 'poa'
  if (config[other] !== undefined) fail(`config.${other}`, `is for consensus "${other}" but config.consensus is "${String(config.consensus)}": remove it`)
  if (config.consensus === 'poa') {
    const poa = object(config.poa, 'config.poa', 'period, epoch')
    onlyKeys(poa, POA_KEYS, 'config.poa.')
    const period = integer(poa.period, 'config.poa.period', 0, 'seconds between blocks')
    const epoch = poa.epoch === undefined ? DEFAULT_EPOCH : BigInt(integer(poa.epoch, 'config.poa.epoch', 1, 'blocks between checkpoints that reset votes'))
    return { consensus: 'poa', poa: { period, epoch } }
  }
  const pow = object(config.pow, 'config.pow', 'targetBlockTime, blockReward, minimumDifficulty')
  onlyKeys(pow, POW_KEYS, 'config.pow.')
  const targetBlockTime = integer(pow.targetBlockTime, 'config.pow.targetBlockTime', 1, 'seconds between blocks the difficulty aims for')
  const blockReward = pow.blockReward === undefined ? DEFAULT_BLOCK_REWARD : quantity(pow.blockReward, 'config.pow.blockReward', 'wei paid to each block\'s miner', 0n, MAX_U256)
  const minimumDifficulty = pow.minimumDifficulty === undefined ? DEFAULT_MINIMUM_DIFFICULTY : quantity(pow.minimumDifficulty, 'config.pow.minimumDifficulty', 'the lowest difficulty', 1n, MAX_U256)
  return { consensus: 'pow', pow: { targetBlockTime, blockReward, minimumDifficulty } }
}

/**
 * The fork from geth's `<fork>Time` keys: the newest one set. A fork this node does not know is
 * refused by name (running the chain with older rules would split it from the nodes that know it).
 */
function forkOf(config: Obj): ChainFork {
  for (const k of Object.keys(config)) {
    if (k === 'blobSchedule') {
      fail('config.blobSchedule', 'a medrec chain carries no blobs (no blob market on a permissioned chain; blob transactions are refused): remove it', GenesisErrorCode.UNKNOWN_FORK)
    }
    const m = /^([a-z][A-Za-z0-9]*)(Time|Block)$/.exec(k)
    if (m === null || CONFIG_KEYS.includes(k)) continue
    fail(
      `config.${k}`,
      `turns on fork "${m[1]}", which this node does not know (it runs ${CHAIN_FORKS.join(', ')}; no proof-of-stake forks): remove the key, or run a medrec-node that supports that fork`,
      GenesisErrorCode.UNKNOWN_FORK,
    )
  }
  for (const k of LONDON_BLOCK_KEYS) {
    if (config[k] !== undefined && integer(config[k], `config.${k}`, 0, 'the block the fork starts at') !== 0) {
      fail(`config.${k}`, 'every fork up to London is on from block 0 on a medrec chain: set 0 or remove it')
    }
  }
  let fork: ChainFork = DEFAULT_FORK
  for (const [i, f] of CHAIN_FORKS.entries()) {
    const key = `${f}Time`
    if (config[key] === undefined) continue
    const t = integer(config[key], `config.${key}`, 0, `the time ${f} starts, 0: from the genesis block`)
    if (t !== 0) fail(`config.${key}`, `turning on ${f} after the genesis block is not supported: set 0 (from the genesis block) or remove it`, GenesisErrorCode.UNKNOWN_FORK)
    const before = CHAIN_FORKS[i - 1]
    // Shanghai is the base every chain has; later forks need the one before them, as in geth.
    if (before !== undefined && before !== DEFAULT_FORK && config[`${before}Time`] === undefined) {
      fail(`config.${key}`, `is set but config.${before}Time is not: a fork needs every earlier one; add "${before}Time": 0`)
    }
    fork = f
  }
  return fork
}

/**
 * Validates a genesis document (see types.ts for the shape) and returns the parsed form with
 * defaults applied and the MedRec system contracts merged into alloc (unless `predeploys: false`).
 * Every error is a GenesisError whose message starts with the JSON path, e.g.
 * "genesis.config.poa.period: must be a non-negative integer (seconds between blocks), got -1".
 */
export function parseGenesis(json: unknown): Genesis {
  const g = object(json, '', 'the genesis document')
  onlyKeys(g, TOP_KEYS, '')
  const config = object(g.config, 'config', 'chainId, consensus, and its section poa or pow')
  const hardfork = forkOf(config)
  onlyKeys(config, CONFIG_KEYS, 'config.')
  const chainId = quantity(config.chainId, 'config.chainId', 'the EIP-155 chain id, a positive integer', 1n, BigInt(Number.MAX_SAFE_INTEGER))
  if (config.consensus !== 'poa' && config.consensus !== 'pow') {
    fail('config.consensus', `must be "poa" (proof of authority, EIP-225) or "pow" (proof of work), got ${shown(config.consensus)}`)
  }
  const engine = engineSection(config)
  const gasLimit = quantity(g.gasLimit, 'gasLimit', 'the genesis block gas limit', MIN_GAS_LIMIT, MAX_GAS_LIMIT)
  const baseFeePerGas = g.baseFeePerGas === undefined ? DEFAULT_BASE_FEE : quantity(g.baseFeePerGas, 'baseFeePerGas', 'EIP-1559 base fee in wei', 0n, MAX_U256)
  const timestamp = g.timestamp === undefined ? 0n : quantity(g.timestamp, 'timestamp', 'unix seconds', 0n, MAX_U64)
  // extraData starts with 32 vanity bytes; a shorter vanity is right-padded with zeros.
  const vanity = new Uint8Array(32)
  if (g.vanity !== undefined) vanity.set(hexBytes(g.vanity, 'vanity', 'extraData vanity', 32))

  const pow = engine.consensus === 'pow'
  const listed = pow && g.authorities === undefined ? [] : g.authorities
  if (!Array.isArray(listed) || (!pow && listed.length === 0)) {
    const what = pow ? 'an array of addresses (the certified providers; may be empty)' : 'a non-empty array of addresses (the initial sealers)'
    fail('authorities', `must be ${what}, got ${shown(listed)}`)
  }
  if (!pow && g.difficulty !== undefined) fail('difficulty', 'is only for "pow" chains: a poa genesis block has difficulty 1; remove it')
  const difficulty = !pow ? 1n : g.difficulty === undefined ? DEFAULT_POW_DIFFICULTY : quantity(g.difficulty, 'difficulty', 'where proof of work starts', engine.pow.minimumDifficulty, MAX_U256)
  const seen = new Set<string>()
  const authorities = (listed as unknown[]).map((a, i) => {
    const addr = address(a, `authorities[${i}]`, 'an initial sealer', false)
    if (seen.has(addr)) fail(`authorities[${i}]`, `${addr} is listed twice: list each sealer once`)
    seen.add(addr)
    return new Uint8Array(Buffer.from(addr.slice(2), 'hex'))
  })

  const alloc = new Map<string, GenesisAccount>()
  const allocJson = g.alloc === undefined ? {} : object(g.alloc, 'alloc', 'address => account')
  for (const [key, value] of Object.entries(allocJson)) {
    const addr = address(key, `alloc.${key}`, 'alloc keys are account addresses, 0x optional', true)
    if (alloc.has(addr)) fail(`alloc.${key}`, `${addr} appears twice (addresses are case-insensitive): merge the entries`)
    alloc.set(addr, account(value, `alloc.${key}`))
  }

  if (g.predeploys !== undefined && typeof g.predeploys !== 'boolean') fail('predeploys', `must be true or false, got ${shown(g.predeploys)}`)
  if (g.predeploys !== false) {
    for (const [addr, p] of predeployAlloc(authorities)) {
      if (alloc.has(addr)) {
        const name = PREDEPLOY_NAMES[addr]
        const what = name === undefined ? 'a MedRec system contract' : `the MedRec system contract ${name}`
        fail(
          `alloc.${addr}`,
          `this address is reserved for ${what} (predeploys are on): remove the entry, or set "predeploys": false and provide the contract yourself`,
          GenesisErrorCode.PREDEPLOY_CONFLICT,
        )
      }
      // Nonce 1 as for any contract created after EIP-161.
      alloc.set(addr, { balance: 0n, nonce: 1n, code: p.code, storage: p.storage.map(([k, v]) => [word(k), word(v)]) })
    }
  }
  // Sorted so that equal chains give equal Genesis values (and equal JSON) whatever the key order.
  const sorted = new Map([...alloc].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
  return { chainId, ...engine, hardfork, gasLimit, baseFeePerGas, timestamp, difficulty, vanity, authorities, alloc: sorted }
}

/** Reads and parses a genesis file; file problems are GENESIS_FILE, content problems INVALID_GENESIS. */
export async function readGenesisFile(path: string): Promise<Genesis> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    const code = errorCode(err)
    const why = code === 'ENOENT' ? 'does not exist' : code === 'EACCES' ? 'is not readable (permission denied)' : `cannot be read (${(err as Error).message})`
    throw new GenesisError(GenesisErrorCode.GENESIS_FILE, `genesis file ${path} ${why}: check the path`, { path }, err)
  }
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (err) {
    // V8's message carries the position ("at position 7 (line 1 column 8)").
    throw new GenesisError(GenesisErrorCode.GENESIS_FILE, `genesis file ${path} is not valid JSON: ${(err as Error).message}`, { path }, err)
  }
  try {
    return parseGenesis(json)
  } catch (err) {
    if (err instanceof GenesisError) throw new GenesisError(err.code, `${path}: ${err.message}`, { ...err.context, file: path })
    throw err
  }
}
