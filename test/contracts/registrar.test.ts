import t from 'tap'
import { keccak256, toBytes, type Hex } from 'viem'
import { AUTHORITY_SET_ADDRESS, authoritySetStorageUpdate, registrarAbi, registrarDeployedBytecode, summaryAbi } from '../../contracts/index.ts'
import { actor, runtimeOpcodes, type Actor } from '../helpers/contract-vm.ts'
import { ZERO_ADDRESS, assertOk, assertRevert, createMedRecVM, lower, norm, type MedRecVM } from '../helpers/medrec-vm.ts'

const names = ['auth1', 'auth2', 'alice', 'bob', 'carol', 'stranger', 'delegate'] as const
const [auth1, auth2, alice, bob, carol, stranger, delegate] = names.map(actor) as [Actor, Actor, Actor, Actor, Actor, Actor, Actor]

const setup = (): Promise<MedRecVM> => createMedRecVM([auth1, auth2], [alice, bob, carol, stranger, delegate])

t.test('the runtime code is a plain predeploy: no selfdestruct, delegatecall or callcode', async (t) => {
  const ops = runtimeOpcodes(registrarDeployedBytecode)
  t.ok(ops.includes(0x55), 'it does write storage (sanity check of the disassembly)')
  for (const [op, name] of [[0xff, 'SELFDESTRUCT'], [0xf4, 'DELEGATECALL'], [0xf2, 'CALLCODE']] as const) t.notOk(ops.includes(op), `no ${name}`)
  const { registrar } = await setup()
  t.equal(lower(await registrar.view('authorities', [])), AUTHORITY_SET_ADDRESS, 'asks AuthoritySet at its fixed address')
  t.equal(await registrar.view('providerCount', []), 0n)
})

t.test('an authority registers an identity: a Summary is created for the participant', async (t) => {
  const { registrar, summary } = await setup()
  const identity = 'sha256:national-id-hash-0001'
  const out = await registrar.send(auth1, 'register', [identity, alice.hex])
  assertOk(t, out, 'register')
  const [ev] = registrar.events(out)
  t.equal(ev?.eventName, 'IdentityRegistered')
  if (ev?.eventName !== 'IdentityRegistered') return
  t.equal(ev.args.identityHash, keccak256(toBytes(identity)), 'indexed identity hash')
  t.same(norm([ev.args.participant, ev.args.identity, ev.args.registeredBy]), [alice.hex, identity, auth1.hex])
  const sum = summary(lower(ev.args.summary) as Hex)
  t.equal(lower(await sum.view('owner', [])), alice.hex, 'the Summary belongs to the participant')
  t.equal(lower(await sum.view('registrar', [])), lower(registrar.address), 'and was made by the Registrar')
  t.equal(await sum.view('count', []), 0n)

  t.same(norm(await registrar.view('resolve', [identity])), [alice.hex, sum.address])
  t.equal(await registrar.view('identityOf', [alice.hex]), identity)
  t.equal(lower(await registrar.view('summaryOf', [alice.hex])), sum.address)
  t.equal(await sum.view('identity', []), identity, 'the Summary\'s code carries the identity')

  t.same(norm(await registrar.view('resolve', ['unknown'])), [ZERO_ADDRESS, ZERO_ADDRESS], 'an unknown identity resolves to zero addresses')
  t.equal(await registrar.view('identityOf', [bob.hex]), '', 'an unregistered address has no identity')
  t.equal(await registrar.view('summaryOf', [bob.hex]), ZERO_ADDRESS)

  const second = await registrar.send(auth2, 'register', ['bob', bob.hex])
  const [ev2] = registrar.events(second)
  t.ok(ev2?.eventName === 'IdentityRegistered' && lower(ev2.args.summary) !== sum.address, 'each participant gets its own Summary')
})

t.test('registration refusals', async (t) => {
  const { registrar } = await setup()
  assertRevert(t, registrarAbi, await registrar.send(stranger, 'register', ['x', alice.hex]), 'NotAuthority', [stranger.hex], 'a non-authority registers')
  assertRevert(t, registrarAbi, await registrar.send(alice, 'register', ['alice', alice.hex]), 'NotAuthority', [alice.hex], 'a participant registers itself')
  assertRevert(t, registrarAbi, await registrar.send(auth1, 'register', ['', alice.hex]), 'EmptyIdentity', [], 'empty identity')
  assertRevert(t, registrarAbi, await registrar.send(auth1, 'register', ['alice', ZERO_ADDRESS]), 'ZeroAddress', [], 'zero participant')

  assertOk(t, await registrar.send(auth1, 'register', ['alice', alice.hex]), 'first registration')
  const first = await registrar.view('resolve', ['alice'])
  assertRevert(t, registrarAbi, await registrar.send(auth2, 'register', ['alice', bob.hex]), 'IdentityTaken', ['alice'], 'second registration of the same identity')
  assertRevert(t, registrarAbi, await registrar.send(auth1, 'register', ['alice-2', alice.hex]), 'AlreadyRegistered', [alice.hex], 'a second identity for the same address')
  t.same(await registrar.view('resolve', ['alice']), first, 'the first binding stands')
})

t.test('only current authorities register: removal from AuthoritySet revokes the right', async (t) => {
  const { vm, registrar } = await setup()
  assertOk(t, await registrar.send(auth2, 'register', ['one', alice.hex]), 'while an authority')
  await vm.writeStorage(AUTHORITY_SET_ADDRESS, authoritySetStorageUpdate([auth1.address, auth2.address], [auth1.address]))
  assertRevert(t, registrarAbi, await registrar.send(auth2, 'register', ['two', bob.hex]), 'NotAuthority', [auth2.hex], 'a removed authority registers')
  assertOk(t, await registrar.send(auth1, 'register', ['two', bob.hex]), 'the remaining authority still can')
})

t.test('rebind: by the participant or an authority, never by anyone else; the Summary follows', async (t) => {
  const m = await setup()
  const { registrar } = m
  const sumA = await m.register(auth1, 'alice', alice)
  await m.register(auth1, 'carol', carol)

  assertRevert(t, registrarAbi, await registrar.send(stranger, 'rebind', ['alice', stranger.hex]), 'NotParticipantOrAuthority', [stranger.hex], 'rebind by a stranger')
  assertRevert(t, registrarAbi, await registrar.send(carol, 'rebind', ['alice', carol.hex]), 'NotParticipantOrAuthority', [carol.hex], 'rebind by another participant')
  assertRevert(t, registrarAbi, await registrar.send(alice, 'rebind', ['nobody', bob.hex]), 'UnknownIdentity', ['nobody'], 'rebind of an unknown identity')
  assertRevert(t, registrarAbi, await registrar.send(alice, 'rebind', ['alice', ZERO_ADDRESS]), 'ZeroAddress', [], 'rebind to the zero address')
  assertRevert(t, registrarAbi, await registrar.send(alice, 'rebind', ['alice', carol.hex]), 'AlreadyRegistered', [carol.hex], 'rebind onto a registered address')
  assertRevert(t, summaryAbi, await sumA.send(alice, 'transferOwner', [stranger.hex]), 'NotRegistrar', [alice.hex], 'the Summary owner cannot move it behind the Registrar')

  // the participant moves to a new key: Summary carried over and handed to the new key
  const out = await registrar.send(alice, 'rebind', ['alice', bob.hex])
  const [ev] = registrar.events(out)
  t.equal(ev?.eventName, 'ParticipantRebound')
  if (ev?.eventName === 'ParticipantRebound') {
    t.equal(ev.args.identityHash, keccak256(toBytes('alice')))
    t.same(norm([ev.args.oldParticipant, ev.args.newParticipant, ev.args.by]), [alice.hex, bob.hex, alice.hex])
  }
  const [moved] = sumA.events(out)
  t.same(norm(moved), { eventName: 'OwnerChanged', args: { previousOwner: alice.hex, newOwner: bob.hex } }, 'the Summary announces its new owner')
  t.same(norm(await registrar.view('resolve', ['alice'])), [bob.hex, sumA.address])
  t.equal(lower(await sumA.view('owner', [])), bob.hex)
  t.equal(await registrar.view('identityOf', [bob.hex]), 'alice')
  t.equal(await registrar.view('identityOf', [alice.hex]), '', 'the old address is unbound')
  t.equal(await registrar.view('summaryOf', [alice.hex]), ZERO_ADDRESS)
  t.equal(await sumA.view('identity', []), 'alice', 'the Summary keeps its identity')
  assertRevert(t, registrarAbi, await registrar.send(alice, 'rebind', ['alice', alice.hex]), 'NotParticipantOrAuthority', [alice.hex], 'the old key lost control')

  // an authority may rebind (lost key recovery); the old address can then be registered anew
  const byAuth = await registrar.send(auth2, 'rebind', ['alice', alice.hex])
  const [ev2] = registrar.events(byAuth)
  t.ok(ev2?.eventName === 'ParticipantRebound' && lower(ev2.args.by) === auth2.hex, 'an authority rebinds')
  t.equal(lower(await sumA.view('owner', [])), alice.hex)
  assertOk(t, await registrar.send(auth1, 'register', ['bob', bob.hex]), 'the freed address can be registered')
})

t.test('provider directory: authorities set their own entry', async (t) => {
  const m = await setup()
  const { vm, registrar } = m
  const key1 = '0x02a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90' as Hex
  const url = 'https://gk.general.example'
  const multiaddr = '/dns4/gk.general.example/tcp/30303/p2p/12D3KooWExample'
  const fp = `0x${'ab'.repeat(32)}` as Hex
  const none = `0x${'00'.repeat(32)}` as Hex
  assertRevert(t, registrarAbi, await registrar.send(stranger, 'setProvider', ['Mallory Clinic', 'https://evil.example', '', key1, fp]), 'NotAuthority', [stranger.hex], 'an entry by a non-authority')
  assertRevert(t, registrarAbi, await registrar.send(auth1, 'setProvider', ['General', '', '', key1, fp]), 'NoEndpoint', [], 'an entry without any endpoint')
  t.equal(await registrar.view('providerCount', []), 0n)

  const out = await registrar.send(auth1, 'setProvider', ['General Hospital', url, multiaddr, key1, fp])
  t.same(norm(registrar.events(out)), [{ eventName: 'ProviderUpdated', args: { provider: auth1.hex, name: 'General Hospital', url, multiaddr, encryptionKey: key1, tlsFingerprint: fp } }])
  t.same(norm(await registrar.view('provider', [auth1.hex])), [{ name: 'General Hospital', url, multiaddr, encryptionKey: key1, tlsFingerprint: fp, listed: true }, true], 'the TLS fingerprint is published with the entry')

  // an update keeps one directory entry; libp2p only is fine
  assertOk(t, await registrar.send(auth1, 'setProvider', ['General Hospital', '', multiaddr, '0x04', none]), 'update')
  t.same(norm(await registrar.view('provider', [auth1.hex])), [{ name: 'General Hospital', url: '', multiaddr, encryptionKey: '0x04', tlsFingerprint: none, listed: true }, true], 'an update replaces the fingerprint too')
  assertOk(t, await registrar.send(auth2, 'setProvider', ['Clinic', 'https://clinic.example', '', '0x', fp]), 'second provider')
  t.equal(await registrar.view('providerCount', []), 2n)
  t.same(norm(await registrar.view('providers', [0n, 10n])), [auth1.hex, auth2.hex])
  t.same(norm(await registrar.view('provider', [stranger.hex])), [{ name: '', url: '', multiaddr: '', encryptionKey: '0x', tlsFingerprint: none, listed: false }, false], 'an unknown address is not listed')

  // a provider voted out stays listed, flagged as no longer an authority
  await vm.writeStorage(AUTHORITY_SET_ADDRESS, authoritySetStorageUpdate([auth1.address, auth2.address], [auth1.address]))
  t.equal((await registrar.view('provider', [auth2.hex]))[1], false)
  assertRevert(t, registrarAbi, await registrar.send(auth2, 'setProvider', ['Clinic', 'https://x.example', '', '0x', fp]), 'NotAuthority', [auth2.hex], 'and can no longer edit it')
})

t.test('delegates: authorities verify per-relationship provider accounts', async (t) => {
  const { vm, registrar } = await setup()
  t.equal(await registrar.view('isProviderAccount', [auth1.hex]), true, 'an authority is a provider account')
  t.equal(await registrar.view('isProviderAccount', [delegate.hex]), false, 'an unverified address is not')
  assertRevert(t, registrarAbi, await registrar.send(stranger, 'verifyDelegate', [stranger.hex]), 'NotAuthority', [stranger.hex], 'self-verification')
  assertRevert(t, registrarAbi, await registrar.send(delegate, 'verifyDelegate', [bob.hex]), 'NotAuthority', [delegate.hex], 'a delegate verifies another')
  assertRevert(t, registrarAbi, await registrar.send(auth1, 'verifyDelegate', [ZERO_ADDRESS]), 'ZeroAddress', [], 'the zero address')

  const out = await registrar.send(auth2, 'verifyDelegate', [delegate.hex])
  t.same(norm(registrar.events(out)), [{ eventName: 'DelegateVerified', args: { delegate: delegate.hex, by: auth2.hex } }])
  t.equal(await registrar.view('isProviderAccount', [delegate.hex]), true)
  t.equal(await registrar.view('isDelegate', [delegate.hex]), true)
  assertRevert(t, registrarAbi, await registrar.send(auth1, 'verifyDelegate', [delegate.hex]), 'AlreadyDelegate', [delegate.hex], 'twice')
  assertRevert(t, registrarAbi, await registrar.send(delegate, 'revokeDelegate', [delegate.hex]), 'NotAuthority', [delegate.hex], 'a delegate revokes itself')
  assertRevert(t, registrarAbi, await registrar.send(auth1, 'revokeDelegate', [bob.hex]), 'NotDelegate', [bob.hex], 'revoking a non-delegate')

  // after the authority set changes, authority status is read live; delegate status stays until revoked
  await vm.writeStorage(AUTHORITY_SET_ADDRESS, authoritySetStorageUpdate([auth1.address, auth2.address], [auth1.address]))
  t.equal(await registrar.view('isProviderAccount', [auth2.hex]), false, 'a removed authority is no longer a provider account')
  t.equal(await registrar.view('isProviderAccount', [delegate.hex]), true)
  const rev = await registrar.send(auth1, 'revokeDelegate', [delegate.hex])
  t.same(norm(registrar.events(rev)), [{ eventName: 'DelegateRevoked', args: { delegate: delegate.hex, by: auth1.hex } }])
  t.equal(await registrar.view('isProviderAccount', [delegate.hex]), false)
})

t.test('paged lists: providers (participants are the IdentityRegistered events)', async (t) => {
  const { registrar } = await setup()
  t.same(await registrar.view('providers', [0n, 10n]), [])
  t.same(await registrar.view('providers', [3n, 2n ** 256n - 1n]), [])
})

t.test('audit anchors: only provider accounts, sequence numbers only grow', async (t) => {
  const { registrar } = await setup()
  const head = keccak256(toBytes('audit head 1'))
  assertRevert(t, registrarAbi, await registrar.send(stranger, 'anchorAudit', [1n, head]), 'NotProviderAccount', [stranger.hex], 'a participant cannot anchor')
  assertRevert(t, registrarAbi, await registrar.send(delegate, 'anchorAudit', [1n, head]), 'NotProviderAccount', [delegate.hex], 'an unverified delegate cannot anchor')
  const out = await registrar.send(auth1, 'anchorAudit', [3n, head])
  assertOk(t, out, 'an authority anchors')
  const [ev] = registrar.events(out)
  t.ok(ev?.eventName === 'AuditAnchored' && lower(ev.args.provider) === auth1.hex && ev.args.seq === 3n && ev.args.head === head, 'AuditAnchored(provider, seq, head)')
  t.equal(await registrar.view('anchoredSeq', [auth1.hex]), 3n)
  assertRevert(t, registrarAbi, await registrar.send(auth1, 'anchorAudit', [3n, head]), 'StaleAnchor', [3n, 3n], 'the same seq again is refused')
  assertRevert(t, registrarAbi, await registrar.send(auth1, 'anchorAudit', [2n, head]), 'StaleAnchor', [2n, 3n], 'an older seq is refused')
  t.equal(await registrar.view('anchoredSeq', [auth2.hex]), 0n, 'anchors are per provider')
  assertOk(t, await registrar.send(auth1, 'verifyDelegate', [delegate.hex]), 'verify delegate')
  assertOk(t, await registrar.send(delegate, 'anchorAudit', [1n, head]), 'a verified delegate anchors its own log')
})
