/**
 * A SMART App Launch as a public client runs it, for the gatekeeper bench: register the app in
 * the node's state.sqlite (as `medrec gatekeeper add-client` does), authorize with PKCE, sign the
 * EIP-4361 message the page shows, redeem the code. Returns the access token response.
 */
import { createHash, randomBytes } from 'node:crypto'
import { join } from 'node:path'
import type { LocalAccount } from 'viem/accounts'
import { createSmartClients } from '../../gatekeeper/smart/index.ts'
import { openStateDb } from '../../gatekeeper/state.ts'

export interface HttpsGet {
  (method: 'GET' | 'POST', url: string, headers: Record<string, string>, body?: string): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; text: string }>
}

const REDIRECT = 'http://127.0.0.1:9/bench-callback'

export function registerBenchClient(datadir: string, clientId: string): void {
  const db = openStateDb(join(datadir, 'gatekeeper', 'state.sqlite'))
  try {
    if (createSmartClients(db).get(clientId) === undefined) createSmartClients(db).add({ clientId, name: 'bench', redirectUris: [REDIRECT] })
  } finally {
    db.close()
  }
}

export async function smartLaunch(o: { base: string; clientId: string; account: LocalAccount; scope: string; send: HttpsGet }): Promise<{ access_token: string; patient: string; scope: string }> {
  const verifier = randomBytes(32).toString('base64url')
  const challenge = createHash('sha256').update(verifier).digest('base64url')
  const q = new URLSearchParams({ response_type: 'code', client_id: o.clientId, redirect_uri: REDIRECT, scope: o.scope, state: 'bench', aud: `${o.base}/fhir`, code_challenge: challenge, code_challenge_method: 'S256' })
  const page = await o.send('GET', `${o.base}/oauth/authorize?${q}`, {})
  const requestId = /name="request" value="([^"]+)"/.exec(page.text)?.[1]
  const data = /<script type="application\/json" id="siwe">([^<]*)<\/script>/.exec(page.text)?.[1]
  if (requestId === undefined || data === undefined) throw new Error(`the authorization page did not come (HTTP ${page.status})`)
  const d = JSON.parse(data) as { message: string; placeholder: string }
  const message = d.message.replace(d.placeholder, o.account.address)
  const signature = await o.account.signMessage({ message })
  const form = { 'content-type': 'application/x-www-form-urlencoded' }
  const signed = await o.send('POST', `${o.base}/oauth/authorize`, form, new URLSearchParams({ request: requestId, message, signature }).toString())
  const location = String(signed.headers.location ?? '')
  const code = location === '' ? null : new URL(location).searchParams.get('code')
  if (code === null) throw new Error(`no authorization code (HTTP ${signed.status} ${location})`)
  const tok = await o.send('POST', `${o.base}/oauth/token`, form, new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: REDIRECT, client_id: o.clientId, code_verifier: verifier }).toString())
  if (tok.status !== 200) throw new Error(`no token (HTTP ${tok.status}: ${tok.text})`)
  return JSON.parse(tok.text) as { access_token: string; patient: string; scope: string }
}
