import type { Block } from '@ethereumjs/block'
import type { P2PModules } from '../../p2p/index.ts'
import type { Chain } from '../chain/index.ts'

/**
 * The range requests a chain peer answers from its canonical chain: consecutive blocks (as
 * stored) and headers from `from`, stopping at the first number it does not hold.
 */
export function serveRanges(chain: Chain): Pick<P2PModules, 'getBlocksByRange' | 'getHeadersByRange'> {
  const canonicalRange = async (from: bigint, count: number, pick: (b: Block) => Uint8Array): Promise<Uint8Array[]> => {
    const out: Uint8Array[] = []
    for (let n = from; n < from + BigInt(count); n++) {
      const b = await chain.blockByNumber(n)
      if (b === undefined) break
      out.push(pick(b))
    }
    return out
  }
  return {
    getBlocksByRange: (from, count) => canonicalRange(from, count, (b) => chain.store.encodeBlock(b)),
    getHeadersByRange: (from, count) => canonicalRange(from, count, (b) => b.header.serialize()),
  }
}
