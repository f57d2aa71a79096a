import t from 'tap'
import { chmodSync, existsSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { createRecordCache } from '../../gatekeeper/cache.ts'
import { openStateDb } from '../../gatekeeper/state.ts'
import { createSqliteRecordStore } from '../../gatekeeper/db/index.ts'
import type { FetchedPointer } from '../../gatekeeper/api.ts'
import { tempDir } from '../helpers/node-process.ts'

/**
 * The record cache at rest: owner-only files whatever the process umask, copies that end with
 * their grant (by the chain's clock, and checked again at every read), and deletions that leave
 * no copy of the values in the database file or its WAL.
 */

const VALUE = 'Quokka-5521 finding'
const pointer = (pointerId: number): FetchedPointer => ({
  pointerId,
  version: 1,
  fields: [0],
  status: 'verified',
  dataHash: `0x${'ab'.repeat(32)}`,
  bundle: { resourceType: 'Bundle', type: 'searchset', entry: [{ resource: { resourceType: 'Observation', id: `o${pointerId}`, code: { text: VALUE } } }] },
})
const REL = '0x00000000000000000000000000000000000000aa'
const mode = (path: string): number => statSync(path).mode & 0o777

t.test('state.sqlite and records.sqlite are 0600 with their side files, in a 0700 folder, under a loose umask', async (t) => {
  const dir = tempDir('medrec-cache-')
  t.teardown(() => dir.remove())
  const old = process.umask(0o022)
  t.teardown(() => void process.umask(old))
  const gk = join(dir.path, 'gatekeeper')
  const db = openStateDb(join(gk, 'state.sqlite'))
  createRecordCache(db).put(REL, pointer(0))
  t.equal(mode(gk), 0o700, 'the folder is owner-only')
  for (const f of ['state.sqlite', 'state.sqlite-wal', 'state.sqlite-shm']) t.equal(mode(join(gk, f)), 0o600, `${f} is owner-only`)
  db.close()
  const store = createSqliteRecordStore({ path: join(gk, 'records.sqlite') })
  store.upsertPatient({ resourceType: 'Patient', id: 'p1' }, 'someone')
  for (const f of ['records.sqlite', 'records.sqlite-wal']) t.equal(mode(join(gk, f)), 0o600, `${f} is owner-only`)
  await store.close()
  // Files left loose by an older version are tightened when opened.
  chmodSync(join(gk, 'state.sqlite'), 0o644)
  writeFileSync(join(gk, 'state.sqlite-journal'), '', { mode: 0o644 })
  chmodSync(join(gk, 'state.sqlite-journal'), 0o644)
  openStateDb(join(gk, 'state.sqlite')).close()
  t.equal(mode(join(gk, 'state.sqlite')), 0o600, 'a loose database is tightened')
  t.equal(mode(join(gk, 'state.sqlite-journal')), 0o600, 'and so is a leftover side file')
})

t.test('a copy held under a grant ends with it, and leaves nothing on disk', async (t) => {
  const dir = tempDir('medrec-cache-')
  t.teardown(() => dir.remove())
  const path = join(dir.path, 'state.sqlite')
  const db = openStateDb(path)
  t.teardown(() => db.close())
  const cache = createRecordCache(db)
  const onDisk = (): boolean => ['', '-wal'].some((s) => existsSync(path + s) && readFileSync(path + s).toString('latin1').includes(VALUE))
  const now = Math.floor(Date.now() / 1000)

  cache.put(REL, pointer(0), now - 1)
  t.ok(onDisk(), 'the stored copy is on disk')
  t.same(cache.of(REL), [], 'a copy whose grant expired (wall clock) is never returned, even before the watch saw a head')
  t.notOk(onDisk(), 'and reading it deleted it')

  cache.put(REL, pointer(0), now + 3600)
  t.equal(cache.of(REL).length, 1, 'a live grant: kept')
  t.equal(cache.advance(now + 3600), 1, 'a head at the expiry deletes it')
  t.same(cache.of(REL), [])
  t.same(cache.of(REL), [], 'the chain clock is remembered')

  const other = '0x00000000000000000000000000000000000000bb'
  cache.put(other, pointer(0))
  cache.put(other, pointer(1))
  cache.put(other, pointer(2))
  t.equal(cache.keepOnly(other, [1]), 2, 'a narrowed grant drops the pointers it no longer names')
  t.same(cache.of(other).map((p) => p.pointerId), [1])
  t.equal(cache.drop(other), 1, 'a revoked grant drops the rest')
  t.same(cache.of(other), [])
  t.notOk(onDisk(), 'no byte of any deleted copy is left in the database or its WAL')
  t.equal(cache.drop(other), 0, 'dropping nothing is a no-op')
})
