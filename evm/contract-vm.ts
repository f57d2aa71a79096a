import { createBlock } from '@ethereumjs/block'
import { Common, Mainnet } from '@ethereumjs/common'
import { createFeeMarket1559Tx } from '@ethereumjs/tx'
import { Account, Address, bytesToHex, hexToBytes, setLengthLeft } from '@ethereumjs/util'
import { createVM, runTx, type VM } from '@ethereumjs/vm'
import { secp256k1 } from '@noble/curves/secp256k1.js'
import type { Hex } from 'viem'
import { keccak256 } from '../common/keccak.ts'
import { EXTRA_EIPS, HARDFORK } from './common.ts'
import { EvmError, EvmErrorCode } from './errors.ts'

/**
 * A standalone ethereumjs VM (in-memory state, no chain, no database) for exercising contracts
 * with signed transactions and plain calls: the contract tests and the gas benchmark. Fork rules
 * are the chain's (London plus the Shanghai EVM EIPs the contracts are compiled for), so gas and
 * behaviour match the node's. What is in state at the start is the caller's: for the MedRec
 * system contracts, contracts/vm.ts passes the genesis predeploys.
 */

export interface Actor {
  key: Uint8Array
  address: Uint8Array
  hex: Hex
}

/** A deterministic account named by `label` (its key is keccak256(label)): never use one on a real chain. */
export function actor(label: string): Actor {
  const key = keccak256(new TextEncoder().encode(label))
  const address = keccak256(secp256k1.getPublicKey(key, false).subarray(1)).subarray(12)
  return { key, address, hex: bytesToHex(address) as Hex }
}

export interface Log {
  address: Hex
  topics: [Hex, ...Hex[]]
  data: Hex
}

export interface Outcome {
  /** False when execution reverted or hit an exceptional halt. */
  ok: boolean
  /** Return data, or revert data when !ok. */
  returnData: Hex
  logs: Log[]
  /** The EVM's exception name ("revert", "out of gas", ...) when !ok. */
  error: string | undefined
  /** For transactions, the gas the receipt would show (intrinsic + execution - refund). */
  gasUsed: bigint
}

/** Code and storage placed at an address before the first transaction (a genesis predeploy). */
export interface PlacedContract {
  code: Uint8Array
  storage: ReadonlyArray<readonly [slot: Uint8Array, value: Uint8Array]>
}

export interface ContractVM {
  vm: VM
  /** Executes a signed EIP-1559 transaction from `from` and commits it. */
  send(from: Actor, to: Hex, data: Hex, value?: bigint): Promise<Outcome>
  /** A message call with `caller` as msg.sender, no signature (views and quick checks). */
  call(caller: Uint8Array, to: Hex, data: Hex): Promise<Outcome>
  /** Deploys init code with a signed transaction; returns the new contract address. */
  deploy(from: Actor, initCode: Hex): Promise<Hex>
  /** Raw 32-byte storage word (zero-filled when the slot is empty). */
  storageAt(address: Hex, slot: Uint8Array): Promise<Uint8Array>
  /** Applies storage writes the way the node does at block import (e.g. AuthoritySet updates). */
  writeStorage(address: Hex, entries: ReadonlyArray<readonly [slot: Uint8Array, value: Uint8Array]>): Promise<void>
  /** Moves to a new block: later transactions and calls see its timestamp and author (COINBASE). */
  nextBlock(opts: { timestamp?: bigint; coinbase?: Hex }): void
  /** The current block's timestamp. */
  readonly timestamp: bigint
}

const COMMON = new Common({ chain: Mainnet, hardfork: HARDFORK, eips: EXTRA_EIPS })
/** What each funded account holds: 1000 ether. */
const FUNDS = 10n ** 21n

function outcome(
  res: { returnValue: Uint8Array; exceptionError?: { error: string } | undefined; logs?: Array<[Uint8Array, Uint8Array[], Uint8Array]> | undefined; executionGasUsed: bigint },
  gasUsed = res.executionGasUsed,
): Outcome {
  return {
    gasUsed,
    ok: res.exceptionError === undefined,
    returnData: bytesToHex(res.returnValue) as Hex,
    logs: (res.logs ?? []).map(([address, topics, data]) => ({
      address: bytesToHex(address) as Hex,
      topics: topics.map((t) => bytesToHex(t) as Hex) as [Hex, ...Hex[]],
      data: bytesToHex(data) as Hex,
    })),
    error: res.exceptionError?.error,
  }
}

/** A VM whose state holds `contracts` (address → code and storage) and 1000 ether for each of `funded`. */
export async function createContractVM(contracts: Iterable<readonly [address: string, contract: PlacedContract]>, funded: Actor[]): Promise<ContractVM> {
  const vm = await createVM({ common: COMMON })
  const sm = vm.stateManager
  for (const [addr, p] of contracts) {
    const address = new Address(hexToBytes(addr as Hex))
    await sm.putAccount(address, new Account(1n, 0n))
    await sm.putCode(address, p.code)
    for (const [slot, value] of p.storage) await sm.putStorage(address, slot, value)
  }
  for (const a of funded) await sm.putAccount(new Address(a.address), new Account(0n, FUNDS))

  // An explicit London block: the default blank one would carry the library's default fork.
  const makeBlock = (number: bigint, timestamp: bigint, coinbase: Hex) =>
    createBlock({ header: { number, gasLimit: 30_000_000n, baseFeePerGas: 7n, timestamp, coinbase } }, { common: COMMON })
  let block = makeBlock(1n, 1n, '0x0000000000000000000000000000000000000000')
  async function sendRaw(from: Actor, to: Hex | undefined, data: Hex, value: bigint) {
    // read from state: message calls from the same account move its nonce too
    const nonce = (await sm.getAccount(new Address(from.address)))?.nonce ?? 0n
    const tx = createFeeMarket1559Tx(
      { nonce, to, data, value, gasLimit: 10_000_000n, maxFeePerGas: 100_000_000_000n, maxPriorityFeePerGas: 1n, chainId: COMMON.chainId() },
      { common: COMMON },
    ).sign(from.key)
    return runTx(vm, { tx, block, skipBlockGasLimitValidation: true })
  }

  return {
    vm,
    async send(from, to, data, value = 0n) {
      const res = await sendRaw(from, to, data, value)
      return outcome(res.execResult, res.totalGasSpent)
    },
    async call(caller, to, data) {
      const res = await vm.evm.runCall({ caller: new Address(caller), to: new Address(hexToBytes(to)), data: hexToBytes(data), gasLimit: 10_000_000n, block })
      return outcome(res.execResult)
    },
    async deploy(from, initCode) {
      const res = await sendRaw(from, undefined, initCode, 0n)
      if (res.execResult.exceptionError !== undefined || res.createdAddress === undefined) {
        throw new EvmError(EvmErrorCode.DEPLOY_FAILED, `deploying from ${from.hex} failed: ${res.execResult.exceptionError?.error ?? 'no contract address'}; check the init code and its constructor arguments`)
      }
      return res.createdAddress.toString() as Hex
    },
    async storageAt(address, slot) {
      return setLengthLeft(await sm.getStorage(new Address(hexToBytes(address)), slot), 32)
    },
    async writeStorage(address, entries) {
      for (const [slot, value] of entries) await sm.putStorage(new Address(hexToBytes(address)), slot, value)
    },
    nextBlock(opts) {
      const h = block.header
      block = makeBlock(h.number + 1n, opts.timestamp ?? h.timestamp + 1n, opts.coinbase ?? (h.coinbase.toString() as Hex))
    },
    get timestamp() {
      return block.header.timestamp
    },
  }
}
