import { bytesToHex } from '@ethereumjs/util'
import type { Snapshot } from '../../consensus/index.ts'
import type { BlockBundle, Chain } from '../chain/index.ts'
import type { Proposals } from '../producer/index.ts'
import { resolveBlockTag } from './blocks.ts'
import { RpcError } from './errors.ts'
import type { RpcMethods } from './types.ts'
import * as v from './validate.ts'

export interface CliqueModules {
  chain: Chain
  proposals: Proposals
}

/** Blocks clique_status looks back over (geth: 64). */
const STATUS_BLOCKS = 64n

/** The operator's `clique_*` methods, named and shaped as in geth. */
export function createCliqueMethods(modules: CliqueModules): RpcMethods {
  const { chain, proposals } = modules
  // Only an engine that votes on authorities has them, as in geth (ethash has no clique API).
  const voting = chain.consensus.voting
  if (voting === undefined) return {}

  async function bundleAt(p: unknown[]): Promise<BlockBundle> {
    const b = p[0] === undefined || p[0] === null ? chain.head : await resolveBlockTag(chain, v.blockTag(p[0], 0))
    if (b === undefined) throw RpcError.server('unknown block')
    return b
  }
  async function snapAt(b: BlockBundle): Promise<Snapshot> {
    const s = await chain.snapshotAt(b.block.hash())
    if (s === undefined) throw RpcError.server('unknown block')
    return s
  }
  async function byHash(p: unknown[]): Promise<BlockBundle> {
    v.params(p, 1, 1)
    const b = await chain.bundleByHash(v.hash32(p[0], 0))
    if (b === undefined) throw RpcError.server('unknown block')
    return b
  }

  return {
    clique_getSnapshot: async (p) => (v.params(p, 0, 1), voting.snapshotJson(await snapAt(await bundleAt(p)))),
    clique_getSnapshotAtHash: async (p) => voting.snapshotJson(await snapAt(await byHash(p))),
    clique_getSigners: async (p) => (v.params(p, 0, 1), voting.signers(await snapAt(await bundleAt(p)))),
    clique_getSignersAtHash: async (p) => voting.signers(await snapAt(await byHash(p))),
    /** The address that sealed a block (its `miner` field is the Clique vote target). */
    clique_getSigner: async (p) => (v.params(p, 0, 1), chain.consensus.author((await bundleAt(p)).block.header).toString()),
    clique_proposals: (p) => (v.params(p, 0, 0), Object.fromEntries(proposals.list().map((x) => [x.address, x.authorize]))),
    clique_propose: (p) => {
      v.params(p, 2, 2)
      proposals.propose(bytesToHex(v.address(p[0], 0)), v.bool(p[1], 1))
      return null
    },
    clique_discard: (p) => {
      v.params(p, 1, 1)
      proposals.discard(bytesToHex(v.address(p[0], 0)))
      return null
    },
    /** Sealing activity over the last 64 blocks: who sealed how many, and how many were in turn. */
    clique_status: async (p) => {
      v.params(p, 0, 0)
      const head = chain.head
      const snap = chain.snapshot
      const activity: Record<string, number> = Object.fromEntries(voting.signers(snap).map((a) => [a, 0]))
      let inTurn = 0
      let counted = 0
      const from = head.block.header.number > STATUS_BLOCKS ? head.block.header.number - STATUS_BLOCKS + 1n : 1n
      for (let n = from; n <= head.block.header.number; n++) {
        const b = await chain.bundleByNumber(n)
        if (b === undefined) break
        const signer = chain.consensus.author(b.block.header).toString()
        activity[signer] = (activity[signer] ?? 0) + 1
        if (voting.inTurn(b.block.header)) inTurn++
        counted++
      }
      return { inturnPercent: counted === 0 ? 0 : (100 * inTurn) / counted, sealerActivity: activity, numBlocks: counted }
    },
  }
}
