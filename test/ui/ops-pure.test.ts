import t from 'tap'
import type { BountyResult } from '../../gatekeeper/api.ts'
import { formatTick, niceTicks } from '../../ui/src/charts-scale.ts'
import { authorities, mayNextSeal, nextTurns, votesNeeded, type CliqueSnapshot } from '../../ui/src/screens/operator-clique.ts'
import { bountiesCsv, describeBountyQuery, groupLabel } from '../../ui/src/screens/researcher-csv.ts'

/**
 * The operator and researcher screens' pure parts (no browser): the CSV the researcher downloads,
 * bounty queries in words, EIP-225 sealing turns, chart ticks. The screens themselves run in a
 * real Chromium in app.test.ts.
 */

const result = (over: Partial<BountyResult>): BountyResult => ({
  index: 0,
  relationship: '0x00000000000000000000000000000000000000aa',
  provider: '0x00000000000000000000000000000000000000bb',
  k: 2,
  cells: [],
  suppressed: 0,
  computedAt: 1_800_000_000,
  signature: '0x',
  signer: '0x00000000000000000000000000000000000000bb',
  ...over,
})

t.test("the browser's CSV is byte for byte `medrec bounty export --csv`, also for hostile group values", async (t) => {
  // A provider's codes and displays are its own text: commas, quotes, line breaks and a formula
  // must stay inside their field, and a missing group key or a null value must not shift columns.
  const results = [
    result({
      index: 3,
      cells: [
        { group: { code: '8480-6', display: 'Systolic, "seated"' }, patients: 5, records: 9, value: 9 },
        { group: { code: 'a\r\nb', display: '=HYPERLINK("x")' }, patients: 2, records: 2, value: null },
      ],
    }),
    result({ index: 7, k: 5, cells: [{ group: { unit: 'mmHg' }, patients: 6, records: 6, value: 121.5 }] }),
    result({ index: 8, cells: [{ group: {}, patients: 3, records: 4, value: 4 }] }),
  ]
  const csv = bountiesCsv(results)
  const lines = csv.split('\r\n')
  t.equal(lines[0], 'index,relationship,provider,k,group.code,group.display,group.unit,patients,records,value')
  t.match(lines[1], /^3,.*,8480-6,"Systolic, ""seated""",,5,9,9$/, 'a comma and quotes stay in one quoted field')
  t.match(csv, /"a\r\nb"/, 'a line break inside a value is quoted, not a new row')
  t.match(lines.at(-2), /^8,.*,,,,3,4,4$/, 'an ungrouped cell leaves every group column empty')
  t.equal(bountiesCsv([]), 'index,relationship,provider,k,patients,records,value\r\n', 'nothing collected: the header only')
})

t.test('a bounty query in words; text that is not a query is quoted, never interpreted', async (t) => {
  t.equal(describeBountyQuery('{"aggregate":"count","groupBy":["code"],"resourceType":"Observation"}'), 'Number of Observation records, by code')
  t.equal(describeBountyQuery('{"aggregate":"mean","field":"valueQuantity","resourceType":"Observation","codeSystems":["loinc"]}'), 'Mean of Observation valueQuantity (codes from loinc)')
  t.equal(describeBountyQuery("SELECT * FROM patients; --"), 'unreadable query "SELECT * FROM patients; --"')
  t.equal(describeBountyQuery('null'), 'unreadable query "null"')
  t.equal(groupLabel({ unit: 'mmHg', code: '8480-6' }), 'code=8480-6, unit=mmHg')
  t.equal(groupLabel({ code: null }), 'code=(none)')
  t.equal(groupLabel({}), 'all records')
})

t.test('EIP-225 turns: block n is in turn for signers[n mod N] in address order; a recent sealer waits', async (t) => {
  const snap: CliqueSnapshot = {
    number: 10,
    hash: '0x',
    // Given unsorted and mixed case: turns follow ascending lower-case addresses.
    signers: { '0xCC00000000000000000000000000000000000000': {}, '0xaa00000000000000000000000000000000000000': {}, '0xbb00000000000000000000000000000000000000': {} },
    recents: { '9': '0xbb00000000000000000000000000000000000000', '10': '0xcc00000000000000000000000000000000000000' },
    votes: [],
    tally: {},
  }
  const s = authorities(snap)
  t.same(s, ['0xaa00000000000000000000000000000000000000', '0xbb00000000000000000000000000000000000000', '0xcc00000000000000000000000000000000000000'])
  t.same(
    nextTurns(s, 10, 3).map((x) => [x.block, x.signer.slice(0, 4)]),
    [
      [11, '0xcc'],
      [12, '0xaa'],
      [13, '0xbb'],
    ],
  )
  // N = 3: a signer may seal one of every floor(3/2)+1 = 2 consecutive blocks.
  t.equal(mayNextSeal(snap, s[2]!, 10), 12, 'sealed block 10: not 11, from 12')
  t.equal(mayNextSeal(snap, s[1]!, 10), undefined, 'sealed block 9: may seal 11')
  t.equal(mayNextSeal(snap, s[0]!, 10), undefined, 'not recent: may seal now')
  t.equal(votesNeeded(snap), 2, 'a strict majority of 3')
  t.equal(votesNeeded({ ...snap, signers: { a: {} } }), 1, 'a lone authority decides alone')
})

t.test('chart ticks: nice steps covering the data, labels without rounding noise', async (t) => {
  t.same(niceTicks(0, 9), [0, 2, 4, 6, 8, 10])
  t.same(niceTicks(-600, 0), [-600, -400, -200, 0])
  t.same(niceTicks(0, 0.3), [0, 0.1, 0.2, 0.3])
  t.same(niceTicks(5, 5), [5, 5.2, 5.4, 5.6, 5.8, 6], 'a flat series gets a range, not a zero division')
  t.same(niceTicks(0, Number.NaN), [0, 0.2, 0.4, 0.6, 0.8, 1])
  t.equal(formatTick(0.30000000000000004, 0.1), '0.3')
  t.equal(formatTick(25_000, 5_000), '25k')
  t.equal(formatTick(3_000_000, 1_000_000), '3M')
})
