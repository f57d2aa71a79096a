/**
 * Longest stretch of block work (execution, the state flush, building) without a turn of the
 * event loop. The EVM's and the trie's awaits on cached state are microtasks, which would
 * otherwise hold the loop for a whole block: gossip (relaying the next block), RPC intake and
 * the recovery workers' answers would wait for it.
 */
export const YIELD_EVERY_MS = 5

export { setImmediate as yieldToLoop } from 'node:timers/promises'
