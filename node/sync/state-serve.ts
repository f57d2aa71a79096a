import { codeKey } from '../../evm/index.ts'
import type { P2P } from '../../p2p/index.ts'
import type { ChainStore } from '../chain/index.ts'
import { decodeStateRequest, encodeStateResponse, MAX_STATE_RESPONSE_BYTES, STATE_FRAME_BYTES, STATE_PROTOCOL, StateItemKind } from './state-wire.ts'

/** The state sublevel key of an item: the node hash, or the code's key (ethereumjs's 'c' + code hash). */
export function stateKey(kind: StateItemKind, hash: Uint8Array): Uint8Array {
  return kind === StateItemKind.NODE ? hash : codeKey(hash)
}

/**
 * Serves /medrec/state/1 from the chain's trie sublevel: what it holds, by hash, up to the byte
 * budget; an empty value for what it lacks (another state, or pruned). An app protocol of the p2p
 * host, so a request is bounded (frame size, items) and rate-limited per peer as the others are.
 */
export function serveState(p2p: P2P, store: Pick<ChainStore, 'state'>): void {
  p2p.handle(
    STATE_PROTOCOL,
    async (frame) => {
      const items = decodeStateRequest(frame)
      const values: Uint8Array[] = []
      let bytes = 0
      for (const it of items) {
        if (bytes >= MAX_STATE_RESPONSE_BYTES) break
        const v = (await store.state.get(stateKey(it.kind, it.hash))) ?? new Uint8Array()
        values.push(v)
        bytes += v.length
      }
      return encodeStateResponse(values)
    },
    { maxResponseBytes: STATE_FRAME_BYTES },
  )
}
