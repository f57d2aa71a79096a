import t, { type Test } from 'tap'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { bytesToHex, type Address, type Hex } from 'viem'
import { medrec } from '../cli/run-cli.ts'
import type { AuditResult, FetchResult, GatekeeperInfo, RelationshipView } from '../../gatekeeper/api.ts'
import { decryptWith } from '../../gatekeeper/ecies.ts'
import { newRequest, signRequest } from '../../gatekeeper/request.ts'
import { GATEKEEPER_PROTOCOL } from '../../gatekeeper/requester.ts'
import { DELEGATE_PROTOCOL, delegateRequestText, deriveDelegateKey, signDelegateRequest, type DelegateReply } from '../../gatekeeper/delegates/index.ts'
import { REGISTRAR_ADDRESS } from '../../contracts/addresses.ts'
import { registrarAbi } from '../../contracts/generated/registrar.ts'
import { decodeLog, decodeResult, encodeCall } from '../../contracts/bindings.ts'
import { relationshipsAbi } from '../../contracts/generated/relationships.ts'
import { privateKeyToAccount } from 'viem/accounts'
import { createTestNetwork, gatekeeperArgs, type TestNetwork } from '../helpers/network.ts'
import { rpc, rpcRaw, waitFor } from '../helpers/node-process.ts'
import { pinnedFetch } from '../helpers/gatekeeper-tls.ts'
import { nodeKey, startNode } from '../p2p/helpers.ts'

/**
 * Delegate accounts across real node processes, one cluster for every assertion: two authorities
 * (P, the provider, and Q, which verifies P's delegate and relays its requests) with gatekeepers, a
 * patient and a viewer. P adds a patient and a record: Q verifies and funds the delegate, registers
 * the identity, and the relationship records Q's endpoint; the patient and her viewer fetch
 * through Q's relay; the delegate anchors its own audit chain; nothing on chain names P with it.
 */

let net: TestNetwork
const [P, Q, PATIENT, VIEWER] = [0, 1, 2, 3] as const
const CHAIN_ID = 4242

async function cli(t: Test, member: number, args: string[]): Promise<unknown> {
  const r = await medrec([...args, '--rpc', net.members[member]!.node!.url, '--datadir', net.members[member]!.datadir, '--json'])
  t.equal(r.code, 0, `medrec ${args.slice(0, 2).join(' ')} exits 0${r.code === 0 ? '' : `: ${r.stderr}`}`)
  return r.code === 0 ? JSON.parse(r.stdout) : undefined
}

const strip = (a: string) => a.toLowerCase().replace(/^0x/, '')
const ascii = (s: string) => Buffer.from(s, 'utf8').toString('hex')
const url = (m: number) => net.members[m]!.node!.url

async function registrarCall(m: number, fn: 'provider' | 'isDelegate' | 'anchoredSeq', arg: string): Promise<Hex> {
  return rpc<Hex>(url(m), 'eth_call', [{ to: REGISTRAR_ADDRESS, data: encodeCall(registrarAbi, fn, [arg as Address]) }, 'latest'])
}

/** A member's gatekeeper multiaddr as published in the Registrar (the provider's node finds it the same way). */
async function published(m: number): Promise<string> {
  return waitFor(async () => {
    const [entry] = decodeResult(registrarAbi, 'provider', await registrarCall(P, 'provider', net.members[m]!.address))
    return entry.multiaddr !== '' ? entry.multiaddr : undefined
  }, `${net.members[m]!.name}'s gatekeeper in the Registrar`, 60_000)
}

/** A records request signed by `signer`, sent as JSON to a gatekeeper's HTTP API; the reply decrypted when ok. */
async function postRecords(gk: GatekeeperInfo, signer: number, fields: { gatekeeper: string; relationship: string; pointerIds: bigint[]; fieldMasks: bigint[] }) {
  const signed = signRequest(net.members[signer]!.key, CHAIN_ID, newRequest({ gatekeeper: fields.gatekeeper as Address, method: 'records', relationship: fields.relationship as Address, pointerIds: fields.pointerIds, fieldMasks: fields.fieldMasks }))
  // Over HTTPS pinned to the fingerprint the gatekeeper publishes, as MedRec's requester connects.
  const res = await pinnedFetch(gk.tlsFingerprint)(`${gk.url!}/v1/requests`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(signed) })
  const body = (await res.json()) as { ok: boolean; encrypted?: unknown; error?: { code: string; message: string } }
  const payload = body.ok ? (JSON.parse(new TextDecoder().decode(decryptWith(net.members[signer]!.key, body.encrypted))) as { gatekeeper: string; relationship: string; pointers: unknown[] }) : undefined
  return { status: res.status, body, payload }
}

/** What the tests share: the provider's gatekeeper as it was at the first start, the delegate's relationship. */
const shared = { pUrl: '', pInfo: undefined as GatekeeperInfo | undefined, delegate: '', relationship: '', plain: '' }

t.before(async () => {
  net = await createTestNetwork(4, { authorities: 2, period: 1 })
  await net.start(P, { args: gatekeeperArgs(net.members[P]!) })
  // The others join through P, all at once.
  await Promise.all([
    net.start(Q, { args: gatekeeperArgs(net.members[Q]!) }),
    net.start(PATIENT, { sealer: false, args: gatekeeperArgs(net.members[PATIENT]!) }),
    net.start(VIEWER, { sealer: false, args: gatekeeperArgs(net.members[VIEWER]!) }),
  ])
})
t.teardown(() => net?.close())

t.test('a delegate onboards the patient: verified, funded and registered by Q, reached through Q, anchored as itself; nothing public links it to P', async (t) => {
  const relayAddr = await published(Q)
  const pAddr = await published(P)
  const pInfo = await rpc<GatekeeperInfo>(url(P), 'medrec_gatekeeperInfo')
  const qInfo = await rpc<GatekeeperInfo>(url(Q), 'medrec_gatekeeperInfo')
  shared.pUrl = pInfo.url!
  shared.pInfo = pInfo
  const pPeer = pAddr.split('/p2p/')[1]!
  const provider = net.members[P]!.address.toLowerCase()
  const verifier = net.members[Q]!.address.toLowerCase()
  const patient = net.members[PATIENT]!.address
  const viewer = net.members[VIEWER]!.address
  const registered = (await cli(t, P, ['provider', 'add-patient', '--identity', 'dora-1990', '--address', patient])) as { registered: boolean }
  t.equal(registered.registered, true, 'the identity is registered during add-patient')
  const file = join(net.members[P]!.datadir, 'obs.json')
  writeFileSync(file, JSON.stringify({ resourceType: 'Observation', id: 'bp-1', status: 'final', code: { coding: [{ system: 'http://loinc.org', code: '8480-6' }] }, valueQuantity: { value: 128, unit: 'mmHg' }, effectiveDateTime: '2026-10-01T09:00:00Z' }))
  const added = (await cli(t, P, ['provider', 'add-record', '--identity', 'dora-1990', '--resource', file])) as { relationship: string; provider: string; action: string; transactions: string[] }
  t.equal(added.action, 'created')
  const delegate = added.provider.toLowerCase()
  shared.delegate = delegate
  shared.relationship = added.relationship
  t.not(delegate, provider, 'the relationship is not created by the provider account')
  t.not(delegate, verifier)
  t.equal(delegate, privateKeyToAccount(bytesToHex(deriveDelegateKey(net.members[P]!.key, BigInt(CHAIN_ID), 0))).address.toLowerCase(), "delegate 0 derived from the provider's key (recoverable), the one verified at add-patient")

  // The chain as anyone reads it: the relationship's provider is the delegate, and its endpoint is Q's relay.
  const rels = await waitFor(async () => {
    const list = await rpc<RelationshipView[]>(url(PATIENT), 'medrec_relationships')
    return list.length > 0 ? list : undefined
  }, 'the relationship at the patient', 30_000)
  t.equal(rels[0]!.provider.toLowerCase(), delegate, "the PPR's provider is the delegate")
  t.equal(rels[0]!.endpoint, relayAddr, "the PPR's endpoint is Q's published multiaddr (its relay)")
  t.not(rels[0]!.endpoint, pInfo.url, "not P's URL")
  t.notOk(pInfo.multiaddrs.includes(rels[0]!.endpoint) || rels[0]!.endpoint.includes(pPeer), "not P's multiaddr nor its peer id")
  t.equal(BigInt(await registrarCall(PATIENT, 'isDelegate', delegate)), 1n, 'a verified delegate in the Registrar')

  // The patient fetches through Q's relay; P's gatekeeper answers as the delegate, end to end encrypted.
  await cli(t, PATIENT, ['patient', 'accept', '--relationship', added.relationship])
  const fetched = (await cli(t, PATIENT, ['patient', 'fetch', '--relationship', added.relationship])) as FetchResult
  t.equal(fetched.gatekeeper.toLowerCase(), delegate)
  t.equal(fetched.transport, 'p2p', "over libp2p to Q's multiaddr")
  t.equal(fetched.pointers[0]?.status, 'verified', 'the records verify against the hash on chain')
  t.same(fetched.pointers[0]!.bundle.entry.map((e) => e.resource.id), ['bp-1'])

  // A viewer she shares two fields with fetches through the relay too.
  await rpc(url(PATIENT), 'medrec_share', [{ relationship: added.relationship, viewer, items: [{ pointerId: 0, fields: [0, 2] }] }])
  const seen = await waitFor(async () => {
    const r = await rpc<FetchResult>(url(VIEWER), 'medrec_fetch', [{ relationship: added.relationship }]).catch(() => undefined)
    return r?.pointers[0]?.status === 'verified' ? r : undefined
  }, "the viewer's fetch through the relay", 30_000)
  t.same(seen.pointers[0]!.fields, [0, 2], 'the viewer gets the granted fields, verified')

  // Q's HTTP API relays too: the reply comes back as P's gatekeeper made it (encrypted to the patient).
  const viaHttp = await postRecords(qInfo, PATIENT, { gatekeeper: delegate, relationship: added.relationship, pointerIds: [0n], fieldMasks: [1n] })
  t.equal(viaHttp.status, 200, `Q's HTTP API relays (${JSON.stringify(viaHttp.body.error ?? '')})`)
  t.equal(viaHttp.payload?.gatekeeper.toLowerCase(), delegate, 'answered as the delegate')

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

  // The delegate spends nearly all its gas (here: sent away with its key, as the test holds it).
  const dKey = bytesToHex(deriveDelegateKey(net.members[P]!.key, BigInt(CHAIN_ID), 0))
  const balance = BigInt(await rpc<string>(url(P), 'eth_getBalance', [delegate, 'latest']))
  const maxFee = 50_000_000_000n
  const drain = await privateKeyToAccount(dKey).signTransaction({ type: 'eip1559', chainId: CHAIN_ID, nonce: Number(BigInt(await rpc<string>(url(P), 'eth_getTransactionCount', [delegate, 'pending']))), to: '0x000000000000000000000000000000000000dEaD', value: balance - 21_000n * maxFee, gas: 21_000n, maxFeePerGas: maxFee, maxPriorityFeePerGas: 1_000_000_000n })
  const drained = await rpc<Hex>(url(P), 'eth_sendRawTransaction', [drain])
  await waitFor(() => rpc<{ status: Hex } | null>(url(P), 'eth_getTransactionReceipt', [drained]), 'the drain included', 30_000)
  t.ok(BigInt(await rpc<string>(url(P), 'eth_getBalance', [delegate, 'latest'])) < 10n ** 16n, 'the delegate is nearly out of gas')

  // The delegate's own audit chain, anchored by the delegate (topped up by Q first); the patient's check finds her entries covered by it.
  const anchored = (await cli(t, P, ['provider', 'anchor-audit', '--delegate', delegate])) as { account: string; seq: number }
  t.equal(anchored.account.toLowerCase(), delegate, "the delegate's chain, anchored as the delegate")
  t.ok(anchored.seq >= 4, `its chain holds the requests addressed to the delegate (#${anchored.seq})`)
  t.ok(BigInt(await rpc<string>(url(P), 'eth_getBalance', [delegate, 'latest'])) > 10n ** 17n, 'topped up by its verifier before it anchored')
  await waitFor(async () => Number(BigInt(await registrarCall(PATIENT, 'anchoredSeq', delegate))) === anchored.seq, "the delegate's anchor at the patient's node", 30_000)
  const audit = (await cli(t, PATIENT, ['patient', 'audit', '--relationship', added.relationship])) as AuditResult
  t.equal(audit.gatekeeper.toLowerCase(), delegate, "checked against the delegate's anchor")
  t.equal(audit.covered.status, 'verified', 'her entries match the anchored head')
  const before = audit.entries.filter((e) => e.seq <= anchored.seq)
  t.ok(before.length >= 4 && before.every((e) => e.covered), `every entry up to the anchor is covered (${before.length})`)
  t.ok(before.some((e) => e.requester.toLowerCase() === viewer.toLowerCase()), "the viewer's read is among them")

  // Every block, every transaction with its receipt's logs: P and the delegate never appear together,
  // nor the delegate with P's gatekeeper URL or peer id.
  const head = Number(BigInt(await rpc<string>(url(PATIENT), 'eth_blockNumber')))
  let verifiedBy = ''
  let registeredBy = ''
  let anchoredBy = ''
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
      const namesP = text.includes(strip(provider)) || text.includes(ascii(pInfo.url!)) || text.includes(ascii(pPeer))
      t.notOk(namesP && text.includes(strip(delegate)), `transaction ${tx.hash} does not name both the provider and the delegate`)
      if (tx.to?.toLowerCase() === delegate && BigInt(tx.value) > 0n) fundedBy.push(tx.from.toLowerCase())
      if (tx.from.toLowerCase() === delegate) delegateTxs.push(tx.hash)
      for (const l of receipt.logs) {
        if (l.address.toLowerCase() !== REGISTRAR_ADDRESS.toLowerCase()) continue
        const ev = decodeLog(registrarAbi, l.topics as [Hex, ...Hex[]], l.data)
        if (ev.eventName === 'DelegateVerified' && ev.args.delegate.toLowerCase() === delegate) verifiedBy = ev.args.by.toLowerCase()
        if (ev.eventName === 'IdentityRegistered' && ev.args.identity === 'dora-1990') registeredBy = ev.args.registeredBy.toLowerCase()
        if (ev.eventName === 'AuditAnchored' && ev.args.provider.toLowerCase() === delegate) anchoredBy = tx.from.toLowerCase()
      }
    }
  }
  t.equal(verifiedBy, verifier, 'DelegateVerified names the other authority')
  t.equal(registeredBy, verifier, 'IdentityRegistered.registeredBy is the verifying authority, not P')
  t.equal(anchoredBy, delegate, "the delegate's audit anchor is sent by the delegate")
  t.same(fundedBy, [verifier, verifier], 'funded at verification and topped up once, both by the verifying authority')
  t.equal(delegateTxs.length, 6, 'create, addPointer, linkPatient, a second addPointer, the drain and the anchor: all sent by the delegate')
  t.ok([...added.transactions].every((h) => delegateTxs.includes(h.toLowerCase())), 'including the three that created the relationship')
})

function decodeName(l: { topics: Hex[]; data: Hex }): string | undefined {
  try {
    return decodeLog(relationshipsAbi, l.topics as [Hex, ...Hex[]], l.data).eventName
  } catch {
    return undefined
  }
}

t.test('P restarted with --gatekeeper.delegates=false: a relay failure names the relay; new relationships are the authority account\'s; the delegate\'s keep being served through Q', async (t) => {
  const rel = shared.relationship
  const m = net.members[P]!
  await net.stop(P)
  // While P is down the relay cannot reach it: the requester is told so, and the relay is named (P is not).
  const down = await rpcRaw(url(PATIENT), 'medrec_fetch', [{ relationship: rel }])
  t.match(down.error?.message ?? '', new RegExp(`relay ${net.members[Q]!.address} could not reach the gatekeeper of ${shared.delegate}`, 'i'), `an UNREACHABLE refusal naming the relay (${down.error?.message})`)
  t.notOk((down.error?.message ?? '').toLowerCase().includes(strip(m.address)), 'and not the provider')
  // P comes back on the same HTTP port (the control request below goes there); its new multiaddr reaches Q through the Registrar.
  await net.start(P, { args: ['--gatekeeper', '--gatekeeper.account', m.address, '--gatekeeper.password', join(m.datadir, 'password'), '--gatekeeper.http.port', new URL(shared.pUrl).port, '--gatekeeper.delegates=false'] })
  const file = join(net.members[P]!.datadir, 'obs3.json')
  writeFileSync(file, JSON.stringify({ resourceType: 'Observation', id: 'bp-9', status: 'final', code: { coding: [{ system: 'http://loinc.org', code: '8480-6' }] }, valueQuantity: { value: 119, unit: 'mmHg' }, effectiveDateTime: '2026-10-02T09:00:00Z' }))
  const reg = (await cli(t, P, ['provider', 'add-patient', '--identity', 'eve-1991', '--address', net.members[VIEWER]!.address])) as { registered: boolean }
  t.equal(reg.registered, true)
  const added = (await cli(t, P, ['provider', 'add-record', '--identity', 'eve-1991', '--resource', file])) as { action: string; provider: string; relationship: string }
  t.equal(added.action, 'created')
  t.equal(added.provider.toLowerCase(), net.members[P]!.address.toLowerCase(), 'created by the authority account')
  shared.plain = added.relationship
  // The delegate's relationship: its key is derived again from the authority key, nothing else was kept; Q finds P's new address.
  const fetched = await waitFor(async () => {
    const r = await rpc<FetchResult>(url(PATIENT), 'medrec_fetch', [{ relationship: rel }]).catch(() => undefined)
    return r?.pointers.every((p) => p.status === 'verified') === true ? r : undefined
  }, 'a fetch from the restarted gatekeeper through the relay', 60_000)
  t.equal(fetched.gatekeeper.toLowerCase(), shared.delegate, 'still answered as the delegate')
})

t.test('hostile: Q relays only for relationships of delegates it verified (no open relay), and says nothing to unsigned callers', async (t) => {
  const plain = shared.plain
  const qInfo = await rpc<GatekeeperInfo>(url(Q), 'medrec_gatekeeperInfo')
  const provider = net.members[P]!.address
  const pointer = { pointerIds: [0n], fieldMasks: [1n] }
  await cli(t, VIEWER, ['patient', 'accept', '--relationship', plain])
  // Control: the patient of P's own relationship is served by P directly.
  const direct = await postRecords(shared.pInfo!, VIEWER, { gatekeeper: provider, relationship: plain, ...pointer })
  t.equal(direct.status, 200, `P serves its own relationship's patient (${JSON.stringify(direct.body.error ?? '')})`)

  // The same request sent to Q: an open relay would pass it to P and return her records.
  const viaQ = await postRecords(qInfo, VIEWER, { gatekeeper: provider, relationship: plain, ...pointer })
  t.equal(viaQ.body.ok, false, 'Q does not pass on a request for a relationship that is not of a delegate it verified')
  t.equal(viaQ.body.error?.code, 'WRONG_GATEKEEPER', 'Q answers as itself: it does not serve P')
  // Addressed to the delegate Q relays for, but about P's own relationship: refused by the relay.
  const smuggled = await postRecords(qInfo, VIEWER, { gatekeeper: shared.delegate, relationship: plain, ...pointer })
  t.equal(smuggled.status, 403)
  t.match(smuggled.body.error ?? {}, { code: 'FORBIDDEN', message: /relays only requests about relationships of the delegate they are addressed to/ }, 'the relay checks the relationship is the delegate\'s on chain')
  // Over libp2p, the same.
  const attacker = await startNode(t, 78)
  const ask = async (body: unknown) => JSON.parse(new TextDecoder().decode(await attacker.p2p.requestTo(await published(Q), GATEKEEPER_PROTOCOL, new TextEncoder().encode(JSON.stringify(body))))) as { ok: boolean; error?: { code: string; message: string } }
  const sign = (gatekeeper: string) => signRequest(net.members[VIEWER]!.key, CHAIN_ID, newRequest({ gatekeeper: gatekeeper as Address, method: 'records', relationship: plain as Address, ...pointer }))
  t.match(await ask(sign(shared.delegate)), { ok: false, error: { code: 'FORBIDDEN', message: /relays only/ } }, 'over libp2p too')
  t.match(await ask(sign(provider)), { ok: false, error: { code: 'WRONG_GATEKEEPER' } })
  // A request to the relayed delegate whose signature does not verify is refused as for any address Q does not know: an unsigned caller cannot learn which delegates Q relays for.
  const forged = sign(shared.delegate)
  forged.from = net.members[PATIENT]!.address as Address
  const unknown = sign('0x00000000000000000000000000000000000000d1')
  unknown.from = net.members[PATIENT]!.address as Address
  const [a, b] = [await ask(forged), await ask(unknown)]
  t.equal(a.error?.code, b.error?.code, `a forged request to a relayed delegate and to an unknown address get the same refusal (${a.error?.code})`)
  t.equal(a.error?.code, 'WRONG_GATEKEEPER')

  // And the relay still serves the delegate's patient (the same budget, the same relay).
  const ok = await postRecords(qInfo, PATIENT, { gatekeeper: shared.delegate, relationship: shared.relationship, ...pointer })
  t.equal(ok.status, 200, 'the delegate\'s own relationship is relayed')
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

  // Top-ups: only of a delegate Q verified for the asking provider, only when it is low.
  const d0 = hex(deriveDelegateKey(net.members[P]!.key, BigInt(CHAIN_ID), 0))
  const rich = await signDelegateRequest(pKey, d0, { chainId: CHAIN_ID, verifier, now: now(), topUp: true })
  t.match(await ask(rich), { ok: false, error: { code: 'BAD_REQUEST', message: /more than a few transactions cost/ } }, 'a delegate with funds gets no top-up')
  const notQs = await signDelegateRequest(pKey, fresh(6), { chainId: CHAIN_ID, verifier, now: now(), topUp: true })
  t.match(await ask(notQs), { ok: false, error: { code: 'FORBIDDEN', message: /did not verify/ } }, 'nor an account Q never verified for P')

  // Expired.
  const old = await signDelegateRequest(pKey, fresh(5), { chainId: CHAIN_ID, verifier, now: now() - 600 })
  t.match(await ask(old), { ok: false, error: { code: 'EXPIRED' } }, 'an expired request is refused')
})
