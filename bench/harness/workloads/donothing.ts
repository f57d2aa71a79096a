import { keccak_256 } from '@noble/hashes/sha3.js'
import type { Workload } from './types.ts'
import { catalogEntry } from './catalog.ts'

const hex = (b: Uint8Array): string => `0x${Buffer.from(b).toString('hex')}`
const bytes = (h: string): Uint8Array => new Uint8Array(Buffer.from(h.replace(/^0x/, ''), 'hex'))

/** The 4-byte selector of BlockBench's `nothing()`. */
export const NOTHING_SELECTOR = hex(keccak_256(new TextEncoder().encode('nothing()')).subarray(0, 4))

/**
 * BlockBench's DoNothing contract, written by hand: the runtime dispatches on the selector as
 * solc does, so a call pays for the transaction, the dispatch and nothing else (and a call with
 * the wrong selector reverts, which the harness would see as failed receipts).
 */
export const DONOTHING_INITCODE = (() => {
  // 0  PUSH1 0 CALLDATALOAD PUSH1 0xe0 SHR          selector = calldata[0..4]
  // 6  PUSH4 <nothing()> EQ PUSH1 0x13 JUMPI        matches: jump to 19
  // 15 PUSH1 0 DUP1 REVERT                          anything else reverts
  // 19 JUMPDEST STOP                                nothing()
  const runtime = `600035 60e0 1c 63${NOTHING_SELECTOR.slice(2)} 14 6013 57 6000 80 fd 5b 00`.replaceAll(' ', '')
  const len = runtime.length / 2
  // PUSH1 len DUP1 PUSH1 <offset 11> PUSH1 0 CODECOPY PUSH1 0 RETURN
  return `0x60${len.toString(16).padStart(2, '0')}80600b6000396000f3${runtime}`
})()

/** BlockBench's DoNothing: the cost of consensus and a contract call with no work in it. */
export const donothing: Workload = {
  ...catalogEntry('donothing'),
  async setup(ctx) {
    const contract = await ctx.deploy(DONOTHING_INITCODE, 100_000n, 'the DoNothing deployment')
    const to = bytes(contract)
    const data = bytes(NOTHING_SELECTOR)
    return { contract, tx: () => ({ to, data, gasLimit: 30_000n }) }
  },
}
