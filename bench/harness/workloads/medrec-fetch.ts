/**
 * The MedRec workload's off-chain request: a third party fetches records from a provider's
 * gatekeeper over its HTTP API. Set-up puts records into each node's gatekeeper (the node's
 * authority is the provider, as `medrec provider add-patient` / `add-record` do), and the patient
 * of each grants the third party two of the pointer's three fields. Each request is the real
 * requester path: read the relationship, the grant and the pointer from the chain, sign an
 * EIP-712 request, POST it, decrypt the reply and check the records against the hash on chain.
 */
import { bytesToHex, type Address, type Hex } from 'viem'
import { createMedRecClient, encodeCall, fieldMask, patientProviderRelationshipAbi, type RecordQuery } from '../../../contracts/index.ts'
import { errorMessage } from '../../../common/errors.ts'
import type { AddPatientResult, AddRecordResult, FetchResult, GatekeeperInfo } from '../../../gatekeeper/api.ts'
import { createRequester, type Requester } from '../../../gatekeeper/requester.ts'
import type { FhirResource } from '../../../gatekeeper/types.ts'
import { BenchError, BenchErrorCode } from '../errors.ts'
import { rpc } from '../rpc.ts'
import type { TxFields, WorkloadPlan } from './types.ts'

/** The pointer each gatekeeper serves: three fields of the patient's observations. */
export const FETCH_QUERY: RecordQuery = { resourceType: 'Observation', fields: ['code', 'valueQuantity', 'effectiveDateTime'] }
/** What the patient shares with the third party: code and valueQuantity (the reply withholds the date). */
export const FETCH_FIELDS: readonly number[] = [0, 1]
/** Observations per gatekeeper patient. */
export const FETCH_RECORDS = 3
/** Offered gatekeeper fetches per second. */
export const FETCH_RATE = 5
export const GRANT_GAS = 450_000n

/** One gatekeeper's records, granted to the third party. */
export interface FetchTarget {
  node: number
  url: string
  gatekeeper: Address
  relationship: Address
  pointerId: number
  /** The transactions medrec_addRecord made (create, addPointer, linkPatient). */
  transactions: string[]
}

const bytes = (h: string): Uint8Array => new Uint8Array(Buffer.from(h.replace(/^0x/, ''), 'hex'))

/** The observations set-up stores for node `node`'s patient (blood pressure, HbA1c, heart rate). */
export function fetchResources(node: number): FhirResource[] {
  const obs = (n: number, code: string, display: string, value: number, unit: string): FhirResource => ({
    resourceType: 'Observation',
    id: `bench-${node}-${n}`,
    status: 'final',
    code: { coding: [{ system: 'http://loinc.org', code, display }] },
    valueQuantity: { value, unit },
    effectiveDateTime: `2026-10-0${n + 1}T09:00:00Z`,
  })
  return [obs(0, '8480-6', 'Systolic blood pressure', 120 + node, 'mmHg'), obs(1, '4548-4', 'HbA1c', 6.1, '%'), obs(2, '8867-4', 'Heart rate', 64 + node, '/min')].slice(0, FETCH_RECORDS)
}

/**
 * Node `node`'s gatekeeper registers the patient's identity (its authority's transaction) and adds
 * her records: a relationship with a pointer to them, linked into her Summary. Resolves once its
 * own node has included the three transactions.
 */
export async function provisionGatekeeper(node: number, url: string, identity: string, patient: Address): Promise<FetchTarget> {
  let info: GatekeeperInfo
  try {
    info = await rpc<GatekeeperInfo>(url, 'medrec_gatekeeperInfo')
  } catch (err) {
    throw new BenchError(BenchErrorCode.BAD_WORKLOAD, `node ${node} (${url}) runs no gatekeeper (${errorMessage(err)}): the medrec workload needs every node started with --gatekeeper`, { node }, err)
  }
  if (info.url === undefined) throw new BenchError(BenchErrorCode.BAD_WORKLOAD, `node ${node}'s gatekeeper has no HTTP API: start it without --gatekeeper.nohttp`, { node })
  await rpc<AddPatientResult>(url, 'medrec_addPatient', [{ identity, address: patient }])
  const added = await rpc<AddRecordResult>(url, 'medrec_addRecord', [{ identity, resources: fetchResources(node), query: FETCH_QUERY }])
  if (added.action !== 'created') throw new BenchError(BenchErrorCode.BAD_WORKLOAD, `node ${node}'s gatekeeper ${added.action} a record instead of creating a relationship for the fresh identity ${identity}`, { node })
  return { node, url, gatekeeper: info.account.toLowerCase() as Address, relationship: added.relationship.toLowerCase() as Address, pointerId: added.pointerId, transactions: added.transactions }
}

/** The patient's grant of FETCH_FIELDS of the pointer to the third party (no expiry). */
export function fetchGrantTx(target: FetchTarget, thirdParty: Address): TxFields {
  const data = encodeCall(patientProviderRelationshipAbi, 'grant', [thirdParty, [BigInt(target.pointerId)], [fieldMask(FETCH_FIELDS, FETCH_QUERY.fields.length)], 0n])
  return { to: bytes(target.relationship), data: bytes(data), gasLimit: GRANT_GAS }
}

/** Checks a fetch returned exactly what was granted, verified against the chain. */
export function checkFetch(res: FetchResult, target: FetchTarget): void {
  const p = res.pointers.find((x) => x.pointerId === target.pointerId)
  const why =
    res.transport !== 'http' ? `came over ${res.transport}, not HTTP`
    : p === undefined ? 'left out the pointer'
    : p.status !== 'verified' ? `records ${p.status}: they do not match the hash on chain`
    : p.fields.join(',') !== FETCH_FIELDS.join(',') ? `fields ${p.fields.join(',')} instead of the granted ${FETCH_FIELDS.join(',')}`
    : p.bundle.entry.length !== FETCH_RECORDS ? `${p.bundle.entry.length} records instead of ${FETCH_RECORDS}`
    : undefined
  if (why !== undefined) throw new BenchError(BenchErrorCode.RPC, `gatekeeper fetch from node ${target.node}: ${why}`, { node: target.node })
}

/**
 * The timed request: the i-th goes to gatekeeper i mod N, read through that node's JSON-RPC as the
 * third party (`thirdPartyKey`), and fails unless the reply checks out (checkFetch).
 */
export function fetchRequests(targets: readonly FetchTarget[], thirdPartyKey: Uint8Array, chainId: bigint, rate = FETCH_RATE): NonNullable<WorkloadPlan['requests']> {
  const privateKey = bytesToHex(thirdPartyKey) as Hex
  const requesters: Requester[] = targets.map((t) => createRequester({ client: createMedRecClient({ rpcUrl: t.url, privateKey }), privateKey, chainId }))
  return {
    name: 'gatekeeper fetch',
    rate,
    async run(i) {
      const n = i % targets.length
      const target = targets[n]!
      let res: FetchResult
      try {
        res = await requesters[n]!.fetchRecords(target.relationship, [target.pointerId])
      } catch (err) {
        throw new BenchError(BenchErrorCode.RPC, `gatekeeper fetch from node ${target.node}: ${errorMessage(err)}`, { node: target.node }, err)
      }
      checkFetch(res, target)
    },
  }
}
