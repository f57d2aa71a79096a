import { generatePrivateKey } from 'viem/accounts'
import { ClientError, ClientErrorCode, createMedRecClient, type MedRecClient, type Rpc as ClientRpc } from '../../../contracts/client/index.ts'
import { RpcError } from './errors.ts'
import type { Rpc } from './rpc.ts'

/**
 * The MedRec contracts client (contracts/client) for a key held in the browser: it signs each
 * transaction here with viem and sends it with eth_sendRawTransaction over the same /rpc, so the
 * chain actions a patient takes (accept, reject, share, revoke) need no key on the node.
 */
export function browserClient(rpc: Rpc, privateKey: `0x${string}`): MedRecClient {
  const transport: ClientRpc = {
    async request<T>(method: string, params: readonly unknown[]): Promise<T> {
      try {
        return await rpc.call<T>(method, params)
      } catch (err) {
        // The client reads reverts from `rpcCode`/`rpcData`, as its own HTTP transport sets them.
        if (err instanceof RpcError) throw new ClientError(ClientErrorCode.RPC, `${method}: ${err.message} (JSON-RPC error ${err.code})`, { method, rpcCode: err.code, rpcData: err.data })
        throw new ClientError(ClientErrorCode.RPC, `${method}: ${err instanceof Error ? err.message : String(err)}`, { method }, err)
      }
    },
  }
  return createMedRecClient({ transport, privateKey })
}

/**
 * A client for chain reads only (Registrar, relationships, grants: eth_calls): its random key
 * signs nothing. A node session reads the contracts this way; its writes go through medrec_*.
 */
export function readClient(rpc: Rpc): MedRecClient {
  return browserClient(rpc, generatePrivateKey())
}
