import t from 'tap'
import { keccak256, toHex, type Hex } from 'viem'
import { encodeCall, patientProviderRelationshipAbi as pprAbi, patientProviderRelationshipBytecode } from '../../contracts/index.ts'
import { actor, type Actor } from '../helpers/contract-vm.ts'
import { ZERO_ADDRESS, assertOk, assertRevert, createMedRecVM, lower, norm } from '../helpers/medrec-vm.ts'

const [auth, alice, viewer, viewer2, stranger] = ['auth', 'alice', 'viewer', 'viewer2', 'stranger'].map(actor) as [Actor, Actor, Actor, Actor, Actor]
const QUERY = JSON.stringify({ resourceType: 'Observation', fields: ['code', 'value', 'effective'], codeSystems: ['http://loinc.org'] })
const hash = (s: string): Hex => keccak256(toHex(s))
const BOUNTY = JSON.stringify({ aggregate: 'count', resourceType: 'Observation', groupBy: ['code'] })
const ALL = 0b111n

async function setup() {
  const m = await createMedRecVM([auth], [alice, viewer, viewer2, stranger])
  const patientSummary = await m.register(auth, 'alice', alice)
  await m.register(auth, 'viewer', viewer)
  const ppr = await m.createRelationship(auth, alice)
  for (const out of [
    await ppr.send(auth, 'addPointer', [QUERY, 3, hash('v1'), BOUNTY]),
    await ppr.send(auth, 'addPointer', ['{"resourceType":"Condition","fields":["code","onset"]}', 2, hash('c1'), BOUNTY]),
  ]) {
    if (!out.ok) throw new Error(`setup: addPointer reverted ${out.returnData}`)
  }
  return { m, ppr, patientSummary }
}

/** A grant of `masks` per pointer id, expiring at `expiresAt` (0: never). */
const grantArgs = (who: { hex: Hex }, masks: Array<[number, bigint]>, expiresAt = 0n) => [who.hex, masks.map(([p]) => BigInt(p)), masks.map(([, m]) => m), expiresAt] as const

t.test('created by the factory with fixed parties; the patient is the Summary owner', async (t) => {
  const { m, ppr, patientSummary } = await setup()
  t.equal(lower(await ppr.view('provider', [])), auth.hex)
  t.equal(lower(await ppr.view('patient', [])), alice.hex)
  t.equal(lower(await ppr.view('patientSummary', [])), patientSummary.address)
  t.equal(lower(await ppr.view('factory', [])), lower(m.relationships.address))
  t.equal(await ppr.view('endpoint', []), 'https://gk.example/fhir')
  t.same([await ppr.view('linked', []), await ppr.view('terminated', []), await ppr.view('consentRequired', [])], [false, false, false])

  // deploying the relationship code directly, to forge a "factory-made" relationship: it is none
  const forged = lower(await m.vm.deploy(stranger, patientProviderRelationshipBytecode)) as Hex
  t.equal(await m.relationships.view('isRelationship', [forged]), false, 'a copy of the implementation deployed by a stranger is no relationship')
})

t.test('endpoint: only the provider sets it', async (t) => {
  const { ppr } = await setup()
  assertRevert(t, pprAbi, await ppr.send(alice, 'setEndpoint', ['https://evil.example']), 'NotProvider', [alice.hex], 'the patient')
  assertRevert(t, pprAbi, await ppr.send(stranger, 'setEndpoint', ['https://evil.example']), 'NotProvider', [stranger.hex], 'a stranger')
  const out = await ppr.send(auth, 'setEndpoint', ['/ip4/10.0.0.1/tcp/30303/p2p/12D3KooWx'])
  t.same(ppr.events(out), [{ eventName: 'EndpointChanged', args: { endpoint: '/ip4/10.0.0.1/tcp/30303/p2p/12D3KooWx' } }])
  t.equal(await ppr.view('endpoint', []), '/ip4/10.0.0.1/tcp/30303/p2p/12D3KooWx')
})

t.test('pointers: only the provider adds and updates them, with a hash and a bounty each time', async (t) => {
  const { m, ppr } = await setup()
  for (const who of [alice, stranger, viewer]) {
    assertRevert(t, pprAbi, await ppr.send(who, 'addPointer', [QUERY, 3, hash('x'), BOUNTY]), 'NotProvider', [who.hex], `addPointer by ${who === alice ? 'the patient' : 'a non-provider'}`)
    assertRevert(t, pprAbi, await ppr.send(who, 'updatePointer', [0n, hash('x'), BOUNTY]), 'NotProvider', [who.hex], 'updatePointer by a non-provider')
  }
  assertRevert(t, pprAbi, await ppr.send(auth, 'addPointer', ['', 3, hash('x'), BOUNTY]), 'EmptyQuery', [], 'empty query')
  assertRevert(t, pprAbi, await ppr.send(auth, 'addPointer', [QUERY, 0, hash('x'), BOUNTY]), 'BadFieldCount', [0n], 'no fields')
  assertRevert(t, pprAbi, await ppr.send(auth, 'addPointer', [QUERY, 3, `0x${'00'.repeat(32)}`, BOUNTY]), 'ZeroDataHash', [], 'zero hash')
  assertRevert(t, pprAbi, await ppr.send(auth, 'addPointer', [QUERY, 3, hash('x'), '']), 'EmptyBounty', [], 'no bounty query')
  t.equal(await ppr.view('pointerCount', []), 2n, 'refusals added nothing')

  m.vm.nextBlock({ timestamp: 5000n })
  const out = await ppr.send(auth, 'addPointer', [QUERY, 3, hash('v3'), BOUNTY])
  assertOk(t, out, 'addPointer')
  t.same(ppr.events(out), [{ eventName: 'PointerAdded', args: { pointerId: 2n, query: QUERY, fieldCount: 3, dataHash: hash('v3') } }])
  const added = await ppr.view('pointer', [2n])
  t.same({ ...added, createdBlock: 0, updatedBlock: 0 }, { dataHash: hash('v3'), queryHash: keccak256(toHex(QUERY)).slice(0, 42), fieldCount: 3, version: 1, createdBlock: 0, updatedBlock: 0 }, 'the pointer keeps the first 20 bytes of its query\'s hash; the text is in the event')
  t.equal(added.updatedBlock, added.createdBlock, 'created and updated in the same block')

  m.vm.nextBlock({ timestamp: 6000n })
  assertRevert(t, pprAbi, await ppr.send(auth, 'updatePointer', [3n, hash('x'), BOUNTY]), 'UnknownPointer', [3n], 'unknown pointer')
  assertRevert(t, pprAbi, await ppr.send(auth, 'updatePointer', [2n, `0x${'00'.repeat(32)}`, BOUNTY]), 'ZeroDataHash', [], 'zero hash')
  assertRevert(t, pprAbi, await ppr.send(auth, 'updatePointer', [2n, hash('x'), '']), 'EmptyBounty', [], 'update without bounty')
  const up = await ppr.send(auth, 'updatePointer', [2n, hash('v3b'), BOUNTY])
  t.same(ppr.events(up), [{ eventName: 'PointerUpdated', args: { pointerId: 2n, dataHash: hash('v3b'), version: 2 } }])
  const updated = await ppr.view('pointer', [2n])
  t.same({ ...updated, updatedBlock: 0 }, { ...added, dataHash: hash('v3b'), version: 2, updatedBlock: 0 }, 'the query (hash) and the block that added it never change')
  t.equal(updated.updatedBlock, added.createdBlock + 1, 'the update\'s block is recorded')
  t.equal(await m.relationships.view('bountyCount', [ZERO_ADDRESS]), 4n, 'one bounty per add and per update (the VM block author is zero here)')

  const pages = await ppr.view('pointers', [1n, 10n])
  t.same(pages.map((p) => p.dataHash), [hash('c1'), hash('v3b')], 'paged')
  t.same(await ppr.view('pointers', [3n, 2n ** 256n - 1n]), [])
  t.equal((await m.vm.call(stranger.address, ppr.address, encodeCall(pprAbi, 'pointer', [9n]))).ok, false, 'pointer(unknown) reverts')
})

t.test('grants: only the patient grants, and only what exists', async (t) => {
  const { m, ppr } = await setup()
  for (const who of [auth, viewer, stranger]) {
    assertRevert(t, pprAbi, await ppr.send(who, 'grant', grantArgs(viewer, [[0, ALL]])), 'NotPatient', [who.hex], 'grant by a non-patient')
  }
  assertRevert(t, pprAbi, await ppr.send(alice, 'grant', grantArgs({ hex: ZERO_ADDRESS }, [[0, 1n]])), 'InvalidViewer', [ZERO_ADDRESS], 'zero viewer')
  assertRevert(t, pprAbi, await ppr.send(alice, 'grant', grantArgs(auth, [[0, 1n]])), 'InvalidViewer', [auth.hex], 'the provider as viewer')
  assertRevert(t, pprAbi, await ppr.send(alice, 'grant', grantArgs(alice, [[0, 1n]])), 'InvalidViewer', [alice.hex], 'the patient as viewer')
  assertRevert(t, pprAbi, await ppr.send(alice, 'grant', [viewer.hex, [0n, 1n], [1n], 0n]), 'LengthMismatch', [2n, 1n], 'lengths differ')
  assertRevert(t, pprAbi, await ppr.send(alice, 'grant', grantArgs(viewer, [])), 'EmptyGrant', [], 'nothing granted')
  assertRevert(t, pprAbi, await ppr.send(alice, 'grant', grantArgs(viewer, [[7, 1n]])), 'UnknownPointer', [7n], 'an unknown pointer')
  assertRevert(t, pprAbi, await ppr.send(alice, 'grant', grantArgs(viewer, [[0, 0n]])), 'BadFieldMask', [0n, 0n], 'no field')
  assertRevert(t, pprAbi, await ppr.send(alice, 'grant', grantArgs(viewer, [[1, 0b100n]])), 'BadFieldMask', [1n, 4n], 'a field the pointer does not have')
  assertRevert(t, pprAbi, await ppr.send(alice, 'grant', grantArgs(viewer, [[0, 1n], [0, 2n]])), 'DuplicatePointer', [0n], 'a pointer twice')
  const now = m.vm.timestamp
  assertRevert(t, pprAbi, await ppr.send(alice, 'grant', grantArgs(viewer, [[0, 1n]], now)), 'ExpiryInPast', [now], 'expiring now')
  t.equal(await ppr.view('viewerCount', []), 0n, 'refusals granted nothing')

  const out = await ppr.send(alice, 'grant', grantArgs(viewer, [[0, 0b011n], [1, 0b01n]], now + 100n))
  t.same(norm(ppr.events(out)), [{ eventName: 'Granted', args: { viewer: viewer.hex, grantId: 1n, expiresAt: now + 100n, pointerIds: [0n, 1n], fieldMasks: [3n, 1n] } }])
  const [g, ids, masks] = await ppr.view('grantOf', [viewer.hex])
  t.same([g, ids, masks], [{ id: 1n, grantedAt: now, expiresAt: now + 100n, active: true, providerApproved: false }, [0n, 1n], [3n, 1n]])
  t.same(norm(await ppr.view('viewers', [0n, 10n])), [viewer.hex])
})

t.test('canRead: patient and provider read all; a viewer exactly its grant, until it expires', async (t) => {
  const { m, ppr } = await setup()
  const can = (who: Actor, pointer: bigint, mask: bigint) => ppr.view('canRead', [who.hex, pointer, mask])
  const now = m.vm.timestamp
  for (const who of [alice, auth]) {
    t.equal(await can(who, 0n, ALL), true, 'a party reads every field')
    t.equal(await can(who, 0n, 0b1000n), false, 'but not a field the pointer lacks')
    t.equal(await can(who, 2n, 1n), false, 'nor an unknown pointer')
    t.equal(await can(who, 0n, 0n), false, 'an empty request is refused')
  }
  t.equal(await can(viewer, 0n, 1n), false, 'no grant, no read')
  assertOk(t, await ppr.send(alice, 'grant', grantArgs(viewer, [[0, 0b101n]], now + 100n)), 'grant fields 0 and 2 of pointer 0')
  t.equal(await can(viewer, 0n, 0b001n), true)
  t.equal(await can(viewer, 0n, 0b101n), true)
  t.equal(await can(viewer, 0n, 0b010n), false, 'a field outside the grant')
  t.equal(await can(viewer, 0n, 0b111n), false, 'a superset of the grant')
  t.equal(await can(viewer, 1n, 0b01n), false, 'a pointer outside the grant')
  t.equal(await can(viewer2, 0n, 0b001n), false, 'another address')

  m.vm.nextBlock({ timestamp: now + 99n })
  t.equal(await can(viewer, 0n, 1n), true, 'before expiry')
  m.vm.nextBlock({ timestamp: now + 100n })
  t.equal(await can(viewer, 0n, 1n), false, 'at expiry: refused')
  t.equal(await can(alice, 0n, 1n), true, 'the patient is unaffected')
})

t.test('a new grant replaces the old one; revoke ends it', async (t) => {
  const { ppr } = await setup()
  const can = (pointer: bigint, mask: bigint) => ppr.view('canRead', [viewer.hex, pointer, mask])
  assertOk(t, await ppr.send(alice, 'grant', grantArgs(viewer, [[0, ALL], [1, 0b11n]])), 'wide grant')
  assertOk(t, await ppr.send(alice, 'grant', grantArgs(viewer, [[1, 0b01n]])), 'narrow grant')
  t.equal(await can(0n, 1n), false, 'the earlier, wider grant no longer applies')
  t.equal(await can(1n, 0b10n), false)
  t.equal(await can(1n, 0b01n), true)
  t.equal((await ppr.view('grantOf', [viewer.hex]))[0].id, 2n)
  t.same(norm(await ppr.view('viewers', [0n, 10n])), [viewer.hex], 'listed once')

  for (const who of [auth, viewer, stranger]) assertRevert(t, pprAbi, await ppr.send(who, 'revoke', [viewer.hex]), 'NotPatient', [who.hex], 'revoke by a non-patient')
  assertRevert(t, pprAbi, await ppr.send(alice, 'revoke', [viewer2.hex]), 'NoActiveGrant', [viewer2.hex], 'revoke of a viewer without a grant')
  t.equal(await can(1n, 0b01n), true, 'a refused revoke touched nothing')
  const out = await ppr.send(alice, 'revoke', [viewer.hex])
  t.same(norm(ppr.events(out)), [{ eventName: 'GrantRevoked', args: { viewer: viewer.hex, grantId: 2n } }])
  t.equal(await can(1n, 0b01n), false, 'revoked')
  assertRevert(t, pprAbi, await ppr.send(alice, 'revoke', [viewer.hex]), 'NoActiveGrant', [viewer.hex], 'revoked twice')
})

t.test('two-party consent: the provider approves each grant when it requires consent', async (t) => {
  const { ppr } = await setup()
  const can = () => ppr.view('canRead', [viewer.hex, 0n, 1n])
  assertRevert(t, pprAbi, await ppr.send(alice, 'setConsentRequired', [true]), 'NotProvider', [alice.hex], 'the patient sets the consent rule')
  assertOk(t, await ppr.send(alice, 'grant', grantArgs(viewer, [[0, 1n]])), 'grant')
  assertRevert(t, pprAbi, await ppr.send(auth, 'approveGrant', [viewer.hex, 1n]), 'ConsentNotRequired', [], 'approving when consent is not required')
  const set = await ppr.send(auth, 'setConsentRequired', [true])
  t.same(ppr.events(set), [{ eventName: 'ConsentRequiredChanged', args: { required: true } }])
  t.equal(await can(), false, 'an existing grant waits for the provider')
  assertRevert(t, pprAbi, await ppr.send(alice, 'approveGrant', [viewer.hex, 1n]), 'NotProvider', [alice.hex], 'the patient approves')
  assertRevert(t, pprAbi, await ppr.send(viewer, 'approveGrant', [viewer.hex, 1n]), 'NotProvider', [viewer.hex], 'the viewer approves itself')
  assertRevert(t, pprAbi, await ppr.send(auth, 'approveGrant', [viewer2.hex, 1n]), 'NoActiveGrant', [viewer2.hex], 'no grant to approve')
  assertRevert(t, pprAbi, await ppr.send(auth, 'approveGrant', [viewer.hex, 7n]), 'StaleGrant', [viewer.hex, 7n], 'another grant id')
  const ok = await ppr.send(auth, 'approveGrant', [viewer.hex, 1n])
  t.same(norm(ppr.events(ok)), [{ eventName: 'GrantApproved', args: { viewer: viewer.hex, grantId: 1n } }])
  t.equal(await can(), true, 'both parties consented')

  assertOk(t, await ppr.send(alice, 'grant', grantArgs(viewer, [[0, ALL]])), 'a wider grant')
  t.equal(await ppr.view('canRead', [viewer.hex, 0n, ALL]), false, 'a new grant needs its own approval')
  t.equal(await can(), false, 'and the old approval does not carry over')
  assertRevert(t, pprAbi, await ppr.send(auth, 'approveGrant', [viewer.hex, 1n]), 'StaleGrant', [viewer.hex, 1n], 'approving the replaced grant')
  assertOk(t, await ppr.send(auth, 'setConsentRequired', [false]), 'consent no longer required')
  t.equal(await ppr.view('canRead', [viewer.hex, 0n, ALL]), true)
})

t.test('termination by either side ends access and keeps the history', async (t) => {
  for (const by of [alice, auth]) {
    const { ppr } = await setup()
    assertOk(t, await ppr.send(alice, 'grant', grantArgs(viewer, [[0, ALL]])), 'grant')
    for (const who of [viewer, stranger]) assertRevert(t, pprAbi, await ppr.send(who, 'terminate', []), 'NotParty', [who.hex], 'terminate by a non-party')
    const out = await ppr.send(by, 'terminate', [])
    t.same(norm(ppr.events(out)), [{ eventName: 'Terminated', args: { by: by.hex } }], `terminated by the ${by === alice ? 'patient' : 'provider'}`)
    t.same([await ppr.view('terminated', []), lower(await ppr.view('terminatedBy', []))], [true, by.hex])
    for (const who of [alice, auth, viewer]) t.equal(await ppr.view('canRead', [who.hex, 0n, 1n]), false, 'nobody reads any more')
    const refused = [
      await ppr.send(auth, 'addPointer', [QUERY, 3, hash('y'), BOUNTY]),
      await ppr.send(auth, 'updatePointer', [0n, hash('y'), BOUNTY]),
      await ppr.send(auth, 'setEndpoint', ['x']),
      await ppr.send(auth, 'linkPatient', []),
      await ppr.send(auth, 'setConsentRequired', [true]),
      await ppr.send(alice, 'grant', grantArgs(viewer2, [[0, 1n]])),
      await ppr.send(by, 'terminate', []),
    ]
    for (const r of refused) assertRevert(t, pprAbi, r, 'RelationshipTerminated', [], 'a change after termination')
    assertOk(t, await ppr.send(alice, 'revoke', [viewer.hex]), 'revoking stays possible (tidying the record)')
    t.equal(await ppr.view('pointerCount', []), 2n, 'pointers remain as history')
    t.equal((await ppr.view('pointer', [0n])).dataHash, hash('v1'))
  }
})

t.test('the patient side follows a rebound identity', async (t) => {
  const { m, ppr } = await setup()
  const newKey = actor('alice-new-device')
  assertOk(t, await m.registrar.send(auth, 'rebind', ['alice', newKey.hex]), 'rebind')
  t.equal(lower(await ppr.view('patient', [])), newKey.hex)
  assertRevert(t, pprAbi, await ppr.send(alice, 'grant', grantArgs(viewer, [[0, 1n]])), 'NotPatient', [alice.hex], 'the old key')
  t.equal(await ppr.view('canRead', [alice.hex, 0n, 1n]), false, 'the old key reads nothing')
  t.equal(await ppr.view('canRead', [newKey.hex, 0n, 1n]), true, 'the new key reads')
})
