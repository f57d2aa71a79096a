import type { EVMResult, InterpreterStep, Message } from '@ethereumjs/evm'
import { bytesToHex, setLengthLeft, type Address } from '@ethereumjs/util'
import { TraceError, TraceErrorCode } from './trace-errors.ts'

/**
 * geth's default tracer, the struct (opcode) logger: one entry per executed opcode, in geth's
 * JSON shape (eth/tracers/logger): stack words as 0x-quantities, memory as 32-byte words and
 * storage slots as 64 hex digits without 0x, depth from 1.
 */

/** geth's TraceConfig fields for the struct logger. */
export interface StructLogConfig {
  disableStack?: boolean
  enableMemory?: boolean
  disableStorage?: boolean
  enableReturnData?: boolean
  /** Entries kept at most (geth's `limit`; 0 or absent: all). Later steps are not recorded. */
  limit?: number
}

export interface StructLog {
  pc: number
  op: string
  gas: number
  gasCost: number
  depth: number
  error?: string
  stack?: string[]
  memory?: string[]
  storage?: Record<string, string>
  returnData?: string
  refund?: number
}

export interface StructTrace {
  /** Gas the transaction (or call) used, intrinsic gas included. */
  gas: number
  failed: boolean
  /** Return data, or the revert data; empty for any other failure (geth). */
  returnValue: string
  structLogs: StructLog[]
}

/** Ops whose gasCost includes the gas they pass on, in geth. */
const FORWARDING = new Set(['CALL', 'CALLCODE', 'DELEGATECALL', 'STATICCALL'])

/** JSON characters an entry's fixed fields take, roughly; the size cap counts the rest exactly. */
const ENTRY_OVERHEAD = 96

const word = (b: Uint8Array): string => Buffer.from(setLengthLeft(b, 32)).toString('hex')
const wordOf = (n: bigint): string => n.toString(16).padStart(64, '0')

/** ethereumjs names the failures; geth's words for the two that differ. */
export function gethError(message: string): string {
  if (message === 'revert') return 'execution reverted'
  return message
}

export class StructLogger {
  readonly logs: StructLog[] = []
  private readonly config: StructLogConfig
  private readonly maxBytes: number
  private bytes = 0
  /** Storage seen per contract (geth: the slots SLOADed or SSTOREd so far, copied into each SLOAD/SSTORE entry). */
  private readonly storage = new Map<string, Map<string, string>>()
  /** Per depth: the last return data a call from that frame got back (enableReturnData). */
  private readonly returnData: string[] = []

  constructor(config: StructLogConfig, maxBytes: number) {
    this.config = config
    this.maxBytes = maxBytes
  }

  private full(): boolean {
    const limit = this.config.limit ?? 0
    return limit > 0 && this.logs.length >= limit
  }

  /** Records one step; resolves once a storage read (SLOAD) is done. */
  step(s: InterpreterStep): Promise<void> | undefined {
    if (this.full()) return undefined
    const log: StructLog = {
      pc: s.pc,
      op: s.opcode.name,
      gas: Number(s.gasLeft),
      // ethereumjs passes the opcode's whole cost (static + dynamic, a CALL's forwarded gas included) as dynamicFee, as geth's gasCost.
      gasCost: Number(s.opcode.dynamicFee ?? BigInt(s.opcode.fee)),
      depth: s.depth + 1,
    }
    let size = ENTRY_OVERHEAD + log.op.length
    if (this.config.disableStack !== true) {
      log.stack = s.stack.map((v) => `0x${v.toString(16)}`)
      for (const v of log.stack) size += v.length + 3
    }
    if (this.config.enableMemory === true) {
      const words: string[] = []
      for (let i = 0; i + 32 <= s.memory.length; i += 32) words.push(Buffer.from(s.memory.subarray(i, i + 32)).toString('hex'))
      log.memory = words
      size += words.length * 67
    }
    if (this.config.enableReturnData === true) {
      log.returnData = this.returnData[s.depth] ?? '0x'
      size += log.returnData.length + 16
    }
    if (s.gasRefund > 0n) log.refund = Number(s.gasRefund)
    this.charge(size)
    this.logs.push(log)
    if (this.config.disableStorage === true) return undefined
    const op = s.opcode.code
    if (op !== 0x54 && op !== 0x55) return undefined
    const n = s.stack.length
    if (op === 0x55) {
      if (n < 2) return undefined
      this.record(log, s.address, wordOf(s.stack[n - 1]!), wordOf(s.stack[n - 2]!))
      return undefined
    }
    if (n < 1) return undefined
    const slot = s.stack[n - 1]!
    return s.stateManager.getStorage(s.address, setLengthLeft(hexToBytes32(slot), 32)).then((v) => this.record(log, s.address, wordOf(slot), word(v)))
  }

  private record(log: StructLog, address: Address, slot: string, value: string): void {
    const key = address.toString()
    let slots = this.storage.get(key)
    if (slots === undefined) this.storage.set(key, (slots = new Map()))
    slots.set(slot, value)
    log.storage = Object.fromEntries(slots)
    this.charge(slots.size * 134)
  }

  private charge(size: number): void {
    this.bytes += size
    if (this.bytes > this.maxBytes) {
      throw new TraceError(
        TraceErrorCode.TOO_LARGE,
        `trace larger than this node's cap of ${this.maxBytes} bytes after ${this.logs.length} steps: pass {"limit": N} to keep the first N steps, or {"disableStack": true} / {"disableStorage": true} and leave enableMemory off, or use {"tracer": "callTracer"}`,
        { steps: this.logs.length, maxBytes: this.maxBytes },
      )
    }
  }

  beforeMessage(m: Message): void {
    this.returnData[m.depth] = '0x'
    // geth counts the gas a CALL-family op forwards in its gasCost (callGasTemp, the value
    // stipend excluded); ethereumjs takes it apart from the op's fee, so it is added here.
    const call = this.logs.at(-1)
    if (m.depth === 0 || call === undefined || call.depth !== m.depth || !FORWARDING.has(call.op)) return
    const stipend = m.value > 0n && (call.op === 'CALL' || call.op === 'CALLCODE') ? 2300n : 0n
    call.gasCost += Number(m.gasLimit - stipend)
  }

  afterMessage(r: EVMResult, depth: number): void {
    const err = r.execResult.exceptionError
    if (depth > 0) this.returnData[depth - 1] = bytesToHex(r.execResult.returnValue)
    // geth puts a failure on the entry of the opcode that failed; a REVERT is not one.
    if (err === undefined || err.error === 'revert') return
    for (let i = this.logs.length - 1; i >= 0; i--) {
      const l = this.logs[i]!
      if (l.depth === depth + 1) {
        if (l.error === undefined) l.error = gethError(err.error)
        break
      }
      if (l.depth < depth + 1) break
    }
  }

  result(gasUsed: bigint, failed: boolean, reverted: boolean, returnValue: Uint8Array): StructTrace {
    return { gas: Number(gasUsed), failed, returnValue: failed && !reverted ? '0x' : bytesToHex(returnValue), structLogs: this.logs }
  }
}

function hexToBytes32(n: bigint): Uint8Array {
  return new Uint8Array(Buffer.from(n.toString(16).padStart(64, '0'), 'hex'))
}
