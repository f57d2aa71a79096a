import t from 'tap'
import { createHmac } from 'node:crypto'
import { keccak256, concat, toHex, type Address } from 'viem'
import { toData } from '../../common/index.ts'
import { buildProof, column, commitField, commitRecords, dataHash, fieldSalt, verifyRecords } from '../../gatekeeper/commitment.ts'
import { project, valueAt } from '../../gatekeeper/fhir-path.ts'
import type { FhirResource, FieldProof } from '../../gatekeeper/types.ts'
import { GatekeeperErrorCode } from '../../gatekeeper/errors.ts'

const REL = '0x00000000000000000000000000000000000000aa' as Address
const SECRET = new TextEncoder().encode('provider secret, 32 bytes or so.')

const obs = (id: string, value: number, status = 'final'): FhirResource => ({
  resourceType: 'Observation',
  id,
  status,
  subject: { reference: 'Patient/p1', display: 'Alice Example' },
  code: { coding: [{ system: 'http://loinc.org', code: '8867-4', display: 'Heart rate' }], text: 'HR' },
  category: [{ coding: [{ code: 'vital-signs' }], text: 'Vital' }, { coding: [{ code: 'exam' }, { code: 'x' }] }],
  valueQuantity: { value, unit: 'bpm', system: 'http://unitsofmeasure.org' },
  note: [{ text: 'patient anxious' }],
  _status: { extension: [{ url: 'secret-ext' }] },
})

t.test('valueAt follows dotted paths and collects over arrays', async (t) => {
  const r = obs('o1', 72)
  t.equal(valueAt(r, 'status'), 'final')
  t.equal(valueAt(r, 'valueQuantity.value'), 72)
  t.same(valueAt(r, 'code.coding'), r.code && (r.code as { coding: unknown }).coding, 'an array element is returned as is')
  t.same(valueAt(r, 'code.coding.code'), ['8867-4'], 'a segment past an array collects')
  t.same(valueAt(r, 'category.coding'), [{ code: 'vital-signs' }, { code: 'exam' }, { code: 'x' }], 'arrays flatten one level')
  t.same(valueAt(r, 'category.coding.code'), ['vital-signs', 'exam', 'x'])
  t.same(valueAt(r, 'category.text'), ['Vital'], 'elements lacking the segment are skipped')
  t.equal(valueAt(r, 'category.nothing'), undefined, 'an empty collection is absent')
  t.equal(valueAt(r, 'missing'), undefined)
  t.equal(valueAt(r, 'status.length'), undefined, 'no property of a primitive')
  t.equal(valueAt(r, 'constructor'), undefined, 'no prototype property')
  t.equal(valueAt(r, 'code.toString'), undefined)
  t.equal(valueAt({ resourceType: 'X', id: '1', a: null }, 'a'), undefined, 'null is absent')
})

/** Every leaf path of a JSON value, array indexes dropped (`category.coding.code`). */
function leafPaths(v: unknown, prefix = ''): string[] {
  if (Array.isArray(v)) return v.flatMap((el) => leafPaths(el, prefix))
  if (v !== null && typeof v === 'object') {
    const entries = Object.entries(v)
    if (entries.length === 0) return [prefix]
    return entries.flatMap(([k, x]) => leafPaths(x, prefix === '' ? k : `${prefix}.${k}`))
  }
  return [prefix]
}

t.test('projection keeps resourceType, id and the asked paths, and never anything else', async (t) => {
  const r = obs('o1', 72)
  const before = JSON.stringify(r)
  const pathSets: string[][] = [
    [],
    ['status'],
    ['valueQuantity.value'],
    ['code.coding.code'],
    ['code.text', 'code.coding.system'],
    ['category.coding.code'],
    ['category.text'],
    ['category'],
    ['code', 'code.text'],
    ['code.text', 'code'],
    ['subject.reference'],
    ['status', 'valueQuantity', 'note.text'],
    ['missing', 'status.length', 'constructor', 'valueQuantity.value.x'],
  ]
  for (const paths of pathSets) {
    const p = project(r, paths)
    t.equal(p.resourceType, 'Observation')
    t.equal(p.id, 'o1')
    const leaks = leafPaths(p).filter((leaf) => leaf !== 'resourceType' && leaf !== 'id' && !paths.some((asked) => leaf === asked || leaf.startsWith(asked + '.')))
    t.same(leaks, [], `only [${paths.join(', ')}]`)
    for (const path of paths) t.same(valueAt(p, path), valueAt(r, path), `valueAt(${path}) survives projection`)
    t.notOk(JSON.stringify(p).includes('Alice') && !paths.some((x) => x.startsWith('subject')), 'the display name never leaks')
    t.notOk(JSON.stringify(p).includes('secret-ext'), 'primitive extensions (_status) are not copied')
  }
  t.same(project(r, ['category.coding.code']).category, [{ coding: [{ code: 'vital-signs' }] }, { coding: [{ code: 'exam' }, { code: 'x' }] }], 'nested arrays rebuilt')
  t.same(project(r, ['category.text']).category, [{ text: 'Vital' }], 'array elements keeping nothing are dropped')
  t.same(project(r, ['code.text']), { resourceType: 'Observation', id: 'o1', code: { text: 'HR' } }, 'siblings on the way are not copied')

  const p = project(r, ['code', 'category'])
  ;(p.code as { text: string }).text = 'changed'
  ;(p.category as unknown[]).push('x')
  t.equal(JSON.stringify(r), before, 'the projection shares no object with the input')
})

const fields = ['status', 'valueQuantity.value', 'code.coding']
const records = [obs('o2', 80), obs('o1', 72), obs('o3', 65, 'amended')]

function subsets(n: number): number[][] {
  const out: number[][] = []
  for (let m = 0; m < 1 << n; m++) out.push([...Array(n).keys()].filter((i) => m & (1 << i)))
  return out
}

t.test('columns, salts and commitments follow the documented formulas', async (t) => {
  t.equal(column(records, 'valueQuantity.value'), '[["o1",72],["o2",80],["o3",65]]', 'sorted by id, canonical JSON')
  t.equal(column([...records, { resourceType: 'Observation', id: 'o0' }], 'status'), '[["o0",null],["o1","final"],["o2","final"],["o3","amended"]]', 'null where absent')
  t.equal(records[0]!.id, 'o2', 'column does not sort its input in place')

  const salt = fieldSalt(SECRET, REL, 5, 1, 2)
  const msg = Buffer.concat([Buffer.from(REL.slice(2), 'hex'), Buffer.from((5n).toString(16).padStart(64, '0'), 'hex'), Buffer.from([0, 0, 0, 1]), Buffer.from([2])])
  t.equal(toData(salt), '0x' + createHmac('sha256', SECRET).update(msg).digest('hex'), 'HMAC-SHA256(secret, rel ‖ uint256 pointerId ‖ uint32 version ‖ uint8 field)')
  t.not(toData(fieldSalt(SECRET, REL, 5, 1, 1)), toData(salt), 'per field')
  t.not(toData(fieldSalt(SECRET, REL, 6, 1, 2)), toData(salt), 'per pointer')
  t.not(toData(fieldSalt(SECRET, REL, 5, 2, 2)), toData(salt), 'per version: an old salt says nothing about a later version')
  t.not(toData(fieldSalt(SECRET, '0x00000000000000000000000000000000000000ab', 5, 1, 2)), toData(salt), 'per relationship')
  t.not(toData(fieldSalt(new Uint8Array(32), REL, 5, 1, 2)), toData(salt), 'per secret')
  t.equal(toData(fieldSalt(SECRET, REL.toUpperCase().replace('0X', '0x') as Address, 5, 1, 2)), toData(salt), 'address case does not matter')
  t.throws(() => fieldSalt(SECRET, REL, -1, 1, 0), { code: GatekeeperErrorCode.INTERNAL })
  t.throws(() => fieldSalt(SECRET, REL, 0, 1, 256), { code: GatekeeperErrorCode.INTERNAL })

  const col = column(records, 'status')
  t.equal(toData(commitField(salt, col)), keccak256(concat([toData(salt), toHex(col)])))
  const c = commitRecords(SECRET, REL, 5, 1, fields, records)
  t.equal(c.dataHash, keccak256(concat(c.commitments.map((x) => toData(x)))), 'dataHash = keccak(concat commitments)')
  t.equal(c.dataHash, dataHash(c.commitments))
  t.equal(commitRecords(SECRET, REL, 5, 1, fields, [...records].reverse()).dataHash, c.dataHash, 'independent of record order')
})

t.test('every subset of fields verifies against the on-chain hash', async (t) => {
  const { dataHash: onChain } = commitRecords(SECRET, REL, 3, 1, fields, records)
  for (const granted of subsets(fields.length)) {
    const { bundleResources, proof } = buildProof(SECRET, REL, 3, 1, fields, records, granted)
    t.same(Object.keys(proof.salts).sort(), granted.map(String), `salts of [${granted}] only`)
    t.equal(Object.keys(proof.commitments).length, fields.length - granted.length)
    const wire = JSON.parse(JSON.stringify({ bundleResources, proof })) as { bundleResources: FhirResource[]; proof: FieldProof }
    t.ok(verifyRecords({ fields, resources: wire.bundleResources, granted, proof: wire.proof, dataHash: onChain }), `granted [${granted}]`)
    const leaked = leafPaths(bundleResources).filter((l) => l !== 'resourceType' && l !== 'id' && !granted.some((g) => l === fields[g] || l.startsWith(fields[g] + '.')))
    t.same(leaked, [], 'the bundle carries only granted fields')
    t.notOk(JSON.stringify(bundleResources).includes('anxious'), 'an unqueried element never leaves')
  }
  t.same(buildProof(SECRET, REL, 3, 1, fields, records, []).bundleResources, [], 'nothing granted: not even ids are released')
  t.throws(() => buildProof(SECRET, REL, 3, 1, fields, records, [3]), { code: GatekeeperErrorCode.BAD_REQUEST }, 'a field beyond the query')
  t.throws(() => buildProof(SECRET, REL, 3, 1, fields, records, [1, 1]), { code: GatekeeperErrorCode.BAD_REQUEST })
})

t.test('every tampering is rejected', async (t) => {
  const { dataHash: onChain } = commitRecords(SECRET, REL, 3, 1, fields, records)
  const granted = [0, 1]
  const built = buildProof(SECRET, REL, 3, 1, fields, records, granted)
  const fresh = (): { resources: FhirResource[]; proof: FieldProof } => JSON.parse(JSON.stringify({ resources: built.bundleResources, proof: built.proof })) as { resources: FhirResource[]; proof: FieldProof }
  const check = (resources: unknown[], proof: unknown, g = granted, hash: string = onChain) => verifyRecords({ fields, resources, granted: g, proof, dataHash: hash })

  const base = fresh()
  t.ok(check(base.resources, base.proof), 'the untouched reply verifies')
  t.ok(check([...base.resources].reverse(), base.proof), 'record order does not matter')
  t.ok(check(base.resources, base.proof, granted, onChain.toUpperCase().replace('0X', '0x')), 'hash case does not matter')

  const cases: [string, (x: { resources: FhirResource[]; proof: FieldProof }) => { resources?: unknown[]; proof?: unknown; granted?: number[]; hash?: string }][] = [
    ['a changed value', (x) => ((x.resources[0]!.valueQuantity as { value: number }).value = 73, {})],
    ['a changed status', (x) => ((x.resources[1]!.status = 'preliminary'), {})],
    ['a value removed', (x) => (delete x.resources[0]!.status, {})],
    ['a changed id', (x) => ((x.resources[0]!.id = 'o9'), {})],
    ['an added record', (x) => ({ resources: [...x.resources, { resourceType: 'Observation', id: 'o4', status: 'final' }] })],
    ['a duplicated record', (x) => ({ resources: [...x.resources, x.resources[0]] })],
    ['a removed record', (x) => ({ resources: x.resources.slice(1) })],
    ['no records at all', () => ({ resources: [] })],
    ['a granted field without salt', (x) => (delete x.proof.salts['1'], {})],
    ['a withheld field claimed granted', () => ({ granted: [0, 1, 2] })],
    ['a granted field claimed withheld', () => ({ granted: [0] })],
    ['an extra salt', (x) => ((x.proof.salts['2'] = x.proof.commitments['2']!), {})],
    ['a missing commitment', (x) => (delete x.proof.commitments['2'], {})],
    ['an extra commitment', (x) => ((x.proof.commitments['0'] = x.proof.salts['0']!), {})],
    ['a commitment under a bogus index', (x) => ((x.proof.commitments['7'] = x.proof.commitments['2']!), {})],
    ['a wrong salt', (x) => ((x.proof.salts['0'] = '0x' + '00'.repeat(32)), {})],
    ['a wrong commitment', (x) => ((x.proof.commitments['2'] = '0x' + '11'.repeat(32)), {})],
    ['a short salt', (x) => ((x.proof.salts['0'] = x.proof.salts['0']!.slice(0, 40)), {})],
    ['an extra proof key', (x) => ({ proof: { ...x.proof, extra: {} } })],
    ['proof not an object', () => ({ proof: 'x' })],
    ['data of a withheld field added', (x) => ((x.resources[0]!.code = { coding: [{ code: '8867-4' }] }), {})],
    ['an element outside the query added', (x) => ((x.resources[0]!.note = [{ text: 'made up' }]), {})],
    ['a record that is not an object', (x) => ({ resources: [...x.resources.slice(1), 'o1'] })],
    ['another dataHash', () => ({ hash: keccak256('0x01') })],
    ['a malformed dataHash', () => ({ hash: '0x1234' })],
    ['a field index out of range', () => ({ granted: [0, 5] })],
  ]
  for (const [name, tamper] of cases) {
    const x = fresh()
    const o = tamper(x)
    t.notOk(check(o.resources ?? x.resources, o.proof ?? x.proof, o.granted ?? granted, o.hash ?? onChain), name)
  }
  const none = buildProof(SECRET, REL, 3, 1, fields, records, [])
  t.ok(verifyRecords({ fields, resources: [], granted: [], proof: none.proof, dataHash: onChain }), 'nothing granted, nothing sent: the commitments alone check out')
  t.notOk(verifyRecords({ fields, resources: [{ resourceType: 'Observation', id: 'o1' }], granted: [], proof: none.proof, dataHash: onChain }), 'records sent with no field granted')
})
