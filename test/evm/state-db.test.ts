import t, { type Test } from 'tap'
import { Level } from 'level'
import { CleanCache, TrieLevelAdapter, type BytesLevel } from '../../evm/state-db.ts'
import { YIELD_EVERY_MS } from '../../evm/yield.ts'
import { tempDir } from '../helpers/node-process.ts'

const b = (s: string) => new TextEncoder().encode(s)
const text = (v: unknown) => new TextDecoder().decode(v as Uint8Array)

/** A real LevelDB that counts the reads reaching it. */
async function countingLevel(t: Test) {
  const dir = tempDir()
  const db = new Level<Uint8Array, Uint8Array>(dir.path, { keyEncoding: 'view', valueEncoding: 'view' })
  await db.open()
  t.teardown(async () => (await db.close(), dir.remove()))
  const reads = { n: 0 }
  const level: BytesLevel = {
    get: async (k) => {
      reads.n++
      return db.get(k)
    },
  }
  return { db, level, reads }
}

t.test('the clean cache keeps at most two generations and promotes what is read', async (t) => {
  const c = new CleanCache(2 * 100)
  c.set('a', new Uint8Array(40))
  c.set('b', new Uint8Array(40))
  t.ok(c.get('a') !== undefined && c.get('b') !== undefined)
  c.set('c', new Uint8Array(40)) // young is over 100 bytes: a, b, c become the old generation
  t.ok(c.get('a') !== undefined, 'a read moves a into the young generation')
  c.set('d', new Uint8Array(90)) // young over again: old = {a, d}; b and c are dropped
  t.equal(c.get('b'), undefined, 'b was dropped')
  t.equal(c.get('c'), undefined, 'c was dropped')
  t.ok(c.get('a') !== undefined && c.get('d') !== undefined)
  c.delete('a')
  t.equal(c.get('a'), undefined)
})

t.test('reads are served from the cache; flushed writes and deletes keep it equal to LevelDB', async (t) => {
  const { db, level, reads } = await countingLevel(t)
  await db.put(b('k1'), b('v1'))
  const a = new TrieLevelAdapter(level)
  const copy = a.shallowCopy()
  t.equal(text(await a.get(b('k1'))), 'v1')
  t.equal(text(await a.get(b('k1'))), 'v1')
  t.equal(text(await copy.get(b('k1'))), 'v1', 'a shallow copy shares the cache')
  t.equal(reads.n, 1, 'LevelDB was read once')
  t.equal(await a.get(b('missing')), undefined)
  t.equal(await a.get(b('missing')), undefined)
  t.equal(reads.n, 3, 'absent keys are not cached (a later write must be seen)')

  // A block's writes: readable from the overlay, then drained into LevelDB and flushed.
  await a.put(b('k2'), b('v2'))
  await a.del(b('k1'))
  t.equal(text(await a.get(b('k2'))), 'v2')
  t.equal(await a.get(b('k1')), undefined, 'a pending delete hides the cached value')
  const writes = a.drain()
  await db.batch(writes.map((w) => (w.value === undefined ? { type: 'del' as const, key: w.key } : { type: 'put' as const, key: w.key, value: w.value })))
  a.flushed()
  const before = reads.n
  t.equal(text(await a.get(b('k2'))), 'v2', 'a flushed write is cached')
  t.equal(await a.get(b('k1')), undefined, 'a flushed delete left the cache')
  t.equal(reads.n, before + 1, 'only the deleted key went to LevelDB')
})

t.test('a LevelDB read that spans a flush is not cached', async (t) => {
  const { db } = await countingLevel(t)
  await db.put(b('k'), b('old'))
  let release!: () => void
  const gate = new Promise<void>((r) => (release = r))
  // LevelDB answers with what it held when the read began, after the block below is flushed.
  const slow: BytesLevel = {
    get: async (k) => {
      const v = await db.get(k)
      await gate
      return v
    },
  }
  const a = new TrieLevelAdapter(slow)
  const racing = a.get(b('k'))
  await new Promise((r) => setTimeout(r, 5))
  await a.del(b('k'))
  const writes = a.drain()
  await db.batch(writes.map((w) => ({ type: 'del' as const, key: w.key })))
  a.flushed()
  release()
  t.equal(text(await racing), 'old', 'the racing read answers what LevelDB held when it began')
  const fresh = new TrieLevelAdapter({ get: (k) => db.get(k) }, {}, undefined)
  t.equal(await fresh.get(b('k')), undefined, 'LevelDB no longer has it')
  t.equal(await a.get(b('k')), undefined, 'but nothing stale was cached')
})

t.test('trie work served from memory still gives the event loop a turn every few milliseconds', async (t) => {
  const { level } = await countingLevel(t)
  const db = new TrieLevelAdapter(level)
  await db.put(b('node'), b('bytes'))
  // Reads that hit the overlay resolve as microtasks: without the adapter's turns, 60 ms of them
  // (the shape of ethereumjs's state flush) would never let an immediate run.
  let turns = 0
  let stop = false
  const tick = () => {
    turns++
    if (!stop) setImmediate(tick)
  }
  setImmediate(tick)
  const started = performance.now()
  let last: unknown
  while (performance.now() - started < 60) last = await db.get(b('node'))
  stop = true
  t.equal(text(last), 'bytes')
  t.ok(turns >= 3, `${turns} turns of the loop in 60 ms of reads (one per ${YIELD_EVERY_MS} ms expected; none without them)`)
})
