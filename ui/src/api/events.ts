import type { Notification } from './medrec.ts'

/**
 * GET /medrec/events as a stream of notifications. EventSource cannot send the bearer token, so
 * this reads the server-sent events with fetch and a ReadableStream, resumes after a dropped
 * connection from the last id it saw (`Last-Event-ID`; `since` for the first connection), and
 * stops when `signal` aborts.
 */
export async function followNotifications(token: string, onEvent: (n: Notification) => void, signal: AbortSignal, onState?: (connected: boolean) => void, since = 0): Promise<void> {
  let lastId = since
  let backoff = 1000
  while (!signal.aborted) {
    try {
      const headers: Record<string, string> = { authorization: `Bearer ${token}`, accept: 'text/event-stream' }
      if (lastId > 0) headers['last-event-id'] = String(lastId)
      const res = await fetch('/medrec/events', { headers, signal, credentials: 'omit' })
      if (!res.ok || res.body === null) throw new Error(`notifications: HTTP ${res.status}`)
      onState?.(true)
      backoff = 1000
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader()
      let buffer = ''
      for (;;) {
        const { value, done } = await reader.read()
        if (done) break
        buffer += value
        let end: number
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end)
          buffer = buffer.slice(end + 2)
          const n = parseEvent(block)
          if (n !== undefined) {
            lastId = Math.max(lastId, n.id)
            onEvent(n)
          }
        }
      }
    } catch {
      // A dropped connection or a refused one: retried below with backoff, from the last id seen.
      if (signal.aborted) return
    }
    onState?.(false)
    if (signal.aborted) return
    await new Promise((resolve) => setTimeout(resolve, backoff))
    backoff = Math.min(backoff * 2, 30_000)
  }
}

/** One event block: `id:`, `event:`, `data:` lines; comments (`: keep-alive`) are skipped. */
export function parseEvent(block: string): Notification | undefined {
  let data = ''
  for (const line of block.split('\n')) {
    if (line.startsWith('data:')) data += line.slice(5).trimStart()
  }
  if (data === '') return undefined
  try {
    const n = JSON.parse(data) as Notification
    return typeof n.id === 'number' && typeof n.kind === 'string' ? n : undefined
  } catch {
    return undefined
  }
}
