import type { BlockHeader } from '@ethereumjs/block'
import type { Address } from '@ethereumjs/util'
import { createLogger, errorMessage } from '../../common/index.ts'
import type { Sealer } from '../../consensus/index.ts'
import { TimeSlice, type SenderTx, type TxSource } from '../../evm/index.ts'
import { ChainErrorCode, isChainError, type BlockBundle, type Chain } from '../chain/index.ts'
import type { Mempool } from '../mempool/index.ts'
import type { Proposals } from './proposals.ts'
import { NodeError, NodeErrorCode } from '../config/index.ts'

const log = createLogger('producer')

export interface ProducerOptions {
  /** The block author: the authority (PoA) or the etherbase (PoW). */
  author: Address
  /** From the chain's engine: signs (PoA) or mines (PoW). */
  sealer: Sealer
}

export interface ProducerModules {
  chain: Chain
  mempool: Mempool
  /** Signer votes to carry (clique_propose); none when absent. */
  proposals?: Proposals
  /** Called with each block this node sealed (to gossip it). */
  onSealed?: (bundle: BlockBundle) => void
  /** Whether a block at this height is arriving from a peer right now (network). */
  receiving?: (number: bigint) => boolean
  /** Why sealing must wait now (this node's clock is off: node/clock), or undefined. */
  clockFault?: () => string | undefined
}

export interface Producer {
  start(): void
  stop(): Promise<void>
  readonly running: boolean
  /** The author of the next blocks (miner_setEtherbase changes it under PoW). */
  author: Address
  /** Hashes per second (0 under PoA). */
  hashrate(): number
}

/** Shortest time given to fill a block when sealing is already late. */
const MIN_BUILD_WINDOW_MS = 500
/** With period 0, how long to collect transactions that arrive together. */
const INSTANT_BUILD_WINDOW_MS = 20

/**
 * A pool view for one block: the pool's live iterator, which yields executable transactions
 * in the pool's order and picks up arrivals; when it runs dry the stream waits for more until
 * the deadline (or, `stopWhenDry`, ends: a miner seals what is pending and hashes meanwhile). The builder thus executes while the slot runs instead of after it, so the
 * block can hold as much as the period allows.
 */
function streamFromPool(mempool: Mempool, baseFee: bigint, deadline: number, fillUntil: number, stopped: () => boolean, halt: AbortSignal, stopWhenDry = false): TxSource & { release(): void } {
  const pending = mempool.pending(baseFee)
  async function* stream(): AsyncGenerator<SenderTx> {
    const slice = new TimeSlice()
    while (Date.now() < Math.min(deadline, fillUntil) && !stopped()) {
      const next = pending.next()
      if (next.done === true) {
        if (stopWhenDry) return
        await waitForPending(mempool, deadline, halt)
        slice.restart()
        continue
      }
      yield next.value
      // RPC intake and the workers' recovered senders are taken in while the block executes.
      if (slice.due()) await slice.yield()
    }
    // Full (fill budget spent): the block is still sealed at its slot, not early.
    while (Date.now() < deadline && !stopped()) await new Promise((r) => setTimeout(r, Math.min(50, deadline - Date.now())))
  }
  return Object.assign(stream(), {
    skipSender(sender: Address) {
      pending.skipSender(sender)
    },
    /** The block was committed or abandoned: the pool may take replacements of what it was given again. */
    release() {
      pending.release()
    },
  })
}

/** Until a transaction arrives, the deadline passes or production stops (shutdown must not wait out the slot). */
function waitForPending(mempool: Mempool, deadline: number, halt: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer)
      mempool.off('pending', onPending)
      halt.removeEventListener('abort', done)
      resolve()
    }
    // Let a burst of arrivals land before the next pass over the pool.
    const onPending = () => setTimeout(done, 2)
    const timer = setTimeout(done, Math.max(0, deadline - Date.now()))
    mempool.once('pending', onPending)
    if (halt.aborted) done()
    else halt.addEventListener('abort', done, { once: true })
  })
}

/**
 * Block production for either engine: wait for the engine's plan, build a block on the head
 * from the pool, have the sealer sign or mine it (abandoned as soon as another head arrives),
 * commit it and hand it to the network.
 */
export function createProducer(opts: ProducerOptions, modules: ProducerModules): Producer {
  const { chain, mempool } = modules
  const { sealer } = opts
  const period = chain.consensus.blockTime
  let author = opts.author
  let running = false
  let loop: Promise<void> | undefined
  let wake: (() => void) | undefined
  let stopSealing: (() => void) | undefined
  // Aborted by stop(): every wait of the loop (slot, wiggle, pool, seal) ends at once.
  let halt = new AbortController()
  // Ends the pool's hold on what the block in progress was given, once that block is committed or abandoned.
  let releaseBuild: (() => void) | undefined

  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const t = setTimeout(() => {
        wake = undefined
        resolve()
      }, ms)
      wake = () => {
        clearTimeout(t)
        wake = undefined
        resolve()
      }
    })

  // The clock fault last logged, so a refusal is logged when it starts and when it ends, not every second.
  let clockRefusal: string | undefined
  /** True (after logging) while the clock monitor says this node's clock is too far off to seal. */
  function clockRefuses(): boolean {
    const fault = modules.clockFault?.()
    if (fault !== undefined && clockRefusal === undefined) log.warn('Not sealing: clock off', { reason: fault })
    else if (fault === undefined && clockRefusal !== undefined) log.info('Sealing again: clock within tolerance')
    clockRefusal = fault
    return fault !== undefined
  }

  async function sealOnce(): Promise<void> {
    if (clockRefuses()) {
      await sleep(1000)
      return
    }
    const parent = chain.head.block.header
    const next = parent.number + 1n
    const plan = chain.consensus.sealPlan(author, parent, chain.snapshot, Date.now())
    if (!plan.canSeal) {
      log.debug('Not sealing', { reason: plan.reason })
      await sleep(1000)
      return
    }
    const { signal } = halt
    const buildWindow = sealer.buildWindowMs ?? Math.min(MIN_BUILD_WINDOW_MS, period * 500)
    // A sealer that collects nothing (a miner) waits out the plan's delay first, then takes
    // what is pending, up to half a block time of execution.
    const sealsWhenDry = sealer.buildWindowMs === 0
    if (sealsWhenDry && plan.delayMs > 0 && ((await headMovesWithin(chain, plan.delayMs, signal)) || !running)) return
    if (!plan.inTurn && plan.delayMs > buildWindow) {
      // Out of turn: wait out the wiggle without holding the chain, and give way if the
      // in-turn block (or anyone's) arrives meanwhile.
      const moved = await headMovesWithin(chain, plan.delayMs - buildWindow, signal)
      if (moved || !running) return
      // A block for this height that is still being received (a large block on a busy peer
      // takes seconds to recover and execute) is not a missing one: wait for its import, up to
      // a few periods, rather than seal a competitor that forks the chain.
      const giveUpAt = Date.now() + Math.max(3000, period * 3000)
      while (running && modules.receiving?.(next) === true && Date.now() < giveUpAt) {
        if (await headMovesWithin(chain, 100, signal)) return
      }
      if (!running || chain.head.block.header.number !== parent.number) return
    }
    let deadline: number
    if (period === 0) {
      if (mempool.stats().pending === 0) {
        await new Promise<void>((resolve) => {
          wake = resolve
          mempool.once('pending', () => resolve())
        })
        wake = undefined
        if (!running) return
      }
      deadline = Date.now() + INSTANT_BUILD_WINDOW_MS
    } else if (sealsWhenDry) {
      deadline = Date.now() + Math.max(MIN_BUILD_WINDOW_MS, period * 500)
    } else {
      deadline = plan.inTurn ? Date.now() + Math.max(plan.delayMs, buildWindow) : Date.now() + buildWindow
    }
    if (chain.head.block.header.number !== parent.number) return
    const baseFee = parent.calcNextBaseFee()
    // In a network, a block holds at most half a period of execution, so peers import it well
    // within the period (a longer one is what makes out-of-turn sealers fork). Alone, the whole
    // period is used.
    const fillUntil = modules.receiving === undefined || period === 0 ? deadline : Date.now() + Math.max(buildWindow, period * 500)
    // Out of turn, a block for this height that starts arriving while this one is built wins:
    // stop filling, and do not seal (the chain lock this build holds delays its import, so the
    // head cannot move meanwhile; the arrival is what tells).
    const givingWay = () => !plan.inTurn && modules.receiving?.(next) === true
    const source = streamFromPool(mempool, baseFee, deadline, fillUntil, () => !running || givingWay(), signal, sealsWhenDry)
    releaseBuild = source.release
    const started = Date.now()
    const vote = modules.proposals === undefined ? undefined : chain.consensus.voting?.pickVote(chain.snapshot, parent.number + 1n, modules.proposals.list())
    let pending
    try {
      pending = await chain.buildBlock({ author, source, deadline, vote })
    } catch (err) {
      if (!isChainError(err, ChainErrorCode.CANNOT_SEAL)) throw err
      log.debug('Not sealing', { reason: errorMessage(err) })
      return
    }
    // Stopped while building (SIGTERM, miner_stop): the block is abandoned, never sealed or committed.
    if (!running) {
      log.debug('Abandoned the block in progress: block production stopped', { number: next })
      return
    }
    if (givingWay()) {
      log.debug('Not sealing: a block for this height is arriving', { number: next })
      await headMovesWithin(chain, Math.max(3000, period * 3000), signal)
      return
    }
    // The clock may have been found off while this block was built.
    if (clockRefuses()) return
    const seal = await sealUnlessOvertaken(pending.header, Date.now() - started)
    if (seal === undefined || !running) return
    const bundle = await chain.commitBlock(pending, seal)
    if (bundle === undefined) return
    const h = bundle.block.header
    log.info('Sealed new block', {
      number: h.number,
      hash: bundle.block.hash(),
      txs: bundle.block.transactions.length,
      gas: h.gasUsed,
      elapsed: `${Date.now() - started}ms`,
    })
    modules.onSealed?.(bundle)

    /** The seal, or undefined when a new head arrived, the node stops, or it is time to re-prepare. */
    async function sealUnlessOvertaken(header: BlockHeader, buildMs: number) {
      const abort = new AbortController()
      const onHead = () => abort.abort()
      chain.once('head', onHead)
      stopSealing = () => abort.abort()
      // A long seal (mining) re-prepares now and then: the clock moved on (the timestamp sets
      // the difficulty) and the pool has more. Not more often than building costs, though.
      const recommit = sealer.recommitMs === undefined ? undefined : setTimeout(() => abort.abort(), Math.max(sealer.recommitMs, 4 * buildMs))
      try {
        if (!running || chain.head.block.header.number !== header.number - 1n) return undefined
        return await sealer.seal(header, abort.signal)
      } finally {
        chain.off('head', onHead)
        clearTimeout(recommit)
        stopSealing = undefined
      }
    }
  }

  return {
    get running() {
      return running
    },
    get author() {
      return author
    },
    set author(a: Address) {
      if (sealer.author !== undefined && !sealer.author.equals(a)) {
        throw new NodeError(NodeErrorCode.BAD_AUTHOR, `this node seals as ${sealer.author.toString()} with its key; it cannot author blocks for ${a.toString()}`)
      }
      author = a
    },
    hashrate: () => sealer.hashrate(),
    start() {
      if (running) return
      running = true
      halt = new AbortController()
      log.info('Sealing blocks', { author: author.toString(), engine: chain.consensus.algorithm, blockTime: period })
      loop = (async () => {
        while (running) {
          try {
            await sealOnce().finally(() => {
              releaseBuild?.()
              releaseBuild = undefined
            })
          } catch (err) {
            log.error('Block production failed', undefined, errorMessage(err))
            await sleep(1000)
          }
        }
      })()
    },
    async stop() {
      running = false
      halt.abort()
      wake?.()
      stopSealing?.()
      await loop
    },
  }
}

/** Resolves true if the chain head changes within `ms` or production stops (both mean: do not seal now). */
function headMovesWithin(chain: Chain, ms: number, halt: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    const finish = (moved: boolean) => {
      clearTimeout(timer)
      chain.off('head', onHead)
      halt.removeEventListener('abort', onHalt)
      resolve(moved)
    }
    const onHead = () => finish(true)
    const onHalt = () => finish(true)
    const timer = setTimeout(() => finish(false), ms)
    chain.once('head', onHead)
    if (halt.aborted) finish(true)
    else halt.addEventListener('abort', onHalt, { once: true })
  })
}
