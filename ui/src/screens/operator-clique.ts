/**
 * EIP-225 (Clique) arithmetic over `clique_getSnapshot`, for the operator screen: whose turn it is
 * to seal the next blocks, which authorities must wait (they sealed too recently), and how many
 * votes a proposal needs. Pure functions, no DOM: the unit tests import this file directly.
 */

/** `clique_getSnapshot` as the node answers it (geth's shape). */
export interface CliqueSnapshot {
  number: number
  hash: string
  signers: Record<string, unknown>
  /** block number (decimal string) → the signer that sealed it, for the recent window. */
  recents: Record<string, string>
  votes: { signer: string; block: number; address: string; authorize: boolean }[]
  tally: Record<string, { authorize: boolean; votes: number }>
}

/** `clique_status`: the last 64 blocks' sealers. */
export interface CliqueStatus {
  inturnPercent: number
  sealerActivity: Record<string, number>
  numBlocks: number
}

/** The authorities in the order EIP-225 gives turns: ascending address. */
export function authorities(s: CliqueSnapshot): string[] {
  return Object.keys(s.signers)
    .map((a) => a.toLowerCase())
    .sort()
}

/** The in-turn authority for block `n`: signers[n mod count]. */
export function inTurnFor(signers: readonly string[], n: number): string | undefined {
  return signers.length === 0 ? undefined : signers[n % signers.length]
}

/** The next `count` blocks after `head` with the authority whose turn each is. */
export function nextTurns(signers: readonly string[], head: number, count: number): { block: number; signer: string }[] {
  const out: { block: number; signer: string }[] = []
  for (let n = head + 1; n <= head + count && signers.length > 0; n++) out.push({ block: n, signer: inTurnFor(signers, n)! })
  return out
}

/**
 * The first block `signer` may seal after `head`: an authority that sealed one of the last
 * floor(count/2)+1 blocks must wait (EIP-225's recent-signer rule); undefined when it may seal the next one.
 */
export function mayNextSeal(s: CliqueSnapshot, signer: string, head: number): number | undefined {
  const limit = Math.floor(Object.keys(s.signers).length / 2) + 1
  let last = -1
  for (const [block, who] of Object.entries(s.recents)) if (who.toLowerCase() === signer.toLowerCase()) last = Math.max(last, Number(block))
  if (last < 0) return undefined
  const first = last + limit
  return first > head + 1 ? first : undefined
}

/** Votes a proposal needs to pass: a strict majority of the current authorities. */
export function votesNeeded(s: CliqueSnapshot): number {
  return Math.floor(Object.keys(s.signers).length / 2) + 1
}
