import t from 'tap'
import { keccak256, toHex, type Hex } from 'viem'
import { actor, type Actor } from '../helpers/contract-vm.ts'
import { assertOk, createMedRecVM, lower, norm } from '../helpers/medrec-vm.ts'

/**
 * The MedRec papers' flows, step by step, on the embedded EVM (DESIGN.md, "The flows").
 */

const [hospital, clinic, patient, researcher, delegate] = ['hospital', 'clinic', 'patient', 'researcher', 'delegate'].map(actor) as [Actor, Actor, Actor, Actor, Actor]
const hash = (s: string): Hex => keccak256(toHex(s))
const S = { AwaitingApproval: 1, UpdatePending: 2, Accepted: 3 } as const
const LABS = JSON.stringify({ resourceType: 'Observation', fields: ['code', 'valueQuantity', 'effectiveDateTime'], codeSystems: ['http://loinc.org'] })

for (const viaDelegate of [false, true]) {
  t.test(`a provider adds a record for a new patient${viaDelegate ? ' through a per-relationship delegate' : ''}; the patient accepts`, async (t) => {
    const m = await createMedRecVM([hospital, clinic], [patient, researcher, delegate])
    await m.register(clinic, 'sha256:patient-national-id', patient)
    const provider = viaDelegate ? delegate : hospital
    // MedRec 2.0: another, randomly chosen authority verifies the fresh delegate account
    if (viaDelegate) assertOk(t, await m.registrar.send(clinic, 'verifyDelegate', [delegate.hex]), 'delegate verified by another provider')

    // 1. resolve the identity string to the patient's address and Summary
    const [who, summaryAddress] = await m.registrar.view('resolve', ['sha256:patient-national-id'])
    t.equal(lower(who), patient.hex)
    const summary = m.summary(lower(summaryAddress) as Hex)
    // 2. create the relationship, add a pointer with the data's hash, link it into the Summary
    const ppr = await m.createRelationship(provider, { hex: lower(who) as Hex }, 'https://gk.hospital.example/fhir')
    assertOk(t, await ppr.send(provider, 'addPointer', [LABS, 3, hash('labs-v1'), '{"aggregate":"count","by":"code"}']), 'pointer added')
    const link = await ppr.send(provider, 'linkPatient', [])
    // 4-5. the patient's node sees the new relationship in its Summary's events
    t.same(norm(summary.events(link).map((e) => e.eventName)), ['RelationshipAdded', 'StatusChanged'])
    t.equal((await summary.view('entryOf', [ppr.address])).status, S.AwaitingApproval)
    // 6. the patient accepts
    assertOk(t, await summary.send(patient, 'accept', [ppr.address]), 'accepted')
    t.equal((await summary.view('entryOf', [ppr.address])).status, S.Accepted)
    // 7-8. what the gatekeeper will check: the patient may read the pointer's every field
    t.equal(await ppr.view('canRead', [patient.hex, 0n, 0b111n]), true)
    t.equal(await ppr.view('canRead', [researcher.hex, 0n, 0b001n]), false, 'nobody else may')
    t.equal((await ppr.view('pointer', [0n])).dataHash, hash('labs-v1'), 'the hash the result will be checked against')
  })
}

t.test('the patient shares a subset with a third party until it expires', async (t) => {
  const m = await createMedRecVM([hospital], [patient, researcher])
  await m.register(hospital, 'patient', patient)
  const thirdPartySummary = await m.register(hospital, 'insurer-x', researcher)
  const ppr = await m.createRelationship(hospital, patient)
  assertOk(t, await ppr.send(hospital, 'addPointer', [LABS, 3, hash('labs'), 'b']), 'pointer 0')
  assertOk(t, await ppr.send(hospital, 'linkPatient', []), 'linked')

  const expiresAt = m.vm.timestamp + 3600n
  // only the code and the date of the lab results, for one hour
  const out = await ppr.send(patient, 'grant', [researcher.hex, [0n], [0b101n], expiresAt])
  assertOk(t, out, 'granted')
  t.same(norm(thirdPartySummary.events(out).map((e) => e.eventName)), ['RelationshipAdded', 'StatusChanged'], 'the third party is notified through its Summary')
  const entry = await thirdPartySummary.view('entryOf', [ppr.address])
  t.same([entry.status, entry.role], [S.AwaitingApproval, 1])
  t.equal(await ppr.view('canRead', [researcher.hex, 0n, 0b101n]), true, 'exactly the subset')
  t.equal(await ppr.view('canRead', [researcher.hex, 0n, 0b010n]), false, 'not the values')
  m.vm.nextBlock({ timestamp: expiresAt })
  t.equal(await ppr.view('canRead', [researcher.hex, 0n, 0b001n]), false, 'the grant expired')
})

t.test('a record update carries a bounty owned by the block\'s author; the patient is told of the update', async (t) => {
  const m = await createMedRecVM([hospital, clinic], [patient])
  const summary = await m.register(hospital, 'patient', patient)
  const ppr = await m.createRelationship(hospital, patient)
  assertOk(t, await ppr.send(hospital, 'addPointer', [LABS, 3, hash('v1'), 'initial']), 'pointer')
  assertOk(t, await ppr.send(hospital, 'linkPatient', []), 'linked')
  assertOk(t, await summary.send(patient, 'accept', [ppr.address]), 'accepted')

  // the clinic seals the block that includes the hospital's update
  m.vm.nextBlock({ coinbase: clinic.hex })
  const bounty = JSON.stringify({ aggregate: 'count', resourceType: 'Observation', groupBy: ['code'], k: 5 })
  const out = await ppr.send(hospital, 'updatePointer', [0n, hash('v2'), bounty])
  assertOk(t, out, 'updated')
  t.equal((await summary.view('entryOf', [ppr.address])).status, S.UpdatePending, 'the patient sees an update pending')
  const owned = m.relationships.events(out).flatMap((e) => (e.eventName === 'BountyCreated' ? [[e.args.owner, e.args.relationship, e.args.pointerId, e.args.index, e.args.query]] : []))
  t.same(norm(owned), [[clinic.hex, ppr.address, 0n, 0n, bounty]], 'the sealer owns the bounty')
  t.equal(await m.relationships.view('bountyCount', [clinic.hex]), 1n, 'its first')
  t.equal(await m.relationships.view('bountyCount', [hospital.hex]), 0n, 'the provider does not')
})
