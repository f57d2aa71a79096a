import type { EncryptedPayload, PointerRecords } from './types.ts'

// The shapes a gatekeeper answers with, as both its server (serve.ts) and every requester (the
// node's requester.ts and the browser app, through fetch-records.ts) read them. Types only.

/** What every transport sends back: an HTTP-like status and a JSON body, whose error code is the wire code (`wireCode`: FORBIDDEN, not GATEKEEPER_FORBIDDEN). */
export interface GatekeeperReply {
  status: number
  body: { ok: true; encrypted: EncryptedPayload } | { ok: false; error: { code: string; message: string; retryAfter?: number } }
  /** RATE_LIMITED: seconds until the requester may try again (HTTP Retry-After). */
  retryAfter?: number
  /** A relayed reply: `body` exactly as the delegate's gatekeeper sent it, to be passed on unchanged. */
  raw?: Uint8Array
}

/** The decrypted body of a records reply. */
export interface RecordsPayload {
  method: 'records'
  gatekeeper: string
  relationship: string
  servedAt: number
  pointers: PointerRecords[]
}
