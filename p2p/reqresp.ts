/**
 * One request and one response per stream, each a length-prefixed frame (lpStream), under
 * one deadline. Failures come out as P2PErrors whose code says what the peer did wrong.
 */
import { lpStream } from '@libp2p/utils'
import type { Connection, Stream } from '@libp2p/interface'

type LengthDecoder = NonNullable<NonNullable<Parameters<typeof lpStream>[1]>['lengthDecoder']>
import { errorMessage } from '../common/errors.ts'
import { P2PError, type P2PErrorCode } from './errors.ts'
import type { PenaltyReason } from './types.ts'

/** Classifies a stream error. `signal` is the deadline of the exchange. */
export function streamError(err: unknown, signal: AbortSignal, what: string, context: Record<string, unknown>): P2PError {
  if (err instanceof P2PError) return err
  const name = err instanceof Error ? err.name : ''
  let code: P2PErrorCode = 'P2P_STREAM_FAILED'
  if (signal.aborted) code = 'P2P_TIMEOUT'
  else if (name === 'InvalidDataLengthError' || name === 'StreamBufferError') code = 'P2P_OVERSIZED'
  else if (name === 'InvalidDataLengthLengthError' || name === 'InvalidMessageLengthError') code = 'P2P_INVALID_RESPONSE'
  else if (name === 'UnsupportedProtocolError') code = 'P2P_PROTOCOL_UNSUPPORTED'
  return new P2PError(code, `${what}: ${code === 'P2P_TIMEOUT' ? 'timed out' : errorMessage(err)}`, context, err)
}

/** Which penalty a failed exchange earns the remote peer (undefined: not its fault). */
export function penaltyFor(code: P2PErrorCode): PenaltyReason | undefined {
  switch (code) {
    case 'P2P_TIMEOUT':
      return 'timeout'
    case 'P2P_OVERSIZED':
      return 'oversized'
    case 'P2P_INVALID_RESPONSE':
      return 'invalid-response'
    case 'P2P_PROTOCOL_UNSUPPORTED':
      return 'protocol-violation'
    default:
      return undefined
  }
}

/**
 * An unsigned-varint length decoder that fails as soon as the prefix is longer than any allowed
 * length needs. (lpStream's own decoder keeps reading on an unterminated varint, so a stream
 * of 0xff bytes would only end at the deadline.)
 */
export function lengthDecoder(maxDataLength: number): LengthDecoder {
  const maxLengthLength = Math.ceil(Math.log2(maxDataLength + 1) / 7)
  return (buf) => {
    let value = 0
    for (let i = 0; i < buf.byteLength; i++) {
      const b = buf.get(i)
      value += (b & 0x7f) * 2 ** (7 * i)
      if (b < 0x80) return value
      // A longer prefix announces a frame above the limit (or is garbage of 0x80+ bytes).
      if (i + 1 >= maxLengthLength) throw new P2PError('P2P_OVERSIZED', `length prefix longer than ${maxLengthLength} bytes`)
    }
    throw new RangeError('incomplete varint') // lpStream reads another byte
  }
}

function lp(stream: Stream, maxDataLength: number) {
  return lpStream(stream, { maxDataLength, maxBufferSize: maxDataLength + 16, lengthDecoder: lengthDecoder(maxDataLength) })
}

export interface RequestOptions {
  timeoutMs: number
  maxResponseBytes: number
}

/** Opens a stream for `protocol`, writes `body`, reads one response frame. */
export async function request(conn: Connection, protocol: string, body: Uint8Array, opts: RequestOptions): Promise<Uint8Array> {
  const signal = AbortSignal.timeout(opts.timeoutMs)
  const context = { peer: conn.remotePeer.toString(), protocol }
  let stream: Stream | undefined
  try {
    stream = await conn.newStream(protocol, { signal })
    const frames = lp(stream, opts.maxResponseBytes)
    await frames.write(body, { signal })
    const frame = await frames.read({ signal })
    await stream.close({ signal }).catch(() => {})
    return frame.subarray()
  } catch (err) {
    stream?.abort(err instanceof Error ? err : new Error(String(err)))
    throw streamError(err, signal, `${protocol} request`, context)
  }
}

export interface InboundRequest {
  /** The request frame. */
  frame: Uint8Array
  /** Writes the response frame and closes the stream (by `signal` unless another is given). */
  respond(frame: Uint8Array, signal?: AbortSignal): Promise<void>
  /** The deadline of the whole exchange. */
  signal: AbortSignal
}

/** Reads the request frame of an inbound stream (bounded by `maxRequestBytes` and the deadline). */
export async function readRequest(stream: Stream, opts: { timeoutMs: number; maxRequestBytes: number }): Promise<InboundRequest> {
  const signal = AbortSignal.timeout(opts.timeoutMs)
  const frames = lp(stream, opts.maxRequestBytes)
  let frame: Uint8Array
  try {
    frame = (await frames.read({ signal })).subarray()
  } catch (err) {
    throw streamError(err, signal, `${stream.protocol} request`, {})
  }
  return {
    frame,
    signal,
    async respond(out: Uint8Array, deadline: AbortSignal = signal) {
      try {
        await frames.write(out, { signal: deadline })
        await stream.close({ signal: deadline })
      } catch (err) {
        throw streamError(err, deadline, `${stream.protocol} response`, {})
      }
    },
  }
}
