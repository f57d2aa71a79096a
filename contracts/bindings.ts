import {
  decodeErrorResult,
  decodeEventLog,
  decodeFunctionResult,
  encodeFunctionData,
  type Abi,
  type ContractEventName,
  type ContractFunctionArgs,
  type ContractFunctionName,
  type DecodeErrorResultReturnType,
  type DecodeEventLogReturnType,
  type DecodeFunctionResultReturnType,
  type Hex,
} from 'viem'

/**
 * Typed ABI coding for any contract of the suite, from its generated `as const` ABI
 * (e.g. `registrarAbi`): function/event names and argument types are checked at compile
 * time and decoded values come back typed. One generic helper per operation rather than
 * one hand-written wrapper per method, so new contract functions need no code here.
 * (The casts only bridge viem's internal overloads; the public signatures carry the types.)
 */

/** The argument tuple of `F` in ABI `A`, e.g. `CallArgs<typeof registrarAbi, 'register'>`. */
export type CallArgs<A extends Abi, F extends ContractFunctionName<A>> = ContractFunctionArgs<A, 'nonpayable' | 'payable' | 'view' | 'pure', F>

/** Calldata for `functionName(args)`. Functions without inputs take `[]`. */
export function encodeCall<const A extends Abi, F extends ContractFunctionName<A>>(abi: A, functionName: F, args: CallArgs<A, F>): Hex {
  return encodeFunctionData({ abi, functionName, args } as Parameters<typeof encodeFunctionData>[0])
}

/** The decoded return value of `functionName` (a tuple for several named outputs). */
export function decodeResult<const A extends Abi, F extends ContractFunctionName<A>>(abi: A, functionName: F, data: Hex): DecodeFunctionResultReturnType<A, F> {
  return decodeFunctionResult({ abi, functionName, data } as Parameters<typeof decodeFunctionResult>[0]) as DecodeFunctionResultReturnType<A, F>
}

/** Decodes a log of one of the ABI's events: `{ eventName, args }`. Throws if no event matches topic 0. */
export function decodeLog<const A extends Abi>(abi: A, topics: [signature: Hex, ...args: Hex[]], data: Hex): DecodeEventLogReturnType<A, ContractEventName<A>, Hex[], Hex> {
  return decodeEventLog({ abi, topics, data } as Parameters<typeof decodeEventLog>[0]) as DecodeEventLogReturnType<A, ContractEventName<A>, Hex[], Hex>
}

/**
 * Decodes revert data: one of the ABI's custom errors, or the built-in `Error(string)` /
 * `Panic(uint256)`, as `{ errorName, args }`. Throws if the selector is unknown.
 */
export function decodeRevert<const A extends Abi>(abi: A, data: Hex): DecodeErrorResultReturnType<A> {
  return decodeErrorResult({ abi, data } as Parameters<typeof decodeErrorResult>[0]) as DecodeErrorResultReturnType<A>
}
