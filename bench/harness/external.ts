/**
 * `medrec bench run --rpc URL,...`: the workload against endpoints that already run (another
 * medrec network, geth --dev, anvil), so the same load and figures compare across clients. No
 * process is started or stopped, so there are no pids (CPU and RSS are not measured) and no
 * node keys: the funder is the key given with --rpc.key.
 */
import { readFileSync } from 'node:fs'
import { errorMessage } from '../../common/errors.ts'
import { BenchError, BenchErrorCode } from './errors.ts'
import { rpc, toNumber } from './rpc.ts'

export interface ExternalNetwork {
  nodes: Array<{ url: string; wsUrl: string }>
  chainId: bigint
  gasLimit: bigint
  /** The funding account's key (--rpc.key). */
  funderKey: Uint8Array
}

/** http(s)://host:port → ws(s)://host:port: our node serves both on one port. */
export function deriveWsUrl(url: string): string {
  const u = new URL(url)
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new BenchError(BenchErrorCode.RPC, `--rpc ${url} is not an http(s) URL`)
  u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:'
  return u.toString().replace(/\/$/, '')
}

/** A hex private key (0x optional, surrounding whitespace ignored) from `file`. */
export function readKeyFile(file: string): Uint8Array {
  let text: string
  try {
    text = readFileSync(file, 'utf8').trim()
  } catch (err) {
    throw new BenchError(BenchErrorCode.RPC, `cannot read --rpc.key ${file}: ${errorMessage(err)}`, undefined, err)
  }
  const hex = text.replace(/^0x/i, '')
  if (!/^[0-9a-fA-F]{64}$/.test(hex)) throw new BenchError(BenchErrorCode.RPC, `--rpc.key ${file} must hold one 32-byte private key in hex (64 hex digits, 0x optional)`)
  return new Uint8Array(Buffer.from(hex, 'hex'))
}

/** Checks every endpoint answers on the same chain and reads the chain id and gas limit. */
export async function connectExternal(urls: readonly string[], wsUrls: readonly string[] | undefined, funderKey: Uint8Array): Promise<ExternalNetwork> {
  if (wsUrls !== undefined && wsUrls.length !== urls.length) throw new BenchError(BenchErrorCode.RPC, `--rpc.ws has ${wsUrls.length} URLs for ${urls.length} --rpc URLs: give one per endpoint, in the same order`)
  const ids = await Promise.all(urls.map((u) => rpc<string>(u, 'eth_chainId')))
  const chainId = BigInt(ids[0]!)
  for (const [i, id] of ids.entries()) {
    if (BigInt(id) !== chainId) throw new BenchError(BenchErrorCode.RPC, `--rpc endpoints are on different chains: ${urls[0]} has chain id ${chainId}, ${urls[i]} has ${BigInt(id)}`)
  }
  const head = await rpc<{ gasLimit: string }>(urls[0]!, 'eth_getBlockByNumber', ['latest', false])
  return {
    nodes: urls.map((url, i) => ({ url, wsUrl: wsUrls?.[i] ?? deriveWsUrl(url) })),
    chainId,
    gasLimit: BigInt(toNumber(head.gasLimit)),
    funderKey,
  }
}

/**
 * What a workload gets as `nodeKeys` under --rpc: an array that refuses to be read, so a
 * workload that needs the nodes' keys fails with a message saying why instead of signing with
 * undefined.
 */
export function missingNodeKeys(workload: string): Uint8Array[] {
  const refuse = (): never => {
    throw new BenchError(BenchErrorCode.BAD_WORKLOAD, `workload "${workload}" needs the nodes' keys (authorities or etherbases), which --rpc does not have: run it on a local network (without --rpc)`)
  }
  return new Proxy([] as Uint8Array[], { get: (target, prop) => (prop === 'length' || (typeof prop === 'string' && /^\d+$/.test(prop)) || prop === Symbol.iterator ? refuse() : Reflect.get(target, prop)) })
}
