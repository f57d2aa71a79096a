/**
 * The UI's one-time sign-in codes (node/ui's light face: `medrec ui signin` and `medrec start`
 * make them without loading the server). A code is a JWT HS256 over
 * `{purpose: 'ui-signin', jti, iat}` signed with the node's JWT secret (DIR/jwtsecret), so whoever
 * can read the data dir can make one and nobody else can; it is good for 5 minutes and once.
 * It travels in the link's fragment (`#signin=`), which browsers never send to a server or put
 * in a Referer. The RPC refuses it as a bearer token (node/rpc/auth.ts: tokens with a purpose).
 */
import { randomBytes } from 'node:crypto'
import { readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { errorMessage } from '../../common/errors.ts'
import { UiError, UiErrorCode } from './errors.ts'

export const SIGNIN_PURPOSE = 'ui-signin'
/** How long a sign-in code is good for. */
export const SIGNIN_TTL_S = 300
/** What every refusal of a code tells the person to do. */
export const SIGNIN_HOWTO = 'run `medrec ui signin --datadir DIR` on the node\'s machine for a new link'

let joseModule: Promise<typeof import('jose')> | undefined
const jose = (): Promise<typeof import('jose')> => (joseModule ??= import('jose'))

/** Loads the JWT library ahead of the first code (`medrec start` does it while the node starts, so its banner is not held up). */
export async function loadSignin(): Promise<void> {
  await jose()
}

/** A fresh sign-in code for `secret` (the node's JWT secret). */
export async function makeSigninCode(secret: Uint8Array, nowS: number = Math.floor(Date.now() / 1000)): Promise<string> {
  const { SignJWT } = await jose()
  return new SignJWT({ purpose: SIGNIN_PURPOSE })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setJti(randomBytes(16).toString('hex'))
    .setIssuedAt(nowS)
    .sign(secret)
}

/** The link a person opens: the UI's URL with the code in the fragment. */
export function signinLink(uiUrl: string, code: string): string {
  const u = new URL(uiUrl)
  u.hash = `signin=${code}`
  return u.toString()
}

/**
 * DIR/ui.url: the URL the running node's UI listens on, written once it listens and removed at
 * stop, so `medrec ui signin --datadir DIR` links to the right port (`--ui.port 0` picks any).
 */
export const UI_URL_FILE = 'ui.url'

export async function writeUiUrl(datadir: string, url: string): Promise<void> {
  await writeFile(join(datadir, UI_URL_FILE), `${url}\n`)
}

export async function removeUiUrl(datadir: string): Promise<void> {
  await rm(join(datadir, UI_URL_FILE), { force: true })
}

/** The URL a node running on `datadir` recorded, or undefined when none is running there (or it is not a URL). */
export async function readUiUrl(datadir: string): Promise<string | undefined> {
  try {
    const url = (await readFile(join(datadir, UI_URL_FILE), 'utf8')).trim()
    return URL.canParse(url) ? url : undefined
  } catch {
    return undefined
  }
}

export interface SigninClaims {
  jti: string
  iat: number
}

/**
 * Checks a code's signature, purpose and age (issued within the last 5 minutes, not in the
 * future beyond 60 s of clock skew, and not before `notBeforeS`: the server's start, so a code
 * used before a restart cannot be used again after it). Single use is the caller's (it keeps
 * the used `jti`s). Throws a UiError naming the problem and the fix.
 */
export async function verifySigninCode(code: string, secret: Uint8Array, opts: { nowS?: number; notBeforeS?: number } = {}): Promise<SigninClaims> {
  const nowS = opts.nowS ?? Date.now() / 1000
  const { jwtVerify } = await jose()
  let payload: Record<string, unknown>
  try {
    ;({ payload } = await jwtVerify(code, secret, { algorithms: ['HS256'], currentDate: new Date(nowS * 1000) }))
  } catch (err) {
    throw new UiError(UiErrorCode.BAD_CODE, `this sign-in code is not valid for this node (${errorMessage(err)}): ${SIGNIN_HOWTO}`)
  }
  const { purpose, jti, iat } = payload
  if (purpose !== SIGNIN_PURPOSE || typeof jti !== 'string' || jti === '' || typeof iat !== 'number') {
    throw new UiError(UiErrorCode.BAD_CODE, `this is not a UI sign-in code: ${SIGNIN_HOWTO}`)
  }
  if (iat > nowS + 60) throw new UiError(UiErrorCode.BAD_CODE, `this sign-in code is dated ${Math.round(iat - nowS)} s in the future (check the clock): ${SIGNIN_HOWTO}`)
  if (nowS - iat > SIGNIN_TTL_S) throw new UiError(UiErrorCode.CODE_EXPIRED, `this sign-in code expired (codes are good for ${SIGNIN_TTL_S / 60} minutes): ${SIGNIN_HOWTO}`)
  if (opts.notBeforeS !== undefined && iat < opts.notBeforeS) throw new UiError(UiErrorCode.CODE_EXPIRED, `this sign-in code was made before the node restarted: ${SIGNIN_HOWTO}`)
  return { jti, iat }
}
