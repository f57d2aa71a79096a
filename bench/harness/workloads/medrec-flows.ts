/**
 * The MedRec workload's measured transaction stream, as data: which role each sender plays, and
 * the seq-th call of each sender, computed from what set-up left on chain (no chain reads, so the
 * harness can sign the whole run up front). A sender's calls depend only on its own earlier calls
 * (ordered by nonce) and on set-up, never on another sender's calls still in flight, so any
 * interleaving of the senders succeeds.
 */
import { concatHex, keccak256, toHex, type Address, type Hex } from 'viem'
import { bountyQuery, encodeCall, patientProviderRelationshipAbi, recordQuery, relationshipAddress as cloneRelationshipAddress, registrarAbi, relationshipsAbi, summaryAbi, REGISTRAR_ADDRESS, RELATIONSHIPS_ADDRESS } from '../../../contracts/index.ts'
import { addPointerGasLimit, LINK_PATIENT_GAS_LIMIT } from '../../../contracts/client/flows.ts'
import type { TxFields } from './types.ts'

/** The record every pointer of the run describes (a FHIR-style query; three fields for grants to select from). */
export const FLOW_QUERY = recordQuery({ resourceType: 'Observation', fields: ['code', 'valueQuantity', 'effectiveDateTime'] })
/** The bounty each pointer carries: a count of the observations grouped by code. */
export const FLOW_BOUNTY = bountyQuery({ resourceType: 'Observation', aggregate: 'count', groupBy: ['code'] })
/** What the run's relationships record as their gatekeeper (the measured providers run none; nothing fetches from it). */
export const FLOW_ENDPOINT = 'https://gatekeeper.bench.invalid/fhir'

/**
 * Fixed gas limits, each above the receipt gas measured in the in-process test with headroom (the
 * relationship a call goes to may not exist when it is signed, so nothing can be estimated; unused
 * gas is not charged). Measured (docs/contracts.md): create ~0.10 M, accept ~35 k, grant ≤ ~250 k,
 * revoke ~40 k, register ~0.13 M, verifyDelegate ~51 k.
 */
export const GAS = {
  create: 200_000n,
  linkPatient: LINK_PATIENT_GAS_LIMIT,
  accept: 80_000n,
  grant: 450_000n,
  revoke: 80_000n,
  register: 250_000n,
  verifyDelegate: 100_000n,
} as const

export type FlowRole = 'provider' | 'patient'
export type FlowKind = 'create' | 'addPointer' | 'linkPatient' | 'accept' | 'grant' | 'revoke'

/** What set-up made, which the stream's calls refer to. Addresses are lower-case 0x hex. */
export interface FlowLayout {
  /** Every sender's address, in sender order; senders [0, providers) are providers, the rest patients. */
  senders: Address[]
  providers: number
  /** Patient j is sender providers + j: her Summary, and the relationship set-up made for her (pointer 0 in it, linked, awaiting her approval). */
  patientSummaries: Address[]
  setupRelationships: Address[]
  /** Registered third parties (each has a Summary) the patients grant to and revoke. */
  viewers: Address[]
  /** A per-run random tag: the CREATE2 salts and data hashes come from it, so runs never collide. */
  tag: Hex
}

/** One planned call, with what it acts on (for tests and progress lines). */
export interface FlowStep extends TxFields {
  role: FlowRole
  kind: FlowKind
  /** The relationship it creates or acts on. */
  relationship: Address
  /** The patient of that relationship (an index into the patients). */
  patient: number
  /** grant / revoke: the viewer. */
  viewer?: Address
  /** grant: the field mask of pointer 0. */
  mask?: bigint
}

/** The first quarter of the senders (at least one) are providers; every other sender is a patient. */
export function providerCount(senders: number): number {
  return Math.max(1, Math.floor(senders / 4))
}

const bytes = (h: Hex): Uint8Array => new Uint8Array(Buffer.from(h.slice(2), 'hex'))
const word = (n: number): Hex => toHex(n, { size: 32 })

/** The CREATE2 salt of a relationship: set-up's (one per patient) and the flow's (provider p's k-th) never coincide. */
export function setupSalt(tag: Hex, patient: number): Hex {
  return keccak256(concatHex([tag, toHex('setup', { size: 32 }), word(patient)]))
}
export function flowSalt(tag: Hex, provider: number, k: number): Hex {
  return keccak256(concatHex([tag, toHex('flow', { size: 32 }), word(provider), word(k)]))
}
/** A data hash standing in for the records a pointer's query returns (never zero). */
export function flowDataHash(salt: Hex): Hex {
  return keccak256(concatHex([salt, toHex('data', { size: 32 })]))
}

/**
 * The address `Relationships.create(patient, endpoint, salt)` from `provider` gives: the CREATE2
 * address of the PPR clone carrying (provider, the patient's Summary, salt, endpoint). As `predictAddress`.
 */
export function relationshipAddress(provider: Address, _patient: Address, patientSummary: Address, endpoint: string, salt: Hex): Address {
  return cloneRelationshipAddress(provider, patientSummary, endpoint, salt)
}

/** The three transactions of "provider adds a record for a new patient": create, addPointer, linkPatient. */
export function newRecordTxs(patient: Address, endpoint: string, salt: Hex, dataHash: Hex, relationship: Address): [TxFields, TxFields, TxFields] {
  const add = encodeCall(patientProviderRelationshipAbi, 'addPointer', [FLOW_QUERY.json, FLOW_QUERY.fieldCount, dataHash, FLOW_BOUNTY.json])
  return [
    { to: bytes(RELATIONSHIPS_ADDRESS), data: bytes(encodeCall(relationshipsAbi, 'create', [patient, endpoint, salt])), gasLimit: GAS.create },
    { to: bytes(relationship), data: bytes(add), gasLimit: addPointerGasLimit(add, FLOW_QUERY.json, FLOW_BOUNTY.json) },
    { to: bytes(relationship), data: bytes(encodeCall(patientProviderRelationshipAbi, 'linkPatient', [])), gasLimit: GAS.linkPatient },
  ]
}

/** Set-up: an authority registers `identity` for `participant` (creating its Summary). */
export function registerTx(identity: string, participant: Address): TxFields {
  return { to: bytes(REGISTRAR_ADDRESS), data: bytes(encodeCall(registrarAbi, 'register', [identity, participant])), gasLimit: GAS.register }
}
/**
 * Measured, by the nodes' authorities: node `node`'s seq-th registration of a new identity for a
 * fresh participant (both from the run's tag, so runs never collide).
 */
export function newIdentityTx(tag: Hex, node: number, seq: number): TxFields {
  const participant = `0x${keccak256(concatHex([tag, toHex('participant', { size: 32 }), word(node), word(seq)])).slice(26)}` as Address
  return registerTx(`bench-${tag.slice(2, 10)}-new-${node}-${seq}`, participant)
}

/** Set-up: an authority lets a provider sender act as a provider (MedRec 2.0's per-relationship delegate). */
export function verifyDelegateTx(delegate: Address): TxFields {
  return { to: bytes(REGISTRAR_ADDRESS), data: bytes(encodeCall(registrarAbi, 'verifyDelegate', [delegate])), gasLimit: GAS.verifyDelegate }
}

/**
 * The seq-th call of `sender`.
 * Provider p, in threes: `Relationships.create` for patient (k·providers + p) mod patients with
 * salt flowSalt(p, k); `addPointer` (the query, its data hash, a bounty query) on the CREATE2
 * address; `linkPatient` into the patient's Summary.
 * Patient j: first `Summary.accept` of the relationship set-up made for her; then, in twos,
 * `grant` viewer (j + m) mod viewers the fields (m mod 7) + 1 of pointer 0 (no expiry) and
 * `revoke` it.
 */
export function flowStep(layout: FlowLayout, sender: number, seq: number): FlowStep {
  const patients = layout.senders.length - layout.providers
  if (sender < layout.providers) {
    const k = Math.floor(seq / 3)
    const patient = (k * layout.providers + sender) % patients
    const provider = layout.senders[sender]!
    const salt = flowSalt(layout.tag, sender, k)
    const relationship = relationshipAddress(provider, layout.senders[layout.providers + patient]!, layout.patientSummaries[patient]!, FLOW_ENDPOINT, salt)
    const txs = newRecordTxs(layout.senders[layout.providers + patient]!, FLOW_ENDPOINT, salt, flowDataHash(salt), relationship)
    const kind = (['create', 'addPointer', 'linkPatient'] as const)[seq % 3]!
    return { ...txs[seq % 3]!, role: 'provider', kind, relationship, patient }
  }
  const patient = sender - layout.providers
  const relationship = layout.setupRelationships[patient]!
  if (seq === 0) {
    const data = encodeCall(summaryAbi, 'accept', [relationship])
    return { to: bytes(layout.patientSummaries[patient]!), data: bytes(data), gasLimit: GAS.accept, role: 'patient', kind: 'accept', relationship, patient }
  }
  const m = Math.floor((seq - 1) / 2)
  const viewer = layout.viewers[(patient + m) % layout.viewers.length]!
  if (seq % 2 === 1) {
    const mask = BigInt((m % 7) + 1)
    const data = encodeCall(patientProviderRelationshipAbi, 'grant', [viewer, [0n], [mask], 0n])
    return { to: bytes(relationship), data: bytes(data), gasLimit: GAS.grant, role: 'patient', kind: 'grant', relationship, patient, viewer, mask }
  }
  const data = encodeCall(patientProviderRelationshipAbi, 'revoke', [viewer])
  return { to: bytes(relationship), data: bytes(data), gasLimit: GAS.revoke, role: 'patient', kind: 'revoke', relationship, patient, viewer }
}

/** Just the transaction fields of `flowStep`. */
export function flowTx(layout: FlowLayout, sender: number, seq: number): TxFields {
  const s = flowStep(layout, sender, seq)
  return { to: s.to, data: s.data, gasLimit: s.gasLimit }
}
