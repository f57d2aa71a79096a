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

/** The EVM's precompiles, by address hex without 0x (ethereumjs's `evm.precompiles`). */
export type PrecompileMap = Map<string, unknown>

/**
 * Writes the overrides into `sm` (inside the call's checkpoint, so the revert after the call
 * undoes them) and moves precompiles as geth's StateOverride.Apply does: an override of a
 * precompile's address removes the precompile there (its code override then runs instead), and
 * `movePrecompileToAddress` serves it from the new address. Refuses what geth refuses: `state`
 * with `stateDiff` on one account, moving a non-precompile, moving onto an overridden account.
 * Returns the undo for `precompiles` (the map belongs to a VM that later calls reuse): call it
 * when the call is done, whatever its outcome.
 */
export async function applyStateOverrides(sm: MerkleStateManager, overrides: StateOverrides | undefined, precompiles: PrecompileMap): Promise<() => void> {
  if (overrides === undefined || overrides.length === 0) return () => undefined
  const saved = new Map(precompiles)
  const restore = (): void => {
    precompiles.clear()
    for (const [k, fn] of saved) precompiles.set(k, fn)
  }
  try {
    await apply(sm, overrides, precompiles)
  } catch (err) {
    restore()
    throw err
  }
  return restore
}

const hexOf = (a: Uint8Array): string => Buffer.from(a).toString('hex')

async function apply(sm: MerkleStateManager, overrides: StateOverrides, precompiles: PrecompileMap): Promise<void> {
  const overridden = new Set(overrides.map((o) => hexOf(o.address)))
  /** Addresses a precompile was moved to: no other override may land there. */
  const movedTo = new Set<string>()
  // geth applies them in address order, so which refusal a conflicting request meets is stable.
  const sorted = [...overrides].sort((a, b) => (hexOf(a.address) < hexOf(b.address) ? -1 : 1))
  for (const { address, account: o } of sorted) {
    const addr = new Address(address)
    const key = hexOf(address)
    if (movedTo.has(key)) throw new EvmError(EvmErrorCode.INVALID_CALL, `account ${addr.toString()} has already been overridden by a precompile: move the precompile elsewhere or leave this account out`)
    const precompile = precompiles.get(key)
    if (o.movePrecompileToAddress !== undefined) {
      const to = hexOf(o.movePrecompileToAddress)
      if (precompile === undefined) throw new EvmError(EvmErrorCode.INVALID_CALL, `account ${addr.toString()} is not a precompile: movePrecompileToAddress applies to precompile addresses only`)
      if (overridden.has(to)) throw new EvmError(EvmErrorCode.INVALID_CALL, `account ${new Address(o.movePrecompileToAddress).toString()} is already overridden: move the precompile to an address the request does not override`)
      precompiles.set(to, precompile)
      movedTo.add(to)
    }
    if (precompile !== undefined) precompiles.delete(key)
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
