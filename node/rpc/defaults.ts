import type { RpcConfig } from '../config/index.ts'
import { DEFAULT_APIS, DEFAULT_VHOSTS, DEFAULT_WS_ORIGINS } from './auth.ts'

/** `medrec start`'s JSON-RPC settings when no flag changes them (here, not in config/: the allow-lists are auth.ts's). */
export const DEFAULT_RPC: RpcConfig = {
  addr: '127.0.0.1',
  port: 8545,
  corsOrigins: [],
  vhosts: [...DEFAULT_VHOSTS],
  wsOrigins: [...DEFAULT_WS_ORIGINS],
  apis: [...DEFAULT_APIS],
  maxRequestBytes: 5 * 1024 * 1024,
  batchRequestLimit: 1000,
  batchResponseMaxSize: 25_000_000,
}
