import type { Test } from 'tap'
import { Address, hexToBytes } from '@ethereumjs/util'
import { Chain } from '../../node/chain/index.ts'
import type { Genesis } from '../../node/genesis/types.ts'
import { DEV_KEYS, addressOf, testGenesis } from './chain.ts'
import { tempDir } from './node-process.ts'

/**
 * A chain on a real LevelDB in a temporary dir, whose genesis holds `code` at its addresses (the
 * call tests' hand-assembled contracts), closed and removed at `t`'s teardown.
 */
export async function chainWithCode(t: Test, code: Map<Address, string>) {
  const genesis: Genesis = testGenesis()
  for (const [addr, hex] of code) genesis.alloc.set(addr.toString(), { balance: 0n, nonce: 1n, code: hexToBytes(hex as `0x${string}`), storage: [] })
  const dir = tempDir()
  const chain = await Chain.open(dir.path, genesis)
  t.teardown(async () => {
    await chain.close()
    dir.remove()
  })
  const signer = { address: addressOf(DEV_KEYS[0]!), privateKey: DEV_KEYS[0]! }
  const head = () => chain.head.block.header
  const ctx = () => chain.contextOf(head(), new Address(signer.address))
  return { genesis, chain, datadir: dir.path, signer, head, ctx }
}
