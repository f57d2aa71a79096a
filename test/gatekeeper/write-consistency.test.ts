import t from 'tap'
import { createFeeMarket1559Tx, createTxFromRPC, type TypedTxData } from '@ethereumjs/tx'
import { createCustomCommon, Mainnet } from '@ethereumjs/common'
import { bytesToHex } from '@ethereumjs/util'
import { toHex, type Address, type Hex } from 'viem'
import { mnemonicToAccount, type HDAccount } from 'viem/accounts'
import { createMedRecClient, type MedRecClient } from '../../contracts/client/index.ts'
import { createRequester } from '../../gatekeeper/requester.ts'
import type { FhirResource } from '../../gatekeeper/types.ts'
import { rpc, rpcRaw, startNodeProcess, tempDir, type NodeProcess } from '../helpers/node-process.ts'

/**
 * The provider's write path against a real node (issue 19 item 5): a record update whose chain
 * update fails must leave the previous version served and verifying, and tell the caller why.
 * The failure is real: the node refuses the provider's transaction because the provider's
 * account was emptied (insufficient funds), as it would be on a network that charges gas.
 */

const MNEMONIC = 'test test test test test test test test test test test junk'
const accounts: HDAccount[] = Array.from({ length: 6 }, (_, i) => mnemonicToAccount(MNEMONIC, { addressIndex: i }))
const keyOf = (i: number): Hex => toHex(accounts[i]!.getHdKey().privateKey!)
const [PROVIDER, ALICE, SINK, BOB, BANK] = [0, 1, 2, 3, 5] as const
const CHAIN_ID = 1337n
const common = createCustomCommon({ chainId: Number(CHAIN_ID) }, Mainnet, { hardfork: 'london' })

const obs = (id: string, value: number): FhirResource => ({
  resourceType: 'Observation',
  id,
  status: 'final',
  code: { coding: [{ system: 'http://loinc.org', code: '8480-6', display: 'Systolic' }] },
  valueQuantity: { value, unit: 'mmHg' },
  effectiveDateTime: '2026-01-02T03:04:05Z',
})
const query = { resourceType: 'Observation', fields: ['status', 'code', 'valueQuantity'] }

let node: NodeProcess
let dir: ReturnType<typeof tempDir>
let alice: MedRecClient
let bob: MedRecClient

/** Sends `value` wei from dev account `from` to `to`, tip 0, fee cap `feeCap`, and waits for its receipt. */
async function send(from: number, to: Address, value: bigint, feeCap: bigint): Promise<void> {
  const nonce = BigInt(await rpc<string>(node.url, 'eth_getTransactionCount', [accounts[from]!.address, 'pending']))
  const tx = createFeeMarket1559Tx({ nonce, to, value, gasLimit: 21_000n, maxFeePerGas: feeCap, maxPriorityFeePerGas: 0n }, { common }).sign(accounts[from]!.getHdKey().privateKey!)
  const hash = await rpc<string>(node.url, 'eth_sendRawTransaction', [bytesToHex(tx.serialize())])
  for (let i = 0; i < 200; i++) {
    if ((await rpc<unknown>(node.url, 'eth_getTransactionReceipt', [hash])) !== null) return
    await new Promise((r) => setTimeout(r, 50))
  }
  throw new Error(`transfer ${hash} did not mine`)
}

async function baseFee(): Promise<bigint> {
  return BigInt((await rpc<{ baseFeePerGas: string }>(node.url, 'eth_getBlockByNumber', ['latest', false])).baseFeePerGas)
}

/** What the patient (alice, or bob) gets from the provider's gatekeeper for pointer 0, checked against the chain. */
async function patientReads(rel: Address, patient: typeof ALICE | typeof BOB = ALICE): Promise<{ status: string; values: number[] }> {
  const client = patient === ALICE ? alice : bob
  const res = await createRequester({ client, privateKey: keyOf(patient), chainId: CHAIN_ID }).fetchRecords(rel)
  const p = res.pointers[0]!
  return { status: p.status, values: p.bundle.entry.map((e) => (e.resource as unknown as { valueQuantity: { value: number } }).valueQuantity.value) }
}

t.before(async () => {
  dir = tempDir('medrec-gk-write-')
  node = await startNodeProcess(['--dev', '--dev.period', '0', '--gatekeeper', '--gatekeeper.http.port', '0', '--gatekeeper.delegates=false'], { datadir: dir.path })
  alice = createMedRecClient({ rpcUrl: node.url, privateKey: keyOf(ALICE), pollMs: 100 })
  bob = createMedRecClient({ rpcUrl: node.url, privateKey: keyOf(BOB), pollMs: 100 })
  await rpc(node.url, 'medrec_addPatient', [{ identity: 'alice', address: accounts[ALICE]!.address }])
  await rpc(node.url, 'medrec_addPatient', [{ identity: 'bob', address: accounts[BOB]!.address }])
})

t.teardown(async () => {
  await node?.kill()
  dir?.remove()
})

t.test('a chain update the node refuses leaves the previous version served and verifying; the caller is told why', async (t) => {
  const created = await rpc<{ relationship: Address; action: string }>(node.url, 'medrec_addRecord', [{ identity: 'alice', resources: [obs('bp-1', 120)], query }])
  t.equal(created.action, 'created')
  const rel = created.relationship
  await alice.summary().accept(rel)
  t.same(await patientReads(rel), { status: 'verified', values: [120] }, 'version 1 verifies')

  // Empty the provider's account: every transaction it sends from now on is refused by the node.
  const provider = accounts[PROVIDER]!.address
  const fee = 2n * (await baseFee())
  const balance = BigInt(await rpc<string>(node.url, 'eth_getBalance', [provider, 'latest']))
  await send(PROVIDER, accounts[SINK]!.address, balance - 21_000n * fee, fee)

  const failed = await rpcRaw(node.url, 'medrec_addRecord', [{ identity: 'alice', resources: [obs('bp-1', 180), obs('bp-2', 95)], query }])
  t.ok(failed.error !== undefined, 'the record update fails')
  t.match(failed.error?.data, { code: 'GATEKEEPER_CHAIN_UPDATE_FAILED' }, 'with its own code')
  t.match(failed.error?.message, /chain/i, `the error says the chain update failed (${failed.error?.message})`)
  t.match(failed.error?.message, /insufficient funds/i, 'and why')
  t.match(failed.error?.message, /previous version/i, 'and that the previous version is still served')
  t.same(await patientReads(rel), { status: 'verified', values: [120] }, 'the previous version still verifies, not tampered')

  // Funded again, the same update goes through and the new version verifies.
  await send(BANK, provider, 10n ** 20n, 4n * (await baseFee()))
  const updated = await rpc<{ action: string }>(node.url, 'medrec_addRecord', [{ identity: 'alice', resources: [obs('bp-1', 180), obs('bp-2', 95)], query }])
  t.equal(updated.action, 'updated')
  t.same(await patientReads(rel), { status: 'verified', values: [180, 95] }, 'the new version verifies')
})

t.test('a crash after the update is sent: the previous version is served until the chain holds the new hash, then the new one', async (t) => {
  const created = await rpc<{ relationship: Address }>(node.url, 'medrec_addRecord', [{ identity: 'bob', resources: [obs('hr-1', 60)], query }])
  const rel = created.relationship
  await bob.summary().accept(rel)
  t.same(await patientReads(rel, BOB), { status: 'verified', values: [60] }, 'version 1 verifies')

  // No blocks: the update waits in the pool, and the node dies there (SIGKILL).
  const gkPort = new URL((await rpc<{ url: string }>(node.url, 'medrec_gatekeeperInfo')).url).port
  await rpc(node.url, 'miner_stop')
  const provider = accounts[PROVIDER]!.address.toLowerCase()
  const filter = await rpc<string>(node.url, 'eth_newPendingTransactionFilter')
  const sent = rpcRaw(node.url, 'medrec_addRecord', [{ identity: 'bob', resources: [obs('hr-1', 72)], query }]).then(
    (r) => r.error !== undefined,
    () => true,
  )
  let raw: Uint8Array | undefined
  for (let i = 0; i < 200 && raw === undefined; i++) {
    for (const hash of await rpc<string[]>(node.url, 'eth_getFilterChanges', [filter])) {
      const tx = await rpc<(TypedTxData & { hash: string; from: string }) | null>(node.url, 'eth_getTransactionByHash', [hash])
      if (tx === null || tx.from.toLowerCase() !== provider) continue
      // Kept, as a peer that got it by gossip would have it.
      const rebuilt = await createTxFromRPC(tx, { common })
      t.equal(bytesToHex(rebuilt.hash()), tx.hash, 'the pending update, byte for byte')
      raw = rebuilt.serialize()
    }
    if (raw === undefined) await new Promise((r) => setTimeout(r, 50))
  }
  t.ok(raw !== undefined, 'the update was sent')
  await node.kill()
  t.ok(await sent, 'the caller saw no success')

  // On the same gatekeeper port: the relationship's endpoint on chain names it.
  node = await startNodeProcess(['--dev', '--dev.period', '0', '--gatekeeper', '--gatekeeper.http.port', gkPort, '--gatekeeper.delegates=false'], { datadir: dir.path })
  bob = createMedRecClient({ rpcUrl: node.url, privateKey: keyOf(BOB), pollMs: 100 })
  t.same(await patientReads(rel, BOB), { status: 'verified', values: [60] }, 'after the crash the previous version is served and verifies')

  // The update lands after all (a peer had it): the new version is served from then on.
  const hash = await rpc<string>(node.url, 'eth_sendRawTransaction', [bytesToHex(raw!)])
  for (let i = 0; i < 200 && (await rpc<unknown>(node.url, 'eth_getTransactionReceipt', [hash])) === null; i++) await new Promise((r) => setTimeout(r, 50))
  t.same(await patientReads(rel, BOB), { status: 'verified', values: [72] }, 'once the chain holds its hash the new version is served and verifies')
})
