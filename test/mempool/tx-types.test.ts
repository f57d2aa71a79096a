import t, { type Test } from 'tap'
import { bytesToHex, hexToBytes } from '@ethereumjs/util'
import type { Hex } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { keccak256 } from '../../common/keccak.ts'
import { createChainCommon, type ChainFork } from '../../evm/index.ts'
import { createMempool, createSenderRecovery, MempoolError, type Mempool } from '../../node/mempool/index.ts'

/**
 * Which transaction types the pool takes depends on the chain's fork: blob transactions never
 * (a permissioned chain has no blob market), EIP-7702 set-code transactions from Prague, and
 * from Osaka no transaction above EIP-7825's 2^24 gas. Transactions signed by viem.
 */

const KEY: Hex = '0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80'
const account = privateKeyToAccount(KEY)
const other = privateKeyToAccount('0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d')
const GWEI = 1_000_000_000n
const TO = `0x${'22'.repeat(20)}` as const
const fees = { chainId: 1337, maxFeePerGas: 10n * GWEI, maxPriorityFeePerGas: GWEI }

function pool(t: Test, hardfork: ChainFork): Mempool {
  const recovery = createSenderRecovery({ workers: 0 })
  const p = createMempool({}, { common: createChainCommon({ chainId: 1337n, hardfork }), recovery, getAccount: async () => ({ nonce: 0n, balance: 10n ** 22n }) })
  p.head({ baseFee: GWEI, gasLimit: 300_000_000n })
  t.teardown(() => recovery.close())
  return p
}

async function refusal(p: Mempool, raw: Hex): Promise<MempoolError | undefined> {
  return p.addRaw(hexToBytes(raw)).then(
    () => undefined,
    (e: unknown) => e as MempoolError,
  )
}

const blob = await account.signTransaction({ ...fees, type: 'eip4844', nonce: 0, gas: 21_000n, maxFeePerBlobGas: 1n, to: TO, blobVersionedHashes: [`0x01${'00'.repeat(31)}`] })
const setCode = await account.signTransaction({
  ...fees, type: 'eip7702', nonce: 0, gas: 100_000n, to: TO,
  authorizationList: [await other.signAuthorization({ chainId: 1337, address: `0x${'33'.repeat(20)}`, nonce: 0 })],
})

t.test('blob transactions are refused on every fork, with the reason', async (t) => {
  for (const fork of ['shanghai', 'cancun', 'prague', 'osaka'] as const) {
    const err = await refusal(pool(t, fork), blob)
    t.type(err, MempoolError, fork)
    t.match(err, { code: 'MEMPOOL_MALFORMED', message: /^invalid transaction: transaction type not supported: type 3; blob transactions are refused: a medrec chain has no blob market and its blocks carry no blobs, put the data in calldata/ }, fork)
  }
})

t.test('set-code transactions (EIP-7702) from Prague on; before it the pool names the fork they need', async (t) => {
  for (const fork of ['shanghai', 'cancun'] as const) {
    t.match(await refusal(pool(t, fork), setCode), {
      code: 'MEMPOOL_MALFORMED',
      message: `invalid transaction: transaction type not supported: type 4; set-code transactions need the prague fork and this chain runs ${fork} (this chain accepts legacy, EIP-2930 (1) and EIP-1559 (2) transactions)`,
    }, fork)
  }
  for (const fork of ['prague', 'osaka'] as const) {
    const p = pool(t, fork)
    const added = await p.addRaw(hexToBytes(setCode))
    t.equal(bytesToHex(added.hash), bytesToHex(keccak256(hexToBytes(setCode))), `${fork}: admitted`)
    t.equal(p.stats().pending, 1, `${fork}: pending`)
  }
})

t.test('from Osaka a transaction above 2^24 gas is refused in geth\'s words (EIP-7825); before, the block limit is the only bound', async (t) => {
  const big = await account.signTransaction({ ...fees, type: 'eip1559', nonce: 0, gas: (1n << 24n) + 1n, to: TO })
  t.match(await refusal(pool(t, 'osaka'), big), { code: 'MEMPOOL_GAS_LIMIT_EXCEEDED', message: 'transaction gas limit too high (cap: 16777216, tx: 16777217)' })
  const atCap = await account.signTransaction({ ...fees, type: 'eip1559', nonce: 0, gas: 1n << 24n, to: TO })
  await t.resolves(pool(t, 'osaka').addRaw(hexToBytes(atCap)), 'the cap itself is allowed')
  await t.resolves(pool(t, 'prague').addRaw(hexToBytes(big)), 'prague has no cap')
})
