import t, { type Test } from 'tap'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DatabaseSync } from 'node:sqlite'
import { createNonceStore } from '../../gatekeeper/nonces.ts'
import { GatekeeperErrorCode } from '../../gatekeeper/errors.ts'

const A = '0x00000000000000000000000000000000000000a1'
const B = '0x00000000000000000000000000000000000000b2'
const nonce = (b: number): string => '0x' + b.toString(16).padStart(2, '0').repeat(32)

function tempDb(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'medrec-nonces-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return join(dir, 'state.db')
}
function open(path: string): DatabaseSync {
  const db = new DatabaseSync(path)
  db.exec('PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 5000;')
  return db
}

t.test('a nonce is used once per requester', async (t) => {
  const store = createNonceStore(new DatabaseSync(':memory:'))
  store.use(A, nonce(1), 100)
  t.throws(() => store.use(A, nonce(1), 100), { code: GatekeeperErrorCode.REPLAYED, message: /already used: sign a new request/ })
  store.use(A, nonce(0xab), 100)
  t.throws(() => store.use(A.toUpperCase().replace('0X', '0x'), nonce(0xab).toUpperCase().replace('0X', '0x'), 100), { code: GatekeeperErrorCode.REPLAYED }, 'the same nonce spelled in upper case')
  t.throws(() => store.use(A, nonce(1), 999), { code: GatekeeperErrorCode.REPLAYED }, 'a different expiry does not make it new')
  t.doesNotThrow(() => store.use(B, nonce(1), 100), 'another requester may pick the same nonce')
  t.doesNotThrow(() => store.use(A, nonce(2), 100))
  t.equal(store.count(), 4)
  t.throws(() => store.use(A, '0x1234', 100), { code: GatekeeperErrorCode.BAD_REQUEST, message: /32 bytes/ })
  t.throws(() => store.use('alice', nonce(3), 100), { code: GatekeeperErrorCode.BAD_REQUEST, message: /requester address/ })
  t.throws(() => store.use(A, nonce(3), 1.5), { code: GatekeeperErrorCode.BAD_REQUEST })
})

t.test('a restart still refuses a replay; two connections cannot both use a nonce', async (t) => {
  const path = tempDb(t)
  const db1 = open(path)
  createNonceStore(db1).use(A, nonce(7), 100)
  db1.close()
  const db2 = open(path)
  const reopened = createNonceStore(db2)
  t.throws(() => reopened.use(A, nonce(7), 100), { code: GatekeeperErrorCode.REPLAYED }, 'after reopening the database')
  const db3 = open(path)
  const other = createNonceStore(db3)
  reopened.use(A, nonce(8), 100)
  t.throws(() => other.use(A, nonce(8), 100), { code: GatekeeperErrorCode.REPLAYED }, 'used through another connection')
  db2.close()
  db3.close()
})

t.test('prune drops only entries whose expiry has passed', async (t) => {
  const store = createNonceStore(new DatabaseSync(':memory:'))
  store.use(A, nonce(1), 99)
  store.use(A, nonce(2), 100)
  store.use(A, nonce(3), 101)
  t.equal(store.prune(100), 1, 'expiry 99 < now 100')
  t.equal(store.count(), 2)
  t.throws(() => store.use(A, nonce(2), 100), { code: GatekeeperErrorCode.REPLAYED }, 'a request expiring now is still valid, so its nonce is kept')
  t.doesNotThrow(() => store.use(A, nonce(1), 99), 'a pruned nonce is forgotten (its request is refused as expired anyway)')
  t.equal(store.prune(1000), 3)
  t.equal(store.count(), 0)
})
