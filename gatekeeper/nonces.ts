import type { DatabaseSync } from 'node:sqlite'
import { GatekeeperError, GatekeeperErrorCode } from './errors.ts'

/**
 * Single use of request nonces, persisted so a restart still refuses a replay. Keyed by
 * (requester, nonce): only verified requests reach the store, so nobody can burn another
 * account's nonces. An entry is needed only until its request expires (the verifier refuses
 * expired requests and lifetimes above its maximum), which is what `prune` relies on.
 */
export interface NonceStore {
  /** Marks the nonce used; throws REPLAYED when this requester used it already. Atomic across connections. */
  use(requester: string, nonce: string, expiresAt: number): void
  /** Drops entries whose request expired before `now` (unix seconds); returns how many. */
  prune(now: number): number
  /** How many nonces are held. */
  count(): number
}

const NONCE = /^0x[0-9a-f]{64}$/
const ADDRESS = /^0x[0-9a-f]{40}$/

export function createNonceStore(db: DatabaseSync): NonceStore {
  db.exec(`CREATE TABLE IF NOT EXISTS request_nonces (
    requester TEXT NOT NULL,
    nonce TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (requester, nonce)
  ) STRICT, WITHOUT ROWID;
  CREATE INDEX IF NOT EXISTS request_nonces_expiry ON request_nonces(expires_at);`)
  // ON CONFLICT DO NOTHING + changes: the check and the insert are one statement, so two
  // connections racing on the same nonce cannot both see it unused.
  const insert = db.prepare('INSERT INTO request_nonces (requester, nonce, expires_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING')
  const prune = db.prepare('DELETE FROM request_nonces WHERE expires_at < ?')
  const count = db.prepare('SELECT COUNT(*) AS n FROM request_nonces')
  return {
    use(requester, nonce, expiresAt) {
      // Hex is case-insensitive: normalise so 0xAB… and 0xab… are the same nonce.
      const who = requester.toLowerCase()
      const n = nonce.toLowerCase()
      if (!ADDRESS.test(who)) throw new GatekeeperError(GatekeeperErrorCode.BAD_REQUEST, `a nonce belongs to a requester address (0x + 40 hex), got ${JSON.stringify(requester.slice(0, 60))}`)
      if (!NONCE.test(n)) throw new GatekeeperError(GatekeeperErrorCode.BAD_REQUEST, `a nonce is 32 bytes as 0x + 64 hex, got ${JSON.stringify(nonce.slice(0, 80))}`)
      if (!Number.isSafeInteger(expiresAt)) throw new GatekeeperError(GatekeeperErrorCode.BAD_REQUEST, `expiresAt must be an integer of unix seconds, got ${expiresAt}`)
      const { changes } = insert.run(who, n, expiresAt)
      if (Number(changes) === 0) {
        throw new GatekeeperError(GatekeeperErrorCode.REPLAYED, `nonce ${n} of ${who} was already used: sign a new request with a fresh random nonce`, { requester: who })
      }
    },
    prune: (now) => Number(prune.run(now).changes),
    count: () => Number((count.get() as { n: number | bigint }).n),
  }
}
