import type { BlockHeader } from '@ethereumjs/block'
import { Address, bytesToHex } from '@ethereumjs/util'
import { isCodedError, toQuantity, toData } from '../../common/index.ts'
import { EvmErrorCode, type AccessListResult, type CallArgs, type CallPool, type CallResult, type ExecutionContext } from '../../evm/index.ts'
import type { BlockBundle, Chain } from '../chain/index.ts'
import { DEFAULT_RPC_GAS_CAP, type NodeConfig } from '../config/index.ts'
import { MempoolError, type Mempool } from '../mempool/index.ts'
import { resolveBlockTag } from './blocks.ts'
import { RpcError } from './errors.ts'
import { revertedError } from './revert.ts'
import type { FilterManager, LogFilter } from './filters.ts'
import { matchLog } from './filters.ts'
import { formatBlock, formatBlockReceipts, formatHeader, formatLog, formatReceipt, formatTransaction, type LogJson } from './format.ts'
import { createProofMethods } from './proof.ts'
import { createTxpoolMethods } from './txpool.ts'
import { createSimulateMethods } from './simulate.ts'
import type { RpcMethods } from './types.ts'
import * as v from './validate.ts'

export const CLIENT_VERSION = `medrec/v0.1.0/${process.platform}-${process.arch}/node${process.versions.node}`
/** Suggested priority fee: 1 gwei, as geth's oracle falls back to on a quiet chain. */
export const SUGGESTED_TIP = 1_000_000_000n
/** eth_getLogs bounds, so one request cannot pin the node (geth/erigon have similar caps). */
export const MAX_LOG_RANGE = 10_000n
export const MAX_LOG_RESULTS = 10_000
const MAX_FEE_HISTORY = 1024

export interface EthModules {
  chain: Chain
  mempool: Mempool
  filters: FilterManager
  config: NodeConfig
  /** Relays a transaction accepted over JSON-RPC to the network. */
  broadcastTx?: (raw: Uint8Array) => void
  /** Runs RPC clients' eth_call/eth_estimateGas off the main thread; absent: on it (--rpc.callworkers 0). */
  calls?: CallPool
}

export interface EthApi {
  table: RpcMethods
  /**
   * eth_call and eth_estimateGas on the main thread, for the in-process transport only (the
   * gatekeeper; see node.ts): laid over `table` there. Never serve these to RPC clients.
   */
  inProcess: RpcMethods
  getLogs(filter: LogFilter): Promise<LogJson[]>
  setFilters(f: FilterManager): void
}

function headerNotFound(): RpcError {
  return RpcError.server('header not found')
}

/** A validated call object as the EVM's call arguments (eth_call, eth_estimateGas, debug_traceCall). */
export function callArgs(o: v.CallObject): CallArgs {
  return {
    from: o.from === undefined ? undefined : new Address(o.from),
    to: o.to === undefined ? undefined : new Address(o.to),
    data: o.data,
    value: o.value,
    gas: o.gas,
    gasPrice: o.gasPrice ?? o.maxFeePerGas,
    accessList: o.accessList,
    authorizationList: o.authorizationList,
  }
}

export function createEthMethods(modules: EthModules): EthApi {
  const { chain, mempool, config } = modules
  let filters = modules.filters
  const head = () => chain.head

  /** Resolves a block parameter to a canonical bundle, or undefined when beyond the head. */
  async function resolve(tag: v.BlockTag): Promise<BlockBundle | undefined> {
    const b = await resolveBlockTag(chain, tag)
    if (b === undefined && tag.kind === 'hash') throw RpcError.server(`header for hash ${bytesToHex(tag.hash)} not found`)
    return b
  }

  /** State queries need a block whose state exists; beyond the head it is "header not found". */
  async function stateAt(params: unknown[], index: number): Promise<BlockHeader> {
    const tag = params[index] === undefined ? ({ kind: 'tag', tag: 'latest' } as const) : v.blockTag(params[index], index)
    const b = await resolve(tag)
    if (b === undefined) throw headerNotFound()
    return b.block.header
  }

  /** eth_call's and eth_estimateGas's optional state (index) and block (index + 1) overrides. */
  function withOverrides(args: CallArgs, p: unknown[], index: number): CallArgs {
    const present = (x: unknown) => x !== undefined && x !== null
    return {
      ...args,
      stateOverrides: present(p[index]) ? v.stateOverride(p[index], index) : undefined,
      blockOverrides: present(p[index + 1]) ? v.blockOverrides(p[index + 1], index + 1) : undefined,
    }
  }

  async function getLogs(filter: LogFilter): Promise<LogJson[]> {
    const out: LogJson[] = []
    let bundles: AsyncIterable<BlockBundle> | BlockBundle[]
    if (filter.blockHash !== undefined) {
      const b = await chain.bundleByHash(filter.blockHash)
      if (b === undefined) throw RpcError.server('unknown block')
      bundles = [b]
    } else {
      const headNum = head().block.header.number
      const to = filter.toBlock > headNum ? headNum : filter.toBlock
      if (filter.fromBlock > to) return []
      if (to - filter.fromBlock >= MAX_LOG_RANGE) {
        throw RpcError.limit(`block range ${filter.fromBlock}..${to} is longer than ${MAX_LOG_RANGE} blocks: query a shorter range`)
      }
      bundles = (async function* () {
        for (let n = filter.fromBlock; n <= to; n++) {
          const b = await chain.bundleByNumber(n)
          if (b !== undefined) yield b
        }
      })()
    }
    for await (const b of bundles) {
      let logIndex = 0
      for (const [txIndex, r] of b.receipts.entries()) {
        for (const raw of r.logs) {
          if (matchLog(raw, filter)) {
            out.push(formatLog(raw, { block: b.block, txIndex, logIndex }))
            if (out.length > MAX_LOG_RESULTS) throw RpcError.limit(`query returned more than ${MAX_LOG_RESULTS} results: narrow the block range or the filter`)
          }
          logIndex++
        }
      }
    }
    return out
  }

  function nextBaseFee(): bigint {
    return head().block.header.calcNextBaseFee()
  }

  async function txByHash(hash: Uint8Array): Promise<unknown> {
    const loc = await chain.txLocation(hash)
    if (loc !== undefined) {
      const b = await chain.bundleByHash(loc.blockHash)
      const tx = b?.block.transactions[loc.index]
      if (b !== undefined && tx !== undefined) return formatTransaction(tx, b.senders[loc.index]!, { block: b.block, index: loc.index })
    }
    const pending = mempool.get(hash)
    return pending === undefined ? null : formatTransaction(pending.tx, pending.sender, undefined)
  }

  /** Where a call runs: the call workers, or this thread's executor. */
  interface CallSite {
    call(args: CallArgs, ctx: ExecutionContext, root: Uint8Array): Promise<CallResult>
    estimateGas(args: CallArgs, ctx: ExecutionContext, root: Uint8Array): Promise<bigint>
    createAccessList(args: CallArgs, ctx: ExecutionContext, root: Uint8Array): Promise<AccessListResult>
  }
  const gasCap = config.rpc.gasCap ?? DEFAULT_RPC_GAS_CAP
  const mainThread: CallSite = {
    call: (args, ctx, root) => chain.executor.call(args, ctx, root, gasCap),
    estimateGas: (args, ctx, root) => chain.executor.estimateGas(args, ctx, root, gasCap),
    createAccessList: (args, ctx, root) => chain.executor.createAccessList(args, ctx, root, gasCap),
  }

  /** The call pool's refusals as geth words them: a timeout is -32000 "execution aborted (timeout = 5s)". */
  function callError(err: unknown): never {
    if (isCodedError(err)) {
      if (err.code === EvmErrorCode.CALL_QUEUE_FULL) throw RpcError.limit(err.message)
      if (err.code === EvmErrorCode.EXECUTION_TIMEOUT || err.code === EvmErrorCode.CALL_WORKER_FAILED || err.code === EvmErrorCode.CALL_POOL_CLOSED || err.code === EvmErrorCode.MISSING_STATE) {
        throw RpcError.server(err.message)
      }
      if (err.code === EvmErrorCode.INVALID_CALL) throw RpcError.server(err.message)
      if (err.code === EvmErrorCode.GAS_ESTIMATION_FAILED) {
        const revert = err.context?.revertData as Uint8Array | undefined
        if (revert !== undefined) throw revertedError(revert)
        throw RpcError.server(err.message)
      }
    }
    throw err
  }

  function callMethods(site: CallSite): RpcMethods {
    return {
      eth_call: async (p) => {
        v.params(p, 1, 4)
        const args = withOverrides(callArgs(v.callObject(p[0], 0)), p, 2)
        const h = await stateAt(p, 1)
        const res = await site.call(args, chain.contextOf(h, authorOf(h)), h.stateRoot).catch(callError)
        if (res.error !== undefined) {
          if (res.error.reverted) throw revertedError(res.returnValue)
          throw RpcError.server(res.error.message)
        }
        return toData(res.returnValue)
      },
      eth_estimateGas: async (p) => {
        v.params(p, 1, 4)
        const args = withOverrides(callArgs(v.callObject(p[0], 0)), p, 2)
        const h = await stateAt(p, 1)
        return toQuantity(await site.estimateGas(args, chain.contextOf(h, authorOf(h)), h.stateRoot).catch(callError))
      },
      // geth's shape: {accessList, gasUsed, error?}; a failing run still answers, naming the failure.
      eth_createAccessList: async (p) => {
        v.params(p, 1, 3)
        const args = withOverrides(callArgs(v.callObject(p[0], 0)), p, 2)
        const h = await stateAt(p, 1)
        const res = await site.createAccessList(args, chain.contextOf(h, authorOf(h)), h.stateRoot).catch(callError)
        return {
          accessList: res.accessList.map((e) => ({ address: toData(e.address), storageKeys: e.storageKeys.map((k) => toData(k)) })),
          gasUsed: toQuantity(res.gasUsed),
          ...(res.error === undefined ? {} : { error: res.revertData === undefined ? res.error : revertedError(res.revertData).message }),
        }
      },
    }
  }

  function translateTxError(err: unknown): never {
    if (err instanceof MempoolError) throw RpcError.server(err.message)
    throw err
  }

  const table: RpcMethods = {
    web3_clientVersion: (p) => (v.params(p, 0, 0), CLIENT_VERSION),
    web3_sha3: async (p) => {
      v.params(p, 1, 1)
      const { keccak_256 } = await import('@noble/hashes/sha3.js')
      return toData(keccak_256(v.data(p[0], 0)))
    },
    net_version: (p) => (v.params(p, 0, 0), config.genesis.chainId.toString()),
    net_listening: (p) => (v.params(p, 0, 0), true),
    net_peerCount: (p) => (v.params(p, 0, 0), '0x0'),
    eth_chainId: (p) => (v.params(p, 0, 0), toQuantity(config.genesis.chainId)),
    eth_blockNumber: (p) => (v.params(p, 0, 0), toQuantity(head().block.header.number)),
    eth_syncing: (p) => (v.params(p, 0, 0), false),
    eth_accounts: (p) => (v.params(p, 0, 0), []),

    eth_getBalance: async (p) => {
      v.params(p, 1, 2)
      const addr = new Address(v.address(p[0], 0))
      const h = await stateAt(p, 1)
      return toQuantity((await chain.executor.getAccount(addr, h.stateRoot)).balance)
    },
    eth_getTransactionCount: async (p) => {
      v.params(p, 1, 2)
      const addr = new Address(v.address(p[0], 0))
      if (p[1] === 'pending') return toQuantity(await mempool.pendingNonce(addr))
      const h = await stateAt(p, 1)
      return toQuantity((await chain.executor.getAccount(addr, h.stateRoot)).nonce)
    },
    eth_getCode: async (p) => {
      v.params(p, 1, 2)
      const addr = new Address(v.address(p[0], 0))
      const h = await stateAt(p, 1)
      return toData(await chain.executor.getCode(addr, h.stateRoot))
    },
    eth_getStorageAt: async (p) => {
      v.params(p, 2, 3)
      const addr = new Address(v.address(p[0], 0))
      const slot = v.storageSlot(p[1], 1)
      const h = await stateAt(p, 2)
      const value = await chain.executor.getStorage(addr, slot, h.stateRoot)
      const out = new Uint8Array(32)
      out.set(value, 32 - value.length)
      return toData(out)
    },

    // State roots of canonical and side blocks: their trie nodes are in LevelDB before the block
    // is stored (one batch per block), so a call worker can read every root a tag resolves to.
    ...callMethods(modules.calls ?? mainThread),
    ...createSimulateMethods({ chain, config, calls: modules.calls }),

    eth_gasPrice: (p) => (v.params(p, 0, 0), toQuantity(nextBaseFee() + SUGGESTED_TIP)),
    eth_maxPriorityFeePerGas: (p) => (v.params(p, 0, 0), toQuantity(SUGGESTED_TIP)),
    eth_feeHistory: async (p) => {
      v.params(p, 2, 3)
      let count = Number(v.quantityOrNumber(p[0], 0))
      if (count < 1) return { oldestBlock: '0x0', baseFeePerGas: [], gasUsedRatio: [] }
      if (count > MAX_FEE_HISTORY) count = MAX_FEE_HISTORY
      const newest = await resolve(v.blockTag(p[1], 1))
      if (newest === undefined) throw headerNotFound()
      const percentiles = p[2] === undefined || p[2] === null ? undefined : v.percentiles(p[2], 2)
      const last = newest.block.header.number
      const first = last - BigInt(count) + 1n < 0n ? 0n : last - BigInt(count) + 1n
      const baseFeePerGas: string[] = []
      const gasUsedRatio: number[] = []
      const reward: string[][] = []
      for (let n = first; n <= last; n++) {
        const b = (await chain.bundleByNumber(n))!
        const h = b.block.header
        baseFeePerGas.push(toQuantity(h.baseFeePerGas ?? 0n))
        gasUsedRatio.push(Number(h.gasUsed) / Number(h.gasLimit))
        if (percentiles !== undefined) reward.push(rewardPercentiles(b, percentiles).map(toQuantity))
      }
      baseFeePerGas.push(toQuantity(newest.block.header.calcNextBaseFee()))
      return { oldestBlock: toQuantity(first), baseFeePerGas, gasUsedRatio, ...(percentiles !== undefined ? { reward } : {}) }
    },

    eth_sendRawTransaction: async (p) => {
      v.params(p, 1, 1)
      const raw = v.data(p[0], 0)
      try {
        const { hash } = await mempool.addRaw(raw)
        modules.broadcastTx?.(raw)
        return toData(hash)
      } catch (err) {
        translateTxError(err)
      }
    },
    eth_getTransactionByHash: async (p) => {
      v.params(p, 1, 1)
      return txByHash(v.hash32(p[0], 0))
    },
    eth_getTransactionReceipt: async (p) => {
      v.params(p, 1, 1)
      const loc = await chain.txLocation(v.hash32(p[0], 0))
      if (loc === undefined) return null
      const b = await chain.bundleByHash(loc.blockHash)
      return b === undefined ? null : formatReceipt(b, loc.index)
    },
    // geth: the block by number, tag or hash (EIP-1898); null beyond the head, an error for an unknown hash.
    eth_getBlockReceipts: async (p) => {
      v.params(p, 1, 1)
      const b = await resolve(v.blockTag(p[0], 0))
      return b === undefined ? null : formatBlockReceipts(b)
    },
    eth_getTransactionByBlockNumberAndIndex: async (p) => {
      v.params(p, 2, 2)
      const b = await resolve(v.blockTag(p[0], 0))
      const i = Number(v.quantity(p[1], 1))
      const tx = b?.block.transactions[i]
      return b === undefined || tx === undefined ? null : formatTransaction(tx, b.senders[i]!, { block: b.block, index: i })
    },
    eth_getTransactionByBlockHashAndIndex: async (p) => {
      v.params(p, 2, 2)
      const b = await chain.bundleByHash(v.hash32(p[0], 0))
      const i = Number(v.quantity(p[1], 1))
      const tx = b?.block.transactions[i]
      return b === undefined || tx === undefined ? null : formatTransaction(tx, b.senders[i]!, { block: b.block, index: i })
    },
    eth_getBlockByNumber: async (p) => {
      v.params(p, 2, 2)
      const b = await resolve(v.blockTag(p[0], 0))
      return b === undefined ? null : formatBlock(b, v.bool(p[1], 1))
    },
    eth_getBlockByHash: async (p) => {
      v.params(p, 2, 2)
      const b = await chain.bundleByHash(v.hash32(p[0], 0))
      return b === undefined ? null : formatBlock(b, v.bool(p[1], 1))
    },
    // geth's header-only reads: what a follower of the head needs, without a block's transaction
    // hashes and size (a full block's RLP encoding), which cost ~4 ms at 400 transactions.
    eth_getHeaderByNumber: async (p) => {
      v.params(p, 1, 1)
      const b = await resolve(v.blockTag(p[0], 0))
      return b === undefined ? null : formatHeader(b.block.header)
    },
    eth_getHeaderByHash: async (p) => {
      v.params(p, 1, 1)
      const b = await chain.bundleByHash(v.hash32(p[0], 0))
      return b === undefined ? null : formatHeader(b.block.header)
    },
    eth_getBlockTransactionCountByNumber: async (p) => {
      v.params(p, 1, 1)
      const b = await resolve(v.blockTag(p[0], 0))
      return b === undefined ? null : toQuantity(b.block.transactions.length)
    },
    eth_getBlockTransactionCountByHash: async (p) => {
      v.params(p, 1, 1)
      const b = await chain.bundleByHash(v.hash32(p[0], 0))
      return b === undefined ? null : toQuantity(b.block.transactions.length)
    },
    eth_getUncleCountByBlockNumber: (p) => (v.params(p, 1, 1), '0x0'),
    eth_getUncleCountByBlockHash: (p) => (v.params(p, 1, 1), '0x0'),

    eth_getLogs: async (p) => {
      v.params(p, 1, 1)
      return getLogs(await resolveFilter(v.filterObject(p[0], 0)))
    },
    eth_newFilter: async (p) => {
      v.params(p, 1, 1)
      return filters.newLogFilter(await resolveFilter(v.filterObject(p[0], 0)))
    },
    eth_newBlockFilter: (p) => (v.params(p, 0, 0), filters.newBlockFilter()),
    eth_newPendingTransactionFilter: (p) => (v.params(p, 0, 1), filters.newPendingTxFilter()),
    eth_getFilterChanges: (p) => (v.params(p, 1, 1), filters.getFilterChanges(v.filterId(p[0], 0))),
    eth_getFilterLogs: (p) => (v.params(p, 1, 1), filters.getFilterLogs(v.filterId(p[0], 0))),
    eth_uninstallFilter: (p) => (v.params(p, 1, 1), filters.uninstallFilter(v.filterId(p[0], 0))),

    // The txpool namespace reads the same pool (--rpc.api decides whether it is served).
    ...createTxpoolMethods(mempool),
    ...createProofMethods(chain, stateAt),
  }

  /** Block tags of a filter resolve against the head at the time of the request. */
  async function resolveFilter(f: v.FilterObject): Promise<LogFilter> {
    const headNum = head().block.header.number
    const num = async (t: v.BlockTag | undefined): Promise<bigint> => {
      if (t === undefined) return headNum
      if (t.kind === 'number') return t.n
      // safe and finalized: the blocks finality.ts names.
      if (t.kind === 'tag' && (t.tag === 'safe' || t.tag === 'finalized')) return (await resolveBlockTag(chain, t))?.block.header.number ?? headNum
      if (t.kind === 'tag') return t.tag === 'earliest' ? 0n : headNum
      throw RpcError.invalidParams('fromBlock/toBlock cannot be a block hash; use blockHash')
    }
    return { fromBlock: await num(f.fromBlock), toBlock: await num(f.toBlock), addresses: f.addresses, topics: f.topics, blockHash: f.blockHash }
  }

  function authorOf(h: BlockHeader): Address {
    // Genesis has no seal: its "author" is the zero address.
    return h.number === 0n ? new Address(new Uint8Array(20)) : chain.consensus.author(h)
  }
  return {
    table,
    inProcess: callMethods(mainThread),
    getLogs,
    setFilters(f) {
      filters = f
    },
  }
}

/** Effective tips at the given percentiles of gas used (eth_feeHistory's reward). */
function rewardPercentiles(b: BlockBundle, percentiles: number[]): bigint[] {
  const baseFee = b.block.header.baseFeePerGas ?? 0n
  const txs = b.block.transactions.map((tx, i) => ({ tip: b.receipts[i]!.effectiveGasPrice - baseFee, gas: b.receipts[i]!.gasUsed }))
  if (txs.length === 0) return percentiles.map(() => 0n)
  txs.sort((a, c) => (a.tip < c.tip ? -1 : a.tip > c.tip ? 1 : 0))
  const total = b.block.header.gasUsed
  return percentiles.map((pct) => {
    const threshold = (total * BigInt(Math.round(pct * 100))) / 10000n
    let sum = 0n
    for (const t of txs) {
      sum += t.gas
      if (sum >= threshold) return t.tip
    }
    return txs[txs.length - 1]!.tip
  })
}
