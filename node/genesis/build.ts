import { CHAIN_FORKS, DEFAULT_FORK, type ChainFork } from '../../common/forks.ts'
import { GenesisError, GenesisErrorCode } from './errors.ts'
import { parseGenesis } from './parse.ts'
import type { Genesis, GenesisAllocJson, GenesisJson } from './types.ts'

export const DEFAULT_GAS_LIMIT = 30_000_000n

export interface NewGenesisOptions {
  chainId: bigint
  /** Initial sealers (poa) or certified providers (pow). */
  authorities: Uint8Array[]
  /** poa: seconds between blocks, and blocks between checkpoints (default 30000). */
  period?: number
  epoch?: bigint
  /** pow instead of poa: target seconds between blocks, starting difficulty, block reward. */
  pow?: { targetBlockTime: number; difficulty?: bigint; blockReward?: bigint; minimumDifficulty?: bigint }
  /** Default 30,000,000. */
  gasLimit?: bigint
  /** Default 1 gwei. */
  baseFeePerGas?: bigint
  alloc?: Array<[address: Uint8Array, balance: bigint]>
  /** Unix seconds; default now. */
  timestamp?: bigint
  /** The EVM's fork; default shanghai. */
  hardfork?: ChainFork
}

const q = (n: bigint): string => `0x${n.toString(16)}`
const h = (b: Uint8Array): string => `0x${Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex')}`
/** JSON numbers are exact only up to 2^53; larger values go as strings so the parser reports them as they are. */
const num = (n: bigint): number => (n >= BigInt(Number.MIN_SAFE_INTEGER) && n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : (n.toString() as unknown as number))

/**
 * geth's keys for `fork`: `<fork>Time: 0` for it and every fork before it, none for Shanghai
 * (files from before forks could be chosen stay as they were).
 */
function forkKeys(fork: ChainFork): Record<string, number> {
  if (fork === DEFAULT_FORK) return {}
  return Object.fromEntries(CHAIN_FORKS.slice(0, CHAIN_FORKS.indexOf(fork) + 1).map((f) => [`${f}Time`, 0]))
}

/** A genesis from options (PoA, or PoW with `pow`), validated by the same parser as genesis files. */
export function newGenesis(o: NewGenesisOptions): Genesis {
  const alloc: Record<string, GenesisAllocJson> = {}
  for (const [a, balance] of o.alloc ?? []) {
    if (!(a instanceof Uint8Array) || a.length !== 20) {
      throw new GenesisError(GenesisErrorCode.INVALID_GENESIS, `genesis.alloc: every address must be 20 bytes, got ${a instanceof Uint8Array ? a.length : typeof a}`)
    }
    const key = h(a)
    // A record would silently keep only the last balance.
    if (alloc[key] !== undefined) throw new GenesisError(GenesisErrorCode.INVALID_GENESIS, `genesis.alloc.${key}: address given twice: pass each account once`, { path: `genesis.alloc.${key}` })
    alloc[key] = { balance: balance < 0n ? `-${q(-balance)}` : q(balance) }
  }
  const pow = o.pow
  const forks = forkKeys(o.hardfork ?? DEFAULT_FORK)
  const json: GenesisJson = {
    config:
      pow === undefined
        ? { chainId: num(o.chainId), consensus: 'poa', poa: { period: o.period ?? 0, epoch: num(o.epoch ?? 30_000n) }, ...forks }
        : {
            chainId: num(o.chainId),
            consensus: 'pow',
            pow: { targetBlockTime: pow.targetBlockTime, blockReward: pow.blockReward === undefined ? undefined : q(pow.blockReward), minimumDifficulty: pow.minimumDifficulty === undefined ? undefined : q(pow.minimumDifficulty) },
            ...forks,
          },
    ...(pow?.difficulty === undefined ? {} : { difficulty: q(pow.difficulty) }),
    gasLimit: q(o.gasLimit ?? DEFAULT_GAS_LIMIT),
    baseFeePerGas: q(o.baseFeePerGas ?? 1_000_000_000n),
    timestamp: q(o.timestamp ?? BigInt(Math.floor(Date.now() / 1000))),
    authorities: o.authorities.map((a) => (a instanceof Uint8Array ? h(a) : String(a))),
    alloc,
  }
  return parseGenesis(json)
}

/**
 * The JSON form, for writing genesis.json. Predeploys are written out in alloc and `predeploys`
 * is false, so parsing the output gives back an equal Genesis without merging them twice.
 */
export function genesisToJson(g: Genesis): GenesisJson {
  const alloc: Record<string, GenesisAllocJson> = {}
  for (const [addr, a] of [...g.alloc].sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0))) {
    const e: GenesisAllocJson = { balance: q(a.balance) }
    if (a.nonce !== 0n) e.nonce = q(a.nonce)
    if (a.code !== undefined) e.code = h(a.code)
    if (a.storage.length > 0) e.storage = Object.fromEntries(a.storage.map(([k, v]) => [h(k), h(v)]))
    alloc[addr] = e
  }
  return {
    config:
      g.consensus === 'poa'
        ? { chainId: Number(g.chainId), consensus: 'poa', poa: { period: g.poa.period, epoch: Number(g.poa.epoch) }, ...forkKeys(g.hardfork) }
        : { chainId: Number(g.chainId), consensus: 'pow', pow: { targetBlockTime: g.pow.targetBlockTime, blockReward: q(g.pow.blockReward), minimumDifficulty: q(g.pow.minimumDifficulty) }, ...forkKeys(g.hardfork) },
    ...(g.consensus === 'pow' ? { difficulty: q(g.difficulty) } : {}),
    gasLimit: q(g.gasLimit),
    baseFeePerGas: q(g.baseFeePerGas),
    timestamp: q(g.timestamp),
    vanity: h(g.vanity),
    authorities: g.authorities.map(h),
    alloc,
    predeploys: false,
  }
}

/** How blocks come, in words: "a block every 2 s", "proof of work, a block every ~2 s (reward 2 ETH)". */
export function describeSealing(g: Genesis): string {
  if (g.consensus === 'poa') return g.poa.period === 0 ? 'sealing as soon as transactions arrive' : `a block every ${g.poa.period} s`
  const reward = g.pow.blockReward % 10n ** 18n === 0n ? `${g.pow.blockReward / 10n ** 18n} ETH` : `${g.pow.blockReward} wei`
  return `proof of work, a block every ~${g.pow.targetBlockTime} s (reward ${reward}, starting difficulty ${g.difficulty})`
}
