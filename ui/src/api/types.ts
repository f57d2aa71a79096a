// Who is signed in: the node's account through the UI server's session, or a key held in this tab.

/** Which screens make sense for a node (the server's `roles`); the app may still show all. */
export type Role = 'patient' | 'provider' | 'operator' | 'researcher'

/** Signed in with the node's own account: the server's session token (sessionStorage, this tab only). */
export interface NodeSession {
  kind: 'node'
  token: string
  /** Unix milliseconds. */
  expires: number
  account: string
  chainId: number
  roles: Role[]
}

/** A key held only in this tab's memory (restored from a recovery phrase or a keystore file); never sent anywhere. */
export interface BrowserSession {
  kind: 'browser'
  account: `0x${string}`
  privateKey: `0x${string}`
  chainId: number
  source: 'recovery phrase' | 'keystore file'
}

export type Session = NodeSession | BrowserSession
