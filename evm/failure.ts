import type { ExecResult } from '@ethereumjs/evm'

/**
 * A failed call's error as geth words it (core/vm/errors.go), so clients and users see the same
 * text from this node as from geth: "invalid opcode: opcode 0x5e not defined", "invalid jump
 * destination", "write protection"... ethereumjs's own words where geth has no counterpart.
 */
const GETH_WORDS: Record<string, string> = {
  'invalid JUMP': 'invalid jump destination',
  'static state change': 'write protection',
  'code size to deposit exceeds maximum code size': 'max code size exceeded',
  'create collision': 'contract address collision',
  'code store out of gas': 'contract creation code storage out of gas',
  'invalid bytecode deployed': 'invalid code: must not begin with 0xef',
  'value overflow': 'gas uint64 overflow',
  'insufficient balance': 'insufficient balance for transfer',
  'refund exhausted': 'refund counter below zero',
}

export function failureMessage(ex: ExecResult): string {
  const err = ex.exceptionError
  if (err === undefined) return ''
  if (err.error === 'revert') return 'execution reverted'
  if (err.error === 'invalid opcode') return `invalid opcode: ${opcodeAt(ex)}`
  return GETH_WORDS[err.error] ?? err.error
}

/** geth's OpCode.String() of the failing instruction: INVALID (0xfe) by name, else "opcode 0x5e not defined". */
function opcodeAt(ex: ExecResult): string {
  const op = ex.runState?.opCode
  if (op === undefined) return 'opcode not defined'
  if (op === 0xfe) return 'INVALID'
  return `opcode 0x${op.toString(16)} not defined`
}
