/**
 * The call workers' inner interpreter loop (see fast-opcodes.ts, which enters it): a switch over
 * the opcode byte for the common synchronous opcodes, with the stack, program counter and gas in
 * local variables (gas as a number), so an ADD or a PUSH costs no method call, no array from
 * popN and no bigint gas arithmetic.
 *
 * Only the ordinary path of an opcode runs here: enough gas, enough stack, a valid jump, memory
 * already that large. Anything else (out of gas, stack underflow or overflow, an invalid jump,
 * memory growth, an opcode not inlined) goes to `generic`, which runs that one opcode through
 * its ethereumjs entry exactly as ethereumjs would, so errors, their order and every gas edge are
 * ethereumjs's own. An opcode that is not synchronous (SLOAD, CALL, RETURN...) ends the loop and
 * ethereumjs's run loop takes it.
 */

/** Kinds of inlined opcodes (0: not inlined). */
export const K = {
  PUSH: 1, PUSH0: 2, DUP: 3, SWAP: 4, POP: 5, JUMPDEST: 6, JUMP: 7, JUMPI: 8,
  ADD: 9, SUB: 10, MUL: 11, DIV: 12, MOD: 13, LT: 14, GT: 15, EQ: 16, ISZERO: 17,
  AND: 18, OR: 19, XOR: 20, NOT: 21, SHL: 22, SHR: 23, MLOAD: 24, MSTORE: 25, KECCAK256: 26,
} as const

/** The kind each opcode byte would have if its EVM entry is ethereumjs's (or fast-opcodes.ts's). */
export function opcodeKind(op: number): number {
  if (op >= 0x60 && op <= 0x7f) return K.PUSH
  if (op >= 0x80 && op <= 0x8f) return K.DUP
  if (op >= 0x90 && op <= 0x9f) return K.SWAP
  return BY_BYTE[op] ?? 0
}
const BY_BYTE: Record<number, number> = {
  0x01: K.ADD, 0x02: K.MUL, 0x03: K.SUB, 0x04: K.DIV, 0x06: K.MOD, 0x10: K.LT, 0x11: K.GT, 0x14: K.EQ, 0x15: K.ISZERO,
  0x16: K.AND, 0x17: K.OR, 0x18: K.XOR, 0x19: K.NOT, 0x1b: K.SHL, 0x1c: K.SHR, 0x20: K.KECCAK256,
  0x50: K.POP, 0x51: K.MLOAD, 0x52: K.MSTORE, 0x56: K.JUMP, 0x57: K.JUMPI, 0x5b: K.JUMPDEST, 0x5f: K.PUSH0,
}

/** Per EVM: which opcodes this EVM's table lets the loop inline, and their static fees. */
export interface LoopTable {
  kind: Uint8Array
  fee: Float64Array
  /** The interrupt check of JUMP / JUMPI when their entries are call.ts's checked ones. */
  jumpCheck: (() => void) | undefined
  jumpiCheck: (() => void) | undefined
  /** Run before every KECCAK256 (hashing paid memory is the one inlined opcode whose work grows with its input). */
  check: (() => void) | undefined
  /** keccak256WordGas, as a number. */
  wordGas: number
  keccak: (data: Uint8Array) => Uint8Array
}

/** The parts of ethereumjs's RunState the loop touches. */
export interface LoopRunState {
  programCounter: number
  opCode: number
  code: Uint8Array
  validJumps: Uint8Array
  cachedPushes: Record<number, bigint>
  gasLeft: bigint
  memoryWordCount: bigint
  memory: { _store: Uint8Array }
  stack: { _store: bigint[]; _len: number; _maxHeight: number }
}

const TWO256 = 1n << 256n
/** Memory offsets and lengths above this go to ethereumjs (its memory gas makes them run out of gas). */
const MEM_LIMIT = 0xffffffffn
const MASK64 = (1n << 64n) - 1n

// One 32-byte scratch word: bigint <-> bytes four 64-bit limbs at a time.
const scratch = new Uint8Array(32)
const view = new DataView(scratch.buffer)

/** Writes `word` big-endian at out[at..at+32). */
export function putWord(word: bigint, out: Uint8Array, at: number): void {
  if (word <= MASK64) {
    // Small values (counters, offsets, addresses' high bytes): one limb.
    out.fill(0, at, at + 24)
    view.setBigUint64(0, word)
    for (let i = 0; i < 8; i++) out[at + 24 + i] = scratch[i]!
    return
  }
  view.setBigUint64(0, word >> 192n)
  view.setBigUint64(8, BigInt.asUintN(64, word >> 128n))
  view.setBigUint64(16, BigInt.asUintN(64, word >> 64n))
  view.setBigUint64(24, BigInt.asUintN(64, word))
  for (let i = 0; i < 32; i++) out[at + i] = scratch[i]!
}

/** The word big-endian at from[at..at+32). */
export function getWord(from: Uint8Array, at: number): bigint {
  // A byte loop, not set(subarray()): a subarray is an allocation per word.
  for (let i = 0; i < 32; i++) scratch[i] = from[at + i]!
  const hi = (view.getBigUint64(0) << 64n) | view.getBigUint64(8)
  const lo = (view.getBigUint64(16) << 64n) | view.getBigUint64(24)
  return hi === 0n ? lo : (hi << 128n) | lo
}

/**
 * Runs from `rs.programCounter` until the code ends or an opcode must go back to ethereumjs.
 * `generic(op)` runs one opcode through ethereumjs's entry (rs fully up to date) and says whether
 * it could (false: not synchronous, leave it to ethereumjs). The jump analysis must be done.
 * On return and before every `generic` call, rs holds the loop's state.
 */
export function runLoop(rs: LoopRunState, t: LoopTable, generic: (op: number) => boolean): void {
  const code = rs.code
  const len = code.length
  const codeLen = BigInt(len)
  const jumps = rs.validJumps
  const pushes = rs.cachedPushes
  const stack = rs.stack
  const s = stack._store
  const max = stack._maxHeight
  const kind = t.kind
  const fee = t.fee
  let sp = stack._len
  let pc = rs.programCounter
  let gas = Number(rs.gasLeft)
  // Memory bytes already paid for (memoryWordCount * 32); it changes only in generic steps.
  let paid = Number(rs.memoryWordCount) * 32
  for (;;) {
    if (pc >= len) break
    const op = code[pc]!
    const f = fee[op]!
    switch (kind[op]) {
      case K.PUSH: {
        const v = pushes[pc + 1]
        if (f > gas || sp >= max || v === undefined) break
        s[sp++] = v
        gas -= f
        pc += op - 0x5e
        continue
      }
      case K.PUSH0:
        if (f > gas || sp >= max) break
        s[sp++] = 0n
        gas -= f
        pc++
        continue
      case K.DUP: {
        const n = op - 0x7f
        if (f > gas || sp < n || sp >= max) break
        s[sp] = s[sp - n]!
        sp++
        gas -= f
        pc++
        continue
      }
      case K.SWAP: {
        const n = op - 0x8f
        if (f > gas || sp <= n) break
        const top = s[sp - 1]!
        s[sp - 1] = s[sp - 1 - n]!
        s[sp - 1 - n] = top
        gas -= f
        pc++
        continue
      }
      case K.POP:
        if (f > gas || sp < 1) break
        sp--
        gas -= f
        pc++
        continue
      case K.JUMPDEST:
        if (f > gas) break
        gas -= f
        pc++
        continue
      case K.JUMP: {
        if (f > gas || sp < 1) break
        const d = s[sp - 1]!
        if (d >= codeLen || jumps[Number(d)] !== 1) break
        gas -= f
        // The checked handler runs its check before the jump: same here (it throws out of the call).
        if (t.jumpCheck !== undefined) t.jumpCheck()
        sp--
        pc = Number(d)
        continue
      }
      case K.JUMPI: {
        if (f > gas || sp < 2) break
        const d = s[sp - 1]!
        const taken = s[sp - 2]! !== 0n
        if (taken && (d >= codeLen || jumps[Number(d)] !== 1)) break
        gas -= f
        if (t.jumpiCheck !== undefined) t.jumpiCheck()
        sp -= 2
        pc = taken ? Number(d) : pc + 1
        continue
      }
      case K.ADD: {
        if (f > gas || sp < 2) break
        const r = s[sp - 1]! + s[sp - 2]!
        s[sp - 2] = r >= TWO256 ? r - TWO256 : r
        sp--
        gas -= f
        pc++
        continue
      }
      case K.SUB: {
        if (f > gas || sp < 2) break
        const r = s[sp - 1]! - s[sp - 2]!
        s[sp - 2] = r < 0n ? r + TWO256 : r
        sp--
        gas -= f
        pc++
        continue
      }
      case K.MUL:
        if (f > gas || sp < 2) break
        s[sp - 2] = BigInt.asUintN(256, s[sp - 1]! * s[sp - 2]!)
        sp--
        gas -= f
        pc++
        continue
      case K.DIV: {
        if (f > gas || sp < 2) break
        const b = s[sp - 2]!
        s[sp - 2] = b === 0n ? 0n : s[sp - 1]! / b
        sp--
        gas -= f
        pc++
        continue
      }
      case K.MOD: {
        if (f > gas || sp < 2) break
        const b = s[sp - 2]!
        s[sp - 2] = b === 0n ? 0n : s[sp - 1]! % b
        sp--
        gas -= f
        pc++
        continue
      }
      case K.LT:
        if (f > gas || sp < 2) break
        s[sp - 2] = s[sp - 1]! < s[sp - 2]! ? 1n : 0n
        sp--
        gas -= f
        pc++
        continue
      case K.GT:
        if (f > gas || sp < 2) break
        s[sp - 2] = s[sp - 1]! > s[sp - 2]! ? 1n : 0n
        sp--
        gas -= f
        pc++
        continue
      case K.EQ:
        if (f > gas || sp < 2) break
        s[sp - 2] = s[sp - 1]! === s[sp - 2]! ? 1n : 0n
        sp--
        gas -= f
        pc++
        continue
      case K.ISZERO:
        if (f > gas || sp < 1) break
        s[sp - 1] = s[sp - 1]! === 0n ? 1n : 0n
        gas -= f
        pc++
        continue
      case K.AND:
        if (f > gas || sp < 2) break
        s[sp - 2] = s[sp - 1]! & s[sp - 2]!
        sp--
        gas -= f
        pc++
        continue
      case K.OR:
        if (f > gas || sp < 2) break
        s[sp - 2] = s[sp - 1]! | s[sp - 2]!
        sp--
        gas -= f
        pc++
        continue
      case K.XOR:
        if (f > gas || sp < 2) break
        s[sp - 2] = s[sp - 1]! ^ s[sp - 2]!
        sp--
        gas -= f
        pc++
        continue
      case K.NOT:
        if (f > gas || sp < 1) break
        s[sp - 1] = BigInt.asUintN(256, ~s[sp - 1]!)
        gas -= f
        pc++
        continue
      case K.SHL: {
        if (f > gas || sp < 2) break
        const a = s[sp - 1]!
        s[sp - 2] = a >= 256n ? 0n : BigInt.asUintN(256, s[sp - 2]! << a)
        sp--
        gas -= f
        pc++
        continue
      }
      case K.SHR: {
        if (f > gas || sp < 2) break
        const a = s[sp - 1]!
        s[sp - 2] = a >= 256n ? 0n : s[sp - 2]! >> a
        sp--
        gas -= f
        pc++
        continue
      }
      case K.MLOAD: {
        if (f > gas || sp < 1) break
        const off = s[sp - 1]!
        if (off > MEM_LIMIT) break
        const o = Number(off)
        const mem = rs.memory._store
        if (o + 32 > paid || o + 32 > mem.length) break
        s[sp - 1] = getWord(mem, o)
        gas -= f
        pc++
        continue
      }
      case K.MSTORE: {
        if (f > gas || sp < 2) break
        const off = s[sp - 1]!
        if (off > MEM_LIMIT) break
        const o = Number(off)
        const mem = rs.memory._store
        if (o + 32 > paid || o + 32 > mem.length) break
        putWord(s[sp - 2]!, mem, o)
        sp -= 2
        gas -= f
        pc++
        continue
      }
      case K.KECCAK256: {
        if (sp < 2) break
        const off = s[sp - 1]!
        const length = s[sp - 2]!
        if (off > MEM_LIMIT || length > MEM_LIMIT || length === 0n) break
        const o = Number(off)
        const l = Number(length)
        const mem = rs.memory._store
        if (o + l > paid || o + l > mem.length) break
        const cost = f + t.wordGas * Math.ceil(l / 32)
        if (cost > gas) break
        if (t.check !== undefined) t.check()
        s[sp - 2] = getWord(t.keccak(mem.subarray(o, o + l)), 0)
        sp--
        gas -= cost
        pc++
        continue
      }
      default:
        // Not inlined on this EVM: its entry, below.
        break
    }
    // Not inlined, or not its ordinary path: ethereumjs's entry for this one opcode.
    // (Inline, not a closure: captured loop variables would live in a context object.)
    stack._len = sp
    rs.programCounter = pc
    rs.gasLeft = BigInt(gas)
    rs.opCode = op
    if (!generic(op)) return
    sp = stack._len
    pc = rs.programCounter
    gas = Number(rs.gasLeft)
    paid = Number(rs.memoryWordCount) * 32
  }
  stack._len = sp
  rs.programCounter = pc
  rs.gasLeft = BigInt(gas)
}
