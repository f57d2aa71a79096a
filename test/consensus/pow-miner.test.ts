import t, { type Test } from 'tap'
import { execFile } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { keccak_256 } from '@noble/hashes/sha3.js'
import { setLogSink } from '../../common/logger.ts'
import { meetsDifficulty, powHash } from '../../consensus/pow/hashcash.ts'
import { createMinerPool, type MinerPool } from '../../consensus/pow/miner-pool.ts'
import { plainNode } from '../helpers/plain-node.ts'

/** The mining pool: real worker threads hashing real headers. */

const IMPOSSIBLE = 1n << 60n
const seal = (label: string) => keccak_256(new TextEncoder().encode(label))
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
/** Polls `cond` every 20 ms for up to `ms`; whether it came true. (Threads start slower under tap's loaders.) */
async function until(cond: () => boolean, ms: number): Promise<boolean> {
  for (const end = performance.now() + ms; performance.now() < end; await sleep(20)) if (cond()) return true
  return cond()
}
/** Whether `p` settles before the next turn of the event loop: settled from the caller's own turn, not after a thread answers. */
async function settlesThisTurn(p: Promise<unknown>): Promise<boolean> {
  const nextTurn = new Promise<false>((resolve) => setImmediate(() => resolve(false)))
  return Promise.race([p.then(() => true), nextTurn])
}
const verifies = (s: Uint8Array, nonce: Uint8Array | undefined, d: bigint) => nonce !== undefined && nonce.length === 8 && meetsDifficulty(powHash(s, nonce), d)

function pool(t: Test, threads: number, workerUrl?: URL): MinerPool {
  const p = createMinerPool(workerUrl === undefined ? { threads } : { threads, workerUrl })
  t.teardown(() => p.close())
  return p
}

function captureLog(t: Test): string[] {
  const lines: string[] = []
  setLogSink((line) => lines.push(line))
  t.teardown(() => setLogSink((line) => process.stderr.write(line + '\n')))
  return lines
}

for (const threads of [1, 2]) {
  t.test(`finds a nonce that verifies at difficulty 2^16 with ${threads} thread(s)`, async (t) => {
    const p = pool(t, threads)
    t.equal(p.threads, threads)
    const s = seal(`pool-${threads}`)
    const nonce = await p.mine(s, 1n << 16n, new AbortController().signal)
    t.ok(verifies(s, nonce, 1n << 16n), `nonce ${Buffer.from(nonce!).toString('hex')} meets 2^16`)
  })
}

t.test('abort resolves undefined at once; the threads stop; hashrate() rises while mining and falls to 0 when idle', async (t) => {
  const p = pool(t, 2)
  t.equal(p.hashrate(), 0, 'never mined: 0')
  const ac = new AbortController()
  const mining = p.mine(seal('abort'), IMPOSSIBLE, ac.signal)
  t.ok(await until(() => p.hashrate() > 0, 10_000), 'threads started and hashing')
  await sleep(300)
  const busy = p.hashrate()
  t.ok(busy > 1000, `hashing while mining: ${busy.toFixed(0)} hashes/s`)
  const t0 = performance.now()
  ac.abort()
  t.ok(await settlesThisTurn(mining), 'resolved by the abort itself, without waiting for a thread')
  t.equal(await mining, undefined)
  await sleep(100) // the last chunk (~20 ms) ends
  const cpu0 = process.cpuUsage()
  await sleep(500)
  const cpu = process.cpuUsage(cpu0)
  const cpuMs = (cpu.user + cpu.system) / 1000
  t.ok(cpuMs < 200, `threads idle after abort: ${cpuMs.toFixed(0)} ms of CPU in 500 ms (two hashing threads would use ~1000)`)
  t.equal(await p.mine(seal('pre-aborted'), 1n, AbortSignal.abort()), undefined, 'an already aborted signal: undefined, no search')
  // 0 once the ~2 s window holds no hashing: it never would if a thread kept counting hashes.
  t.ok(await until(() => p.hashrate() === 0, 10_000), 'idle: 0')
  t.comment(`hashrate fell to 0 ${((performance.now() - t0) / 1000).toFixed(1)} s after the abort`)
})

t.test('a second mine aborts the first', async (t) => {
  const p = pool(t, 1)
  const first = p.mine(seal('first'), IMPOSSIBLE, new AbortController().signal)
  await sleep(300)
  const s2 = seal('second')
  const second = p.mine(s2, 1n << 14n, new AbortController().signal)
  t.ok(await settlesThisTurn(first), 'the first settles at once, by the second call itself')
  t.equal(await first, undefined, 'the first resolves undefined')
  t.ok(verifies(s2, await second, 1n << 14n), 'the second finds a nonce for its own header')
})

t.test('threads must be a whole number ≥ 1', async (t) => {
  for (const n of [0, -1, 1.5, NaN]) {
    t.throws(() => createMinerPool({ threads: n }), { code: 'CONSENSUS_INVALID_POW_PARAMS', message: /at least 1 thread/ }, `threads ${n}`)
  }
  const p = pool(t, 1)
  t.throws(() => p.setThreads(0), { code: 'CONSENSUS_INVALID_POW_PARAMS' })
  t.equal(p.threads, 1)
})

t.test('setThreads while mining: the job goes on with the new count', async (t) => {
  const p = pool(t, 1)
  const s = seal('grow')
  const mining = p.mine(s, 1n << 16n, new AbortController().signal)
  p.setThreads(2)
  t.equal(p.threads, 2)
  t.ok(verifies(s, await mining, 1n << 16n), 'found with 2 threads')
  p.setThreads(1)
  const s2 = seal('shrink')
  t.ok(verifies(s2, await p.mine(s2, 1n << 12n, new AbortController().signal), 1n << 12n), 'and again with 1')
})

t.test('bad inputs and a closed pool are refused', async (t) => {
  const p = pool(t, 1)
  const never = new AbortController().signal
  await t.rejects(p.mine(seal('x'), 0n, never), { code: 'CONSENSUS_INVALID_DIFFICULTY' })
  await t.rejects(p.mine(new Uint8Array(31), 2n, never), { code: 'CONSENSUS_INVALID_POW' })
  const running = p.mine(seal('closing'), IMPOSSIBLE, never)
  await p.close()
  t.equal(await running, undefined, 'close resolves the running job undefined')
  await t.rejects(p.mine(seal('x'), 2n, never), { code: 'CONSENSUS_MINER_FAILED', message: /closed/ })
  await p.close() // idempotent
})

const WORKER = new URL('../../consensus/pow/mine-worker.ts', import.meta.url).href
/** A worker module that takes over the real worker's port (it imports it) with `onJob(job, views, post)`. */
function wrappedWorker(onJob: string, prelude = ''): URL {
  return new URL(
    'data:text/javascript,' +
      encodeURIComponent(`
        import { parentPort, workerData } from 'node:worker_threads'
        import { runJob, sharedViews } from ${JSON.stringify(WORKER)}
        ${prelude}
        parentPort.removeAllListeners('message')
        const views = sharedViews(workerData.shared)
        const post = (m) => parentPort.postMessage(m)
        parentPort.on('message', (job) => { ${onJob} })
      `),
  )
}

t.test('a crashed worker is logged and replaced, and the job goes on', async (t) => {
  const lines = captureLog(t)
  const dir = mkdtempSync(join(tmpdir(), 'medrec-miner-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const marker = join(dir, 'crashed')
  // The first worker to get a job throws; its replacement (marker present) mines for real.
  const url = wrappedWorker(`if (!existsSync(${JSON.stringify(marker)})) { writeFileSync(${JSON.stringify(marker)}, ''); throw new Error('simulated crash') } runJob(job, views, post)`, `import { existsSync, writeFileSync } from 'node:fs'`)
  const p = pool(t, 1, url)
  const s = seal('crash-once')
  t.ok(verifies(s, await p.mine(s, 1n << 12n, new AbortController().signal), 1n << 12n), 'the replacement found a nonce')
  t.equal(lines.filter((l) => /^ERROR .*Mining worker died; replacing it .*module=consensus:miner .*simulated crash/.test(l)).length, 1, 'the death is logged once')
})

t.test('workers that keep crashing fail the job instead of hanging it', async (t) => {
  const lines = captureLog(t)
  const p = pool(t, 1, wrappedWorker('process.exit(3)'))
  const t0 = performance.now()
  await t.rejects(p.mine(seal('doomed'), 1n << 12n, new AbortController().signal), { code: 'CONSENSUS_MINER_FAILED', message: /keep crashing .*exit code 3/ })
  t.comment(`failed after ${(performance.now() - t0).toFixed(0)} ms`)
  t.ok(lines.filter((l) => /Mining worker died/.test(l)).length >= 4, 'each death logged')
})

t.test('a nonce a worker reports is checked, and a wrong one ignored', async (t) => {
  const lines = captureLog(t)
  // posts a bogus nonce first, then mines for real
  const p = pool(t, 1, wrappedWorker(`post({ type: 'found', generation: job.generation, nonce: new Uint8Array(8).fill(0xee) }); runJob(job, views, post)`))
  const s = seal('liar')
  const d = 1n << 24n // the bogus nonce almost surely fails; the real search at 2^24 would take minutes, so abort
  t.notOk(meetsDifficulty(powHash(s, new Uint8Array(8).fill(0xee)), d), 'the bogus nonce does not verify')
  const ac = new AbortController()
  const mining = p.mine(s, d, ac.signal)
  // The worker starts slowly on a loaded machine: wait for its report rather than a fixed time.
  const logged = () => lines.some((l) => /^ERROR .*does not meet the difficulty; ignored/.test(l))
  for (let waited = 0; !logged() && waited < 15_000; waited += 50) await sleep(50)
  ac.abort()
  t.equal(await mining, undefined, 'the bogus nonce was not accepted')
  t.ok(logged(), 'and it was logged')
  const s2 = seal('liar-2')
  t.ok(verifies(s2, await p.mine(s2, 1n << 10n, new AbortController().signal), 1n << 10n), 'the real nonce that follows is accepted')
})

/** Runs `code` as a module in a fresh node process; resolves with its exit code, or 'hung' after `ms`. */
function runNode(t: Test, code: string, ms: number): Promise<{ exit: number | 'hung'; stderr: string }> {
  // a file, not `-e --input-type=module`: workers inherit execArgv and refuse --input-type
  const dir = mkdtempSync(join(tmpdir(), 'medrec-miner-exit-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const file = join(dir, 'main.mjs')
  writeFileSync(file, code)
  return new Promise((resolve) => {
    const child = execFile(...plainNode([file]), { timeout: ms }, (err, _stdout, stderr) => {
      const exit = err && (err as { killed?: boolean }).killed ? 'hung' : (child.exitCode ?? -1)
      resolve({ exit, stderr })
    })
  })
}

t.test('no worker outlives close(), and an idle pool does not keep the process alive', async (t) => {
  const POOL = JSON.stringify(new URL('../../consensus/pow/miner-pool.ts', import.meta.url).href)
  const closed = await runNode(
    t,
    `import { createMinerPool } from ${POOL}
     const p = createMinerPool({ threads: 2 })
     const ac = new AbortController()
     const job = p.mine(new Uint8Array(32), 1n << 60n, ac.signal)
     // threads start slowly on a loaded machine: poll for hashing, with a deadline
     for (const end = Date.now() + 20_000; !(p.hashrate() > 0) && Date.now() < end; ) await new Promise((r) => setTimeout(r, 20))
     if (!(p.hashrate() > 0)) process.exit(8)
     await p.close()
     if (await job !== undefined) process.exit(9)`,
    40_000,
  )
  t.same(closed, { exit: 0, stderr: '' }, 'after close() the process exits by itself')
  const idle = await runNode(
    t,
    `import { createMinerPool } from ${POOL}
     const p = createMinerPool({ threads: 2 })
     const n = await p.mine(new Uint8Array(32), 1n << 8n, new AbortController().signal)
     if (n === undefined) process.exit(9)`,
    15_000,
  )
  t.same(idle, { exit: 0, stderr: '' }, 'an idle pool that was never closed does not hold the process either')
})
