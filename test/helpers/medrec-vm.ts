import type { Test } from 'tap'
import type { Abi } from 'viem'
import { decodeRevert } from '../../contracts/index.ts'
import { lower } from '../../contracts/vm.ts'
import type { Outcome } from './contract-vm.ts'

/**
 * The MedRec contracts in a standalone VM with typed handles are contracts/vm.ts; this adds the
 * tests' assertions on outcomes.
 */
export { contract, createMedRecVM, lower, revertName, type Contract, type MedRecVM } from '../../contracts/vm.ts'

export const ZERO_ADDRESS = '0x0000000000000000000000000000000000000000'

/** Normalises addresses in decoded values so they compare with lowercase `actor().hex`. */
export function norm(x: unknown): unknown {
  if (typeof x === 'string') return /^0x[0-9a-fA-F]{40}$/.test(x) ? lower(x) : x
  if (Array.isArray(x)) return x.map(norm)
  if (x !== null && typeof x === 'object') return Object.fromEntries(Object.entries(x).map(([k, v]) => [k, norm(v)]))
  return x
}

/** Asserts that `out` reverted with the custom error `name(args...)` of `abi`. */
export function assertRevert(t: Test, abi: Abi, out: Outcome, name: string, args: readonly unknown[], what: string): void {
  t.equal(out.ok, false, `${what}: reverted`)
  if (out.ok) return
  const decoded = decodeRevert(abi, out.returnData)
  t.equal(decoded.errorName, name, `${what}: ${name}`)
  t.same(norm(decoded.args ?? []), norm(args), `${what}: error arguments`)
}

export function assertOk(t: Test, out: Outcome, what: string): void {
  t.equal(out.ok, true, `${what}: succeeded${out.ok ? '' : ` (reverted ${out.returnData})`}`)
}
