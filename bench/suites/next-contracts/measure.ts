/**
 * Issue 23's numbers: gas per onboarding step (register, create the relationship, first pointer,
 * link, accept), bytes of new state, and the gatekeeper's per-request reads, for the live
 * contracts and each prototype design, on evm/'s standalone VM (signed transactions, receipt gas).
 *
 *   npx node bench/suites/next-contracts/measure.ts [--long]
 *
 * State bytes are a model, the same for every design: 64 bytes per storage slot (key hash and
 * value), 104 per account (key hash and its RLP: nonce, balance, storage root, code hash), and the
 * code's length (a clone's code differs by its arguments, so it is stored once per clone).
 * Trie branch nodes above the leaves are left out: they grow with log16 of the leaves and are the
 * same per leaf for every design.
 */
import { fileURLToPath } from 'node:url'
import { join, dirname } from 'node:path'
import { keccak256, toHex, type Hex } from 'viem'
import { AUTHORITY_SET_ADDRESS, REGISTRAR_ADDRESS, RELATIONSHIPS_ADDRESS } from '../../../contracts/index.ts'
import { actor, type Actor, type Outcome } from '../../../evm/index.ts'
import { accountState, createDesign, DESIGNS, PPR_IMPLEMENTATION, SUMMARY_IMPLEMENTATION, type Design, type DesignName } from './designs.ts'

export const QUERY = JSON.stringify({ resourceType: 'Observation', fields: ['code', 'valueQuantity', 'effectiveDateTime'], codeSystems: ['http://loinc.org'] })
export const BOUNTY = JSON.stringify({ aggregate: 'count', resourceType: 'Observation', groupBy: ['code'], k: 5 })
export const ENDPOINT = 'https://gk.general.example/fhir'
const hash = (s: string): Hex => keccak256(toHex(s))
const SLOT_BYTES = 64
const ACCOUNT_BYTES = 104

export interface Step {
  step: string
  gas: bigint
  slots: number
  accounts: number
  codeBytes: number
  /** The model's bytes of new state: 64 per slot, 104 per account, the code's length. */
  bytes: number
}

export interface Read {
  read: string
  gas: bigint
  accounts: number
  slots: number
}

export interface DesignReport {
  design: DesignName
  steps: Step[]
  reads: Read[]
}

type Tracked = Hex[]

async function snapshot(d: Design, addresses: Tracked) {
  return Promise.all(addresses.map((a) => accountState(d.vm, a)))
}

async function step(d: Design, name: string, addresses: () => Tracked, run: () => Promise<Outcome>): Promise<Step> {
  const before = await snapshot(d, addresses())
  const out = await run()
  if (!out.ok) throw new Error(`${d.name}: ${name} reverted (${out.returnData})`)
  const after = await snapshot(d, addresses())
  let slots = 0
  let accounts = 0
  let codeBytes = 0
  after.forEach((a, i) => {
    const b = before[i] ?? { exists: false, slots: 0, codeBytes: 0 }
    slots += a.slots - b.slots
    if (a.exists && !b.exists) {
      accounts += 1
      codeBytes += a.codeBytes
    }
  })
  return { step: name, gas: out.gasUsed, slots, accounts, codeBytes, bytes: slots * SLOT_BYTES + accounts * ACCOUNT_BYTES + codeBytes }
}

/** A call measured cold, as the first read after a new head: gas, and the accounts and slots it touched. */
async function read(d: Design, name: string, run: () => Promise<Outcome>): Promise<Read> {
  const journal = d.vm.vm.evm.journal
  journal.cleanJournal()
  journal.startReportingAccessList()
  const out = await run()
  if (!out.ok) throw new Error(`${d.name}: ${name} reverted (${out.returnData})`)
  const list = journal.accessList ?? new Map<string, Set<string>>()
  const slots = [...list.values()].reduce((n, s) => n + s.size, 0)
  journal.cleanJournal()
  return { read: name, gas: out.gasUsed, accounts: list.size, slots }
}

/**
 * One design's onboarding of a second patient (the first, onboarded before, pays the one-time
 * costs: the block author's first bounty, the provider's first relationship), then its reads.
 */
export async function measureDesign(name: DesignName, root: string, opts: { endpoint?: string; identity?: string } = {}): Promise<DesignReport> {
  const endpoint = opts.endpoint ?? ENDPOINT
  const identity = opts.identity ?? 'sha256:patient-id'
  const [hospital, clinic, first, patient, viewer] = ['hospital', 'clinic', 'first-patient', 'patient', 'viewer'].map(actor) as [Actor, Actor, Actor, Actor, Actor]
  const d = await createDesign(name, root, [hospital, clinic], [first, patient, viewer])
  d.vm.nextBlock({ coinbase: clinic.hex })
  const ok = (out: Outcome, what: string) => {
    if (!out.ok) throw new Error(`${name}: ${what} reverted (${out.returnData})`)
  }
  // warm-up: one patient onboarded before
  const w = await d.register(hospital, 'sha256:first-patient', first)
  ok(w.out, 'warm-up register')
  const wr = await d.create(hospital, first.hex, ENDPOINT, hash('salt-0'))
  ok(wr.out, 'warm-up create')
  ok(await d.addPointer(hospital, wr.relationship, QUERY, 3, hash('w'), BOUNTY), 'warm-up pointer')
  ok(await d.link(hospital, wr.relationship), 'warm-up link')
  ok(await d.accept(first, w.summary, wr.relationship), 'warm-up accept')
  ok((await d.register(hospital, 'sha256:viewer', viewer)).out, 'viewer')

  const system: Hex[] = [AUTHORITY_SET_ADDRESS, REGISTRAR_ADDRESS, RELATIONSHIPS_ADDRESS, PPR_IMPLEMENTATION, SUMMARY_IMPLEMENTATION]
  let summary: Hex | undefined
  let rel: Hex | undefined
  const tracked = () => [...system, ...(summary === undefined ? [] : [summary]), ...(rel === undefined ? [] : [rel])]
  const steps: Step[] = []
  steps.push(
    await step(d, 'register (creates the Summary)', tracked, async () => {
      const r = await d.register(hospital, identity, patient)
      summary = r.summary
      return r.out
    }),
  )
  // the new account appears only after create: track its address up front
  const predicted = await predictRelationship(d, hospital, patient, endpoint, hash('salt-1'))
  rel = predicted
  steps.push(
    await step(d, 'create the relationship', tracked, async () => {
      const r = await d.create(hospital, patient.hex, endpoint, hash('salt-1'))
      if (r.relationship !== predicted) throw new Error(`${name}: created ${r.relationship}, predicted ${predicted}`)
      return r.out
    }),
  )
  const s = summary as Hex
  steps.push(await step(d, 'first pointer (with bounty)', tracked, () => d.addPointer(hospital, predicted, QUERY, 3, hash('v1'), BOUNTY)))
  steps.push(await step(d, 'link (Summary entry)', tracked, () => d.link(hospital, predicted)))
  steps.push(await step(d, 'accept', tracked, () => d.accept(patient, s, predicted)))
  const extra: Step[] = []
  extra.push(await step(d, 'another pointer', tracked, () => d.addPointer(hospital, predicted, QUERY, 3, hash('v1b'), BOUNTY)))
  extra.push(await step(d, 'update a pointer (update pending)', tracked, () => d.updatePointer(hospital, predicted, 0n, hash('v2'), BOUNTY)))
  extra.push(await step(d, 'grant 1 pointer (viewer notified)', tracked, () => d.grant(patient, predicted, viewer.hex, [0n], [0b101n], 2n ** 40n)))
  const reads = [
    await read(d, 'canRead (patient)', () => d.canRead(predicted, patient.hex, 0n, 1n)),
    await read(d, 'canRead (viewer)', () => d.canRead(predicted, viewer.hex, 0n, 1n)),
    await read(d, 'pointer(0)', () => d.pointer(predicted, 0n)),
  ]
  return { design: name, steps: [...steps, ...extra], reads }
}

async function predictRelationship(d: Design, provider: Actor, patient: Actor, endpoint: string, salt: Hex): Promise<Hex> {
  if (d.name === 'records') return String(await d.view('relationships', RELATIONSHIPS_ADDRESS, 'relationshipId', [provider.hex, patient.hex, salt])).toLowerCase() as Hex
  return String(await d.view('relationships', RELATIONSHIPS_ADDRESS, 'predictAddress', [provider.hex, patient.hex, endpoint, salt])).toLowerCase() as Hex
}

export const ONBOARDING_STEPS = 5

/** `--long`: a 90-byte libp2p endpoint and a 71-character identity (both are kept in clone code, 200 gas a byte). */
export const LONG = { endpoint: `/dns4/gk.general.example/tcp/30303/p2p/12D3KooW${'x'.repeat(44)}`, identity: `sha256:${'ab'.repeat(32)}` }

function table(reports: DesignReport[]): string {
  const names = reports.map((r) => r.design)
  const lines = [`| step | ${names.map((n) => `${n} gas | ${n} state bytes (slots/accounts/code)`).join(' | ')} |`, `|---|${names.map(() => '---:|---:').join('|')}|`]
  const first = reports[0]
  if (first === undefined) return ''
  const row = (label: string, cells: string[]) => lines.push(`| ${label} | ${cells.join(' | ')} |`)
  first.steps.forEach((s, i) => {
    if (i === ONBOARDING_STEPS) {
      row('**onboarding total**', reports.map((r) => {
        const on = r.steps.slice(0, ONBOARDING_STEPS)
        return `**${on.reduce((n, x) => n + x.gas, 0n).toLocaleString('en-US')}** | **${on.reduce((n, x) => n + x.bytes, 0).toLocaleString('en-US')}**`
      }))
      row('of which per relationship (create..accept)', reports.map((r) => {
        const on = r.steps.slice(1, ONBOARDING_STEPS)
        return `${on.reduce((n, x) => n + x.gas, 0n).toLocaleString('en-US')} | ${on.reduce((n, x) => n + x.bytes, 0).toLocaleString('en-US')}`
      }))
    }
    row(s.step, reports.map((r) => {
      const x = r.steps[i]
      return x === undefined ? '' : `${x.gas.toLocaleString('en-US')} | ${x.bytes.toLocaleString('en-US')} (${x.slots}/${x.accounts}/${x.codeBytes})`
    }))
  })
  lines.push('', `| read (eth_call, cold) | ${names.map((n) => `${n} gas | ${n} accounts/slots`).join(' | ')} |`, `|---|${names.map(() => '---:|---:').join('|')}|`)
  first.reads.forEach((rd, i) => {
    row(rd.read, reports.map((r) => {
      const x = r.reads[i]
      return x === undefined ? '' : `${x.gas.toLocaleString('en-US')} | ${x.accounts}/${x.slots}`
    }))
  })
  return lines.join('\n') + '\n'
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const root = join(dirname(fileURLToPath(import.meta.url)), '../../..')
  const long = process.argv.includes('--long') ? LONG : {}
  const reports: DesignReport[] = []
  for (const name of DESIGNS) reports.push(await measureDesign(name, root, long))
  process.stdout.write(table(reports))
}
