import { bytesToHex } from '@ethereumjs/util'
import type { BlockBundle, Chain } from '../chain/index.ts'

/**
 * The `safe` and `finalized` block tags. Neither engine has a finality gadget, so each tag is
 * a rule over the canonical chain, stated here and in the operators' docs.
 *
 * PoA (EIP-225 Clique), N authorities at the head, M = floor(N/2) + 1 (a strict majority, also
 * Clique's recent-signer window: an authority seals at most one of any M consecutive blocks):
 * - finalized: the newest block B such that the d blocks after it (to the head) were sealed by
 *   at least M distinct authorities, and d >= 2(N - M). Why: a branch that leaves out B can
 *   replace it only by being heavier. Authorities that follow the rules seal only on the
 *   heaviest branch they know; a minority of f <= N - M others can seal at most f blocks in a
 *   row (the recent-signer window stalls them), weighing at most 2f (in-turn difficulty 2),
 *   while B and the d blocks on it weigh at least d + 1 > 2f. So B stays unless a majority of
 *   the authorities seals on two branches (equivocation, visible as two headers of one signer
 *   at one height).
 * - safe: the newest block that an authority other than its sealer has built on (one block on
 *   top sealed by someone else); with a single authority, the head.
 *
 * PoW: depths. An attacker with a share q of the hash rate overtakes k blocks with probability
 * about (q/(1-q))^k: at q = 1/4, 6 blocks ~0.14 %, 64 blocks ~1e-31. safe = head - 6,
 * finalized = head - 64.
 *
 * The genesis block is final by definition: a chain shorter than the rule answers block 0.
 */
export const POW_SAFE_DEPTH = 6n
export const POW_FINALIZED_DEPTH = 64n

export type FinalityTag = 'safe' | 'finalized'

/**
 * The block numbers each tag names on a PoA chain. `sealers[i]` sealed block headNumber - i (it
 * stops before the genesis, which has no sealer); only members of `authorities` (the set at the
 * head) count towards the majority.
 */
export function poaFinality(sealers: readonly string[], headNumber: bigint, authorities: readonly string[]): { safe: bigint; finalized: bigint } {
  const set = new Set(authorities.map((a) => a.toLowerCase()))
  const n = set.size
  const majority = Math.floor(n / 2) + 1
  const minDepth = Math.max(1, 2 * (n - majority))
  let safe: bigint | undefined = n <= 1 ? headNumber : undefined
  let finalized: bigint | undefined
  const above = new Set<string>()
  for (let d = 1; d <= sealers.length && (safe === undefined || finalized === undefined); d++) {
    const sealer = sealers[d - 1]!.toLowerCase()
    if (set.has(sealer)) above.add(sealer)
    const b = headNumber - BigInt(d)
    const own = sealers[d]?.toLowerCase()
    if (safe === undefined && [...above].some((s) => s !== own)) safe = b
    if (finalized === undefined && above.size >= majority && d >= minDepth) finalized = b
  }
  return { safe: safe ?? 0n, finalized: finalized ?? 0n }
}

/** How far back the PoA rule can look: the recent-signer window makes 2N blocks enough on a live chain. */
function poaWalk(authorities: number): number {
  return 2 * authorities + 2
}

/** Resolves `safe` / `finalized` against the current head (cached per head). */
export function createFinality(chain: Chain): (tag: FinalityTag) => Promise<BlockBundle | undefined> {
  let cached: { head: string; safe: bigint; finalized: bigint } | undefined
  async function numbers(): Promise<{ safe: bigint; finalized: bigint }> {
    const head = chain.head
    const headNumber = head.block.header.number
    const key = bytesToHex(head.block.hash())
    if (cached?.head === key) return cached
    let out: { safe: bigint; finalized: bigint }
    const authorities = chain.consensus.authorities(chain.snapshot)
    if (authorities === undefined) {
      const at = (depth: bigint): bigint => (headNumber > depth ? headNumber - depth : 0n)
      out = { safe: at(POW_SAFE_DEPTH), finalized: at(POW_FINALIZED_DEPTH) }
    } else {
      const sealers: string[] = []
      const walk = BigInt(poaWalk(authorities.length))
      for (let n = headNumber; n >= 1n && headNumber - n <= walk; n--) {
        const b = n === headNumber ? head : await chain.bundleByNumber(n)
        // The head moved under the walk: answer from the blocks read so far.
        if (b === undefined) break
        sealers.push(chain.consensus.author(b.block.header).toString())
      }
      out = poaFinality(sealers, headNumber, authorities)
    }
    cached = { head: key, ...out }
    return out
  }
  return async (tag) => chain.bundleByNumber((await numbers())[tag])
}
