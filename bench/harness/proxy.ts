/**
 * A TCP relay that can be cut: the harness puts one between each node and the bootnode it dials,
 * so `isolate` is a real network partition. Cutting destroys every relayed socket (both sides
 * see the connection drop at once) and refuses new ones until healed; the listening port stays,
 * so the node's redials keep failing fast instead of timing out.
 */
import { createServer, connect, type Server, type Socket } from 'node:net'
import { BenchError, BenchErrorCode } from './errors.ts'

export interface LinkProxy {
  /** The port peers dial instead of the target's. */
  readonly port: number
  readonly cut: boolean
  /** Drops every relayed connection and refuses new ones. */
  cutOff(): void
  heal(): void
  close(): Promise<void>
}

/** Relays 127.0.0.1:`port` (0: any free port) to `targetHost`:`targetPort`. */
export async function startLinkProxy(targetHost: string, targetPort: number, port = 0): Promise<LinkProxy> {
  const sockets = new Set<Socket>()
  let cut = false
  const track = (s: Socket) => {
    sockets.add(s)
    s.once('close', () => sockets.delete(s))
  }
  const server: Server = createServer((inbound) => {
    if (cut) {
      inbound.destroy()
      return
    }
    const outbound = connect(targetPort, targetHost)
    track(inbound)
    track(outbound)
    inbound.pipe(outbound)
    outbound.pipe(inbound)
    // Either side failing takes the other down, as one TCP connection would.
    const down = () => {
      inbound.destroy()
      outbound.destroy()
    }
    inbound.once('error', down).once('close', down)
    outbound.once('error', down).once('close', down)
  })
  const listening = await listenLocal(server, port, 'the link proxy')
  return {
    port: listening,
    get cut() {
      return cut
    },
    cutOff() {
      cut = true
      for (const s of sockets) s.destroy()
    },
    heal() {
      cut = false
    },
    close: () =>
      new Promise<void>((resolve) => {
        cut = true
        for (const s of sockets) s.destroy()
        server.close(() => resolve())
      }),
  }
}

/** Starts `server` on 127.0.0.1:`port` (0: any free port) and resolves with the port it got; `what` names it in errors. */
export async function listenLocal(server: Server, port: number, what: string): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) => reject(new BenchError(BenchErrorCode.NODE_START_FAILED, `${what} cannot listen on 127.0.0.1:${port}: ${err.message}`, undefined, err)))
    server.listen(port, '127.0.0.1', () => resolve())
  })
  const address = server.address()
  if (address === null || typeof address === 'string') throw new BenchError(BenchErrorCode.NODE_START_FAILED, `${what} has no TCP address`)
  return address.port
}
