import type { EVMResult, Message } from '@ethereumjs/evm'
import type { Address } from '@ethereumjs/util'
import { gethError } from './trace-struct.ts'

/**
 * geth's callTracer: the tree of message calls a transaction made (eth/tracers/native/call.go).
 * Frames hold values; node/rpc formats them (hex, revert reasons).
 */

export interface CallFrame {
  /** CALL, CALLCODE, DELEGATECALL, STATICCALL, CREATE, CREATE2. */
  type: string
  from: Address
  /** The callee, the code run by DELEGATECALL/CALLCODE, or the created contract (unset when a create failed). */
  to: Address | undefined
  /** Unset for STATICCALL, which carries none. */
  value: bigint | undefined
  gas: bigint
  gasUsed: bigint
  input: Uint8Array
  /** Return data, revert data, or a created contract's code; unset for other failures. */
  output: Uint8Array | undefined
  /** geth's words: "execution reverted", "out of gas", ... */
  error: string | undefined
  calls: CallFrame[]
}

export class CallTracer {
  private readonly onlyTopCall: boolean
  /** Open frames, outermost first. */
  private readonly open: CallFrame[] = []
  private top: CallFrame | undefined
  /** The opcode the interpreter ran last, per depth: what a new frame's depth - 1 called it with. */
  private readonly lastOp: string[] = []

  constructor(onlyTopCall: boolean) {
    this.onlyTopCall = onlyTopCall
  }

  step(depth: number, op: string): void {
    this.lastOp[depth] = op
  }

  beforeMessage(m: Message): void {
    const type = m.depth === 0 ? (m.to === undefined ? 'CREATE' : 'CALL') : (this.lastOp[m.depth - 1] ?? 'CALL')
    // ethereumjs runs DELEGATECALL as a message from the original caller to the current contract,
    // and CALLCODE as one to the current contract: geth shows the frame's contract calling the code.
    const delegated = type === 'DELEGATECALL' || type === 'CALLCODE'
    const frame: CallFrame = {
      type,
      from: type === 'DELEGATECALL' && m.to !== undefined ? m.to : m.caller,
      to: delegated ? m.codeAddress : m.to,
      value: type === 'STATICCALL' ? undefined : m.value,
      gas: m.gasLimit,
      gasUsed: 0n,
      // A copy: an inner call's data is a view of the caller's memory, which the call's return data overwrites.
      input: m.data.slice(),
      output: undefined,
      error: undefined,
      calls: [],
    }
    if (m.depth === 0) this.top = frame
    else if (!this.onlyTopCall) this.open.at(-1)?.calls.push(frame)
    this.open.push(frame)
  }

  afterMessage(r: EVMResult): void {
    const frame = this.open.pop()
    if (frame === undefined) return
    const ex = r.execResult
    frame.gasUsed = ex.executionGasUsed
    if (r.createdAddress !== undefined) frame.to = r.createdAddress
    const err = ex.exceptionError
    if (err === undefined) {
      frame.output = ex.returnValue
    } else {
      frame.error = gethError(err.error)
      if (err.error === 'revert') frame.output = ex.returnValue
      // A failed create made no contract.
      if (frame.type.startsWith('CREATE')) frame.to = undefined
    }
  }

  /** The top frame, with the transaction's gas limit and total gas used (intrinsic gas included), as geth. */
  result(gas: bigint, gasUsed: bigint): CallFrame | undefined {
    if (this.top === undefined) return undefined
    this.top.gas = gas
    this.top.gasUsed = gasUsed
    return this.top
  }
}
