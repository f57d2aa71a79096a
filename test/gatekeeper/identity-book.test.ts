import t from 'tap'
import { join } from 'node:path'
import { GatekeeperErrorCode } from '../../gatekeeper/errors.ts'
import { createIdentityBook } from '../../gatekeeper/identity-book.ts'
import { openStateDb } from '../../gatekeeper/state.ts'

/**
 * The identity ↔ local patient book a PostgreSQL-backed gatekeeper keeps in its state file: one
 * identity per patient and one patient per identity, across restarts, and never contradicting the
 * bindings made before a move from the embedded store.
 */

t.test('one identity per patient, one patient per identity, kept across a restart', async (t) => {
  const path = join(t.testdir(), 'state.sqlite')
  let db = openStateDb(path)
  let book = createIdentityBook(db)
  book.bind('alice.lee', 'pat-alice')
  book.bind('alice.lee', 'pat-alice') // the same pair again: a no-op
  t.throws(() => book.bind('alice.other', 'pat-alice'), { code: GatekeeperErrorCode.BAD_REQUEST, message: /local patient "pat-alice" already has the MedRec identity "alice\.lee"/ }, 'a second identity for a patient')
  t.throws(() => book.bind('alice.lee', 'pat-mallory'), { code: GatekeeperErrorCode.BAD_REQUEST, message: /identity "alice\.lee" already belongs to local patient "pat-alice"/ }, "someone else's identity")
  t.throws(() => book.check('alice.lee', 'pat-mallory'), { code: GatekeeperErrorCode.BAD_REQUEST }, 'check refuses without writing')
  t.equal(book.identityOf('pat-mallory'), undefined, 'the refused bindings left nothing behind')
  // Keys are compared exactly: no case folding, no pattern matching.
  t.equal(book.patientOf('ALICE.LEE'), undefined)
  t.equal(book.patientOf('alice.%'), undefined)
  db.close()
  db = openStateDb(path)
  book = createIdentityBook(db)
  t.equal(book.patientOf('alice.lee'), 'pat-alice', 'durable')
  t.equal(book.identityOf('pat-alice'), 'alice.lee')
  db.close()
})

t.test("the embedded store's earlier bindings still hold and are never contradicted", async (t) => {
  const db = openStateDb(join(t.testdir(), 'state.sqlite'))
  t.teardown(() => db.close())
  const earlier = new Map([['bob.k', 'pat-bob']])
  const book = createIdentityBook(db, {
    patientOf: (identity) => earlier.get(identity),
    identityOf: (patientId) => [...earlier].find(([, p]) => p === patientId)?.[0],
  })
  t.equal(book.patientOf('bob.k'), 'pat-bob')
  t.equal(book.identityOf('pat-bob'), 'bob.k')
  t.throws(() => book.bind('bob.k2', 'pat-bob'), { message: /already has the MedRec identity "bob\.k"/ })
  t.throws(() => book.bind('bob.k', 'pat-eve'), { message: /identity "bob\.k" already belongs to local patient "pat-bob"/ })
  book.bind('bob.k', 'pat-bob')
  t.equal(book.patientOf('bob.k'), 'pat-bob')
})
