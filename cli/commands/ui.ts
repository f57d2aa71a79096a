import { resolve } from 'node:path'
import { DEFAULT_UI, DEV_DATADIR } from '../../node/config/index.ts'
import { JWT_SECRET_FILE, JwtSecretError, defaultJwtSecretPath, readJwtSecret } from '../../node/rpc/access.ts'
import { SIGNIN_TTL_S, makeSigninCode, readUiUrl, signinLink } from '../../node/ui/signin.ts'
import { CliError, CliErrorCode, usageError } from '../errors.ts'
import { out, outJson } from '../io.ts'
import type { CommandSpec, GroupSpec, ParsedFlags } from '../types.ts'
import { JSON_OUT } from './shared.ts'

const DEFAULT_UI_URL = `http://${DEFAULT_UI.addr}:${DEFAULT_UI.port}/`

/**
 * `medrec ui signin`: a fresh one-time sign-in link for the node's UI. Whoever can read the data
 * dir's JWT secret may sign in; the link is the deliberate step a browser page cannot take.
 */
async function signin(flags: ParsedFlags): Promise<void> {
  const datadir = resolve(flags.string('datadir') ?? DEV_DATADIR)
  const base = flags.string('ui.url') ?? (await readUiUrl(datadir)) ?? DEFAULT_UI_URL
  let url: URL
  try {
    url = new URL(base)
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('not http(s)')
  } catch {
    throw usageError(`invalid value for --ui.url: expected the UI's http(s) URL as printed at start (e.g. ${DEFAULT_UI_URL}), got "${base}"`)
  }
  const file = flags.string('rpc.jwtsecret') ?? defaultJwtSecretPath(datadir)
  let secret: Uint8Array
  try {
    secret = await readJwtSecret(file)
  } catch (err) {
    if (err instanceof JwtSecretError) throw new CliError(CliErrorCode.READ_FAILED, `${err.message} (pass --datadir DIR, the node's data dir, or --rpc.jwtsecret FILE)`, undefined, err)
    throw err
  }
  const nowS = Math.floor(Date.now() / 1000)
  const link = signinLink(url.toString(), await makeSigninCode(secret, nowS))
  const expires = new Date((nowS + SIGNIN_TTL_S) * 1000).toISOString()
  if (flags.boolean('json')) return outJson({ link, expires })
  out(`Sign in to the UI: ${link}`)
  out(`(one use, until ${expires}; keep it to yourself: whoever opens it first acts as this node)`)
}

export const uiSigninCommand: CommandSpec = {
  kind: 'command',
  path: 'ui signin',
  summary: 'print a one-time sign-in link for the node\'s UI',
  usage: 'ui signin [--datadir DIR | --rpc.jwtsecret FILE] [--ui.url URL] [--json]',
  description: [
    'Prints a link that signs a browser in to the MedRec app the node serves (medrec start --ui)',
    'as the node\'s own account. The code in it is signed with the node\'s JWT secret, works once',
    `and for ${SIGNIN_TTL_S / 60} minutes, and only after the node's latest start; it sits in the`,
    'fragment (#signin=…), which the browser sends to no server and no Referer.',
  ].join('\n'),
  flags: [
    { name: 'datadir', kind: 'string', placeholder: 'DIR', default: DEV_DATADIR, description: `the node's data dir (its ${JWT_SECRET_FILE} signs the code)` },
    { name: 'rpc.jwtsecret', kind: 'string', placeholder: 'FILE', default: `DIR/${JWT_SECRET_FILE}`, description: 'the node\'s JWT secret file (its --rpc.jwtsecret), instead of --datadir' },
    { name: 'ui.url', kind: 'string', placeholder: 'URL', default: `DIR/ui.url (the running node's), else ${DEFAULT_UI_URL}`, description: 'the UI\'s URL as printed at start (its --ui.addr and --ui.port)' },
    JSON_OUT,
  ],
  examples: ['medrec ui signin', 'medrec ui signin --datadir ./hospital --ui.url http://127.0.0.1:8551/'],
  run: signin,
}

export const uiGroup: GroupSpec = {
  kind: 'group',
  path: 'ui',
  summary: 'the MedRec app the node serves in a browser',
  description: 'The node serves the MedRec app with `medrec start --ui` (on by default with --dev). A browser signs in as the node\'s account only through a link from `medrec ui signin` (or the one printed at start).',
  commands: [uiSigninCommand],
}
