import { getAddress, isAddress, type Abi, type Address, type ContractEventName, type ContractFunctionName, type DecodeEventLogReturnType, type DecodeFunctionResultReturnType, type Hex } from 'viem'
import { decodeLog, decodeResult, encodeCall, type CallArgs } from '../bindings.ts'
import { ClientError, ClientErrorCode } from './errors.ts'
import type { CallRequest, IncludedTx, RawLog, Sender } from './transactions.ts'
import type { Page, TxReceipt, WriteOptions } from './types.ts'

export const DEFAULT_PAGE_LIMIT = 100n
export const ZERO_ADDRESS = '0x0000000000000000000000000000000000000000' as const

export type DecodedEvent<A extends Abi> = DecodeEventLogReturnType<A, ContractEventName<A>, Hex[], Hex>

/** A typed view of one deployed contract through the client's sender. */
export interface Bound<A extends Abi> {
  readonly abi: A
  readonly address: Address
  readonly name: string
  request<F extends ContractFunctionName<A>>(fn: F, args: CallArgs<A, F>, gas?: bigint): CallRequest
  read<F extends ContractFunctionName<A>>(fn: F, args: CallArgs<A, F>): Promise<DecodeFunctionResultReturnType<A, F>>
  /** Sends and waits for inclusion; throws REVERTED / REPLACED / DROPPED / TIMEOUT / RPC. */
  write<F extends ContractFunctionName<A>>(fn: F, args: CallArgs<A, F>, opts?: WriteOptions): Promise<IncludedTx>
  /** The contract's events of `name` among a receipt's logs. */
  events<N extends ContractEventName<A>>(tx: IncludedTx, name: N): Extract<DecodedEvent<A>, { eventName: N }>[]
  /** The single event `name` a successful write must have emitted. */
  event<N extends ContractEventName<A>>(tx: IncludedTx, name: N): Extract<DecodedEvent<A>, { eventName: N }>
}

export function bind<const A extends Abi>(sender: Sender, abi: A, address: Address, name: string): Bound<A> {
  const self: Bound<A> = {
    abi,
    address,
    name,
    request: (fn, args, gas) => ({ to: address, data: encodeCall(abi, fn, args), abi, label: `${name}.${String(fn)}`, ...(gas === undefined ? {} : { gas }) }),
    async read(fn, args) {
      return decodeResult(abi, fn, await sender.call(self.request(fn, args)))
    },
    async write(fn, args, opts) {
      const sent = await sender.send(self.request(fn, args), opts)
      opts?.onSent?.({ hash: sent.hash, nonce: sent.nonce })
      return sender.wait(sent)
    },
    events(tx, eventName) {
      return eventsOf(abi, address, tx.logs).filter((e): e is Extract<DecodedEvent<A>, { eventName: typeof eventName }> => e.eventName === eventName)
    },
    event(tx, eventName) {
      const found = self.events(tx, eventName)[0]
      if (found === undefined) {
        throw new ClientError(ClientErrorCode.NOT_FOUND, `${name}: transaction ${tx.hash} emitted no ${String(eventName)} event`, { hash: tx.hash })
      }
      return found
    },
  }
  return self
}

/** Decodes the logs `address` emitted with `abi`; logs of other contracts or unknown events are skipped. */
export function eventsOf<const A extends Abi>(abi: A, address: Address, logs: readonly RawLog[]): DecodedEvent<A>[] {
  const out: DecodedEvent<A>[] = []
  for (const log of logs) {
    if (log.address.toLowerCase() !== address.toLowerCase() || log.topics.length === 0) continue
    try {
      out.push(decodeLog(abi, log.topics as [Hex, ...Hex[]], log.data))
    } catch {
      // not one of this ABI's events
    }
  }
  return out
}

/** A queue: each call runs after the previous one settled. */
export type Serial = <T>(fn: () => Promise<T>) => Promise<T>

export function createSerial(): Serial {
  let tail: Promise<unknown> = Promise.resolve()
  return <T>(fn: () => Promise<T>): Promise<T> => {
    const run = tail.then(fn)
    tail = run.catch(() => undefined)
    return run
  }
}

/** The receipt part of an included transaction (what every write returns, plus its own values). */
export function receipt(tx: IncludedTx): TxReceipt {
  return { hash: tx.hash, blockNumber: tx.blockNumber, blockHash: tx.blockHash, gasUsed: tx.gasUsed, nonce: tx.nonce }
}

export function checkAddress(value: string, what: string): Address {
  if (typeof value !== 'string' || !isAddress(value, { strict: false })) {
    throw new ClientError(ClientErrorCode.INVALID_ARGUMENT, `${what} must be a 20-byte hex address, got ${JSON.stringify(value)}`)
  }
  return getAddress(value)
}

/** An address the contract returns, or undefined for the zero address ("none"). */
export function optionalAddress(value: Address): Address | undefined {
  return value.toLowerCase() === ZERO_ADDRESS ? undefined : getAddress(value)
}

function toUint(value: number | bigint, what: string): bigint {
  if (typeof value === 'number' && !Number.isSafeInteger(value)) throw new ClientError(ClientErrorCode.INVALID_ARGUMENT, `${what} must be a whole number, got ${value}`)
  const v = BigInt(value)
  if (v < 0n) throw new ClientError(ClientErrorCode.INVALID_ARGUMENT, `${what} must not be negative, got ${value}`)
  return v
}

export function pageArgs(page: Page = {}): [bigint, bigint] {
  return [toUint(page.offset ?? 0n, 'page offset'), toUint(page.limit ?? DEFAULT_PAGE_LIMIT, 'page limit')]
}

export function uint(value: number | bigint, what: string, bits = 256): bigint {
  const v = toUint(value, what)
  if (v >> BigInt(bits) !== 0n) throw new ClientError(ClientErrorCode.INVALID_ARGUMENT, `${what} does not fit in uint${bits}: ${value}`)
  return v
}

export function checkHash32(value: string, what: string): Hex {
  if (typeof value !== 'string' || !/^0x[0-9a-fA-F]{64}$/.test(value)) throw new ClientError(ClientErrorCode.INVALID_ARGUMENT, `${what} must be 32 bytes of hex (0x + 64 digits), got ${JSON.stringify(value)}`)
  if (/^0x0{64}$/.test(value)) throw new ClientError(ClientErrorCode.INVALID_ARGUMENT, `${what} must not be zero`)
  return value as Hex
}
