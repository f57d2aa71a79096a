import { decodeFunctionResult, encodeFunctionData, type Abi, type ContractFunctionArgs, type ContractFunctionName, type DecodeFunctionResultReturnType, type Hex } from 'viem'

/**
 * Typed calls for any contract of the suite, from its `as const` ABI: the function name and
 * arguments are checked against the ABI at compile time, and results come back decoded.
 */
export function encodeCall<const A extends Abi, F extends ContractFunctionName<A>>(abi: A, functionName: F, args: ContractFunctionArgs<A, 'nonpayable' | 'payable' | 'view' | 'pure', F>): Hex {
  return encodeFunctionData({ abi, functionName, args } as Parameters<typeof encodeFunctionData>[0])
}

export function decodeResult<const A extends Abi, F extends ContractFunctionName<A>>(abi: A, functionName: F, data: Hex): DecodeFunctionResultReturnType<A, F> {
  return decodeFunctionResult({ abi, functionName, data } as Parameters<typeof decodeFunctionResult>[0]) as DecodeFunctionResultReturnType<A, F>
}
