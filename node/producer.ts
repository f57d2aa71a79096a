import { setImmediate as yieldToLoop } from 'node:timers/promises'
import { Address } from '@ethereumjs/util'
import { createLogger, errorMessage } from '../common/index.ts'
import type { SenderTx, TxSource } from '../evm/index.ts'
import type { BlockBundle, Chain } from './chain/index.ts'
import type { AuthorityKey } from './config.ts'
import type { Mempool } from './mempool/index.ts'
import type { Proposals } from './proposals.ts'

const log = createLogger('producer')

export interface ProducerOptions {
  signer: AuthorityKey
  /** Seconds between blocks; 0 seals as soon as transactions arrive. */
  period: number
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
}

export interface Producer {
  start(): void
  stop(): Promise<void>
}

/** Shortest time given to fill a block when sealing is already late. */
const MIN_BUILD_WINDOW_MS = 500
/** With period 0, how long to collect transactions that arrive together. */
const INSTANT_BUILD_WINDOW_MS = 20

/**
 * Longest stretch of block building without a turn of the event loop: RPC requests and
 * recovered senders from the workers are taken in meanwhile, so intake runs while the block
 * executes instead of stalling until it is sealed (the EVM's awaits on cached state are
 * microtasks, which would otherwise hold the loop for the whole slot).
 */
const YIELD_EVERY_MS = 5

/**
 * A pool view for one block: the pool's live iterator, which yields executable transactions
 * in the pool's order and picks up arrivals; when it runs dry the stream waits for more until
 * the deadline. The builder thus executes while the slot runs instead of after it, so the
 * block can hold as much as the period allows.
 */
function streamFromPool(mempool: Mempool, baseFee: bigint, deadline: number, fillUntil: number, stopped: () => boolean): TxSource {
  const pending = mempool.pending(baseFee)
  async function* stream(): AsyncGenerator<SenderTx> {
    let turn = performance.now()
    while (Date.now() < Math.min(deadline, fillUntil) && !stopped()) {
      const next = pending.next()
      if (next.done === true) {
        await waitForPending(mempool, deadline)
        turn = performance.now()
        continue
      }
      yield next.value
      if (performance.now() - turn >= YIELD_EVERY_MS) {
        await yieldToLoop()
        turn = performance.now()
      }
    }
    // Full (fill budget spent): the block is still sealed at its slot, not early.
    while (Date.now() < deadline && !stopped()) await new Promise((r) => setTimeout(r, Math.min(50, deadline - Date.now())))
  }
  return Object.assign(stream(), {
    skipSender(sender: Address) {
      pending.skipSender(sender)
    },
  })
}

function waitForPending(mempool: Mempool, deadline: number): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer)
      mempool.off('pending', onPending)
      resolve()
    }
    // Let a burst of arrivals land before the next pass over the pool.
    const onPending = () => setTimeout(done, 2)
    const timer = setTimeout(done, Math.max(0, deadline - Date.now()))
    mempool.once('pending', onPending)
  })
}

export function createProducer(opts: ProducerOptions, modules: ProducerModules): Producer {
  const { chain, mempool } = modules
  const signer = new Address(opts.signer.address)
  let running = false
  let loop: Promise<void> | undefined
  let wake: (() => void) | undefined

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

  async function sealOnce(): Promise<void> {
    const parent = chain.head.block.header
    const plan = chain.consensus.sealPlan(signer, parent, chain.snapshot, Date.now())
    if (!plan.canSeal) {
      log.debug('Not sealing', { reason: plan.reason })
      await sleep(1000)
      return
    }
    const buildWindow = Math.min(MIN_BUILD_WINDOW_MS, opts.period * 500)
    if (!plan.inTurn && plan.delayMs > buildWindow) {
      // Out of turn: wait out the wiggle without holding the chain, and give way if the
      // in-turn block (or anyone's) arrives meanwhile.
      const moved = await headMovesWithin(chain, plan.delayMs - buildWindow)
      if (moved || !running) return
      // A block for this height that is still being received (a large block on a busy peer
      // takes seconds to recover and execute) is not a missing one: wait for its import, up to
      // a few periods, rather than seal a competitor that forks the chain.
      const next = parent.number + 1n
      const giveUpAt = Date.now() + Math.max(3000, opts.period * 3000)
      while (running && modules.receiving?.(next) === true && Date.now() < giveUpAt) {
        if (await headMovesWithin(chain, 100)) return
      }
      if (!running || chain.head.block.header.number !== parent.number) return
    }
    let deadline: number
    if (opts.period === 0) {
      if (mempool.stats().pending === 0) {
        await new Promise<void>((resolve) => {
          wake = resolve
          mempool.once('pending', () => resolve())
        })
        wake = undefined
        if (!running) return
      }
      deadline = Date.now() + INSTANT_BUILD_WINDOW_MS
    } else {
      deadline = plan.inTurn ? Math.max(Date.now() + plan.delayMs, Date.now() + buildWindow) : Date.now() + buildWindow
    }
    if (chain.head.block.header.number !== parent.number) return
    const baseFee = parent.calcNextBaseFee()
    // In a network, a block holds at most half a period of execution, so peers import it well
    // within the period (a longer one is what makes out-of-turn sealers fork). Alone, the whole
    // period is used.
    const fillUntil = modules.receiving === undefined || opts.period === 0 ? deadline : Date.now() + Math.max(buildWindow, opts.period * 500)
    const source = streamFromPool(mempool, baseFee, deadline, fillUntil, () => !running)
    const started = Date.now()
    const vote = modules.proposals === undefined ? undefined : chain.consensus.pickVote(chain.snapshot, parent.number + 1n, modules.proposals.list())
    let bundle
    try {
      bundle = await chain.produce({ signer: opts.signer, source, deadline, vote })
    } catch (err) {
      if ((err as { code?: string }).code !== 'CANNOT_SEAL') throw err
      log.debug('Not sealing', { reason: errorMessage(err) })
      return
    }
    const h = bundle.block.header
    log.info('Sealed new block', {
      number: h.number,
      hash: bundle.block.hash(),
      txs: bundle.block.transactions.length,
      gas: h.gasUsed,
      elapsed: `${Date.now() - started}ms`,
    })
    modules.onSealed?.(bundle)
  }

  return {
    start() {
      if (running) return
      running = true
      log.info('Sealing as authority', { signer: signer.toString(), period: opts.period })
      loop = (async () => {
        while (running) {
          try {
            await sealOnce()
          } catch (err) {
            log.error('Block production failed', undefined, errorMessage(err))
            await sleep(1000)
          }
        }
      })()
    },
    async stop() {
      running = false
      wake?.()
      await loop
    },
  }
}

/** Resolves true if the chain head changes within `ms`. */
function headMovesWithin(chain: Chain, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const onHead = () => {
      clearTimeout(timer)
      resolve(true)
    }
    const timer = setTimeout(() => {
      chain.off('head', onHead)
      resolve(false)
    }, ms)
    chain.once('head', onHead)
  })
}
