import type { MerkleStateManager } from '@ethereumjs/statemanager'
import { Account, bigIntToUnpaddedBytes, bytesToUnprefixedHex, concatBytes, eoaCode7702RecoverAuthority, equalsBytes, type Address, type EOACode7702AuthorizationListBytesItem } from '@ethereumjs/util'
import type { EVMInterface } from '@ethereumjs/evm'
import type { CallAuthorization } from './types.ts'

/**
 * EIP-7702 authorizations applied to a call's state as a set-code transaction applies them
 * (geth's eth_call / eth_estimateGas take `authorizationList` and do the same): each valid tuple
 * delegates its signer's code to `address` and bumps the signer's nonce; an invalid tuple is
 * skipped, never an error. Runs inside the call's checkpoint, so nothing is kept.
 */

const DELEGATION_PREFIX = new Uint8Array([0xef, 0x01, 0x00])
const SECP256K1_N_HALF = 0x7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0n
const MAX_NONCE = (1n << 64n) - 1n
/** EIP-7702: PER_EMPTY_ACCOUNT_COST - PER_AUTH_BASE_COST, refunded for an authority that exists. */
const EXISTING_AUTHORITY_REFUND = 12_500n

/** The signer of `auth`, or undefined when its signature is malformed or does not recover. */
function authorityOf(auth: CallAuthorization): Address | undefined {
  if (auth.s > SECP256K1_N_HALF || auth.yParity > 1n) return undefined
  const item: EOACode7702AuthorizationListBytesItem = [
    bigIntToUnpaddedBytes(auth.chainId),
    auth.address,
    bigIntToUnpaddedBytes(auth.nonce),
    bigIntToUnpaddedBytes(auth.yParity),
    bigIntToUnpaddedBytes(auth.r),
    bigIntToUnpaddedBytes(auth.s),
  ]
  try {
    return eoaCode7702RecoverAuthority(item)
  } catch {
    return undefined
  }
}

/** Applies `list` in order; returns the gas refund it earns (added to the call's refund counter). */
export async function applyAuthorizations(sm: MerkleStateManager, evm: EVMInterface, list: CallAuthorization[], chainId: bigint): Promise<bigint> {
  let refund = 0n
  for (const auth of list) {
    if (auth.chainId !== 0n && auth.chainId !== chainId) continue
    if (auth.nonce >= MAX_NONCE) continue
    const authority = authorityOf(auth)
    if (authority === undefined) continue
    evm.journal.addAlwaysWarmAddress(bytesToUnprefixedHex(authority.bytes))
    const account = await sm.getAccount(authority)
    const code = account === undefined ? new Uint8Array() : await sm.getCode(authority)
    if (code.length > 0 && !equalsBytes(code.subarray(0, 3), DELEGATION_PREFIX)) continue
    if ((account?.nonce ?? 0n) !== auth.nonce) continue
    if (account !== undefined && !account.isEmpty()) refund += EXISTING_AUTHORITY_REFUND
    const next = account ?? new Account()
    next.nonce = auth.nonce + 1n
    await sm.putAccount(authority, next)
    // Delegating to the zero address clears the delegation.
    await sm.putCode(authority, auth.address.every((b) => b === 0) ? new Uint8Array() : concatBytes(DELEGATION_PREFIX, auth.address))
  }
  return refund
}
