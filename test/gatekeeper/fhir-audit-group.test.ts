import t, { type Test } from 'tap'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DatabaseSync } from 'node:sqlite'
import { createAuditLog, type AuditEntry, type AuditInput } from '../../gatekeeper/audit.ts'
import { GatekeeperErrorCode } from '../../gatekeeper/errors.ts'

/**
 * The audit log's group commit (appendSoon), which the FHIR API's reads use: the entries asked
 * for in one event-loop turn are chained after the head and committed in one transaction; each
 * promise resolves only once its entry is committed (another connection sees it), and a failed
 * transaction rejects every entry of the turn and leaves none of them in the log.
 */

const REL = '0x00000000000000000000000000000000000000a1'
const ALICE = '0x00000000000000000000000000000000000000b1'

function entry(i: number): AuditInput {
  return { requester: ALICE, method: 'records', relationship: REL, patient: ALICE, pointerIds: [String(i)], fieldMasks: ['31'], decision: 'granted', reason: `FHIR read ${i}`, nonce: '', remote: '' }
}

function open(path: string, busyMs = 5000): DatabaseSync {
  const db = new DatabaseSync(path)
  db.exec(`PRAGMA journal_mode = WAL; PRAGMA busy_timeout = ${busyMs};`)
  return db
}

function files(t: Test) {
  const dir = mkdtempSync(join(tmpdir(), 'medrec-audit-group-'))
  const path = join(dir, 'state.db')
  const dbs: DatabaseSync[] = []
  t.teardown(() => {
    for (const db of dbs) if (db.isOpen) db.close()
    rmSync(dir, { recursive: true, force: true })
  })
  return (busyMs?: number) => {
    const db = open(path, busyMs)
    dbs.push(db)
    return db
  }
}

const rows = (db: DatabaseSync): number => Number(db.prepare('SELECT COUNT(*) AS n FROM audit_log').get()!.n)

t.test('one turn\'s entries: chained in order after the head, committed before any promise resolves', async (t) => {
  const connect = files(t)
  const log = createAuditLog(connect())
  const other = connect()
  log.append(entry(0))
  const seen: number[] = []
  const asked = Array.from({ length: 8 }, (_, i) =>
    log.appendSoon(entry(i + 1)).then((e) => {
      // Another connection (another process) already reads every entry of the turn.
      seen.push(rows(other))
      return e
    }),
  )
  t.equal(rows(other), 1, 'nothing of the turn is written while it runs')
  const got = await Promise.all(asked)
  t.same(got.map((e) => e.seq), [2, 3, 4, 5, 6, 7, 8, 9], 'seqs in the order asked')
  t.same(got.map((e) => e.pointerIds[0]), ['1', '2', '3', '4', '5', '6', '7', '8'])
  t.same(seen, Array(8).fill(9), 'each promise resolved with all 9 entries committed')
  t.equal(got[0]!.prevHash, log.at(1)!.hash, 'the turn continues the chain from its head')
  for (let i = 1; i < got.length; i++) t.equal(got[i]!.prevHash, got[i - 1]!.hash)
  t.same(log.verify(), { ok: true, count: 9 }, 'the chain verifies')
  t.same(log.at(9), got[7], 'what resolved is what is stored')
})

t.test('a synchronous append, and another connection\'s appends, between turns keep one chain', async (t) => {
  const connect = files(t)
  const a = createAuditLog(connect())
  // A second writer on the same file (another process appending to the same chain).
  const b = createAuditLog(connect())
  const first = a.appendSoon(entry(1))
  const now = a.append(entry(2))
  t.equal(now.seq, 1, 'the synchronous append commits at once')
  t.equal((await first).seq, 2, 'the turn chains after it')
  const fromB = b.appendSoon(entry(3))
  const fromA = a.appendSoon(entry(4))
  const [eb, ea] = await Promise.all([fromB, fromA])
  t.same([eb.seq, ea.seq].sort(), [3, 4], 'each turn reads the head under the write lock')
  t.same(a.verify(), { ok: true, count: 4 })
})

t.test('a failed commit rejects every entry of the turn and writes none of them', async (t) => {
  const connect = files(t)
  const log = createAuditLog(connect(0))
  log.append(entry(0))
  const locker = connect()
  locker.exec('BEGIN IMMEDIATE')
  const results = await Promise.allSettled([log.appendSoon(entry(1)), log.appendSoon(entry(2)), log.appendSoon(entry(3))])
  t.same(results.map((r) => r.status), ['rejected', 'rejected', 'rejected'])
  for (const r of results) t.match((r as PromiseRejectedResult).reason, { code: GatekeeperErrorCode.INTERNAL, message: /cannot append to the audit log/ })
  locker.exec('ROLLBACK')
  t.equal(rows(locker), 1, 'none of the turn is in the log')
  const next: AuditEntry = await log.appendSoon(entry(4))
  t.equal(next.seq, 2, 'the next turn continues from the committed head')
  t.same(log.verify(), { ok: true, count: 2 })
})

t.test('an entry that is not one is refused on its own; the rest of the turn is written', async (t) => {
  const connect = files(t)
  const log = createAuditLog(connect())
  const bad = log.appendSoon({ ...entry(1), decision: 'maybe' as 'granted' })
  const good = log.appendSoon(entry(2))
  await t.rejects(bad, { code: GatekeeperErrorCode.INTERNAL, message: /decision must be/ })
  t.equal((await good).seq, 1)
})
