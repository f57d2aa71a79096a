import { decodeErrorResult, toHex, type Abi, type Hex } from 'viem'
import { authoritySetAbi, patientProviderRelationshipAbi, registrarAbi, relationshipsAbi, summaryAbi } from '../../contracts/index.ts'
import { toData } from '../../common/index.ts'
import { RpcError, RpcErrorCode } from './errors.ts'

/**
 * Names what a revert's data says beyond Error(string): solc's Panic(uint256) codes in geth's
 * words (abi.UnpackRevert), and the MedRec contracts' custom errors with their arguments
 * ("NotProvider(0x…)"); another contract's custom error is named by its selector. Apart from
 * errors.ts because viem's decoder and the contracts' ABIs are heavy: a CLI call loads errors.ts
 * (through access.ts), never this.
 */

const PANIC_SELECTOR = '4e487b71'
/** solc's panic codes, worded as geth's abi.panicReasons. */
const PANIC_REASONS: Record<string, string> = {
  '0': 'generic panic',
  '1': 'assert(false)',
  '17': 'arithmetic underflow or overflow',
  '18': 'division or modulo by zero',
  '33': 'enum overflow',
  '34': 'invalid encoded storage byte array accessed',
  '49': 'out-of-bounds array access; popping on an empty array',
  '50': 'out-of-bounds access of an array or bytesN',
  '65': 'out of memory',
  '81': 'uninitialized function',
}

/** The custom errors of every MedRec contract: one ABI of error entries, each selector once. */
const MEDREC_ERRORS: Abi = (() => {
  const seen = new Set<string>()
  const out: Abi[number][] = []
  for (const abi of [authoritySetAbi, patientProviderRelationshipAbi, registrarAbi, relationshipsAbi, summaryAbi] as readonly Abi[]) {
    for (const item of abi) {
      if (item.type !== 'error') continue
      const sig = `${item.name}(${item.inputs.map((i) => i.type).join(',')})`
      if (seen.has(sig)) continue
      seen.add(sig)
      out.push(item)
    }
  }
  return out
})()

/** Panic(uint256) as geth names it: "arithmetic underflow or overflow", or "unknown panic code: 0x…". */
export function panicReason(data: Uint8Array): string | undefined {
  if (data.length !== 36 || Buffer.from(data.subarray(0, 4)).toString('hex') !== PANIC_SELECTOR) return undefined
  const code = BigInt('0x' + Buffer.from(data.subarray(4)).toString('hex'))
  return PANIC_REASONS[code.toString()] ?? `unknown panic code: 0x${code.toString(16)}`
}

function formatArg(v: unknown): string {
  if (typeof v === 'string') return v.startsWith('0x') ? v : JSON.stringify(v)
  if (typeof v === 'bigint' || typeof v === 'number' || typeof v === 'boolean') return String(v)
  if (v instanceof Uint8Array) return toHex(v)
  if (Array.isArray(v)) return `[${v.map(formatArg).join(', ')}]`
  return JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? x.toString() : x))
}

/** A custom error: "NotProvider(0xab…)" from the MedRec ABIs, else "custom error 0x12345678". */
export function customErrorReason(data: Uint8Array): string | undefined {
  if (data.length < 4) return undefined
  try {
    const { errorName, args } = decodeErrorResult({ abi: MEDREC_ERRORS, data: toHex(data) as Hex })
    return `${errorName}(${(args ?? []).map(formatArg).join(', ')})`
  } catch {
    return `custom error ${toHex(data.subarray(0, 4))}`
  }
}

// Error(string) selector: solc's require/revert reason.
const ERROR_STRING = '08c379a0'

/** Decodes `Error(string)` revert data to its reason, as geth's abi.UnpackRevert does. */
export function revertReason(data: Uint8Array): string | undefined {
  if (data.length < 68 || Buffer.from(data.subarray(0, 4)).toString('hex') !== ERROR_STRING) return panicReason(data)
  const word = (at: number): number | undefined => {
    if (at + 32 > data.length) return undefined
    const w = data.subarray(at, at + 32)
    // Offsets and lengths beyond 2^48 cannot be real in a payload this size.
    if (w.subarray(0, 26).some((b) => b !== 0)) return undefined
    return Number(BigInt('0x' + Buffer.from(w).toString('hex')))
  }
  const offset = word(4)
  if (offset === undefined) return undefined
  const len = word(4 + offset)
  if (len === undefined || 4 + offset + 32 + len > data.length) return undefined
  return new TextDecoder('utf-8', { fatal: false }).decode(data.subarray(4 + offset + 32, 4 + offset + 32 + len))
}

/** eth_call/eth_estimateGas hit REVERT: code 3 with the revert bytes as `data`, as geth. */
export function revertedError(revertData: Uint8Array): RpcError {
  // Error(string) and Panic as geth; beyond geth, a custom error is named (MedRec's decoded).
  const reason = revertReason(revertData) ?? customErrorReason(revertData)
  return new RpcError(RpcErrorCode.REVERTED, reason === undefined ? 'execution reverted' : `execution reverted: ${reason}`, { data: toData(revertData) })
}
