import type { Test } from 'tap'
import { Address } from '@ethereumjs/util'
import { PowEngine, type Sealer } from '../../consensus/index.ts'
import { Chain, type BlockBundle } from '../../node/chain/index.ts'
import type { SenderTx } from '../../evm/index.ts'
import type { Genesis } from '../../node/genesis/types.ts'
import { powTestGenesis, source } from './chain.ts'
import { tempDir } from './node-process.ts'

/**
 * In-process proof-of-work chains for tests: a small genesis far enough in the past that a
 * simulated clock running 2 s per block never reaches the future, and real mining on one
 * worker thread (the caller's sealer, closed at the end of the test file).
 */
export const POW_REWARD = 2n * 10n ** 18n
export const POW_START = BigInt(Math.floor(Date.now() / 1000) - 20_000)
export const powGenesis: Genesis = powTestGenesis({ difficulty: 256n, timestamp: POW_START, blockReward: POW_REWARD })

export function powSealer(t: Test): Sealer {
  const sealer = new PowEngine({ targetBlockTime: 2, blockReward: POW_REWARD, minimumDifficulty: 16n }).createSealer({ address: new Address(new Uint8Array(20).fill(0xa1)), threads: 1 })
  t.teardown(() => sealer.close())
  return sealer
}

export interface PowNode {
  chain: Chain
  /** Simulated wall clock (ms) for the next block: `stepSeconds` after the last. */
  clock: () => number
}

/** A chain in its own data dir, closed and removed when `t` ends. */
export async function openPowNode(t: Test, stepSeconds = 2): Promise<PowNode> {
  const dir = tempDir()
  const chain = await Chain.open(dir.path, powGenesis)
  t.teardown(async () => {
    await chain.close()
    dir.remove()
  })
  let at = Number(POW_START)
  return { chain, clock: () => (at += stepSeconds) * 1000 }
}

/** Mines the next block on the node's head for `author`, with real proof of work. */
export async function minePow(n: PowNode, sealer: Sealer, author: Address, txs: SenderTx[] = []): Promise<BlockBundle> {
  const pending = await n.chain.buildBlock({ author, source: source(txs), deadline: Date.now() + 30_000, now: n.clock() })
  const seal = await sealer.seal(pending.header, new AbortController().signal)
  const bundle = seal === undefined ? undefined : await n.chain.commitBlock(pending, seal)
  if (bundle === undefined) throw new Error('the head moved while mining')
  return bundle
}
