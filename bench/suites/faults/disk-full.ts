/**
 * (b) Disk full: one authority whose data dir is on a 64 MB tmpfs, sealing under load while a
 * ballast file fills the filesystem.
 * 1. With --datadir.minfreedisk 24: filled to 16 MB free, the node must pause sealing (loudly)
 *    and keep answering RPC; with the ballast gone it must resume by itself.
 * 2. With the watermark off: filled to the last byte, the node must stop on CHAIN_STORAGE_FAULT
 *    and exit non-zero rather than limp on; with space freed and restarted, every receipt it
 *    acknowledged before is still there, in the same block, and the start-up check is quiet.
 * Needs root (mount); skipped with the reason otherwise.
 */
import { execFileSync } from 'node:child_process'
import { cpSync, mkdtempSync, rmSync, statfsSync, writeSync, openSync, closeSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { errorMessage } from '../../../common/errors.ts'
import { createChainCommon } from '../../../evm/index.ts'
import { createLocalNetwork, type Member } from '../../harness/local-network.ts'
import { rpc, sleep, toNumber, waitFor } from '../../harness/rpc.ts'
import { keepNodeLogs } from '../node-logs.ts'
import { createLoad, fundSenders, senderKeys } from './load.ts'
import { seconds, type Scenario, type ScenarioResult } from './scenario.ts'

const PERIOD = 1
const SIZE_MB = 64
const WATERMARK_MB = 24
const MB = 1024 * 1024

const freeBytes = (dir: string) => {
  const s = statfsSync(dir)
  return s.bavail * s.bsize
}

/** Writes zeros to `file` until `leave` bytes are free on its filesystem (0: until it is full, ENOSPC). */
function fill(file: string, leave: number): number {
  const fd = openSync(file, 'a')
  const chunk = Buffer.alloc(MB)
  let written = 0
  try {
    for (;;) {
      const room = freeBytes(file.slice(0, file.lastIndexOf('/'))) - leave
      if (room <= 0) return written
      const part = room >= MB ? chunk : chunk.subarray(0, Math.max(4096, room))
      written += writeSync(fd, part)
    }
  } catch (err) {
    if ((err as { code?: unknown }).code === 'ENOSPC') return written
    throw err
  } finally {
    closeSync(fd)
  }
}

function cannotMount(): string | undefined {
  if (process.platform !== 'linux') return 'tmpfs mounts are Linux only'
  if (process.getuid?.() !== 0) return `mounting a ${SIZE_MB} MB tmpfs needs root (run the suite as root, as CI does)`
  return undefined
}

const logged = (m: Member, line: RegExp, what: string, ms: number) => waitFor(async () => line.test(m.node?.output() ?? ''), what, ms, { everyMs: 100 })

export const diskFullScenario: Scenario = {
  name: 'disk-full',
  description: `data dir on a ${SIZE_MB} MB tmpfs filled while sealing under load: pause at the watermark, fatal stop when full, nothing acknowledged lost`,
  async run(): Promise<ScenarioResult> {
    const expectation = `paused below --datadir.minfreedisk and resumed when freed; when full: CHAIN_STORAGE_FAULT, exit non-zero; after freeing space and a restart every acknowledged receipt is there`
    const title = `Disk full: one authority, ${PERIOD} s blocks, data dir on a ${SIZE_MB} MB tmpfs`
    const why = cannotMount()
    if (why !== undefined) return { title, verdict: 'skip', expectation, rows: [{ metric: 'skipped', value: why }] }
    const mnt = mkdtempSync(join(tmpdir(), 'medrec-diskfull-'))
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${SIZE_MB}m,mode=0700`, 'tmpfs', mnt], { stdio: 'pipe' })
    } catch (err) {
      rmSync(mnt, { recursive: true, force: true })
      return { title, verdict: 'skip', expectation, rows: [{ metric: 'skipped', value: `cannot mount a tmpfs here: ${errorMessage(err)}` }] }
    }
    const net = await createLocalNetwork(1, { period: PERIOD, logLevel: 'info' })
    const m = net.members[0]!
    const ballast = join(mnt, 'ballast')
    const problems: string[] = []
    const rows: ScenarioResult['rows'] = []
    try {
      const datadir = join(mnt, 'node0')
      cpSync(m.datadir, datadir, { recursive: true })
      m.datadir = datadir
      await net.start(0, { args: ['--datadir.minfreedisk', String(WATERMARK_MB)] })
      const common = createChainCommon({ chainId: 4242n, period: PERIOD, epoch: 30000n })
      await fundSenders(common, m.node!.url, m, senderKeys(4, 'disk-full'))
      const load = createLoad({ common, urlOf: () => m.node?.url, senders: 4, rate: 40, label: 'disk-full' })
      load.start()
      const head = async () => toNumber(await rpc<string>(m.node!.url, 'eth_blockNumber'))
      await waitFor(async () => load.acked.size >= 40, 'receipts under load', 60_000)

      // ---- 1: the watermark ----
      fill(ballast, (WATERMARK_MB - 8) * MB)
      let t0 = performance.now()
      await logged(m, /Low disk space: block production and import paused/, 'the node to pause at the watermark', 30_000)
      const pauseMs = performance.now() - t0
      // A block already being sealed may still land: read the head once it has.
      await sleep(2 * PERIOD * 1000)
      const pausedAt = await head()
      await sleep(5 * PERIOD * 1000)
      const sealedWhilePaused = (await head()) - pausedAt
      if (sealedWhilePaused > 0) problems.push(`${sealedWhilePaused} blocks sealed while paused`)
      rows.push({ metric: 'watermark: ballast to "Low disk space ... paused" log', value: seconds(pauseMs) })
      rows.push({ metric: 'watermark: blocks sealed in 5 periods while paused (RPC still answering)', value: String(sealedWhilePaused) })
      rmSync(ballast)
      t0 = performance.now()
      await logged(m, /Disk space back above the watermark/, 'the node to resume', 30_000)
      await waitFor(async () => (await head()) > pausedAt + sealedWhilePaused, 'a block after the resume', 30_000)
      rows.push({ metric: 'watermark: ballast removed to the next block', value: seconds(performance.now() - t0) })

      // ---- 2: full, with the watermark off ----
      await net.stop(0)
      await net.start(0, { args: ['--datadir.minfreedisk', '0'] })
      await waitFor(async () => (await head()) > pausedAt + 2, 'sealing after the restart', 30_000)
      const node = m.node!
      const ackedBeforeFill = load.acked.size
      t0 = performance.now()
      fill(ballast, 0)
      // Whatever sealing wrote meanwhile may have taken a few blocks' worth: fill again until the node stops or 60 s pass.
      const code = await Promise.race([
        node.exited,
        (async () => {
          const end = Date.now() + 60_000
          while (node.running() && Date.now() < end) {
            fill(ballast, 0)
            await sleep(200)
          }
          return node.running() ? 'still running' : node.exited
        })(),
      ])
      const stopMs = performance.now() - t0
      const fault = /CHAIN_STORAGE_FAULT|the chain database failed/.exec(node.output())
      const faultLine = node.output().split('\n').find((l) => /the chain database failed|CHAIN_STORAGE_FAULT/.test(l)) ?? ''
      if (code === 'still running') problems.push('the node kept running on a full disk for 60 s')
      else if (code === 0) problems.push('the node exited 0 on a storage fault (a supervisor would not restart it)')
      if (fault === null) problems.push('no CHAIN_STORAGE_FAULT in the log')
      rows.push({ metric: 'full: disk filled to the node exiting', value: `${seconds(stopMs)}, exit code ${String(code)}` })
      rows.push({ metric: 'full: the log says', value: faultLine.slice(0, 220) || '(nothing)' })
      // A node that limps on is killed (as an operator would) so the restart below can take its data dir.
      if (node.running()) await node.kill()
      const ackedAtStop = new Map(load.acked)
      const highestAcked = Math.max(0, ...[...ackedAtStop.values()].map((a) => a.blockNumber))
      m.node = undefined

      // ---- 3: space freed, restarted: nothing acknowledged is lost ----
      rmSync(ballast)
      t0 = performance.now()
      await net.start(0, { args: ['--datadir.minfreedisk', '16'] })
      const restartMs = performance.now() - t0
      const headAfter = await head()
      if (headAfter < highestAcked) problems.push(`head ${headAfter} after the restart, below acknowledged block ${highestAcked}`)
      if (/went BACK|dropped data while recovering/.test(m.node!.output())) problems.push('the start-up check reported lost data')
      let lost = 0
      for (const [hash, a] of ackedAtStop) {
        const r = await rpc<{ blockHash: string } | null>(m.node!.url, 'eth_getTransactionReceipt', [hash])
        if (r === null || r.blockHash !== a.blockHash) lost++
      }
      if (lost > 0) problems.push(`${lost} acknowledged receipts lost or moved`)
      await waitFor(async () => (await head()) > headAfter + 2, 'sealing after the disk-full restart', 30_000)
      await load.stop()
      const { missing } = await load.drain(30_000)
      rows.push({ metric: 'full: receipts acknowledged before the fill / by the stop', value: `${ackedBeforeFill} / ${ackedAtStop.size} (highest block ${highestAcked})` })
      rows.push({ metric: 'full: restart (space freed) to RPC ready, head', value: `${seconds(restartMs)}, head ${headAfter}` })
      rows.push({ metric: 'full: acknowledged receipts lost or moved after the restart', value: String(lost) })
      rows.push({ metric: 'accepted but never included at the end (sent again)', value: String(missing.length) })
      if (missing.length > 0) problems.push(`${missing.length} accepted transactions never included`)
      if (problems.length > 0) rows.push({ metric: 'problems', value: problems.join('; ') })
      return { title, verdict: problems.length === 0 ? 'pass' : 'fail', expectation, rows }
    } finally {
      keepNodeLogs(net.members)
      await net.close()
      try {
        execFileSync('umount', [mnt], { stdio: 'pipe' })
      } catch {
        // busy a moment after the kill: lazily
        try {
          execFileSync('umount', ['-l', mnt], { stdio: 'pipe' })
        } catch {
          // left mounted: the directory name says what it was
        }
      }
      rmSync(mnt, { recursive: true, force: true })
    }
  },
}
