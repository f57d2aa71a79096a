/**
 * debug_traceTransaction, debug_traceCall, debug_traceBlockByNumber and debug_traceBlockByHash
 * as geth answers them: the struct logger by default, `{"tracer": "callTracer"}` for the call
 * tree. Off unless `--rpc.api` lists `debug` (as geth's HTTP default); each trace is bounded by
 * --rpc.evmtimeout (or the caller's shorter `timeout`), the struct logs by MAX_TRACE_BYTES, and
 * traces run one at a time (evm/trace.ts).
 */
import type { BlockHeader } from '@ethereumjs/block'
import { Address, bytesToHex } from '@ethereumjs/util'
import { parseDuration } from '../../common/duration.ts'
import { toQuantity } from '../../common/index.ts'
import { EvmErrorCode, TraceErrorCode, Tracer, commonFork, createExecCommon, isEvmError, isTraceError, type CallArgs, type CallFrame, type ExecutionContext, type TraceBudget, type TraceKind, type TraceResult } from '../../evm/index.ts'
import type { BlockBundle, Chain } from '../chain/index.ts'
import { DEFAULT_RPC_EVM_TIMEOUT_MS, DEFAULT_RPC_GAS_CAP, type NodeConfig } from '../config/index.ts'
import { resolveBlockTag } from './blocks.ts'
import { callArgs } from './eth.ts'
import { RpcError } from './errors.ts'
import { revertReason } from './revert.ts'
import type { RpcMethods } from './types.ts'
import * as v from './validate.ts'

/**
 * Struct-log output a trace may build, in bytes of JSON (roughly): geth's default
 * --rpc.batch-response-max-size, so one trace is never larger than a batch may be.
 */
export const MAX_TRACE_BYTES = 25_000_000

export interface DebugModules {
  chain: Chain
  config: Pick<NodeConfig, 'genesis' | 'rpc'>
}

/** geth's callFrame JSON, fields in geth's order. */
export interface CallFrameJson {
  type: string
  from: string
  gas: string
  gasUsed: string
  to?: string
  input: string
  output?: string
  error?: string
  revertReason?: string
  calls?: CallFrameJson[]
  value?: string
}

export function formatCallFrame(f: CallFrame): CallFrameJson {
  const out: CallFrameJson = { type: f.type, from: f.from.toString(), gas: toQuantity(f.gas), gasUsed: toQuantity(f.gasUsed), to: f.to?.toString(), input: bytesToHex(f.input) }
  if (out.to === undefined) delete out.to
  if (f.output !== undefined && f.output.length > 0) out.output = bytesToHex(f.output)
  if (f.error !== undefined) {
    out.error = f.error
    const reason = f.output === undefined ? undefined : revertReason(f.output)
    if (reason !== undefined) out.revertReason = reason
  }
  if (f.calls.length > 0) out.calls = f.calls.map(formatCallFrame)
  if (f.value !== undefined) out.value = toQuantity(f.value)
  return out
}

function formatResult(r: TraceResult): unknown {
  if (r.tracer === 'struct') return r.trace
  return r.frame === undefined ? null : formatCallFrame(r.frame)
}

const optBool = (o: Record<string, unknown>, key: string, where: v.Where): boolean | undefined => (o[key] === undefined || o[key] === null ? undefined : v.bool(o[key], v.fieldOf(where, key)))

/** geth's TraceConfig: tracer ("" or "callTracer"), tracerConfig, the struct logger's flags, limit, timeout. Unknown fields are ignored, as geth does. */
export function traceConfig(raw: unknown, where: v.Where, nodeTimeoutMs: number): { kind: TraceKind; timeoutMs: number } {
  if (raw === undefined || raw === null) return { kind: { tracer: 'struct', config: {} }, timeoutMs: nodeTimeoutMs }
  if (!v.isObject(raw)) throw RpcError.invalidParams(`invalid argument ${where}: expected a trace config object, got ${v.kindOf(raw)}`)
  let timeoutMs = nodeTimeoutMs
  if (raw.timeout !== undefined && raw.timeout !== null) {
    if (typeof raw.timeout !== 'string') throw RpcError.invalidParams(`${v.fieldOf(where, 'timeout')}: expected a duration such as "5s", got ${v.kindOf(raw.timeout)}`)
    let asked: number
    try {
      asked = parseDuration(raw.timeout)
    } catch (err) {
      throw RpcError.invalidParams(`${v.fieldOf(where, 'timeout')}: ${(err as Error).message}`)
    }
    // A caller may shorten the node's budget, never lengthen it.
    if (asked > 0 && (nodeTimeoutMs === 0 || asked < nodeTimeoutMs)) timeoutMs = asked
  }
  const tracer = raw.tracer ?? ''
  if (tracer === 'callTracer') {
    const tc = raw.tracerConfig ?? {}
    if (!v.isObject(tc)) throw RpcError.invalidParams(`${v.fieldOf(where, 'tracerConfig')}: expected an object, got ${v.kindOf(tc)}`)
    if (optBool(tc, 'withLog', `${where}.tracerConfig`) === true) throw RpcError.invalidParams(`${v.fieldOf(where, 'tracerConfig')}: withLog is not supported by this node's callTracer`)
    return { kind: { tracer: 'call', onlyTopCall: optBool(tc, 'onlyTopCall', `${where}.tracerConfig`) ?? false }, timeoutMs }
  }
  if (tracer !== '') {
    throw RpcError.server(`tracer ${JSON.stringify(tracer)} is not available on this node: use the default struct logger (no "tracer") or "callTracer"`)
  }
  let limit: number | undefined
  if (raw.limit !== undefined && raw.limit !== null) {
    if (typeof raw.limit !== 'number' || !Number.isSafeInteger(raw.limit) || raw.limit < 0) throw RpcError.invalidParams(`${v.fieldOf(where, 'limit')}: expected a non-negative integer`)
    limit = raw.limit
  }
  return {
    kind: {
      tracer: 'struct',
      config: {
        disableStack: optBool(raw, 'disableStack', where),
        enableMemory: optBool(raw, 'enableMemory', where),
        disableStorage: optBool(raw, 'disableStorage', where),
        enableReturnData: optBool(raw, 'enableReturnData', where),
        limit,
      },
    },
    timeoutMs,
  }
}

/** TraceCallConfig's stateOverrides and blockOverrides (parsed as eth_call's 3rd and 4th parameters); `txIndex` is refused. */
function callOverrides(raw: unknown): Pick<CallArgs, 'stateOverrides' | 'blockOverrides'> {
  if (!v.isObject(raw)) return {}
  const present = (x: unknown) => x !== undefined && x !== null
  if (present(raw.txIndex)) throw RpcError.invalidParams('invalid argument 2: txIndex is not supported by this node: trace the call on the block before, or the transaction with debug_traceTransaction')
  return {
    stateOverrides: present(raw.stateOverrides) ? v.stateOverride(raw.stateOverrides, '2.stateOverrides') : undefined,
    blockOverrides: present(raw.blockOverrides) ? v.blockOverrides(raw.blockOverrides, '2.blockOverrides') : undefined,
  }
}

/** A TraceError as the caller sees it (geth's words where geth has some). */
function traceError(err: unknown): never {
  if (isTraceError(err)) {
    if (err.code === TraceErrorCode.TOO_LARGE || err.code === TraceErrorCode.BUSY) throw RpcError.limit(err.message)
    throw RpcError.server(err.message)
  }
  // geth's words for state it no longer has (this node keeps all state; a damaged database may not).
  if (isEvmError(err, EvmErrorCode.MISSING_STATE)) throw RpcError.server(`required historical state unavailable: ${err.message}`)
  // What eth_call refuses the same way (an override geth refuses, a set-code call without "to").
  if (isEvmError(err, EvmErrorCode.INVALID_CALL)) throw RpcError.server(err.message)
  throw err
}

export function createDebugMethods({ chain, config }: DebugModules): RpcMethods {
  const tracer = new Tracer({
    execCommon: createExecCommon(config.genesis.chainId, commonFork(chain.common)),
    state: chain.store.state,
    blockHash: (n) => chain.store.canonicalHash(n),
  })
  const nodeTimeoutMs = config.rpc.evmTimeoutMs ?? DEFAULT_RPC_EVM_TIMEOUT_MS
  const gasCap = config.rpc.gasCap ?? DEFAULT_RPC_GAS_CAP
  const budget = (timeoutMs: number): TraceBudget => ({ timeoutMs, maxBytes: MAX_TRACE_BYTES })

  function context(h: BlockHeader): ExecutionContext {
    // Genesis has no seal: its "author" is the zero address (as eth_call).
    return chain.contextOf(h, h.number === 0n ? new Address(new Uint8Array(20)) : chain.consensus.author(h))
  }

  /** A block's transactions traced on its parent's state; those `pick` selects are returned. */
  async function traceBlock(b: BlockBundle, pick: (i: number) => boolean, { kind, timeoutMs }: ReturnType<typeof traceConfig>): Promise<TraceResult[]> {
    const header = b.block.header
    if (header.number === 0n) throw RpcError.server('genesis is not traceable')
    const parent = await chain.bundleByHash(header.parentHash)
    if (parent === undefined) throw RpcError.server(`parent ${bytesToHex(header.parentHash)} of block ${header.number} not found`)
    const txs = b.block.transactions.map((tx, i) => ({ tx, sender: b.senders[i]! }))
    return tracer.traceBlock(parent.block.header.stateRoot, context(header), txs, pick, kind, budget(timeoutMs)).catch(traceError)
  }

  async function traceWholeBlock(b: BlockBundle | undefined, label: string, rawConfig: unknown): Promise<unknown> {
    const config = traceConfig(rawConfig, 1, nodeTimeoutMs)
    if (b === undefined) throw RpcError.server(`block ${label} not found`)
    const results = await traceBlock(b, () => true, config)
    return results.map((r, i) => ({ txHash: bytesToHex(b.block.transactions[i]!.hash()), result: formatResult(r) }))
  }

  return {
    debug_traceTransaction: async (p) => {
      v.params(p, 1, 2)
      const hash = v.hash32(p[0], 0)
      const config = traceConfig(p[1], 1, nodeTimeoutMs)
      const loc = await chain.txLocation(hash)
      const b = loc === undefined ? undefined : await chain.bundleByHash(loc.blockHash)
      if (loc === undefined || b === undefined) throw RpcError.server(`transaction ${bytesToHex(hash)} not found`)
      const [r] = await traceBlock(b, (i) => i === loc.index, config)
      return formatResult(r!)
    },
    // geth's TraceCallConfig: the trace config plus stateOverrides and blockOverrides, as eth_call takes them.
    debug_traceCall: async (p) => {
      v.params(p, 1, 3)
      const o = v.callObject(p[0], 0)
      const tag = p[1] === undefined || p[1] === null ? ({ kind: 'tag', tag: 'latest' } as const) : v.blockTag(p[1], 1)
      const { kind, timeoutMs } = traceConfig(p[2], 2, nodeTimeoutMs)
      const args = { ...callArgs(o), ...callOverrides(p[2]) }
      const b = await resolveBlockTag(chain, tag)
      if (b === undefined) throw RpcError.server('header not found')
      const h = b.block.header
      return formatResult(await tracer.traceCall(args, context(h), h.stateRoot, gasCap, kind, budget(timeoutMs)).catch(traceError))
    },
    debug_traceBlockByNumber: async (p) => {
      v.params(p, 1, 2)
      const tag = v.blockTag(p[0], 0)
      if (tag.kind === 'hash') throw RpcError.invalidParams('invalid argument 0: expected a block number or tag; use debug_traceBlockByHash for a hash')
      return traceWholeBlock(await resolveBlockTag(chain, tag), tag.kind === 'number' ? `#${tag.n}` : tag.tag, p[1])
    },
    debug_traceBlockByHash: async (p) => {
      v.params(p, 1, 2)
      const hash = v.hash32(p[0], 0)
      return traceWholeBlock(await chain.bundleByHash(hash), bytesToHex(hash), p[1])
    },
  }
}
