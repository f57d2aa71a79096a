import t from 'tap'
import { RLP } from '@ethereumjs/rlp'
import { KECCAK256_RLP } from '@ethereumjs/util'
import { markLive, trieKeyId } from '../../evm/index.ts'
import { keccak256 } from '../../common/keccak.ts'
import { setLogLevel } from '../../common/logger.ts'
import { Chain } from '../../node/chain/index.ts'
import { isSyncError, SyncErrorCode } from '../../node/sync/errors.ts'
import { stateKey } from '../../node/sync/state-serve.ts'
import { decodeStateRequest, decodeStateResponse, encodeStateRequest, encodeStateResponse, MAX_STATE_ITEMS, StateItemKind } from '../../node/sync/state-wire.ts'
import { trieRefs, type TrieRef } from '../../node/sync/trie-refs.ts'
import { testGenesis } from '../helpers/chain.ts'
import { tempDir } from '../helpers/node-process.ts'

/** The state protocol's wire format and the trie walk state sync relies on (issue 23). */
setLogLevel('error')

t.test('state requests are bounded and strict', async (t) => {
  const items = [
    { kind: StateItemKind.NODE, hash: new Uint8Array(32).fill(1) },
    { kind: StateItemKind.CODE, hash: new Uint8Array(32).fill(2) },
  ]
  t.same(decodeStateRequest(encodeStateRequest(items)), items, 'round trip')
  const code = (fn: () => unknown) => {
    try {
      fn()
    } catch (err) {
      return isSyncError(err) ? err.code : `not a SyncError: ${String(err)}`
    }
    return 'no error'
  }
  const refused = (bytes: Uint8Array, why: string) => t.equal(code(() => decodeStateRequest(bytes)), SyncErrorCode.BAD_STATE_REQUEST, why)
  refused(new Uint8Array(0), 'an empty request')
  refused(new Uint8Array(34), 'a request that is not a run of 33-byte items')
  refused(encodeStateRequest(Array.from({ length: MAX_STATE_ITEMS + 1 }, () => items[0]!)), `more than ${MAX_STATE_ITEMS} items`)
  const badKind = encodeStateRequest(items)
  badKind[0] = 7
  refused(badKind, 'an unknown item kind')
  t.same(decodeStateResponse(encodeStateResponse([new Uint8Array([1]), new Uint8Array()]), 2), [new Uint8Array([1]), new Uint8Array()], 'an answer round trips')
  t.equal(code(() => decodeStateResponse(encodeStateResponse([new Uint8Array(), new Uint8Array(), new Uint8Array()]), 2)), SyncErrorCode.BAD_STATE_RESPONSE, 'an answer longer than the request is refused')
  t.equal(code(() => decodeStateResponse(RLP.encode([[new Uint8Array([1])]]), 2)), SyncErrorCode.BAD_STATE_RESPONSE, 'an answer with a nested list is refused')
})

t.test("walking a state's references from its root reaches what the pruner's own walk reaches, every entry stored and hashing to its key", async (t) => {
  const dir = tempDir('medrec-trie-refs-')
  // The system contracts give accounts with storage and code.
  const chain = await Chain.open(dir.path, testGenesis({ predeploys: true }))
  t.teardown(() => chain.close())
  const root = chain.head.block.header.stateRoot
  const seen = new Set<string>()
  let accounts = 0
  let slots = 0
  let codes = 0
  const queue: TrieRef[] = [{ kind: 'node', hash: root, trie: 'account' }]
  while (queue.length > 0) {
    const ref = queue.pop()!
    const key = stateKey(ref.kind === 'code' ? StateItemKind.CODE : StateItemKind.NODE, ref.hash)
    const id = Buffer.from(key).toString('hex')
    if (seen.has(id)) continue
    seen.add(id)
    const value = await chain.store.state.get(key)
    if (value === undefined) {
      t.fail(`referenced entry ${id} is not stored`)
      continue
    }
    if (Buffer.compare(keccak256(value), ref.hash) !== 0) t.fail(`entry ${id} does not hash to its reference`)
    if (ref.kind === 'code') {
      codes++
      continue
    }
    const found = trieRefs(value, ref.trie)
    if (ref.trie === 'account') accounts += found.leaves
    else slots += found.leaves
    queue.push(...found.refs)
  }
  // The genesis was written account by account, so older intermediate nodes are stored too: compare with an independent walk instead.
  const live = new Set<string>()
  await markLive([root], (keys) => chain.store.readStateNodes(keys), live)
  live.delete(trieKeyId(KECCAK256_RLP)) // the empty trie, never stored
  t.same([...seen].sort(), [...live].map((k) => Buffer.from(k, 'latin1').toString('hex')).sort(), `the same ${seen.size} entries as the pruner's mark (evm/state-walk.ts)`)
  t.ok(accounts >= 4 && slots > 0 && codes > 0, `${accounts} accounts, ${slots} storage slots, ${codes} codes`)
})
