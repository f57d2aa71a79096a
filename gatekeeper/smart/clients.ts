import { randomBytes } from 'node:crypto'
import type { DatabaseSync } from 'node:sqlite'
import { GatekeeperError, GatekeeperErrorCode } from '../errors.ts'

/**
 * The SMART apps this gatekeeper knows: public clients (no secret; PKCE proves the code's
 * redeemer) with the exact redirect URIs they may receive codes at. Kept in the gatekeeper's
 * state.sqlite and read at every authorization, so `medrec gatekeeper add-client` works while
 * the node runs (SQLite's WAL lets both processes use the file).
 */
export interface SmartClient {
  clientId: string
  name: string
  redirectUris: string[]
  /** Unix milliseconds. */
  createdAt: number
}

export interface SmartClients {
  add(input: { name?: string; redirectUris: readonly string[]; clientId?: string }): SmartClient
  get(clientId: string): SmartClient | undefined
  list(): SmartClient[]
  /** true when it existed. */
  remove(clientId: string): boolean
}

const CLIENT_ID = /^[A-Za-z0-9._~-]{4,128}$/

/**
 * A redirect URI a client may register: absolute, no fragment (RFC 6749 3.1.2), https, or http
 * only to a loopback host (a native app or a developer's machine, RFC 8252 7.3).
 */
export function checkRedirectUri(uri: string): string {
  let u: URL
  try {
    u = new URL(uri)
  } catch {
    throw new GatekeeperError(GatekeeperErrorCode.BAD_REQUEST, `redirect URI "${uri.slice(0, 200)}" is not an absolute URL: give the app's full callback, e.g. https://app.example/callback`)
  }
  if (u.hash !== '' || uri.includes('#')) throw new GatekeeperError(GatekeeperErrorCode.BAD_REQUEST, `redirect URI ${uri} has a fragment: RFC 6749 forbids one; drop the #…`)
  const loopback = u.hostname === 'localhost' || u.hostname === '127.0.0.1' || u.hostname === '[::1]'
  if (u.protocol !== 'https:' && !(u.protocol === 'http:' && loopback)) {
    throw new GatekeeperError(GatekeeperErrorCode.BAD_REQUEST, `redirect URI ${uri} must be https (http only to localhost, 127.0.0.1 or [::1]): a code sent in clear could be taken on the way`)
  }
  if (uri.length > 2000) throw new GatekeeperError(GatekeeperErrorCode.BAD_REQUEST, 'a redirect URI is at most 2000 characters')
  return uri
}

export function createSmartClients(db: DatabaseSync): SmartClients {
  db.exec(`CREATE TABLE IF NOT EXISTS smart_clients (
    client_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    redirect_uris TEXT NOT NULL,
    created_at INTEGER NOT NULL
  ) STRICT;`)
  const insert = db.prepare('INSERT INTO smart_clients (client_id, name, redirect_uris, created_at) VALUES (?, ?, ?, ?)')
  const byId = db.prepare('SELECT client_id, name, redirect_uris, created_at FROM smart_clients WHERE client_id = ?')
  const all = db.prepare('SELECT client_id, name, redirect_uris, created_at FROM smart_clients ORDER BY created_at, client_id')
  const del = db.prepare('DELETE FROM smart_clients WHERE client_id = ?')
  type Row = { client_id: string; name: string; redirect_uris: string; created_at: number }
  const toClient = (r: Row): SmartClient => ({ clientId: r.client_id, name: r.name, redirectUris: JSON.parse(r.redirect_uris) as string[], createdAt: Number(r.created_at) })
  return {
    add(input) {
      if (input.redirectUris.length === 0) throw new GatekeeperError(GatekeeperErrorCode.BAD_REQUEST, 'a client needs at least one redirect URI (--redirect-uri URL)')
      const uris = [...new Set(input.redirectUris.map(checkRedirectUri))]
      const clientId = input.clientId ?? `smart-${randomBytes(12).toString('base64url')}`
      if (!CLIENT_ID.test(clientId)) throw new GatekeeperError(GatekeeperErrorCode.BAD_REQUEST, `client id "${clientId.slice(0, 140)}" must be 4-128 characters of A-Z a-z 0-9 . _ ~ -`)
      const name = (input.name ?? clientId).slice(0, 200)
      const createdAt = Date.now()
      try {
        insert.run(clientId, name, JSON.stringify(uris), createdAt)
      } catch {
        throw new GatekeeperError(GatekeeperErrorCode.BAD_REQUEST, `client id ${clientId} is already registered: pick another or remove it first`)
      }
      return { clientId, name, redirectUris: uris, createdAt }
    },
    get(clientId) {
      if (!CLIENT_ID.test(clientId)) return undefined
      const r = byId.get(clientId) as Row | undefined
      return r === undefined ? undefined : toClient(r)
    },
    list: () => (all.all() as Row[]).map(toClient),
    remove: (clientId) => Number(del.run(clientId).changes) > 0,
  }
}
