/**
 * The MedRec system contracts in a standalone VM (evm/contract-vm.ts: in-memory ethereumjs, the
 * chain's fork rules), with typed handles: `send` runs a signed transaction, `view` a call,
 * `events` decodes a transaction's logs. For the contract tests and the gas benchmark
 * (`npm run bench -- gas`). Not exported by contracts/index.ts: the CLI and the gatekeeper, which
 * load contracts/ for its addresses and bindings, must not load an EVM with it.
 */
import type { Abi, ContractEventName, ContractFunctionName, DecodeEventLogReturnType, DecodeFunctionResultReturnType, Hex } from 'viem'
import { actor, createContractVM, type Actor, type ContractVM, type Outcome } from '../evm/index.ts'
import { REGISTRAR_ADDRESS, RELATIONSHIPS_ADDRESS } from './addresses.ts'
import { decodeLog, decodeResult, decodeRevert, encodeCall, type CallArgs } from './bindings.ts'
import { ContractsError, ContractsErrorCode } from './errors.ts'
import { patientProviderRelationshipAbi } from './generated/patient-provider-relationship.ts'
import { registrarAbi } from './generated/registrar.ts'
import { relationshipsAbi } from './generated/relationships.ts'
import { summaryAbi } from './generated/summary.ts'
import { predeployAlloc } from './predeploys.ts'

export { actor, type Actor, type ContractVM, type Outcome }

export const lower = (h: string): string => h.toLowerCase()

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

/** Typed handle on the contract with `abi` at `address` in `vm`. */
export function contract<const A extends Abi>(vm: ContractVM, abi: A, address: Hex): Contract<A> {
  return {
    abi,
    address,
    send: (from, fn, args) => vm.send(from, address, encodeCall(abi, fn, args)),
    async view(fn, args, caller = nobody) {
      const out = await vm.call(caller.address, address, encodeCall(abi, fn, args))
      if (!out.ok) throw new ContractsError(ContractsErrorCode.VM_CALL_REVERTED, `${String(fn)} at ${address} reverted: ${revertName(out)}`)
      return decodeResult(abi, fn, out.returnData)
    },
    events(out) {
      return out.logs.filter((l) => lower(l.address) === lower(address)).map((l) => decodeLog(abi, l.topics, l.data))
    },
  }
}

/** The error name an outcome reverted with, decoded against the whole suite (the raw data when none matches). */
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

/** A VM whose state holds the genesis predeploys (AuthoritySet with `authorities`, Registrar, Relationships) and 1000 ether for each of `funded`. */
export function createSystemVM(authorities: Uint8Array[], funded: Actor[]): Promise<ContractVM> {
  return createContractVM(predeployAlloc(authorities), funded)
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

/** The system contracts with `authorities` as the authority set; authorities and `funded` hold 1000 ether each. */
export async function createMedRecVM(authorities: Actor[], funded: Actor[]): Promise<MedRecVM> {
  const vm = await createSystemVM(
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
      if (ev?.eventName !== 'IdentityRegistered') throw new ContractsError(ContractsErrorCode.VM_CALL_REVERTED, `registering ${identity} by ${authority.hex} failed: ${revertName(out)}`)
      return summary(lower(ev.args.summary) as Hex)
    },
    async createRelationship(provider, patient, endpoint = 'https://gk.example/fhir') {
      const salt = `0x${(++created).toString(16).padStart(64, '0')}` as Hex
      const out = await relationships.send(provider, 'create', [patient.hex, endpoint, salt])
      const ev = relationships.events(out).find((e) => e.eventName === 'RelationshipCreated')
      if (ev?.eventName !== 'RelationshipCreated') throw new ContractsError(ContractsErrorCode.VM_CALL_REVERTED, `creating a relationship of ${provider.hex} with ${patient.hex} failed: ${revertName(out)}`)
      return ppr(lower(ev.args.relationship) as Hex)
    },
  }
}
