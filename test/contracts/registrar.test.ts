import t, { type Test } from 'tap'
import { keccak256, toBytes, type ContractFunctionName, type Hex } from 'viem'
import {
  AUTHORITY_SET_ADDRESS,
  REGISTRAR_ADDRESS,
  authoritySetStorageUpdate,
  decodeLog,
  decodeResult,
  decodeRevert,
  encodeCall,
  registrarAbi,
  registrarDeployedBytecode,
  type CallArgs,
} from '../../contracts/index.ts'
import { actor, createContractVM, runtimeOpcodes, type Actor, type ContractVM, type Outcome } from '../helpers/contract-vm.ts'

const names = ['auth1', 'auth2', 'alice', 'bob', 'carol', 'stranger', 'summaryA', 'summaryB', 'summaryC'] as const
const [auth1, auth2, alice, bob, carol, stranger, sumA, sumB, sumC] = names.map(actor) as Actor[] as [Actor, Actor, Actor, Actor, Actor, Actor, Actor, Actor, Actor]
const ZERO_ADDRESS = '0x0000000000000000000000000000000000000000'
const lower = (h: string) => h.toLowerCase()

type Args<F extends ContractFunctionName<typeof registrarAbi>> = CallArgs<typeof registrarAbi, F>

async function setup(): Promise<ContractVM> {
  return createContractVM([auth1.address, auth2.address], [auth1, auth2, alice, bob, carol, stranger])
}

/** A state-changing Registrar call as a signed transaction. */
function send<F extends 'register' | 'rebind' | 'setSummary' | 'setProvider'>(vm: ContractVM, from: Actor, fn: F, args: Args<F>): Promise<Outcome> {
  return vm.send(from, REGISTRAR_ADDRESS, encodeCall(registrarAbi, fn, args))
}

async function view<F extends 'resolve' | 'identityOf' | 'summaryOf' | 'provider' | 'participants' | 'providers' | 'participantCount' | 'providerCount' | 'AUTHORITIES'>(vm: ContractVM, fn: F, args: Args<F>) {
  const out = await vm.call(stranger.address, REGISTRAR_ADDRESS, encodeCall(registrarAbi, fn, args))
  if (!out.ok) throw new Error(`${fn} reverted: ${out.returnData}`)
  return decodeResult(registrarAbi, fn, out.returnData)
}

function assertRevert(t: Test, out: Outcome, errorName: string, args: readonly unknown[], what: string): void {
  t.equal(out.ok, false, `${what}: reverted`)
  const decoded = decodeRevert(registrarAbi, out.returnData)
  t.equal(decoded.errorName, errorName, `${what}: ${errorName}`)
  t.same((decoded.args ?? []).map((x) => (typeof x === 'string' ? lower(x) : x)), args.map((x) => (typeof x === 'string' ? lower(x) : x)), `${what}: error arguments`)
}

function onlyLog(t: Test, out: Outcome) {
  t.equal(out.ok, true, 'transaction succeeded')
  t.equal(out.logs.length, 1, 'exactly one event')
  const log = out.logs[0]!
  t.equal(log.address, REGISTRAR_ADDRESS)
  return decodeLog(registrarAbi, log.topics, log.data)
}

t.test('the runtime code is a plain predeploy: no selfdestruct, delegatecall or callcode', async (t) => {
  const ops = runtimeOpcodes(registrarDeployedBytecode)
  t.ok(ops.includes(0x55), 'it does write storage (sanity check of the disassembly)')
  for (const [op, name] of [[0xff, 'SELFDESTRUCT'], [0xf4, 'DELEGATECALL'], [0xf2, 'CALLCODE']] as const) t.notOk(ops.includes(op), `no ${name}`)
  const vm = await setup()
  t.equal(lower(await view(vm, 'AUTHORITIES', [])), AUTHORITY_SET_ADDRESS, 'asks AuthoritySet at its fixed address')
  t.equal(await view(vm, 'participantCount', []), 0n)
  t.equal(await view(vm, 'providerCount', []), 0n)
})

t.test('an authority registers an identity; lookups by identity and by address', async (t) => {
  const vm = await setup()
  const identity = 'sha256:national-id-hash-0001'
  const out = await send(vm, auth1, 'register', [identity, alice.hex, sumA.hex])
  const ev = onlyLog(t, out)
  t.equal(ev.eventName, 'IdentityRegistered')
  if (ev.eventName === 'IdentityRegistered') {
    t.equal(ev.args.identityHash, keccak256(toBytes(identity)), 'indexed identity hash')
    t.equal(lower(ev.args.participant), alice.hex, 'indexed participant')
    t.equal(ev.args.identity, identity)
    t.equal(lower(ev.args.summary), sumA.hex)
    t.equal(lower(ev.args.registeredBy), auth1.hex)
  }
  const [participant, summary] = await view(vm, 'resolve', [identity])
  t.equal(lower(participant), alice.hex)
  t.equal(lower(summary), sumA.hex)
  t.equal(await view(vm, 'identityOf', [alice.hex]), identity)
  t.equal(lower(await view(vm, 'summaryOf', [alice.hex])), sumA.hex)
  t.equal(await view(vm, 'participantCount', []), 1n)
  t.same((await view(vm, 'participants', [0n, 10n])).map(lower), [alice.hex])

  const [nobody, noSummary] = await view(vm, 'resolve', ['unknown'])
  t.equal(nobody, ZERO_ADDRESS, 'an unknown identity resolves to the zero address')
  t.equal(noSummary, ZERO_ADDRESS)
  t.equal(await view(vm, 'identityOf', [bob.hex]), '', 'an unregistered address has no identity')

  // a registration with no summary yet is allowed (the summary is set later)
  t.equal((await send(vm, auth2, 'register', ['bob', bob.hex, ZERO_ADDRESS])).ok, true)
  t.equal(await view(vm, 'summaryOf', [bob.hex]), ZERO_ADDRESS)
})

t.test('registration refusals', async (t) => {
  const vm = await setup()
  assertRevert(t, await send(vm, stranger, 'register', ['x', alice.hex, sumA.hex]), 'NotAuthority', [stranger.hex], 'a non-authority registers')
  assertRevert(t, await send(vm, alice, 'register', ['alice', alice.hex, sumA.hex]), 'NotAuthority', [alice.hex], 'a participant registers itself')
  assertRevert(t, await send(vm, auth1, 'register', ['', alice.hex, sumA.hex]), 'EmptyIdentity', [], 'empty identity')
  assertRevert(t, await send(vm, auth1, 'register', ['alice', ZERO_ADDRESS, sumA.hex]), 'ZeroAddress', [], 'zero participant')

  t.equal((await send(vm, auth1, 'register', ['alice', alice.hex, sumA.hex])).ok, true)
  assertRevert(t, await send(vm, auth2, 'register', ['alice', bob.hex, sumB.hex]), 'IdentityTaken', ['alice'], 'second registration of the same identity')
  assertRevert(t, await send(vm, auth1, 'register', ['alice-2', alice.hex, sumB.hex]), 'AlreadyRegistered', [alice.hex], 'a second identity for the same address')

  const [participant, summary] = await view(vm, 'resolve', ['alice'])
  t.equal(lower(participant), alice.hex, 'the first binding stands')
  t.equal(lower(summary), sumA.hex)
  t.equal(await view(vm, 'participantCount', []), 1n)
})

t.test('only current authorities register: removal from AuthoritySet revokes the right', async (t) => {
  const vm = await setup()
  t.equal((await send(vm, auth2, 'register', ['one', alice.hex, sumA.hex])).ok, true)
  await vm.writeStorage(AUTHORITY_SET_ADDRESS, authoritySetStorageUpdate([auth1.address, auth2.address], [auth1.address]))
  assertRevert(t, await send(vm, auth2, 'register', ['two', bob.hex, sumB.hex]), 'NotAuthority', [auth2.hex], 'a removed authority registers')
  t.equal((await send(vm, auth1, 'register', ['two', bob.hex, sumB.hex])).ok, true, 'the remaining authority still can')
})

t.test('rebind: by the participant or an authority, never by a stranger', async (t) => {
  const vm = await setup()
  await send(vm, auth1, 'register', ['alice', alice.hex, sumA.hex])
  await send(vm, auth1, 'register', ['carol', carol.hex, sumC.hex])

  assertRevert(t, await vm.send(stranger, REGISTRAR_ADDRESS, encodeCall(registrarAbi, 'rebind', ['alice', stranger.hex])), 'NotParticipantOrAuthority', [stranger.hex], 'rebind by a stranger')
  assertRevert(t, await send(vm, carol, 'rebind', ['alice', carol.hex]), 'NotParticipantOrAuthority', [carol.hex], 'rebind by another participant')
  assertRevert(t, await send(vm, alice, 'rebind', ['nobody', bob.hex]), 'UnknownIdentity', ['nobody'], 'rebind of an unknown identity')
  assertRevert(t, await send(vm, alice, 'rebind', ['alice', ZERO_ADDRESS]), 'ZeroAddress', [], 'rebind to the zero address')
  assertRevert(t, await send(vm, alice, 'rebind', ['alice', carol.hex]), 'AlreadyRegistered', [carol.hex], 'rebind onto a registered address')

  // the participant moves to a new key: summary carried over, list slot reused
  const ev = onlyLog(t, await send(vm, alice, 'rebind', ['alice', bob.hex]))
  t.equal(ev.eventName, 'ParticipantRebound')
  if (ev.eventName === 'ParticipantRebound') {
    t.equal(ev.args.identityHash, keccak256(toBytes('alice')))
    t.equal(lower(ev.args.oldParticipant), alice.hex)
    t.equal(lower(ev.args.newParticipant), bob.hex)
    t.equal(lower(ev.args.by), alice.hex)
  }
  const [p, s] = await view(vm, 'resolve', ['alice'])
  t.equal(lower(p), bob.hex)
  t.equal(lower(s), sumA.hex, 'summary follows the identity')
  t.equal(await view(vm, 'identityOf', [bob.hex]), 'alice')
  t.equal(await view(vm, 'identityOf', [alice.hex]), '', 'the old address is unbound')
  t.equal(await view(vm, 'summaryOf', [alice.hex]), ZERO_ADDRESS)
  t.equal(await view(vm, 'participantCount', []), 2n)
  t.same((await view(vm, 'participants', [0n, 10n])).map(lower), [bob.hex, carol.hex], 'replaced in place')
  assertRevert(t, await send(vm, alice, 'rebind', ['alice', alice.hex]), 'NotParticipantOrAuthority', [alice.hex], 'the old key lost control')

  // an authority may rebind (lost key recovery), the old address can then be registered anew
  const byAuth = onlyLog(t, await send(vm, auth2, 'rebind', ['alice', alice.hex]))
  t.equal(byAuth.eventName, 'ParticipantRebound')
  if (byAuth.eventName === 'ParticipantRebound') t.equal(lower(byAuth.args.by), auth2.hex)
  t.equal(lower((await view(vm, 'resolve', ['alice']))[0]), alice.hex)
  t.equal((await send(vm, auth1, 'register', ['bob', bob.hex, sumB.hex])).ok, true, 'the freed address can be registered')
})

t.test('setSummary: by the participant or an authority, never by a stranger', async (t) => {
  const vm = await setup()
  await send(vm, auth1, 'register', ['alice', alice.hex, sumA.hex])
  assertRevert(t, await send(vm, stranger, 'setSummary', [alice.hex, sumC.hex]), 'NotParticipantOrAuthority', [stranger.hex], 'setSummary by a stranger')
  assertRevert(t, await send(vm, bob, 'setSummary', [bob.hex, sumC.hex]), 'NotRegistered', [bob.hex], 'setSummary of an unregistered address')
  t.equal(lower(await view(vm, 'summaryOf', [alice.hex])), sumA.hex, 'unchanged after refusals')

  const ev = onlyLog(t, await send(vm, alice, 'setSummary', [alice.hex, sumB.hex]))
  t.equal(ev.eventName, 'SummaryChanged')
  if (ev.eventName === 'SummaryChanged') {
    t.equal(lower(ev.args.participant), alice.hex)
    t.equal(lower(ev.args.summary), sumB.hex)
    t.equal(lower(ev.args.by), alice.hex)
  }
  t.equal(lower(await view(vm, 'summaryOf', [alice.hex])), sumB.hex)
  t.equal((await send(vm, auth2, 'setSummary', [alice.hex, sumC.hex])).ok, true, 'an authority may set it')
  t.equal(lower((await view(vm, 'resolve', ['alice']))[1]), sumC.hex)
})

t.test('provider directory: authorities set their own entry', async (t) => {
  const vm = await setup()
  const key1 = '0x02a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90' as Hex
  assertRevert(t, await send(vm, stranger, 'setProvider', ['Mallory Clinic', 'https://evil.example', key1]), 'NotAuthority', [stranger.hex], 'provider entry by a non-authority')
  t.equal(await view(vm, 'providerCount', []), 0n)

  const ev = onlyLog(t, await send(vm, auth1, 'setProvider', ['General Hospital', '/dns4/gk.general.example/tcp/4001 https://gk.general.example', key1]))
  t.equal(ev.eventName, 'ProviderUpdated')
  if (ev.eventName === 'ProviderUpdated') {
    t.equal(lower(ev.args.provider), auth1.hex)
    t.equal(ev.args.name, 'General Hospital')
    t.equal(ev.args.encryptionKey, key1)
  }
  const [name, endpoint, key, listed] = await view(vm, 'provider', [auth1.hex])
  t.same([name, endpoint, key, listed], ['General Hospital', '/dns4/gk.general.example/tcp/4001 https://gk.general.example', key1, true])

  // an update keeps one directory entry
  t.equal((await send(vm, auth1, 'setProvider', ['General Hospital', 'https://gk2.general.example', '0x04'])).ok, true)
  t.same(await view(vm, 'provider', [auth1.hex]), ['General Hospital', 'https://gk2.general.example', '0x04', true])
  t.equal((await send(vm, auth2, 'setProvider', ['Clinic', 'https://clinic.example', '0x'])).ok, true)
  t.equal(await view(vm, 'providerCount', []), 2n)
  t.same((await view(vm, 'providers', [0n, 10n])).map(lower), [auth1.hex, auth2.hex])
  t.same(await view(vm, 'provider', [stranger.hex]), ['', '', '0x', false], 'an unknown address is not listed')
})

t.test('paged lists', async (t) => {
  const vm = await setup()
  const people = ['p0', 'p1', 'p2', 'p3', 'p4'].map(actor)
  for (const [i, p] of people.entries()) t.equal((await send(vm, auth1, 'register', [`id-${i}`, p.hex, ZERO_ADDRESS])).ok, true)
  const page = async (offset: bigint, limit: bigint) => (await view(vm, 'participants', [offset, limit])).map(lower)
  const all = people.map((p) => p.hex)
  t.same(await page(0n, 2n), all.slice(0, 2))
  t.same(await page(2n, 2n), all.slice(2, 4))
  t.same(await page(4n, 2n), all.slice(4), 'the last page is short')
  t.same(await page(5n, 2n), [], 'past the end: empty')
  t.same(await page(1n, 0n), [], 'zero limit: empty')
  t.same(await page(1n, 2n ** 256n - 1n), all.slice(1), 'a maximal limit does not overflow')
  t.same(await page(2n ** 256n - 1n, 2n ** 256n - 1n), [], 'a maximal offset does not overflow')
  t.same((await view(vm, 'providers', [0n, 10n])), [])
  t.same((await view(vm, 'providers', [3n, 2n ** 256n - 1n])), [])
})
