import { paramsBlock } from '@ethereumjs/block'
import { Common, Hardfork, Mainnet, createCustomCommon } from '@ethereumjs/common'
import { paramsTx } from '@ethereumjs/tx'
import { keccak256 } from '../common/keccak.ts'

/**
 * Fork rules: London headers and transactions (legacy, EIP-2930, EIP-1559) with the Shanghai
 * EVM (EIP-3651 warm coinbase, EIP-3855 PUSH0, EIP-3860 initcode limit). Post-Paris forks are
 * out: ethereumjs treats them as proof-of-stake (difficulty 0, extraData <= 32 bytes), which
 * cannot carry an EIP-225 seal. solc is pinned to evmVersion "shanghai" to match.
 */
export const HARDFORK = Hardfork.London
export const EXTRA_EIPS = [3651, 3855, 3860]
export const SOLC_EVM_VERSION = 'shanghai'

export interface ChainParams {
  chainId: bigint
  /** The ethereumjs consensus section, from the chain's engine; default Clique with `period` and `epoch`. */
  consensus?: Record<string, unknown>
  /** Seconds between blocks and epoch length (EIP-225). */
  period?: number
  epoch?: bigint
}

const ALL_TO_LONDON = [
  'chainstart', 'homestead', 'dao', 'tangerineWhistle', 'spuriousDragon', 'byzantium',
  'constantinople', 'petersburg', 'istanbul', 'muirGlacier', 'berlin', 'london',
].map((name) => ({ name, block: 0 }))

function common(chainId: bigint, consensus: Record<string, unknown>): Common {
  return createCustomCommon(
    {
      chainId: Number(chainId),
      name: `medrec-${chainId}`,
      consensus,
      hardforks: ALL_TO_LONDON,
    } as Parameters<typeof createCustomCommon>[0],
    Mainnet,
    // Every hash ethereumjs takes (transactions, headers, SHA3, blooms, state keys) through the
    // node's WebAssembly keccak.
    { hardfork: HARDFORK, eips: EXTRA_EIPS, customCrypto: { keccak256 } },
  )
}

/**
 * The Common that blocks, headers and transactions are built with. The engine picks the header
 * format: Clique (ethereumjs checks the EIP-225 layout, 97-byte extraData) or proof of work
 * (extraData at most 32 bytes).
 */
export function createChainCommon(p: ChainParams): Common {
  return common(p.chainId, p.consensus ?? { type: 'poa', algorithm: 'clique', clique: { period: p.period ?? 0, epoch: Number(p.epoch ?? 30_000n) } })
}

/**
 * The Common the VM executes with. It carries no PoA semantics on purpose: ethereumjs would
 * otherwise ecrecover the block signer once per transaction to pay fees (and see the zero
 * address while a block is still unsealed). We hand the VM an execution header whose coinbase
 * is the block's author instead, which is what geth does (Engine().Author(header)).
 */
export function createExecCommon(chainId: bigint): Common {
  return common(chainId, { type: 'pow', algorithm: 'ethash' })
}

/**
 * One Common shared by every header and transaction decoded with it. ethereumjs copies the
 * Common it is given for each header and transaction it constructs and rebuilds the copy's
 * parameter cache (JSON round trips of every EIP's parameters): half the cost of decoding a
 * transaction, paid again for every transaction of every gossiped block. Decoded headers and
 * transactions never change their Common (one hardfork, `setHardfork: false`, the VM runs with
 * skipHardForkValidation), so they share one, prepared once with the block and transaction
 * parameters. Do not build blocks with it: building sets no parameters of its own either.
 */
export function createDecodeCommon(common: Common): Common {
  const shared = common.copy()
  shared.updateParams(paramsBlock)
  shared.updateParams(paramsTx)
  return Object.assign(shared, { copy: () => shared, updateParams: () => {} })
}
