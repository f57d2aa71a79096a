import { getAddress, type Address, type Hex } from 'viem'
import { fromHex } from '../common/index.ts'
import { MAX_REQUEST_ITEMS, U256_MAX, U64_MAX, bad } from './request-digest.ts'
import { REQUEST_METHODS, type GatekeeperRequest, type RequestMethod } from './types.ts'

// The wire form of a signed request, parsed strictly: exact keys, canonical decimals, bounded sizes.

export interface ParsedSignedRequest {
  request: GatekeeperRequest
  /** The claimed requester, checksummed. */
  from: Address
  /** 65 bytes r ‖ s ‖ v. */
  signature: Uint8Array
}

const REQUEST_KEYS = ['gatekeeper', 'method', 'relationship', 'pointerIds', 'fieldMasks', 'index', 'nonce', 'issuedAt', 'expiresAt'] as const
const DECIMAL = /^(?:0|[1-9][0-9]{0,77})$/

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v)
}

/** A short description of a bad value for an error message (never more than 80 characters of it). */
function show(v: unknown): string {
  return typeof v === 'string' ? JSON.stringify(v.slice(0, 80)) : Array.isArray(v) ? 'an array' : v === null ? 'null' : typeof v
}

function exactKeys(o: Record<string, unknown>, keys: readonly string[], where: string): void {
  const extra = Object.keys(o).filter((k) => !keys.includes(k))
  if (extra.length > 0) bad(`${where} has unknown key(s) ${extra.slice(0, 5).map((k) => JSON.stringify(k.slice(0, 40))).join(', ')}; allowed: ${keys.join(', ')}`)
  const missing = keys.filter((k) => !Object.hasOwn(o, k))
  if (missing.length > 0) bad(`${where} lacks ${missing.join(', ')}`)
}

function parseAddress(v: unknown, name: string): Address {
  if (typeof v !== 'string' || !/^0x[0-9a-fA-F]{40}$/.test(v)) bad(`${name} must be an address (0x + 40 hex), got ${show(v)}`)
  const checksummed = getAddress(v)
  // Mixed case means EIP-55: a wrong checksum is a mistyped address, not a different spelling.
  const body = v.slice(2)
  if (body !== body.toLowerCase() && body !== body.toUpperCase() && v !== checksummed) bad(`${name} ${v} has a wrong EIP-55 checksum (expected ${checksummed})`)
  return checksummed
}

function parseUint(v: unknown, name: string, max: bigint): bigint {
  if (typeof v !== 'string' || !DECIMAL.test(v)) bad(`${name} must be a decimal integer string without leading zeros, got ${show(v)}`)
  const n = BigInt(v)
  if (n > max) bad(`${name} must fit in ${max === U64_MAX ? 64 : 256} bits, got ${v}`)
  return n
}

function parseUintArray(v: unknown, name: string): bigint[] {
  if (!Array.isArray(v)) bad(`${name} must be an array of decimal strings, got ${show(v)}`)
  if (v.length > MAX_REQUEST_ITEMS) bad(`${name} has ${v.length} items; at most ${MAX_REQUEST_ITEMS} per request`)
  return v.map((x, i) => parseUint(x, `${name}[${i}]`, U256_MAX))
}

/**
 * The wire form checked strictly: exact keys, address/hex/decimal formats, a known method, at
 * most 64 pointers, and the method's shape (`records`: one field mask per pointer; `bounty`:
 * no field masks; `audit`: no pointers, masks or index). Throws BAD_REQUEST naming the field.
 * Addresses come back checksummed and the nonce in lower case, so one nonce has one spelling.
 */
export function parseSignedRequest(json: unknown): ParsedSignedRequest {
  if (!isObject(json)) bad(`a signed request is an object { request, from, signature }, got ${show(json)}`)
  exactKeys(json, ['request', 'from', 'signature'], 'the signed request')
  const r = json.request
  if (!isObject(r)) bad(`request must be an object, got ${show(r)}`)
  exactKeys(r, REQUEST_KEYS, 'request')
  if (typeof r.method !== 'string' || !(REQUEST_METHODS as readonly string[]).includes(r.method)) bad(`request.method must be one of ${REQUEST_METHODS.join(', ')}, got ${show(r.method)}`)
  const method = r.method as RequestMethod
  if (typeof r.nonce !== 'string' || !/^0x[0-9a-fA-F]{64}$/.test(r.nonce)) bad(`request.nonce must be 32 bytes as 0x + 64 hex, got ${show(r.nonce)}`)
  const request: GatekeeperRequest = {
    gatekeeper: parseAddress(r.gatekeeper, 'request.gatekeeper'),
    method,
    relationship: parseAddress(r.relationship, 'request.relationship'),
    pointerIds: parseUintArray(r.pointerIds, 'request.pointerIds'),
    fieldMasks: parseUintArray(r.fieldMasks, 'request.fieldMasks'),
    index: parseUint(r.index, 'request.index', U256_MAX),
    nonce: r.nonce.toLowerCase() as Hex,
    issuedAt: parseUint(r.issuedAt, 'request.issuedAt', U64_MAX),
    expiresAt: parseUint(r.expiresAt, 'request.expiresAt', U64_MAX),
  }
  if (method === 'records') {
    if (request.pointerIds.length !== request.fieldMasks.length) bad(`a records request has one field mask per pointer: ${request.pointerIds.length} pointerIds but ${request.fieldMasks.length} fieldMasks`)
  } else if (request.fieldMasks.length > 0) {
    bad(`fieldMasks must be empty for a ${method} request`)
  }
  if (method === 'audit' && request.pointerIds.length > 0) bad('pointerIds must be empty for an audit request')
  if (method !== 'bounty' && request.index !== 0n) bad(`index must be "0" unless the method is bounty`)
  const from = parseAddress(json.from, 'from')
  if (typeof json.signature !== 'string' || !/^0x[0-9a-fA-F]{130}$/.test(json.signature)) bad(`signature must be 65 bytes (r ‖ s ‖ v) as 0x + 130 hex, got ${show(json.signature)}`)
  return { request, from, signature: fromHex(json.signature) }
}

