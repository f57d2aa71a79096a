import { size, type Address, type Hex } from 'viem'
import { encodeCall } from '../bindings.ts'
import { patientProviderRelationshipAbi } from '../generated/patient-provider-relationship.ts'
import { receipt } from './core.ts'
import { ClientError, ClientErrorCode } from './errors.ts'
import { pointerArgs, pprContract, type NewPointer } from './ppr.ts'
import type { RegistrarClient } from './registrar.ts'
import { randomSalt, relationshipsContract, type RelationshipsClient } from './relationships.ts'
import type { IncludedTx, Sender } from './transactions.ts'
import type { TxReceipt } from './types.ts'

export interface NewPatientRecord extends NewPointer {
  /** The patient's identity string as registered in the Registrar. */
  identity: string
  /** Where the provider's gatekeeper serves this relationship (stored on the PPR). */
  endpoint: string
  /** The CREATE2 salt (random when absent); give it when the data hash depends on the relationship's address. */
  salt?: Hex
}

export interface NewPatientRecordResult {
  patient: Address
  /** The patient's Summary, which now lists the relationship as awaiting approval. */
  summary: Address
  relationship: Address
  pointerId: number
  transactions: { create: TxReceipt; addPointer: TxReceipt; linkPatient: TxReceipt }
}

const utf8Words = (s: string): bigint => BigInt(Math.ceil(new TextEncoder().encode(s).length / 32))

/**
 * Gas limits for calls to a relationship that does not exist yet (eth_estimateGas cannot run
 * them). Upper bounds, kept from before the clones (issue 23) because unused gas is not charged:
 * every storage write priced as a fresh slot (22,100), each 32-byte word of the two query
 * strings as a fresh slot plus its calldata, event and copying costs (25,000), and room for the
 * calls into Relationships and the Summary. Measured: a 3-field query with a grouped count
 * bounty uses ~115k of the ~560k this allows (the texts are only logged now).
 */
export function addPointerGasLimit(data: Hex, query: string, bounty: string): bigint {
  return 150_000n + 16n * BigInt(size(data)) + 22_100n * 10n + 25_000n * (utf8Words(query) + utf8Words(bounty))
}
export const LINK_PATIENT_GAS_LIMIT = 250_000n

/**
 * The paper's "provider adds a record for a new patient" (2016, Figure 2, steps 1–2): resolve the
 * identity, create the relationship, add the pointer, link it into the patient's Summary. The three
 * transactions go out back to back with consecutive nonces, then all three are awaited. The last
 * two are addressed to the relationship's CREATE2 address, which depends only on this provider,
 * the patient, the endpoint and a random salt: they cannot land on any other relationship.
 */
export async function addRecordForNewPatient(sender: Sender, registrar: RegistrarClient, relationships: RelationshipsClient, input: NewPatientRecord): Promise<NewPatientRecordResult> {
  const args = pointerArgs(input)
  const resolved = await registrar.resolve(input.identity)
  if (resolved === undefined) {
    throw new ClientError(ClientErrorCode.NOT_FOUND, `identity ${JSON.stringify(input.identity)} is not registered: an authority must register it first`, { identity: input.identity })
  }
  const factory = relationshipsContract(sender)
  const salt = input.salt ?? randomSalt()
  const relationship = await relationships.predictAddress(sender.address, resolved.participant, input.endpoint, salt)
  const ppr = pprContract(sender, relationship)
  // The relationship does not exist yet, so gas cannot be estimated: fixed limits from the data size.
  const addData = encodeCall(patientProviderRelationshipAbi, 'addPointer', args)
  const sent = await sender.sendBatch([
    factory.request('create', [resolved.participant, input.endpoint, salt]),
    ppr.request('addPointer', args, addPointerGasLimit(addData, args[0], args[3])),
    ppr.request('linkPatient', [], LINK_PATIENT_GAS_LIMIT),
  ])
  const settled = await Promise.allSettled(sent.map((t) => sender.wait(t)))
  const failed = settled.find((r) => r.status === 'rejected')
  if (failed !== undefined) throw toClientError(failed.reason)
  const [create, add, link] = settled.map((r) => (r as PromiseFulfilledResult<IncludedTx>).value) as [IncludedTx, IncludedTx, IncludedTx]
  return {
    patient: resolved.participant,
    summary: resolved.summary,
    relationship,
    pointerId: Number(ppr.event(add, 'PointerAdded').args.pointerId),
    transactions: { create: receipt(create), addPointer: receipt(add), linkPatient: receipt(link) },
  }
}

function toClientError(err: unknown): ClientError {
  return err instanceof ClientError ? err : new ClientError(ClientErrorCode.RPC, err instanceof Error ? err.message : String(err), undefined, err)
}
