import t, { type Test } from 'tap'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { bytesToHex, type Address, type Hex } from 'viem'
import { medrec } from '../cli/run-cli.ts'
import type { FetchResult, RelationshipView } from '../../gatekeeper/api.ts'
import { DELEGATE_PROTOCOL, delegateRequestText, deriveDelegateKey, signDelegateRequest, type DelegateReply } from '../../gatekeeper/delegates/index.ts'
import { REGISTRAR_ADDRESS } from '../../contracts/addresses.ts'
import { registrarAbi } from '../../contracts/generated/registrar.ts'
import { decodeLog, decodeResult, encodeCall } from '../../contracts/bindings.ts'
import { relationshipsAbi } from '../../contracts/generated/relationships.ts'
import { privateKeyToAccount } from 'viem/accounts'
import { createTestNetwork, gatekeeperArgs, type TestNetwork } from '../helpers/network.ts'
import { rpc, waitFor } from '../helpers/node-process.ts'
import { nodeKey, startNode } from '../p2p/helpers.ts'

/**
 * Delegate accounts across real node processes: two authorities (P, the provider, and Q) with
 * gatekeepers, and a patient. P adds a patient and a record; the relationship is created by a
 * fresh delegate that Q verified and funded; nothing on chain names P together with it.
 */

let net: TestNetwork
const [P, Q, PATIENT] = [0, 1, 2] as const
const CHAIN_ID = 4242

async function cli(t: Test, member: number, args: string[]): Promise<unknown> {
  const r = await medrec([...args, '--rpc', net.members[member]!.node!.url, '--datadir', net.members[member]!.datadir, '--json'])
  t.equal(r.code, 0, `medrec ${args.slice(0, 2).join(' ')} exits 0${r.code === 0 ? '' : `: ${r.stderr}`}`)
  return r.code === 0 ? JSON.parse(r.stdout) : undefined
}

const strip = (a: string) => a.toLowerCase().replace(/^0x/, '')
const url = (m: number) => net.members[m]!.node!.url

async function registrarCall(m: number, fn: 'provider' | 'isDelegate', arg: string): Promise<Hex> {
  return rpc<Hex>(url(m), 'eth_call', [{ to: REGISTRAR_ADDRESS, data: encodeCall(registrarAbi, fn, [arg as Address]) }, 'latest'])
}

/** Q's gatekeeper multiaddr as published in the Registrar (the provider's node finds it the same way). */
async function published(m: number): Promise<string> {
  return waitFor(async () => {
    const [entry] = decodeResult(registrarAbi, 'provider', await registrarCall(P, 'provider', net.members[m]!.address))
    return entry.multiaddr !== '' ? entry.multiaddr : undefined
  }, `${net.members[m]!.name}'s gatekeeper in the Registrar`, 60_000)
}

t.before(async () => {
  net = await createTestNetwork(3, { authorities: 2, period: 1 })
  await net.start(P, { args: gatekeeperArgs(net.members[P]!) })
  await net.start(Q, { args: gatekeeperArgs(net.members[Q]!) })
  await net.start(PATIENT, { sealer: false, args: gatekeeperArgs(net.members[PATIENT]!) })
})
t.teardown(() => net?.close())

t.test('a new relationship is created by a fresh delegate that another authority verified and funded; nothing links it to the provider', async (t) => {
  await published(Q)
  await published(P)
  const provider = net.members[P]!.address.toLowerCase()
  const verifier = net.members[Q]!.address.toLowerCase()
  const patient = net.members[PATIENT]!.address
  await cli(t, P, ['provider', 'add-patient', '--identity', 'dora-1990', '--address', patient])
  const file = join(net.members[P]!.datadir, 'obs.json')
  writeFileSync(file, JSON.stringify({ resourceType: 'Observation', id: 'bp-1', status: 'final', code: { coding: [{ system: 'http://loinc.org', code: '8480-6' }] }, valueQuantity: { value: 128, unit: 'mmHg' }, effectiveDateTime: '2026-10-01T09:00:00Z' }))
  const added = (await cli(t, P, ['provider', 'add-record', '--identity', 'dora-1990', '--resource', file])) as { relationship: string; provider: string; action: string; transactions: string[] }
  t.equal(added.action, 'created')
  const delegate = added.provider.toLowerCase()
  t.not(delegate, provider, 'the relationship is not created by the provider account')
  t.not(delegate, verifier)
  t.equal(delegate, privateKeyToAccount(bytesToHex(deriveDelegateKey(net.members[P]!.key, BigInt(CHAIN_ID), 0))).address.toLowerCase(), "delegate 0 derived from the provider's key (recoverable)")

  // The chain as anyone reads it: the relationship's provider is the delegate, which Q verified.
  const rels = await waitFor(async () => {
    const list = await rpc<RelationshipView[]>(url(PATIENT), 'medrec_relationships')
    return list.length > 0 ? list : undefined
  }, 'the relationship at the patient', 30_000)
  t.equal(rels[0]!.provider.toLowerCase(), delegate, "the PPR's provider is the delegate")
  t.equal(BigInt(await registrarCall(PATIENT, 'isDelegate', delegate)), 1n, 'a verified delegate in the Registrar')

  // Every block, every transaction with its receipt's logs: the provider and the delegate never appear together.
  const head = Number(BigInt(await rpc<string>(url(PATIENT), 'eth_blockNumber')))
  let verifiedBy = ''
  const fundedBy: string[] = []
  const delegateTxs: string[] = []
  for (let n = 0; n <= head; n++) {
    const block = await rpc<{ miner: string; transactions: { hash: string; from: string; to: string | null; input: string; value: string }[] }>(url(PATIENT), 'eth_getBlockByNumber', [`0x${n.toString(16)}`, true])
    for (const tx of block.transactions) {
      const receipt = await rpc<{ logs: { address: string; topics: Hex[]; data: Hex }[] }>(url(PATIENT), 'eth_getTransactionReceipt', [tx.hash])
      const logs = receipt.logs
        // BountyCreated names the block's author (its sealer, P or Q), as the block header does for every transaction in it: not a link of its own.
        .filter((l) => !(l.topics[0] !== undefined && decodeName(l) === 'BountyCreated'))
      const text = [tx.from, tx.to ?? '', tx.input, ...logs.flatMap((l) => [l.address, ...l.topics, l.data])].join(' ').toLowerCase()
      t.notOk(text.includes(strip(provider)) && text.includes(strip(delegate)), `transaction ${tx.hash} does not name both the provider and the delegate`)
      if (tx.to?.toLowerCase() === delegate && BigInt(tx.value) > 0n) fundedBy.push(tx.from.toLowerCase())
      if (tx.from.toLowerCase() === delegate) delegateTxs.push(tx.hash)
      for (const l of receipt.logs) {
        if (l.address.toLowerCase() !== REGISTRAR_ADDRESS.toLowerCase()) continue
        const ev = decodeLog(registrarAbi, l.topics as [Hex, ...Hex[]], l.data)
        if (ev.eventName === 'DelegateVerified' && ev.args.delegate.toLowerCase() === delegate) verifiedBy = ev.args.by.toLowerCase()
      }
    }
  }
  t.equal(verifiedBy, verifier, 'DelegateVerified names the other authority')
  t.same(fundedBy, [verifier], 'funded once, by the verifying authority')
  t.same(delegateTxs.sort(), [...added.transactions].map((h) => h.toLowerCase()).sort(), 'create, addPointer and linkPatient were sent by the delegate')

  // The patient fetches through the provider's gatekeeper as usual; it answers as the delegate.
  await cli(t, PATIENT, ['patient', 'accept', '--relationship', added.relationship])
  const fetched = (await cli(t, PATIENT, ['patient', 'fetch', '--relationship', added.relationship])) as FetchResult
  t.equal(fetched.gatekeeper.toLowerCase(), delegate)
  t.equal(fetched.pointers[0]?.status, 'verified')
  t.same(fetched.pointers[0]!.bundle.entry.map((e) => e.resource.id), ['bp-1'])

  // A second record with another query: a new pointer on the same relationship, sent by the delegate.
  const file2 = join(net.members[P]!.datadir, 'cond.json')
  writeFileSync(file2, JSON.stringify({ resourceType: 'Condition', id: 'c-1', clinicalStatus: { coding: [{ code: 'active' }] }, code: { coding: [{ system: 'http://snomed.info/sct', code: '38341003' }] }, onsetDateTime: '2026-09-01' }))
  const more = (await cli(t, P, ['provider', 'add-record', '--identity', 'dora-1990', '--resource', file2])) as { action: string; relationship: string; transactions: string[] }
  t.equal(more.action, 'added')
  t.equal(more.relationship, added.relationship)
  const tx = await rpc<{ from: string }>(url(P), 'eth_getTransactionByHash', [more.transactions[0]])
  t.equal(tx.from.toLowerCase(), delegate, 'the pointer is added by the delegate')
  const again = (await cli(t, PATIENT, ['patient', 'fetch', '--relationship', added.relationship])) as FetchResult
  t.same(again.pointers.map((p) => p.status), ['verified', 'verified'])
})

function decodeName(l: { topics: Hex[]; data: Hex }): string | undefined {
  try {
    return decodeLog(relationshipsAbi, l.topics as [Hex, ...Hex[]], l.data).eventName
  } catch {
    return undefined
  }
}

t.test('restarted with --gatekeeper.delegates=false: new relationships are the authority account\'s; the delegate\'s keep being served', async (t) => {
  // The relationship's endpoint (the PPR's) is the gatekeeper's HTTP URL: come back on the same port.
  const rels = await rpc<RelationshipView[]>(url(PATIENT), 'medrec_relationships')
  const port = new URL(rels[0]!.endpoint).port
  const m = net.members[P]!
  await net.stop(P)
  await net.start(P, { args: ['--gatekeeper', '--gatekeeper.account', m.address, '--gatekeeper.password', join(m.datadir, 'password'), '--gatekeeper.http.port', port, '--gatekeeper.delegates=false'] })
  const file = join(net.members[P]!.datadir, 'obs3.json')
  writeFileSync(file, JSON.stringify({ resourceType: 'Observation', id: 'bp-9', status: 'final', code: { coding: [{ system: 'http://loinc.org', code: '8480-6' }] }, valueQuantity: { value: 119, unit: 'mmHg' }, effectiveDateTime: '2026-10-02T09:00:00Z' }))
  await cli(t, P, ['provider', 'add-patient', '--identity', 'eve-1991', '--address', net.members[Q]!.address])
  const added = (await cli(t, P, ['provider', 'add-record', '--identity', 'eve-1991', '--resource', file])) as { action: string; provider: string }
  t.equal(added.action, 'created')
  t.equal(added.provider.toLowerCase(), net.members[P]!.address.toLowerCase(), 'created by the authority account')
  // The delegate's relationship: its key is derived again from the authority key, nothing else was kept.
  const fetched = await waitFor(async () => {
    const r = await rpc<FetchResult>(url(PATIENT), 'medrec_fetch', [{ relationship: rels[0]!.relationship }]).catch(() => undefined)
    return r?.pointers.every((p) => p.status === 'verified') === true ? r : undefined
  }, 'a fetch from the restarted gatekeeper', 30_000)
  t.equal(fetched.gatekeeper.toLowerCase(), rels[0]!.provider.toLowerCase(), 'still answered as the delegate')
})

t.test('hostile: verification requests that are not an authority asking for its own fresh key are refused', async (t) => {
  const target = await published(Q)
  const attacker = await startNode(t, 77)
  const ask = async (body: unknown): Promise<DelegateReply> => JSON.parse(new TextDecoder().decode(await attacker.p2p.requestTo(target, DELEGATE_PROTOCOL, new TextEncoder().encode(JSON.stringify(body))))) as DelegateReply
  const verifier = net.members[Q]!.address as Address
  const now = () => Math.floor(Date.now() / 1000)
  const hex = (k: Uint8Array) => bytesToHex(k)
  const fresh = (label: number) => hex(deriveDelegateKey(nodeKey(label), BigInt(CHAIN_ID), 0))

  // A non-authority (the patient's key) asking for its own key.
  const byPatient = await signDelegateRequest(hex(net.members[PATIENT]!.key), fresh(1), { chainId: CHAIN_ID, verifier, now: now() })
  const r1 = await ask(byPatient)
  t.equal(r1.ok, false)
  t.match(r1, { error: { code: 'FORBIDDEN', message: /not an authority/ } }, 'a non-authority is refused')
  t.equal(BigInt(await registrarCall(P, 'isDelegate', byPatient.request.delegate)), 0n, 'and nothing was verified')

  // Forged: names the provider P, signed by another key.
  const forged = await signDelegateRequest(hex(net.members[PATIENT]!.key), fresh(2), { chainId: CHAIN_ID, verifier, now: now() })
  forged.request.provider = net.members[P]!.address as Address
  const r2 = await ask(forged)
  t.match(r2, { ok: false, error: { code: 'BAD_SIGNATURE', message: /not signed by the provider/ } }, 'a request not signed by the authority it names is refused')

  // The delegate's proof of possession: an authority cannot get someone else's account verified.
  const pKey = hex(net.members[P]!.key)
  const stranger = await signDelegateRequest(pKey, fresh(3), { chainId: CHAIN_ID, verifier, now: now() })
  stranger.request.delegate = net.members[PATIENT]!.address as Address
  stranger.providerSignature = await privateKeyToAccount(pKey).signMessage({ message: delegateRequestText(stranger.request) })
  t.match(await ask(stranger), { ok: false, error: { code: 'BAD_SIGNATURE', message: /not signed by the delegate/ } }, "an account whose key the provider does not hold is refused")

  // Addressed to another verifier: not usable here.
  const elsewhere = await signDelegateRequest(pKey, fresh(4), { chainId: CHAIN_ID, verifier: net.members[P]!.address as Address, now: now() })
  t.match(await ask(elsewhere), { ok: false, error: { code: 'WRONG_GATEKEEPER' } }, 'a request signed for another verifier is refused')

  // Replay: a good request works once.
  const good = await signDelegateRequest(pKey, hex(deriveDelegateKey(net.members[P]!.key, BigInt(CHAIN_ID), 1000)), { chainId: CHAIN_ID, verifier, now: now() })
  const ok = await ask(good)
  t.match(ok, { ok: true, delegate: good.request.delegate }, 'the authority P asking for its own fresh key is served')
  t.match(await ask(good), { ok: false, error: { code: 'REPLAYED' } }, 'the same request again is refused as a replay')
  await waitFor(async () => BigInt(await registrarCall(P, 'isDelegate', good.request.delegate)) === 1n, 'the verification on chain', 30_000)

  // Expired.
  const old = await signDelegateRequest(pKey, fresh(5), { chainId: CHAIN_ID, verifier, now: now() - 600 })
  t.match(await ask(old), { ok: false, error: { code: 'EXPIRED' } }, 'an expired request is refused')
})
