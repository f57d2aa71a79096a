import type { Notification } from '../../gatekeeper/api.ts'
import { errorMessage } from '../../common/errors.ts'
import { parseInteger } from '../args.ts'
import { CliError, CliErrorCode, usageError } from '../errors.ts'
import { note, out } from '../io.ts'
import { RPC_FLAGS, RPC_URL, callNode, nodeAuthHeaders } from '../rpc-client.ts'
import type { CommandSpec, ParsedFlags } from '../types.ts'
import { JSON_OUT, isoTimeMs } from './shared.ts'

/**
 * `medrec watch`: the node's gatekeeper notifications as they happen, read as Server-Sent Events
 * from `GET <rpc>/medrec/events`. Reconnects as an EventSource does, resuming after the last id
 * seen, so a node restart loses nothing; Ctrl-C ends it with status 0.
 */

export interface SseEvent {
  /** `message` when the stream names none. */
  event: string
  data: string
  id?: string
  /** Reconnection delay the server asks for, ms. */
  retry?: number
}

/**
 * An incremental text/event-stream parser (WHATWG HTML §9.2.6): feed it chunks as they arrive,
 * it calls `onEvent` per complete event. Comments (`:` lines, keep-alives) are skipped.
 */
export function createSseParser(onEvent: (e: SseEvent) => void): { push(chunk: string): void } {
  let buf = ''
  let data: string[] = []
  let event = ''
  let id: string | undefined
  let retry: number | undefined
  const line = (l: string) => {
    if (l === '') {
      if (data.length > 0) onEvent({ event: event === '' ? 'message' : event, data: data.join('\n'), ...(id === undefined ? {} : { id }), ...(retry === undefined ? {} : { retry }) })
      data = []
      event = ''
      retry = undefined
      return
    }
    if (l.startsWith(':')) return
    const colon = l.indexOf(':')
    const field = colon === -1 ? l : l.slice(0, colon)
    let value = colon === -1 ? '' : l.slice(colon + 1)
    if (value.startsWith(' ')) value = value.slice(1)
    if (field === 'data') data.push(value)
    else if (field === 'event') event = value
    else if (field === 'id' && !value.includes('\0')) id = value
    else if (field === 'retry' && /^[0-9]+$/.test(value)) retry = Number(value)
  }
  return {
    push(chunk: string) {
      buf += chunk
      for (;;) {
        const m = /\r\n|\r|\n/.exec(buf)
        // A lone \r at the end may be the first half of \r\n: wait for the next chunk.
        if (m === null || (m[0] === '\r' && m.index === buf.length - 1)) return
        const l = buf.slice(0, m.index)
        buf = buf.slice(m.index + m[0].length)
        line(l)
      }
    },
  }
}

/** `<rpc-url>/medrec/events`, keeping any path the RPC URL has. */
export function eventsUrl(rpc: string, since: number | undefined): URL {
  let u: URL
  try {
    u = new URL(rpc)
  } catch {
    throw usageError(`invalid value for --rpc: expected an http(s) URL, got "${rpc}"`)
  }
  u.pathname = `${u.pathname.replace(/\/+$/, '')}/medrec/events`
  if (since !== undefined) u.searchParams.set('since', String(since))
  return u
}

function isNotification(v: unknown): v is Notification {
  const n = v as Partial<Notification> | null
  return n !== null && typeof n === 'object' && typeof n.id === 'number' && typeof n.kind === 'string'
}

/** One notification as a line; its time is unix milliseconds (the watch service's Date.now()). */
export function formatNotification(n: Notification): string {
  return `${isoTimeMs(n.time)}  #${n.id}  ${n.kind}  ${n.relationship}  ${n.message}`
}

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    const t = setTimeout(resolve, ms)
    signal.addEventListener('abort', () => {
      clearTimeout(t)
      resolve()
    }, { once: true })
  })

/**
 * An account without a Summary (no identity registered) is notified of nothing: say so and how
 * to fix it up front, instead of a silent stream. Other failures surface on the stream itself.
 */
async function warnWithoutSummary(flags: ParsedFlags): Promise<void> {
  try {
    await callNode(flags, 'medrec_relationships', [])
  } catch (err) {
    const message = errorMessage(err)
    if (message.includes('has no Summary')) note(`Nothing will arrive yet: ${message.replace(/^medrec_relationships failed: /, '').replace(/ \(code -?\d+\)$/, '')}`)
  }
}

async function watch(flags: ParsedFlags, signal: AbortSignal): Promise<void> {
  const json = flags.boolean('json')
  const rpc = flags.string('rpc') ?? RPC_URL.default
  const sinceFlag = flags.string('since')
  let last = sinceFlag === undefined ? undefined : Number(parseInteger(sinceFlag, 'since', 0n, BigInt(Number.MAX_SAFE_INTEGER)))
  eventsUrl(rpc, undefined) // a bad --rpc is a usage error before anything else
  // Checked before anything is sent: the stream carries patient notifications.
  await nodeAuthHeaders(flags, { name: 'watching /medrec/events', protected: true })

  const show = (n: Notification) => {
    // Replays after a reconnect may repeat what was printed: ids only grow, so skip those.
    if (last !== undefined && n.id <= last) return
    last = n.id
    out(json ? JSON.stringify(n) : formatNotification(n))
  }
  await warnWithoutSummary(flags)
  if (last !== undefined) {
    const missed = (await callNode(flags, 'medrec_notifications', [{ since: last }])) as Notification[]
    for (const n of missed) show(n)
  }

  let connected = false
  let delay = 1000
  while (!signal.aborted) {
    const url = eventsUrl(rpc, last)
    let res: Response
    // A fresh token for every (re)connection: a token is only good for ±60 s.
    const auth = await nodeAuthHeaders(flags, { name: 'watching /medrec/events', protected: true })
    try {
      res = await fetch(url, { headers: { accept: 'text/event-stream', ...auth, ...(last === undefined ? {} : { 'last-event-id': String(last) }) }, signal })
    } catch (err) {
      if (signal.aborted) return
      if (!connected) throw new CliError(CliErrorCode.RPC, `cannot reach a node at ${rpc} (${errorMessage(err)}): is it running? Pass its endpoint with --rpc URL`)
      note(`Connection to ${rpc} failed (${errorMessage(err)}); retrying in ${Math.round(delay / 1000)} s`)
      await sleep(delay, signal)
      delay = Math.min(delay * 2, 30_000)
      continue
    }
    const type = res.headers.get('content-type') ?? ''
    if (!res.ok || !type.startsWith('text/event-stream')) {
      const refusal = res.status === 401 || res.status === 403 || res.status === 404 ? (await res.text()).trim() : ''
      await res.body?.cancel().catch(() => undefined)
      const why =
        res.status === 401 ? `the node refused the token: ${refusal}` :
        res.status === 403 ? refusal :
        res.status === 404 ? `it has no /medrec/events: is the gatekeeper enabled on this node? Is "medrec" in its --rpc.api?${refusal === '' ? '' : ` (${refusal})`}` :
        `it answered HTTP ${res.status}${res.ok ? ` with ${type || 'no content type'}` : ''}, not an event stream`
      throw new CliError(CliErrorCode.RPC, `cannot watch ${url.origin}${url.pathname}: ${why}`)
    }
    if (!connected) note(`Watching ${rpc} for notifications (Ctrl-C to stop)`)
    connected = true
    delay = 1000
    const parser = createSseParser((e) => {
      if (e.retry !== undefined) delay = e.retry
      if (e.event !== 'notification' && e.event !== 'message') return
      let n: unknown
      try {
        n = JSON.parse(e.data)
      } catch {
        return note(`Skipped an event that is not JSON: ${e.data.slice(0, 80)}`)
      }
      if (isNotification(n)) show(n)
      else note(`Skipped an event that is not a notification: ${e.data.slice(0, 80)}`)
    })
    const decoder = new TextDecoder()
    try {
      for await (const chunk of res.body as AsyncIterable<Uint8Array>) parser.push(decoder.decode(chunk, { stream: true }))
    } catch (err) {
      if (signal.aborted) return
      note(`Connection to ${rpc} lost (${errorMessage(err)}); reconnecting in ${Math.round(delay / 1000)} s`)
      await sleep(delay, signal)
      continue
    }
    if (signal.aborted) return
    note(`The node closed the event stream; reconnecting in ${Math.round(delay / 1000)} s`)
    await sleep(delay, signal)
  }
}

export const watchCommand: CommandSpec = {
  kind: 'command',
  path: 'watch',
  summary: 'print the gatekeeper\'s notifications as they arrive',
  usage: 'watch [--since ID] (--datadir DIR | --rpc.jwtsecret FILE) [--rpc URL] [--json]',
  description: [
    'Streams the node\'s gatekeeper notifications (new relationships, pending updates, grants,',
    'records fetched or tampered), one line each, from the Server-Sent Events at',
    '<rpc>/medrec/events. --since ID first prints the notifications after ID (medrec_notifications).',
    'Reconnects after a dropped connection without repeating or losing any; Ctrl-C stops it.',
  ].join('\n'),
  flags: [
    { name: 'since', kind: 'string', placeholder: 'ID', default: 'only new ones', description: 'also print the notifications after this id' },
    ...RPC_FLAGS,
    { ...JSON_OUT, description: 'print one JSON object per line' },
  ],
  async run(flags) {
    const controller = new AbortController()
    const stop = () => controller.abort()
    process.once('SIGINT', stop)
    process.once('SIGTERM', stop)
    try {
      await watch(flags, controller.signal)
    } finally {
      process.off('SIGINT', stop)
      process.off('SIGTERM', stop)
    }
  },
}
