import { bytesToHex, equalsBytes } from '@ethereumjs/util'
import { errorMessage } from '../../common/errors.ts'
import { createLogger } from '../../common/logger.ts'
import type { Executor } from '../../evm/index.ts'
import { ChainError, ChainErrorCode } from './errors.ts'
import type { ChainStore } from './store.ts'
import type { BlockBundle } from './types.ts'

const log = createLogger('chain')

/** How far below the head the canonical index is checked at start (cheap: cached reads of recent blocks). */
const CHECK_DEPTH = 64n

/** What to do about a database whose head does not hold together. */
function repairHint(location: string): string {
  return `the database cannot be trusted as it is: move ${location} away (keep it for a post-mortem) and re-sync the chain from peers (--bootnodes), or restart once with --db.repair to let LevelDB salvage what it can`
}

/**
 * The stored head holds together before the node uses it: the head block and its state are
 * there, the canonical index points at it, and the last blocks below it are indexed and linked.
 * Refuses (CHAIN_CORRUPT_DATABASE, naming the fault and the repair) rather than run on a
 * database that lost pieces. Leaves the executor at the head's state.
 */
export async function checkStoredHead(store: ChainStore, executor: Executor, headHash: Uint8Array): Promise<BlockBundle> {
  const corrupt = (what: string): never => {
    throw new ChainError(ChainErrorCode.CORRUPT_DATABASE, `${what}: ${repairHint(store.location)}`, { location: store.location })
  }
  const head = await store.bundle(headHash)
  if (head === undefined) return corrupt(`the head block ${bytesToHex(headHash)} is missing from the chain database`)
  const number = head.block.header.number
  try {
    await executor.resetTo(head.block.header.stateRoot)
  } catch (err) {
    corrupt(`the state of head block ${number} (root ${bytesToHex(head.block.header.stateRoot)}) is missing (${errorMessage(err)})`)
  }
  let b = head
  const stop = number > CHECK_DEPTH ? number - CHECK_DEPTH : 0n
  for (let n = number; ; n--) {
    const indexed = await store.canonicalHash(n)
    if (indexed === undefined || !equalsBytes(indexed, b.block.hash())) {
      corrupt(`the canonical index at block ${n} ${indexed === undefined ? 'is missing' : `names ${bytesToHex(indexed)}`}, not ${bytesToHex(b.block.hash())} on the head's chain`)
    }
    if (n === stop) break
    const parent = await store.bundle(b.block.header.parentHash)
    if (parent === undefined) return corrupt(`block ${n - 1n} (${bytesToHex(b.block.header.parentHash)}), parent of block ${n}, is missing`)
    b = parent
  }
  return head
}

/**
 * Says loudly what a restart recovered that it should not have: LevelDB's LOG reports dropped
 * or corrupt log records, or the head is below the last one this node acknowledged (ACKED_HEAD).
 * The node still starts (refusing would not bring the blocks back, and peers may re-send them),
 * but never silently.
 */
export async function reportRecovery(store: ChainStore, head: BlockBundle): Promise<void> {
  if (store.recoveryProblems.length > 0) {
    log.error('LevelDB dropped data while recovering its log (a write failed or the machine crashed)', { location: store.location, lines: store.recoveryProblems.length }, store.recoveryProblems.join(' | '))
  }
  const acked = store.ackedAtOpen
  if (acked === undefined) return
  const number = head.block.header.number
  // A reorg rewrites ACKED_HEAD too, so the acknowledged block is canonical unless writes were lost.
  const atAcked = number < acked.number ? undefined : await store.canonicalHash(acked.number)
  if (atAcked === undefined || !equalsBytes(atAcked, acked.hash)) {
    log.error('The chain head went BACK: blocks this node acknowledged were lost', {
      acknowledged: acked.number,
      acknowledgedHash: acked.hash,
      recovered: number,
      lost: number < acked.number ? acked.number - number : 'the acknowledged block is no longer canonical',
      location: store.location,
      fix: 'peers re-send blocks they have; receipts clients got for the lost blocks are void unless those blocks come back',
    })
  }
}
