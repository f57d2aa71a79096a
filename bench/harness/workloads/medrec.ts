/**
 * `--workload medrec`: the MedRec flows of the papers on the real contracts. The first quarter of
 * the senders are providers (Registrar delegates), who each add records for patients: create a
 * relationship, add a pointer with a bounty query, link it into the patient's Summary. The other
 * senders are patients, who accept the relationship set-up made for them, then grant a viewer
 * and revoke it, over and over. Meanwhile a third party fetches records from the nodes'
 * gatekeepers (every node runs `--gatekeeper` as its authority). See medrec-flows.ts for the
 * stream and medrec-fetch.ts for the fetch.
 */
import { secp256k1 } from '@noble/curves/secp256k1.js'
import { bytesToHex, type Address, type Hex } from 'viem'
import { decodeResult, encodeCall, registrarAbi, relationshipsAbi, REGISTRAR_ADDRESS, RELATIONSHIPS_ADDRESS } from '../../../contracts/index.ts'
import { privateKeyToAddress } from '../../../node/keys/index.ts'
import { BenchError, BenchErrorCode } from '../errors.ts'
import { rpc } from '../rpc.ts'
import { fetchGrantTx, fetchRequests, provisionGatekeeper, type FetchTarget } from './medrec-fetch.ts'
import { FLOW_ENDPOINT, flowDataHash, flowTx, newIdentityTx, newRecordTxs, providerCount, registerTx, relationshipAddress, setupSalt, verifyDelegateTx, type FlowLayout } from './medrec-flows.ts'
import type { TxFields, Workload, WorkloadContext, WorkloadPlan } from './types.ts'
import { catalogEntry } from './catalog.ts'

/** Third parties the patients grant to (registered, so each grant also reaches a Summary). */
export const VIEWERS = 4
/** What each gatekeeper patient is funded with: her one grant. */
const FETCH_PATIENT_FUNDS = 10n ** 18n
/** One identity registration by an authority after every this many sender transactions (~0.13 M gas each). */
export const REGISTER_EVERY = 20
/** Set-up transactions of one account in flight at once: well under the pool's per-sender limit (64). */
const WINDOW = 32

export interface MedrecSetupTx {
  fields: TxFields
  key: Uint8Array
  /** Names the step in errors, e.g. "registering patient 3". */
  what: string
}

const address = (key: Uint8Array): Address => bytesToHex(privateKeyToAddress(key)) as Address

/**
 * Sends set-up transactions in order (each account's at consecutive nonces, at most WINDOW of one
 * account in flight), waits until every node has them and checks every receipt succeeded.
 */
export async function sendConfirmed(ctx: WorkloadContext, txs: readonly MedrecSetupTx[]): Promise<void> {
  const pending: { hash: string; what: string; key: Uint8Array }[] = []
  const inFlight = new Map<Uint8Array, number>()
  const settle = async () => {
    const last = new Map<Uint8Array, { hash: string; what: string }>()
    for (const p of pending) last.set(p.key, p)
    await Promise.all([...last.values()].map((p) => ctx.waitIncluded(p.hash, p.what)))
    // Each account's last one is in, so are its earlier ones: they must have succeeded too.
    for (let i = 0; i < pending.length; i += WINDOW) {
      await Promise.all(
        pending.slice(i, i + WINDOW).map(async (p) => {
          const r = await rpc<{ status: string } | null>(ctx.urls[0]!, 'eth_getTransactionReceipt', [p.hash])
          if (r?.status !== '0x1') throw new BenchError(BenchErrorCode.BAD_WORKLOAD, `medrec set-up: ${p.what} failed (transaction ${p.hash}, receipt status ${r?.status ?? 'none'})`)
        }),
      )
    }
    pending.length = 0
    inFlight.clear()
  }
  for (const tx of txs) {
    if ((inFlight.get(tx.key) ?? 0) >= WINDOW) await settle()
    pending.push({ hash: await ctx.send(tx.fields, tx.key), what: tx.what, key: tx.key })
    inFlight.set(tx.key, (inFlight.get(tx.key) ?? 0) + 1)
  }
  if (pending.length > 0) await settle()
}

async function call(url: string, to: Address, data: Hex): Promise<Hex> {
  return rpc<Hex>(url, 'eth_call', [{ to, data }, 'latest'])
}

/** The chain state the measured stream relies on: identities, delegates, one relationship per patient. */
export async function setUpFlows(ctx: WorkloadContext, extra: readonly MedrecSetupTx[] = []): Promise<FlowLayout> {
  const count = ctx.senderAddresses.length
  if (count < 2) throw new BenchError(BenchErrorCode.BAD_WORKLOAD, `the medrec workload needs at least 2 senders (a provider and a patient), got ${count}`)
  const providers = providerCount(count)
  const senders = ctx.senderAddresses.map((a) => bytesToHex(a) as Address)
  const patients = senders.slice(providers)
  const tag = bytesToHex(crypto.getRandomValues(new Uint8Array(32))) as Hex
  const run = tag.slice(2, 10)
  const viewers = Array.from({ length: VIEWERS }, () => address(secp256k1.utils.randomSecretKey()))

  // The funder (member 0, an authority) registers the patients and viewers and lets the providers act as providers.
  ctx.progress(`medrec: registering ${patients.length} patients and ${VIEWERS} viewers, verifying ${providers} provider delegates…`)
  await sendConfirmed(ctx, [
    ...patients.map((a, j) => ({ fields: registerTx(`bench-${run}-patient-${j}`, a), key: ctx.funderKey, what: `registering patient ${j}` })),
    ...viewers.map((a, v) => ({ fields: registerTx(`bench-${run}-viewer-${v}`, a), key: ctx.funderKey, what: `registering viewer ${v}` })),
    ...senders.slice(0, providers).map((a, p) => ({ fields: verifyDelegateTx(a), key: ctx.funderKey, what: `verifying provider ${p} as a delegate` })),
    ...extra,
  ])
  const patientSummaries = await Promise.all(
    patients.map(async (a) => (decodeResult(registrarAbi, 'summaryOf', await call(ctx.urls[0]!, REGISTRAR_ADDRESS, encodeCall(registrarAbi, 'summaryOf', [a]))) as string).toLowerCase() as Address),
  )
  const provider = (j: number) => senders[j % providers]!
  const setupRelationships = patients.map((a, j) => relationshipAddress(provider(j), a, patientSummaries[j]!, FLOW_ENDPOINT, setupSalt(tag, j)))
  // The stream addresses relationships before they exist: the local CREATE2 must agree with the factory.
  const predicted = decodeResult(relationshipsAbi, 'predictAddress', await call(ctx.urls[0]!, RELATIONSHIPS_ADDRESS, encodeCall(relationshipsAbi, 'predictAddress', [provider(0), patients[0]!, FLOW_ENDPOINT, setupSalt(tag, 0)])))
  if ((predicted as string).toLowerCase() !== setupRelationships[0]) {
    throw new BenchError(BenchErrorCode.BAD_WORKLOAD, `medrec set-up: the relationship address computed here (${setupRelationships[0]}) differs from Relationships.predictAddress (${predicted}): the PPR artifact does not match the deployed factory`)
  }
  return { senders, providers, patientSummaries, setupRelationships, viewers, tag }
}

/** Each patient's relationship, created by provider j mod providers with a pointer and linked, awaiting her approval. */
export function setupRelationshipTxs(ctx: Pick<WorkloadContext, 'senderKeys'>, layout: FlowLayout): MedrecSetupTx[] {
  const patients = layout.senders.slice(layout.providers)
  return patients.flatMap((a, j) => {
    const salt = setupSalt(layout.tag, j)
    const steps = ['creating', 'adding a pointer to', 'linking'] as const
    return newRecordTxs(a, FLOW_ENDPOINT, salt, flowDataHash(salt), layout.setupRelationships[j]!).map((fields, n) => ({
      fields,
      key: ctx.senderKeys[j % layout.providers]!,
      what: `${steps[n]} patient ${j}'s relationship`,
    }))
  })
}

/** What set-up made for the fetch, besides the plan (tests revoke and retry with it). */
export interface MedrecSetup {
  plan: WorkloadPlan
  layout: FlowLayout
  targets: FetchTarget[]
  thirdPartyKey: Uint8Array
  /** Gatekeeper i's patient, who granted the third party. */
  fetchPatientKeys: Uint8Array[]
}

/** The whole set-up: the flows' chain state, records in every gatekeeper, the third party's grants. */
export async function setUpMedrec(ctx: WorkloadContext): Promise<MedrecSetup> {
  const fetchPatientKeys = ctx.urls.map(() => secp256k1.utils.randomSecretKey())
  const thirdPartyKey = secp256k1.utils.randomSecretKey()
  const layout = await setUpFlows(
    ctx,
    fetchPatientKeys.map((k, i) => ({ fields: { to: privateKeyToAddress(k), value: FETCH_PATIENT_FUNDS, gasLimit: 21_000n }, key: ctx.funderKey, what: `funding gatekeeper ${i}'s patient` })),
  )
  // From here on the funder sends nothing: node 0's gatekeeper signs with the same key.
  ctx.progress(`medrec: ${layout.setupRelationships.length} relationships for the patients; records into ${ctx.urls.length} gatekeepers…`)
  const run = layout.tag.slice(2, 10)
  const [, targets] = await Promise.all([
    sendConfirmed(ctx, setupRelationshipTxs(ctx, layout)),
    Promise.all(ctx.urls.map((url, i) => provisionGatekeeper(i, url, `bench-${run}-records-${i}`, address(fetchPatientKeys[i]!)))),
  ])
  await Promise.all(targets.map((t) => ctx.waitIncluded(t.transactions.at(-1)!, `gatekeeper ${t.node}'s relationship on every node`)))
  const thirdParty = address(thirdPartyKey)
  await sendConfirmed(ctx, targets.map((t, i) => ({ fields: fetchGrantTx(t, thirdParty), key: fetchPatientKeys[i]!, what: `gatekeeper ${i}'s patient granting the third party` })))
  const plan: WorkloadPlan = {
    contract: RELATIONSHIPS_ADDRESS,
    tx: (sender, seq) => flowTx(layout, sender, seq),
    requests: fetchRequests(targets, thirdPartyKey, ctx.chainId),
    // Registering an identity is for authorities only (Registrar.onlyAuthority): the nodes' keys do it.
    authority: { every: REGISTER_EVERY, tx: (node, seq) => newIdentityTx(layout.tag, node, seq) },
  }
  return { plan, layout, targets, thirdPartyKey, fetchPatientKeys }
}

export const medrec: Workload = {
  ...catalogEntry('medrec'),
  // Every node's own account (a genesis authority, so a certified provider under PoA and PoW) runs
  // a gatekeeper on HTTP (its URL goes into the relationships). No automatic audit anchors: they
  // would be sent with the node's key, whose nonces the pre-signed authority transactions own.
  // No rate limit: the timed fetches all come from one third party, and a refusal is not a latency.
  nodeArgs: (_index, port, account) => [
    '--gatekeeper', '--gatekeeper.account', account.address, '--gatekeeper.password', account.passwordFile, '--gatekeeper.http.port', String(port),
    '--gatekeeper.audit.anchor-entries', '0', '--gatekeeper.audit.anchor-interval', '0', '--gatekeeper.ratelimit', '0',
  ],
  setup: async (ctx) => (await setUpMedrec(ctx)).plan,
}
