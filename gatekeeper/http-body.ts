import type { IncomingMessage } from 'node:http'

/**
 * A request body as text, read to its end but kept only up to `max` bytes: undefined when it was
 * longer (the caller refuses it). The one bounded reader of the gatekeeper's HTTP routes.
 */
export function readBody(req: IncomingMessage, max: number): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    req.on('data', (c: Buffer) => {
      size += c.length
      if (size <= max) chunks.push(c)
    })
    req.on('end', () => resolve(size > max ? undefined : Buffer.concat(chunks).toString('utf8')))
    req.on('error', reject)
  })
}
