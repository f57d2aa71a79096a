/**
 * Plays a run's `--faults` against the cluster while the load runs: kill and restart, cut and
 * heal a node's link, pause a node's process half of every 100 ms. It records what it did and
 * what it saw, with times, for the recovery figures (recovery.ts):
 * - every step as an event (kill, up, isolate, heal, …, caught-up: the node's head is the
 *   network's again, polled every 250 ms after the fault ends);
 * - during the fault, the node's peer count (isolation must leave it at 0) and the heads of the
 *   node and of the network at its start and end (the node's must stop, the network's go on).
 * Once a killed node is back, every transaction sent to it that the chain (at the reference
 * node) does not hold yet is sent to it again, as a wallet rebroadcasts what its node lost: the
 * ones it refused while down, and ones it had taken but not passed on (its pool died with it:
 * e.g. a later nonce that arrived first waits in the pool, not gossiped, until the earlier one
 * comes). Each sender's later transactions wait behind those nonces, so without this the
 * killed node's senders would stall for the rest of the run. Copies other pools still hold are
 * accepted or refused as known, which does no harm.
 */
import { errorMessage } from '../../common/errors.ts'
import { createLogger } from '../../common/logger.ts'
import type { Cluster } from './cluster.ts'
import type { FaultSpec } from './faults.ts'
import { rpc, sleep, toNumber } from './rpc.ts'

const log = createLogger('bench:faults')

/** What a fault does to its node, in order. */
export type FaultStep = 'kill' | 'restart' | 'up' | 'resent' | 'isolate' | 'heal' | 'slow' | 'resume' | 'caught-up' | 'failed'

export interface FaultEvent {
  /** Index into the run's faults (config.faults). */
  fault: number
  step: FaultStep
  /** ms since the load started. */
  atMs: number
  detail?: string
}

/** What the runner saw of one fault's node and the network. */
export interface FaultObservation {
  /** Highest net_peerCount of the node read during the fault, from 1 s after its start; null if it was down. */
  peersMax: number | null
  /** The node's head number at the start and the end of the fault (null while down). */
  headAtStart: number | null
  headAtEnd: number | null
  /** The reference node's (node 0, or 1 for a fault on node 0) at the same moments. */
  networkHeadAtStart: number | null
  networkHeadAtEnd: number | null
  /** Transactions sent again to a killed node when it was back (all sent to it that the chain
   * did not hold yet), and how many it accepted (the rest the network had). */
  resent: number
  resentAccepted: number
}

export interface FaultLog {
  events: FaultEvent[]
  observations: FaultObservation[]
  /** Hashes of the transactions a node accepted when they were sent again: the drain waits for them too. */
  resentHashes: string[]
}

export interface FaultRunner {
  /** The send loop reports each send's outcome: accepted, or refused (or the node unreachable). */
  onSent(tx: { raw: string; hash: string; node: number }, ok: boolean): void
  /**
   * Waits until every fault has ended and its node caught up (at most `timeoutMs` after the
   * last fault's end), then returns the log; rethrows a step that failed (a restart).
   */
  finish(timeoutMs: number): Promise<FaultLog>
  /** Stops at once: pending faults never start, paused nodes resume, cut links heal. */
  abort(): void
}

/** The cluster operations faults need. */
export type FaultTarget = Pick<Cluster, 'nodes' | 'kill' | 'restart' | 'isUp' | 'signal' | 'isolate' | 'heal'>

/** SIGSTOP/SIGCONT duty cycle of `slow`: stopped half of every 100 ms, as cpulimit throttles. */
const SLOW_HALF_CYCLE_MS = 50
const CATCH_UP_POLL_MS = 250
const PEER_POLL_MS = 500
/** Peer count is read from this long after a cut (the drop takes a moment to reach the node). */
const PEER_GRACE_MS = 1000

const headOf = async (url: string): Promise<{ number: number; hash: string } | null> => {
  try {
    const b = await rpc<{ number: string; hash: string }>(url, 'eth_getBlockByNumber', ['latest', false])
    return { number: toNumber(b.number), hash: b.hash }
  } catch {
    return null
  }
}

/**
 * Starts playing `faults` (times from `t0`, a performance.now() value); `isIncluded` says whether
 * the network's chain holds a transaction (what a killed node gets again when it is back).
 */
export function startFaults(cluster: FaultTarget, faults: readonly FaultSpec[], t0: number, isIncluded: (hash: string) => boolean): FaultRunner {
  const events: FaultEvent[] = []
  const observations: FaultObservation[] = faults.map(() => ({ peersMax: null, headAtStart: null, headAtEnd: null, networkHeadAtStart: null, networkHeadAtEnd: null, resent: 0, resentAccepted: 0 }))
  const abort = new AbortController()
  const timers = new Set<NodeJS.Timeout>()
  const paused = new Set<number>()
  const isolated = new Set<number>()
  /** Per node some fault kills: every transaction sent to it, in send order. */
  const sent = new Map<number, Array<{ raw: string; hash: string }>>()
  const resentHashes: string[] = []
  const errors: unknown[] = []
  for (const f of faults) if (f.kind === 'kill') sent.set(f.node, [])

  const now = () => performance.now() - t0
  const record = (fault: number, step: FaultStep, detail?: string) => {
    const e: FaultEvent = { fault, step, atMs: now(), ...(detail === undefined ? {} : { detail }) }
    events.push(e)
    log.info('fault', { fault, step, atS: (e.atMs / 1000).toFixed(2), ...(detail === undefined ? {} : { detail }) })
  }
  /** Sleeps until `s` seconds after t0; false if aborted first. */
  const until = (s: number): Promise<boolean> =>
    new Promise((resolve) => {
      if (abort.signal.aborted) return resolve(false)
      const timer = setTimeout(() => {
        timers.delete(timer)
        abort.signal.removeEventListener('abort', onAbort)
        resolve(true)
      }, Math.max(0, t0 + s * 1000 - performance.now()))
      const onAbort = () => {
        clearTimeout(timer)
        timers.delete(timer)
        resolve(false)
      }
      timers.add(timer)
      abort.signal.addEventListener('abort', onAbort, { once: true })
    })
  const reference = (node: number): number | undefined => (node !== 0 ? 0 : cluster.nodes.length > 1 ? 1 : undefined)
  const heads = async (f: FaultSpec): Promise<[number | null, number | null]> => {
    const ref = reference(f.node)
    const [mine, theirs] = await Promise.all([cluster.isUp(f.node) ? headOf(cluster.nodes[f.node]!.url) : null, ref === undefined ? null : headOf(cluster.nodes[ref]!.url)])
    return [mine?.number ?? null, theirs?.number ?? null]
  }

  /** Polls the node's peer count until `endS`, keeping the highest reading after the grace. */
  const watchPeers = async (k: number, f: FaultSpec): Promise<void> => {
    const from = f.start * 1000 + PEER_GRACE_MS
    while (!abort.signal.aborted && now() < (f.start + f.length) * 1000 - PEER_POLL_MS / 2) {
      await sleep(PEER_POLL_MS)
      if (now() < from || !cluster.isUp(f.node)) continue
      const n = await rpc<string>(cluster.nodes[f.node]!.url, 'net_peerCount').then(toNumber, () => undefined)
      if (n !== undefined) observations[k]!.peersMax = Math.max(observations[k]!.peersMax ?? 0, n)
    }
  }

  /** After the fault: until the node's head is the reference node's, or abort. */
  const catchUp = async (k: number, f: FaultSpec): Promise<void> => {
    const ref = reference(f.node)
    if (ref === undefined) return record(k, 'caught-up', 'no other node')
    while (!abort.signal.aborted) {
      const [mine, theirs] = await Promise.all([headOf(cluster.nodes[f.node]!.url), headOf(cluster.nodes[ref]!.url)])
      if (mine !== null && theirs !== null && mine.hash === theirs.hash) return record(k, 'caught-up', `block ${mine.number}`)
      await sleep(CATCH_UP_POLL_MS)
    }
  }

  const resend = async (k: number, node: number): Promise<void> => {
    const raws = (sent.get(node) ?? []).filter((tx) => !isIncluded(tx.hash))
    let accepted = 0
    // In send order: a sender's nonces go back in sequence.
    for (const tx of raws) {
      if (abort.signal.aborted) break
      await rpc<string>(cluster.nodes[node]!.url, 'eth_sendRawTransaction', [tx.raw]).then(
        () => {
          accepted++
          resentHashes.push(tx.hash)
        },
        () => {},
      )
    }
    observations[k]!.resent = raws.length
    observations[k]!.resentAccepted = accepted
    record(k, 'resent', `${accepted} of ${raws.length} accepted`)
  }

  const play = async (k: number, f: FaultSpec): Promise<void> => {
    if (!(await until(f.start))) return
    const obs = observations[k]!
    ;[obs.headAtStart, obs.networkHeadAtStart] = await heads(f)
    const end = f.start + f.length
    switch (f.kind) {
      case 'kill': {
        record(k, 'kill')
        await cluster.kill(f.node)
        await until(end)
        ;[, obs.networkHeadAtEnd] = await heads(f)
        if (abort.signal.aborted) return
        record(k, 'restart')
        await cluster.restart(f.node)
        record(k, 'up', cluster.nodes[f.node]!.url)
        await resend(k, f.node)
        break
      }
      case 'isolate': {
        cluster.isolate(f.node)
        isolated.add(f.node)
        record(k, 'isolate')
        await Promise.all([watchPeers(k, f), until(end)])
        ;[obs.headAtEnd, obs.networkHeadAtEnd] = await heads(f)
        cluster.heal(f.node)
        isolated.delete(f.node)
        record(k, 'heal')
        break
      }
      case 'slow': {
        let stopped = false
        const cycle = setInterval(() => {
          stopped = !stopped
          cluster.signal(f.node, stopped ? 'SIGSTOP' : 'SIGCONT')
        }, SLOW_HALF_CYCLE_MS)
        timers.add(cycle)
        paused.add(f.node)
        record(k, 'slow')
        await Promise.all([watchPeers(k, f), until(end)])
        clearInterval(cycle)
        timers.delete(cycle)
        cluster.signal(f.node, 'SIGCONT')
        paused.delete(f.node)
        ;[obs.headAtEnd, obs.networkHeadAtEnd] = await heads(f)
        record(k, 'resume')
        break
      }
    }
    await catchUp(k, f)
  }

  const running = faults.map((f, k) =>
    play(k, f).catch((err: unknown) => {
      record(k, 'failed', errorMessage(err))
      errors.push(err)
    }),
  )

  const stop = () => {
    if (abort.signal.aborted) return
    abort.abort()
    for (const t of timers) clearTimeout(t)
    for (const t of timers) clearInterval(t)
    timers.clear()
    for (const n of paused) cluster.signal(n, 'SIGCONT')
    paused.clear()
    for (const n of isolated) cluster.heal(n)
    isolated.clear()
  }

  return {
    onSent(tx) {
      sent.get(tx.node)?.push({ raw: tx.raw, hash: tx.hash })
    },
    async finish(timeoutMs) {
      const lastEnd = Math.max(0, ...faults.map((f) => f.start + f.length))
      let timer: NodeJS.Timeout | undefined
      const deadline = new Promise<'timeout'>((resolve) => {
        timer = setTimeout(() => resolve('timeout'), Math.max(0, t0 + lastEnd * 1000 + timeoutMs - performance.now()))
      })
      const outcome = await Promise.race([Promise.all(running).then(() => 'done' as const), deadline])
      clearTimeout(timer)
      if (outcome === 'timeout') log.warn('faults not over (a node has not caught up) when the run ended', { timeoutS: timeoutMs / 1000 })
      stop()
      await Promise.all(running)
      if (errors.length > 0) throw errors[0]
      return { events: [...events].sort((a, b) => a.atMs - b.atMs), observations, resentHashes }
    },
    abort: stop,
  }
}
