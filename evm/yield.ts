import { setImmediate as yieldToLoop } from 'node:timers/promises'

/**
 * Longest stretch of block work (execution, the state flush, building, decoding a block)
 * without a turn of the event loop. The EVM's and the trie's awaits on cached state are
 * microtasks, which would otherwise hold the loop for a whole block: gossip (relaying the next
 * block), RPC intake and the recovery workers' answers would wait for it.
 */
export const YIELD_EVERY_MS = 5

/** One stretch of such work: `if (slice.due()) await slice.yield()` between its steps. */
export class TimeSlice {
  #start = performance.now()

  /** YIELD_EVERY_MS have passed since the slice started or last yielded. */
  due(): boolean {
    return performance.now() - this.#start >= YIELD_EVERY_MS
  }

  /** Gives the event loop a turn and starts a new slice. */
  async yield(): Promise<void> {
    await yieldToLoop()
    this.restart()
  }

  /** Starts a new slice (the work waited anyway). */
  restart(): void {
    this.#start = performance.now()
  }
}
