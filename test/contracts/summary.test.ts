import t from 'tap'
import { keccak256, toHex, type Hex } from 'viem'
import { patientProviderRelationshipAbi as pprAbi, summaryAbi } from '../../contracts/index.ts'
import { actor, type Actor } from '../helpers/contract-vm.ts'
import { assertOk, assertRevert, createMedRecVM, norm } from '../helpers/medrec-vm.ts'

const [auth, alice, viewer, stranger] = ['auth', 'alice', 'viewer', 'stranger'].map(actor) as [Actor, Actor, Actor, Actor]
const hash = (s: string): Hex => keccak256(toHex(s))
const BOUNTY = '{"aggregate":"count","resourceType":"Observation"}'

/** Summary.Status and Summary.Role as the ABI encodes them (uint8). */
const S = { None: 0, AwaitingApproval: 1, UpdatePending: 2, Accepted: 3, Rejected: 4, Deleted: 5 } as const
const R = { Patient: 0, Viewer: 1 } as const

async function setup() {
  const m = await createMedRecVM([auth], [alice, viewer, stranger])
  const summary = await m.register(auth, 'alice', alice)
  const viewerSummary = await m.register(auth, 'viewer', viewer)
  const ppr = await m.createRelationship(auth, alice)
  const added = await ppr.send(auth, 'addPointer', ['{"resourceType":"Observation","fields":["code","value"]}', 2, hash('v1'), BOUNTY])
  if (!added.ok) throw new Error('setup: addPointer reverted')
  const status = async (s = summary, r = ppr) => (await s.view('entryOf', [r.address])).status
  return { m, summary, viewerSummary, ppr, status }
}

t.test('only a factory-made relationship writes entries; only its provider links it', async (t) => {
  const { summary, ppr, status } = await setup()
  for (const who of [stranger, alice, auth]) {
    assertRevert(t, summaryAbi, await summary.send(who, 'addRelationship', [R.Patient, who.hex]), 'NotRelationship', [who.hex], 'a direct addRelationship')
    assertRevert(t, summaryAbi, await summary.send(who, 'relationshipUpdated', [who.hex]), 'NotRelationship', [who.hex], 'a direct relationshipUpdated')
  }
  for (const who of [stranger, alice]) assertRevert(t, pprAbi, await ppr.send(who, 'linkPatient', []), 'NotProvider', [who.hex], 'linkPatient by a non-provider')
  t.equal(await summary.view('count', []), 0n, 'nothing was added')

  const out = await ppr.send(auth, 'linkPatient', [])
  t.same(norm(summary.events(out)), [
    { eventName: 'RelationshipAdded', args: { owner: alice.hex, relationship: ppr.address, role: R.Patient } },
    { eventName: 'StatusChanged', args: { owner: alice.hex, relationship: ppr.address, status: S.AwaitingApproval, by: auth.hex } },
  ])
  t.same(norm(ppr.events(out)), [{ eventName: 'PatientLinked', args: { patient: alice.hex } }])
  t.equal(await status(), S.AwaitingApproval)
  assertRevert(t, pprAbi, await ppr.send(auth, 'linkPatient', []), 'AlreadyLinked', [], 'linked twice')
  t.equal(await summary.view('count', []), 1n)
})

t.test('the owner accepts, rejects or deletes; provider updates mark "update pending"', async (t) => {
  const { summary, ppr, status } = await setup()
  assertOk(t, await ppr.send(auth, 'linkPatient', []), 'link')
  for (const fn of ['accept', 'reject', 'remove'] as const) {
    for (const who of [auth, stranger, viewer]) assertRevert(t, summaryAbi, await summary.send(who, fn, [ppr.address]), 'NotOwner', [who.hex], `${fn} by a non-owner`)
  }
  t.equal(await status(), S.AwaitingApproval, 'refusals changed nothing')

  const upd = await ppr.send(auth, 'updatePointer', [0n, hash('v2'), BOUNTY])
  t.same(summary.events(upd), [], 'an update before approval leaves it awaiting approval')
  const acc = await summary.send(alice, 'accept', [ppr.address])
  t.same(norm(summary.events(acc)), [{ eventName: 'StatusChanged', args: { owner: alice.hex, relationship: ppr.address, status: S.Accepted, by: alice.hex } }])
  assertRevert(t, summaryAbi, await summary.send(alice, 'accept', [ppr.address]), 'InvalidTransition', [ppr.address, S.Accepted, S.Accepted], 'accepted twice')
  assertRevert(t, summaryAbi, await summary.send(alice, 'reject', [ppr.address]), 'InvalidTransition', [ppr.address, S.Accepted, S.Rejected], 'rejecting after accepting')

  const upd2 = await ppr.send(auth, 'updatePointer', [0n, hash('v3'), BOUNTY])
  t.same(norm(summary.events(upd2)), [{ eventName: 'StatusChanged', args: { owner: alice.hex, relationship: ppr.address, status: S.UpdatePending, by: auth.hex } }])
  const added = await ppr.send(auth, 'addPointer', ['{"resourceType":"Condition","fields":["code"]}', 1, hash('c'), BOUNTY])
  t.same(summary.events(added), [], 'a second update while pending raises no second notification')
  t.equal(await status(), S.UpdatePending)
  assertOk(t, await summary.send(alice, 'accept', [ppr.address]), 'acknowledge the update')
  t.equal(await status(), S.Accepted)

  const del = await summary.send(alice, 'remove', [ppr.address])
  t.same(norm(summary.events(del)), [{ eventName: 'StatusChanged', args: { owner: alice.hex, relationship: ppr.address, status: S.Deleted, by: alice.hex } }])
  const after = await ppr.send(auth, 'updatePointer', [0n, hash('v4'), BOUNTY])
  assertOk(t, after, 'the provider may still update its records')
  t.same(summary.events(after), [], 'but a deleted entry stays deleted')
  for (const fn of ['accept', 'reject', 'remove'] as const) {
    const to = fn === 'accept' ? S.Accepted : fn === 'reject' ? S.Rejected : S.Deleted
    assertRevert(t, summaryAbi, await summary.send(alice, fn, [ppr.address]), 'InvalidTransition', [ppr.address, S.Deleted, to], `${fn} after delete`)
  }
  const e = await summary.view('entryOf', [ppr.address])
  t.same(norm([e.relationship, e.status, e.role]), [ppr.address, S.Deleted, R.Patient], 'the entry remains as history')
})

t.test('a rejection sticks: the provider cannot bring the relationship back', async (t) => {
  const { summary, ppr, status } = await setup()
  assertOk(t, await ppr.send(auth, 'linkPatient', []), 'link')
  assertOk(t, await summary.send(alice, 'reject', [ppr.address]), 'reject')
  t.same(summary.events(await ppr.send(auth, 'updatePointer', [0n, hash('v2'), BOUNTY])), [], 'no notification after rejection')
  assertRevert(t, pprAbi, await ppr.send(auth, 'linkPatient', []), 'AlreadyLinked', [], 're-linking')
  t.equal(await status(), S.Rejected)
  assertRevert(t, summaryAbi, await summary.send(alice, 'accept', [ppr.address]), 'InvalidTransition', [ppr.address, S.Rejected, S.Accepted], 'closed states are final')
})

t.test('termination reaches the patient\'s Summary whatever the entry\'s status', async (t) => {
  const { summary, ppr, status } = await setup()
  assertOk(t, await ppr.send(auth, 'linkPatient', []), 'link, never accepted')
  const out = await ppr.send(auth, 'terminate', [])
  t.same(norm(summary.events(out)), [{ eventName: 'RelationshipTerminated', args: { owner: alice.hex, relationship: ppr.address, by: auth.hex } }])
  t.equal(await status(), S.AwaitingApproval, 'the status itself is the owner\'s to change')
  assertRevert(t, summaryAbi, await summary.send(stranger, 'relationshipTerminated', [stranger.hex]), 'NotRelationship', [stranger.hex], 'a direct call')
})

t.test('removing or accepting an unknown relationship reverts and touches nothing', async (t) => {
  const { m, summary, ppr } = await setup()
  const other = await m.createRelationship(auth, alice, 'https://other.example')
  assertOk(t, await ppr.send(auth, 'linkPatient', []), 'link first')
  assertOk(t, await other.send(auth, 'linkPatient', []), 'link second')
  const before = await summary.view('entries', [0n, 10n])
  for (const fn of ['accept', 'reject', 'remove'] as const) {
    assertRevert(t, summaryAbi, await summary.send(alice, fn, [stranger.hex]), 'UnknownRelationship', [stranger.hex], `${fn} of an unknown entry`)
  }
  t.same(await summary.view('entries', [0n, 10n]), before, 'every entry unchanged, the last one included')
  t.equal((await summary.view('entryOf', [stranger.hex])).status, S.None)
})

t.test('viewer entries: the patient links a relationship into the viewer\'s Summary by granting', async (t) => {
  const { summary, viewerSummary, ppr, status } = await setup()
  const grant = (mask: bigint) => ppr.send(alice, 'grant', [viewer.hex, [0n], [mask], 0n])
  const out = await grant(1n)
  t.same(norm(viewerSummary.events(out)), [
    { eventName: 'RelationshipAdded', args: { owner: viewer.hex, relationship: ppr.address, role: R.Viewer } },
    { eventName: 'StatusChanged', args: { owner: viewer.hex, relationship: ppr.address, status: S.AwaitingApproval, by: alice.hex } },
  ])
  t.same(summary.events(out), [], 'the patient\'s own Summary is not touched')
  for (const who of [alice, auth]) assertRevert(t, summaryAbi, await viewerSummary.send(who, 'accept', [ppr.address]), 'NotOwner', [who.hex], 'accepting for the viewer')
  assertOk(t, await viewerSummary.send(viewer, 'accept', [ppr.address]), 'the viewer accepts')
  const again = await grant(3n)
  t.same(norm(viewerSummary.events(again)), [{ eventName: 'StatusChanged', args: { owner: viewer.hex, relationship: ppr.address, status: S.UpdatePending, by: alice.hex } }], 'a new grant is an update')
  t.equal(await status(viewerSummary), S.UpdatePending)
  const unregistered = actor('not-registered')
  assertOk(t, await ppr.send(alice, 'grant', [unregistered.hex, [0n], [1n], 0n]), 'a viewer without a Summary can still be granted')
})

t.test('paged entries', async (t) => {
  const { m, summary } = await setup()
  const pprs = []
  for (let i = 0; i < 4; i++) {
    const r = await m.createRelationship(auth, alice, `https://gk${i}.example`)
    assertOk(t, await r.send(auth, 'linkPatient', []), `link ${i}`)
    pprs.unshift(r.address)
  }
  // newest first: the entries are a list linked from the last one added
  const page = async (o: bigint, l: bigint) => norm((await summary.view('entries', [o, l])).map((e) => e.relationship))
  t.same(await page(0n, 3n), pprs.slice(0, 3))
  t.same(await page(3n, 3n), pprs.slice(3))
  t.same(await page(4n, 1n), [])
  t.same(await page(1n, 2n ** 256n - 1n), pprs.slice(1))
  t.equal(await summary.view('count', []), 4n)
  const first = await summary.view('entries', [0n, 1n])
  t.same([first[0]!.status, first[0]!.role, first[0]!.addedAt === m.vm.timestamp], [S.AwaitingApproval, R.Patient, true])
})
