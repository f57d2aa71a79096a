import { createServer, type Server } from 'node:net'

/** `count` distinct free TCP ports on 127.0.0.1, held open together so none repeats, then released. */
export async function freePorts(count: number): Promise<number[]> {
  const servers: Server[] = []
  try {
    for (let i = 0; i < count; i++) {
      const s = createServer()
      servers.push(s)
      await new Promise<void>((resolve, reject) => {
        s.once('error', reject)
        s.listen(0, '127.0.0.1', () => resolve())
      })
    }
    return servers.map((s) => (s.address() as { port: number }).port)
  } finally {
    await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))))
  }
}
