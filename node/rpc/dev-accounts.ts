import type { Common } from '@ethereumjs/common'
import { createTx, type TypedTransaction } from '@ethereumjs/tx'
import { Address, bytesToHex } from '@ethereumjs/util'
import { secp256k1 } from '@noble/curves/secp256k1.js'
import { hashTypedData, hexToBytes, type TypedDataDomain } from 'viem'
import { toData, type Hex } from '../../common/index.ts'
import { keccak256 } from '../../common/keccak.ts'
import { RpcError } from './errors.ts'
import { formatTransaction } from './format.ts'
import type { RpcContext, RpcMethods } from './types.ts'
import * as v from './validate.ts'

/**
 * The dev chain's unlocked accounts, as anvil, hardhat and geth --dev have them: eth_accounts,
 * eth_sendTransaction (missing fields filled as geth fills them), eth_signTransaction, eth_sign,
 * personal_sign and eth_signTypedData_v4 (EIP-712).
 *
 * Only `--dev` hands keys in, and only the dev mnemonic's, which are public: whoever can call
 * these methods could sign with the same keys from the mnemonic and use eth_sendRawTransaction,
 * so they need no token (the transport's Host, content-type and Origin checks still keep web
 * pages out; docs/security.md). Any other node has no account here: every address is geth's
 * "unknown account", and eth_accounts is empty.
 */

export interface DevKey {
  address: Uint8Array
  privateKey: Uint8Array
}

export interface DevAccountModules {
  /** The unlocked keys: the dev mnemonic's on --dev, none otherwise. */
  keys: readonly DevKey[]
  /** Signs transactions for this chain (its chain id and fork). */
  common: Common
  /** The node's own eth_* table: nonces, estimates, prices and the raw submission go through it, as for any client. */
  table: RpcMethods
}

/** A wallet's default tip and fee cap: geth's setFeeDefaults (maxFeePerGas = tip + 2 * base fee). */
function feeDefaults(baseFee: bigint, tip: bigint): { maxFeePerGas: bigint; maxPriorityFeePerGas: bigint } {
  return { maxPriorityFeePerGas: tip, maxFeePerGas: tip + 2n * baseFee }
}

/**
 * The EIP-712 digest of eth_signTypedData_v4's typed data (an object, or its JSON text), hashed
 * by viem (the same encoder the clients verify with). Malformed data is -32602, naming what is wrong.
 */
export function typedDataDigest(raw: unknown): Uint8Array {
  let data: unknown = raw
  if (typeof raw === 'string') {
    try {
      data = JSON.parse(raw)
    } catch {
      throw RpcError.invalidParams('invalid argument 1: typed data is neither an object nor JSON text')
    }
  }
  if (!v.isObject(data) || !v.isObject(data.types) || typeof data.primaryType !== 'string' || !v.isObject(data.message)) {
    throw RpcError.invalidParams('invalid argument 1: typed data needs types, primaryType, domain and message (EIP-712)')
  }
  const types = { ...data.types }
  // viem derives EIP712Domain from the domain itself and refuses a mismatching declaration.
  delete types.EIP712Domain
  try {
    return hexToBytes(hashTypedData({ domain: (data.domain ?? {}) as TypedDataDomain, types: types as Record<string, Array<{ name: string; type: string }>>, primaryType: data.primaryType, message: data.message }))
  } catch (err) {
    throw RpcError.invalidParams(`invalid argument 1: ${(err as Error).message.split('\n')[0]}`)
  }
}

/** EIP-191 personal message digest: keccak256("\x19Ethereum Signed Message:\n" + len + message). */
export function personalDigest(message: Uint8Array): Uint8Array {
  const prefix = new TextEncoder().encode(`\x19Ethereum Signed Message:\n${message.length}`)
  const buf = new Uint8Array(prefix.length + message.length)
  buf.set(prefix)
  buf.set(message, prefix.length)
  return keccak256(buf)
}

export function createDevAccountMethods(modules: DevAccountModules): RpcMethods {
  const { keys, common, table } = modules
  const byAddress = new Map(keys.map((k) => [bytesToHex(k.address), k]))

  function keyOf(address: Uint8Array): DevKey {
    const k = byAddress.get(bytesToHex(address))
    if (k === undefined) throw RpcError.server('unknown account')
    return k
  }

  async function call<T>(method: string, params: unknown[], ctx: RpcContext): Promise<T> {
    return (await table[method]!(params, ctx)) as T
  }

  /** geth's eth_sign signature: r ‖ s ‖ v with v = 27 or 28. */
  function signDigest(k: DevKey, digest: Uint8Array): Hex {
    const sig = secp256k1.sign(digest, k.privateKey, { prehash: false, format: 'recovered' }) // recovery ‖ r ‖ s
    const out = new Uint8Array(65)
    out.set(sig.subarray(1, 65), 0)
    out[64] = 27 + sig[0]!
    return toData(out)
  }

  /**
   * The transaction a call object asks for, signed by its `from` dev key. `fill`: what is
   * missing is filled as geth's eth_sendTransaction fills it; otherwise (eth_signTransaction)
   * gas, fees and nonce must be given, as geth requires.
   */
  async function signed(raw: unknown, ctx: RpcContext, fill: boolean): Promise<{ tx: TypedTransaction; key: DevKey }> {
    const args = v.callObject(raw, 0)
    const rawObj = raw as Record<string, unknown>
    if (rawObj.authorizationList !== undefined && rawObj.authorizationList !== null) {
      throw RpcError.invalidParams('invalid argument 0: authorizationList is not supported here: sign the set-code transaction yourself and send it with eth_sendRawTransaction')
    }
    if (rawObj.chainId !== undefined && rawObj.chainId !== null) {
      const have = v.quantity(rawObj.chainId, v.fieldOf(0, 'chainId'))
      if (have !== common.chainId()) throw RpcError.invalidParams(`chainId does not match node's (have=${have}, want=${common.chainId()})`)
    }
    if (!fill) {
      if (args.gas === undefined) throw RpcError.server('gas not specified')
      if (args.gasPrice === undefined && (args.maxFeePerGas === undefined || args.maxPriorityFeePerGas === undefined)) throw RpcError.server('missing gasPrice or maxFeePerGas/maxPriorityFeePerGas')
      if (args.nonce === undefined) throw RpcError.server('nonce not specified')
    }
    const key = keyOf(args.from ?? new Uint8Array(20))
    const from = toData(key.address)
    const nonce = args.nonce ?? BigInt(await call<Hex>('eth_getTransactionCount', [from, 'pending'], ctx))
    let fees: { gasPrice: bigint } | { maxFeePerGas: bigint; maxPriorityFeePerGas: bigint }
    let type: number
    if (args.gasPrice !== undefined) {
      fees = { gasPrice: args.gasPrice }
      type = args.accessList === undefined ? 0 : 1
    } else {
      let tip = args.maxPriorityFeePerGas
      let maxFeePerGas = args.maxFeePerGas
      if (tip === undefined || maxFeePerGas === undefined) {
        // eth_gasPrice is the next base fee plus the suggested tip.
        const suggestedTip = BigInt(await call<Hex>('eth_maxPriorityFeePerGas', [], ctx))
        const baseFee = BigInt(await call<Hex>('eth_gasPrice', [], ctx)) - suggestedTip
        tip ??= suggestedTip
        maxFeePerGas ??= feeDefaults(baseFee, tip).maxFeePerGas
      }
      if (maxFeePerGas < tip) throw RpcError.invalidParams(`maxFeePerGas (${maxFeePerGas}) < maxPriorityFeePerGas (${tip})`)
      fees = { maxFeePerGas, maxPriorityFeePerGas: tip }
      type = 2
    }
    // The estimate runs the message as it will be sent (sender, value, data, access list, prices).
    const estimateArgs: Record<string, unknown> = { ...rawObj, from }
    delete estimateArgs.gas
    delete estimateArgs.nonce
    const gasLimit = args.gas ?? BigInt(await call<Hex>('eth_estimateGas', [estimateArgs, 'pending'], ctx))
    const accessList = args.accessList?.map((a) => ({ address: toData(a.address), storageKeys: a.storageKeys.map(toData) }))
    const tx = createTx(
      { type, nonce, gasLimit, to: args.to, value: args.value ?? 0n, data: args.data ?? new Uint8Array(), ...fees, ...(accessList === undefined ? {} : { accessList }), chainId: common.chainId() },
      { common },
    ).sign(key.privateKey)
    return { tx, key }
  }

  return {
    eth_accounts: (p) => (v.params(p, 0, 0), keys.map((k) => toData(k.address))),

    eth_sendTransaction: async (p, ctx) => {
      v.params(p, 1, 1)
      const { tx } = await signed(p[0], ctx, true)
      return call<Hex>('eth_sendRawTransaction', [toData(tx.serialize())], ctx)
    },

    // geth: the transaction signed, not sent: {raw, tx}. As geth, gas, the fees and the nonce must be given.
    eth_signTransaction: async (p, ctx) => {
      v.params(p, 1, 1)
      const { tx, key } = await signed(p[0], ctx, false)
      return { raw: toData(tx.serialize()), tx: formatTransaction(tx, new Address(key.address)) }
    },

    // EIP-712: eth_signTypedData_v4(address, typedData), typedData as an object or its JSON text (MetaMask's form).
    eth_signTypedData_v4: (p) => {
      v.params(p, 2, 2)
      const key = keyOf(v.address(p[0], 0))
      return signDigest(key, typedDataDigest(p[1]))
    },

    // geth: eth_sign(address, data): the EIP-191 personal-message signature.
    eth_sign: (p) => {
      v.params(p, 2, 2)
      const key = keyOf(v.address(p[0], 0))
      return signDigest(key, personalDigest(v.data(p[1], 1)))
    },
    // personal_sign(data, address[, password]): the same signature, parameters the other way round.
    personal_sign: (p) => {
      v.params(p, 2, 3)
      const key = keyOf(v.address(p[1], 1))
      return signDigest(key, personalDigest(v.data(p[0], 0)))
    },
  }
}
