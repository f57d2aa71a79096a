import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { createLogger, errorCode, errorMessage } from '../../common/index.ts'
import { NodeError, NodeErrorCode } from '../config/index.ts'
import type { BlockEvent } from './blocks.ts'
import { CONTENT_TYPE } from './registry.ts'

const log = createLogger('metrics')

export interface MetricsServer {
  /** `http://host:port/metrics`, with the port actually bound (for port 0). */
  readonly url: string
  close(): Promise<void>
}

/**
 * Serves `GET /metrics` (HEAD too) with what `read.metrics` resolves to and `GET /blocks` with
 * `read.blocks` as JSON (blocks.ts); 404 on any other path, 405 for other methods. A port in use
 * is a NodeError naming --metrics.port.
 */
export async function startMetricsServer(listen: { addr: string; port: number }, read: { metrics: () => Promise<string>; blocks?: () => readonly BlockEvent[] }): Promise<MetricsServer> {
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const path = new URL(req.url ?? '/', 'http://metrics').pathname
    const reply = (status: number, body: string, headers: Record<string, string> = {}) => {
      res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(body), ...headers })
      res.end(body)
    }
    const blocks = read.blocks
    if (path !== '/metrics' && !(path === '/blocks' && blocks !== undefined)) return reply(404, `no route ${path}: metrics are at /metrics\n`)
    if (req.method !== 'GET' && req.method !== 'HEAD') return reply(405, `use GET ${path}\n`, { Allow: 'GET, HEAD' })
    if (path === '/blocks') return reply(200, JSON.stringify(blocks!()), { 'Content-Type': 'application/json' })
    read.metrics().then(
      (body) => reply(200, body, { 'Content-Type': CONTENT_TYPE }),
      (err: unknown) => {
        log.warn('Metrics render failed', undefined, errorMessage(err))
        reply(500, 'metrics could not be rendered: see the node log\n')
      },
    )
  })
  server.headersTimeout = 10_000
  server.requestTimeout = 10_000
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(listen.port, listen.addr, () => {
        server.off('error', reject)
        resolve()
      })
    })
  } catch (err) {
    if (errorCode(err) === 'EADDRINUSE') {
      throw new NodeError(NodeErrorCode.METRICS_PORT_IN_USE, `metrics port ${listen.addr}:${listen.port} is already in use: stop the other process or pass --metrics.port`, undefined, err)
    }
    throw new NodeError(NodeErrorCode.METRICS_LISTEN_FAILED, `cannot serve metrics on ${listen.addr}:${listen.port}: ${errorMessage(err)} (check --metrics.addr)`, undefined, err)
  }
  server.on('error', (err) => log.error('Metrics server error', undefined, err))
  const { address, port } = server.address() as AddressInfo
  const url = `http://${address.includes(':') ? `[${address}]` : address}:${port}/metrics`
  log.info('Prometheus metrics listening', { url })
  return {
    url,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve())
        // A scraper's keep-alive connection must not hold the shutdown.
        server.closeAllConnections()
      }),
  }
}
