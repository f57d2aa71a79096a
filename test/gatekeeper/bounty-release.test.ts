import t from 'tap'
import { DatabaseSync } from 'node:sqlite'
import { join } from 'node:path'
import { recoverMessageAddress, toHex, type Address, type Hex } from 'viem'
import { mnemonicToAccount, type HDAccount } from 'viem/accounts'
import { createMedRecClient, type MedRecClient } from '../../contracts/client/index.ts'
import { decryptWith } from '../../gatekeeper/ecies.ts'
import { newRequest, signRequest } from '../../gatekeeper/request.ts'
import { bountyResultHash, type BountyPayload } from '../../gatekeeper/serve.ts'
import type { GatekeeperInfo } from '../../gatekeeper/api.ts'
import type { FhirResource } from '../../gatekeeper/types.ts'
import { rpc, startNodeProcess, tempDir, type NodeProcess } from '../helpers/node-process.ts'
import { pinnedFetch } from '../helpers/gatekeeper-tls.ts'

/**
 * Bounties against differencing, on a real node (dev chain, gatekeeper on, k = 3): the owner of
 * a bounty collects it, one new patient's record is imported into the provider's database
 * (medrec_import, the gatekeeper's bundle import), and the owner collects again. Live
 * recomputation would move the count from 3 to 4 and reveal the new patient's code; the answer
 * must instead be the first one, byte for byte. A second bounty of the same query, whose cohort
 * differs from the first release by fewer than k patients, releases nothing new.
 */

const MNEMONIC = 'test test test test test test test test test test test junk'
const accounts: HDAccount[] = Array.from({ length: 12 }, (_, i) => mnemonicToAccount(MNEMONIC, { addressIndex: i }))
const keyOf = (i: number): Hex => toHex(accounts[i]!.getHdKey().privateKey!)
const keyBytes = (i: number): Uint8Array => accounts[i]!.getHdKey().privateKey!
const addr = (i: number): Address => accounts[i]!.address
const PROVIDER = 0
const CHAIN_ID = 1337n
const K = 3
const DIAGNOSIS = '44054006' // the code whose count must not move by one patient
const QUERY = { resourceType: 'Condition', fields: ['code', 'clinicalStatus'] }
const BOUNTY = { resourceType: 'Condition', aggregate: 'count', groupBy: ['code'] }

let node: NodeProcess
let dir: ReturnType<typeof tempDir>
let gkUrl: string
/** Requests to the gatekeeper's HTTPS API, pinned to the certificate fingerprint it publishes. */
let gkFetch: ReturnType<typeof pinnedFetch>
let provider: Address
let client: MedRecClient

const condition = (id: string, patientRef?: string): FhirResource => ({
  resourceType: 'Condition',
  id,
  clinicalStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-clinical', code: 'active' }] },
  code: { coding: [{ system: 'http://snomed.info/sct', code: DIAGNOSIS }] },
  ...(patientRef === undefined ? {} : { subject: { reference: patientRef } }),
})

/** The raw plaintext of a bounty reply: what "the same answer" is compared on. */
async function collect(index: number): Promise<{ text: string; payload: BountyPayload }> {
  const b = (await client.relationships.bounties(provider, { offset: index, limit: 1 }))[0]!
  const req = newRequest({ gatekeeper: provider, method: 'bounty', relationship: b.relationship, pointerIds: [BigInt(b.pointerId)], index: BigInt(index) })
  const signed = signRequest(keyOf(PROVIDER), CHAIN_ID, req)
  const res = await gkFetch(`${gkUrl}/v1/requests`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(signed) })
  const body = (await res.json()) as { ok: boolean; encrypted?: unknown; error?: { code: string; message: string } }
  if (!body.ok) throw new Error(`bounty #${index} refused: ${body.error?.code} ${body.error?.message}`)
  const text = new TextDecoder().decode(decryptWith(keyBytes(PROVIDER), body.encrypted as never))
  return { text, payload: JSON.parse(text) as BountyPayload }
}

/** A patient with a relationship and one Condition, through the provider's add-record flow: its pointer makes a bounty. */
async function addPatientWithRecord(i: number, name: string): Promise<number> {
  await rpc(node.url, 'medrec_addPatient', [{ identity: name, address: addr(i) }])
  await rpc(node.url, 'medrec_addRecord', [{ identity: name, resources: [condition(`${name}-c1`)], query: QUERY, bounty: BOUNTY }])
  return (await client.relationships.bountyCount(provider)) - 1
}

/** Patients the provider imports from its own systems (no relationship yet, so no bounty). */
async function importPatients(names: string[]): Promise<void> {
  const entry = names.flatMap((n) => [{ resource: { resourceType: 'Patient', id: n } }, { resource: condition(`${n}-c1`, `Patient/${n}`) }])
  const res = await rpc<{ imported: number }>(node.url, 'medrec_import', [{ bundle: { resourceType: 'Bundle', type: 'collection', entry } }])
  t.equal(res.imported, names.length * 2, `imported ${names.join(', ')}`)
}

const diagnosisCount = (p: BountyPayload): number | null | undefined => p.result.cells.find((c) => c.group.code === DIAGNOSIS)?.value

t.before(async () => {
  dir = tempDir('medrec-bounty-')
  node = await startNodeProcess(['--dev', '--dev.period', '0', '--gatekeeper', '--gatekeeper.http.port', '0', '--gatekeeper.k', String(K)], { datadir: dir.path })
  const info = await rpc<GatekeeperInfo>(node.url, 'medrec_gatekeeperInfo')
  gkUrl = info.url!
  gkFetch = pinnedFetch(info.tlsFingerprint)
  provider = info.account as Address
  client = createMedRecClient({ rpcUrl: node.url, privateKey: keyOf(PROVIDER), pollMs: 100 })
})

t.teardown(async () => {
  await node?.kill()
  dir?.remove()
})

t.test('a bounty is answered once: a new patient between two collections changes nothing', async (t) => {
  await addPatientWithRecord(1, 'ann')
  await addPatientWithRecord(2, 'ben')
  const index = await addPatientWithRecord(3, 'cat')
  const first = await collect(index)
  t.equal(diagnosisCount(first.payload), 3, 'three patients have the diagnosis')
  const signer = await recoverMessageAddress({ message: { raw: bountyResultHash(first.payload.result) }, signature: first.payload.signature })
  t.equal(signer.toLowerCase(), provider.toLowerCase(), 'signed by the provider')

  await importPatients(['dan'])
  const again = await collect(index)
  t.equal(again.text, first.text, 'the second collection is the first reply, byte for byte')
  t.equal(again.payload.signature, first.payload.signature, 'same signature')
  t.equal(diagnosisCount(again.payload), 3, "the new patient's diagnosis is not revealed by a count of 4")

  const state = new DatabaseSync(join(dir.path, 'gatekeeper', 'state.sqlite'), { readOnly: true })
  try {
    const rows = state.prepare('SELECT cohort, payload FROM bounty_releases').all() as { cohort: string; payload: string }[]
    t.equal(rows.length, 1, 'one stored release')
    t.equal(rows[0]!.payload, first.text, 'stored as served')
    t.notMatch(rows[0]!.cohort, /ann|ben|cat|dan|"p[0-9a-z]{6,}/, 'cohorts are stored salted, without patient ids')
  } finally {
    state.close()
  }
})

t.test('a later bounty of the same query whose cohort differs by fewer than k patients releases nothing new', async (t) => {
  const firstIndex = (await client.relationships.bountyCount(provider)) - 1
  const first = await collect(firstIndex)
  // dan (imported above) and eve: the cohort grows by 2 < k.
  const index = await addPatientWithRecord(4, 'eve')
  const second = await collect(index)
  t.equal(second.payload.result.index, index, 'the answer is for the bounty asked')
  t.same(second.payload.result.cells, first.payload.result.cells, 'the cells of the earlier release, not a count of 5')
  t.equal(second.payload.result.computedAt, first.payload.result.computedAt, 'computed when the earlier release was')
  t.same(second.payload.result.repeats, { owner: provider.toLowerCase(), index: firstIndex, blockNumber: first.payload.result.blockNumber }, 'says which release it repeats')
  const signer = await recoverMessageAddress({ message: { raw: bountyResultHash(second.payload.result) }, signature: second.payload.signature })
  t.equal(signer.toLowerCase(), provider.toLowerCase(), 'signed by the provider for this bounty')
  t.equal((await collect(index)).text, second.text, 'and it too is answered once')

  // k or more new patients: the difference covers at least k, so a fresh release is allowed.
  await importPatients(['fay', 'gus'])
  const third = await collect(await addPatientWithRecord(5, 'hal'))
  t.equal(third.payload.result.repeats, undefined, 'a fresh release')
  t.equal(diagnosisCount(third.payload), 8, 'over all eight patients (five more than the first release)')
})
