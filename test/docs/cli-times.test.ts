import t from 'tap'
import { auditTable } from '../../cli/commands/patient.ts'
import { isoTime, isoTimeMs } from '../../cli/commands/shared.ts'
import { formatNotification } from '../../cli/commands/watch.ts'

/**
 * The gatekeeper stamps audit entries and notifications with Date.now() (unix milliseconds);
 * chain timestamps and grant expiries are unix seconds. Read as seconds, a 2026 millisecond
 * stamp printed the year 58902 (issue 18): every printed time must be this century.
 */
const MS = Date.parse('2026-12-07T04:12:24.789Z')

t.test('milliseconds and seconds print the same instant', async (t) => {
  t.equal(isoTimeMs(MS), '2026-12-07T04:12:24Z')
  t.equal(isoTime(Math.floor(MS / 1000)), '2026-12-07T04:12:24Z')
})

t.test('medrec watch prints a notification at its real time', async (t) => {
  const line = formatNotification({ id: 7, time: MS, kind: 'grant', relationship: '0x5fbdb2315678afecb367f032d93f642f64180aa3', message: 'shared with you' })
  t.match(line, /^2026-12-07T04:12:24Z  #7  grant  0x5fbdb2315678afecb367f032d93f642f64180aa3  shared with you$/)
  t.notMatch(line, /58\d{3}/, 'not the year 58902')
})

t.test('medrec patient audit prints entries at their real time', async (t) => {
  const table = auditTable([{ seq: 3, time: MS, requester: '0x70997970c51812dc3a010c7d01b50e0d17dc79c8', method: 'records', relationship: '0x5fbdb2315678afecb367f032d93f642f64180aa3', pointerIds: ['0'], fieldMasks: ['5'], decision: 'granted', reason: '', hash: '0x' + '11'.repeat(32), prevHash: '0x' + '22'.repeat(32), covered: true }])
  const [header, row] = table.split('\n')
  t.match(header, /^SEQ\s+TIME\s+REQUESTER/)
  t.match(row, /^3\s+2026-12-07T04:12:24Z\s+0x70997970/)
})
