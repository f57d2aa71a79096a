import { DEV_MNEMONIC, deriveKey } from '../keys/index.ts'
import { parseGenesis } from './parse.ts'
import type { Genesis, GenesisJson } from './types.ts'

export const DEV_CHAIN_ID = 1337n
/** Never binds the throughput bench: 1,200 contract writes of 60k gas per 2 s block = 72M. */
export const DEV_GAS_LIMIT = 300_000_000n
export const DEFAULT_GAS_LIMIT = 30_000_000n
const DEV_BALANCE = 10_000n * 10n ** 18n

export function devAccounts(count = 10): Array<{ address: Uint8Array; privateKey: Uint8Array }> {
  return Array.from({ length: count }, (_, i) => deriveKey(DEV_MNEMONIC, i))
}

export interface NewGenesisOptions {
  chainId: bigint
  authorities: Uint8Array[]
  period: number
  epoch?: bigint
  gasLimit?: bigint
  baseFeePerGas?: bigint
  alloc?: Array<[address: Uint8Array, balance: bigint]>
  timestamp?: bigint
}

/** A PoA genesis from options, validated through the same parser as files. */
export function newGenesis(o: NewGenesisOptions): Genesis {
  const hex = (b: Uint8Array) => `0x${Buffer.from(b).toString('hex')}`
  const json: GenesisJson = {
    config: { chainId: Number(o.chainId), consensus: 'poa', poa: { period: o.period, epoch: Number(o.epoch ?? 30_000n) } },
    gasLimit: `0x${(o.gasLimit ?? DEFAULT_GAS_LIMIT).toString(16)}`,
    baseFeePerGas: `0x${(o.baseFeePerGas ?? 1_000_000_000n).toString(16)}`,
    timestamp: `0x${(o.timestamp ?? BigInt(Math.floor(Date.now() / 1000))).toString(16)}`,
    authorities: o.authorities.map(hex),
    alloc: Object.fromEntries((o.alloc ?? []).map(([a, b]) => [hex(a), { balance: `0x${b.toString(16)}` }])),
  }
  return parseGenesis(json)
}

/** The dev chain: chain id 1337, dev account 0 seals, ten dev accounts funded, fixed timestamp. */
export function createDevGenesis(opts: { period?: number; accounts?: number } = {}): Genesis {
  const accounts = devAccounts(opts.accounts ?? 10)
  return newGenesis({
    chainId: DEV_CHAIN_ID,
    authorities: [accounts[0]!.address],
    period: opts.period ?? 2,
    gasLimit: DEV_GAS_LIMIT,
    alloc: accounts.map((a) => [a.address, DEV_BALANCE]),
    timestamp: 0n,
  })
}
