import { codeKey } from '../../evm/index.ts'
import type { P2P } from '../../p2p/index.ts'
import type { ChainStore } from '../chain/index.ts'
import { decodeStateRequest, encodeStateResponse, MAX_STATE_RESPONSE_BYTES, STATE_FRAME_BYTES, STATE_PROTOCOL, STATE_REQUEST_BYTES, StateItemKind } from './state-wire.ts'

/** Items read from the database at a time while an answer is under its byte budget. */
const READ_CHUNK = 256

/** The state sublevel key of an item: the node hash, or the code's key (ethereumjs's 'c' + code hash). */
export function stateKey(kind: StateItemKind, hash: Uint8Array): Uint8Array {
  return kind === StateItemKind.NODE ? hash : codeKey(hash)
}

/**
 * Serves /medrec/state/1 from the chain's trie sublevel: what it holds, by hash, up to the byte
 * budget; an empty value for what it lacks (another state, or pruned). An app protocol of the p2p
 * host, so a request is bounded (frame size, items) and rate-limited per peer as the others are:
 * at most 20 answers a second of at most ~1 MiB each.
 */
export function serveState(p2p: P2P, store: Pick<ChainStore, 'readState'>): void {
  p2p.handle(
    STATE_PROTOCOL,
    async (frame) => {
      const items = decodeStateRequest(frame)
      const values: Uint8Array[] = []
      let bytes = 0
      // Read in chunks (one LevelDB read each), not past the budget by more than a chunk.
      for (let i = 0; i < items.length && bytes < MAX_STATE_RESPONSE_BYTES; i += READ_CHUNK) {
        const got = await store.readState(items.slice(i, i + READ_CHUNK).map((it) => stateKey(it.kind, it.hash)))
        for (const v of got) {
          if (bytes >= MAX_STATE_RESPONSE_BYTES) break
          values.push(v ?? new Uint8Array())
          bytes += v?.length ?? 0
        }
      }
      return encodeStateResponse(values)
    },
    { maxRequestBytes: STATE_REQUEST_BYTES, maxResponseBytes: STATE_FRAME_BYTES },
  )
}
