import type { Common } from '@ethereumjs/common'
import { getOpcodesForHF, paramsEVM, type EVMOpts } from '@ethereumjs/evm'
import { bytesToHex } from '@ethereumjs/util'
import { keccak256 } from '../common/keccak.ts'
import { EvmError, EvmErrorCode } from './errors.ts'
import { getWord, K, opcodeKind, putWord, runLoop, type LoopRunState, type LoopTable } from './fast-loop.ts'

/**
 * Faster EVM execution for calls, with the same gas and the same results as ethereumjs 10.1's own
 * (test/evm/fast-opcodes.test.ts runs a corpus on both and compares gas, return data, logs and
 * state roots).
 *
 * ethereumjs awaits every opcode (`await this.runStep()`, an async function) and every dynamic gas
 * function (all declared async), so each opcode costs promise machinery that dwarfs the work of an
 * ADD or a PUSH; and MSTORE, MLOAD and KECCAK256 convert words through hex strings and spread
 * copies. Four parts:
 * - `fastOpcodes`: MLOAD, MSTORE, MSTORE8 and KECCAK256 with synchronous gas functions and
 *   handlers that move words through a DataView instead of hex strings;
 * - `enableSyncSteps`: on an EVM so marked, a step whose opcode and gas function are known to be
 *   synchronous runs synchronously and carries on with the following such opcodes in one go,
 *   back in ethereumjs's own loop at the first opcode that is not (SLOAD, CALL...), at a jump
 *   before the jump analysis, and at the end of the code;
 * - after the jump analysis, those runs go through fast-loop.ts's inlined loop, which hands each
 *   opcode it does not inline (or not on its ordinary path) back to the entry, one at a time;
 * - the jump-destination analysis of a code, kept per code hash on that EVM.
 * An EVM not marked (block execution, contract-vm.ts) runs ethereumjs unchanged.
 */

/** An opcode added to a VM (ethereumjs exports the list's type, not the entry's). */
export type AddOpcode = Extract<NonNullable<EVMOpts['customOpcodes']>[number], { logicFunction: unknown }>
type RunState = Parameters<AddOpcode['logicFunction']>[0]
type GasFunction = NonNullable<AddOpcode['gasFunction']>
type SyncGasFunction = (runState: RunState, gas: bigint, common: Common) => bigint

/** Handlers and gas functions that return synchronously (never a promise): the sync steps may run them. */
const syncFunctions = new WeakSet<object>()

/** Declares an added opcode's handler (and gas function) synchronous; returns it. */
export function syncOpcode(op: AddOpcode): AddOpcode {
  syncFunctions.add(op.logicFunction)
  if (op.gasFunction !== undefined) syncFunctions.add(op.gasFunction)
  return op
}

const BIG_0 = 0n
const BIG_32 = 32n
const BIG_255 = 255n

/** ethereumjs's subMemUsage: the gas of growing memory to cover [offset, offset + length). */
function memoryGas(rs: RunState, offset: bigint, length: bigint, common: Common): bigint {
  if (length === BIG_0) return BIG_0
  const end = offset + length
  const words = end / BIG_32 + (end % BIG_32 === BIG_0 ? BIG_0 : 1n)
  if (words <= rs.memoryWordCount) return BIG_0
  let cost = words * common.param('memoryGas') + (words * words) / common.param('quadCoefficientDivGas')
  if (cost > rs.highestMemCost) {
    const before = rs.highestMemCost
    rs.highestMemCost = cost
    cost -= before
  }
  rs.memoryWordCount = words
  return cost
}

/** A 32-byte hash as a word. */
function hashWord(hash: Uint8Array): bigint {
  return getWord(hash, 0)
}

/** fastOpcodes' handlers by the loop kind they implement (fast-loop.ts inlines them). */
const fastKinds = new WeakMap<object, number>()
/** call.ts's checked JUMP / JUMPI handlers and their checks: the loop inlines them with the check. */
const jumpChecks = new WeakMap<object, () => void>()

/** Declares `handler` (a JUMP or JUMPI logic function) to be the stock one with `check` run first. */
export function checkedJump(handler: AddOpcode['logicFunction'], check: () => void): void {
  jumpChecks.set(handler, check)
}

/**
 * MLOAD, MSTORE, MSTORE8 and KECCAK256 as ethereumjs defines them (same base fee, same memory and
 * word gas, same stack errors in the same order), synchronous and without hex round trips.
 */
export function fastOpcodes(common: Common): AddOpcode[] {
  refuseUnsupported(common)
  const gas = (f: SyncGasFunction): GasFunction => f
  // Base fees as the fork's own table has them.
  const withParams = common.copy()
  withParams.updateParams(paramsEVM)
  const { opcodeMap } = getOpcodesForHF(withParams)
  const fee = (op: number): number => opcodeMap[op]!.opcodeInfo.fee
  const stockPush = opcodeMap[0x60]!.opHandler
  // PUSH1..PUSH32 from the jump analysis' decoded values, without ethereumjs's per-push checks of
  // the stateless EIPs (refused above); before the analysis, ethereumjs's own handler.
  const pushes: AddOpcode[] = Array.from({ length: 32 }, (_, i) => ({
    opcode: 0x60 + i,
    opcodeName: 'PUSH',
    baseFee: fee(0x60 + i),
    logicFunction: (rs, c) => {
      if (rs.shouldDoJumpAnalysis) return stockPush(rs, c)
      rs.stack.push(rs.cachedPushes[rs.programCounter]!)
      rs.programCounter += i + 1
    },
  }))
  const ops: AddOpcode[] = [
    {
      opcode: 0x20,
      opcodeName: 'KECCAK256',
      baseFee: fee(0x20),
      gasFunction: gas((rs, g, common) => {
        const [offset, length] = rs.stack.peek(2) as [bigint, bigint]
        const words = length / BIG_32 + (length % BIG_32 === BIG_0 ? BIG_0 : 1n)
        return g + memoryGas(rs, offset, length, common) + common.param('keccak256WordGas') * words
      }),
      logicFunction: (rs, common) => {
        const offset = rs.stack.pop()
        const length = rs.stack.pop()
        const data = length === BIG_0 ? new Uint8Array(0) : rs.memory.read(Number(offset), Number(length), true)
        rs.stack.push(hashWord((common.customCrypto.keccak256 ?? keccak256)(data)))
      },
    },
    {
      opcode: 0x51,
      opcodeName: 'MLOAD',
      baseFee: fee(0x51),
      gasFunction: gas((rs, g, common) => g + memoryGas(rs, rs.stack.peek()[0]!, BIG_32, common)),
      logicFunction: (rs) => {
        const at = Number(rs.stack.pop())
        rs.memory.extend(at, 32)
        rs.stack.push(getWord(rs.memory._store, at))
      },
    },
    {
      opcode: 0x52,
      opcodeName: 'MSTORE',
      baseFee: fee(0x52),
      gasFunction: gas((rs, g, common) => g + memoryGas(rs, rs.stack.peek()[0]!, BIG_32, common)),
      logicFunction: (rs) => {
        const at = Number(rs.stack.pop())
        const word = rs.stack.pop()
        rs.memory.extend(at, 32)
        putWord(word, rs.memory._store, at)
      },
    },
    {
      opcode: 0x53,
      opcodeName: 'MSTORE8',
      baseFee: fee(0x53),
      gasFunction: gas((rs, g, common) => g + memoryGas(rs, rs.stack.peek()[0]!, 1n, common)),
      logicFunction: (rs) => {
        const at = Number(rs.stack.pop())
        const byte = rs.stack.pop()
        rs.memory.extend(at, 1)
        rs.memory._store[at] = Number(byte & BIG_255)
      },
    },
  ]
  for (const p of pushes) fastKinds.set(p.logicFunction, K.PUSH)
  fastKinds.set(ops[0]!.logicFunction, K.KECCAK256)
  fastKinds.set(ops[1]!.logicFunction, K.MLOAD)
  fastKinds.set(ops[2]!.logicFunction, K.MSTORE)
  return [...ops, ...pushes].map(syncOpcode)
}

/** The parts of ethereumjs's Interpreter (10.1) the sync steps use. */
interface OpEntry {
  opcodeInfo: { code: number; fee: number; feeBigInt: bigint; isAsync: boolean; dynamicGas: boolean; isInvalid: boolean; name: string }
  opHandler: (rs: RunState, common: Common) => unknown
  gasHandler: ((rs: RunState, gas: bigint, common: Common) => unknown) | undefined
}
interface JumpAnalysis {
  jumps: Uint8Array
  pushes: Record<number, bigint>
  opcodesCached: OpEntry[]
}
interface InterpreterLike {
  _runState: RunState
  _evm: EvmLike
  common: Common
  useGas(amount: bigint, context: unknown): void
  runStep(op?: OpEntry): Promise<void>
  _getValidJumpDestinations(code: Uint8Array): JumpAnalysis
  lookupOpInfo(op: number): OpEntry
}
interface EvmLike {
  _customOpcodes: EVMOpts['customOpcodes']
  _opcodeMap: OpEntry[]
  getActiveOpcodes(): unknown
  DEBUG: boolean
  events: { listenerCount(name: string): number }
  _optsCached: { profiler?: { enabled?: boolean } }
  [FAST]?: FastState
}
interface FastState {
  /** Jump analyses by code hash (hex); the entries point into this EVM's opcode table. */
  jumps: Map<string, JumpAnalysis>
  /** What fast-loop.ts may inline on this EVM's opcode table. */
  loop: LoopTable
  /** Run before every step ethereumjs's loop hands over (see enableSyncSteps' `check`). */
  check: (() => void) | undefined
}

const FAST = Symbol('medrec.fastSteps')
/** Codes whose analysis an EVM keeps (a VM lives for one state root; contracts called there are few). */
const MAX_ANALYSES = 256
/** The forks' EIPs the sync steps do not implement (stateless witnesses, block access lists). */
const UNSUPPORTED_EIPS = [6800, 7864, 7928]

let patched: Promise<void> | undefined

/** Patches ethereumjs's Interpreter once per thread; only EVMs marked by enableSyncSteps take the new paths. */
async function patchInterpreter(): Promise<void> {
  // The class is not exported: its module sits next to the package's entry point.
  const url = new URL('./interpreter.js', import.meta.resolve('@ethereumjs/evm'))
  const mod = (await import(url.href)) as { Interpreter?: { prototype: InterpreterLike } }
  const proto = mod.Interpreter?.prototype
  if (proto === undefined || typeof proto.runStep !== 'function' || typeof proto._getValidJumpDestinations !== 'function') {
    throw new EvmError(EvmErrorCode.CALL_WORKER_FAILED, `@ethereumjs/evm's Interpreter is not where evm/fast-opcodes.ts expects it (${url.href}): check the ethereumjs version against the one the sync steps were written for (10.1)`)
  }
  const stockStep = proto.runStep
  const stockAnalysis = proto._getValidJumpDestinations
  proto._getValidJumpDestinations = function (this: InterpreterLike, code: Uint8Array): JumpAnalysis {
    const fast = this._evm[FAST]
    if (fast === undefined) return stockAnalysis.call(this, code)
    const key = bytesToHex(keccak256(code))
    let found = fast.jumps.get(key)
    if (found === undefined) {
      found = stockAnalysis.call(this, code)
      if (fast.jumps.size >= MAX_ANALYSES) fast.jumps.delete(fast.jumps.keys().next().value as string)
      fast.jumps.set(key, found)
    }
    return found
  }
  proto.runStep = function (this: InterpreterLike, op?: OpEntry): Promise<void> {
    const evm = this._evm
    const fast = evm[FAST]
    if (fast === undefined || evm.DEBUG || evm.events.listenerCount('step') > 0 || evm._optsCached.profiler?.enabled === true) return stockStep.call(this, op)
    // Before the opcode, so a throw leaves the step undone (the call is dropped, not resumed).
    if (fast.check !== undefined) fast.check()
    const rs = this._runState
    const entry = op ?? this.lookupOpInfo(rs.opCode)
    if (!isSync(entry)) return stockStep.call(this, op)
    const common = this.common
    // After the jump analysis, with gas a number can hold exactly: fast-loop.ts's inlined loop,
    // which calls back for one opcode at a time when it needs ethereumjs's entry.
    if (!rs.shouldDoJumpAnalysis && rs.gasLeft <= MAX_SAFE) {
      const check = fast.check
      runLoop(rs as unknown as LoopRunState, fast.loop, (next) => {
        const e = this.lookupOpInfo(next)
        if (!isSync(e)) return false
        if (check !== undefined) check()
        syncStep(this, rs, e, common)
        return true
      })
      return RESOLVED
    }
    const code = rs.code
    // The rest of ethereumjs's runStep and run loop for synchronous opcodes, one at a time.
    for (let e = entry; ; ) {
      if (e !== entry && fast.check !== undefined) fast.check()
      syncStep(this, rs, e, common)
      const pc = rs.programCounter
      if (pc >= code.length) return RESOLVED
      const next = code[pc]!
      // Before the first jump, run() analyses the code at its first JUMP or JUMPI: leave that to it.
      if (rs.shouldDoJumpAnalysis) return RESOLVED
      e = this.lookupOpInfo(next)
      if (!isSync(e)) return RESOLVED
      rs.opCode = next
    }
  }
}

/** ethereumjs's runStep for a synchronous opcode: base and dynamic gas, the charge, pc + 1, the handler. */
function syncStep(interp: InterpreterLike, rs: RunState, entry: OpEntry, common: Common): void {
  const info = entry.opcodeInfo
  let gas = info.feeBigInt
  if (info.dynamicGas) gas = entry.gasHandler!(rs, gas, common) as bigint
  // useGas, without its debug logging (the sync steps never run with DEBUG): it throws out of gas.
  if (gas > rs.gasLeft) interp.useGas(gas, info)
  else rs.gasLeft -= gas
  rs.programCounter++
  entry.opHandler(rs, common)
}

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER)

/**
 * Which opcodes of `evm`'s table fast-loop.ts may inline: an entry that is ethereumjs's own for
 * that byte (static gas, synchronous), fastOpcodes' (KECCAK256, MLOAD, MSTORE, PUSH), or call.ts's
 * checked JUMP / JUMPI; anything else a caller put there runs through its entry.
 */
function loopTable(evm: EvmLike, common: Common, check: (() => void) | undefined): LoopTable {
  const withParams = common.copy()
  withParams.updateParams(paramsEVM)
  const stock = getOpcodesForHF(withParams).opcodeMap
  const kind = new Uint8Array(256)
  const fee = new Float64Array(256)
  let jumpCheck: (() => void) | undefined
  let jumpiCheck: (() => void) | undefined
  for (let op = 0; op < 256; op++) {
    const e = evm._opcodeMap[op]
    const k = opcodeKind(op)
    if (e === undefined || k === 0 || e.opcodeInfo.isInvalid) continue
    const h = e.opHandler
    let ok: boolean
    if (k === K.KECCAK256 || k === K.MLOAD || k === K.MSTORE) ok = fastKinds.get(h) === k && e.gasHandler !== undefined && syncFunctions.has(e.gasHandler)
    else if (e.opcodeInfo.dynamicGas || (e.opcodeInfo.isAsync && !syncFunctions.has(h))) ok = false
    else if (h === stock[op]?.opHandler || fastKinds.get(h) === k) ok = true
    else if ((op === 0x56 || op === 0x57) && jumpChecks.has(h)) {
      ok = true
      if (op === 0x56) jumpCheck = jumpChecks.get(h)
      else jumpiCheck = jumpChecks.get(h)
    } else ok = false
    if (!ok) continue
    kind[op] = k
    fee[op] = e.opcodeInfo.fee
  }
  return { kind, fee, jumpCheck, jumpiCheck, check, wordGas: Number(withParams.param('keccak256WordGas')), keccak: common.customCrypto.keccak256 ?? keccak256 }
}

const RESOLVED = Promise.resolve()

function refuseUnsupported(common: Common): void {
  const bad = UNSUPPORTED_EIPS.filter((e) => common.isActivatedEIP(e))
  if (bad.length > 0) throw new EvmError(EvmErrorCode.CALL_WORKER_FAILED, `the fast opcodes and synchronous EVM steps do not implement EIP ${bad.join(', ')}: run this fork's calls on the stock EVM (CallRunner without fast)`)
}

/** Runs synchronously: a sync handler and gas function; INVALID stays with ethereumjs (it throws before charging). */
function isSync(e: OpEntry): boolean {
  const info = e.opcodeInfo
  if (info.isInvalid) return false
  if (info.isAsync && !syncFunctions.has(e.opHandler)) return false
  return !info.dynamicGas || (e.gasHandler !== undefined && syncFunctions.has(e.gasHandler))
}

/**
 * Marks `evm` (an ethereumjs 10.1 EVM, as `vm.evm`) for synchronous steps and a jump-analysis cache.
 * Its opcodes must come from `fastOpcodes()` (or other `syncOpcode` entries) to gain much: ethereumjs's
 * own dynamic-gas opcodes stay on its async path. Refused on a fork with stateless or access-list EIPs.
 * `check`, when given, runs before every opcode that is not inlined and every KECCAK256 (it throws to
 * stop the call): with the checked jumps and calls, no stretch of a call runs long without meeting it
 * (calls on the main thread, call-inline.ts).
 */
export async function enableSyncSteps(evm: object, common: Common, check?: () => void): Promise<void> {
  refuseUnsupported(common)
  patched ??= patchInterpreter()
  await patched
  ;(evm as EvmLike)[FAST] = { jumps: new Map(), loop: loopTable(evm as EvmLike, common, check), check }
}

/**
 * Adds `fastOpcodes` to an EVM already built (one whose options its creator owns, as contract-vm.ts's)
 * and marks it for synchronous steps: the same as building it with them in `customOpcodes` and
 * calling enableSyncSteps.
 */
export async function installFastOpcodes(evm: object, common: Common): Promise<void> {
  const e = evm as EvmLike
  if (typeof e.getActiveOpcodes !== 'function') throw new EvmError(EvmErrorCode.CALL_WORKER_FAILED, 'installFastOpcodes needs an @ethereumjs/evm 10.1 EVM (vm.evm)')
  e._customOpcodes = [...(e._customOpcodes ?? []), ...fastOpcodes(common)]
  e.getActiveOpcodes()
  await enableSyncSteps(evm, common)
}
