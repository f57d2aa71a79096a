/**
 * eth_simulateV1 as geth answers it (internal/ethapi/simulate.go): `[{blockStateCalls:
 * [{blockOverrides?, stateOverrides?, calls: [call]}], traceTransfers?, validation?,
 * returnFullTransactions?}, block?]` → one block object per simulated block (gaps filled with
 * empty blocks), each with `calls: [{returnData, logs, gasUsed, maxUsedGas, status, error?}]`.
 * The simulation runs where eth_call runs: the call workers (bounded by --rpc.evmtimeout,
 * refused when their queue is full), or this thread with --rpc.callworkers 0; the whole request
 * shares --rpc.gascap.
 */
import { createBlock, createBlockHeaderFromRLP } from '@ethereumjs/block'
import type { Common } from '@ethereumjs/common'
import { createTx, createTxFromRLP, type TypedTransaction } from '@ethereumjs/tx'
import { Address, bytesToHex } from '@ethereumjs/util'
import { isCodedError, toData, toQuantity } from '../../common/index.ts'
import {
  EvmErrorCode,
  callEvmOpts,
  commonFork,
  createExecCommon,
  simulateBlocks,
  type CallPool,
  type SimBase,
  type SimBlockInput,
  type SimulateRequest,
  type SimulatedBlock,
} from '../../evm/index.ts'
import type { Chain } from '../chain/index.ts'
import { DEFAULT_RPC_EVM_TIMEOUT_MS, DEFAULT_RPC_GAS_CAP, type NodeConfig } from '../config/index.ts'
import { resolveBlockTag } from './blocks.ts'
import { RpcError, RpcErrorCode } from './errors.ts'
import { revertedError } from './revert.ts'
import { formatBlock, formatLog } from './format.ts'
import type { RpcMethods } from './types.ts'
import * as v from './validate.ts'

/** geth's code for a call that failed in the EVM other than by REVERT (errCodeVMError). */
const VM_ERROR = -32015

export interface SimulateModules {
  chain: Chain
  config: Pick<NodeConfig, 'genesis' | 'rpc'>
  /** The call workers; absent: this thread (--rpc.callworkers 0). */
  calls?: CallPool
}

/** A refusal with one of geth's eth_simulateV1 codes (-38010…-38026), which RpcErrorCode has no names for. */
class SimulateRpcError extends RpcError {
  constructor(rpcCode: number, message: string) {
    super(rpcCode === -32602 ? RpcErrorCode.INVALID_PARAMS : RpcErrorCode.SERVER, message)
    Object.defineProperty(this, 'rpcCode', { value: rpcCode })
  }
}

const present = (x: unknown): boolean => x !== undefined && x !== null

function optBool(o: Record<string, unknown>, key: string): boolean {
  return present(o[key]) ? v.bool(o[key], v.fieldOf(0, key)) : false
}

/** simOpts as geth decodes them; overrides and calls as eth_call's. */
export function simulateRequest(raw: unknown): SimulateRequest {
  if (!v.isObject(raw)) throw RpcError.invalidParams(`invalid argument 0: expected {blockStateCalls, traceTransfers?, validation?, returnFullTransactions?}, got ${v.kindOf(raw)}`)
  const list = raw.blockStateCalls
  if (!Array.isArray(list)) throw RpcError.invalidParams(`${v.fieldOf(0, 'blockStateCalls')}: expected an array of {blockOverrides?, stateOverrides?, calls?}, got ${v.kindOf(list)}`)
  const blocks = list.map((b, i): SimBlockInput => {
    const at = `0.blockStateCalls[${i}]`
    if (!v.isObject(b)) throw RpcError.invalidParams(`invalid argument ${at}: expected {blockOverrides?, stateOverrides?, calls?}, got ${v.kindOf(b)}`)
    const calls = present(b.calls) ? b.calls : []
    if (!Array.isArray(calls)) throw RpcError.invalidParams(`invalid argument ${at}.calls: expected an array of call objects, got ${v.kindOf(calls)}`)
    return {
      blockOverrides: present(b.blockOverrides) ? v.blockOverrides(b.blockOverrides, `${at}.blockOverrides`) : undefined,
      stateOverrides: present(b.stateOverrides) ? v.stateOverride(b.stateOverrides, `${at}.stateOverrides`) : undefined,
      calls: calls.map((c, j) => v.callObject(c, `${at}.calls[${j}]`)),
    }
  })
  return { blocks, validation: optBool(raw, 'validation'), traceTransfers: optBool(raw, 'traceTransfers') }
}

export function createSimulateMethods({ chain, config, calls }: SimulateModules): RpcMethods {
  const gasCap = config.rpc.gasCap ?? DEFAULT_RPC_GAS_CAP
  const timeoutMs = config.rpc.evmTimeoutMs ?? DEFAULT_RPC_EVM_TIMEOUT_MS
  const execCommon = createExecCommon(config.genesis.chainId, commonFork(chain.common))

  /** This thread, bounded by --rpc.evmtimeout through the same interrupt check the workers use. */
  async function onThisThread(req: SimulateRequest, base: SimBase): Promise<SimulatedBlock[]> {
    const deadline = timeoutMs > 0 ? performance.now() + timeoutMs : Infinity
    const interrupt = (): void => {
      if (performance.now() > deadline) throw new SimulateRpcError(-32000, `execution aborted (timeout = ${timeoutMs / 1000}s)`)
    }
    return simulateBlocks({ execCommon, state: chain.store.state, blockHash: (n) => chain.store.canonicalHash(n), evmOpts: callEvmOpts(execCommon, interrupt) }, req, base, gasCap)
  }

  function translate(err: unknown): never {
    if (err instanceof RpcError) throw err
    if (isCodedError(err)) {
      const rpcCode = err.context?.rpcCode
      if (err.code === EvmErrorCode.INVALID_CALL) throw new SimulateRpcError(typeof rpcCode === 'number' ? rpcCode : -32000, err.message)
      if (err.code === EvmErrorCode.CALL_QUEUE_FULL) throw RpcError.limit(err.message)
      if (err.code === EvmErrorCode.EXECUTION_TIMEOUT || err.code === EvmErrorCode.CALL_WORKER_FAILED || err.code === EvmErrorCode.CALL_POOL_CLOSED || err.code === EvmErrorCode.MISSING_STATE) {
        throw RpcError.server(err.message)
      }
    }
    throw err
  }

  return {
    eth_simulateV1: async (p) => {
      v.params(p, 1, 2)
      const raw = p[0]
      const req = simulateRequest(raw)
      const fullTx = v.isObject(raw) && optBool(raw, 'returnFullTransactions')
      const tag = present(p[1]) ? v.blockTag(p[1], 1) : ({ kind: 'tag', tag: 'latest' } as const)
      const b = await resolveBlockTag(chain, tag)
      if (b === undefined) throw RpcError.server('header not found')
      const h = b.block.header
      const author = h.number === 0n ? new Address(new Uint8Array(20)) : chain.consensus.author(h)
      const ctx = chain.contextOf(h, author)
      const base: SimBase = {
        ctx: { number: ctx.number, timestamp: ctx.timestamp, gasLimit: ctx.gasLimit, baseFeePerGas: ctx.baseFeePerGas, difficulty: ctx.difficulty, author: author.bytes },
        hash: b.block.hash(),
        stateRoot: h.stateRoot,
        nextBaseFee: h.calcNextBaseFee(),
        coinbase: h.coinbase.bytes,
      }
      const blocks = await (calls === undefined ? onThisThread(req, base) : calls.simulate(req, base)).catch(translate)
      let td = b.totalDifficulty
      return blocks.map((sb) => {
        const header = createBlockHeaderFromRLP(sb.header, { common: chain.common, skipConsensusFormatValidation: true })
        const block = createBlock({ header, transactions: sb.txs.map((t) => unsignedTx(t, chain.common)) }, { common: chain.common, skipConsensusFormatValidation: true })
        td += header.difficulty
        const senders = sb.senders.map((s) => new Address(s))
        let logIndex = 0
        const json = formatBlock({ block, senders, receipts: sb.receipts, totalDifficulty: td }, fullTx)
        return {
          ...json,
          calls: sb.calls.map((c, txIndex) => ({
            returnData: toData(c.returnData),
            logs: c.logs.map((l) => formatLog(l, { block, txIndex, logIndex: logIndex++ })),
            gasUsed: toQuantity(c.gasUsed),
            maxUsedGas: toQuantity(c.maxUsedGas),
            status: toQuantity(c.status),
            ...(c.error === undefined ? {} : { error: c.error.reverted ? revertJson(c.returnData) : { message: c.error.message, code: VM_ERROR } }),
          })),
        }
      })
    },
  }
}

/**
 * A simulated call's transaction as geth makes it: unsigned, v = r = s = 0 (so it has a hash).
 * Decoding reads the empty signature fields as "not signed"; they are set back to zero.
 */
function unsignedTx(serialized: Uint8Array, common: Common): TypedTransaction {
  const decoded = createTxFromRLP(serialized, { common })
  if (decoded.isSigned()) return decoded
  return createTx({ ...decoded.toJSON(), type: decoded.type, v: 0n, r: 0n, s: 0n }, { common })
}

function revertJson(data: Uint8Array): { message: string; code: number; data: string } {
  const e = revertedError(data)
  return { message: e.message, code: e.rpcCode, data: bytesToHex(data) }
}
