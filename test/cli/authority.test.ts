import t from 'tap'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { medrec, tempDir } from './run-cli.ts'
import { rpc, rpcRaw, startNodeProcess } from '../helpers/node-process.ts'

/** `medrec authority …` and `medrec peers` against a running dev node, and the clique_* RPC they use. */

const DEV_AUTHORITY = '0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266'
const CANDIDATE = '0x70997970c51812dc3a010c7d01b50e0d17dc79c8'

t.test('operators vote and inspect through the CLI', async (t) => {
  const dir = tempDir()
  const node = await startNodeProcess(['--dev', '--dev.period', '1'], { datadir: dir.path })
  t.teardown(async () => {
    await node.stop()
    dir.remove()
  })
  // --datadir: the CLI signs its token with the node's DIR/jwtsecret.
  const at = ['--rpc', node.url, '--datadir', dir.path]

  const list = await medrec(['authority', 'list', ...at, '--json'])
  t.equal(list.code, 0, list.stderr)
  t.same(JSON.parse(list.stdout), [DEV_AUTHORITY], 'the dev authority')

  const proposed = await medrec(['authority', 'propose', '--address', CANDIDATE, ...at])
  t.equal(proposed.code, 0, proposed.stderr)
  t.match(proposed.stdout, `Proposed to add ${CANDIDATE}`)
  const anonymous = await medrec(['authority', 'propose', '--address', CANDIDATE, '--rpc', node.url])
  t.equal(anonymous.code, 2, 'a vote without the node\'s secret is refused before sending')
  t.match(anonymous.stderr, "clique_propose needs the node's token: pass --datadir DIR (the node's data dir) or --rpc.jwtsecret FILE")
  const other = tempDir()
  t.teardown(() => other.remove())
  writeFileSync(join(other.path, 'jwtsecret'), '0x' + '11'.repeat(32))
  const forged = await medrec(['authority', 'discard', '--address', CANDIDATE, '--rpc', node.url, '--rpc.jwtsecret', join(other.path, 'jwtsecret')])
  t.equal(forged.code, 1, 'another secret: the node refuses')
  t.match(forged.stderr, /clique_discard failed: unauthorized: invalid token \(signature verification failed\).*\(code -32001\)/)
  const props = await medrec(['authority', 'proposals', ...at, '--json'])
  t.same(JSON.parse(props.stdout), { [CANDIDATE]: true })
  t.same(await rpc(node.url, 'clique_proposals'), { [CANDIDATE]: true }, 'the same over JSON-RPC')

  // one signer: its own vote is a majority, so the candidate is in within a block or two
  const deadline = Date.now() + 20_000
  let signers: string[] = []
  while (Date.now() < deadline && !signers.includes(CANDIDATE)) {
    signers = await rpc<string[]>(node.url, 'clique_getSigners', [])
    await new Promise((r) => setTimeout(r, 200))
  }
  t.same(signers, [DEV_AUTHORITY, CANDIDATE].sort(), 'voted in by the single authority')
  const head = await rpc<{ hash: string }>(node.url, 'eth_getBlockByNumber', ['latest', false])
  t.same(await rpc(node.url, 'clique_getSignersAtHash', [head.hash]), signers)
  const snap = await rpc<{ signers: Record<string, object>; recents: Record<string, string> }>(node.url, 'clique_getSnapshot', ['latest'])
  t.same(Object.keys(snap.signers).sort(), signers, 'the snapshot lists the signers as geth does')

  const discard = await medrec(['authority', 'discard', '--address', CANDIDATE, ...at])
  t.equal(discard.code, 0, discard.stderr)
  t.same(await rpc(node.url, 'clique_proposals'), {}, 'discarded')

  const status = await medrec(['authority', 'status', ...at, '--json'])
  const s = JSON.parse(status.stdout) as { numBlocks: number; sealerActivity: Record<string, number> }
  t.ok(s.numBlocks > 0 && (s.sealerActivity[DEV_AUTHORITY] ?? 0) > 0, 'status counts the blocks the authority sealed')

  // bad input gets a clear error and changes nothing
  const bad = await medrec(['authority', 'propose', '--address', '0x1234', ...at])
  t.equal(bad.code, 2)
  t.match(bad.stderr, 'invalid value for --address')
  const r = await rpcRaw(node.url, 'clique_propose', ['0x1234', true])
  t.equal(r.error?.code, -32602, 'clique_propose with a short address: invalid params')
  t.equal((await rpcRaw(node.url, 'clique_getSignersAtHash', ['0x' + '11'.repeat(32)])).error?.message, 'unknown block')

  // the dev node runs without p2p: peers says so, the counts are zero
  const peers = await medrec(['peers', ...at])
  t.equal(peers.code, 1)
  t.match(peers.stderr, 'p2p is off on this node')
  t.equal(await rpc(node.url, 'net_peerCount'), '0x0')
  t.equal(await rpc(node.url, 'eth_syncing'), false)

  const down = await medrec(['authority', 'list', '--rpc', 'http://127.0.0.1:9'])
  t.equal(down.code, 1)
  t.match(down.stderr, 'cannot reach a node at http://127.0.0.1:9')
})
