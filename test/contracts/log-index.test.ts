import t, { type Test } from 'tap'
import { createFeeMarket1559Tx } from '@ethereumjs/tx'
import { Address } from '@ethereumjs/util'
import { bytesToHex, type Address as Hex20, type Hex } from 'viem'
import { createMedRecClient, type Rpc } from '../../contracts/client/index.ts'
import { setLogLevel } from '../../common/logger.ts'
import { Chain } from '../../node/chain/index.ts'
import { chainRpc } from '../../bench/harness/scale-chain.ts'
import { FLOW_ENDPOINT, newRecordTxs, registerTx, relationshipAddress, setupSalt } from '../../bench/harness/workloads/medrec-flows.ts'
import type { TxFields } from '../../bench/harness/workloads/types.ts'
import { summaryAddress } from '../../bench/harness/scale-chain.ts'
import { DEV_KEYS, addressOf, source, testGenesis } from '../helpers/chain.ts'
import { tempDir } from '../helpers/node-process.ts'

setLogLevel('error')

/**
 * The contract client's list reads (relationships, participants, bounties) come from event logs.
 * They used to scan from genesis on every call; the client's LogIndex resumes after the head its
 * last read ended at, checked by hash, and drops what a reorg replaced. Real Chain and LevelDB,
 * the node's own eth_* methods in-process; eth_getLogs ranges are counted, not timed.
 */

const AUTHORITY = DEV_KEYS[0]!
const author = bytesToHex(addressOf(AUTHORITY)) as Hex20
const patient = bytesToHex(addressOf(DEV_KEYS[1]!)) as Hex20
const TAG = `0x${'11'.repeat(32)}` as Hex

/** Signs `fields` from the authority with the chain's next nonce for it. */
async function signed(chain: Chain, fields: TxFields[]) {
  let nonce = (await chain.headAccount(new Address(addressOf(AUTHORITY)))).nonce
  return fields.map((f) => ({ tx: createFeeMarket1559Tx({ ...f, nonce: nonce++, chainId: 1337n, maxFeePerGas: 10n ** 11n, maxPriorityFeePerGas: 1n }, { common: chain.common }).sign(AUTHORITY), sender: new Address(addressOf(AUTHORITY)) }))
}

async function seal(chain: Chain, fields: TxFields[] = []) {
  const b = await chain.produce({ signer: { address: addressOf(AUTHORITY), privateKey: AUTHORITY }, source: source(await signed(chain, fields)), deadline: Date.now() + 60_000 })
  t.ok(b.receipts.every((r) => r.status === 1), `block ${b.block.header.number}: every transaction succeeded`)
  return b
}

/** The authority's `Relationships.create` for the patient with salt number `k`, and the address it makes. */
function create(k: number): { tx: TxFields; relationship: string } {
  const salt = setupSalt(TAG, k)
  const summary = summaryAddress(patient, 'log-index-patient')
  const relationship = relationshipAddress(author, patient, summary, FLOW_ENDPOINT, salt)
  return { tx: newRecordTxs(patient, FLOW_ENDPOINT, salt, salt, relationship)[0], relationship: relationship.toLowerCase() }
}

/** An Rpc that records the block span of every eth_getLogs. */
function counting(base: Rpc): { rpc: Rpc; spans: Array<[number, number]> } {
  const spans: Array<[number, number]> = []
  return {
    spans,
    rpc: {
      request<T>(method: string, params: readonly unknown[]): Promise<T> {
        if (method === 'eth_getLogs') {
          const f = params[0] as { fromBlock: Hex; toBlock: Hex }
          spans.push([Number(BigInt(f.fromBlock)), Number(BigInt(f.toBlock))])
        }
        return base.request<T>(method, params)
      },
    },
  }
}

async function open(t: Test) {
  const dir = tempDir('medrec-log-index-')
  const chain = await Chain.open(dir.path, testGenesis({ predeploys: true }))
  const transport = chainRpc(chain, testGenesis({ predeploys: true }))
  t.teardown(async () => {
    await transport.close()
    await chain.close()
    dir.remove()
  })
  return { chain, base: transport.rpc }
}

const head = (chain: Chain) => Number(chain.head.block.header.number)
const lower = (xs: readonly string[]) => xs.map((x) => x.toLowerCase())

t.test('a list read after N more blocks asks eth_getLogs for those blocks only', async (t) => {
  const { chain, base } = await open(t)
  await seal(chain, [registerTx('log-index-patient', patient), create(0).tx])
  const { rpc, spans } = counting(base)
  const client = createMedRecClient({ transport: rpc, privateKey: bytesToHex(AUTHORITY) })
  t.same(lower(await client.relationships.relationships()), [create(0).relationship])
  t.same(spans, [[0, head(chain)]], 'the first read scans from genesis')

  const before = head(chain)
  for (let i = 0; i < 5; i++) await seal(chain, i === 2 ? [create(1).tx] : [])
  spans.length = 0
  t.same(lower(await client.relationships.relationships()), [create(0).relationship, create(1).relationship], 'the new relationship is listed after the old one')
  t.same(spans, [[before + 1, head(chain)]], `after 5 more blocks, one eth_getLogs over blocks ${before + 1}..${head(chain)}`)

  spans.length = 0
  t.equal(await client.relationships.relationshipCountOf(author), 2)
  t.same(spans, [[0, head(chain)]], 'another stream (filtered by provider) is its own first read')
  spans.length = 0
  t.equal(await client.relationships.relationshipCount(), 2)
  t.same(spans, [], 'no new block: no eth_getLogs at all')
})

t.test('after a reorg, the cached range above the fork is dropped and read again from the new branch', async (t) => {
  const { chain, base } = await open(t)
  // B: a second chain from the same genesis that will outgrow A's branch.
  const bDir = tempDir('medrec-log-index-b-')
  const b = await Chain.open(bDir.path, testGenesis({ predeploys: true }))
  t.teardown(async () => {
    await b.close()
    bDir.remove()
  })
  await seal(chain, [registerTx('log-index-patient', patient), create(0).tx])
  const fork = head(chain)
  for (let n = 1n; n <= BigInt(fork); n++) t.equal((await b.importBlock((await chain.blockByNumber(n))!)).status, 'head')

  const { rpc, spans } = counting(base)
  const client = createMedRecClient({ transport: rpc, privateKey: bytesToHex(AUTHORITY) })
  t.same(lower(await client.relationships.relationships()), [create(0).relationship], 'read up to the fork point')
  // A's branch: one block with relationship 1, read (and cached) by the client.
  await seal(chain, [create(1).tx])
  t.same(lower(await client.relationships.relationships()), [create(0).relationship, create(1).relationship], "A's branch read")

  // B's branch: three blocks, relationship 2 in the second; imported into A, it becomes the head.
  await seal(b, [])
  await seal(b, [create(2).tx])
  await seal(b, [])
  for (let n = BigInt(fork) + 1n; n <= b.head.block.header.number; n++) await chain.importBlock((await b.blockByNumber(n))!)
  t.equal(bytesToHex(chain.head.block.hash()), bytesToHex(b.head.block.hash()), "A reorged onto B's branch")

  spans.length = 0
  const after = lower(await client.relationships.relationships())
  t.same(after, [create(0).relationship, create(2).relationship], 'relationship 1 (orphaned) is gone, relationship 2 is listed')
  t.same(spans, [[fork + 1, head(chain)]], `only the blocks above the last mark still canonical (${fork}) are read again`)
  const fresh = createMedRecClient({ transport: base, privateKey: bytesToHex(AUTHORITY) })
  t.same(lower(await fresh.relationships.relationships()), after, 'the same list as a client reading from genesis')
})
