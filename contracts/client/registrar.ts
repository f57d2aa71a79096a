import { encodeEventTopics, type Address, type Hex } from 'viem'
import { REGISTRAR_ADDRESS } from '../addresses.ts'
import { registrarAbi } from '../generated/registrar.ts'
import { decodeLog } from '../bindings.ts'
import { bind, checkAddress, checkHash32, optionalAddress, pageArgs, receipt, uint } from './core.ts'
import { ClientError, ClientErrorCode } from './errors.ts'
import { LogIndex, readEvents } from './logs.ts'
import type { Rpc } from './rpc.ts'
import type { Sender } from './transactions.ts'
import type { Page, ProviderEntry, ProviderInfo, WriteOptions, WriteResult } from './types.ts'

/** An entry's fingerprint when it names no TLS certificate. */
const ZERO_FINGERPRINT: Hex = `0x${'00'.repeat(32)}`

/** The Registrar: identities, their participants and Summaries, the provider directory and delegates. */
export interface RegistrarClient {
  readonly address: Address
  /** Authority only: binds `identity` (a name or the hash of an ID, never health data) to `participant` and creates its Summary. */
  registerIdentity(identity: string, participant: string, opts?: WriteOptions): Promise<WriteResult<{ participant: Address; summary: Address }>>
  /** The participant or an authority moves an identity, and its Summary, to a new address. */
  rebind(identity: string, newParticipant: string, opts?: WriteOptions): Promise<WriteResult>
  /** undefined when the identity is not registered. */
  resolve(identity: string): Promise<{ participant: Address; summary: Address } | undefined>
  identityOf(participant: string): Promise<string | undefined>
  summaryOf(participant: string): Promise<Address | undefined>
  /** Authority only: publishes or updates the caller's gatekeeper entry (url and/or multiaddr). */
  setProvider(info: ProviderInfo, opts?: WriteOptions): Promise<WriteResult>
  provider(address: string): Promise<ProviderEntry>
  /** Authority only: lets a fresh per-relationship account act as a provider. */
  verifyDelegate(delegate: string, opts?: WriteOptions): Promise<WriteResult>
  revokeDelegate(delegate: string, opts?: WriteOptions): Promise<WriteResult>
  isDelegate(address: string): Promise<boolean>
  /** Provider account only: anchors the head of its gatekeeper's audit log (seq must grow). */
  anchorAudit(seq: number, head: Hex, opts?: WriteOptions): Promise<WriteResult>
  /** The seq of the provider's latest audit anchor; 0 when none. */
  anchoredSeq(provider: string): Promise<number>
  /**
   * The provider's latest audit anchor (seq and head, from its AuditAnchored event), read from
   * the node's logs; undefined when it never anchored. Needs the client's JSON-RPC transport.
   */
  latestAuditAnchor(provider: string): Promise<AuditAnchor | undefined>
  /** An authority or a verified delegate. */
  isProviderAccount(address: string): Promise<boolean>
  /** From the IdentityRegistered and ParticipantRebound events (read through the client's LogIndex: only the blocks since the last read; needs the JSON-RPC transport). */
  participants(page?: Page): Promise<Address[]>
  participantCount(): Promise<number>
  providers(page?: Page): Promise<Address[]>
  providerCount(): Promise<number>
}

export interface AuditAnchor {
  seq: number
  head: Hex
  blockNumber: bigint
  transaction: Hex
}

/** eth_getLogs is asked for at most this many blocks at once (the node's MAX_LOG_RANGE). */
const LOG_WINDOW = 10_000n

interface LogJson {
  topics: Hex[]
  data: Hex
  blockNumber: Hex
  transactionHash: Hex
  removed?: boolean
}

function checkIdentity(identity: string): string {
  if (typeof identity !== 'string' || identity.length === 0) throw new ClientError(ClientErrorCode.INVALID_ARGUMENT, 'identity must be a non-empty string')
  return identity
}

export function createRegistrarClient(sender: Sender, rpc?: Rpc, logs: LogIndex = new LogIndex()): RegistrarClient {
  const c = bind(sender, registrarAbi, REGISTRAR_ADDRESS, 'Registrar')
  /** Registration order, a rebound participant in its predecessor's place (as the Registrar listed them before issue 23). */
  const participantList = async (): Promise<Address[]> => {
    const [registered, rebound] = await Promise.all([
      readEvents(rpc, { abi: registrarAbi, address: REGISTRAR_ADDRESS, eventName: 'IdentityRegistered' }, logs),
      readEvents(rpc, { abi: registrarAbi, address: REGISTRAR_ADDRESS, eventName: 'ParticipantRebound' }, logs),
    ])
    const list = registered.map((e) => e.args.participant)
    const at = new Map(list.map((a, i) => [a.toLowerCase(), i]))
    for (const e of rebound) {
      const i = at.get(e.args.oldParticipant.toLowerCase())
      if (i === undefined) continue
      list[i] = e.args.newParticipant
      at.delete(e.args.oldParticipant.toLowerCase())
      at.set(e.args.newParticipant.toLowerCase(), i)
    }
    return list
  }
  const anchoredSeq = async (provider: string): Promise<number> => Number(await c.read('anchoredSeq', [checkAddress(provider, 'provider')]))
  return {
    address: REGISTRAR_ADDRESS,
    async registerIdentity(identity, participant, opts) {
      const tx = await c.write('register', [checkIdentity(identity), checkAddress(participant, 'participant')], opts)
      const ev = c.event(tx, 'IdentityRegistered')
      return { ...receipt(tx), participant: ev.args.participant, summary: ev.args.summary }
    },
    async rebind(identity, newParticipant, opts) {
      return receipt(await c.write('rebind', [checkIdentity(identity), checkAddress(newParticipant, 'new participant')], opts))
    },
    async resolve(identity) {
      const [participant, summary] = await c.read('resolve', [checkIdentity(identity)])
      const p = optionalAddress(participant)
      return p === undefined ? undefined : { participant: p, summary: optionalAddress(summary) ?? summary }
    },
    async identityOf(participant) {
      const identity = await c.read('identityOf', [checkAddress(participant, 'participant')])
      return identity === '' ? undefined : identity
    },
    async summaryOf(participant) {
      return optionalAddress(await c.read('summaryOf', [checkAddress(participant, 'participant')]))
    },
    async setProvider(info, opts) {
      const key: Hex = info.encryptionKey ?? '0x'
      if (!/^0x(?:[0-9a-fA-F]{2})*$/.test(key)) throw new ClientError(ClientErrorCode.INVALID_ARGUMENT, `encryptionKey must be bytes as hex, got ${JSON.stringify(key)}`)
      if ((info.url ?? '') === '' && (info.multiaddr ?? '') === '') throw new ClientError(ClientErrorCode.INVALID_ARGUMENT, 'a provider entry needs a gatekeeper url or multiaddr')
      const fingerprint: Hex = info.tlsFingerprint ?? ZERO_FINGERPRINT
      if (!/^0x[0-9a-fA-F]{64}$/.test(fingerprint)) throw new ClientError(ClientErrorCode.INVALID_ARGUMENT, `tlsFingerprint must be 32 bytes as hex (SHA-256 of the certificate's DER), got ${JSON.stringify(fingerprint)}`)
      return receipt(await c.write('setProvider', [info.name, info.url ?? '', info.multiaddr ?? '', key, fingerprint], opts))
    },
    async provider(address) {
      const [entry, authority] = await c.read('provider', [checkAddress(address, 'provider')])
      const tlsFingerprint = entry.tlsFingerprint === ZERO_FINGERPRINT ? undefined : entry.tlsFingerprint
      return { name: entry.name, url: entry.url, multiaddr: entry.multiaddr, encryptionKey: entry.encryptionKey, tlsFingerprint, listed: entry.listed, authority }
    },
    async verifyDelegate(delegate, opts) {
      return receipt(await c.write('verifyDelegate', [checkAddress(delegate, 'delegate')], opts))
    },
    async revokeDelegate(delegate, opts) {
      return receipt(await c.write('revokeDelegate', [checkAddress(delegate, 'delegate')], opts))
    },
    isDelegate: (address) => c.read('isDelegate', [checkAddress(address, 'address')]),
    async anchorAudit(seq, head, opts) {
      return receipt(await c.write('anchorAudit', [uint(seq, 'seq', 64), checkHash32(head, 'head')], opts))
    },
    anchoredSeq,
    async latestAuditAnchor(provider) {
      const who = checkAddress(provider, 'provider')
      if ((await anchoredSeq(who)) === 0) return undefined
      if (rpc === undefined) throw new ClientError(ClientErrorCode.INVALID_ARGUMENT, 'reading audit anchors needs the JSON-RPC transport: create the Registrar client with it')
      const topics = encodeEventTopics({ abi: registrarAbi, eventName: 'AuditAnchored', args: { provider: who } })
      const hex = (n: bigint): Hex => `0x${n.toString(16)}`
      // Newest first, window by window back from the head: the latest anchor is usually recent.
      let to = BigInt(await rpc.request<Hex>('eth_blockNumber', []))
      for (;;) {
        const from = to >= LOG_WINDOW ? to - LOG_WINDOW + 1n : 0n
        const logs = await rpc.request<LogJson[]>('eth_getLogs', [{ address: REGISTRAR_ADDRESS, topics, fromBlock: hex(from), toBlock: hex(to) }])
        for (const log of [...logs].reverse()) {
          if (log.removed === true || log.topics.length === 0) continue
          const ev = decodeLog(registrarAbi, log.topics as [Hex, ...Hex[]], log.data)
          if (ev.eventName !== 'AuditAnchored') continue
          return { seq: Number(ev.args.seq), head: ev.args.head, blockNumber: BigInt(log.blockNumber), transaction: log.transactionHash }
        }
        if (from === 0n) break
        to = from - 1n
      }
      throw new ClientError(ClientErrorCode.NOT_FOUND, `the Registrar says ${who} anchored its audit log, but no AuditAnchored event of it is in this node's logs`, { provider: who })
    },
    isProviderAccount: (address) => c.read('isProviderAccount', [checkAddress(address, 'address')]),
    participants: async (page) => {
      const list = await participantList()
      const [offset, limit] = pageArgs(page)
      return list.slice(Number(offset), Number(offset + limit))
    },
    participantCount: async () => (await participantList()).length,
    providers: async (page) => [...(await c.read('providers', pageArgs(page)))],
    providerCount: async () => Number(await c.read('providerCount', [])),
  }
}
