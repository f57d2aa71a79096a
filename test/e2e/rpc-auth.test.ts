/**
 * The RPC access flags and the CLI's token, on real node processes: the secret file a node makes,
 * protected methods and the event stream refused without a token, the CLI refusing to call them
 * without --datadir/--rpc.jwtsecret and succeeding with either, and --rpc.api, --rpc.vhosts,
 * --ws.origins and --rpc.jwtsecret taking effect.
 */
import t from 'tap'
import { request } from 'node:http'
import { readFileSync, statSync, existsSync } from 'node:fs'
import { join } from 'node:path'
import { WebSocket } from 'ws'
import { medrec } from '../cli/run-cli.ts'
import { authHeaders, rpc, rpcRaw, startNodeProcess, tempDir, type NodeProcess } from '../helpers/node-process.ts'

t.setTimeout(180_000)

function hostRequest(url: string, host: string): Promise<number> {
  const u = new URL(url)
  return new Promise((resolve, reject) => {
    const req = request({ host: u.hostname, port: u.port, method: 'POST', path: '/', headers: { host, 'content-type': 'application/json' } }, (res) => {
      res.resume()
      resolve(res.statusCode!)
    })
    req.on('error', reject)
    req.end(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'eth_chainId', params: [] }))
  })
}

function wsStatus(url: string, headers: Record<string, string>): Promise<number> {
  const ws = new WebSocket(url, { headers })
  return new Promise((resolve, reject) => {
    ws.once('open', () => (ws.terminate(), resolve(101)))
    ws.once('unexpected-response', (_req, res) => resolve(res.statusCode!))
    ws.once('error', reject)
  })
}

t.test('a dev node with its gatekeeper: the secret, the token, the CLI', async (t) => {
  const dir = tempDir()
  // No --rpc.api: the --dev default (every namespace).
  const node: NodeProcess = await startNodeProcess(['--dev', '--dev.period', '1', '--gatekeeper', '--gatekeeper.http.port', '0'], { datadir: dir.path, rpcApi: false })
  t.teardown(async () => {
    await node.stop()
    dir.remove()
  })
  const secretFile = join(dir.path, 'jwtsecret')
  t.equal(statSync(secretFile).mode & 0o777, 0o600, 'DIR/jwtsecret made at first start, owner-only')
  t.match(readFileSync(secretFile, 'utf8'), /^0x[0-9a-f]{64}$/)

  const anon = await rpcRaw(node.url, 'medrec_notifications', [{}], { auth: false })
  t.equal(anon.error?.code, -32001, 'medrec_notifications without a token: refused')
  t.match(anon.error?.message, /--datadir DIR .*Authorization: Bearer/)
  t.ok(Array.isArray(await rpc(node.url, 'medrec_notifications', [{}])), 'with the token from DIR/jwtsecret: served')
  t.match(await rpc(node.url, 'eth_chainId', [], { auth: false }), /^0x/, 'chain reads need none')
  const events = await fetch(`${node.url}/medrec/events`)
  t.equal(events.status, 401, '/medrec/events without a token')
  await events.body?.cancel()
  const authed = await fetch(`${node.url}/medrec/events`, { headers: await authHeaders(node.url) })
  t.equal(authed.status, 200, '/medrec/events with one')
  await authed.body?.cancel()

  const at = ['--rpc', node.url]
  const noSecret = await medrec(['patient', 'relationships', ...at, '--json'])
  t.equal(noSecret.code, 2, 'the CLI refuses before sending')
  t.match(noSecret.stderr, "medrec_relationships needs the node's token: pass --datadir DIR (the node's data dir) or --rpc.jwtsecret FILE")
  const watch = await medrec(['watch', ...at])
  t.equal(watch.code, 2)
  t.match(watch.stderr, "watching /medrec/events needs the node's token: pass --datadir DIR")
  const byDatadir = await medrec(['bounty', 'list', ...at, '--datadir', dir.path, '--json'])
  t.equal(byDatadir.code, 0, byDatadir.stderr)
  t.same(JSON.parse(byDatadir.stdout), [])
  const byFile = await medrec(['bounty', 'list', ...at, '--rpc.jwtsecret', secretFile, '--json'])
  t.equal(byFile.code, 0, byFile.stderr)
  const wrongDir = tempDir()
  t.teardown(() => wrongDir.remove())
  const missing = await medrec(['patient', 'relationships', ...at, '--datadir', wrongDir.path])
  t.equal(missing.code, 1)
  t.match(missing.stderr, `no JWT secret at ${join(wrongDir.path, 'jwtsecret')}: the node makes DIR/jwtsecret when it starts; is this its data dir?`)
  const help = await medrec(['patient', 'share', '--help'])
  t.match(help.stdout, /--datadir DIR\s+the node's data dir: authenticate with its jwtsecret/)
  t.match(help.stdout, /--rpc\.jwtsecret FILE\s+the node's JWT secret file/)
})

t.test('--rpc.api, --rpc.vhosts, --ws.origins and --rpc.jwtsecret take effect', async (t) => {
  const bad = await medrec(['start', '--dev', '--rpc.api', 'eth,shh', '--rpc.port', '0'])
  t.equal(bad.code, 2)
  t.match(bad.stderr, 'invalid value for --rpc.api: no namespace shh; this node has eth,net,web3,txpool,debug,admin,clique,miner,medrec,personal')

  const dir = tempDir()
  const secretDir = tempDir()
  const secretFile = join(secretDir.path, 'node.jwt')
  const node = await startNodeProcess(['--dev', '--rpc.api', 'eth,net,web3', '--rpc.jwtsecret', secretFile, '--rpc.vhosts', 'localhost,127.0.0.1,medrec.hospital.example', '--ws.origins', 'https://ui.hospital.example'], { datadir: dir.path })
  t.teardown(async () => {
    await node.stop()
    dir.remove()
    secretDir.remove()
  })
  t.ok(existsSync(secretFile), '--rpc.jwtsecret FILE made')
  t.notOk(existsSync(join(dir.path, 'jwtsecret')), 'and no DIR/jwtsecret')
  const off = await rpcRaw(node.url, 'admin_peers')
  t.equal(off.error?.message, 'the method admin_peers does not exist/is not available: its namespace "admin" is not enabled on this node; start it with --rpc.api eth,net,web3,admin', 'a namespace left out of --rpc.api, even with a valid token')
  const cli = await medrec(['peers', '--rpc', node.url, '--rpc.jwtsecret', secretFile])
  t.equal(cli.code, 1)
  t.match(cli.stderr, 'start it with --rpc.api eth,net,web3,admin')
  t.equal(await hostRequest(node.url, 'medrec.hospital.example:8545'), 200, 'a listed vhost')
  t.equal(await hostRequest(node.url, 'attacker.example'), 403, 'another name')
  t.equal(await wsStatus(node.wsUrl, { origin: 'https://ui.hospital.example' }), 101, 'a listed WebSocket origin')
  t.equal(await wsStatus(node.wsUrl, { origin: 'https://attacker.example' }), 403, 'another origin')
})
