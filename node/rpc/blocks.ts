import { bytesToHex } from '@ethereumjs/util'
import type { BlockBundle, Chain } from '../chain/index.ts'
import { RpcError } from './errors.ts'
import { createFinality, type FinalityTag } from './finality.ts'
import type { BlockTag } from './validate.ts'

/**
 * The block a parameter names: a tag, a canonical number, or a hash (EIP-1898, optionally
 * required to be canonical). Undefined when there is no such block; callers word the error.
 */
export async function resolveBlockTag(chain: Chain, tag: BlockTag): Promise<BlockBundle | undefined> {
  switch (tag.kind) {
    case 'tag':
      if (tag.tag === 'safe' || tag.tag === 'finalized') return finalityOf(chain)(tag.tag)
      return tag.tag === 'earliest' ? chain.bundleByNumber(0n) : chain.head
    case 'number':
      return chain.bundleByNumber(tag.n)
    case 'hash': {
      const b = await chain.bundleByHash(tag.hash)
      if (b !== undefined && tag.requireCanonical) {
        const canon = await chain.bundleByNumber(b.block.header.number)
        if (canon === undefined || bytesToHex(canon.block.hash()) !== bytesToHex(tag.hash)) throw RpcError.server(`hash ${bytesToHex(tag.hash)} is not currently canonical`)
      }
      return b
    }
  }
}

/** One finality resolver (and its per-head cache) per chain. */
const finalities = new WeakMap<Chain, (tag: FinalityTag) => Promise<BlockBundle | undefined>>()
function finalityOf(chain: Chain): (tag: FinalityTag) => Promise<BlockBundle | undefined> {
  let f = finalities.get(chain)
  if (f === undefined) {
    f = createFinality(chain)
    finalities.set(chain, f)
  }
  return f
}
