import { toQuantity } from '../../common/index.ts'
import type { Sealing } from '../producer/index.ts'
import { RpcError } from './errors.ts'
import type { RpcMethods } from './types.ts'
import * as v from './validate.ts'

/** geth's miner_* and the eth_ methods that report on mining. */
export function createMinerMethods(sealing: Sealing): RpcMethods {
  const attempt = async <T>(fn: () => T | Promise<T>): Promise<T> => {
    try {
      return await fn()
    } catch (err) {
      throw RpcError.server((err as Error).message)
    }
  }
  return {
    eth_mining: (p) => (v.params(p, 0, 0), sealing.running),
    eth_hashrate: (p) => (v.params(p, 0, 0), toQuantity(BigInt(Math.round(sealing.hashrate())))),
    eth_coinbase: (p) => {
      v.params(p, 0, 0)
      if (sealing.etherbase === undefined) throw RpcError.server('etherbase must be explicitly specified')
      return sealing.etherbase.toString()
    },
    /** miner_start([threads]): start producing blocks (mining under PoW). */
    miner_start: async (p) => {
      v.params(p, 0, 1)
      const threads = p[0] === undefined || p[0] === null ? undefined : Number(v.quantityOrNumber(p[0], 0))
      if (threads !== undefined && (threads < 1 || threads > 256)) throw RpcError.invalidParams('threads must be between 1 and 256')
      await attempt(() => sealing.start(threads))
      return null
    },
    miner_stop: async (p) => {
      v.params(p, 0, 0)
      await sealing.stop()
      return null
    },
    miner_setEtherbase: async (p) => {
      v.params(p, 1, 1)
      const address = v.address(p[0], 0)
      await attempt(() => sealing.setEtherbase(address))
      return true
    },
  }
}
