import type { Test } from 'tap'
import type { Abi, ContractEventName, ContractFunctionName, DecodeEventLogReturnType, DecodeFunctionResultReturnType, Hex } from 'viem'
import {
  REGISTRAR_ADDRESS,
  RELATIONSHIPS_ADDRESS,
  decodeLog,
  decodeResult,
  decodeRevert,
  encodeCall,
  patientProviderRelationshipAbi,
  registrarAbi,
  relationshipsAbi,
  summaryAbi,
  type CallArgs,
} from '../../contracts/index.ts'
import { actor, createContractVM, type Actor, type ContractVM, type Outcome } from './contract-vm.ts'

/**
 * Typed handles on the MedRec contracts inside a real ethereumjs VM (see contract-vm.ts):
 * `send` runs a signed transaction, `view` a call, `events` decodes a transaction's logs.
 */

export const lower = (h: string): string => h.toLowerCase()
export const ZERO_ADDRESS = '0x0000000000000000000000000000000000000000'

type Decoded<A extends Abi> = DecodeEventLogReturnType<A, ContractEventName<A>, Hex[], Hex>

export interface Contract<A extends Abi> {
  abi: A
  address: Hex
  send<F extends ContractFunctionName<A>>(from: Actor, fn: F, args: CallArgs<A, F>): Promise<Outcome>
  /** A call from `caller` (default: a stranger); throws if it reverts. */
  view<F extends ContractFunctionName<A>>(fn: F, args: CallArgs<A, F>, caller?: Actor): Promise<DecodeFunctionResultReturnType<A, F>>
  /** This contract's events among the outcome's logs, in order. */
  events(out: Outcome): Decoded<A>[]
}

const nobody = actor('view-caller')

export function contract<const A extends Abi>(vm: ContractVM, abi: A, address: Hex): Contract<A> {
  return {
    abi,
    address,
    send: (from, fn, args) => vm.send(from, address, encodeCall(abi, fn, args)),
    async view(fn, args, caller = nobody) {
      const out = await vm.call(caller.address, address, encodeCall(abi, fn, args))
      if (!out.ok) throw new Error(`${String(fn)} reverted: ${out.returnData}`)
      return decodeResult(abi, fn, out.returnData)
    },
    events(out) {
      return out.logs.filter((l) => lower(l.address) === lower(address)).map((l) => decodeLog(abi, l.topics, l.data))
    },
  }
}

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

/** The error name an outcome reverted with, decoded against the whole suite. */
export function revertName(out: Outcome): string | undefined {
  if (out.ok) return undefined
  for (const abi of [patientProviderRelationshipAbi, summaryAbi, relationshipsAbi, registrarAbi] as const) {
    try {
      return decodeRevert(abi, out.returnData).errorName
    } catch {
      // not this contract's error
    }
  }
  return out.returnData
}

export interface MedRecVM {
  vm: ContractVM
  registrar: Contract<typeof registrarAbi>
  relationships: Contract<typeof relationshipsAbi>
  summary(address: Hex): Contract<typeof summaryAbi>
  ppr(address: Hex): Contract<typeof patientProviderRelationshipAbi>
  /** An authority registers `who` under `identity`; returns the new Summary. */
  register(authority: Actor, identity: string, who: Actor): Promise<Contract<typeof summaryAbi>>
  /** `provider` creates a relationship with `patient`; returns it. */
  createRelationship(provider: Actor, patient: { hex: Hex }, endpoint?: string): Promise<Contract<typeof patientProviderRelationshipAbi>>
}

export async function createMedRecVM(authorities: Actor[], funded: Actor[]): Promise<MedRecVM> {
  const vm = await createContractVM(
    authorities.map((a) => a.address),
    [...new Set([...authorities, ...funded])],
  )
  const registrar = contract(vm, registrarAbi, REGISTRAR_ADDRESS)
  const relationships = contract(vm, relationshipsAbi, RELATIONSHIPS_ADDRESS)
  const summary = (address: Hex) => contract(vm, summaryAbi, address)
  const ppr = (address: Hex) => contract(vm, patientProviderRelationshipAbi, address)
  let created = 0
  return {
    vm,
    registrar,
    relationships,
    summary,
    ppr,
    async register(authority, identity, who) {
      const out = await registrar.send(authority, 'register', [identity, who.hex])
      const ev = registrar.events(out).find((e) => e.eventName === 'IdentityRegistered')
      if (ev?.eventName !== 'IdentityRegistered') throw new Error(`register ${identity} failed: ${revertName(out)}`)
      return summary(lower(ev.args.summary) as Hex)
    },
    async createRelationship(provider, patient, endpoint = 'https://gk.example/fhir') {
      const salt = `0x${(++created).toString(16).padStart(64, '0')}` as Hex
      const out = await relationships.send(provider, 'create', [patient.hex, endpoint, salt])
      const ev = relationships.events(out).find((e) => e.eventName === 'RelationshipCreated')
      if (ev?.eventName !== 'RelationshipCreated') throw new Error(`create failed: ${revertName(out)}`)
      return ppr(lower(ev.args.relationship) as Hex)
    },
  }
}
