/**
 * Gas per MedRec contract operation, measured on the embedded EVM with signed transactions
 * (receipt gas: intrinsic + execution - refunds). `npm run bench -- gas`, or
 * `npx node bench/suites/gas.ts --markdown` for docs/contracts.md's table.
 *
 * Also issue 23's totals: onboarding one patient with one provider (register, create the
 * relationship, first pointer, link, accept), and the new state one relationship adds, a model:
 * 64 bytes per storage slot (key hash and value), 104 per new account (key hash and its RLP),
 * and the new account's code (a clone's code differs by its arguments). Trie branch nodes are
 * left out: they grow with log16 of the leaves.
 */
import { fileURLToPath } from 'node:url'
import { Address } from '@ethereumjs/util'
import { hexToBytes, keccak256, toHex, type Hex } from 'viem'
import { encodeCall, patientProviderRelationshipAbi, REGISTRAR_ADDRESS, RELATIONSHIPS_ADDRESS } from '../../contracts/index.ts'
import { actor, createMedRecVM, revertName, type Actor, type ContractVM, type Outcome } from '../../contracts/vm.ts'
import type { Row } from './report.ts'

const QUERY = JSON.stringify({ resourceType: 'Observation', fields: ['code', 'valueQuantity', 'effectiveDateTime'], codeSystems: ['http://loinc.org'] })
const BOUNTY = JSON.stringify({ aggregate: 'count', resourceType: 'Observation', groupBy: ['code'], k: 5 })
const hash = (s: string): Hex => keccak256(toHex(s))

export const SLOT_BYTES = 64
export const ACCOUNT_BYTES = 104

/** Storage slots, existence and code length of the accounts `addresses`, for the state model. */
export async function stateOf(vm: ContractVM, addresses: readonly Hex[]): Promise<{ slots: number; accounts: number; codeBytes: number }> {
  const sm = vm.vm.stateManager as unknown as { getAccount(a: Address): Promise<unknown>; getCode(a: Address): Promise<Uint8Array>; dumpStorage(a: Address): Promise<Record<string, string>> }
  let slots = 0
  let accounts = 0
  let codeBytes = 0
  for (const h of addresses) {
    const a = new Address(hexToBytes(h))
    if ((await sm.getAccount(a)) === undefined) continue
    accounts += 1
    slots += Object.keys(await sm.dumpStorage(a)).length
    codeBytes += (await sm.getCode(a)).length
  }
  return { slots, accounts, codeBytes }
}

export async function runGasTable(): Promise<Row[]> {
  const [hospital, clinic, patient, viewer, viewer2, delegate, first] = ['hospital', 'clinic', 'patient', 'viewer', 'viewer2', 'delegate', 'first-patient'].map(actor) as [Actor, Actor, Actor, Actor, Actor, Actor, Actor]
  const m = await createMedRecVM([hospital, clinic], [patient, viewer, viewer2, delegate, first])
  // A running network: the clinic seals, and already owns a bounty from an earlier onboarding
  // (its per-owner bounty count is not a fresh slot; the network's very first costs 17,100 more).
  m.vm.nextBlock({ coinbase: clinic.hex })
  await m.register(hospital, 'sha256:first-patient', first)
  const warm = await (await m.createRelationship(hospital, first)).send(hospital, 'addPointer', [QUERY, 3, hash('w'), BOUNTY])
  if (!warm.ok) throw new Error(`warm-up addPointer reverted: ${revertName(warm)}`)
  const rows: Row[] = []
  const gas = new Map<string, bigint>()
  const measure = async (operation: string, run: () => Promise<Outcome>): Promise<Outcome> => {
    const out = await run()
    if (!out.ok) throw new Error(`${operation} reverted: ${revertName(out)}`)
    rows.push({ metric: operation, value: out.gasUsed.toLocaleString('en-US') })
    gas.set(operation, out.gasUsed)
    return out
  }

  await measure('Registrar.register (creates the Summary)', () => m.registrar.send(hospital, 'register', ['sha256:patient-id', patient.hex]))
  await m.register(hospital, 'viewer', viewer)
  await measure('Registrar.setProvider', () => m.registrar.send(hospital, 'setProvider', ['General Hospital', 'https://gk.general.example', '/dns4/gk.general.example/tcp/30303/p2p/12D3KooWExample', `0x02${'ab'.repeat(32)}`, `0x${'cd'.repeat(32)}`]))
  await measure('Registrar.verifyDelegate', () => m.registrar.send(clinic, 'verifyDelegate', [delegate.hex]))
  const summary = m.summary((await m.registrar.view('summaryOf', [patient.hex])).toLowerCase() as Hex)
  const endpoint = 'https://gk.general.example/fhir'
  const salt = `0x${'00'.repeat(32)}` as Hex
  const pprAddress = (await m.relationships.view('predictAddress', [hospital.hex, patient.hex, endpoint, salt])).toLowerCase() as Hex
  const tracked = [pprAddress, summary.address, RELATIONSHIPS_ADDRESS, REGISTRAR_ADDRESS] as const
  const before = await stateOf(m.vm, tracked)
  const created = await measure('Relationships.create (clones the PPR)', () => m.relationships.send(hospital, 'create', [patient.hex, endpoint, salt]))
  const ev = m.relationships.events(created)[0]
  if (ev?.eventName !== 'RelationshipCreated') throw new Error('no RelationshipCreated event')
  const ppr = m.ppr(ev.args.relationship.toLowerCase() as Hex)
  await measure('PPR.addPointer (first, with bounty)', () => ppr.send(hospital, 'addPointer', [QUERY, 3, hash('v1'), BOUNTY]))
  await measure('PPR.linkPatient (Summary entry added)', () => ppr.send(hospital, 'linkPatient', []))
  await measure('Summary.accept', () => summary.send(patient, 'accept', [ppr.address]))
  const after = await stateOf(m.vm, tracked)
  const onboarding = ['Registrar.register (creates the Summary)', 'Relationships.create (clones the PPR)', 'PPR.addPointer (first, with bounty)', 'PPR.linkPatient (Summary entry added)', 'Summary.accept'].reduce((n, op) => n + (gas.get(op) ?? 0n), 0n)
  rows.push({ metric: 'Onboarding one patient with one provider (register, create, first pointer, link, accept)', value: onboarding.toLocaleString('en-US') })
  const slots = after.slots - before.slots
  const accounts = after.accounts - before.accounts
  const codeBytes = after.codeBytes - before.codeBytes
  const bytes = slots * SLOT_BYTES + accounts * ACCOUNT_BYTES + codeBytes
  rows.push({ metric: `New state per relationship, bytes (model: ${slots} slots, ${accounts} account, ${codeBytes} bytes of code)`, value: bytes.toLocaleString('en-US') })
  await measure('PPR.addPointer (another, with bounty + update pending)', () => ppr.send(hospital, 'addPointer', [QUERY, 3, hash('v1b'), BOUNTY]))
  const acknowledged = await summary.send(patient, 'accept', [ppr.address])
  if (!acknowledged.ok) throw new Error(`acknowledging the new pointer reverted: ${revertName(acknowledged)}`)
  await measure('PPR.updatePointer (bounty + update pending)', () => ppr.send(hospital, 'updatePointer', [0n, hash('v2'), BOUNTY]))
  await measure('PPR.updatePointer (already pending)', () => ppr.send(hospital, 'updatePointer', [0n, hash('v3'), BOUNTY]))
  await measure('PPR.grant (1 pointer, viewer notified)', () => ppr.send(patient, 'grant', [viewer.hex, [0n], [0b101n], 2n ** 40n]))
  await measure('PPR.grant (2 pointers, replaces)', () => ppr.send(patient, 'grant', [viewer.hex, [0n, 1n], [0b111n, 0b001n], 0n]))
  await measure('PPR.grant (viewer without Summary)', () => ppr.send(patient, 'grant', [viewer2.hex, [0n], [1n], 0n]))
  await measure('PPR.setConsentRequired', () => ppr.send(hospital, 'setConsentRequired', [true]))
  await measure('PPR.approveGrant', () => ppr.send(hospital, 'approveGrant', [viewer.hex, 2n]))
  await measure('PPR.revoke', () => ppr.send(patient, 'revoke', [viewer2.hex]))
  await measure('PPR.setEndpoint', () => ppr.send(hospital, 'setEndpoint', ['https://gk2.general.example/fhir']))
  await measure('Summary.accept (acknowledge update)', () => summary.send(patient, 'accept', [ppr.address]))
  await measure('Summary.remove', () => summary.send(patient, 'remove', [ppr.address]))
  await measure('PPR.terminate', () => ppr.send(patient, 'terminate', []))
  await measure('Registrar.rebind (moves the Summary)', () => m.registrar.send(hospital, 'rebind', ['sha256:patient-id', viewer2.hex]))
  const read = await m.vm.call(viewer.address, ppr.address, encodeCall(patientProviderRelationshipAbi, 'canRead', [viewer.hex, 0n, 1n]))
  rows.push({ metric: 'PPR.canRead (eth_call, execution only)', value: read.gasUsed.toLocaleString('en-US') })
  return rows
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const rows = await runGasTable()
  if (process.argv.includes('--markdown')) {
    process.stdout.write('| Operation | Gas |\n|---|---:|\n' + rows.map((r) => `| ${r.metric} | ${r.value} |`).join('\n') + '\n')
  } else {
    for (const r of rows) process.stdout.write(`${r.metric.padEnd(46)} ${r.value.padStart(10)}\n`)
  }
}
