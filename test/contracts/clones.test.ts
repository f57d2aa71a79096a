import t from 'tap'
import { Address, hexToBytes } from '@ethereumjs/util'
import { concatHex, decodeErrorResult, encodeFunctionData, keccak256, toHex, type Abi, type AbiParameter, type Hex } from 'viem'
import { RELATIONSHIPS_ADDRESS, REGISTRAR_ADDRESS } from '../../contracts/index.ts'
import { createMedRecVM } from '../../contracts/vm.ts'
import { compileNext } from '../../bench/suites/next-contracts/compile.ts'
import { createDesign, PPR_IMPLEMENTATION, SUMMARY_IMPLEMENTATION, type Design, type DesignName } from '../../bench/suites/next-contracts/designs.ts'
import { BOUNTY, ENDPOINT, LONG, measureDesign, ONBOARDING_STEPS, QUERY } from '../../bench/suites/next-contracts/measure.ts'
import { actor, runtimeOpcodes, type Actor, type Outcome } from '../helpers/contract-vm.ts'
import { ROOT } from '../helpers/node-process.ts'

/**
 * Issue 23's prototypes (contracts/src/next/, not yet the live contracts): design A, PPRs as
 * EIP-1167 clones whose code carries their fixed fields (no initialiser); design A0, plain clones
 * initialised by the factory in the creating call; and design B, relationships as records in one
 * contract. What must hold before either replaces the live
 * suite: the targets, nobody re-initialising a relationship, the MedRec 2.0 holes staying shut,
 * and the access rules.
 */

const [auth, alice, viewer, stranger] = ['auth', 'alice', 'viewer', 'stranger'].map(actor) as [Actor, Actor, Actor, Actor]
const hash = (s: string): Hex => keccak256(toHex(s))
const PROXY_HEAD = (impl: Hex) => concatHex(['0x363d3d373d3d3d363d73', impl, '0x5af43d82803e903d91602b57fd5bf3'])

async function setup(name: DesignName) {
  const d = await createDesign(name, ROOT, [auth], [alice, viewer, stranger])
  const { out: registered, summary } = await d.register(auth, 'alice', alice)
  const { out: viewerRegistered, summary: viewerSummary } = await d.register(auth, 'viewer', viewer)
  const { out: created, relationship: rel } = await d.create(auth, alice.hex, ENDPOINT, hash('salt'))
  const added = await d.addPointer(auth, rel, QUERY, 3, hash('v1'), BOUNTY)
  for (const out of [registered, viewerRegistered, created, added]) if (!out.ok) throw new Error(`setup of ${name} failed: ${out.returnData}`)
  return { d, summary, viewerSummary, rel }
}

function errorName(abis: Abi[], out: Outcome): string {
  for (const abi of abis) {
    try {
      return decodeErrorResult({ abi, data: out.returnData }).errorName
    } catch {
      // not this ABI's error
    }
  }
  return out.returnData
}

const codeOf = async (d: Design, address: Hex): Promise<Hex> => toHex(await d.vm.vm.stateManager.getCode(new Address(hexToBytes(address))))

/** Plausible arguments for any ABI input: the stranger's address, small numbers, non-empty data. */
function dummy(p: AbiParameter): unknown {
  if (p.type.endsWith('[]')) return [dummy({ ...p, type: p.type.slice(0, -2) })]
  if (p.type === 'address') return stranger.hex
  if (p.type === 'bool') return true
  if (p.type === 'string') return 'x'
  if (p.type === 'bytes') return '0x01'
  if (p.type.startsWith('bytes')) return `0x${'11'.repeat(Number(p.type.slice(5)))}`
  if (p.type.startsWith('uint') || p.type.startsWith('int')) return 0n
  throw new Error(`no dummy for ${p.type}`)
}

function writers(abi: Abi) {
  return abi.filter((f) => f.type === 'function' && f.stateMutability !== 'view' && f.stateMutability !== 'pure') as Array<{ name: string; inputs: readonly AbiParameter[] }>
}

const calldata = (abi: Abi, f: { name: string; inputs: readonly AbiParameter[] }, args: unknown[]) => encodeFunctionData({ abi, functionName: f.name, args } as Parameters<typeof encodeFunctionData>[0])

// B keeps the endpoint in storage (690 gas a byte): with the long strings it misses the 500k; A keeps it in code
for (const [name, strings] of [['clones', {}], ['clones', LONG], ['records', {}]] as const) {
  const what = strings === LONG ? ', a 90-byte endpoint and a 71-character identity' : ''
  t.test(`${name}: the targets of issue 23 (onboarding <= 500k gas, a relationship <= 150k and <= 1 kB of state)${what}`, async (t) => {
    const r = await measureDesign(name, ROOT, strings)
    const onboarding = r.steps.slice(0, ONBOARDING_STEPS)
    const total = onboarding.reduce((n, s) => n + s.gas, 0n)
    const create = onboarding.find((s) => s.step.startsWith('create'))
    const perRelationship = onboarding.slice(1).reduce((n, s) => n + s.bytes, 0)
    t.ok(total <= 500_000n, `onboarding (register, create, first pointer, link, accept): ${total} gas`)
    t.ok(create !== undefined && create.gas <= 150_000n, `creating a relationship: ${create?.gas} gas`)
    t.ok(perRelationship <= 1024, `new state per relationship: ${perRelationship} bytes`)
  })
}

t.test('clones: nobody, not even the factory a second time, re-initialises a relationship', async (t) => {
  const { d, summary, rel } = await setup('clones')
  const abi = d.abis.relationship
  const code = await codeOf(d, rel)
  const fixed = async () => [await d.read(rel, 'provider'), await d.read(rel, 'patientSummary'), await d.read(rel, 'patient'), await codeOf(d, rel)]
  const before = await fixed()
  t.same(before.slice(0, 3).map((x) => String(x).toLowerCase()), [auth.hex, summary, alice.hex], 'parties as created')
  t.equal(code.slice(0, 92), PROXY_HEAD(PPR_IMPLEMENTATION), 'the clone forwards to the one implementation')

  t.notOk(writers(abi).some((f) => /init|setup|constructor|^set(Provider|Patient|Summary|Owner)/i.test(f.name)), 'the implementation has no initialiser and no setter for the parties')
  // every writer, from a stranger, from the factory's own address and from the implementation's
  const factory = hexToBytes(RELATIONSHIPS_ADDRESS)
  for (const f of writers(abi)) {
    const data = calldata(abi, f, f.inputs.map(dummy))
    const byStranger = await d.vm.send(stranger, rel, data)
    t.equal(byStranger.ok, false, `${f.name} by a stranger reverts (${errorName([abi], byStranger)})`)
    const byFactory = await d.vm.call(factory, rel, data)
    t.equal(byFactory.ok, false, `${f.name} called by the factory's address reverts (${errorName([abi], byFactory)})`)
  }
  // the factory again with the same arguments: CREATE2 cannot overwrite an existing account
  const again = await d.create(auth, alice.hex, ENDPOINT, hash('salt'))
  t.equal(again.out.ok, false, `the factory creating the same relationship again reverts (${errorName([d.abis.relationships], again.out)})`)
  t.same(await fixed(), before, 'provider, patient Summary, patient and code unchanged')
  t.equal(await d.read(rel, 'endpoint'), ENDPOINT, 'the endpoint set at creation is unchanged')
  t.equal(await d.read(rel, 'pointerCount'), 1n, 'the pointers are untouched')

  // the implementation itself is nobody's relationship: its parties do not exist, and its writers refuse
  for (const f of writers(abi)) {
    const out = await d.vm.send(auth, PPR_IMPLEMENTATION, calldata(abi, f, f.inputs.map(dummy)))
    t.equal(out.ok, false, `${f.name} on the implementation reverts (${errorName([abi], out)})`)
  }
  const impl = await d.vm.call(new Uint8Array(20), PPR_IMPLEMENTATION, encodeFunctionData({ abi, functionName: 'provider', args: [] }))
  t.equal(errorName([abi], impl), 'NotClone', 'the implementation has no provider')
})

t.test('init: the initialiser accepts only the factory, only once, never on the implementation', async (t) => {
  const { d, summary, rel } = await setup('init')
  const abi = d.abis.relationship
  const init = (provider: Hex) => encodeFunctionData({ abi, functionName: 'initialize', args: [provider, summary, 'https://evil.example'] })
  const fixed = async () => [await d.read(rel, 'provider'), await d.read(rel, 'patientSummary'), await d.read(rel, 'endpoint')]
  const before = await fixed()
  t.equal(errorName([abi], await d.vm.send(stranger, rel, init(stranger.hex))), 'NotFactory', 'a stranger cannot initialise')
  t.equal(errorName([abi], await d.vm.send(auth, rel, init(auth.hex))), 'NotFactory', 'nor the provider')
  t.equal(errorName([abi], await d.vm.call(hexToBytes(RELATIONSHIPS_ADDRESS), rel, init(stranger.hex))), 'AlreadyInitialised', 'the factory cannot initialise it a second time')
  t.equal(errorName([abi], await d.vm.call(hexToBytes(RELATIONSHIPS_ADDRESS), PPR_IMPLEMENTATION, init(stranger.hex))), 'NotClone', 'nor initialise the implementation')
  t.equal((await d.create(auth, alice.hex, ENDPOINT, hash('salt'))).out.ok, false, 'nor create the same clone again')
  t.same(await fixed(), before, 'provider, patient Summary and endpoint unchanged')
  // a stranger's own clone of the implementation cannot be initialised, and is no relationship
  const runtime = PROXY_HEAD(PPR_IMPLEMENTATION)
  const fake = (await d.vm.deploy(stranger, concatHex(['0x61002d80600a3d393df3', runtime]))).toLowerCase() as Hex
  t.equal(await codeOf(d, fake), runtime, 'a plain clone deployed by a stranger')
  t.equal(errorName([abi], await d.vm.send(stranger, fake, init(stranger.hex))), 'NotFactory', 'cannot be initialised')
  t.equal(await d.view('relationships', RELATIONSHIPS_ADDRESS, 'isRelationship', [fake]), false, 'is not a relationship')
})

t.test('clones: a clone of the implementation that the factory did not make is not a relationship', async (t) => {
  const { d, summary } = await setup('clones')
  // a stranger deploys the same kind of clone with itself as provider of alice's Summary
  const args = concatHex([stranger.hex, summary, hash('forged'), toHex('https://evil.example')])
  const runtime = concatHex([PROXY_HEAD(PPR_IMPLEMENTATION), args])
  const size = (runtime.length - 2) / 2
  const init = concatHex([`0x61${size.toString(16).padStart(4, '0')}80600a3d393df3`, runtime])
  const fake = (await d.vm.deploy(stranger, init)).toLowerCase() as Hex
  t.equal(await codeOf(d, fake), runtime, 'the forged clone has the genuine clone layout')
  t.equal(await d.view('relationships', RELATIONSHIPS_ADDRESS, 'isRelationship', [fake]), false, 'the factory does not recognise it')
  t.equal(String(await d.read(fake, 'provider')).toLowerCase(), stranger.hex, 'it names the stranger as provider')

  const link = await d.link(stranger, fake)
  t.equal(errorName([d.abis.summary, d.abis.relationship], link), 'NotRelationship', 'alice\'s Summary refuses its link')
  const pointer = await d.addPointer(stranger, fake, QUERY, 3, hash('x'), BOUNTY)
  t.equal(errorName([d.abis.relationships, d.abis.relationship], pointer), 'NotRelationship', 'the bounty ledger refuses its pointer')
  t.equal(await d.view('summary', summary, 'count'), 0n, 'alice\'s Summary is unchanged')
})

t.test('clones: no contract of the design can destroy itself or run code other than its own; clones run only the implementation', async (t) => {
  const { d, summary, rel } = await setup('clones')
  for (const [what, address] of [['Registrar', REGISTRAR_ADDRESS], ['Relationships', RELATIONSHIPS_ADDRESS], ['PPR implementation', PPR_IMPLEMENTATION], ['Summary implementation', SUMMARY_IMPLEMENTATION]] as const) {
    const ops = runtimeOpcodes(await codeOf(d, address))
    t.ok(ops.length > 100, `${what}: disassembled`)
    for (const [op, mnemonic] of [[0xff, 'SELFDESTRUCT'], [0xf4, 'DELEGATECALL'], [0xf2, 'CALLCODE']] as const) t.notOk(ops.includes(op), `${what}: no ${mnemonic}`)
  }
  t.equal((await codeOf(d, rel)).slice(0, 92), PROXY_HEAD(PPR_IMPLEMENTATION), 'a relationship is the 45-byte proxy to the PPR implementation, then data')
  t.equal((await codeOf(d, summary)).slice(0, 92), PROXY_HEAD(SUMMARY_IMPLEMENTATION), 'a Summary is the 45-byte proxy to the Summary implementation, then data')
  t.ok((await d.terminate(alice, rel)).ok, 'terminated')
  t.equal(await d.read(rel, 'pointerCount'), 1n, 'a terminated relationship keeps its code and history')
})

for (const name of ['init', 'clones', 'records'] as const) {
  t.test(`${name}: the MedRec 2.0 holes stay shut`, async (t) => {
    const { d, summary, rel } = await setup(name)
    // unauthenticated setters: every writer of a relationship and a Summary refuses a stranger
    for (const [what, abi, to, prefix] of [
      ['relationship', d.abis.relationship, name === 'records' ? RELATIONSHIPS_ADDRESS : rel, name === 'records' ? [rel] : []],
      ['Summary', d.abis.summary, summary, []],
    ] as const) {
      for (const f of writers(abi)) {
        const args = f.inputs.map((p, i) => (i < prefix.length ? prefix[i] : dummy(p)))
        const out = await d.vm.send(stranger, to, calldata(abi, f, args))
        t.equal(out.ok, false, `${what}.${f.name} by a stranger reverts (${errorName([abi], out)})`)
      }
    }
    t.equal(String(await d.read(rel, 'provider')).toLowerCase(), auth.hex, 'the provider is unchanged')
    t.equal(String(await d.read(rel, 'patient')).toLowerCase(), alice.hex, 'the patient is unchanged')
    t.equal(await d.view('summary', summary, 'count'), 0n, 'the Summary is unchanged')

    // a custodian anyone could enable: only the patient grants
    for (const who of [auth, viewer, stranger]) t.equal((await d.grant(who, rel, stranger.hex, [0n], [1n], 0n)).ok, false, `a grant by ${who === auth ? 'the provider' : 'a non-patient'} reverts`)
    t.equal(BigInt((await d.canRead(rel, stranger.hex, 0n, 1n)).returnData), 0n, 'nobody else may read')

    // removing a missing element deleted the last one: unknown elements revert
    t.ok((await d.link(auth, rel)).ok, 'linked')
    const entries = () => d.view('summary', summary, 'entries', [0n, 10n])
    const before = await entries()
    const out = await d.vm.send(alice, summary, encodeFunctionData({ abi: d.abis.summary, functionName: 'remove', args: [stranger.hex] }))
    t.equal(errorName([d.abis.summary], out), 'UnknownRelationship', 'removing an unknown entry reverts')
    t.same(await entries(), before, 'the entries are intact')
  })

  t.test(`${name}: the access rules (provider and patient read, a viewer only what was granted, until revoked, rebound or terminated)`, async (t) => {
    const { d, summary, viewerSummary, rel } = await setup(name)
    const can = async (who: Hex, mask: bigint) => BigInt((await d.canRead(rel, who, 0n, mask)).returnData) === 1n
    t.ok(await can(auth.hex, 0b111n), 'the provider reads every field')
    t.ok(await can(alice.hex, 0b111n), 'the patient reads every field')
    t.notOk(await can(viewer.hex, 0b001n), 'a viewer reads nothing before a grant')
    t.notOk(await can(auth.hex, 0b1000n), 'no one reads a field the query does not list')
    const granted = await d.grant(alice, rel, viewer.hex, [0n], [0b101n], 0n)
    t.ok(granted.ok, 'the patient grants fields 0 and 2')
    t.ok(await can(viewer.hex, 0b101n), 'the viewer reads the granted fields')
    t.notOk(await can(viewer.hex, 0b010n), 'not the others')
    t.equal(await d.view('summary', viewerSummary, 'count'), 1n, 'the grant is linked into the viewer\'s Summary')

    t.ok((await d.link(auth, rel)).ok, 'the provider links the patient')
    t.equal((await d.link(auth, rel)).ok, false, 'only once')
    t.ok((await d.accept(alice, summary, rel)).ok, 'the patient accepts')
    t.equal((await d.accept(stranger, summary, rel)).ok, false, 'nobody else accepts')

    // rebinding the identity moves the relationship with it
    const rebound = await d.vm.send(auth, REGISTRAR_ADDRESS, encodeFunctionData({ abi: d.abis.registrar, functionName: 'rebind', args: ['alice', stranger.hex] }))
    t.ok(rebound.ok, 'an authority rebinds alice to a new key')
    t.equal(String(await d.read(rel, 'patient')).toLowerCase(), stranger.hex, 'the new key is the patient')
    t.notOk(await can(alice.hex, 0b001n), 'the old key reads nothing')
    t.equal(String(await d.view('registrar', REGISTRAR_ADDRESS, 'identityOf', [stranger.hex])), 'alice', 'the identity moved')

    t.ok((await d.terminate(auth, rel)).ok, 'the provider terminates')
    t.notOk(await can(viewer.hex, 0b001n), 'the viewer reads nothing after termination')
    t.notOk(await can(auth.hex, 0b001n), 'nor the provider')
  })
}

t.test('clones: after an in-place code swap of Relationships, live Summaries link, accept and read new clones (the migration path)', async (t) => {
  const m = await createMedRecVM([auth], [alice, viewer, stranger])
  const legacySummary = await m.register(auth, 'alice', alice)
  const legacy = await m.createRelationship(auth, alice)
  t.ok((await legacy.send(auth, 'linkPatient', [])).ok, 'a live PPR linked before the swap')
  // the fork: new factory code at the same address, the implementation placed beside it
  const next = compileNext(ROOT)
  const factory = next.get('CloneRelationships')
  const impl = next.get('CloneRelationship')
  if (factory === undefined || impl === undefined) throw new Error('prototype contracts missing')
  const sm = m.vm.vm.stateManager
  await sm.putCode(new Address(hexToBytes(RELATIONSHIPS_ADDRESS)), hexToBytes(factory.deployedBytecode))
  await sm.putCode(new Address(hexToBytes(PPR_IMPLEMENTATION)), hexToBytes(impl.deployedBytecode))
  const d = { abi: factory.abi, rel: impl.abi }
  const created = await m.vm.send(auth, RELATIONSHIPS_ADDRESS, encodeFunctionData({ abi: d.abi, functionName: 'create', args: [alice.hex, ENDPOINT, hash('after')] }))
  t.ok(created.ok, 'the new factory creates a clone for a patient registered before the swap')
  const log = created.logs.find((l) => l.address.toLowerCase() === RELATIONSHIPS_ADDRESS)
  const rel = `0x${log?.data.slice(26, 66) ?? ''}` as Hex
  const send = (who: Actor, fn: string, args: unknown[]) => m.vm.send(who, rel, encodeFunctionData({ abi: d.rel, functionName: fn, args } as Parameters<typeof encodeFunctionData>[0]))
  t.ok((await send(auth, 'addPointer', [QUERY, 3, hash('v1'), BOUNTY])).ok, 'a pointer on the clone (bounty ledger: the new factory)')
  t.ok((await send(auth, 'linkPatient', [])).ok, 'the clone links into the live Summary (it asks the new factory, which recognises the clone)')
  t.equal(await legacySummary.view('count', []), 2n, 'the live Summary lists the live PPR and the clone')
  t.ok((await legacySummary.send(alice, 'accept', [rel])).ok, 'the patient accepts the clone in her live Summary')
  const canRead = await m.vm.call(new Uint8Array(20), rel, encodeFunctionData({ abi: d.rel, functionName: 'canRead', args: [alice.hex, 0n, 0b111n] }))
  t.equal(BigInt(canRead.returnData), 1n, 'the clone reads its patient from the live Summary')
  // what the new code must add for the other direction: live PPRs are not clones
  const update = await legacy.send(auth, 'addPointer', [QUERY, 3, hash('v2'), BOUNTY])
  t.equal(update.ok, false, 'a live PPR\'s bounty is refused by the prototype factory: the switch-over keeps the live isRelationship mapping as a fallback')
})
