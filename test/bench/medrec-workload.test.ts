import t from 'tap'
import { createServer, type Server } from 'node:http'
import { join } from 'node:path'
import type { AddressInfo } from 'node:net'
import { createBlock, type Block } from '@ethereumjs/block'
import { Common, Hardfork, Mainnet } from '@ethereumjs/common'
import { createFeeMarket1559Tx } from '@ethereumjs/tx'
import { Address } from '@ethereumjs/util'
import { runTx } from '@ethereumjs/vm'
import { bytesToHex, keccak256, toHex, type Hex } from 'viem'
import { createMedRecClient, encodeCall, patientProviderRelationshipAbi, REGISTRAR_ADDRESS, registrarAbi, RELATIONSHIPS_ADDRESS, relationshipsAbi, summaryAbi } from '../../contracts/index.ts'
import { createExecCommon } from '../../evm/index.ts'
import { privateKeyToAddress } from '../../node/keys/index.ts'
import { checkFetch, FETCH_FIELDS, FETCH_RECORDS, fetchRequests, type FetchTarget } from '../../bench/harness/workloads/medrec-fetch.ts'
import { FLOW_QUERY, flowDataHash, flowSalt, flowStep, flowTx, providerCount, type FlowKind, type FlowLayout } from '../../bench/harness/workloads/medrec-flows.ts'
import { medrec, sendConfirmed, setupRelationshipTxs, setUpFlows, setUpMedrec, type MedrecSetup } from '../../bench/harness/workloads/medrec.ts'
import { findWorkload, prepareWorkload, type TxFields, type Workload, type WorkloadContext } from '../../bench/harness/workloads/index.ts'
import { freePorts } from '../../bench/harness/ports.ts'
import { useNodeSecret } from '../../bench/harness/rpc.ts'
import { defaultJwtSecretPath, readJwtSecret } from '../../node/rpc/auth.ts'
import { actor, createContractVM, type Actor, type ContractVM } from '../helpers/contract-vm.ts'
import { contract } from '../helpers/medrec-vm.ts'
import { createTestNetwork } from '../helpers/network.ts'
import { rpc, waitFor } from '../helpers/node-process.ts'

const COMMON = new Common({ chain: Mainnet, hardfork: Hardfork.London, eips: [3651, 3855, 3860] })
/** Summary.Status and Summary.Role as the ABI encodes them. */
const S = { AwaitingApproval: 1, Accepted: 3 } as const
const R = { Patient: 0, Viewer: 1 } as const

interface Receipt {
  ok: boolean
  gasUsed: bigint
  gasLimit: bigint
}

/**
 * A WorkloadContext on an in-process VM with the MedRec predeploys: transactions are signed with
 * the workload's own gas limits and run at once in blocks sealed by the funder; a small JSON-RPC
 * server answers the eth_call and eth_getTransactionReceipt the set-up makes.
 */
async function vmContext(funder: Actor, senders: Actor[]) {
  const cvm: ContractVM = await createContractVM([funder.address], [funder, ...senders])
  let number = 1n
  let block: Block = createBlock({ header: { number, gasLimit: 100_000_000n, baseFeePerGas: 7n, timestamp: 1_000n, coinbase: funder.hex } }, { common: COMMON })
  const nextBlock = () => {
    number++
    block = createBlock({ header: { number, gasLimit: 100_000_000n, baseFeePerGas: 7n, timestamp: 1_000n + number, coinbase: funder.hex } }, { common: COMMON })
  }
  const receipts = new Map<string, Receipt>()
  async function send(fields: TxFields, key: Uint8Array): Promise<string> {
    const nonce = (await cvm.vm.stateManager.getAccount(new Address(privateKeyToAddress(key))))?.nonce ?? 0n
    const tx = createFeeMarket1559Tx({ ...fields, nonce, maxFeePerGas: 100_000_000_000n, maxPriorityFeePerGas: 1n, chainId: COMMON.chainId() }, { common: COMMON }).sign(key)
    const res = await runTx(cvm.vm, { tx, block, skipBlockGasLimitValidation: true })
    const hash = bytesToHex(tx.hash())
    receipts.set(hash, { ok: res.execResult.exceptionError === undefined, gasUsed: res.totalGasSpent, gasLimit: fields.gasLimit })
    return hash
  }
  const server: Server = createServer((req, res) => {
    let body = ''
    req.on('data', (c: Buffer) => (body += c.toString()))
    const answer = async (): Promise<string> => {
      const { id, method, params } = JSON.parse(body) as { id: number; method: string; params: unknown[] }
      let reply: object
      if (method === 'eth_call') {
        const { to, data } = params[0] as { to: Hex; data: Hex }
        const out = await cvm.call(new Uint8Array(20), to, data)
        reply = out.ok ? { result: out.returnData } : { error: { code: 3, message: 'execution reverted' } }
      } else if (method === 'eth_getTransactionReceipt') {
        const r = receipts.get(params[0] as string)
        reply = { result: r === undefined ? null : { status: r.ok ? '0x1' : '0x0' } }
      } else reply = { error: { code: -32601, message: `${method} is not served here` } }
      return JSON.stringify({ jsonrpc: '2.0', id, ...reply })
    }
    // A failing call answers 500 (the workload sees it) instead of an unhandled rejection.
    req.on('end', () => {
      answer().then(
        (json) => {
          res.setHeader('content-type', 'application/json')
          res.end(json)
        },
        (err: unknown) => {
          res.statusCode = 500
          res.end(String(err))
        },
      )
    })
  })
  // As the node's RPC: Node's 5 s keep-alive races a pooled client on a loaded machine (ECONNRESET).
  server.keepAliveTimeout = 120_000
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const ctx: WorkloadContext = {
    chainId: COMMON.chainId(),
    common: COMMON,
    urls: [`http://127.0.0.1:${(server.address() as AddressInfo).port}`],
    funderKey: funder.key,
    nodeKeys: [funder.key],
    senderKeys: senders.map((s) => s.key),
    senderAddresses: senders.map((s) => s.address),
    send,
    deploy: () => Promise.reject(new Error('the medrec workload deploys nothing')),
    async waitIncluded(hash, what) {
      nextBlock()
      if (receipts.get(hash)?.ok !== true) throw new Error(`${what} failed: ${hash}`)
    },
    progress: () => {},
  }
  return { cvm, ctx, send, receipts, nextBlock, close: () => new Promise<void>((r) => server.close(() => r())) }
}

/** A deterministic shuffle of the senders' streams that keeps each sender's own order (its nonces). */
function interleave(counts: number[], seed: number): Array<[sender: number, seq: number]> {
  let x = seed
  const rand = () => ((x = (x * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31)
  const next = counts.map(() => 0)
  const out: Array<[number, number]> = []
  for (;;) {
    const open = counts.map((c, s) => (next[s]! < c ? s : -1)).filter((s) => s >= 0)
    if (open.length === 0) return out
    const s = open[Math.floor(rand() * open.length)]!
    out.push([s, next[s]!++])
  }
}

t.test('roles and determinism', async (t) => {
  t.equal(findWorkload('medrec'), medrec, 'listed as --workload medrec')
  const account = (i: number) => ({ address: `0x${String(i).repeat(40)}`, passwordFile: `/d/node${i}/password` })
  const args = [0, 1, 2].map((i) => medrec.nodeArgs!(i, 41_000 + i, account(i)))
  t.same(
    args,
    [0, 1, 2].map((i) => [
      '--gatekeeper', '--gatekeeper.account', account(i).address, '--gatekeeper.password', account(i).passwordFile, '--gatekeeper.http.port', String(41_000 + i),
      '--gatekeeper.audit.anchor-entries', '0', '--gatekeeper.audit.anchor-interval', '0', '--gatekeeper.ratelimit', '0',
    ]),
    "every node runs a gatekeeper as its own account (PoA authority or PoW etherbase), on the port the harness reserved for it, without audit anchors (they would take the key's nonces) or a rate limit",
  )
  t.equal(providerCount(16), 4, 'the first quarter are providers')
  t.equal(providerCount(256), 64)
  t.equal(providerCount(2), 1, 'at least one provider')
  const layout: FlowLayout = {
    senders: Array.from({ length: 8 }, (_, i) => actor(`det-${i}`).hex),
    providers: 2,
    patientSummaries: Array.from({ length: 6 }, (_, i) => actor(`det-summary-${i}`).hex),
    setupRelationships: Array.from({ length: 6 }, (_, i) => actor(`det-rel-${i}`).hex),
    viewers: [actor('det-v0').hex, actor('det-v1').hex],
    tag: `0x${'11'.repeat(32)}`,
  }
  for (const [s, q] of [[0, 0], [1, 4], [5, 0], [7, 9]] as const) t.same(flowTx(layout, s, q), flowTx(layout, s, q), `sender ${s} seq ${q} is the same every time`)
  const kinds = (s: number) => Array.from({ length: 6 }, (_, q) => flowStep(layout, s, q).kind)
  t.same(kinds(0), ['create', 'addPointer', 'linkPatient', 'create', 'addPointer', 'linkPatient'], 'a provider adds records in threes')
  t.same(kinds(2), ['accept', 'grant', 'revoke', 'grant', 'revoke', 'grant'], 'a patient accepts, then grants and revokes')
  t.not(flowStep(layout, 0, 0).relationship, flowStep(layout, 0, 3).relationship, "a provider's relationships are distinct")
  t.not(flowStep(layout, 0, 0).relationship, flowStep(layout, 1, 0).relationship, 'and distinct from other providers’')
  const other = { ...layout, tag: `0x${'22'.repeat(32)}` as Hex }
  t.not(flowStep(other, 0, 0).relationship, flowStep(layout, 0, 0).relationship, 'another run (tag) gives other addresses')
})

t.test('set-up and a few hundred planned transactions on the VM, in a shuffled order: all succeed and the chain holds what the flows claim', async (t) => {
  const funder = actor('medrec-bench-authority')
  const senders = Array.from({ length: 12 }, (_, i) => actor(`medrec-bench-sender-${i}`))
  const env = await vmContext(funder, senders)
  t.teardown(env.close)
  const layout = await setUpFlows(env.ctx)
  await sendConfirmed(env.ctx, setupRelationshipTxs(env.ctx, layout))
  t.equal(layout.providers, 3)
  t.equal(layout.setupRelationships.length, 9, 'one set-up relationship per patient')

  const view = <A extends Parameters<typeof contract>[1]>(abi: A, address: Hex) => contract(env.cvm, abi, address)
  const relationships = view(relationshipsAbi, RELATIONSHIPS_ADDRESS)
  for (const [j, rel] of layout.setupRelationships.entries()) {
    t.equal(await relationships.view('isRelationship', [rel]), true, `patient ${j}'s set-up relationship exists at its CREATE2 address`)
    t.equal((await view(summaryAbi, layout.patientSummaries[j]!).view('entryOf', [rel])).status, S.AwaitingApproval, 'awaiting her approval')
  }
  const bountiesBefore = await relationships.view('bountyCount', [funder.hex])

  // Senders stop at different points of their cycles: 18, 19 or 20 calls each (228 in all).
  const counts = senders.map((_, s) => 18 + (s % 3))
  const order = interleave(counts, 7)
  t.equal(order.length, counts.reduce((a, b) => a + b, 0))
  const gas = new Map<FlowKind, { used: bigint; limit: bigint }>()
  const failed: string[] = []
  for (const [i, [s, q]] of order.entries()) {
    if (i % 40 === 0) env.nextBlock()
    const step = flowStep(layout, s, q)
    const r = env.receipts.get(await env.send(flowTx(layout, s, q), env.ctx.senderKeys[s]!))!
    if (!r.ok) failed.push(`sender ${s} seq ${q} (${step.kind})`)
    const g = gas.get(step.kind)
    if (g === undefined || r.gasUsed * g.limit > g.used * r.gasLimit) gas.set(step.kind, { used: r.gasUsed, limit: r.gasLimit })
  }
  t.same(failed, [], `all ${order.length} planned transactions succeeded (receipt status 1)`)
  t.same([...gas.keys()].sort(), ['accept', 'addPointer', 'create', 'grant', 'linkPatient', 'revoke'], 'every step ran')
  for (const [kind, g] of gas) t.ok(g.used * 10n < g.limit * 9n, `${kind}: at most ${g.used} gas of the ${g.limit} limit (≥ 10 % headroom)`)

  let addPointers = 0n
  for (let p = 0; p < layout.providers; p++) {
    const c = counts[p]!
    for (let k = 0; 3 * k < c; k++) {
      const step = flowStep(layout, p, 3 * k)
      const ppr = view(patientProviderRelationshipAbi, step.relationship)
      const summary = view(summaryAbi, layout.patientSummaries[step.patient]!)
      const what = `provider ${p}'s relationship ${k}`
      t.equal(await relationships.view('isRelationship', [step.relationship]), true, `${what} exists where the stream addressed it`)
      t.equal((await ppr.view('provider', [])).toLowerCase(), layout.senders[p], `${what}: its provider is the sender`)
      if (3 * k + 1 < c) {
        addPointers++
        const pointer = await ppr.view('pointer', [0n])
        t.equal(pointer.queryHash, keccak256(toHex(FLOW_QUERY.json)).slice(0, 42), `${what}: the pointer's query (its hash; the text is in the event)`)
        t.equal(pointer.dataHash, flowDataHash(flowSalt(layout.tag, p, k)), `${what}: its data hash`)
      } else t.equal(await ppr.view('pointerCount', []), 0n, `${what}: the run stopped before its pointer`)
      const entry = await summary.view('entryOf', [step.relationship])
      if (3 * k + 2 < c) t.same([entry.status, entry.role], [S.AwaitingApproval, R.Patient], `${what}: linked into patient ${step.patient}'s Summary, awaiting approval`)
      else t.equal(await ppr.view('linked', []), false, `${what}: not linked yet`)
    }
  }
  t.equal(await relationships.view('bountyCount', [funder.hex]), bountiesBefore + addPointers, "every pointer's bounty query went to the block author")

  for (let s = layout.providers; s < senders.length; s++) {
    const j = s - layout.providers
    const rel = layout.setupRelationships[j]!
    const ppr = view(patientProviderRelationshipAbi, rel)
    t.equal((await view(summaryAbi, layout.patientSummaries[j]!).view('entryOf', [rel])).status, S.Accepted, `patient ${j} accepted her relationship`)
    const last = flowStep(layout, s, counts[s]! - 1)
    const [grant, pointerIds, masks] = await ppr.view('grantOf', [last.viewer!])
    const canRead = (mask: bigint) => ppr.view('canRead', [last.viewer!, 0n, mask])
    if (last.kind === 'grant') {
      t.ok(grant.active && pointerIds[0] === 0n && masks[0] === last.mask, `patient ${j}: the last grant (fields ${last.mask}) is active`)
      t.equal(await canRead(last.mask!), true, `patient ${j}: the viewer may read the granted fields`)
    } else {
      const granted = flowStep(layout, s, counts[s]! - 2)
      t.equal(grant.active, false, `patient ${j}: the last grant was revoked`)
      t.equal(await canRead(granted.mask!), false, `patient ${j}: the viewer can no longer read`)
    }
    const viewerSummary = (await view(registrarAbi, REGISTRAR_ADDRESS).view('summaryOf', [last.viewer!])).toLowerCase() as Hex
    const ventry = await view(summaryAbi, viewerSummary).view('entryOf', [rel])
    t.equal(ventry.role, R.Viewer, `patient ${j}: the grant reached the viewer's Summary`)
  }

  // The checks above can fail: a call out of its sender's order reverts, and one to a relationship
  // that was never created "succeeds" without doing anything, which only the state shows.
  const revoked = senders.findIndex((_, s) => s >= layout.providers && flowStep(layout, s, counts[s]! - 1).kind === 'revoke')
  const again = env.receipts.get(await env.send(flowTx(layout, revoked, counts[revoked]! - 1), senders[revoked]!.key))!
  t.equal(again.ok, false, 'revoking the same grant twice reverts')
  const early = flowStep(layout, 0, 3 * 10 + 1)
  t.equal(env.receipts.get(await env.send(early, senders[0]!.key))!.ok, true, 'an addPointer to a relationship not created yet has status 1…')
  t.equal(await relationships.view('isRelationship', [early.relationship]), false, '…but nothing exists there')
})

t.test('checkFetch refuses a reply that is not what was granted', async (t) => {
  const target: FetchTarget = { node: 0, url: 'http://127.0.0.1:1', gatekeeper: actor('gk').hex, relationship: actor('rel').hex, pointerId: 0, transactions: [] }
  const entry = Array.from({ length: FETCH_RECORDS }, () => ({ resource: { resourceType: 'Observation', id: 'x' } }))
  const ok = { relationship: target.relationship, gatekeeper: target.gatekeeper, transport: 'http' as const, pointers: [{ pointerId: 0, version: 1, fields: [...FETCH_FIELDS], status: 'verified' as const, dataHash: '0x', bundle: { resourceType: 'Bundle', type: 'collection', entry } }] }
  t.doesNotThrow(() => checkFetch(ok as never, target), 'the granted fields, verified')
  const bad = (p: object) => ({ ...ok, pointers: [{ ...ok.pointers[0]!, ...p }] }) as never
  t.throws(() => checkFetch(bad({ status: 'tampered' }), target), /tampered/)
  t.throws(() => checkFetch(bad({ fields: [0, 1, 2] }), target), /fields/)
  t.throws(() => checkFetch(bad({ bundle: { ...ok.pointers[0]!.bundle, entry: entry.slice(1) } }), target), /records/)
  t.throws(() => checkFetch({ ...ok, pointers: [] } as never, target), /left out/)
})

t.test('on a real node with its gatekeeper: set-up, the signed stream all succeeds, the third party fetch works until revoked', async (t) => {
  const net = await createTestNetwork(1, { authorities: 1, period: 1 })
  t.teardown(() => net.close())
  const [port] = await freePorts(1)
  const member = await net.start(0, { args: medrec.nodeArgs!(0, port!, { address: net.members[0]!.address, passwordFile: join(net.members[0]!.datadir, 'password') }) })
  const url = member.node!.url
  // The workload's own calls (medrec_gatekeeperInfo at set-up) authenticate as the cluster's do: with the node's secret.
  useNodeSecret(url, await readJwtSecret(defaultJwtSecretPath(net.members[0]!.datadir)))
  // The gatekeeper lists itself in the Registrar at start with the authority's key, which also funds
  // the run: let that transaction in first (the bench cluster starts the load seconds after start).
  const registry = createMedRecClient({ rpcUrl: url, privateKey: bytesToHex(member.key) })
  await waitFor(async () => (await registry.registrar.provider(member.address)).url !== '', 'the gatekeeper in the Registrar', 20_000)
  let setup: MedrecSetup | undefined
  const spy: Workload = { ...medrec, setup: async (ctx) => (setup = await setUpMedrec(ctx)).plan }
  const prepared = await prepareWorkload({ workload: spy, chainId: 4242n, urls: [url], funderKey: member.key, nodeKeys: [member.key], count: 40, senders: 4 })
  const { plan, targets, thirdPartyKey, fetchPatientKeys } = setup!
  t.equal(targets.length, 1)
  t.equal(targets[0]!.gatekeeper, member.address.toLowerCase(), "the node's authority is the provider whose gatekeeper holds the records")

  for (const tx of prepared.txs) await rpc(url, 'eth_sendRawTransaction', [tx.raw])
  const statuses = await waitFor(async () => {
    const rs = await Promise.all(prepared.txs.map((tx) => rpc<{ status: string } | null>(url, 'eth_getTransactionReceipt', [tx.hash])))
    return rs.every((r) => r !== null) ? rs.map((r) => r!.status) : undefined
  }, 'the 40 transactions to be included', 20_000)
  t.same(statuses, prepared.txs.map(() => '0x1'), 'all 40 signed transactions succeeded on the real chain')
  t.same(prepared.txs.flatMap((tx, i) => (tx.sender === 4 ? [i] : [])), [20], "the 21st is the authority's identity registration (one after every 20 sender transactions)")
  const identity = `bench-${setup!.layout.tag.slice(2, 10)}-new-0-0`
  t.ok((await registry.registrar.resolve(identity)) !== undefined, `${identity} is registered`)
  t.equal(await registry.registrar.resolve(`bench-${setup!.layout.tag.slice(2, 10)}-new-0-1`), undefined, 'and only that one')

  const req = plan.requests!
  t.equal(req.name, 'gatekeeper fetch')
  t.equal(req.rate, 5)
  await Promise.all([0, 1, 2].map((i) => req.run(i)))
  t.pass('three fetches came back with the granted fields, verified against the chain')
  const stranger = fetchRequests(targets, actor('not-granted').key, 4242n)
  await t.rejects(stranger.run(0), /FORBIDDEN|grant|refused/i, 'a third party without a grant is refused')

  const revoke = encodeCall(patientProviderRelationshipAbi, 'revoke', [bytesToHex(privateKeyToAddress(thirdPartyKey))])
  const hash = await rpc<string>(url, 'eth_sendRawTransaction', [
    bytesToHex(createFeeMarket1559Tx({ nonce: 1n, to: targets[0]!.relationship, data: revoke, gasLimit: 100_000n, maxFeePerGas: 100_000_000_000n, maxPriorityFeePerGas: 1_000_000_000n, chainId: 4242n }, { common: createExecCommon(4242n) }).sign(fetchPatientKeys[0]!).serialize()),
  ])
  await waitFor(() => rpc(url, 'eth_getTransactionReceipt', [hash]), 'the revocation', 10_000)
  await t.rejects(req.run(3), /FORBIDDEN|grant|refused/i, 'after the patient revokes, the fetch fails')
})
