import type { MerkleStateManager } from '@ethereumjs/statemanager'
import { Account, Address } from '@ethereumjs/util'
import { EvmError, EvmErrorCode } from './errors.ts'
import type { BlockOverrides, ExecutionContext, StateOverrides } from './types.ts'

/**
 * geth's state and block overrides for eth_call / eth_estimateGas / eth_createAccessList
 * (internal/ethapi/override): applied to one call's state and block only, never kept.
 * Plain data (bytes, bigints, arrays) so a call worker receives them by structured clone.
 */

/** The block a call runs in, with its overrides: a context plus PREVRANDAO's value. */
export interface CallBlock {
  ctx: ExecutionContext
  prevRandao: Uint8Array | undefined
}

export function overrideBlock(ctx: ExecutionContext, o: BlockOverrides | undefined): CallBlock {
  if (o === undefined) return { ctx, prevRandao: undefined }
  return {
    ctx: {
      ...ctx,
      number: o.number ?? ctx.number,
      difficulty: o.difficulty ?? ctx.difficulty,
      timestamp: o.time ?? ctx.timestamp,
      gasLimit: o.gasLimit ?? ctx.gasLimit,
      author: o.feeRecipient === undefined ? ctx.author : new Address(o.feeRecipient),
      baseFeePerGas: o.baseFeePerGas ?? ctx.baseFeePerGas,
    },
    prevRandao: o.prevRandao,
  }
}

/**
 * Writes the overrides into `sm` (inside the call's checkpoint, so the revert after the call
 * undoes them). Refuses what geth refuses: `state` with `stateDiff` on one account.
 */
export async function applyStateOverrides(sm: MerkleStateManager, overrides: StateOverrides | undefined, isPrecompile: (address: string) => boolean): Promise<void> {
  if (overrides === undefined) return
  for (const { address, account: o } of overrides) {
    const addr = new Address(address)
    if (o.movePrecompileToAddress !== undefined) {
      const problem = isPrecompile(addr.toString().slice(2)) ? 'moving a precompile (movePrecompileToAddress) is not supported by this node' : `account ${addr.toString()} is not a precompile`
      throw new EvmError(EvmErrorCode.INVALID_CALL, `${problem}: leave movePrecompileToAddress out`)
    }
    if (o.state !== undefined && o.stateDiff !== undefined) {
      throw new EvmError(EvmErrorCode.INVALID_CALL, `account ${addr.toString()} has both 'state' and 'stateDiff': give one of them`)
    }
    if (o.nonce !== undefined || o.balance !== undefined) {
      const acc = (await sm.getAccount(addr)) ?? new Account()
      if (o.nonce !== undefined) acc.nonce = o.nonce
      if (o.balance !== undefined) acc.balance = o.balance
      await sm.putAccount(addr, acc)
    }
    if (o.code !== undefined) await sm.putCode(addr, o.code)
    if (o.state !== undefined) await sm.clearStorage(addr)
    for (const [slot, value] of o.state ?? o.stateDiff ?? []) await sm.putStorage(addr, slot, value)
  }
}
