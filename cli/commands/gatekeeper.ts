import { existsSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { DEV_DATADIR } from '../../node/config/index.ts'
import { CliError, CliErrorCode, usageError } from '../errors.ts'
import { out, outJson } from '../io.ts'
import type { CommandSpec, GroupSpec, ParsedFlags } from '../types.ts'
import { JSON_OUT } from './shared.ts'

/**
 * `medrec gatekeeper add-client | list-clients | remove-client`: the SMART apps the gatekeeper's FHIR API lets users authorise.
 * The list lives in DIR/gatekeeper/state.sqlite; the commands open that file directly (SQLite's
 * WAL lets them while the node runs, and the node reads the list at every authorization), so
 * registering an app needs no running node and no RPC.
 */

const DATADIR = { name: 'datadir', kind: 'string', placeholder: 'DIR', default: DEV_DATADIR, description: 'the node\'s data dir (its gatekeeper/state.sqlite holds the clients)' } as const

async function openClients(flags: ParsedFlags) {
  const dir = join(resolve(flags.string('datadir') ?? DEV_DATADIR), 'gatekeeper')
  if (!existsSync(dir)) throw new CliError(CliErrorCode.READ_FAILED, `${dir} does not exist: start the node with --gatekeeper once, or pass --datadir DIR of a node that runs one`)
  // Loaded here: a plain `medrec` call loads no SQLite.
  const { openStateDb } = await import('../../gatekeeper/state.ts')
  const { createSmartClients } = await import('../../gatekeeper/smart/index.ts')
  const db = openStateDb(join(dir, 'state.sqlite'))
  return { clients: createSmartClients(db), close: () => db.close() }
}

async function add(flags: ParsedFlags): Promise<void> {
  const uris = flags.all('redirect-uri')
  if (uris.length === 0) throw usageError('missing --redirect-uri URL: the app\'s callback, exactly as it will send it (repeat the flag for several)')
  const { isGatekeeperError } = await import('../../gatekeeper/errors.ts')
  const { clients, close } = await openClients(flags)
  try {
    const c = clients.add({ redirectUris: uris, name: flags.string('name'), clientId: flags.string('client-id') })
    if (flags.boolean('json')) return outJson(c)
    out(`client_id: ${c.clientId}`)
    out(`name: ${c.name}`)
    for (const u of c.redirectUris) out(`redirect_uri: ${u}`)
    out('(a public client: no secret; the app proves itself with PKCE at each launch)')
  } catch (err) {
    if (isGatekeeperError(err)) throw usageError(err.message)
    throw err
  } finally {
    close()
  }
}

async function list(flags: ParsedFlags): Promise<void> {
  const { clients, close } = await openClients(flags)
  try {
    const all = clients.list()
    if (flags.boolean('json')) return outJson(all)
    if (all.length === 0) return out('no SMART clients registered (medrec gatekeeper add-client --redirect-uri URL)')
    for (const c of all) out(`${c.clientId}  ${c.name}  ${c.redirectUris.join(' ')}`)
  } finally {
    close()
  }
}

async function remove(flags: ParsedFlags): Promise<void> {
  const id = flags.string('client-id')
  if (id === undefined) throw usageError('missing --client-id ID of the client to remove')
  const { clients, close } = await openClients(flags)
  try {
    const removed = clients.remove(id)
    if (flags.boolean('json')) return outJson({ clientId: id, removed })
    if (!removed) throw new CliError(CliErrorCode.READ_FAILED, `no client ${id} is registered (medrec gatekeeper list-clients)`)
    out(`removed ${id}: its codes can no longer be redeemed; tokens it holds end within their lifetime`)
  } finally {
    close()
  }
}

export const clientAddCommand: CommandSpec = {
  kind: 'command',
  path: 'gatekeeper add-client',
  summary: 'register a SMART app (public client) for the gatekeeper\'s FHIR API',
  usage: 'gatekeeper add-client --redirect-uri URL [--redirect-uri URL…] [--name NAME] [--client-id ID] [--datadir DIR] [--json]',
  description: [
    'Registers a public SMART App Launch client: the app gets a client_id and may receive',
    'authorization codes only at the redirect URIs given here, compared exactly. A redirect URI',
    'must be https, or http to localhost/127.0.0.1/[::1]. An unknown client_id or another',
    'redirect URI is refused at /oauth/authorize without redirecting anywhere.',
  ].join('\n'),
  flags: [
    { name: 'redirect-uri', kind: 'string', placeholder: 'URL', default: 'required', description: 'the app\'s callback URL (repeatable)', repeatable: true },
    { name: 'name', kind: 'string', placeholder: 'NAME', default: 'the client id', description: 'the app\'s name, shown on the sign-in page' },
    { name: 'client-id', kind: 'string', placeholder: 'ID', default: 'generated', description: 'the client_id to use (4-128 of A-Z a-z 0-9 . _ ~ -)' },
    DATADIR,
    JSON_OUT,
  ],
  examples: ['medrec gatekeeper add-client --redirect-uri https://app.example/callback --name "Blood pressure app"'],
  run: add,
}

export const clientListCommand: CommandSpec = {
  kind: 'command',
  path: 'gatekeeper list-clients',
  summary: 'list the registered SMART apps',
  usage: 'gatekeeper list-clients [--datadir DIR] [--json]',
  description: 'Lists the SMART clients registered with `medrec gatekeeper add-client`.',
  flags: [DATADIR, JSON_OUT],
  run: list,
}

export const clientRemoveCommand: CommandSpec = {
  kind: 'command',
  path: 'gatekeeper remove-client',
  summary: 'remove a registered SMART app',
  usage: 'gatekeeper remove-client --client-id ID [--datadir DIR] [--json]',
  description: 'Removes a SMART client: its authorization codes can no longer be redeemed. Tokens already issued end within their lifetime (300 s by default).',
  flags: [{ name: 'client-id', kind: 'string', placeholder: 'ID', default: 'required', description: 'the client to remove' }, DATADIR, JSON_OUT],
  run: remove,
}

export const gatekeeperGroup: GroupSpec = {
  kind: 'group',
  path: 'gatekeeper',
  summary: 'the gatekeeper\'s SMART apps (FHIR API authorization)',
  description: 'SMART apps read a patient\'s records through the gatekeeper\'s FHIR API (/fhir) once a user signs in with a chain identity at /oauth/authorize. Only registered apps may ask.',
  commands: [clientAddCommand, clientListCommand, clientRemoveCommand],
}
