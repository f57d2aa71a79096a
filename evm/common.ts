import { paramsBlock } from '@ethereumjs/block'
import { Common, Hardfork, Mainnet, createCustomCommon } from '@ethereumjs/common'
import { paramsTx } from '@ethereumjs/tx'
import { keccak256 } from '../common/keccak.ts'
import { CHAIN_FORKS, CHAIN_FORK_EIPS, DEFAULT_FORK, isChainFork, type ChainFork } from './forks.ts'

/**
 * Fork rules: London headers and transactions (legacy, EIP-2930, EIP-1559; EIP-7702 from Prague)
 * with the EVM of the chain's fork (forks.ts): Shanghai's by default, up to Osaka's. Ethereum's
 * post-Paris forks are proof of stake in ethereumjs (difficulty 0, extraData <= 32 bytes, beacon
 * header fields), which cannot carry an EIP-225 seal, so each fork here is its EVM EIPs on top of
 * London, without what needs a beacon chain or blobs (forks.ts says what is left out).
 */
export const HARDFORK = Hardfork.London
/** The Shanghai EVM on London: what contract-vm.ts and a genesis without a fork run. */
export const EXTRA_EIPS = [3651, 3855, 3860]
/**
 * What contracts/ compiles for: Shanghai code runs on every fork a genesis may choose, and the
 * predeploys must (a Shanghai or PoW chain cannot run Cancun's MCOPY).
 */
export const SOLC_EVM_VERSION = 'shanghai'

export interface ChainParams {
  chainId: bigint
  /** The ethereumjs consensus section, from the chain's engine; default Clique with `period` and `epoch`. */
  consensus?: Record<string, unknown>
  /** Seconds between blocks and epoch length (EIP-225). */
  period?: number
  epoch?: bigint
  /** The chain's fork (its genesis); default shanghai. */
  hardfork?: ChainFork
}

const ALL_TO_LONDON = [
  'chainstart', 'homestead', 'dao', 'tangerineWhistle', 'spuriousDragon', 'byzantium',
  'constantinople', 'petersburg', 'istanbul', 'muirGlacier', 'berlin', 'london',
].map((name) => ({ name, block: 0 }))

function common(chainId: bigint, consensus: Record<string, unknown>, fork: ChainFork): Common {
  // Our forks replace ethereumjs's definitions of the same names (customHardforks) and follow
  // London directly: Paris is not in the list, so nothing sees proof of stake (DIFFICULTY stays
  // DIFFICULTY, no PREVRANDAO) and headers keep the London layout.
  const forks = CHAIN_FORKS
  return createCustomCommon(
    {
      chainId: Number(chainId),
      name: `medrec-${chainId}`,
      consensus,
      hardforks: [...ALL_TO_LONDON, ...forks.map((name) => ({ name, block: 0 }))],
      customHardforks: Object.fromEntries(forks.map((name) => [name, { eips: [...CHAIN_FORK_EIPS[name]] }])),
    } as Parameters<typeof createCustomCommon>[0],
    Mainnet,
    // Every hash ethereumjs takes (transactions, headers, SHA3, blooms, state keys) through the
    // node's WebAssembly keccak.
    { hardfork: fork, customCrypto: { keccak256 } },
  )
}

/**
 * The Common that blocks, headers and transactions are built with. The engine picks the header
 * format: Clique (ethereumjs checks the EIP-225 layout, 97-byte extraData) or proof of work
 * (extraData at most 32 bytes).
 */
export function createChainCommon(p: ChainParams): Common {
  const consensus = p.consensus ?? { type: 'poa', algorithm: 'clique', clique: { period: p.period ?? 0, epoch: Number(p.epoch ?? 30_000n) } }
  return common(p.chainId, consensus, p.hardfork ?? DEFAULT_FORK)
}

/** The fork a Common of createChainCommon / createExecCommon was made for (Shanghai's rules for any other Common). */
export function commonFork(c: Common): ChainFork {
  const fork = c.hardfork()
  return isChainFork(fork) ? fork : DEFAULT_FORK
}

/**
 * The Common the VM executes with. It carries no PoA semantics on purpose: ethereumjs would
 * otherwise ecrecover the block signer once per transaction to pay fees (and see the zero
 * address while a block is still unsealed). We hand the VM an execution header whose coinbase
 * is the block's author instead, which is what geth does (Engine().Author(header)).
 */
export function createExecCommon(chainId: bigint, fork: ChainFork = DEFAULT_FORK): Common {
  return common(chainId, { type: 'pow', algorithm: 'ethash' }, fork)
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
