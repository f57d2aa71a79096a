import t from 'tap'
import { keccak256, toHex, type Abi, type AbiParameter, type Hex } from 'viem'
import {
  authoritySetDeployedBytecode,
  encodeCall,
  patientProviderRelationshipAbi as pprAbi,
  patientProviderRelationshipDeployedBytecode,
  registrarAbi,
  registrarDeployedBytecode,
  relationshipsAbi,
  relationshipsDeployedBytecode,
  summaryAbi,
  summaryDeployedBytecode,
} from '../../contracts/index.ts'
import { actor, runtimeOpcodes, type Actor } from '../helpers/contract-vm.ts'
import { assertOk, assertRevert, createMedRecVM, lower, revertName } from '../helpers/medrec-vm.ts'

/**
 * One regression test per hole of the public MedRec 2.0 contracts (issue 4). The vote threshold
 * hole ("exactly half the signers pass a vote") is a consensus rule: no contract here votes, and
 * the authority set cannot be written by any transaction (authority-set.test.ts); the majority
 * rule itself is tested with the EIP-225 snapshot in consensus/poa.
 */

const [auth, alice, viewer, stranger] = ['auth', 'alice', 'viewer', 'stranger'].map(actor) as [Actor, Actor, Actor, Actor]
const hash = (s: string): Hex => keccak256(toHex(s))

async function setup() {
  const m = await createMedRecVM([auth], [alice, viewer, stranger])
  const summary = await m.register(auth, 'alice', alice)
  await m.register(auth, 'viewer', viewer)
  const ppr = await m.createRelationship(auth, alice)
  const added = await ppr.send(auth, 'addPointer', ['{"resourceType":"Observation","fields":["code"]}', 1, hash('d'), 'b'])
  if (!added.ok) throw new Error('setup failed')
  return { m, summary, ppr }
}

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

t.test('hole: anyone could overwrite a relationship\'s provider. Every writer of a PPR and a Summary refuses a stranger', async (t) => {
  const { m, summary, ppr } = await setup()
  t.notOk(writers(pprAbi).some((f) => /^set(Provider|Patient|Owner)|^(change|update)(Provider|Patient)/i.test(f.name)), 'no setter for the parties exists at all')
  for (const [name, address, abi] of [['PPR', ppr.address, pprAbi], ['Summary', summary.address, summaryAbi]] as const) {
    for (const f of writers(abi)) {
      const out = await m.vm.send(stranger, address, encodeCall(abi as Abi, f.name as never, f.inputs.map(dummy) as never))
      t.equal(out.ok, false, `${name}.${f.name} by a stranger reverts (${revertName(out)})`)
    }
  }
  t.equal(lower(await ppr.view('provider', [])), auth.hex, 'the provider is unchanged')
  t.equal(lower(await ppr.view('patient', [])), alice.hex, 'the patient is unchanged')
  t.equal(await ppr.view('endpoint', []), 'https://gk.example/fhir', 'the endpoint is unchanged')
  t.equal(await summary.view('count', []), 0n, 'the Summary is unchanged')
})

t.test('hole: a misnamed constructor could be re-run. Parties are set once, in real constructors', async (t) => {
  const { m, summary, ppr } = await setup()
  for (const [name, abi] of [['Registrar', registrarAbi], ['Relationships', relationshipsAbi], ['Summary', summaryAbi], ['PPR', pprAbi]] as const) {
    const fns = writers(abi).map((f) => f.name)
    t.notOk(fns.some((n) => /^(init|initialize|setup|constructor|Summary|Registrar|PatientProviderRelationship|Relationships)$/i.test(n)), `${name} has no initialiser callable after deployment`)
  }
  // calling the would-be constructor selectors hits no function (no fallback): revert
  for (const sig of ['PatientProviderRelationship(address,address,string)', 'Summary(address)', 'initialize(address,address,string)']) {
    const selector = keccak256(toHex(sig)).slice(0, 10) as Hex
    const out = await m.vm.send(stranger, ppr.address, `${selector}${'00'.repeat(96)}` as Hex)
    t.equal(out.ok, false, `${sig} on a PPR reverts`)
    t.equal((await m.vm.send(stranger, summary.address, `${selector}${'00'.repeat(96)}` as Hex)).ok, false, `${sig} on a Summary reverts`)
  }
  t.equal(lower(await summary.view('owner', [])), alice.hex)
})

t.test('hole: anyone could enable a custodian. Only the patient grants access, and a grant cannot widen itself', async (t) => {
  const { ppr } = await setup()
  for (const who of [auth, viewer, stranger]) {
    assertRevert(t, pprAbi, await ppr.send(who, 'grant', [who === viewer ? viewer.hex : stranger.hex, [0n], [1n], 0n]), 'NotPatient', [who.hex], 'grant by a non-patient')
  }
  t.equal(await ppr.view('canRead', [stranger.hex, 0n, 1n]), false)
  assertOk(t, await ppr.send(alice, 'grant', [viewer.hex, [0n], [1n], 0n]), 'the patient grants')
  assertRevert(t, pprAbi, await ppr.send(viewer, 'grant', [stranger.hex, [0n], [1n], 0n]), 'NotPatient', [viewer.hex], 'a viewer re-grants to someone else')
  assertRevert(t, pprAbi, await ppr.send(auth, 'approveGrant', [stranger.hex, 1n]), 'ConsentNotRequired', [], 'the provider cannot create a grant by approving')
  t.equal(await ppr.view('canRead', [stranger.hex, 0n, 1n]), false, 'still nobody else')
})

t.test('hole: removing a missing element deleted the last one. Unknown elements revert', async (t) => {
  const { m, summary, ppr } = await setup()
  const second = await m.createRelationship(auth, alice, 'https://b.example')
  assertOk(t, await ppr.send(auth, 'linkPatient', []), 'link 1')
  assertOk(t, await second.send(auth, 'linkPatient', []), 'link 2')
  const before = await summary.view('entries', [0n, 10n])
  assertRevert(t, summaryAbi, await summary.send(alice, 'remove', [stranger.hex]), 'UnknownRelationship', [stranger.hex], 'remove a missing entry')
  t.same(await summary.view('entries', [0n, 10n]), before, 'the last entry is intact')

  assertOk(t, await ppr.send(alice, 'grant', [viewer.hex, [0n], [1n], 0n]), 'grant')
  assertRevert(t, pprAbi, await ppr.send(alice, 'revoke', [stranger.hex]), 'NoActiveGrant', [stranger.hex], 'revoke a missing grant')
  t.equal(await ppr.view('canRead', [viewer.hex, 0n, 1n]), true, 'the existing grant is intact')
})

t.test('hole: selfdestruct. No contract of the suite can destroy itself or run foreign code', async (t) => {
  const codes = { Registrar: registrarDeployedBytecode, Relationships: relationshipsDeployedBytecode, Summary: summaryDeployedBytecode, PPR: patientProviderRelationshipDeployedBytecode, AuthoritySet: authoritySetDeployedBytecode }
  for (const [name, code] of Object.entries(codes)) {
    const ops = runtimeOpcodes(code)
    t.ok(ops.length > 100, `${name}: disassembled`)
    for (const [op, mnemonic] of [[0xff, 'SELFDESTRUCT'], [0xf4, 'DELEGATECALL'], [0xf2, 'CALLCODE']] as const) t.notOk(ops.includes(op), `${name}: no ${mnemonic}`)
  }
  const { ppr } = await setup()
  assertOk(t, await ppr.send(alice, 'terminate', []), 'terminated')
  t.equal(await ppr.view('pointerCount', []), 1n, 'a terminated relationship keeps its code and history')
})
