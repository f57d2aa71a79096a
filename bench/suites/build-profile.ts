/** In-process ceiling: how fast the executor builds blocks of contract writes (senders cached). */
import { readFileSync } from 'node:fs'
import { createFeeMarket1559Tx } from '@ethereumjs/tx'
import { Address, hexToBytes } from '@ethereumjs/util'
import { keccak_256 } from '@noble/hashes/sha3.js'
import { secp256k1 } from '@noble/curves/secp256k1.js'
import { Interface } from 'ethers'
import { Chain } from '../../node/chain/index.ts'
import { devAccounts, newGenesis } from '../../node/genesis/index.ts'
import { privateKeyToAddress as addressOf } from '../../node/keys/index.ts'
import { setLogLevel } from '../../common/logger.ts'
import type { SenderTx, TxSource } from '../../evm/index.ts'
import { tempDir } from '../harness/process.ts'
import type { Row } from './report.ts'

/** The transactions in order, as the block builder takes them (it may skip a sender: none fails here). */
function source(items: SenderTx[]): TxSource {
  const skipped = new Set<string>()
  return Object.assign(
    (function* () {
      for (const it of items) if (!skipped.has(it.sender.toString())) yield it
    })(),
    { skipSender: (a: Address) => void skipped.add(a.toString()) },
  )
}

export async function runBuildProfile(count = 2000, senders = 32): Promise<Row[]> {
  setLogLevel('warn')
  const dir = tempDir('medrec-profile-')
  const keys = Array.from({ length: senders }, (_, i) => keccak_256(new TextEncoder().encode(`profile ${i}`)))
  const sealer = devAccounts(1)[0]!
  // PoA with dev account 0 sealing, a 30M gas limit (a mainnet-sized block), every sender funded.
  const g = newGenesis({ chainId: 1337n, authorities: [sealer.address], period: 0, gasLimit: 30_000_000n, alloc: [sealer, ...keys.map((k) => ({ address: addressOf(k) }))].map((a) => [a.address, 10n ** 24n]), timestamp: 0n })
  const chain = await Chain.open(dir.path, g)
  const signer = sealer
  const art = JSON.parse(readFileSync(new URL('../../test/fixtures/contracts/Store.json', import.meta.url), 'utf8')) as { abi: unknown[]; bytecode: `0x${string}` }
  const iface = new Interface(art.abi as never)
  const fees = { maxFeePerGas: 10n ** 11n, maxPriorityFeePerGas: 10n ** 9n, chainId: 1337n }
  const deploy = createFeeMarket1559Tx({ ...fees, nonce: 0n, gasLimit: 3_000_000n, data: hexToBytes(art.bytecode) }, { common: chain.common }).sign(sealer.privateKey)
  const b0 = await chain.produce({ signer, source: source([{ tx: deploy, sender: new Address(signer.address) }]), deadline: Date.now() + 10_000 })
  const contract = b0.receipts[0]!.contractAddress!
  const items = []
  for (let n = 0; n < Math.ceil(count / senders); n++) {
    for (const k of keys) {
      const data = hexToBytes(iface.encodeFunctionData('set', [BigInt(1 + n)]) as `0x${string}`)
      const tx = createFeeMarket1559Tx({ ...fees, nonce: BigInt(n), gasLimit: 100_000n, to: contract, data }, { common: chain.common }).sign(k)
      ;(tx as unknown as { cache: { senderPubKey: Uint8Array } }).cache.senderPubKey = secp256k1.getPublicKey(k, false).subarray(1)
      items.push({ tx, sender: new Address(addressOf(k)) })
    }
  }
  const half = items.length / 2
  // Warm-up block (first writes to each slot), then the measured block.
  await chain.produce({ signer, source: source(items.slice(0, half)), deadline: Date.now() + 60_000 })
  const prof = process.env.MEDREC_PROFILE === undefined ? undefined : await (async () => {
    const { Session } = await import('node:inspector/promises')
    const session = new Session()
    session.connect()
    await session.post('Profiler.enable')
    await session.post('Profiler.start')
    return session
  })()
  const t0 = performance.now()
  const b = await chain.produce({ signer, source: source(items.slice(half)), deadline: Date.now() + 60_000 })
  const s = (performance.now() - t0) / 1000
  if (prof !== undefined) {
    const { profile } = await prof.post('Profiler.stop')
    ;(await import('node:fs')).writeFileSync(process.env.MEDREC_PROFILE!, JSON.stringify(profile))
  }
  await chain.close()
  dir.remove()
  return [
    { metric: `build+seal+commit one block of ${b.block.transactions.length} contract writes (s)`, value: s.toFixed(3) },
    { metric: 'executor ceiling, contract writes/s (single core, senders cached)', value: (b.block.transactions.length / s).toFixed(0) },
    { metric: 'gas per write (avg)', value: (b.block.header.gasUsed / BigInt(b.block.transactions.length)).toString() },
  ]
}
