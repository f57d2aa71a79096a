/**
 * The fault scenarios' load: plain transfers from a few funded keys, each key sending to one node
 * only (so its nonces never race across a cut), at a steady rate, through whatever the nodes go
 * through. What the suite holds the node to is in two sets:
 * - accepted: eth_sendRawTransaction answered with the hash (the node took it);
 * - acknowledged: a receipt was returned for it (a client was told it is in block B).
 * A sender whose node fails or refuses re-reads its nonce from the node (as a wallet would after
 * its node restarted) and re-signs from there: signing is deterministic, so a transaction the
 * node lost from its pool goes out again with the same hash.
 */
import type { Common } from '@ethereumjs/common'
import { createFeeMarket1559Tx } from '@ethereumjs/tx'
import { bytesToHex } from '@ethereumjs/util'
import { keccak_256 } from '@noble/hashes/sha3.js'
import type { Hex } from 'viem'
import { errorMessage } from '../../../common/errors.ts'
import { privateKeyToAddress } from '../../../node/keys/index.ts'
import { addressOfKey } from '../../harness/local-network.ts'
import { rpc, sleep, toNumber, waitFor } from '../../harness/rpc.ts'

export interface Receipt {
  blockHash: string
  blockNumber: string
  status: string
}

export interface Ack {
  blockHash: string
  blockNumber: number
  /** Index of the sender (and so of its node). */
  sender: number
}

export interface Load {
  /** Hash → its sender and bytes, every transaction a node accepted. */
  readonly accepted: Map<string, { sender: number; raw: string }>
  /** Hash → the receipt a client was shown (the first one seen). */
  readonly acked: Map<string, Ack>
  /** Sends refused or unanswered (a node down, a pool full). */
  readonly refused: () => number
  /** Why sends failed: the first words of each distinct error, with counts. */
  readonly refusals: () => Map<string, number>
  /** Accepted transactions a node no longer had when its sender asked again (a restart emptied its pool): signed and sent again. */
  readonly rewound: () => number
  /** Starts the send loops and the receipt poller. */
  start(): void
  /** Stops sending (the poller too); resolves when every loop has returned. */
  stop(): Promise<void>
  /**
   * Polls receipts of accepted, unacknowledged transactions until all are acknowledged or
   * `timeoutMs` passed, sending the missing ones again every few seconds (as a wallet
   * rebroadcasts); the ones still missing, and how many were sent again.
   */
  drain(timeoutMs: number): Promise<{ missing: string[]; resent: number }>
  /** Acknowledged transactions whose receipt at `url` is gone or in another block. */
  lostAcks(url: (sender: number) => string): Promise<{ gone: string[]; moved: string[] }>
}

export interface LoadOptions {
  common: Common
  /** The node each sender uses, read at each send (a restarted node has a new URL). */
  urlOf: (sender: number) => string | undefined
  senders: number
  /** Transactions per second over all senders. */
  rate: number
  /** Distinguishes the keys of scenarios that share a chain (none do today). */
  label?: string
}

const FEES = { maxFeePerGas: 100_000_000_000n, maxPriorityFeePerGas: 1_000_000_000n }
const SINK = '0x000000000000000000000000000000000000fa17' as Hex
const POLL_MS = 500
const RESEND_MS = 15_000

/** The sender keys of a scenario (deterministic: a re-run signs the same transactions). */
export function senderKeys(n: number, label = 'faults'): Uint8Array[] {
  return Array.from({ length: n }, (_, i) => keccak_256(new TextEncoder().encode(`medrec ${label} sender ${i}`)))
}

/** Funds `keys` from `funder` through `url` and waits for the last funding receipt. */
export async function fundSenders(common: Common, url: string, funder: { key: Uint8Array; address: string }, keys: readonly Uint8Array[]): Promise<void> {
  let nonce = BigInt(await rpc<string>(url, 'eth_getTransactionCount', [funder.address, 'pending']))
  const hashes: string[] = []
  for (const k of keys) {
    const tx = createFeeMarket1559Tx({ ...FEES, chainId: common.chainId(), nonce: nonce++, gasLimit: 21_000n, to: privateKeyToAddress(k), value: 10n ** 21n }, { common }).sign(funder.key)
    hashes.push(await rpc<string>(url, 'eth_sendRawTransaction', [bytesToHex(tx.serialize())]))
  }
  await waitFor(() => rpc<Receipt | null>(url, 'eth_getTransactionReceipt', [hashes.at(-1)]), 'the senders to be funded', 60_000)
}

export function createLoad(o: LoadOptions): Load {
  const keys = senderKeys(o.senders, o.label)
  const addresses = keys.map(addressOfKey)
  const accepted = new Map<string, { sender: number; raw: string }>()
  const acked = new Map<string, Ack>()
  let refused = 0
  let rewound = 0
  const refusals = new Map<string, number>()
  let running = false
  const loops: Promise<void>[] = []
  const intervalMs = (o.senders * 1000) / o.rate
  /** Per sender: one past the highest nonce a node accepted. */
  const highest = keys.map(() => 0n)

  const sign = (sender: number, nonce: bigint) => {
    const tx = createFeeMarket1559Tx({ ...FEES, chainId: o.common.chainId(), nonce, gasLimit: 21_000n, to: SINK, value: 1n }, { common: o.common }).sign(keys[sender]!)
    return { raw: bytesToHex(tx.serialize()), hash: bytesToHex(tx.hash()) }
  }

  async function sendLoop(sender: number): Promise<void> {
    let nonce: bigint | undefined
    // Spread the senders over the interval, so the load arrives evenly.
    await sleep((sender * intervalMs) / o.senders)
    let next = performance.now()
    while (running) {
      next += intervalMs
      const url = o.urlOf(sender)
      try {
        if (url === undefined) throw new Error('node down')
        if (nonce === undefined) {
          nonce = BigInt(await rpc<string>(url, 'eth_getTransactionCount', [addresses[sender], 'pending']))
          if (highest[sender]! > nonce) rewound += Number(highest[sender]! - nonce)
        }
        const { raw, hash } = sign(sender, nonce)
        await rpc<string>(url, 'eth_sendRawTransaction', [raw])
        accepted.set(hash, { sender, raw })
        nonce++
        if (nonce > highest[sender]!) highest[sender] = nonce
      } catch (err) {
        refused++
        // The reason without the URL (ports differ after a restart).
        const why = errorMessage(err).replace(/\S+ to https?:\/\/\S+/, '').replace(/\s+/g, ' ').trim().slice(0, 60)
        refusals.set(why, (refusals.get(why) ?? 0) + 1)
        // Where the sender stands is the node's to say once it answers again.
        nonce = undefined
      }
      const wait = next - performance.now()
      if (wait > 0) await sleep(wait)
      else next = performance.now()
    }
  }

  /** One pass over the accepted, unacknowledged transactions. */
  async function pollOnce(): Promise<void> {
    const pending = [...accepted].filter(([h]) => !acked.has(h))
    for (let i = 0; i < pending.length; i += 64) {
      await Promise.all(
        pending.slice(i, i + 64).map(async ([hash, { sender }]) => {
          const url = o.urlOf(sender)
          if (url === undefined) return
          const r = await rpc<Receipt | null>(url, 'eth_getTransactionReceipt', [hash]).catch(() => null)
          if (r !== null && !acked.has(hash)) acked.set(hash, { blockHash: r.blockHash, blockNumber: toNumber(r.blockNumber), sender })
        }),
      )
    }
  }

  async function pollLoop(): Promise<void> {
    while (running) {
      await pollOnce()
      await sleep(POLL_MS)
    }
  }

  return {
    accepted,
    acked,
    refused: () => refused,
    refusals: () => refusals,
    rewound: () => rewound,
    start() {
      if (running) return
      running = true
      loops.push(pollLoop(), ...keys.map((_, i) => sendLoop(i)))
    },
    async stop() {
      running = false
      await Promise.all(loops.splice(0))
    },
    async drain(timeoutMs) {
      const end = Date.now() + timeoutMs
      const resent = new Set<string>()
      let lastResend = Date.now()
      for (;;) {
        await pollOnce()
        const missing = [...accepted.keys()].filter((h) => !acked.has(h))
        if (missing.length === 0 || Date.now() > end) return { missing, resent: resent.size }
        if (Date.now() - lastResend >= RESEND_MS) {
          lastResend = Date.now()
          for (const h of missing) {
            const { sender, raw } = accepted.get(h)!
            const url = o.urlOf(sender)
            if (url === undefined) continue
            resent.add(h)
            await rpc(url, 'eth_sendRawTransaction', [raw]).catch(() => undefined)
          }
        }
        await sleep(POLL_MS)
      }
    },
    async lostAcks(urlOf) {
      const gone: string[] = []
      const moved: string[] = []
      const all = [...acked]
      for (let i = 0; i < all.length; i += 64) {
        await Promise.all(
          all.slice(i, i + 64).map(async ([hash, a]) => {
            const r = await rpc<Receipt | null>(urlOf(a.sender), 'eth_getTransactionReceipt', [hash])
            if (r === null) gone.push(hash)
            else if (r.blockHash !== a.blockHash) moved.push(hash)
          }),
        )
      }
      return { gone, moved }
    },
  }
}
