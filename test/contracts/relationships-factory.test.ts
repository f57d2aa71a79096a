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
  t.equal(await f.view('relationshipCount', []), 0n)

  const out = await f.send(auth, 'create', [alice.hex, 'https://gk.example', SALT])
  const [ev] = f.events(out)
  t.equal(ev?.eventName, 'RelationshipCreated')
  if (ev?.eventName !== 'RelationshipCreated') return
  t.same(norm([ev.args.patient, ev.args.provider]), [alice.hex, auth.hex])
  const r = lower(ev.args.relationship) as Hex
  t.equal(lower(await f.view('predictAddress', [auth.hex, alice.hex, 'https://gk.example', SALT])), r, 'the address was predictable (CREATE2 over provider, patient, endpoint, salt)')
  t.not(lower(await f.view('predictAddress', [auth.hex, bob.hex, 'https://gk.example', SALT])), r, 'and differs for another patient')
  t.equal((await f.send(auth, 'create', [alice.hex, 'https://gk.example', SALT])).ok, false, 'the same salt again reverts')
  t.equal(await f.view('isRelationship', [r]), true)
  t.equal(await f.view('isRelationship', [stranger.hex]), false)

  assertOk(t, await m.registrar.send(auth2, 'verifyDelegate', [delegate.hex]), 'another authority verifies the delegate')
  const byDelegate = await m.createRelationship(delegate, alice)
  t.equal(lower(await byDelegate.view('provider', [])), delegate.hex, 'the delegate is the provider of record')

  await m.vm.writeStorage(AUTHORITY_SET_ADDRESS, authoritySetStorageUpdate([auth.address, auth2.address], [auth2.address]))
  assertRevert(t, relationshipsAbi, await f.send(auth, 'create', [alice.hex, 'x', SALT]), 'NotProviderAccount', [auth.hex], 'a removed authority')

  t.equal(await f.view('relationshipCount', []), 2n)
  t.same(norm(await f.view('relationships', [0n, 10n])), [r, byDelegate.address])
  t.same(norm(await f.view('relationshipsOf', [auth.hex, 0n, 10n])), [r])
  t.equal(await f.view('relationshipCountOf', [delegate.hex]), 1n)
  t.same(await f.view('relationshipsOf', [stranger.hex, 0n, 10n]), [])
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
  assertOk(t, await ppr.send(auth, 'updatePointer', [0n, hash('b'), 'bounty-1']), 'update in a block by sealer 2')
  m.vm.nextBlock({ coinbase: sealer1.hex, timestamp: 1020n })
  assertOk(t, await ppr.send(auth, 'updatePointer', [0n, hash('c'), 'bounty-2']), 'update in a block by sealer 1')

  t.equal(await f.view('bountyCount', [sealer1.hex]), 2n)
  t.equal(await f.view('bountyCount', [sealer2.hex]), 1n)
  t.equal(await f.view('bountyCount', [auth.hex]), 0n, 'the provider does not own what it attached')
  const mine = await f.view('bounties', [sealer1.hex, 0n, 10n])
  t.same(norm(mine.map((b) => [b.relationship, b.pointerId, b.timestamp, b.query])), [
    [ppr.address, 0n, 1000n, 'bounty-0'],
    [ppr.address, 0n, 1020n, 'bounty-2'],
  ])
  t.ok(mine[1]!.blockNumber > mine[0]!.blockNumber, 'block numbers recorded')
  t.same(norm((await f.view('bounties', [sealer1.hex, 1n, 1n])).map((b) => b.query)), ['bounty-2'], 'paged')
  t.same(await f.view('bounties', [sealer2.hex, 1n, 2n ** 256n - 1n]), [])
})
