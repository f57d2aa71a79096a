/**
 * A userspace TCP relay that makes a link slow and unreliable the way a lossy WAN link looks to
 * TCP (the kernel here has no netem): every chunk is held for a delay plus jitter, and now and
 * then the link stalls for a while (what a burst of lost segments costs in retransmission
 * timeouts). Bytes are never dropped or reordered within a connection: TCP would not let an
 * application see that either; it sees delay, jitter and stalls, which is what this makes.
 */
import { createServer, connect, type Server, type Socket } from 'node:net'
import { listenLocal } from './proxy.ts'

export interface LossyLinkOptions {
  /** Added to every chunk, each direction (ms). */
  delayMs: number
  /** A uniform extra 0..jitterMs per chunk (ms); order is kept, so a chunk never overtakes one before it. */
  jitterMs: number
  /** Every `stallEveryMs` the link holds everything for `stallMs` (0: never). */
  stallEveryMs: number
  stallMs: number
}

export interface LossyRelay {
  /** The port to dial instead of the target's (127.0.0.1). */
  readonly port: number
  /** Chunks and bytes relayed so far, both directions. */
  stats(): { chunks: number; bytes: number; stalls: number }
  close(): Promise<void>
}

/** Relays 127.0.0.1:`port` (0: any free port) to `targetHost`:`targetPort` through a link shaped by `o`. */
export async function startLossyRelay(targetHost: string, targetPort: number, o: LossyLinkOptions, port = 0): Promise<LossyRelay> {
  const sockets = new Set<Socket>()
  let chunks = 0
  let bytes = 0
  let stalls = 0
  let stallUntil = 0
  const stallTimer =
    o.stallEveryMs > 0 && o.stallMs > 0
      ? setInterval(() => {
          stallUntil = performance.now() + o.stallMs
          stalls++
        }, o.stallEveryMs)
      : undefined
  stallTimer?.unref()

  /**
   * Pipes `from` to `to` with the link's delay. One queue and one timer per direction: timers
   * of different lengths that expire in the same millisecond may fire in any order, and one
   * chunk overtaking another would corrupt the stream (noise drops the connection).
   */
  const shape = (from: Socket, to: Socket) => {
    const queue: Array<{ chunk: Buffer; at: number }> = []
    let releaseAt = 0
    let timer: NodeJS.Timeout | undefined
    const pump = () => {
      timer = undefined
      const now = performance.now()
      while (queue.length > 0 && stallUntil <= now && queue[0]!.at <= now) {
        const { chunk } = queue.shift()!
        if (!to.destroyed) to.write(chunk)
      }
      if (queue.length > 0) timer = setTimeout(pump, Math.max(queue[0]!.at, stallUntil) - now)
    }
    from.on('data', (chunk: Buffer) => {
      const now = performance.now()
      releaseAt = Math.max(releaseAt, now + o.delayMs + Math.random() * o.jitterMs)
      queue.push({ chunk, at: releaseAt })
      chunks++
      bytes += chunk.length
      timer ??= setTimeout(pump, Math.max(releaseAt, stallUntil) - now)
    })
  }

  const server: Server = createServer((inbound) => {
    const outbound = connect(targetPort, targetHost)
    sockets.add(inbound).add(outbound)
    shape(inbound, outbound)
    shape(outbound, inbound)
    // Either side closing takes the other down after what is in flight (one TCP connection).
    const down = () => {
      sockets.delete(inbound)
      sockets.delete(outbound)
      setTimeout(() => {
        inbound.destroy()
        outbound.destroy()
      }, o.delayMs + o.jitterMs + o.stallMs)
    }
    inbound.once('error', down).once('close', down)
    outbound.once('error', down).once('close', down)
  })
  const listening = await listenLocal(server, port, 'the lossy relay')
  return {
    port: listening,
    stats: () => ({ chunks, bytes, stalls }),
    close: () =>
      new Promise<void>((resolve) => {
        clearInterval(stallTimer)
        for (const s of sockets) s.destroy()
        server.close(() => resolve())
      }),
  }
}
