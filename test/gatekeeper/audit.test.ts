import t, { type Test } from 'tap'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DatabaseSync } from 'node:sqlite'
import { concat, keccak256, toHex } from 'viem'
import { AUDIT_GENESIS_HASH, auditCommitment, auditHash, checkAuditView, createAuditLog, type AuditInput } from '../../gatekeeper/audit.ts'
import { GatekeeperErrorCode } from '../../gatekeeper/errors.ts'

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
    pointerIds: [String(i)],
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

type RawRow = { seq: number; entry: string; salt: string }

/**
 * What an insider with the database does after tampering: renumber every row and recompute each
 * entry's seq, commitment and hash, so the provider's own `verify()` finds nothing wrong.
 */
function rechain(raw: DatabaseSync): void {
  const rows = raw.prepare('SELECT seq, entry, salt FROM audit_log ORDER BY seq').all() as unknown as RawRow[]
  raw.exec('DELETE FROM audit_log')
  const ins = raw.prepare('INSERT INTO audit_log (seq, time, requester, relationship, entry, salt, commitment, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)')
  let prev: string = AUDIT_GENESIS_HASH
  rows.forEach((r, i) => {
    const body = JSON.parse(r.entry) as Record<string, unknown>
    body.seq = i + 1
    const json = JSON.stringify(Object.fromEntries(Object.entries(body).sort(([a], [b]) => (a < b ? -1 : 1))))
    const commitment = auditCommitment(r.salt, json)
    const hash = auditHash(prev, commitment)
    ins.run(i + 1, body.time as number, body.requester as string, body.relationship as string, json, r.salt, commitment, prev, hash)
    prev = hash
  })
}

t.test('entries are salted commitments hash-chained from a zero genesis hash', async (t) => {
  const { log } = fixture(t, 0)
  t.same(log.head(), { seq: 0, hash: AUDIT_GENESIS_HASH })
  t.same(log.verify(), { ok: true, count: 0 })
  const first = log.append(entry(1))
  t.equal(first.seq, 1)
  t.equal(first.prevHash, AUDIT_GENESIS_HASH)
  t.equal(first.requester, VIEWER.toLowerCase(), 'addresses stored in lower case')
  const json = JSON.stringify({
    decision: 'granted', fieldMasks: ['0x3'], method: 'records', nonce: first.nonce, patient: ALICE, pointerIds: ['1'],
    reason: 'ok', relationship: REL1, remote: '', requester: VIEWER.toLowerCase(), seq: 1, time: first.time,
  })
  t.match(first.salt, /^0x[0-9a-f]{64}$/)
  t.equal(first.commitment, keccak256(concat([first.salt as `0x${string}`, toHex(json)])), 'commitment = keccak(salt ‖ canonical JSON incl. seq and time)')
  t.equal(first.hash, keccak256(concat([AUDIT_GENESIS_HASH, first.commitment as `0x${string}`])), 'hash = keccak(prevHash ‖ commitment)')
  const second = log.append(entry(2, { pointerIds: [String(2n ** 256n - 1n)] }))
  t.equal(second.prevHash, first.hash)
  t.not(second.salt, first.salt, 'a fresh salt per entry')
  t.same(second.pointerIds, [String(2n ** 256n - 1n)], 'any uint256 pointer id is recorded')
  t.same(log.head(), { seq: 2, hash: second.hash })
  t.same(log.verify(), { ok: true, count: 2 })
  t.throws(() => log.append({ ...entry(3), decision: 'maybe' as 'granted' }), { code: GatekeeperErrorCode.INTERNAL })
  t.throws(() => log.append({ ...entry(3), pointerIds: ['-1'] }), { code: GatekeeperErrorCode.INTERNAL })
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
  t.same({ ...e }, { ...entry(4), requester: ALICE, remote: '', seq: 4, time: e.time, salt: e.salt, commitment: e.commitment, prevHash: e.prevHash, hash: e.hash })
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
    t.throws(() => log.verify(), { code: GatekeeperErrorCode.AUDIT_CORRUPT, message: /at seq 3: its commitment does not match/ })
  })
  t.test('an edited index column (the entry left alone)', async (t) => {
    const { raw, log, unguard } = fixture(t)
    unguard()
    raw.prepare('UPDATE audit_log SET relationship = ? WHERE seq = 2').run(REL2)
    t.throws(() => log.verify(), { code: GatekeeperErrorCode.AUDIT_CORRUPT, message: /at seq 2: its indexed requester or relationship/ })
  })
  t.test('an edited entry with its own commitment and hash recomputed', async (t) => {
    const { raw, log, unguard } = fixture(t)
    unguard()
    const row = raw.prepare('SELECT entry, salt, prev_hash FROM audit_log WHERE seq = 4').get() as { entry: string; salt: string; prev_hash: string }
    const forged = row.entry.replace('"decision":"refused"', '"decision":"granted"')
    t.not(forged, row.entry)
    const c = auditCommitment(row.salt, forged)
    raw.prepare('UPDATE audit_log SET entry = ?, commitment = ?, hash = ? WHERE seq = 4').run(forged, c, auditHash(row.prev_hash, c))
    t.throws(() => log.verify(), { code: GatekeeperErrorCode.AUDIT_CORRUPT, message: /at seq 5: its prevHash/ }, 'the next link breaks')
  })
  t.test('a deleted row', async (t) => {
    const { raw, log, unguard } = fixture(t)
    unguard()
    raw.exec('DELETE FROM audit_log WHERE seq = 2')
    t.throws(() => log.verify(), { code: GatekeeperErrorCode.AUDIT_CORRUPT, message: /at seq 2: rows 2..2 are missing/ })
  })
  t.test('a deleted and renumbered row', async (t) => {
    const { raw, log, unguard } = fixture(t)
    unguard()
    raw.exec('DELETE FROM audit_log WHERE seq = 2; UPDATE audit_log SET seq = seq - 1 WHERE seq > 2')
    t.throws(() => log.verify(), { code: GatekeeperErrorCode.AUDIT_CORRUPT, message: /at seq 2: its prevHash/ })
  })
  t.test('two rows swapped', async (t) => {
    const { raw, log, unguard } = fixture(t)
    unguard()
    raw.exec('UPDATE audit_log SET seq = -1 WHERE seq = 2; UPDATE audit_log SET seq = 2 WHERE seq = 3; UPDATE audit_log SET seq = 3 WHERE seq = -1')
    t.throws(() => log.verify(), { code: GatekeeperErrorCode.AUDIT_CORRUPT, message: /at seq 2:/ })
  })
  t.test('two rows with their contents swapped', async (t) => {
    const { raw, log, unguard } = fixture(t)
    unguard()
    const get = raw.prepare('SELECT time, requester, relationship, entry, salt, commitment, prev_hash, hash FROM audit_log WHERE seq = ?')
    const set = raw.prepare('UPDATE audit_log SET time = ?, requester = ?, relationship = ?, entry = ?, salt = ?, commitment = ?, prev_hash = ?, hash = ? WHERE seq = ?')
    const a = get.get(2) as Record<string, string | number>
    const b = get.get(3) as Record<string, string | number>
    const cols = (r: Record<string, string | number>) => [r.time!, r.requester!, r.relationship!, r.entry!, r.salt!, r.commitment!, r.prev_hash!, r.hash!]
    set.run(...cols(b), 2)
    set.run(...cols(a), 3)
    t.throws(() => log.verify(), { code: GatekeeperErrorCode.AUDIT_CORRUPT, message: /at seq 2:/ })
  })
  t.test('removing the newest rows, or re-chaining, is caught against an anchored head', async (t) => {
    const { raw, log, unguard } = fixture(t)
    const anchor = log.head()
    unguard()
    raw.exec('DELETE FROM audit_log WHERE seq >= 5')
    t.same(log.verify(), { ok: true, count: 4 }, 'a shorter chain is self-consistent')
    t.throws(() => log.verify(anchor), { code: GatekeeperErrorCode.AUDIT_CORRUPT, message: /before the anchored head 6/ })
    t.throws(() => log.verify({ seq: 3, hash: anchor.hash }), { code: GatekeeperErrorCode.AUDIT_CORRUPT, message: /at seq 3: its hash differs from the anchored head/ })
  })
})

t.test('verify from an entry checked before covers only what is new (the anchoring cost)', async (t) => {
  const { raw, log, unguard } = fixture(t)
  const at3 = log.at(3)!
  t.same(log.verify(undefined, { seq: 3, hash: at3.hash }), { ok: true, count: 3 })
  unguard()
  const row = raw.prepare('SELECT entry FROM audit_log WHERE seq = 5').get() as { entry: string }
  raw.prepare('UPDATE audit_log SET entry = ? WHERE seq = 5').run(row.entry.replace('"reason":"ok"', '"reason":"OK"'))
  t.throws(() => log.verify(undefined, { seq: 3, hash: at3.hash }), { code: GatekeeperErrorCode.AUDIT_CORRUPT, message: /at seq 5/ })
  t.throws(() => log.verify(undefined, { seq: 3, hash: AUDIT_GENESIS_HASH }), { code: GatekeeperErrorCode.AUDIT_CORRUPT, message: /at seq 3: its hash is no longer/ }, 'the starting point itself is checked')
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

t.test('the provider-only log is a separate chain', async (t) => {
  const { db, log } = fixture(t, 3)
  const priv = createAuditLog(db, { table: 'audit_provider' })
  t.same(priv.head(), { seq: 0, hash: AUDIT_GENESIS_HASH })
  priv.append(entry(1, { requester: 'unverified:' + ALICE, relationship: REL2, remote: '192.0.2.1' }))
  t.equal(priv.entries()[0]!.remote, '192.0.2.1')
  t.equal(log.head().seq, 3, "the patients' log is untouched")
  t.same(log.view([REL2]).entries.map((e) => e.seq), [3], 'and its view holds none of the provider-only entries')
})

t.test("a patient checks the whole chain against the anchor while seeing only her entries", async (t) => {
  t.test('an honest log verifies; entries after the anchor are not covered', async (t) => {
    const { log } = fixture(t, 12)
    const anchor = log.at(9)!
    const view = JSON.parse(JSON.stringify(log.view([REL2])))
    t.same(view.entries.map((e: { seq: number }) => e.seq), [3, 6, 9, 12], 'only her entries are opened')
    t.equal(view.commitments.length, 12, 'every other entry is a bare commitment')
    const text = JSON.stringify(view)
    t.ok([1, 2, 4, 5, 7, 8, 10, 11].every((i) => !text.includes(entry(i).nonce.slice(2))), 'nothing of the other entries leaks (their nonces are nowhere in the view)')
    const check = checkAuditView(view, { seq: anchor.seq, hash: anchor.hash })
    t.equal(check.linked, true, check.problem)
    t.equal(check.anchor, 'verified')
    t.same(check.coveredSeqs, [3, 6, 9], 'entries up to the anchor are covered; #12 is not')
    t.equal(checkAuditView(view, undefined).anchor, 'none', 'no anchor: nothing covered')
  })
  t.test("a reader's entry dropped and the chain recomputed: NOT matching the anchor", async (t) => {
    const { log, raw, unguard } = fixture(t, 12)
    const anchor = log.head()
    unguard()
    raw.exec('DELETE FROM audit_log WHERE seq = 6')
    rechain(raw)
    t.same(log.verify(), { ok: true, count: 11 }, 'the rewritten log is self-consistent: only the anchor can tell')
    const check = checkAuditView(JSON.parse(JSON.stringify(log.view([REL2]))), anchor)
    t.equal(check.linked, true, 'the rewrite links up')
    t.equal(check.anchor, 'mismatch', 'but does not end in the anchored head')
  })
  t.test('an entry edited and the chain recomputed: NOT matching the anchor', async (t) => {
    const { log, raw, unguard } = fixture(t, 12)
    const anchor = log.at(10)!
    unguard()
    const row = raw.prepare('SELECT entry FROM audit_log WHERE seq = 8').get() as { entry: string }
    raw.prepare('UPDATE audit_log SET entry = ? WHERE seq = 8').run(row.entry.replace('"decision":"refused"', '"decision":"granted"'))
    rechain(raw)
    t.same(log.verify(), { ok: true, count: 12 })
    const check = checkAuditView(JSON.parse(JSON.stringify(log.view([REL2]))), { seq: anchor.seq, hash: anchor.hash })
    t.equal(check.anchor, 'mismatch', "an edit of another reader's entry shows too")
  })
  t.test('an edit the gatekeeper did not re-chain, or a tampered view, does not link', async (t) => {
    const { log } = fixture(t, 12)
    const anchor = log.head()
    const fresh = () => JSON.parse(JSON.stringify(log.view([REL2]))) as { entries: Record<string, unknown>[]; commitments: string[]; head: { seq: number } }
    const tamper = (fn: (v: ReturnType<typeof fresh>) => void) => {
      const v = fresh()
      fn(v)
      return checkAuditView(v, anchor)
    }
    t.equal(checkAuditView(fresh(), anchor).anchor, 'verified')
    t.notOk(tamper((v) => (v.entries[1]!.decision = 'refused')).linked, 'an edited decision')
    t.notOk(tamper((v) => (v.entries[1]!.time = Number(v.entries[1]!.time) + 1)).linked, 'an edited time')
    t.notOk(tamper((v) => (v.entries[1]!.extra = 'x')).linked, 'an added field')
    t.notOk(tamper((v) => v.commitments.splice(4, 1)).linked, 'a dropped commitment')
    t.notOk(tamper((v) => (v.commitments[4] = v.commitments[5]!)).linked, 'a replaced commitment')
    t.equal(tamper((v) => v.entries.splice(1, 1)).anchor, 'verified', 'an entry left out of the view is a limit (see the notes): the chain still matches')
    t.notOk(checkAuditView(null, anchor).linked, 'garbage')
    t.equal(checkAuditView(fresh(), { seq: 13, hash: anchor.hash }).anchor, 'mismatch', 'an anchor past the head: rows were removed')
  })
})

t.test('a format-1 log is migrated: old rows kept apart, seqs continue from their head', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'medrec-audit-v1-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const makeV1 = (path: string, corrupt: boolean) => {
    const db = open(path)
    db.exec(`CREATE TABLE audit_log (seq INTEGER PRIMARY KEY, time INTEGER NOT NULL, requester TEXT NOT NULL, relationship TEXT NOT NULL, entry TEXT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL) STRICT;
      CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
      CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;`)
    let prev: string = AUDIT_GENESIS_HASH
    for (let i = 1; i <= 3; i++) {
      const json = JSON.stringify({ seq: i, time: i })
      const hash = keccak256(concat([prev as `0x${string}`, toHex(corrupt && i === 2 ? json + ' ' : json)]))
      db.prepare('INSERT INTO audit_log VALUES (?, ?, ?, ?, ?, ?, ?)').run(i, i, '', '', json, prev, hash)
      prev = hash
    }
    return { db, head: prev }
  }
  const { db, head } = makeV1(join(dir, 'ok.db'), false)
  const log = createAuditLog(db)
  t.same(log.base(), { seq: 3, hash: head })
  const next = log.append(entry(4))
  t.equal(next.seq, 4, 'seqs keep growing, so the Registrar takes the next anchor')
  t.equal(next.prevHash, head, 'the new chain starts at the old head')
  t.same(log.verify(), { ok: true, count: 1 })
  t.equal((db.prepare('SELECT COUNT(*) AS n FROM audit_log_v1').get() as { n: number }).n, 3, 'the old rows are kept')
  t.throws(() => db.exec('DELETE FROM audit_log_v1'), /append-only/, 'and still append-only')
  const check = checkAuditView(JSON.parse(JSON.stringify(log.view([REL1]))), { seq: 4, hash: next.hash })
  t.equal(check.anchor, 'verified')
  db.close()
  t.same(createAuditLog(open(join(dir, 'ok.db'))).base(), { seq: 3, hash: head }, 'the base is remembered')

  const bad = makeV1(join(dir, 'bad.db'), true)
  t.throws(() => createAuditLog(bad.db), { code: GatekeeperErrorCode.AUDIT_CORRUPT, message: /old format \(1\) and corrupt at seq 2/ })
  bad.db.close()
})

t.test('delegate chains: one per account in audit_delegates, each from seq 1, checked and viewed on its own', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'medrec-audit-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const path = join(dir, 'state.db')
  const db = open(path)
  t.teardown(() => db.close())
  const D1 = '0x00000000000000000000000000000000000000D1'
  const D2 = '0x00000000000000000000000000000000000000d2'
  const own = createAuditLog(db)
  const d1 = createAuditLog(db, { table: 'audit_delegates', chain: D1 })
  const d2 = createAuditLog(db, { table: 'audit_delegates', chain: D2 })
  own.append(entry(1))
  for (let i = 1; i <= 3; i++) d1.append(entry(i, { relationship: REL1 }))
  d2.append(entry(9, { relationship: REL2 }))
  t.same([own.head().seq, d1.head().seq, d2.head().seq], [1, 3, 1], 'each chain counts its own seqs (the Registrar keeps one anchored seq per account)')
  t.not(d1.at(1)!.hash, d2.at(1)!.hash, 'no hash is shared between chains: an anchor names one account only')
  t.same(d1.verify(d1.head()), { ok: true, count: 3 })
  const view = d2.view([REL2])
  t.equal(view.commitments.length, 1, "a delegate's patient sees the commitments of that delegate's chain only")
  t.equal(checkAuditView(view, d2.head()).anchor, 'verified')
  t.same(d1.view([REL2]).entries, [], "another chain's entries are never opened")
  // Reopened: the same chains, still append-only.
  const again = createAuditLog(db, { table: 'audit_delegates', chain: D1.toLowerCase() })
  t.same(again.head(), d1.head(), 'reopened by address, any case')
  t.throws(() => db.prepare("UPDATE audit_delegates SET entry = '{}' WHERE seq = 1").run(), /append-only/, 'append-only like the other logs')
  // An insider who rewrites one delegate's chain is caught against that delegate's anchor.
  const anchored = d1.head()
  db.exec('DROP TRIGGER audit_delegates_no_delete')
  db.prepare('DELETE FROM audit_delegates WHERE chain = ? AND seq = 3').run(D1.toLowerCase())
  t.throws(() => d1.verify(anchored), { code: GatekeeperErrorCode.AUDIT_CORRUPT }, 'a dropped entry is found')
  t.same(d2.verify(d2.head()), { ok: true, count: 1 }, 'the other chain is untouched')
  t.throws(() => createAuditLog(db, { table: 'audit_delegates' }), /needs the delegate's address/)
  t.throws(() => createAuditLog(db, { chain: D1 }), /only audit_delegates/)
})
