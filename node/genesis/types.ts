/**
 * The genesis file, as JSON on disk (hex strings for quantities and data) and parsed.
 * `consensus` picks the engine; everything outside `config.poa` is engine-neutral.
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
    consensus: 'poa'
    poa: { period: number; epoch: number }
  }
  /** Hex quantity. */
  gasLimit: string
  /** Hex quantity, base fee of block 1's parent (EIP-1559). Default 1 gwei. */
  baseFeePerGas?: string
  /** Hex quantity, unix seconds. */
  timestamp?: string
  /** 32-byte vanity (hex), optional. */
  vanity?: string
  /** Initial authority set (sealers), addresses. */
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

export interface Genesis {
  chainId: bigint
  consensus: 'poa'
  poa: { period: number; epoch: bigint }
  gasLimit: bigint
  baseFeePerGas: bigint
  timestamp: bigint
  vanity: Uint8Array
  authorities: Uint8Array[]
  /** Keyed by lowercase 0x address, sorted by address; predeploys already merged in. */
  alloc: Map<string, GenesisAccount>
}
