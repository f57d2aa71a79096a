/**
 * A chain with state worth syncing (the state-sync tests and `npm run bench -- state-sync`), sealed in-process into a data dir before its node starts:
 * every block pays a few new accounts, and every `deployEvery`th block deploys the same small
 * contract (its code shared, its storage its own: `slots` slots, slot i holding 7·i). The
 * contract's code answers a call with the slot named by its 32-byte calldata.
 */
import { Address, hexToBytes } from '@ethereumjs/util'
import { createFeeMarket1559Tx } from '@ethereumjs/tx'
import { keccak_256 } from '@noble/hashes/sha3.js'
import { RLP } from '@ethereumjs/rlp'
import { createChainCommon, type SenderTx } from '../../evm/index.ts'
import { Chain } from '../../node/chain/index.ts'
import type { Genesis } from '../../node/genesis/index.ts'
import type { PoaSnapshot } from '../../consensus/index.ts'
import { privateKeyToAddress } from '../../node/keys/index.ts'

export interface StateChainOptions {
  blocks: number
  /** New accounts paid per block. */
  accountsPerBlock?: number
  deployEvery?: number
  slots?: number
}

export interface StateChain {
  head: bigint
  /** Contracts deployed, with the block that deployed each and its transaction hash. */
  contracts: Array<{ address: string; block: bigint; tx: string }>
  /** Accounts paid, with the value each got. */
  paid: Array<{ address: string; value: bigint; block: bigint }>
}

/** 0x…-less hex of `n` as 2 bytes. */
const u16 = (n: number) => [n >> 8, n & 0xff]

/** Init code: SSTORE(i, 7i) for i in 1..slots, then return the runtime (SLOAD of the calldata's first word). */
export function storageContract(slots: number): Uint8Array {
  const runtime = [0x60, 0x00, 0x35, 0x54, 0x60, 0x00, 0x52, 0x60, 0x20, 0x60, 0x00, 0xf3]
  const init: number[] = []
  for (let i = 1; i <= slots; i++) init.push(0x61, ...u16(7 * i), 0x61, ...u16(i), 0x55)
  const offset = init.length + 12
  init.push(0x60, runtime.length, 0x80, 0x61, ...u16(offset), 0x60, 0x00, 0x39, 0x60, 0x00, 0xf3)
  return new Uint8Array([...init, ...runtime])
}

/** Seals `opts.blocks` blocks with transactions from `payer` into `datadir` (closed again after). */
export async function buildStateChain(datadir: string, genesis: Genesis, keys: Map<string, Uint8Array>, payer: Uint8Array, opts: StateChainOptions): Promise<StateChain> {
  const chain = await Chain.open(datadir, genesis)
  const period = genesis.consensus === 'poa' ? genesis.poa.period : 1
  const common = createChainCommon({ chainId: genesis.chainId, period, epoch: genesis.consensus === 'poa' ? genesis.poa.epoch : 30000n })
  const payerAddr = new Address(privateKeyToAddress(payer))
  let nonce = (await chain.headAccount(payerAddr)).nonce
  const out: StateChain = { head: 0n, contracts: [], paid: [] }
  const code = storageContract(opts.slots ?? 40)
  for (let i = 1; i <= opts.blocks; i++) {
    const number = chain.head.block.header.number + 1n
    const txs: SenderTx[] = []
    const sign = (fields: { to?: string; value: bigint; data?: Uint8Array; gasLimit: bigint }) => {
      const tx = createFeeMarket1559Tx({ nonce: nonce++, to: fields.to as `0x${string}` | undefined, value: fields.value, data: fields.data, gasLimit: fields.gasLimit, maxFeePerGas: 10n ** 11n, maxPriorityFeePerGas: 10n ** 9n, chainId: genesis.chainId }, { common }).sign(payer)
      txs.push({ tx, sender: payerAddr })
      return tx
    }
    if (i % (opts.deployEvery ?? 5) === 1) {
      const contractNonce = nonce
      const tx = sign({ value: 0n, data: code, gasLimit: 3_000_000n })
      const address = `0x${Buffer.from(keccak_256(RLP.encode([payerAddr.bytes, contractNonce])).subarray(12)).toString('hex')}`
      out.contracts.push({ address, block: number, tx: `0x${Buffer.from(tx.hash()).toString('hex')}` })
    }
    for (let a = 0; a < (opts.accountsPerBlock ?? 10); a++) {
      const to = `0x${Buffer.from(keccak_256(new TextEncoder().encode(`state-chain-${number}-${a}`)).subarray(12)).toString('hex')}`
      const value = 1000n + BigInt(i * 100 + a)
      sign({ to, value, gasLimit: 21_000n })
      out.paid.push({ address: to, value, block: number })
    }
    if (chain.consensus.algorithm !== 'poa') throw new Error('a state chain is sealed under PoA')
    const signers = (chain.snapshot as PoaSnapshot).signers
    const who = signers[Number(number % BigInt(signers.length))]!
    const src = Object.assign(txs[Symbol.iterator](), { skipSender() {} })
    // Timestamps one second apart, long ago: valid for any peer's clock.
    const bundle = await chain.produce({ signer: { address: hexToBytes(who as `0x${string}`), privateKey: keys.get(who)! }, source: src, deadline: Date.now() + 60_000, now: Number(number) * 1000 })
    if (bundle.block.transactions.length !== txs.length) throw new Error(`block ${number} took ${bundle.block.transactions.length} of ${txs.length} transactions`)
  }
  out.head = chain.head.block.header.number
  await chain.close()
  return out
}
