import t from 'tap'
import { keccak256, toHex, type Hex } from 'viem'
import { AUTHORITY_SET_ADDRESS, authoritySetStorageUpdate, relationshipsAbi } from '../../contracts/index.ts'
import { actor, type Actor } from '../helpers/contract-vm.ts'
import { assertOk, assertRevert, createMedRecVM, lower, norm } from '../helpers/medrec-vm.ts'

const [auth, auth2, alice, bob, delegate, stranger] = ['auth', 'auth2', 'alice', 'bob', 'delegate', 'stranger'].map(actor) as [Actor, Actor, Actor, Actor, Actor, Actor]
const hash = (s: string): Hex => keccak256(toHex(s))
const SALT = `0x${'01'.repeat(32)}` as Hex
const QUERY = '{"resourceType":"Immunization","fields":["vaccineCode","occurrence"]}'

async function setup() {
  const m = await createMedRecVM([auth, auth2], [alice, bob, delegate, stranger])
  await m.register(auth, 'alice', alice)
  return m
}

t.test('who may create a relationship: provider accounts, with registered patients', async (t) => {
  const m = await setup()
  const { relationships: f } = m
  assertRevert(t, relationshipsAbi, await f.send(stranger, 'create', [alice.hex, 'x', SALT]), 'NotProviderAccount', [stranger.hex], 'a stranger')
  assertRevert(t, relationshipsAbi, await f.send(alice, 'create', [bob.hex, 'x', SALT]), 'NotProviderAccount', [alice.hex], 'a patient')
  assertRevert(t, relationshipsAbi, await f.send(delegate, 'create', [alice.hex, 'x', SALT]), 'NotProviderAccount', [delegate.hex], 'an unverified delegate')
  assertRevert(t, relationshipsAbi, await f.send(auth, 'create', [bob.hex, 'x', SALT]), 'PatientNotRegistered', [bob.hex], 'an unregistered patient')
  assertRevert(t, relationshipsAbi, await f.send(auth, 'create', [auth.hex, 'x', SALT]), 'SelfRelationship', [auth.hex], 'with itself')

  const out = await f.send(auth, 'create', [alice.hex, 'https://gk.example', SALT])
  const [ev] = f.events(out)
  t.equal(ev?.eventName, 'RelationshipCreated')
  if (ev?.eventName !== 'RelationshipCreated') return
  t.same(norm([ev.args.patient, ev.args.provider]), [alice.hex, auth.hex])
  const r = lower(ev.args.relationship) as Hex
  t.equal(lower(await f.view('predictAddress', [auth.hex, alice.hex, 'https://gk.example', SALT])), r, 'the address was predictable (CREATE2 over provider, patient, endpoint, salt)')
  t.not(lower(await f.view('predictAddress', [auth.hex, alice.hex, 'https://gk.example', hash('other')])), r, 'and differs for another salt')
  t.not(lower(await f.view('predictAddress', [auth2.hex, alice.hex, 'https://gk.example', SALT])), r, 'and for another provider')
  t.equal((await f.send(auth, 'create', [alice.hex, 'https://gk.example', SALT])).ok, false, 'the same salt again reverts')
  t.equal(await f.view('isRelationship', [r]), true)
  t.equal(await f.view('isRelationship', [stranger.hex]), false)

  assertOk(t, await m.registrar.send(auth2, 'verifyDelegate', [delegate.hex]), 'another authority verifies the delegate')
  const byDelegate = await m.createRelationship(delegate, alice)
  t.equal(lower(await byDelegate.view('provider', [])), delegate.hex, 'the delegate is the provider of record')

  await m.vm.writeStorage(AUTHORITY_SET_ADDRESS, authoritySetStorageUpdate([auth.address, auth2.address], [auth2.address]))
  assertRevert(t, relationshipsAbi, await f.send(auth, 'create', [alice.hex, 'x', SALT]), 'NotProviderAccount', [auth.hex], 'a removed authority')

  t.equal(await f.view('isRelationship', [byDelegate.address]), true, 'a relationship made by a delegate is one too')
  t.equal(await f.view('isRelationship', [m.registrar.address]), false, 'a system contract is not')
  t.equal(await f.view('isRelationship', [lower(await m.registrar.view('summaryOf', [alice.hex])) as Hex]), false, 'nor a Summary (a clone, but the Registrar made it)')
})

t.test('bounties: owned by the author of the including block, recorded only by relationships', async (t) => {
  const m = await setup()
  const { relationships: f } = m
  for (const who of [stranger, auth, alice]) {
    assertRevert(t, relationshipsAbi, await f.send(who, 'recordBounty', [0n, 'steal']), 'NotRelationship', [who.hex], 'a direct recordBounty')
  }
  const ppr = await m.createRelationship(auth, alice)
  const sealer1 = actor('sealer-1')
  const sealer2 = actor('sealer-2')
  m.vm.nextBlock({ coinbase: sealer1.hex, timestamp: 1000n })
  const add = await ppr.send(auth, 'addPointer', [QUERY, 2, hash('a'), 'bounty-0'])
  t.same(norm(f.events(add)), [{ eventName: 'BountyCreated', args: { owner: sealer1.hex, relationship: ppr.address, pointerId: 0n, index: 0n, query: 'bounty-0' } }])
  m.vm.nextBlock({ coinbase: sealer2.hex, timestamp: 1010n })
  const second = await ppr.send(auth, 'updatePointer', [0n, hash('b'), 'bounty-1'])
  t.same(norm(f.events(second)), [{ eventName: 'BountyCreated', args: { owner: sealer2.hex, relationship: ppr.address, pointerId: 0n, index: 0n, query: 'bounty-1' } }], 'sealer 2\'s first bounty')
  m.vm.nextBlock({ coinbase: sealer1.hex, timestamp: 1020n })
  const third = await ppr.send(auth, 'updatePointer', [0n, hash('c'), 'bounty-2'])
  t.same(norm(f.events(third)), [{ eventName: 'BountyCreated', args: { owner: sealer1.hex, relationship: ppr.address, pointerId: 0n, index: 1n, query: 'bounty-2' } }], 'sealer 1\'s second bounty: the index counts per owner')

  t.equal(await f.view('bountyCount', [sealer1.hex]), 2n)
  t.equal(await f.view('bountyCount', [sealer2.hex]), 1n)
  t.equal(await f.view('bountyCount', [auth.hex]), 0n, 'the provider does not own what it attached')
})
