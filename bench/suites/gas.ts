/**
 * Gas per MedRec contract operation, measured on the embedded EVM with signed transactions
 * (receipt gas: intrinsic + execution - refunds). `npm run bench -- gas`, or
 * `node bench/gas.ts --markdown` for the README's table.
 */
import { fileURLToPath } from 'node:url'
import { keccak256, toHex, type Hex } from 'viem'
import { encodeCall, patientProviderRelationshipAbi } from '../../contracts/index.ts'
import { actor, createMedRecVM, revertName, type Actor, type Outcome } from '../../contracts/vm.ts'
import type { Row } from './report.ts'

const QUERY = JSON.stringify({ resourceType: 'Observation', fields: ['code', 'valueQuantity', 'effectiveDateTime'], codeSystems: ['http://loinc.org'] })
const BOUNTY = JSON.stringify({ aggregate: 'count', resourceType: 'Observation', groupBy: ['code'], k: 5 })
const hash = (s: string): Hex => keccak256(toHex(s))

export async function runGasTable(): Promise<Row[]> {
  const [hospital, clinic, patient, viewer, viewer2, delegate] = ['hospital', 'clinic', 'patient', 'viewer', 'viewer2', 'delegate'].map(actor) as [Actor, Actor, Actor, Actor, Actor, Actor]
  const m = await createMedRecVM([hospital, clinic], [patient, viewer, viewer2, delegate])
  const rows: Row[] = []
  const measure = async (operation: string, run: () => Promise<Outcome>): Promise<Outcome> => {
    const out = await run()
    if (!out.ok) throw new Error(`${operation} reverted: ${revertName(out)}`)
    rows.push({ metric: operation, value: out.gasUsed.toLocaleString('en-US') })
    return out
  }

  await measure('Registrar.register (creates the Summary)', () => m.registrar.send(hospital, 'register', ['sha256:patient-id', patient.hex]))
  await m.register(hospital, 'viewer', viewer)
  await measure('Registrar.setProvider', () => m.registrar.send(hospital, 'setProvider', ['General Hospital', 'https://gk.general.example', '/dns4/gk.general.example/tcp/30303/p2p/12D3KooWExample', `0x02${'ab'.repeat(32)}`, `0x${'cd'.repeat(32)}`]))
  await measure('Registrar.verifyDelegate', () => m.registrar.send(clinic, 'verifyDelegate', [delegate.hex]))
  const summary = m.summary((await m.registrar.view('summaryOf', [patient.hex])).toLowerCase() as Hex)
  const created = await measure('Relationships.create (deploys the PPR)', () => m.relationships.send(hospital, 'create', [patient.hex, 'https://gk.general.example/fhir', `0x${'00'.repeat(32)}`]))
  const ev = m.relationships.events(created)[0]
  if (ev?.eventName !== 'RelationshipCreated') throw new Error('no RelationshipCreated event')
  const ppr = m.ppr(ev.args.relationship.toLowerCase() as Hex)
  await measure('PPR.addPointer (first, with bounty)', () => ppr.send(hospital, 'addPointer', [QUERY, 3, hash('v1'), BOUNTY]))
  await measure('PPR.addPointer (another, with bounty)', () => ppr.send(hospital, 'addPointer', [QUERY, 3, hash('v1b'), BOUNTY]))
  await measure('PPR.linkPatient (Summary entry added)', () => ppr.send(hospital, 'linkPatient', []))
  await measure('Summary.accept', () => summary.send(patient, 'accept', [ppr.address]))
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
