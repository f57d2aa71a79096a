/**
 * The live MedRec contracts and issue 23's prototype designs behind one driver, in evm/'s
 * standalone VM with the chain's fork rules, so the onboarding steps, reads and state can be
 * measured side by side:
 *  - live: contracts/src (full PPR and Summary contracts deployed per relationship and participant);
 *  - init: design A0, plain EIP-1167 clones initialised by the factory in the creating call;
 *  - clones: design A, EIP-1167 clones whose code carries their fixed fields (no initialiser);
 *  - records: design B, relationships as records in the Relationships contract, an id each.
 * Summaries are clones in both prototypes (contracts/src/next/SummaryCore.sol).
 */
import { Address } from '@ethereumjs/util'
import { decodeEventLog, decodeFunctionResult, encodeFunctionData, hexToBytes, type Abi, type Hex } from 'viem'
import { AUTHORITY_SET_ADDRESS, patientProviderRelationshipAbi, predeployAlloc, REGISTRAR_ADDRESS, registrarAbi, RELATIONSHIPS_ADDRESS, relationshipsAbi, summaryAbi } from '../../../contracts/index.ts'
import { createMedRecVM } from '../../../contracts/vm.ts'
import { createContractVM, type Actor, type ContractVM, type Outcome } from '../../../evm/index.ts'
import { compileNext, type Compiled } from './compile.ts'

export const PPR_IMPLEMENTATION = '0x4d65645265630000000000000000000000000004' as const
export const SUMMARY_IMPLEMENTATION = '0x4d65645265630000000000000000000000000005' as const

export type DesignName = 'live' | 'init' | 'clones' | 'records'
export const DESIGNS: readonly DesignName[] = ['live', 'init', 'clones', 'records']
const CONTRACTS: Record<Exclude<DesignName, 'live'>, { factory: string; relationship: string; summary: string }> = {
  init: { factory: 'InitRelationships', relationship: 'InitRelationship', summary: 'InitSummary' },
  clones: { factory: 'CloneRelationships', relationship: 'CloneRelationship', summary: 'CloneSummary' },
  records: { factory: 'RelationshipRecords', relationship: 'RelationshipRecords', summary: 'RecordSummary' },
}

export interface Design {
  name: DesignName
  vm: ContractVM
  /** The contracts' ABIs by role, for decoding reverts and events in tests. */
  abis: { registrar: Abi; relationships: Abi; summary: Abi; relationship: Abi }
  register(authority: Actor, identity: string, who: Actor): Promise<{ out: Outcome; summary: Hex }>
  create(provider: Actor, patient: Hex, endpoint: string, salt: Hex): Promise<{ out: Outcome; relationship: Hex }>
  addPointer(provider: Actor, rel: Hex, query: string, fieldCount: number, dataHash: Hex, bounty: string): Promise<Outcome>
  updatePointer(provider: Actor, rel: Hex, id: bigint, dataHash: Hex, bounty: string): Promise<Outcome>
  link(provider: Actor, rel: Hex): Promise<Outcome>
  accept(patient: Actor, summary: Hex, rel: Hex): Promise<Outcome>
  grant(patient: Actor, rel: Hex, viewer: Hex, ids: bigint[], masks: bigint[], expiresAt: bigint): Promise<Outcome>
  terminate(by: Actor, rel: Hex): Promise<Outcome>
  /** eth_call of canRead(reader, pointerId, mask) from `caller` (the gatekeeper's check). */
  canRead(rel: Hex, reader: Hex, pointerId: bigint, mask: bigint): Promise<Outcome>
  /** eth_call of the pointer read the gatekeeper makes per request. */
  pointer(rel: Hex, id: bigint): Promise<Outcome>
  /** A view of the relationship by name (provider, patient, endpoint, ...), decoded. */
  read(rel: Hex, fn: string, args?: readonly unknown[]): Promise<unknown>
  /** A view of any contract of the design: `target` is one of the ABIs' roles. */
  view(role: keyof Design['abis'], address: Hex, fn: string, args?: readonly unknown[]): Promise<unknown>
  /** Calldata for a relationship function (the id is prepended for records). */
  relCall(rel: Hex, fn: string, args: readonly unknown[]): { to: Hex; data: Hex }
}

const encode = (abi: Abi, functionName: string, args: readonly unknown[]): Hex => encodeFunctionData({ abi, functionName, args } as Parameters<typeof encodeFunctionData>[0])
const decode = (abi: Abi, functionName: string, data: Hex): unknown => decodeFunctionResult({ abi, functionName, data } as Parameters<typeof decodeFunctionResult>[0])

/** The first event named `name` among the outcome's logs that `abi` decodes. */
export function eventArgs(abi: Abi, out: Outcome, name: string): Record<string, unknown> | undefined {
  for (const l of out.logs) {
    try {
      const ev = decodeEventLog({ abi, topics: l.topics, data: l.data }) as unknown as { eventName: string; args: Record<string, unknown> }
      if (ev.eventName === name) return ev.args
    } catch {
      // another contract's event
    }
  }
  return undefined
}

const lowerHex = (x: unknown): Hex => String(x).toLowerCase() as Hex
const need = (m: Map<string, Compiled>, name: string): Compiled => {
  const c = m.get(name)
  if (c === undefined) throw new Error(`contracts/src/next has no contract ${name}`)
  return c
}

function driver(name: DesignName, vm: ContractVM, abis: Design['abis'], perRecord: boolean): Design {
  const send = (from: Actor, to: Hex, abi: Abi, fn: string, args: readonly unknown[]) => vm.send(from, to, encode(abi, fn, args))
  const relArgs = (rel: Hex, args: readonly unknown[]) => (perRecord ? [rel, ...args] : args)
  const relTo = (rel: Hex): Hex => (perRecord ? RELATIONSHIPS_ADDRESS : rel)
  const relSend = (from: Actor, rel: Hex, fn: string, args: readonly unknown[]) => send(from, relTo(rel), abis.relationship, fn, relArgs(rel, args))
  const relCallOut = (rel: Hex, fn: string, args: readonly unknown[]) => vm.call(new Uint8Array(20), relTo(rel), encode(abis.relationship, fn, relArgs(rel, args)))
  const view = async (abi: Abi, to: Hex, fn: string, args: readonly unknown[]) => {
    const out = await vm.call(new Uint8Array(20), to, encode(abi, fn, args))
    if (!out.ok) throw new Error(`${fn} at ${to} reverted: ${out.returnData}`)
    return decode(abi, fn, out.returnData)
  }
  return {
    name,
    vm,
    abis,
    async register(authority, identity, who) {
      const out = await send(authority, REGISTRAR_ADDRESS, abis.registrar, 'register', [identity, who.hex])
      return { out, summary: lowerHex(eventArgs(abis.registrar, out, 'IdentityRegistered')?.summary) }
    },
    async create(provider, patient, endpoint, salt) {
      const out = await send(provider, RELATIONSHIPS_ADDRESS, abis.relationships, 'create', [patient, endpoint, salt])
      return { out, relationship: lowerHex(eventArgs(abis.relationships, out, 'RelationshipCreated')?.relationship) }
    },
    addPointer: (provider, rel, query, fieldCount, dataHash, bounty) => relSend(provider, rel, 'addPointer', [query, fieldCount, dataHash, bounty]),
    updatePointer: (provider, rel, id, dataHash, bounty) => relSend(provider, rel, 'updatePointer', [id, dataHash, bounty]),
    link: (provider, rel) => relSend(provider, rel, 'linkPatient', []),
    accept: (patient, summary, rel) => send(patient, summary, abis.summary, 'accept', [rel]),
    grant: (patient, rel, viewer, ids, masks, expiresAt) => relSend(patient, rel, 'grant', [viewer, ids, masks, expiresAt]),
    terminate: (by, rel) => relSend(by, rel, 'terminate', []),
    canRead: (rel, reader, pointerId, mask) => relCallOut(rel, 'canRead', [reader, pointerId, mask]),
    pointer: (rel, id) => relCallOut(rel, 'pointer', [id]),
    read: (rel, fn, args = []) => view(abis.relationship, relTo(rel), fn, relArgs(rel, args)),
    view: (role, address, fn, args = []) => view(abis[role], address, fn, args),
    relCall: (rel, fn, args) => ({ to: relTo(rel), data: encode(abis.relationship, fn, relArgs(rel, args)) }),
  }
}

/** A design's contracts in a fresh VM with `authorities` (each and `funded` hold 1000 ether). */
export async function createDesign(name: DesignName, root: string, authorities: Actor[], funded: Actor[]): Promise<Design> {
  const all = [...new Set([...authorities, ...funded])]
  if (name === 'live') {
    const m = await createMedRecVM(authorities, funded)
    return driver(name, m.vm, { registrar: registrarAbi, relationships: relationshipsAbi, summary: summaryAbi, relationship: patientProviderRelationshipAbi }, false)
  }
  const next = compileNext(root)
  const authoritySet = predeployAlloc(authorities.map((a) => a.address)).get(AUTHORITY_SET_ADDRESS)
  if (authoritySet === undefined) throw new Error('predeployAlloc has no AuthoritySet')
  const code = (c: Compiled) => ({ code: hexToBytes(c.deployedBytecode), storage: [] })
  const registrar = need(next, 'NextRegistrar')
  const { factory, relationship, summary } = CONTRACTS[name]
  const alloc = new Map([
    [AUTHORITY_SET_ADDRESS as string, authoritySet],
    [REGISTRAR_ADDRESS, code(registrar)],
    [RELATIONSHIPS_ADDRESS, code(need(next, factory))],
    [SUMMARY_IMPLEMENTATION, code(need(next, summary))],
    ...(name === 'records' ? [] : [[PPR_IMPLEMENTATION, code(need(next, relationship))] as const]),
  ])
  const vm = await createContractVM(alloc, all)
  return driver(name, vm, { registrar: registrar.abi, relationships: need(next, factory).abi, summary: need(next, summary).abi, relationship: need(next, relationship).abi }, name === 'records')
}

/** Storage slots and code of one account, as the state trie holds them. */
export interface AccountState {
  exists: boolean
  slots: number
  codeBytes: number
}

export async function accountState(vm: ContractVM, address: Hex): Promise<AccountState> {
  const sm = vm.vm.stateManager as unknown as { getAccount(a: Address): Promise<unknown>; getCode(a: Address): Promise<Uint8Array>; dumpStorage(a: Address): Promise<Record<string, string>> }
  const a = new Address(hexToBytes(address))
  const acc = await sm.getAccount(a)
  if (acc === undefined) return { exists: false, slots: 0, codeBytes: 0 }
  return { exists: true, slots: Object.keys(await sm.dumpStorage(a)).length, codeBytes: (await sm.getCode(a)).length }
}
