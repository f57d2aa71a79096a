import { Address } from '@ethereumjs/util'
import { createLogger } from '../../common/index.ts'
import type { Sealer } from '../../consensus/index.ts'
import type { AuthorityKey } from '../config/index.ts'
import { NodeError, NodeErrorCode } from '../config/index.ts'
import { createProducer, type Producer, type ProducerModules } from './producer.ts'

const log = createLogger('sealing')
const HASHRATE_REPORT_MS = 30_000

export interface SealingOptions {
  /** An unlocked authority key: the author, and the key a PoA chain seals with. */
  authority?: AuthorityKey
  /** The address credited for mined blocks (PoW); defaults to the authority. */
  etherbase?: Uint8Array
  /** Mining threads (PoW). */
  threads?: number
}

/**
 * The node's block production as the miner_* and eth_mining/eth_coinbase/eth_hashrate methods
 * see it: started at launch or later over RPC, with an etherbase that can change between blocks.
 */
export interface Sealing {
  readonly running: boolean
  /** The author of new blocks, or undefined when none was given. */
  readonly etherbase: Address | undefined
  hashrate(): number
  /** Starts producing blocks (again), with `threads` mining threads when given. */
  start(threads?: number): Promise<void>
  stop(): Promise<void>
  setEtherbase(address: Uint8Array): void
  close(): Promise<void>
}

export function createSealing(opts: SealingOptions, modules: ProducerModules): Sealing {
  let etherbase = opts.etherbase !== undefined ? new Address(opts.etherbase) : opts.authority !== undefined ? new Address(opts.authority.address) : undefined
  let threads = opts.threads
  let sealer: Sealer | undefined
  let producer: Producer | undefined
  // A miner reports its hash rate now and then, as geth's does.
  let report: NodeJS.Timeout | undefined
  const reportHashrate = () => {
    const rate = producer?.running === true ? producer.hashrate() : 0
    if (rate > 0) log.info('Mining', { hashrate: `${(rate / 1000).toFixed(1)} kH/s`, etherbase: etherbase?.toString(), head: modules.chain.head.block.header.number })
  }

  function ensureProducer(): Producer {
    if (etherbase === undefined) {
      throw new NodeError(NodeErrorCode.NO_ETHERBASE, 'no etherbase to credit blocks to: start with --miner.etherbase ADDRESS or call miner_setEtherbase first')
    }
    if (producer === undefined) {
      sealer = modules.chain.consensus.createSealer({ address: etherbase, privateKey: opts.authority?.privateKey, threads })
      producer = createProducer({ author: etherbase, sealer }, modules)
    }
    return producer
  }

  const sealing: Sealing = {
    get running() {
      return producer?.running ?? false
    },
    get etherbase() {
      return etherbase
    },
    hashrate: () => (producer?.running === true ? producer.hashrate() : 0),
    async start(n) {
      if (n !== undefined && n !== threads && producer !== undefined) {
        // A new thread count takes a new sealer.
        await producer.stop()
        await sealer?.close()
        producer = undefined
      }
      if (n !== undefined) threads = n
      ensureProducer().start()
      report ??= setInterval(reportHashrate, HASHRATE_REPORT_MS).unref()
    },
    async stop() {
      clearInterval(report)
      report = undefined
      await producer?.stop()
    },
    setEtherbase(address) {
      const a = new Address(address)
      if (producer !== undefined) producer.author = a // refuses an author the sealer cannot seal for
      etherbase = a
      log.info('Etherbase set', { etherbase: a.toString() })
    },
    async close() {
      clearInterval(report)
      await producer?.stop()
      await sealer?.close()
    },
  }
  return sealing
}
