/**
 * What a thread needs to answer calls from the chain's LevelDB: a CallRunner on the fast steps
 * over the state sublevel (its own clean trie-node cache), BLOCKHASH from the canonical sublevel,
 * and eth_simulateV1. One setup for the call workers (call-worker.ts) and the main thread's small
 * calls (call-inline.ts), so both run the same code on the same state.
 */
import type { Common } from '@ethereumjs/common'
import { blockHashChain, callEvmOpts, CallRunner, createStateManager, type InterruptCheck } from './call.ts'
import { createExecCommon } from './common.ts'
import type { ChainFork } from './forks.ts'
import { simulateBlocks, type SimBase, type SimulatedBlock, type SimulateRequest } from './simulate.ts'
import { TrieLevelAdapter, type BytesLevel } from './state-db.ts'

export interface CallHostParts {
  /** Sublevel of state trie nodes (key: node hash). */
  state: BytesLevel
  /** Sublevel of canonical hashes, keyed by the block number as 8 bytes big-endian. */
  canonical: BytesLevel
  chainId: bigint
  hardfork: ChainFork
  /** The clean trie-node cache (see state-db.ts CleanCache). */
  cacheBytes: number
  interrupt: InterruptCheck
  /** Main-thread calls: see CallRunnerParts.inline. */
  inline?: boolean
}

export interface CallHost {
  execCommon: Common
  runner: CallRunner
  simulate(sim: { req: SimulateRequest; base: SimBase }, gasCap: bigint): Promise<SimulatedBlock[]>
}

function numberKey(n: bigint): Uint8Array {
  const k = new Uint8Array(8)
  new DataView(k.buffer).setBigUint64(0, n)
  return k
}

export async function createCallHost(p: CallHostParts): Promise<CallHost> {
  const execCommon = createExecCommon(p.chainId, p.hardfork)
  const blockHash = (n: bigint) => p.canonical.get(numberKey(n))
  // Nothing here writes: calls run in reverted checkpoints, so the adapter's overlay stays empty
  // and every trie node read comes from LevelDB (through this cache).
  const base = await createStateManager(new TrieLevelAdapter(p.state, { cacheBytes: p.cacheBytes }), execCommon)
  const runner = new CallRunner({ execCommon, base, blockchain: blockHashChain(blockHash), interrupt: p.interrupt, fast: true, inline: p.inline })
  const simParts = { execCommon, state: p.state, blockHash, evmOpts: callEvmOpts(execCommon, p.interrupt) }
  return { execCommon, runner, simulate: (sim, gasCap) => simulateBlocks(simParts, sim.req, sim.base, gasCap) }
}
