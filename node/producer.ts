import { Address } from '@ethereumjs/util'
import { createLogger, errorMessage } from '../common/index.ts'
import type { SenderTx, TxSource } from '../evm/index.ts'
import type { Chain } from './chain/index.ts'
import type { AuthorityKey } from './config.ts'
import type { Mempool } from './mempool/index.ts'

const log = createLogger('producer')

export interface ProducerOptions {
  signer: AuthorityKey
  /** Seconds between blocks; 0 seals as soon as transactions arrive. */
  period: number
}

export interface ProducerModules {
  chain: Chain
  mempool: Mempool
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
 * A pool view for one block: yields executable transactions in the pool's order and, until
 * the deadline, waits for more. The builder thus executes while the slot runs instead of
 * after it, so the block can hold as much as the period allows.
 */
function streamFromPool(mempool: Mempool, baseFee: bigint, deadline: number, stopped: () => boolean): TxSource {
  const taken = new Set<string>()
  const nextNonce = new Map<string, bigint>()
  const skipped = new Set<string>()
  async function* stream(): AsyncGenerator<SenderTx> {
    while (Date.now() < deadline && !stopped()) {
      let yielded = false
      for (const item of mempool.pending(baseFee)) {
        const sender = item.sender.toString()
        if (skipped.has(sender)) continue
        const key = Buffer.from(item.tx.hash()).toString('hex')
        if (taken.has(key)) continue
        const expect = nextNonce.get(sender)
        if (expect !== undefined && item.tx.nonce !== expect) continue
        taken.add(key)
        nextNonce.set(sender, item.tx.nonce + 1n)
        yielded = true
        yield item
        if (Date.now() >= deadline) return
      }
      if (!yielded) await waitForPending(mempool, deadline)
    }
  }
  return Object.assign(stream(), {
    skipSender(sender: Address) {
      skipped.add(sender.toString())
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
      deadline = Math.max(Date.now() + plan.delayMs, Date.now() + Math.min(MIN_BUILD_WINDOW_MS, opts.period * 500))
    }
    const baseFee = parent.calcNextBaseFee()
    const source = streamFromPool(mempool, baseFee, deadline, () => !running)
    const started = Date.now()
    const bundle = await chain.produce({ signer: opts.signer, source, deadline })
    const h = bundle.block.header
    log.info('Sealed new block', {
      number: h.number,
      hash: bundle.block.hash(),
      txs: bundle.block.transactions.length,
      gas: h.gasUsed,
      elapsed: `${Date.now() - started}ms`,
    })
    await mempool.onBlockIncluded(bundle.block.transactions.map((tx, i) => ({ hash: tx.hash(), sender: bundle.senders[i]!, nonce: tx.nonce })))
    mempool.head({ baseFee: h.calcNextBaseFee(), gasLimit: h.gasLimit })
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
