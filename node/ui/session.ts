/**
 * The UI's sessions: a sign-in code (signin.ts) is exchanged once for a session token, 32 random
 * bytes the browser keeps in sessionStorage and sends as `Authorization: Bearer`. Tokens live
 * only in this process's memory (a restart signs everyone out), keyed by their SHA-256 so a
 * lookup's timing says nothing about a stored token. Used codes are remembered until they would
 * have expired anyway.
 */
import { createHash, randomBytes } from 'node:crypto'
import { SIGNIN_TTL_S, type SigninClaims } from './signin.ts'
import { UiError, UiErrorCode } from './errors.ts'

/** How long a session lasts. */
export const SESSION_TTL_MS = 12 * 60 * 60 * 1000
/** Most sessions at once: each sign-in needs a fresh code, so this is far above any real use. */
const MAX_SESSIONS = 1024

export interface Session {
  /** ms since the epoch. */
  expires: number
}

export interface Sessions {
  /** Consumes a verified code (refused when used before) and opens a session: its token. */
  open(code: SigninClaims): { token: string; session: Session }
  /** The session of an `Authorization` header value, if it is a live one. */
  get(authorization: string | undefined): Session | undefined
  /** Ends the session of an `Authorization` header value; whether there was one. */
  close(authorization: string | undefined): boolean
}

const digest = (token: string): string => createHash('sha256').update(token).digest('hex')

/** The token of a `Bearer <hex>` header value. */
function tokenOf(authorization: string | undefined): string | undefined {
  const m = /^Bearer\s+([0-9a-f]{64})\s*$/i.exec(authorization ?? '')
  return m === null ? undefined : m[1]!.toLowerCase()
}

export function createSessions(opts: { ttlMs?: number; now?: () => number } = {}): Sessions {
  const ttlMs = opts.ttlMs ?? SESSION_TTL_MS
  const now = opts.now ?? Date.now
  const sessions = new Map<string, Session>()
  /** jti → when it may be forgotten (ms). */
  const used = new Map<string, number>()

  const prune = (): void => {
    const t = now()
    for (const [k, s] of sessions) if (s.expires <= t) sessions.delete(k)
    for (const [jti, until] of used) if (until <= t) used.delete(jti)
  }

  return {
    open(code) {
      prune()
      if (used.has(code.jti)) throw new UiError(UiErrorCode.CODE_USED, 'this sign-in link was used already (each works once): run `medrec ui signin --datadir DIR` on the node\'s machine for a new link')
      // Past its expiry (plus clock slack) the code is refused for its age, so it can be forgotten.
      used.set(code.jti, (code.iat + SIGNIN_TTL_S + 120) * 1000)
      // Oldest first (a Map keeps insertion order).
      while (sessions.size >= MAX_SESSIONS) sessions.delete(sessions.keys().next().value!)
      const token = randomBytes(32).toString('hex')
      const session = { expires: now() + ttlMs }
      sessions.set(digest(token), session)
      return { token, session }
    },
    get(authorization) {
      const token = tokenOf(authorization)
      if (token === undefined) return undefined
      const s = sessions.get(digest(token))
      if (s === undefined) return undefined
      if (s.expires <= now()) {
        sessions.delete(digest(token))
        return undefined
      }
      return s
    },
    close(authorization) {
      const token = tokenOf(authorization)
      return token !== undefined && sessions.delete(digest(token))
    },
  }
}
