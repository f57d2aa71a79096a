import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { secp256k1 } from '@noble/curves/secp256k1.js'
import { bytesToHex, getAddress, type Address, type Hex } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { createMedRecClient, type Rpc } from '../contracts/client/index.ts'
import { createLogger, errorMessage } from '../common/index.ts'
import type { GatekeeperInfo, Notification } from './api.ts'
import type { AnchorResult } from './anchor.ts'
import { createAuditChains } from './audit-chains.ts'
import { createAuditLog } from './audit.ts'
import { createDelegateAccounts, createDelegateVerifier, createRelay, createRelayTable, DELEGATE_PROTOCOL } from './delegates/index.ts'
import { createBountyReleases } from './bounty-release.ts'
import { createNotificationLog, createRecordCache } from './cache.ts'
import { createPostgresRecordStore, createSqliteRecordStore } from './db/index.ts'
import { startGatekeeperHttp, type GatekeeperHttp } from './http.ts'
import { GatekeeperError, GatekeeperErrorCode, wireCode } from './errors.ts'
import { createNonceStore } from './nonces.ts'
import { DEFAULT_GATEKEEPER, type GatekeeperOptions } from './options.ts'
import { createRateLimiter } from './rate-limit.ts'
import { createParticipantOps } from './participant.ts'
import { createProviderOps } from './provider.ts'
import { postgresProviderRecords, providerOnPostgres } from './provider-postgres.ts'
import { createPublisher } from './publish.ts'
import { createRequestVerifier } from './request.ts'
import { createRequester, GATEKEEPER_PROTOCOL } from './requester.ts'
import { createServer, type GatekeeperReply, type ServedRequest } from './serve.ts'
import { loadOrCreateDevTls, loadSuppliedTls } from './tls.ts'
import { createFhirApi } from './fhir/index.ts'
import { createSmartAuth } from './smart/index.ts'
import { createRelationshipMap, openStateDb } from './state.ts'
import { createWatcher } from './watch.ts'

const log = createLogger('gatekeeper')

/** What the gatekeeper needs from the node's libp2p host (p2p/ never sees the gatekeeper). */
export interface GatekeeperP2P {
  handle(protocol: string, handler: (body: Uint8Array, from: string) => Promise<Uint8Array>): void
  requestTo(target: string, protocol: string, body: Uint8Array): Promise<Uint8Array>
  listenAddrs(): string[]
}

export interface GatekeeperModules {
  /** JSON-RPC calls into this node (in-process). */
  transport: Rpc
  /** The account the gatekeeper serves and requests as. */
  account: { address: Uint8Array; privateKey: Uint8Array }
  chainId: bigint
  p2p?: GatekeeperP2P
  /** How each served request ended (metrics). */
  onServed?: (served: ServedRequest) => void
}

/** Reads DIR/secret (32 random bytes, 0600), making it on first start. It salts the field commitments. */
function loadSecret(dir: string): Uint8Array {
  const path = join(dir, 'secret')
  if (!existsSync(path)) writeFileSync(path, Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString('hex') + '\n', { mode: 0o600 })
  const hex = readFileSync(path, 'utf8').trim()
  if (!/^[0-9a-f]{64}$/.test(hex)) throw new GatekeeperError(GatekeeperErrorCode.INTERNAL, `${path} is not 32 bytes of hex: restore it from a backup (the record hashes on chain depend on it)`, { path })
  return Uint8Array.from(Buffer.from(hex, 'hex'))
}

/** The built-in gatekeeper: serves this provider's records, and watches and fetches as a patient. */
export async function createGatekeeper(opts: GatekeeperOptions, modules: GatekeeperModules) {
  // First, so a wrong certificate or key stops the start before anything opens. Its fingerprint goes in the Registrar entry for requesters to pin.
  const tls = opts.http === undefined || opts.tls === false ? undefined : opts.tls !== undefined ? loadSuppliedTls(opts.tls) : await loadOrCreateDevTls(opts.dir, [opts.http.host, ...(opts.publicUrl === undefined ? [] : [new URL(opts.publicUrl).hostname])])
  const state = openStateDb(join(opts.dir, 'state.sqlite'))
  const store = createSqliteRecordStore({ path: opts.recordsPath ?? join(opts.dir, 'records.sqlite') })
  // With --gatekeeper.records the provider's own PostgreSQL database is what requests read (checked at start: unreachable or a bad mapping stops it).
  const pgRecords = opts.records === undefined ? undefined : await createPostgresRecordStore(opts.records).catch(async (err: unknown) => {
    await store.close()
    state.close()
    throw err
  })
  const source = pgRecords ?? store
  /** The patient count the operator's info shows: PostgreSQL's is refreshed at each new head (info is synchronous). */
  let pgPatients = pgRecords === undefined ? 0 : await pgRecords.patientCount().catch(() => 0)
  const secret = loadSecret(opts.dir)
  const privateKey = bytesToHex(modules.account.privateKey) as Hex
  const address = getAddress(bytesToHex(modules.account.address)) as Address
  const publicKey = secp256k1.getPublicKey(modules.account.privateKey, false)
  const client = createMedRecClient({ transport: modules.transport, privateKey })
  const relationships = createRelationshipMap(state)
  // Refusals of unverified requests go to the provider-only log; the logs patients read, one per serving account, are made below.
  const providerAudit = createAuditLog(state, { table: 'audit_provider' })
  const limiter = createRateLimiter({ rate: opts.rateLimit ?? DEFAULT_GATEKEEPER.rateLimit, burst: opts.rateBurst ?? DEFAULT_GATEKEEPER.rateBurst })
  const nonces = createNonceStore(state)
  const signer = privateKeyToAccount(privateKey)
  const p2p = modules.p2p
  const delegates = createDelegateAccounts({
    db: state,
    authorityKey: modules.account.privateKey,
    chainId: modules.chainId,
    client,
    transport: modules.transport,
    clientFor: (key) => createMedRecClient({ transport: modules.transport, privateKey: key }),
    request: p2p === undefined ? undefined : (ma, body) => p2p.requestTo(ma, DELEGATE_PROTOCOL, body),
    enabled: opts.delegates ?? DEFAULT_GATEKEEPER.delegates,
  })
  // One audit chain per serving account (the authority's and each delegate's), each anchored by that account.
  const chains = createAuditChains(
    { everyEntries: opts.auditAnchorEntries ?? DEFAULT_GATEKEEPER.auditAnchorEntries, intervalMs: (opts.auditAnchorIntervalSeconds ?? DEFAULT_GATEKEEPER.auditAnchorIntervalMinutes * 60) * 1000 },
    {
      db: state,
      authority: { address, registrar: client.registrar },
      delegateRegistrar: (a) => {
        const registrar = delegates.byAddress(a)?.client.registrar
        // A delegate's anchor is paid by the delegate: topped up by its verifier first when low.
        return registrar === undefined ? undefined : { ...registrar, anchorAudit: async (seq, head, o) => (await delegates.ensureFunds(a), registrar.anchorAudit(seq, head, o)) }
      },
    },
  )
  const audit = chains.authority.log
  const anchorer = chains.authority.anchorer
  // A delegate's relationship is answered, and its bounties signed, as the delegate.
  const signerOf = (rel: string) => {
    const d = delegates.ofRelationship(rel)
    return d === undefined ? signer : privateKeyToAccount(d.privateKey)
  }
  const releases = createBountyReleases(
    { k: opts.k, provider: address },
    { db: state, source, secret, sign: (hash, rel) => signerOf(rel).signMessage({ message: { raw: hash } }), providerOf: (rel) => delegates.ofRelationship(rel)?.address, now: () => Math.floor(Date.now() / 1000) },
  )
  const verifier = createRequestVerifier({ chainId: modules.chainId, gatekeepers: [address], isGatekeeper: delegates.isOurs, maxLifetimeSeconds: opts.maxRequestLifetime })
  const server = createServer({ client, source, verifier, nonces, auditOf: (a) => chains.of(a).log, providerAudit, limiter, relationships, privateKey, ownsAccount: delegates.isOurs, secret, releases, settle: createPublisher(store).settle, onServed: modules.onServed })
  const requester = createRequester({ client, privateKey, chainId: modules.chainId, p2pRequest: p2p === undefined ? undefined : (ma, body) => p2p.requestTo(ma, GATEKEEPER_PROTOCOL, body) })
  const cache = createRecordCache(state)
  const notifications = createNotificationLog(state)
  const watcher = createWatcher({ client, rpc: modules.transport, requester, db: state, cache, notifications })

  const encode = (v: unknown) => new TextEncoder().encode(JSON.stringify(v))
  // Requests for the relationships of delegates this authority verified for others go on to their providers.
  const relay = createRelay({
    table: createRelayTable(state),
    client,
    chainId: modules.chainId,
    maxLifetimeSeconds: opts.maxRequestLifetime,
    limiter,
    forward: p2p === undefined ? undefined : (ma, body) => p2p.requestTo(ma, GATEKEEPER_PROTOCOL, body),
    reject: (code, message, remote, retryAfter) => server.reject(code, message, { remote }, retryAfter),
  })
  /** Every transport's entry: relayed when addressed to a delegate verified here, else served here. */
  async function handle(json: unknown, bytes: Uint8Array, remote: string): Promise<GatekeeperReply> {
    return (await relay.route(json, bytes, remote)) ?? (await server.handle(json, { remote }))
  }
  p2p?.handle(GATEKEEPER_PROTOCOL, async (body, from) => {
    const remote = `peer:${from}`
    let json: unknown
    try {
      json = JSON.parse(new TextDecoder().decode(body))
    } catch {
      return encode(server.reject(GatekeeperErrorCode.BAD_REQUEST, 'the request is not JSON', { remote }).body)
    }
    // A refusal over the rate carries `retryAfter` in its error, as HTTP's Retry-After.
    const reply = await handle(json, body, remote)
    return reply.raw ?? encode(reply.body)
  })

  // Verifying other authorities' delegates: any gatekeeper of an authority answers; the checks are in verifier.ts.
  const delegateVerifier = createDelegateVerifier({
    client,
    chainId: Number(modules.chainId),
    nonces,
    limiter: createRateLimiter({ rate: DEFAULT_GATEKEEPER.delegateRate, burst: DEFAULT_GATEKEEPER.delegateBurst }),
    funding: opts.delegateFunding ?? DEFAULT_GATEKEEPER.delegateFunding,
    relays: relay.table,
    // What the delegate's relationships record: this node's multiaddr, else its URL (as published in the Registrar).
    endpoint: () => p2p?.listenAddrs()[0] ?? opts.publicUrl ?? http?.url ?? '',
    gasPrice: async () => BigInt(await modules.transport.request<string>('eth_gasPrice', [])),
  })
  p2p?.handle(DELEGATE_PROTOCOL, async (body, from) => {
    let json: unknown
    try {
      json = JSON.parse(new TextDecoder().decode(body))
    } catch {
      return encode({ ok: false, error: { code: wireCode(GatekeeperErrorCode.BAD_REQUEST), message: 'the request is not JSON' } })
    }
    return encode(await delegateVerifier.handle(json, from))
  })

  let http: GatekeeperHttp | undefined
  const endpoint = (): string => opts.publicUrl ?? http?.url ?? p2p?.listenAddrs()[0] ?? ''
  // What anyone may learn (GET /v1/info); the operator's view adds counts and the audit head.
  const publicInfo = () => ({ account: address, chainId: Number(modules.chainId), publicKey: bytesToHex(publicKey), multiaddrs: p2p?.listenAddrs() ?? [], ...(tls === undefined ? {} : { tlsFingerprint: tls.fingerprint }) })
  const info = (): GatekeeperInfo => ({
    ...publicInfo(),
    ...(http === undefined ? {} : { url: opts.publicUrl ?? http.url }),
    endpoint: endpoint(),
    k: opts.k,
    patients: pgRecords === undefined ? store.patientCount() : pgPatients,
    relationships: relationships.count(),
    audit: audit.head(),
    auditAnchored: anchorer.anchoredSeq(),
    providerAudit: providerAudit.head(),
  })
  // SMART App Launch for the FHIR API: its issuer and the FHIR base follow the published URL.
  const smart = createSmartAuth({
    db: state,
    secret,
    client,
    relationships,
    ours: (a) => a.toLowerCase() === address.toLowerCase() || delegates.isOurs(a),
    chainId: Number(modules.chainId),
    publicBase: () => (opts.publicUrl ?? http?.url ?? '').replace(/\/+$/, ''),
    auditOf: (a) => chains.of(a).log,
    providerAudit,
    tokenLifetimeSeconds: opts.smartTokenLifetime,
  })
  // The FHIR R4 API: SMART's tokens say who calls; what they read is decided from the chain at each request.
  const fhir = createFhirApi({
    source,
    client,
    relationships,
    auditOf: (a) => chains.of(a).log,
    providerAudit,
    authenticator: smart.authenticator,
    baseUrl: () => `${(opts.publicUrl ?? http?.url ?? '').replace(/\/+$/, '')}/fhir`,
    ours: (a) => a.toLowerCase() === address.toLowerCase() || delegates.isOurs(a),
    oauth: () => {
      const c = smart.configuration()
      return { authorize: String(c.authorization_endpoint), token: String(c.token_endpoint) }
    },
    limiter,
    settle: createPublisher(store).settle,
  })
  if (opts.http !== undefined) {
    http = await startGatekeeperHttp(opts.http, {
      smart,
      fhir,
      handle: (json, remote, bytes) => handle(json, bytes, remote),
      reject: (code, message, remote) => server.reject(code, message, { remote }),
      info: () => ({ ...publicInfo(), protocols: ['http', GATEKEEPER_PROTOCOL] }),
    }, tls)
    log.info('Gatekeeper HTTP API listening', { url: http.url, account: address, ...(tls === undefined ? { tls: 'off (behind a TLS-terminating proxy)' } : { tlsFingerprint: tls.fingerprint, certificate: tls.source }) })
  }
  // With PostgreSQL, pointer hashes are computed over what requests read (its records, not the embedded store's), and patients and records are added there.
  const providerOps = createProviderOps({ client, store, relationships, secret, endpoint, delegates, external: pgRecords === undefined ? undefined : postgresProviderRecords(pgRecords, state, store) })
  const provider = pgRecords === undefined ? providerOps : providerOnPostgres(providerOps, pgRecords)
  const participant = createParticipantOps({ client, requester, cache, db: state, onChange: () => void watcher.poll() })

  /** An authority lists its gatekeeper in the Registrar so requesters can find it. */
  async function publish(): Promise<void> {
    if (!(await client.registrar.isProviderAccount(address)) || (await client.registrar.isDelegate(address))) return
    const entry = await client.registrar.provider(address)
    const url = opts.publicUrl ?? http?.url ?? ''
    const multiaddr = p2p?.listenAddrs()[0] ?? ''
    // A new certificate (renewed, or the operator's) is republished at once: requesters pin what the entry says.
    const tlsFingerprint = url === '' ? undefined : tls?.fingerprint
    if (entry.url === url && entry.multiaddr === multiaddr && entry.encryptionKey.toLowerCase() === bytesToHex(publicKey) && entry.tlsFingerprint === tlsFingerprint) return
    await client.registrar.setProvider({ name: entry.name !== '' ? entry.name : `gatekeeper ${address.slice(0, 10)}`, url, multiaddr, encryptionKey: bytesToHex(publicKey), ...(tlsFingerprint === undefined ? {} : { tlsFingerprint }) })
    log.info('Published the gatekeeper in the Registrar', { url, multiaddr, tlsFingerprint })
  }
  let pruneAt = 0

  return {
    address,
    client,
    store,
    server,
    requester,
    provider,
    participant,
    watcher,
    cache,
    audit,
    notifications,
    relationships,
    delegates,
    delegateVerifier,
    /** SMART App Launch: registered clients, and the FHIR API's authenticator. */
    smart,
    info,
    publish: () => publish().catch((err) => log.warn('Could not publish the gatekeeper in the Registrar', undefined, errorMessage(err))),
    /** Call at every new head. */
    onHead(): void {
      server.onHead()
      fhir.onHead()
      if (pgRecords !== undefined) void pgRecords.patientCount().then((n) => (pgPatients = n), (err: unknown) => log.warn('Could not count the PostgreSQL record database\'s patients', undefined, errorMessage(err)))
      void watcher.poll()
      const now = Math.floor(Date.now() / 1000)
      if (now >= pruneAt) {
        pruneAt = now + 60
        nonces.prune(now)
      }
    },
    /**
     * Anchors audit heads in the Registrar now: the chain of `delegate` (one of this provider's
     * delegates) as that delegate, or, without it, every chain with unanchored entries, each as
     * its account. The first anchor made is also given at the top level; none made: the
     * authority chain's reason is thrown.
     */
    async anchorAudit(delegate?: string): Promise<AnchorResult & { account: string; chains: { account: string; seq?: number; head?: string; transaction?: string; error?: string }[] }> {
      const outcomes = await chains.anchorNow(delegate)
      const first = outcomes.find((o) => o.result !== undefined)
      if (first === undefined) throw new GatekeeperError(GatekeeperErrorCode.NOT_FOUND, outcomes[0]?.error ?? 'nothing to anchor')
      return { account: first.account, ...first.result!, chains: outcomes.map((o) => ({ account: o.account, ...(o.result ?? {}), ...(o.error === undefined ? {} : { error: o.error }) })) }
    },
    /** The audit chain of the authority account or of one of its delegates. */
    auditChain: (account: string) => chains.of(account),
    auditChains: chains,
    providerAudit,
    anchorer,
    subscribe: (listener: (n: Notification) => void) => notifications.subscribe(listener),
    async close(): Promise<void> {
      chains.close()
      await http?.close()
      await pgRecords?.close()
      await store.close()
      state.close()
    },
  }
}

export type Gatekeeper = Awaited<ReturnType<typeof createGatekeeper>>
