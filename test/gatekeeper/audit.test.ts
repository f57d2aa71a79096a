import t, { type Test } from 'tap'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DatabaseSync } from 'node:sqlite'
import { concat, keccak256, toHex } from 'viem'
import { AUDIT_GENESIS_HASH, createAuditLog, verifyAuditEntries, type AuditInput } from '../../gatekeeper/audit.ts'

const REL1 = '0x00000000000000000000000000000000000000a1'
const REL2 = '0x00000000000000000000000000000000000000a2'
const ALICE = '0x00000000000000000000000000000000000000b1'
const VIEWER = '0x00000000000000000000000000000000000000C3'

function entry(i: number, over: Partial<AuditInput> = {}): AuditInput {
  return {
    requester: i % 2 === 0 ? ALICE : VIEWER,
    method: 'records',
    relationship: i % 3 === 0 ? REL2 : REL1,
    patient: ALICE,
    pointerIds: [i],
    fieldMasks: ['0x3'],
    decision: i % 4 === 0 ? 'refused' : 'granted',
    reason: i % 4 === 0 ? 'FORBIDDEN: no grant' : 'ok',
    nonce: '0x' + i.toString(16).padStart(64, '0'),
    ...over,
  }
}

function open(path: string): DatabaseSync {
  const db = new DatabaseSync(path)
  db.exec('PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 5000;')
  return db
}

/** A log of `n` entries in a temp file, plus a second raw connection to tamper with it. */
function fixture(t: Test, n = 6) {
  const dir = mkdtempSync(join(tmpdir(), 'medrec-audit-'))
  const path = join(dir, 'state.db')
  const db = open(path)
  let clock = 1_700_000_000_000
  const log = createAuditLog(db, { now: () => clock++ })
  for (let i = 1; i <= n; i++) log.append(entry(i))
  const raw = open(path)
  t.teardown(() => {
    if (db.isOpen) db.close()
    raw.close()
    rmSync(dir, { recursive: true, force: true })
  })
  const unguard = () => raw.exec('DROP TRIGGER audit_log_no_update; DROP TRIGGER audit_log_no_delete;')
  return { db, path, log, raw, unguard }
}

t.test('entries are hash-chained from a zero genesis hash', async (t) => {
  const { log } = fixture(t, 0)
  t.same(log.head(), { seq: 0, hash: AUDIT_GENESIS_HASH })
  t.same(log.verify(), { ok: true, count: 0 })
  const first = log.append(entry(1))
  t.equal(first.seq, 1)
  t.equal(first.prevHash, AUDIT_GENESIS_HASH)
  t.equal(first.requester, VIEWER.toLowerCase(), 'addresses stored in lower case')
  const json = JSON.stringify({
    decision: 'granted', fieldMasks: ['0x3'], method: 'records', nonce: first.nonce, patient: ALICE, pointerIds: [1],
    reason: 'ok', relationship: REL1, requester: VIEWER.toLowerCase(), seq: 1, time: first.time,
  })
  t.equal(first.hash, keccak256(concat([AUDIT_GENESIS_HASH, toHex(json)])), 'hash = keccak(prevHash ‖ canonical JSON incl. seq and time)')
  const second = log.append(entry(2))
  t.equal(second.prevHash, first.hash)
  t.same(log.head(), { seq: 2, hash: second.hash })
  t.same(log.verify(), { ok: true, count: 2 })
  t.throws(() => log.append({ ...entry(3), decision: 'maybe' as 'granted' }), { code: 'INTERNAL' })
  t.throws(() => log.append({ ...entry(3), pointerIds: [-1] }), { code: 'INTERNAL' })
  t.equal(log.head().seq, 2, 'a refused append leaves nothing behind')
})

t.test('entries are filtered by relationship, requester, seq and limit', async (t) => {
  const { log } = fixture(t, 12)
  t.same(log.entries({ relationships: [REL2] }).map((e) => e.seq), [3, 6, 9, 12])
  t.same(log.entries({ relationships: [REL2.toUpperCase().replace('0X', '0x'), REL1] }).length, 12)
  t.same(log.entries({ relationships: [] }), [], 'an empty relationship list matches nothing')
  t.same(log.entries({ requester: VIEWER }).map((e) => e.seq), [1, 3, 5, 7, 9, 11])
  t.same(log.entries({ requester: ALICE, relationships: [REL2] }).map((e) => e.seq), [6, 12])
  t.same(log.entries({ fromSeq: 10 }).map((e) => e.seq), [10, 11, 12])
  t.same(log.entries({ limit: 2 }).map((e) => e.seq), [1, 2])
  t.same(log.entries({ relationships: ["' OR 1=1 --"] }), [], 'values are bound, never spliced into SQL')
  const e = log.entries({ fromSeq: 4, limit: 1 })[0]!
  t.same({ ...e }, { ...entry(4), requester: ALICE, seq: 4, time: e.time, prevHash: e.prevHash, hash: e.hash })
})

t.test('the database refuses UPDATE and DELETE', async (t) => {
  const { raw, log } = fixture(t, 3)
  t.throws(() => raw.exec("UPDATE audit_log SET entry = 'x' WHERE seq = 2"), /append-only/)
  t.throws(() => raw.exec('DELETE FROM audit_log WHERE seq = 3'), /append-only/)
  t.same(log.verify(), { ok: true, count: 3 })
})

t.test('verify finds edited, deleted and reordered rows, naming the first bad seq', async (t) => {
  t.test('an edited entry', async (t) => {
    const { raw, log, unguard } = fixture(t)
    unguard()
    const row = raw.prepare('SELECT entry FROM audit_log WHERE seq = 3').get() as { entry: string }
    raw.prepare('UPDATE audit_log SET entry = ? WHERE seq = 3').run(row.entry.replace('"reason":"ok"', '"reason":"OK"'))
    t.throws(() => log.verify(), { code: 'AUDIT_CORRUPT', message: /at seq 3: its hash does not match/ })
  })
  t.test('an edited index column (the entry left alone)', async (t) => {
    const { raw, log, unguard } = fixture(t)
    unguard()
    raw.prepare('UPDATE audit_log SET relationship = ? WHERE seq = 2').run(REL2)
    t.throws(() => log.verify(), { code: 'AUDIT_CORRUPT', message: /at seq 2: its indexed requester or relationship/ })
  })
  t.test('an edited entry with its own hash recomputed', async (t) => {
    const { raw, log, unguard } = fixture(t)
    unguard()
    const row = raw.prepare('SELECT entry, prev_hash FROM audit_log WHERE seq = 4').get() as { entry: string; prev_hash: string }
    const forged = row.entry.replace('"decision":"refused"', '"decision":"granted"')
    t.not(forged, row.entry)
    raw.prepare('UPDATE audit_log SET entry = ?, hash = ? WHERE seq = 4').run(forged, keccak256(concat([row.prev_hash as `0x${string}`, toHex(forged)])))
    t.throws(() => log.verify(), { code: 'AUDIT_CORRUPT', message: /at seq 5: its prevHash/ }, 'the next link breaks')
  })
  t.test('a deleted row', async (t) => {
    const { raw, log, unguard } = fixture(t)
    unguard()
    raw.exec('DELETE FROM audit_log WHERE seq = 2')
    t.throws(() => log.verify(), { code: 'AUDIT_CORRUPT', message: /at seq 2: rows 2..2 are missing/ })
  })
  t.test('a deleted and renumbered row', async (t) => {
    const { raw, log, unguard } = fixture(t)
    unguard()
    raw.exec('DELETE FROM audit_log WHERE seq = 2; UPDATE audit_log SET seq = seq - 1 WHERE seq > 2')
    t.throws(() => log.verify(), { code: 'AUDIT_CORRUPT', message: /at seq 2: its prevHash/ })
  })
  t.test('two rows swapped', async (t) => {
    const { raw, log, unguard } = fixture(t)
    unguard()
    raw.exec('UPDATE audit_log SET seq = -1 WHERE seq = 2; UPDATE audit_log SET seq = 2 WHERE seq = 3; UPDATE audit_log SET seq = 3 WHERE seq = -1')
    t.throws(() => log.verify(), { code: 'AUDIT_CORRUPT', message: /at seq 2:/ })
  })
  t.test('two rows with their contents swapped', async (t) => {
    const { raw, log, unguard } = fixture(t)
    unguard()
    const get = raw.prepare('SELECT time, requester, relationship, entry, prev_hash, hash FROM audit_log WHERE seq = ?')
    const set = raw.prepare('UPDATE audit_log SET time = ?, requester = ?, relationship = ?, entry = ?, prev_hash = ?, hash = ? WHERE seq = ?')
    const a = get.get(2) as Record<string, string | number>
    const b = get.get(3) as Record<string, string | number>
    const cols = (r: Record<string, string | number>) => [r.time!, r.requester!, r.relationship!, r.entry!, r.prev_hash!, r.hash!]
    set.run(...cols(b), 2)
    set.run(...cols(a), 3)
    t.throws(() => log.verify(), { code: 'AUDIT_CORRUPT', message: /at seq 2:/ })
  })
  t.test('removing the newest rows is caught against an anchored head', async (t) => {
    const { raw, log, unguard } = fixture(t)
    const anchor = log.head()
    unguard()
    raw.exec('DELETE FROM audit_log WHERE seq >= 5')
    t.same(log.verify(), { ok: true, count: 4 }, 'a shorter chain is self-consistent')
    t.throws(() => log.verify(anchor), { code: 'AUDIT_CORRUPT', message: /before the anchored head 6/ })
    t.throws(() => log.verify({ seq: 3, hash: anchor.hash }), { code: 'AUDIT_CORRUPT', message: /at seq 3: its hash differs from the anchored head/ })
  })
})

t.test('the chain survives a reopen and keeps growing', async (t) => {
  const { db, path, log } = fixture(t, 3)
  const head = log.head()
  db.close()
  const db2 = open(path)
  const again = createAuditLog(db2)
  t.same(again.head(), head)
  t.equal(again.append(entry(4)).prevHash, head.hash)
  t.same(again.verify(head), { ok: true, count: 4 })
  db2.close()
})

t.test('a patient checks its own entries with their hashes', async (t) => {
  const { log } = fixture(t, 12)
  const mine = log.entries({ relationships: [REL2] })
  t.equal(mine.length, 4)
  const wire = JSON.parse(JSON.stringify(mine)) as unknown[]
  t.ok(verifyAuditEntries(wire), 'non-consecutive entries verify one by one')
  t.ok(verifyAuditEntries(JSON.parse(JSON.stringify(log.entries())) as unknown[], log.head()), 'the whole log links up to the head')
  const proof = log.proofFor(mine)
  t.same(proof.head, log.head())
  t.same(proof.entries, mine)
  t.ok(verifyAuditEntries(proof.entries, proof.head))
  t.throws(() => log.proofFor([{ seq: 99 }]), { code: 'NOT_FOUND' })

  const tamper = (fn: (e: Record<string, unknown>[]) => void) => {
    const copy = JSON.parse(JSON.stringify(log.entries())) as Record<string, unknown>[]
    fn(copy)
    return verifyAuditEntries(copy)
  }
  t.notOk(tamper((e) => (e[2]!.decision = 'refused')), 'an edited decision')
  t.notOk(tamper((e) => (e[2]!.time = Number(e[2]!.time) + 1)), 'an edited time')
  t.notOk(tamper((e) => (e[2]!.pointerIds = [0])), 'an edited pointer list')
  t.notOk(tamper((e) => (e[2]!.extra = 'x')), 'an added field')
  t.notOk(tamper((e) => delete e[2]!.nonce), 'a removed field')
  t.notOk(tamper((e) => (e[2]!.prevHash = e[0]!.hash)), 'a relinked entry')
  t.notOk(tamper((e) => e.splice(3, 1, e[4]!)), 'a duplicated entry (out of order)')
  t.notOk(tamper((e) => e.reverse()), 'reordered entries')
  t.notOk(tamper((e) => (e[0]!.prevHash = e[1]!.hash)), 'a first entry not on the genesis hash')
  t.notOk(verifyAuditEntries(log.entries(), { seq: 12, hash: AUDIT_GENESIS_HASH }), 'a head that does not match')
  t.notOk(verifyAuditEntries([null]), 'garbage')
  t.notOk(verifyAuditEntries('x' as unknown as unknown[]), 'not an array')
})
