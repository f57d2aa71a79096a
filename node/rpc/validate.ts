/**
 * Parameter parsers. Each throws RpcError -32602 with a geth-like message naming the argument
 * ("invalid argument 0: hex string without 0x prefix") so clients see what to fix.
 * `where` is the argument index, or a label such as fieldOf(0, 'gas') for object fields.
 */
import type { AccessListEntry, AccountOverride, BlockOverrides, CallAuthorization, StateOverrides } from '../../evm/index.ts'
import { RpcError } from './errors.ts'

export type Where = number | string

const MAX_UINT256 = (1n << 256n) - 1n
const MAX_INT64 = (1n << 63n) - 1n
/** geth's limits on filter criteria. */
export const MAX_TOPICS = 4
export const MAX_ADDRESSES = 1000
const MAX_PERCENTILES = 100

function label(where: Where): string {
  if (typeof where === 'number') return `invalid argument ${where}`
  return where.startsWith('invalid argument') ? where : `invalid argument ${where}`
}
/** Label for a field inside an object argument: "invalid argument 0: field gas". */
export function fieldOf(where: Where, key: string): string {
  return `${label(where)}: field ${key}`
}
function fail(where: Where, problem: string): RpcError {
  return RpcError.invalidParams(`${label(where)}: ${problem}`)
}
export function kindOf(v: unknown): string {
  if (v === null) return 'null'
  if (Array.isArray(v)) return 'array'
  return typeof v
}
export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

/** Arity: geth's "missing value for required argument N" / "too many arguments, want at most N". */
export function params(p: unknown[], min: number, max: number): void {
  if (p.length > max) throw RpcError.invalidParams(`too many arguments, want at most ${max}`)
  if (p.length < min) throw RpcError.invalidParams(`missing value for required argument ${p.length}`)
}

function hexBody(v: unknown, where: Where, what: string): string {
  if (typeof v !== 'string') throw fail(where, `expected ${what} as a 0x-prefixed hex string, got ${kindOf(v)}`)
  if (!v.startsWith('0x') && !v.startsWith('0X')) throw fail(where, 'hex string without 0x prefix')
  return v.slice(2)
}

/** QUANTITY: 0x-prefixed, no leading zeros except "0x0", at most 256 bits. */
export function quantity(v: unknown, where: Where): bigint {
  const body = hexBody(v, where, 'a quantity')
  if (body.length === 0) throw fail(where, 'hex string "0x"')
  if (!/^[0-9a-fA-F]+$/.test(body)) throw fail(where, 'invalid hex string')
  if (body.length > 1 && body[0] === '0') throw fail(where, 'hex number with leading zero digits')
  const n = BigInt('0x' + body)
  if (n > MAX_UINT256) throw fail(where, 'hex number > 256 bits')
  return n
}

/** geth's HexOrDecimal64 (eth_feeHistory blockCount): a hex quantity, a decimal string or a JSON number. */
export function quantityOrNumber(v: unknown, where: Where): bigint {
  if (typeof v === 'number') {
    if (!Number.isSafeInteger(v) || v < 0) throw fail(where, `expected a non-negative integer, got ${v}`)
    return BigInt(v)
  }
  if (typeof v === 'string' && /^[0-9]+$/.test(v)) {
    const n = BigInt(v)
    if (n > MAX_INT64) throw fail(where, 'number > 64 bits')
    return n
  }
  const n = quantity(v, where)
  if (n > MAX_INT64) throw fail(where, 'hex number > 64 bits')
  return n
}

/** DATA: 0x-prefixed, even length ("0x" is empty data). */
export function data(v: unknown, where: Where): Uint8Array {
  const body = hexBody(v, where, 'data')
  if (body.length % 2 !== 0) throw fail(where, 'hex string of odd length')
  if (!/^[0-9a-fA-F]*$/.test(body)) throw fail(where, 'invalid hex string')
  return new Uint8Array(Buffer.from(body, 'hex'))
}

function fixed(v: unknown, where: Where, bytes: number, goType: string): Uint8Array {
  const body = hexBody(v, where, goType === 'common.Address' ? 'an address' : 'a 32-byte hash')
  if (body.length !== bytes * 2) throw fail(where, `hex string has length ${body.length}, want ${bytes * 2} for ${goType}`)
  if (!/^[0-9a-fA-F]*$/.test(body)) throw fail(where, 'invalid hex string')
  return new Uint8Array(Buffer.from(body, 'hex'))
}
/** 20-byte address (checksum case is accepted, not enforced, as geth). */
export function address(v: unknown, where: Where = 0): Uint8Array {
  return fixed(v, where, 20, 'common.Address')
}
export function hash32(v: unknown, where: Where = 0): Uint8Array {
  return fixed(v, where, 32, 'common.Hash')
}

/** Storage slot: up to 32 bytes of hex, left-padded (geth accepts short and odd-length keys). */
export function storageSlot(v: unknown, where: Where): Uint8Array {
  let body = hexBody(v, where, 'a storage slot')
  if (!/^[0-9a-fA-F]*$/.test(body)) throw fail(where, 'invalid hex string')
  if (body.length > 64) throw fail(where, 'hex string too long, want at most 32 bytes')
  if (body.length % 2 !== 0) body = '0' + body
  const out = new Uint8Array(32)
  out.set(Buffer.from(body, 'hex'), 32 - body.length / 2)
  return out
}

export function bool(v: unknown, where: Where): boolean {
  if (typeof v !== 'boolean') throw fail(where, `expected true or false, got ${kindOf(v)}`)
  return v
}

export const BLOCK_TAGS = ['latest', 'earliest', 'pending', 'safe', 'finalized'] as const
export type BlockTagName = (typeof BLOCK_TAGS)[number]
export type BlockTag =
  | { kind: 'number'; n: bigint }
  | { kind: 'tag'; tag: BlockTagName }
  | { kind: 'hash'; hash: Uint8Array; requireCanonical: boolean }

function isTagName(s: string): s is BlockTagName {
  return (BLOCK_TAGS as readonly string[]).includes(s)
}

function blockNumber(v: unknown, where: Where): BlockTag {
  if (typeof v === 'string' && isTagName(v)) return { kind: 'tag', tag: v }
  if (typeof v !== 'string') throw fail(where, `expected a block number or tag (${BLOCK_TAGS.join(', ')}), got ${kindOf(v)}`)
  const n = quantity(v, where)
  if (n > MAX_INT64) throw fail(where, 'hex number > 64 bits')
  return { kind: 'number', n }
}

/**
 * A block parameter: a tag, a number, a 32-byte hash string, or an EIP-1898 object
 * `{ blockNumber }` / `{ blockHash, requireCanonical? }`.
 */
export function blockTag(v: unknown, where: Where): BlockTag {
  if (typeof v === 'string' && v.length === 66) return { kind: 'hash', hash: hash32(v, where), requireCanonical: false }
  if (!isObject(v)) return blockNumber(v, where)
  const hasHash = v.blockHash !== undefined && v.blockHash !== null
  const hasNumber = v.blockNumber !== undefined && v.blockNumber !== null
  if (hasHash && hasNumber) throw fail(where, 'cannot specify both blockHash and blockNumber, choose one or the other')
  if (hasNumber) return blockNumber(v.blockNumber, fieldOf(where, 'blockNumber'))
  if (!hasHash) throw fail(where, 'either blockHash or blockNumber must be specified')
  const rc = v.requireCanonical
  if (rc !== undefined && rc !== null && typeof rc !== 'boolean') throw fail(fieldOf(where, 'requireCanonical'), `expected true or false, got ${kindOf(rc)}`)
  return { kind: 'hash', hash: hash32(v.blockHash, fieldOf(where, 'blockHash')), requireCanonical: rc === true }
}

/** eth_call / eth_estimateGas transaction arguments. */
export interface CallObject {
  from?: Uint8Array
  to?: Uint8Array
  gas?: bigint
  gasPrice?: bigint
  maxFeePerGas?: bigint
  maxPriorityFeePerGas?: bigint
  value?: bigint
  data?: Uint8Array
  nonce?: bigint
  accessList?: AccessListEntry[]
  authorizationList?: CallAuthorization[]
}

/** EIP-7702 tuples as geth's JSON has them (yParity, or v as some clients send). */
function authorizationList(v: unknown, where: string): CallAuthorization[] {
  if (!Array.isArray(v)) throw fail(where, `expected an array of {chainId, address, nonce, yParity, r, s}, got ${kindOf(v)}`)
  return v.map((item, i) => {
    const at = `${where}[${i}]`
    if (!isObject(item)) throw fail(at, `expected {chainId, address, nonce, yParity, r, s}, got ${kindOf(item)}`)
    const parity = present(item.yParity) ? item.yParity : item.v
    return {
      chainId: quantity(item.chainId, `${at}.chainId`),
      address: address(item.address, `${at}.address`),
      nonce: quantity(item.nonce, `${at}.nonce`),
      yParity: quantity(parity, `${at}.yParity`),
      r: quantity(item.r, `${at}.r`),
      s: quantity(item.s, `${at}.s`),
    }
  })
}

const OVERRIDE_FIELDS = ['balance', 'nonce', 'code', 'state', 'stateDiff', 'movePrecompileToAddress']

function slotMap(v: unknown, where: string): Array<[Uint8Array, Uint8Array]> {
  if (!isObject(v)) throw fail(where, `expected an object of 32-byte slot: 32-byte value, got ${kindOf(v)}`)
  return Object.entries(v).map(([k, val]) => [hash32(k, `${where} key ${k}`), hash32(val, `${where}.${k}`)])
}

/**
 * geth's state override set (eth_call's 3rd parameter): address -> {balance, nonce, code, state,
 * stateDiff, movePrecompileToAddress}. Unknown fields are refused, as geth's strict decoding
 * does, so a misspelt override is not silently ignored.
 */
export function stateOverride(v: unknown, where: Where): StateOverrides {
  if (!isObject(v)) throw fail(where, `expected a state override object (address -> account override), got ${kindOf(v)}`)
  return Object.entries(v).map(([addr, o]) => {
    const at = `${label(where)}: account ${addr}`
    const a = address(addr, at)
    if (!isObject(o)) throw fail(at, `expected an account override object, got ${kindOf(o)}`)
    const unknown = Object.keys(o).filter((k) => !OVERRIDE_FIELDS.includes(k))
    if (unknown.length > 0) throw fail(at, `unknown field ${JSON.stringify(unknown[0])}, want one of ${OVERRIDE_FIELDS.join(', ')}`)
    const account: AccountOverride = {}
    if (present(o.balance)) account.balance = quantity(o.balance, `${at}.balance`)
    if (present(o.nonce)) {
      account.nonce = quantity(o.nonce, `${at}.nonce`)
      if (account.nonce > MAX_INT64 * 2n + 1n) throw fail(`${at}.nonce`, 'hex number > 64 bits')
    }
    if (present(o.code)) account.code = data(o.code, `${at}.code`)
    if (present(o.state)) account.state = slotMap(o.state, `${at}.state`)
    if (present(o.stateDiff)) account.stateDiff = slotMap(o.stateDiff, `${at}.stateDiff`)
    if (present(o.movePrecompileToAddress)) account.movePrecompileToAddress = address(o.movePrecompileToAddress, `${at}.movePrecompileToAddress`)
    return { address: a, account }
  })
}

/** `coinbase` and `random`/`baseFee` are accepted as older geth spelt them; what a chain without blobs or beacon roots cannot honour is refused. */
export function blockOverrides(v: unknown, where: Where): BlockOverrides {
  if (!isObject(v)) throw fail(where, `expected a block overrides object, got ${kindOf(v)}`)
  const f = (k: string) => fieldOf(where, k)
  const known = ['number', 'difficulty', 'time', 'gasLimit', 'feeRecipient', 'coinbase', 'prevRandao', 'random', 'baseFeePerGas', 'baseFee', 'blobBaseFee', 'beaconRoot', 'withdrawals']
  const unknown = Object.keys(v).filter((k) => !known.includes(k))
  if (unknown.length > 0) throw fail(where, `unknown field ${JSON.stringify(unknown[0])}, want one of number, difficulty, time, gasLimit, feeRecipient, prevRandao, baseFeePerGas`)
  for (const k of ['blobBaseFee', 'beaconRoot', 'withdrawals']) {
    if (present(v[k])) throw fail(f(k), `block override '${k}' is not supported for this RPC method (this chain has no blobs or beacon roots)`)
  }
  const out: BlockOverrides = {}
  const q64 = (x: unknown, k: string): bigint => {
    const n = quantity(x, f(k))
    if (n > MAX_INT64 * 2n + 1n) throw fail(f(k), 'hex number > 64 bits')
    return n
  }
  if (present(v.number)) out.number = quantity(v.number, f('number'))
  if (present(v.difficulty)) out.difficulty = quantity(v.difficulty, f('difficulty'))
  if (present(v.time)) out.time = q64(v.time, 'time')
  if (present(v.gasLimit)) out.gasLimit = q64(v.gasLimit, 'gasLimit')
  const recipient = present(v.feeRecipient) ? v.feeRecipient : v.coinbase
  if (present(recipient)) out.feeRecipient = address(recipient, f(present(v.feeRecipient) ? 'feeRecipient' : 'coinbase'))
  const randao = present(v.prevRandao) ? v.prevRandao : v.random
  if (present(randao)) out.prevRandao = hash32(randao, f(present(v.prevRandao) ? 'prevRandao' : 'random'))
  const baseFee = present(v.baseFeePerGas) ? v.baseFeePerGas : v.baseFee
  if (present(baseFee)) out.baseFeePerGas = quantity(baseFee, f(present(v.baseFeePerGas) ? 'baseFeePerGas' : 'baseFee'))
  return out
}

const present = (x: unknown): boolean => x !== undefined && x !== null

function accessList(v: unknown, where: string): AccessListEntry[] {
  if (!Array.isArray(v)) throw fail(where, `expected an array of {address, storageKeys}, got ${kindOf(v)}`)
  return v.map((item, i) => {
    const at = `${where}[${i}]`
    if (!isObject(item)) throw fail(at, `expected {address, storageKeys}, got ${kindOf(item)}`)
    const keys = item.storageKeys ?? []
    if (!Array.isArray(keys)) throw fail(`${at}.storageKeys`, `expected an array of 32-byte hashes, got ${kindOf(keys)}`)
    return { address: address(item.address, `${at}.address`), storageKeys: keys.map((k, j) => hash32(k, `${at}.storageKeys[${j}]`)) }
  })
}

/** Unknown fields are ignored, as geth does; `input` is preferred over `data` and both must agree. */
export function callObject(v: unknown, where: Where): CallObject {
  if (!isObject(v)) throw fail(where, `expected a transaction call object, got ${kindOf(v)}`)
  const out: CallObject = {}
  const f = (k: string) => fieldOf(where, k)
  if (present(v.from)) out.from = address(v.from, f('from'))
  if (present(v.to)) out.to = address(v.to, f('to'))
  for (const k of ['gas', 'gasPrice', 'maxFeePerGas', 'maxPriorityFeePerGas', 'value', 'nonce'] as const) {
    if (present(v[k])) out[k] = quantity(v[k], f(k))
  }
  const input = present(v.input) ? data(v.input, f('input')) : undefined
  const dataField = present(v.data) ? data(v.data, f('data')) : undefined
  if (input !== undefined && dataField !== undefined && Buffer.compare(input, dataField) !== 0) {
    throw fail(where, 'both "data" and "input" are set and not equal. Please use "input" to pass transaction call data')
  }
  const payload = input ?? dataField
  if (payload !== undefined) out.data = payload
  if (present(v.accessList)) out.accessList = accessList(v.accessList, f('accessList'))
  if (present(v.authorizationList)) out.authorizationList = authorizationList(v.authorizationList, f('authorizationList'))
  if (out.gasPrice !== undefined && (out.maxFeePerGas !== undefined || out.maxPriorityFeePerGas !== undefined)) {
    throw fail(where, 'both gasPrice and (maxFeePerGas or maxPriorityFeePerGas) specified')
  }
  if (out.maxFeePerGas !== undefined && out.maxPriorityFeePerGas !== undefined && out.maxFeePerGas < out.maxPriorityFeePerGas) {
    throw fail(where, `maxFeePerGas (${out.maxFeePerGas}) < maxPriorityFeePerGas (${out.maxPriorityFeePerGas})`)
  }
  return out
}

/** Filter criteria as sent; block tags are resolved against the head by the caller. */
export interface FilterObject {
  fromBlock?: BlockTag
  toBlock?: BlockTag
  addresses: Uint8Array[]
  /** Positional; null is a wildcard, a list matches any of its topics. */
  topics: (Uint8Array[] | null)[]
  blockHash?: Uint8Array
}

export function filterObject(v: unknown, where: Where): FilterObject {
  if (!isObject(v)) throw fail(where, `expected a filter object, got ${kindOf(v)}`)
  const f = (k: string) => fieldOf(where, k)
  const out: FilterObject = { addresses: [], topics: [] }
  if (present(v.blockHash)) {
    if (present(v.fromBlock) || present(v.toBlock)) throw fail(where, 'cannot specify both BlockHash and FromBlock/ToBlock, choose one or the other')
    out.blockHash = hash32(v.blockHash, f('blockHash'))
  }
  if (present(v.fromBlock)) out.fromBlock = blockNumber(v.fromBlock, f('fromBlock'))
  if (present(v.toBlock)) out.toBlock = blockNumber(v.toBlock, f('toBlock'))
  if (present(v.address)) {
    const list = Array.isArray(v.address) ? v.address : [v.address]
    if (list.length > MAX_ADDRESSES) throw fail(f('address'), `exceed max addresses (${MAX_ADDRESSES})`)
    out.addresses = list.map((a, i) => address(a, Array.isArray(v.address) ? `${f('address')}[${i}]` : f('address')))
  }
  if (present(v.topics)) {
    if (!Array.isArray(v.topics)) throw fail(f('topics'), `expected an array, got ${kindOf(v.topics)}`)
    if (v.topics.length > MAX_TOPICS) throw fail(f('topics'), `exceed max topics (${MAX_TOPICS})`)
    out.topics = v.topics.map((t, i): Uint8Array[] | null => {
      const at = `${f('topics')}[${i}]`
      if (t === null || t === undefined) return null
      if (!Array.isArray(t)) return [hash32(t, at)]
      // A null inside an OR-list, or an empty list, matches anything (geth).
      if (t.length === 0 || t.some((x) => x === null)) return null
      return t.map((x, j) => hash32(x, `${at}[${j}]`))
    })
  }
  return out
}

/** Filter and subscription ids: hex strings we issued; compared lower-case. */
export function filterId(v: unknown, where: Where): string {
  if (typeof v !== 'string') throw fail(where, `expected a filter id string, got ${kindOf(v)}`)
  if (!/^0x[0-9a-fA-F]{1,64}$/.test(v)) throw fail(where, 'expected a 0x-prefixed hex filter id')
  return v.toLowerCase()
}

/** eth_feeHistory reward percentiles: numbers in [0, 100], ascending. */
export function percentiles(v: unknown, where: Where): number[] {
  if (!Array.isArray(v)) throw fail(where, `expected an array of percentiles, got ${kindOf(v)}`)
  if (v.length > MAX_PERCENTILES) throw fail(where, `too many percentiles, want at most ${MAX_PERCENTILES}`)
  let prev = -1
  return v.map((p, i) => {
    if (typeof p !== 'number' || !Number.isFinite(p) || p < 0 || p > 100) throw fail(where, `invalid reward percentile #${i}: ${String(p)}`)
    if (p < prev) throw fail(where, `invalid reward percentile: #${i - 1}:${prev} > #${i}:${p}`)
    prev = p
    return p
  })
}
