import { NEWEST_FORK, type ChainFork } from '../../common/forks.ts'
import { DEV_MNEMONIC, deriveKey } from '../keys/index.ts'
import { newGenesis } from './build.ts'
import { GenesisError, GenesisErrorCode } from './errors.ts'
import type { Genesis } from './types.ts'

export const DEV_CHAIN_ID = 1337n
/** Never binds the throughput bench: 1,200 contract writes of 60k gas per 2 s block = 72M. */
export const DEV_GAS_LIMIT = 300_000_000n
export const DEV_PERIOD = 2
export const DEV_ACCOUNTS = 10
const DEV_BALANCE = 10_000n * 10n ** 18n

/** The keys of DEV_MNEMONIC at indexes 0..count-1 (anvil's and hardhat's default accounts). */
export function devAccounts(count = DEV_ACCOUNTS): Array<{ address: Uint8Array; privateKey: Uint8Array }> {
  if (!Number.isSafeInteger(count) || count < 0) {
    throw new GenesisError(GenesisErrorCode.INVALID_GENESIS, `dev accounts: count must be a non-negative integer, got ${count}`)
  }
  while (derived.length < count) derived.push(deriveKey(DEV_MNEMONIC, derived.length))
  // Copies: callers own what they get; the derivation (BIP-32 over a PBKDF2 seed, ~10% of a dev start) runs once per process.
  return derived.slice(0, count).map((k) => ({ address: k.address.slice(), privateKey: k.privateKey.slice() }))
}
const derived: Array<{ address: Uint8Array; privateKey: Uint8Array }> = []

/**
 * The dev chain: chain id 1337, dev account 0 seals, every dev account holds 10000 ETH, the
 * newest fork (solc's default target), and timestamp 0 so that the genesis hash is the same on
 * every machine and every run (the fork is not in it: a data dir keeps the fork it was made with).
 */
export function createDevGenesis(opts: { period?: number; accounts?: number; hardfork?: ChainFork } = {}): Genesis {
  const count = opts.accounts ?? DEV_ACCOUNTS
  if (!Number.isSafeInteger(count) || count < 1) {
    throw new GenesisError(GenesisErrorCode.INVALID_GENESIS, `dev genesis: accounts must be an integer >= 1 (account 0 is the sealer), got ${count}`)
  }
  const accounts = devAccounts(count)
  return newGenesis({
    chainId: DEV_CHAIN_ID,
    authorities: [accounts[0]!.address],
    period: opts.period ?? DEV_PERIOD,
    gasLimit: DEV_GAS_LIMIT,
    alloc: accounts.map((a) => [a.address, DEV_BALANCE]),
    timestamp: 0n,
    hardfork: opts.hardfork ?? NEWEST_FORK,
  })
}
