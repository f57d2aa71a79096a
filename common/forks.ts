/**
 * The forks a MedRec chain can run, oldest first, by Ethereum's names (geth's genesis keys are
 * `<name>Time`). What each one means for the EVM is evm/forks.ts; the names live here because the
 * genesis parser, the CLI and the EVM all need them and none of those may load the others.
 */
export const CHAIN_FORKS = ['shanghai', 'cancun', 'prague', 'osaka'] as const

export type ChainFork = (typeof CHAIN_FORKS)[number]

/** A genesis that names no fork runs Shanghai (every chain from before forks could be chosen does). */
export const DEFAULT_FORK: ChainFork = 'shanghai'

/** The newest fork this node knows: the dev chain's. */
export const NEWEST_FORK: ChainFork = CHAIN_FORKS[CHAIN_FORKS.length - 1]!

export function isChainFork(name: unknown): name is ChainFork {
  return typeof name === 'string' && (CHAIN_FORKS as readonly string[]).includes(name)
}

/** `fork` is `since` or later. */
export function forkAtLeast(fork: ChainFork, since: ChainFork): boolean {
  return CHAIN_FORKS.indexOf(fork) >= CHAIN_FORKS.indexOf(since)
}
