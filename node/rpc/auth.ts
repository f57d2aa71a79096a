/**
 * Who may call what on the node's JSON-RPC port: the namespaces, the one table of protected
 * methods, the JWT bearer tokens that unlock them (geth's authenticated-RPC scheme: HS256 over
 * `{"iat": now}` with a 32-byte secret), the secret file, and the Host / Origin allow-lists.
 * The server (server.ts) applies these; clients (the CLI, tests, the bench) make tokens here.
 */
import { randomBytes } from 'node:crypto'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { errorCode, errorMessage } from '../../common/errors.ts'
import { JwtSecretError, JwtSecretErrorCode, RpcError } from './errors.ts'

/** Every namespace this node serves. */
export const NAMESPACES = ['eth', 'net', 'web3', 'txpool', 'debug', 'admin', 'clique', 'miner', 'medrec', 'personal'] as const
/** `--rpc.api` default, as geth's HTTP default: read-only chain access (txpool, as in geth, only when asked). */
export const DEFAULT_APIS: readonly string[] = ['eth', 'net', 'web3']
/**
 * `--rpc.api` default with `--dev`: all of them. A dev chain is the developer's own machine and its
 * tools (the CLI's authority, peers, provider and patient commands) need the rest; what signs or
 * returns records still needs the token.
 */
export const DEV_APIS: readonly string[] = NAMESPACES
/** `--rpc.vhosts` default: names a DNS-rebinding page cannot take (stricter than geth, which also admits any IP literal). */
export const DEFAULT_VHOSTS: readonly string[] = ['localhost', '127.0.0.1', '[::1]']
/** `--ws.origins` default: no browser origin (geth admits http://localhost and the machine's hostname). */
export const DEFAULT_WS_ORIGINS: readonly string[] = []
/** The data dir's secret file, as geth's `DIR/geth/jwtsecret`. */
export const JWT_SECRET_FILE = 'jwtsecret'
/** How far a token's `iat` may be from the server's clock (geth's engine API: 60 s). */
export const IAT_LEEWAY_S = 60

// ---- who may call what: the one table ----

/**
 * Methods that sign with one of the node's keys, change what the node does, or return patient or
 * record data. Everything else in an enabled namespace (chain reads, eth_sendRawTransaction of a
 * transaction the caller signed itself) is open to any caller that passes the Host/Origin checks.
 */
const PROTECTED_NAMESPACES: ReadonlySet<string> = new Set([
  // Every medrec_* signs with the gatekeeper's account or returns records, relationships,
  // notifications, bounties or the operator's counts (medrec_gatekeeperInfo; the public part
  // of it is the gatekeeper's own GET /v1/info).
  'medrec',
  // miner_start/stop/setEtherbase change what the node does and who it pays.
  'miner',
  // admin_addPeer dials; admin_nodeInfo/admin_peers show peers' addresses.
  'admin',
])
// eth_sendTransaction, eth_signTransaction, eth_sign, personal_sign and eth_signTypedData_v4 are
// not here: they sign only with the dev mnemonic's public keys, on --dev only (dev-accounts.ts),
// which anyone can sign with anyway.
const PROTECTED_METHODS: ReadonlySet<string> = new Set([
  // Votes signed into the blocks this authority seals.
  'clique_propose',
  'clique_discard',
])
/** eth_subscribe kinds that stream protected data, and the namespace that must be enabled for them. */
const PROTECTED_SUBSCRIPTIONS: Readonly<Record<string, string>> = { medrecNotifications: 'medrec' }

export interface MethodAccess {
  /** The namespace `--rpc.api` must list. */
  namespace: string
  /** Needs a valid bearer token. */
  protected: boolean
}

export function namespaceOf(method: string): string {
  const i = method.indexOf('_')
  return i < 0 ? method : method.slice(0, i)
}

/** What calling `method` with `params` takes. */
export function accessOf(method: string, params: readonly unknown[]): MethodAccess {
  if (method === 'eth_subscribe' && typeof params[0] === 'string' && Object.hasOwn(PROTECTED_SUBSCRIPTIONS, params[0])) {
    return { namespace: PROTECTED_SUBSCRIPTIONS[params[0]]!, protected: true }
  }
  const namespace = namespaceOf(method)
  return { namespace, protected: PROTECTED_NAMESPACES.has(namespace) || PROTECTED_METHODS.has(method) }
}

/** Extra GET routes (`/medrec/events`): all carry operator or patient data; the first path segment is the namespace. */
export function accessOfRoute(path: string): MethodAccess {
  return { namespace: path.split('/')[1] ?? '', protected: true }
}

// ---- tokens ----

// jose is loaded on first use: every CLI command reaches this module (flag defaults), few make tokens.
let joseModule: Promise<typeof import('jose')> | undefined
const jose = (): Promise<typeof import('jose')> => (joseModule ??= import('jose'))

/** How to authenticate, for every refusal. */
export const AUTH_HOWTO =
  'the medrec CLI sends a token when given --datadir DIR (the node\'s data dir) or --rpc.jwtsecret FILE; ' +
  'other clients send "Authorization: Bearer <JWT>", a JWT signed with HS256 over {"iat": <unix seconds now>} ' +
  `with the 32-byte hex secret in DIR/${JWT_SECRET_FILE} (or the node's --rpc.jwtsecret file)`

/** A fresh token for `secret`: what a client sends as `Authorization: Bearer <token>` (valid ±60 s around `nowS`). */
export async function makeToken(secret: Uint8Array, nowS: number = Math.floor(Date.now() / 1000)): Promise<string> {
  const { SignJWT } = await jose()
  return new SignJWT({}).setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).setIssuedAt(nowS).sign(secret)
}

/** An `Authorization` header value with a fresh token. */
export async function bearer(secret: Uint8Array): Promise<string> {
  return `Bearer ${await makeToken(secret)}`
}

/** The refusal of a protected call that came without a token. */
export function missingToken(secret: Uint8Array | undefined): RpcError {
  if (secret === undefined) return RpcError.unauthorized('this node has no JWT secret, so nothing can authenticate: restart it (it makes DIR/jwtsecret at start) or give it --rpc.jwtsecret FILE')
  return RpcError.unauthorized(`missing token: ${AUTH_HOWTO}`)
}

/**
 * Checks an `Authorization` header value. Resolves when it holds a valid HS256 token over `secret`
 * whose `iat` is within ±60 s of now; otherwise rejects with an RpcError that says why and how to
 * authenticate.
 */
export async function verifyAuthorization(header: string | undefined, secret: Uint8Array | undefined, nowS: number = Date.now() / 1000): Promise<void> {
  if (secret === undefined || header === undefined || header === '') throw missingToken(secret)
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header)
  if (m === null) throw RpcError.unauthorized(`the Authorization header is not "Bearer <JWT>": ${AUTH_HOWTO}`)
  const token = m[1]!
  const { decodeProtectedHeader, jwtVerify } = await jose()
  let alg: unknown
  try {
    alg = decodeProtectedHeader(token).alg
  } catch (err) {
    throw RpcError.unauthorized(`invalid token (${errorMessage(err)}): ${AUTH_HOWTO}`)
  }
  // Named before jose sees it, so "none" or an RSA/ECDSA algorithm gets a plain answer.
  if (alg !== 'HS256') throw RpcError.unauthorized(`invalid token: algorithm ${JSON.stringify(alg)} is not accepted, only HS256: ${AUTH_HOWTO}`)
  let iat: unknown
  let purpose: unknown
  try {
    ;({ payload: { iat, purpose } } = await jwtVerify(token, secret, { algorithms: ['HS256'], currentDate: new Date(nowS * 1000) }))
  } catch (err) {
    throw RpcError.unauthorized(`invalid token (${errorMessage(err)}): is it signed with this node's secret? ${AUTH_HOWTO}`)
  }
  // Other tokens signed with the same secret (the UI's one-time sign-in codes, node/ui) carry a
  // purpose: a sign-in link seen in a browser's history must not work as an RPC token.
  if (purpose !== undefined) throw RpcError.unauthorized(`invalid token: it is a ${JSON.stringify(purpose)} token, not an RPC token: ${AUTH_HOWTO}`)
  if (typeof iat !== 'number') throw RpcError.unauthorized(`invalid token: it has no "iat" claim: ${AUTH_HOWTO}`)
  const skew = Math.round(iat - nowS)
  if (Math.abs(skew) > IAT_LEEWAY_S) {
    throw RpcError.unauthorized(`stale token: its "iat" is ${Math.abs(skew)} s ${skew < 0 ? 'in the past' : 'in the future'}, more than ${IAT_LEEWAY_S} s from the node's clock: make a new token for every request (and check both clocks)`)
  }
}

// ---- the secret file ----

const SECRET_HEX = /^(0x)?([0-9a-fA-F]{64})$/

export function defaultJwtSecretPath(datadir: string): string {
  return join(datadir, JWT_SECRET_FILE)
}

function parseSecret(text: string, path: string): Uint8Array {
  const m = SECRET_HEX.exec(text.trim())
  if (m === null) throw new JwtSecretError(JwtSecretErrorCode.BAD_SECRET, `${path} is not a JWT secret: expected 32 bytes as 64 hex digits (0x optional); delete it to have the node make a new one`, { path })
  return new Uint8Array(Buffer.from(m[2]!, 'hex'))
}

/** Reads a secret file (clients). */
export async function readJwtSecret(path: string): Promise<Uint8Array> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    const missing = errorCode(err) === 'ENOENT'
    throw new JwtSecretError(missing ? JwtSecretErrorCode.NO_SECRET : JwtSecretErrorCode.UNREADABLE, missing ? `no JWT secret at ${path}: the node makes DIR/${JWT_SECRET_FILE} when it starts; is this its data dir?` : `cannot read the JWT secret ${path}: ${errorMessage(err)}`, { path }, err)
  }
  return parseSecret(text, path)
}

/** The node's secret: read, or made (32 random bytes, hex as geth writes it, owner-only) when the file does not exist yet. */
export async function loadOrCreateJwtSecret(path: string): Promise<Uint8Array> {
  try {
    return await readJwtSecret(path)
  } catch (err) {
    if (!(err instanceof JwtSecretError) || err.code !== JwtSecretErrorCode.NO_SECRET) throw err
  }
  const secret = new Uint8Array(randomBytes(32))
  try {
    await writeFile(path, `0x${Buffer.from(secret).toString('hex')}`, { mode: 0o600, flag: 'wx' })
  } catch (err) {
    // Another process made it between our read and write: use theirs.
    if (errorCode(err) === 'EEXIST') return readJwtSecret(path)
    throw new JwtSecretError(JwtSecretErrorCode.UNREADABLE, `cannot write the JWT secret ${path}: ${errorMessage(err)}`, { path }, err)
  }
  return secret
}

// ---- Host and Origin ----

/** The host part of a Host header or list entry: lower case, port dropped, IPv6 in brackets. */
export function hostName(host: string): string {
  const h = host.trim().toLowerCase()
  if (h.startsWith('[')) {
    const end = h.indexOf(']')
    return end < 0 ? h : h.slice(0, end + 1)
  }
  // A bare IPv6 address (list entry) has several colons; host:port has one.
  if (h.split(':').length > 2) return `[${h}]`
  return h.split(':')[0]!
}

/** `--rpc.vhosts` check; `*` admits any Host. A request without Host is refused (browsers always send one). */
export function hostAllowed(host: string | undefined, vhosts: readonly string[]): boolean {
  if (vhosts.includes('*')) return true
  if (host === undefined || host === '') return false
  const name = hostName(host)
  return vhosts.some((v) => hostName(v) === name)
}

/**
 * `--ws.origins` / `--rpc.corsdomain` entry match, as geth's: `*` any; an entry without a scheme
 * matches any scheme, one without a port any port.
 */
export function originAllowed(origin: string, allowed: readonly string[]): boolean {
  if (allowed.includes('*')) return true
  let o: URL
  try {
    o = new URL(origin)
  } catch {
    return false
  }
  return allowed.some((entry) => {
    const e = entry.trim().toLowerCase()
    if (e === '') return false
    let rule: URL
    try {
      rule = new URL(e.includes('://') ? e : `${o.protocol}//${e}`)
    } catch {
      return false
    }
    if (rule.protocol !== o.protocol || rule.hostname !== o.hostname) return false
    return rule.port === '' || rule.port === o.port
  })
}
