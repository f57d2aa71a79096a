import type { Abi, Hex } from 'viem'
import { decodeRevert } from '../bindings.ts'
import { authoritySetAbi } from '../generated/authority-set.ts'
import { patientProviderRelationshipAbi } from '../generated/patient-provider-relationship.ts'
import { registrarAbi } from '../generated/registrar.ts'
import { relationshipsAbi } from '../generated/relationships.ts'
import { summaryAbi } from '../generated/summary.ts'
import type { DecodedRevert } from './errors.ts'
import { SUMMARY_STATUSES } from './types.ts'

type AbiError = Extract<Abi[number], { type: 'error' }>

/**
 * Every custom error of the suite, once per signature: a revert can bubble up from a nested
 * call (a PPR's grant reverting inside the viewer's Summary), so after the called contract's
 * own ABI the others are tried too.
 */
const SUITE_ERRORS: readonly AbiError[] = (() => {
  const seen = new Map<string, AbiError>()
  for (const abi of [registrarAbi, relationshipsAbi, summaryAbi, patientProviderRelationshipAbi, authoritySetAbi] as readonly Abi[]) {
    for (const item of abi) {
      if (item.type !== 'error') continue
      const sig = `${item.name}(${item.inputs.map((i) => i.type).join(',')})`
      if (!seen.has(sig)) seen.set(sig, item)
    }
  }
  return [...seen.values()]
})()

function formatArg(v: unknown): string {
  if (typeof v === 'string') return /^0x[0-9a-fA-F]*$/.test(v) ? v : JSON.stringify(v)
  if (typeof v === 'bigint' || typeof v === 'number' || typeof v === 'boolean') return String(v)
  if (Array.isArray(v)) return `[${v.map(formatArg).join(', ')}]`
  return JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? x.toString() : x))
}

/** `Summary.InvalidTransition(relationship, from, to)` carries Status enums: show their names. */
function formatArgs(errorName: string, args: readonly unknown[]): string[] {
  return args.map((a, i) => {
    if (errorName === 'InvalidTransition' && i > 0 && typeof a === 'number') return SUMMARY_STATUSES[a] ?? String(a)
    return formatArg(a)
  })
}

/** Decodes revert bytes with `abi` first, then every error of the suite; never throws. */
export function decodeRevertData(data: Hex, abi?: Abi): DecodedRevert {
  if (data === '0x') return { errorName: '', args: [], text: 'reverted without data (out of gas, or a call to an address without code?)', data }
  for (const candidate of abi === undefined ? [SUITE_ERRORS] : [abi, SUITE_ERRORS]) {
    try {
      const decoded = decodeRevert(candidate, data)
      const args = (decoded.args ?? []) as readonly unknown[]
      return { errorName: decoded.errorName, args, text: `${decoded.errorName}(${formatArgs(decoded.errorName, args).join(', ')})`, data }
    } catch {
      // try the next ABI
    }
  }
  return { errorName: '', args: [], text: `unknown revert ${data}`, data }
}
