import type { Address } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { ClientError, ClientErrorCode } from './errors.ts'
import { addRecordForNewPatient, type NewPatientRecord, type NewPatientRecordResult } from './flows.ts'
import { defaultClientOptions, type MedRecClientOptions } from './options.ts'
import { createRelationshipClient, type RelationshipClient } from './ppr.ts'
import { createRegistrarClient, type RegistrarClient } from './registrar.ts'
import { createRelationshipsClient, type RelationshipsClient } from './relationships.ts'
import { LogIndex, TextCache } from './logs.ts'
import { createRpc } from './rpc.ts'
import { createSummaryClient, type SummaryClient } from './summary.ts'
import { createSender } from './transactions.ts'
import { checkAddress, receipt } from './core.ts'
import type { WriteOptions, WriteResult } from './types.ts'

/**
 * The MedRec function-call API of the papers over JSON-RPC: every write is estimated, signed
 * (EIP-1559) with the client's key, sent and awaited until included; reads are eth_calls.
 * Several writes may be in flight at once (the client numbers nonces itself).
 */
export interface MedRecClient {
  /** The client's account. */
  readonly address: Address
  readonly registrar: RegistrarClient
  readonly relationships: RelationshipsClient
  /** A Patient-Provider Relationship by address. */
  relationship(address: string): RelationshipClient
  /** A Summary by address, or the client's own (found through the Registrar) when none is given. */
  summary(address?: string): SummaryClient
  /** Resolve identity → create relationship → add pointer → link to the patient's Summary, sent back to back. */
  addRecordForNewPatient(input: NewPatientRecord): Promise<NewPatientRecordResult>
  chainId(): Promise<number>
  /** A plain value transfer from the client's account, awaited until included. */
  transfer(to: string, value: bigint, opts?: WriteOptions): Promise<WriteResult>
  /** An account's balance at the head, in wei. */
  balanceOf(address: string): Promise<bigint>
  /** Drops the local nonce counter; the next write reads it from the node. */
  resyncNonce(): Promise<void>
}

function positive(value: number, what: string): number {
  if (!Number.isFinite(value) || value <= 0) throw new ClientError(ClientErrorCode.INVALID_ARGUMENT, `${what} must be a positive number, got ${value}`)
  return value
}

export function createMedRecClient(options: MedRecClientOptions): MedRecClient {
  const opts = { ...defaultClientOptions, ...options }
  if (opts.transport === undefined && !/^https?:\/\//.test(opts.rpcUrl ?? '')) {
    throw new ClientError(ClientErrorCode.INVALID_ARGUMENT, `rpcUrl must be an http(s) URL, got ${JSON.stringify(opts.rpcUrl)}`)
  }
  if (typeof opts.privateKey !== 'string' || !/^0x[0-9a-fA-F]{64}$/.test(opts.privateKey)) {
    throw new ClientError(ClientErrorCode.INVALID_ARGUMENT, 'privateKey must be 0x followed by 64 hex digits')
  }
  const account = privateKeyToAccount(opts.privateKey)
  const rpc = opts.transport ?? createRpc(opts.rpcUrl!, positive(opts.requestTimeoutMs, 'requestTimeoutMs'))
  const sender = createSender(rpc, account, {
    pollMs: positive(opts.pollMs, 'pollMs'),
    timeoutMs: positive(opts.timeoutMs, 'timeoutMs'),
    gasMarginPercent: Math.max(100, Math.round(opts.gasMarginPercent)),
  })
  // the event logs read so far, so list reads ask only for the blocks since the last one
  const logs = new LogIndex()
  const registrar = createRegistrarClient(sender, rpc, logs)
  const relationships = createRelationshipsClient(sender, rpc, logs)
  // pointers' query texts, once checked against their hashes (they never change)
  const texts = new TextCache()
  return {
    address: account.address,
    registrar,
    relationships,
    relationship: (address) => createRelationshipClient(sender, address, rpc, texts),
    summary(address) {
      if (address !== undefined) {
        const at = checkAddress(address, 'summary')
        return createSummaryClient(sender, async () => at)
      }
      return createSummaryClient(sender, async () => {
        const own = await registrar.summaryOf(account.address)
        if (own === undefined) throw new ClientError(ClientErrorCode.NOT_FOUND, `${account.address} has no Summary: an authority must register its identity first`, { address: account.address })
        return own
      })
    },
    addRecordForNewPatient: (input) => addRecordForNewPatient(sender, registrar, relationships, input),
    chainId: () => sender.chainId(),
    async transfer(to, value, opts) {
      if (value <= 0n) throw new ClientError(ClientErrorCode.INVALID_ARGUMENT, `a transfer needs a positive value, got ${value}`)
      // A transfer to an account without code costs exactly 21,000 gas: no estimate needed.
      const sent = await sender.send({ to: checkAddress(to, 'to'), data: '0x', abi: [], label: 'transfer', gas: 21_000n, value }, opts)
      opts?.onSent?.({ hash: sent.hash, nonce: sent.nonce })
      return receipt(await sender.wait(sent))
    },
    balanceOf: async (address) => BigInt(await rpc.request<string>('eth_getBalance', [checkAddress(address, 'address'), 'latest'])),
    resyncNonce: () => sender.resync(),
  }
}
