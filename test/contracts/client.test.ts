import t from 'tap'
import { toHex, type Hex } from 'viem'
import { mnemonicToAccount, type HDAccount } from 'viem/accounts'
import {
  ClientError,
  ClientErrorCode,
  bountyQuery,
  canonicalJson,
  createMedRecClient,
  fieldMask,
  fieldsOfMask,
  hashCanonical,
  parseRecordQuery,
  recordQuery,
  type MedRecClient,
  type RecordQuery,
} from '../../contracts/client/index.ts'
import { createRpc, type Rpc } from '../../contracts/client/rpc.ts'
import { rpc, startNodeProcess, tempDir, waitFor, type NodeProcess } from '../helpers/node-process.ts'

// The standard development mnemonic: account 0 is the dev chain's authority (and block author).
const MNEMONIC = 'test test test test test test test test test test test junk'
const accounts: HDAccount[] = Array.from({ length: 8 }, (_, i) => mnemonicToAccount(MNEMONIC, { addressIndex: i }))
const keyOf = (i: number): Hex => toHex(accounts[i]!.getHdKey().privateKey!)
const [AUTHORITY, ALICE, BOB, DELEGATE, CAROL, DAVE, ERIN, FRANK] = [0, 1, 2, 3, 4, 5, 6, 7] as const
const lower = (a: string) => a.toLowerCase()

/** The error a promise rejects with, or a failing assertion if it resolves. */
async function rejection(p: Promise<unknown>): Promise<ClientError> {
  try {
    await p
  } catch (err) {
    if (err instanceof ClientError) return err
    throw err
  }
  throw new Error('expected a ClientError, but the call succeeded')
}

/** A 0-value self transfer signed directly (not through the client), for replacing a client transaction. */
async function sendSelfTransfer(url: string, account: HDAccount, nonce: bigint, tipGwei: bigint): Promise<Hex> {
  const raw = await account.signTransaction({
    type: 'eip1559',
    chainId: 1337,
    nonce: Number(nonce),
    to: account.address,
    value: 0n,
    gas: 21_000n,
    maxFeePerGas: (tipGwei + 20n) * 1_000_000_000n,
    maxPriorityFeePerGas: tipGwei * 1_000_000_000n,
  })
  return rpc<Hex>(url, 'eth_sendRawTransaction', [raw])
}

const vitals: RecordQuery = { resourceType: 'Observation', fields: ['code', 'valueQuantity', 'effectiveDateTime'], codeSystems: ['http://snomed.info/sct', 'http://loinc.org'] }
const vitalsBounty = { resourceType: 'Observation', aggregate: 'count', groupBy: ['code'] } as const

t.test('query builder: canonical, validated, refuses SQL and personal data', async (t) => {
  const a = recordQuery(vitals)
  const b = recordQuery({ codeSystems: ['http://loinc.org', 'http://snomed.info/sct'], fields: ['code', 'valueQuantity', 'effectiveDateTime'], resourceType: 'Observation' })
  t.equal(a.json, b.json, 'key order does not change the canonical JSON')
  t.equal(a.hash, b.hash, 'nor the hash')
  t.equal(a.json, '{"codeSystems":["http://loinc.org","http://snomed.info/sct"],"fields":["code","valueQuantity","effectiveDateTime"],"resourceType":"Observation"}')
  t.equal(a.fieldCount, 3)
  t.same(parseRecordQuery(a.json).query, a.query, 'what is stored reads back')
  t.equal(canonicalJson({ b: [2, { d: 1, c: null }], a: 'x' }), '{"a":"x","b":[2,{"c":null,"d":1}]}')
  t.equal(hashCanonical({ x: 1, y: 2 }), hashCanonical({ y: 2, x: 1 }))
  t.equal(fieldMask([0, 2]), 5n)
  t.same(fieldsOfMask(5n), [0, 2])

  const refuses = (input: unknown, pattern: RegExp, what: string) => {
    try {
      recordQuery(input)
      t.fail(`${what}: accepted`)
    } catch (err) {
      t.ok(err instanceof ClientError && err.code === ClientErrorCode.INVALID_QUERY, `${what}: INVALID_QUERY`)
      t.match((err as Error).message, pattern, `${what}: says why`)
    }
  }
  refuses('SELECT * FROM observations WHERE patient_id = 7', /looks like SQL/, 'a SQL string')
  refuses('Observation?code=1234', /expected a structured query object/, 'a plain string')
  refuses({ resourceType: 'observations', fields: ['code'] }, /resourceType must be one of/, 'an unknown resource type')
  refuses({ resourceType: 'Observation', fields: [] }, /1 to 255 fields/, 'no fields')
  refuses({ resourceType: 'Observation', fields: ['code', 'code'] }, /twice/, 'a repeated field')
  refuses({ resourceType: 'Observation', fields: ['code; DROP TABLE x'] }, /a field must be/, 'a field with SQL in it')
  refuses({ resourceType: 'Observation', fields: ['code'], search: { code: "1' OR '1'='1" } }, /search values never go on chain/, 'a search value with quotes')
  refuses({ resourceType: 'Observation', fields: ['code'], search: { name: 'Alice' } }, /search values never go on chain/, 'a personal search parameter')
  refuses({ resourceType: 'Observation', fields: ['code'], codeSystems: ["http://loinc.org' OR '1'='1"] }, /closed list/, 'a code system with quotes')
  refuses({ resourceType: 'Observation', fields: ['code'], sql: 'select 1' }, /unknown key/, 'an extra key')
  refuses(['Observation'], /expected an object/, 'an array')
  t.throws(() => parseRecordQuery('DELETE FROM records WHERE 1=1'), /looks like SQL/, 'SQL read back from chain is refused too')
  t.throws(() => bountyQuery({ resourceType: 'Observation', aggregate: 'mean' }), /needs a field/)
  t.throws(() => fieldMask([255]), /out of range/)
  t.throws(() => fieldMask([1, 1]), /twice/)
})

t.test('the MedRec paper flow end to end against a dev node', async (t) => {
  const dir = tempDir()
  const node: NodeProcess = await startNodeProcess(['--dev', '--dev.period', '1'], { datadir: dir.path })
  t.teardown(async () => {
    await node.stop()
    dir.remove()
  })
  const client = (i: number, extra: { timeoutMs?: number } = {}): MedRecClient => createMedRecClient({ rpcUrl: node.url, privateKey: keyOf(i), pollMs: 100, ...extra })
  const authority = client(AUTHORITY)
  const alice = client(ALICE)
  const bob = client(BOB)
  const delegate = client(DELEGATE)
  const carol = client(CAROL)
  t.equal(authority.address, '0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266', 'account 0 of the dev mnemonic is the authority')
  t.equal(await authority.chainId(), 1337)

  // --- the authority registers identities, verifies a delegate and lists itself: all in flight at once.
  const [regAlice, regBob, regCarol, verified, listed] = await Promise.all([
    authority.registrar.registerIdentity('alice-nhs-0x51f2', alice.address),
    authority.registrar.registerIdentity('bob-clinic-research', bob.address),
    authority.registrar.registerIdentity('carol-insurance-0x77c1', carol.address),
    authority.registrar.verifyDelegate(delegate.address),
    authority.registrar.setProvider({ name: 'General Hospital', url: 'https://gk.general.example', multiaddr: '', encryptionKey: '0x02aabb', tlsFingerprint: `0x${'5a'.repeat(32)}` }),
  ])
  t.same(
    [regAlice, regBob, regCarol, verified, listed].map((r) => r.nonce),
    [0n, 1n, 2n, 3n, 4n],
    'five writes in flight took consecutive nonces from the local counter, in call order',
  )
  t.same(await authority.registrar.resolve('alice-nhs-0x51f2'), { participant: alice.address, summary: regAlice.summary })
  t.equal(await authority.registrar.resolve('nobody'), undefined)
  t.equal(await alice.registrar.identityOf(alice.address), 'alice-nhs-0x51f2')
  t.equal(await alice.registrar.summaryOf(bob.address), regBob.summary)
  t.equal(await alice.summary().address(), regAlice.summary, "the caller's own Summary is found through the Registrar")
  t.equal(await alice.registrar.participantCount(), 3)
  t.same((await alice.registrar.participants({ offset: 1, limit: 1 })).map(lower), [lower(bob.address)], 'participants are paged')
  t.same(await alice.registrar.providers(), [authority.address])
  t.match(await alice.registrar.provider(authority.address), { name: 'General Hospital', url: 'https://gk.general.example', encryptionKey: '0x02aabb', tlsFingerprint: `0x${'5a'.repeat(32)}`, listed: true, authority: true })
  await t.rejects(authority.registrar.setProvider({ name: 'General Hospital', url: 'https://gk.general.example', tlsFingerprint: '0x5a5a' }), { code: ClientErrorCode.INVALID_ARGUMENT, message: /tlsFingerprint must be 32 bytes as hex/ }, 'a fingerprint that is not a SHA-256 is refused before it is sent')
  t.equal(await alice.registrar.isProviderAccount(delegate.address), true, 'a verified delegate acts as a provider')
  t.equal(await alice.registrar.isDelegate(delegate.address), true)
  t.equal(await alice.registrar.isProviderAccount(bob.address), false)

  // --- Figure 2: the authority and a delegate each add a record for a new patient.
  const manyFields = Array.from({ length: 40 }, (_, i) => `dosageInstruction${i}.timing.repeat`)
  const [rec, recCarol] = await Promise.all([
    authority.addRecordForNewPatient({
      identity: 'alice-nhs-0x51f2',
      endpoint: 'https://gk.general.example/r',
      query: vitals,
      dataHash: hashCanonical([{ code: '8480-6', valueQuantity: 120 }]),
      bountyQuery: vitalsBounty,
    }),
    delegate.addRecordForNewPatient({
      identity: 'carol-insurance-0x77c1',
      endpoint: '/ip4/10.0.0.7/tcp/4001/p2p/12D3KooWDelegate',
      query: { resourceType: 'MedicationRequest', fields: manyFields },
      fieldCount: 40,
      dataHash: hashCanonical({ prescriptions: 2 }),
      bountyQuery: { resourceType: 'MedicationRequest', aggregate: 'count' },
    }),
  ])
  // Two providers created relationships in the same block: each one's follow-ups went to its own
  // CREATE2 address, bound to provider, patient, endpoint and salt, so neither interfered.
  t.not(rec.relationship, recCarol.relationship)
  for (const [r, who] of [[rec, 'authority'], [recCarol, 'delegate']] as const) {
    const { create, addPointer, linkPatient } = r.transactions
    t.same([addPointer.nonce - create.nonce, linkPatient.nonce - create.nonce], [1n, 2n], `${who}: create, addPointer, linkPatient sent with consecutive nonces`)
    t.equal(r.pointerId, 0, `${who}: first pointer`)
  }
  t.equal(rec.patient, alice.address)
  t.equal(rec.summary, regAlice.summary)
  t.same(await authority.relationships.relationshipsOf(authority.address), [rec.relationship], 'the factory lists the relationship under its provider')
  t.same(await authority.relationships.relationshipsOf(delegate.address), [recCarol.relationship])
  t.equal(await authority.relationships.isRelationship(rec.relationship), true)
  const ppr = alice.relationship(rec.relationship)
  t.match(await ppr.info(), { provider: authority.address, patient: alice.address, patientSummary: regAlice.summary, endpoint: 'https://gk.general.example/r', linked: true, terminated: false })
  const [pointer] = await ppr.pointers()
  t.equal(pointer!.query, recordQuery(vitals).json, 'the canonical query is read from its PointerAdded event')
  t.equal(pointer!.queryHash, recordQuery(vitals).hash.slice(0, 42), 'and matches the hash the relationship keeps')
  t.equal(pointer!.fieldCount, 3)
  // a node that serves another text in the event than the one the relationship committed to is not believed
  const real = createRpc(node.url, 10_000)
  const lying: Rpc = {
    async request<T>(method: string, params: readonly unknown[]): Promise<T> {
      const answer = await real.request<T>(method, params)
      if (method !== 'eth_getLogs') return answer
      // "valueQuantity" → "valueQuantitz": the same length, so the log still decodes
      return (answer as Array<{ data: Hex }>).map((l) => ({ ...l, data: l.data.replace(toHex('valueQuantity').slice(2), toHex('valueQuantitz').slice(2)) })) as T
    },
  }
  const fooled = createMedRecClient({ transport: lying, privateKey: keyOf(ALICE), pollMs: 100 })
  const refused = await rejection(fooled.relationship(rec.relationship).pointer(0))
  t.equal(refused.code, ClientErrorCode.NOT_FOUND, 'a query text whose hash differs from the pointer\'s is refused')
  t.match(refused.message, /no PointerAdded log in block \d+ carries a query with hash/, 'and the error says so')

  // --- a query with a value never leaves the client: every write path refuses it before signing.
  const pending = () => rpc<Hex>(node.url, 'eth_getTransactionCount', [authority.address, 'pending'])
  const nonceBefore = await pending()
  const pointersBefore = await ppr.pointerCount()
  const withValue = { resourceType: 'Condition', fields: ['code'], search: { code: 'E11' } } as unknown as RecordQuery
  const bountyWithValue = { resourceType: 'Observation', aggregate: 'count', search: { 'value-quantity': 'ge6.5' } } as unknown as typeof vitalsBounty
  const owned = authority.relationship(rec.relationship)
  for (const [what, write] of [
    ['addPointer with a search value', () => owned.addPointer({ query: withValue, dataHash: hashCanonical([]), bountyQuery: vitalsBounty })],
    ['addPointer with a bounty search value', () => owned.addPointer({ query: vitals, dataHash: hashCanonical([]), bountyQuery: bountyWithValue })],
    ['updatePointer with a bounty search value', () => owned.updatePointer(0, { dataHash: hashCanonical([1]), bountyQuery: bountyWithValue })],
    ['addRecordForNewPatient with a search value', () => authority.addRecordForNewPatient({ identity: 'bob-clinic-research', endpoint: 'https://gk.general.example/r', query: withValue, dataHash: hashCanonical([]), bountyQuery: vitalsBounty })],
    ['addRecordForNewPatient with a code system that is not on the list', () => authority.addRecordForNewPatient({ identity: 'bob-clinic-research', endpoint: 'https://gk.general.example/r', query: { ...vitals, codeSystems: ['http://example.org/E11'] } as unknown as RecordQuery, dataHash: hashCanonical([]), bountyQuery: vitalsBounty })],
  ] as const) {
    const err = await rejection(write())
    t.equal(err.code, ClientErrorCode.INVALID_QUERY, `${what}: INVALID_QUERY`)
    t.match(err.message, /search values never go on chain|closed list/, `${what}: says what is allowed`)
  }
  t.equal(await pending(), nonceBefore, 'no transaction reached the node (its pending nonce did not move)')
  t.equal(await ppr.pointerCount(), pointersBefore, 'no pointer was added')
  t.same(await authority.relationships.relationshipsOf(authority.address), [rec.relationship], 'no relationship was created')
  t.equal((await carol.relationship(recCarol.relationship).pointer(0)).fieldCount, 40)

  // --- the patient's node sees the relationship in its Summary, and accepts it while granting a third party a subset.
  const aliceSummary = alice.summary()
  t.match(await aliceSummary.entries(), [{ relationship: rec.relationship, status: 'awaiting-approval', role: 'patient' }])
  const head = await rpc<{ timestamp: Hex }>(node.url, 'eth_getBlockByNumber', ['latest', false])
  const expiresAt = Number(BigInt(head.timestamp)) + 3600
  const [accepted, granted] = await Promise.all([aliceSummary.accept(rec.relationship), ppr.grant(bob.address, [{ pointerId: 0, fields: [0, 2] }], expiresAt)])
  t.equal(accepted.status, 'accepted')
  t.equal(granted.grantId, 1)
  t.match(await aliceSummary.entryOf(rec.relationship), { status: 'accepted', role: 'patient' })

  // --- the third party sees the relationship in its own Summary and may read exactly the granted fields.
  t.match(await bob.summary().entries(), [{ relationship: rec.relationship, status: 'awaiting-approval', role: 'viewer' }])
  t.same(await bob.relationship(rec.relationship).grantOf(bob.address), { grantId: 1, grantedAt: (await ppr.grantOf(bob.address)).grantedAt, expiresAt, active: true, providerApproved: false, items: [{ pointerId: 0, fields: [0, 2] }] })
  t.equal(await ppr.canRead(bob.address, 0, [0]), true, 'granted field 0')
  t.equal(await ppr.canRead(bob.address, 0, [0, 2]), true, 'granted fields 0 and 2')
  t.equal(await ppr.canRead(bob.address, 0, [1]), false, 'field 1 was not granted')
  t.equal(await ppr.canRead(bob.address, 0, [0, 1]), false, 'a request must be covered entirely')
  t.equal(await ppr.canRead(alice.address, 0, [1]), true, 'the patient reads everything')
  t.equal(await ppr.canRead(carol.address, 0, [0]), false, 'a stranger reads nothing')
  t.same(await ppr.viewers(), [bob.address])

  // --- a provider update: the bounty goes to the author of the including block (the authority), and the patient is notified.
  const bountiesBefore = await authority.relationships.bountyCount(authority.address)
  t.equal(bountiesBefore, 2, 'both new records already carried a bounty owned by the block author, including the delegate one')
  const update = await authority.relationship(rec.relationship).updatePointer(0, { dataHash: hashCanonical([{ code: '8480-6', valueQuantity: 118 }]), bountyQuery: vitalsBounty })
  t.equal(update.version, 2)
  t.equal(await authority.relationships.bountyCount(authority.address), bountiesBefore + 1)
  const [bounty] = await alice.relationships.bounties(authority.address, { offset: bountiesBefore })
  t.match(bounty, { relationship: rec.relationship, pointerId: 0, blockNumber: update.blockNumber, query: bountyQuery(vitalsBounty).json })
  t.equal(await alice.relationships.bountyCount(delegate.address), 0, 'the delegate authored no block, so owns no bounty')
  t.match(await aliceSummary.entryOf(rec.relationship), { status: 'update-pending' }, "the update shows in the patient's Summary")

  // --- a grant that expires: readable until the chain's clock passes expiresAt.
  const soon = Number(BigInt((await rpc<{ timestamp: Hex }>(node.url, 'eth_getBlockByNumber', ['latest', false])).timestamp)) + 3
  await ppr.grant(accounts[DAVE]!.address, [{ pointerId: 0, fields: [1] }], soon)
  t.equal(await ppr.canRead(accounts[DAVE]!.address, 0, [1]), true, 'before expiry')
  await waitFor(async () => BigInt((await rpc<{ timestamp: Hex }>(node.url, 'eth_getBlockByNumber', ['latest', false])).timestamp) >= BigInt(soon), 'a block past the expiry', 10_000)
  t.equal(await ppr.canRead(accounts[DAVE]!.address, 0, [1]), false, 'after expiry')

  // --- the patient revokes the third party.
  await ppr.revoke(bob.address)
  t.equal(await ppr.canRead(bob.address, 0, [0]), false, 'revoked')
  t.equal((await ppr.grantOf(bob.address)).active, false)

  // --- reverts are reported with the decoded custom error.
  const notPatient = await rejection(bob.relationship(rec.relationship).grant(carol.address, [{ pointerId: 0, fields: [0] }]))
  t.equal(notPatient.code, ClientErrorCode.REVERTED)
  t.equal(notPatient.revert?.errorName, 'NotPatient')
  t.match(notPatient.message, new RegExp(`PatientProviderRelationship\\.grant reverted: NotPatient\\(${bob.address}\\)`))
  t.equal(notPatient.hash, undefined, 'caught by gas estimation: nothing was sent')
  const notAuthority = await rejection(bob.registrar.registerIdentity('mallory', accounts[FRANK]!.address))
  t.equal(notAuthority.message, `Registrar.register reverted: NotAuthority(${bob.address})`)
  const badMask = await rejection(ppr.grant(bob.address, [{ pointerId: 0, fields: [5] }]))
  t.match(badMask.message, /BadFieldMask\(0, 32\)/, 'a field the pointer does not have')
  // Carol rejects the delegate's relationship; accepting it afterwards is an invalid transition.
  await carol.summary().reject(recCarol.relationship)
  const invalid = await rejection(carol.summary().accept(recCarol.relationship))
  t.equal(invalid.message, `Summary.accept reverted: InvalidTransition(${recCarol.relationship}, rejected, accepted)`, 'enum arguments are named')
  // With a fixed gas limit the estimate is skipped: the revert happens on chain and is decoded by replaying the call.
  const onChain = await rejection(bob.relationship(rec.relationship).revoke(carol.address, { gas: 200_000n }))
  t.equal(onChain.code, ClientErrorCode.REVERTED)
  t.equal(onChain.revert?.errorName, 'NotPatient')
  t.ok(onChain.hash !== undefined && onChain.context?.blockNumber !== undefined, 'the reverted transaction was included')
  const bobNext = await bob.registrar.isProviderAccount(bob.address)
  t.equal(bobNext, false)

  // --- a transaction replaced by another one with the same nonce and a higher fee.
  // The dev producer executes a transaction as soon as it arrives, so a replacement sent after the
  // client's transaction would always lose. The client therefore sends with the next-but-one nonce
  // (queued behind a gap); the replacement then takes that nonce and the gap is filled directly.
  const base = BigInt(await rpc<Hex>(node.url, 'eth_getTransactionCount', [bob.address, 'pending']))
  let replacement: Hex | undefined
  const replaced = await rejection(
    bob.summary().reject(rec.relationship, {
      nonce: base + 1n,
      onSent: () => {
        void (async () => {
          replacement = await sendSelfTransfer(node.url, accounts[BOB]!, base + 1n, 5n)
          await sendSelfTransfer(node.url, accounts[BOB]!, base, 5n)
        })()
      },
    }),
  )
  t.equal(replaced.code, ClientErrorCode.REPLACED, replaced.message)
  t.match(replaced.message, /was replaced: another transaction of .* took nonce/)
  t.ok(replacement !== undefined && (await rpc(node.url, 'eth_getTransactionReceipt', [replacement])) !== null, 'the replacement was included')
  // The client resynced its nonce counter and goes on.
  const after = await bob.summary().reject(rec.relationship)
  t.equal(after.nonce, base + 2n, 'the next write uses the nonce after the replacement')
  t.equal(after.status, 'rejected')

  // --- a transaction the node forgets (replaced, and the gap never filled) is reported as dropped at the timeout.
  const erin = client(ERIN, { timeoutMs: 2500 })
  const erinBase = BigInt(await rpc<Hex>(node.url, 'eth_getTransactionCount', [erin.address, 'pending']))
  const dropped = await rejection(
    erin.registrar.verifyDelegate(accounts[FRANK]!.address, {
      nonce: erinBase + 1n,
      gas: 100_000n,
      onSent: () => void sendSelfTransfer(node.url, accounts[ERIN]!, erinBase + 1n, 5n),
    }),
  )
  t.equal(dropped.code, ClientErrorCode.DROPPED, dropped.message)

  // --- the rest of the API: consent, endpoint, delegate revocation, rebind, termination, removal.
  const providerSide = authority.relationship(rec.relationship)
  const frank = accounts[FRANK]!.address
  await Promise.all([
    providerSide.setConsentRequired(true),
    providerSide.setEndpoint('https://gk2.general.example/r'),
    authority.registrar.revokeDelegate(delegate.address),
    carol.registrar.rebind('carol-insurance-0x77c1', frank),
  ])
  t.equal(await ppr.endpoint(), 'https://gk2.general.example/r')
  t.equal(await alice.registrar.isProviderAccount(delegate.address), false, 'a revoked delegate is no provider')
  t.same(await alice.registrar.resolve('carol-insurance-0x77c1'), { participant: frank, summary: regCarol.summary }, 'the identity moved with its Summary')
  t.equal(await alice.summary(regCarol.summary).owner(), frank)
  const regrant = await ppr.grant(bob.address, [{ pointerId: 0, fields: [1] }])
  t.equal(await ppr.canRead(bob.address, 0, [1]), false, 'consent required: not yet approved by the provider')
  await providerSide.approveGrant(bob.address, regrant.grantId)
  t.equal(await ppr.canRead(bob.address, 0, [1]), true, 'approved by both sides')
  const [terminated, removed] = await Promise.all([ppr.terminate(), aliceSummary.remove(rec.relationship)])
  t.ok(terminated.blockNumber > 0n)
  t.equal(removed.status, 'deleted')
  t.equal(await ppr.canRead(bob.address, 0, [1]), false, 'a terminated relationship grants nothing')
  t.equal(await ppr.canRead(alice.address, 0, [0]), false)
  t.match(await ppr.info(), { terminated: true })
  const afterEnd = await rejection(ppr.grant(bob.address, [{ pointerId: 0, fields: [0] }]))
  t.equal(afterEnd.revert?.errorName, 'RelationshipTerminated')
})
