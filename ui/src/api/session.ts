import type { NodeSession, Role } from './types.ts'
import { requestJson } from './http.ts'

/** sessionStorage: per origin and per tab, gone when the tab closes; only the node session's token is kept (never a browser key). */
const STORAGE_KEY = 'medrec.session'

interface SessionReply {
  token?: string
  expires: number | string
  account: string
  chainId: number
  roles: Role[]
}

function toSession(r: SessionReply, token: string): NodeSession {
  const expires = typeof r.expires === 'number' ? r.expires : Date.parse(r.expires)
  return { kind: 'node', token, expires, account: r.account, chainId: r.chainId, roles: r.roles }
}

/** The one-time code in `#signin=<code>`, removed from the address bar (and history) at once. */
export function takeSigninCode(): string | undefined {
  const m = /(?:^#|&)signin=([^&]+)/.exec(location.hash)
  if (m === null) return undefined
  history.replaceState(null, '', location.pathname + location.search)
  return decodeURIComponent(m[1]!)
}

/** Exchanges the one-time code for a session token (POST /api/session). */
export async function signInWithCode(code: string): Promise<NodeSession> {
  const r = await requestJson<SessionReply>('/api/session', { method: 'POST', body: { code } })
  if (typeof r.token !== 'string') throw new Error('the node answered the sign-in without a session token')
  const s = toSession(r, r.token)
  sessionStorage.setItem(STORAGE_KEY, s.token)
  return s
}

/** The session this tab signed in earlier, if the server still knows its token. */
export async function resumeSession(): Promise<NodeSession | undefined> {
  const token = sessionStorage.getItem(STORAGE_KEY)
  if (token === null) return undefined
  try {
    return toSession(await requestJson<SessionReply>('/api/session', { token }), token)
  } catch {
    sessionStorage.removeItem(STORAGE_KEY)
    return undefined
  }
}

export async function signOut(token: string): Promise<void> {
  sessionStorage.removeItem(STORAGE_KEY)
  await requestJson('/api/session', { method: 'DELETE', token })
}

/** The node's key figures (GET /api/metrics), for the operator screen. */
export interface MetricsSample {
  t: number
  [figure: string]: number
}
export async function metrics(token: string): Promise<{ interval: number; samples: MetricsSample[] }> {
  return requestJson('/api/metrics', { token })
}
