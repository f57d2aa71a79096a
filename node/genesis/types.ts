import type { ChainFork } from '../../common/forks.ts'

/**
 * The genesis file, as JSON on disk (hex strings for quantities and data) and parsed.
 * `consensus` picks the engine and its section (`poa` or `pow`); the rest is engine-neutral.
 */
export interface GenesisAllocJson {
  balance?: string
  nonce?: string
  code?: string
  storage?: Record<string, string>
}

export interface GenesisJson {
  config: {
    chainId: number
    consensus: 'poa' | 'pow'
    poa?: { period: number; epoch: number }
    /** Target seconds between blocks, block reward (wei, quantity) and minimum difficulty (quantity). */
    pow?: { targetBlockTime: number; blockReward?: string; minimumDifficulty?: string }
    /**
     * Forks after Shanghai, as geth's genesis names them: 0 turns the fork on from the genesis
     * block (the only time supported); each needs the one before it. None: Shanghai.
     */
    cancunTime?: number
    pragueTime?: number
    osakaTime?: number
    /** Shanghai is always on; accepted (as 0) for files written for geth. */
    shanghaiTime?: number
  }
  /** Hex quantity. */
  gasLimit: string
  /** Hex quantity, base fee of block 1's parent (EIP-1559). Default 1 gwei. */
  baseFeePerGas?: string
  /** Hex quantity, unix seconds. */
  timestamp?: string
  /** Hex quantity: the genesis block's difficulty, where proof of work starts (pow only). */
  difficulty?: string
  /** 32-byte vanity (hex), optional. */
  vanity?: string
  /**
   * The certified institutions in the AuthoritySet contract: under poa the initial sealers,
   * under pow the providers allowed to register identities (no one seals by authority).
   */
  authorities: string[]
  alloc: Record<string, GenesisAllocJson>
  /** Include the MedRec system contracts at their documented addresses (default true). */
  predeploys?: boolean
}

export interface GenesisAccount {
  balance: bigint
  nonce: bigint
  code: Uint8Array | undefined
  /** Slots and values as 32-byte words (left-padded), in file order. */
  storage: Array<[slot: Uint8Array, value: Uint8Array]>
}

export interface PowParams {
  targetBlockTime: number
  blockReward: bigint
  minimumDifficulty: bigint
}

interface GenesisCommon {
  chainId: bigint
  gasLimit: bigint
  baseFeePerGas: bigint
  timestamp: bigint
  /** The genesis block's difficulty (1 under poa). */
  difficulty: bigint
  vanity: Uint8Array
  authorities: Uint8Array[]
  /** The EVM's fork, from genesis block on (config.<fork>Time). */
  hardfork: ChainFork
  /** Keyed by lowercase 0x address, sorted by address; predeploys already merged in. */
  alloc: Map<string, GenesisAccount>
}

export type Genesis = GenesisCommon & ({ consensus: 'poa'; poa: { period: number; epoch: bigint } } | { consensus: 'pow'; pow: PowParams })
