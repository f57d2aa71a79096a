import t from 'tap'
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { bytesToHex } from 'viem'
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts'
import { createMedRecClient, randomSalt, type Rpc } from '../../contracts/client/index.ts'
import { createNotificationLog, createRecordCache } from '../../gatekeeper/cache.ts'
import { createRequester } from '../../gatekeeper/requester.ts'
import { openStateDb } from '../../gatekeeper/state.ts'
import { createWatcher } from '../../gatekeeper/watch.ts'
import { createRpc } from '../../contracts/client/rpc.ts'
import type { NodeConfig } from '../../node/config/index.ts'
import { createDevGenesis, devAccounts } from '../../node/genesis/index.ts'
import { startNode } from '../../node/node.ts'
import { DEFAULT_RPC, DEV_APIS } from '../../node/rpc/index.ts'
import { tempDir } from '../helpers/node-process.ts'

/**
 * The watch service follows what changed for its account, read from the logs of the blocks since
 * its last pass: a head with nothing for the patient costs a few requests however many
 * relationships she has (it used to read every Summary entry and every relationship per head),
 * and a change is still seen and notified.
 */

const RELATIONSHIPS = 12

t.test('a pass costs what changed, not how many relationships there are', async (t) => {
  const dir = tempDir('medrec-watch-')
  const datadir = join(dir.path, 'node')
  mkdirSync(datadir, { mode: 0o700 })
  const dev0 = devAccounts(1)[0]!
  const config: NodeConfig = {
    datadir,
    genesis: createDevGenesis({ period: 1 }),
    rpc: { ...DEFAULT_RPC, port: 0, apis: [...DEV_APIS], callWorkers: 1 },
    authority: dev0,
    logLevel: 'warn',
    dev: true,
    p2p: undefined,
    gatekeeper: undefined,
    priceLimit: 0n,
  }
  const node = await startNode(config)
  t.teardown(async () => {
    await node.close()
    dir.remove()
  })
  const provider = createMedRecClient({ rpcUrl: node.rpcUrl, privateKey: bytesToHex(dev0.privateKey), pollMs: 100 })
  const patientKey = generatePrivateKey()
  const patient = privateKeyToAccount(patientKey).address
  await provider.transfer(patient, 10n ** 18n)
  await provider.registrar.registerIdentity('watch-patient', patient)
  // Sent together (the client numbers its nonces): a few blocks, not one per write.
  const created = await Promise.all(Array.from({ length: RELATIONSHIPS }, () => provider.relationships.createRelationship(patient, '', { salt: randomSalt() })))
  const rels = created.map((c) => c.relationship.toLowerCase())
  await Promise.all(rels.map((r) => provider.relationship(r).linkPatient()))

  const counts = new Map<string, number>()
  /** The contracts the pass read (eth_call targets). */
  const read = new Set<string>()
  const base = createRpc(node.rpcUrl, 10_000)
  const rpc: Rpc = {
    request<T>(method: string, params: readonly unknown[]): Promise<T> {
      counts.set(method, (counts.get(method) ?? 0) + 1)
      if (method === 'eth_call') read.add((params[0] as { to: string }).to.toLowerCase())
      return base.request<T>(method, params)
    },
  }
  const client = createMedRecClient({ transport: rpc, privateKey: patientKey, pollMs: 100 })
  const db = openStateDb(join(dir.path, 'state.sqlite'))
  t.teardown(() => db.close())
  const notifications = createNotificationLog(db)
  const watcher = createWatcher({ client, rpc, requester: createRequester({ client, privateKey: patientKey, chainId: BigInt(await client.chainId()) }), db, cache: createRecordCache(db), notifications })
  const pass = async (): Promise<number> => {
    counts.clear()
    read.clear()
    await watcher.poll()
    return [...counts.values()].reduce((a, b) => a + b, 0)
  }

  const first = await pass()
  const added = notifications.since(0).filter((n) => n.kind === 'relationship-added')
  t.same(added.map((n) => n.relationship).sort(), [...rels].sort(), 'the first pass reads every entry and notifies each relationship once')
  t.ok(first > RELATIONSHIPS, `the first pass reads each relationship (${first} requests)`)

  // Heads with nothing for this patient: wait until the chain has moved on, then pass.
  const at = BigInt(await base.request<string>('eth_blockNumber', []))
  while (BigInt(await base.request<string>('eth_blockNumber', [])) < at + 2n) await new Promise((r) => setTimeout(r, 200))
  const idle = await pass()
  t.ok(idle <= 5, `a pass over blocks with nothing for the patient costs ${idle} requests (${JSON.stringify(Object.fromEntries(counts))}), not one per relationship`)
  t.equal(counts.get('eth_call') ?? 0, 1, 'one contract read: where her Summary is')

  // One change: the patient rejects one relationship; the pass reads that one and notifies it.
  const lastId = (): number => notifications.since(0).at(-1)?.id ?? 0
  const seen = lastId()
  await client.summary().reject(rels[3]!)
  const changed = await pass()
  const fresh = notifications.since(seen)
  t.same(fresh.map((n) => [n.kind, n.relationship]), [['rejected', rels[3]]], 'the rejection is notified, and nothing else')
  const summary = (await client.registrar.summaryOf(patient))!.toLowerCase()
  t.same([...read].filter((a) => a !== summary && rels.includes(a)), [rels[3]], `the pass after one change (${changed} requests) reads that relationship and no other`)

  const before = lastId()
  await client.summary().accept(rels[5]!)
  await pass()
  t.same(notifications.since(before).map((n) => n.kind), ['accepted'], 'the acceptance is notified')
})
