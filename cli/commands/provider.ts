// Light imports only (every `medrec` command loads this spec): the query builders, which hash
// with viem, are loaded when a query flag is read.
import { isClientError } from '../../contracts/client/errors.ts'
import type { BountyQuery, RecordQuery } from '../../contracts/client/query.ts'
import { CODE_SYSTEMS, RECORD_QUERY_EXAMPLE, RESOURCE_TYPES } from '../../contracts/client/query-shape.ts'
import type {
  AddPatientParams, AddPatientResult, AddRecordParams, AddRecordResult, ApproveResult, ConsentRequest, ImportParams, ImportResult, UpdateParams, UpdateResult,
} from '../../gatekeeper/api.ts'
import type { FhirResource } from '../../gatekeeper/types.ts'
import { parseAddressFlag, parseInteger } from '../args.ts'
import { usageError } from '../errors.ts'
import { out, outJson } from '../io.ts'
import { RPC_FLAGS, callNode } from '../rpc-client.ts'
import type { CommandSpec, FlagSpec, GroupSpec, ParsedFlags } from '../types.ts'
import { addressFlag, txSuffix } from './patient.ts'
import { JSON_OUT, formatTable, isoTime, readInputFile, requireFlag } from './shared.ts'

/**
 * `medrec provider …`: the provider side of the node's gatekeeper (medrec_addPatient, _addRecord,
 * _update, _import). Everything the command line says is checked here, before any RPC call, so
 * a typo costs a usage error rather than a transaction.
 */

const IDENTITY: FlagSpec = { name: 'identity', kind: 'string', placeholder: 'ID', default: 'none', description: 'the patient\'s MedRec identity (a name or ID hash, never health data)' }
const PATIENT_ID: FlagSpec = { name: 'patient-id', kind: 'string', placeholder: 'ID', default: 'none', description: 'the patient\'s local id in this provider\'s database' }
const BOUNTY: FlagSpec = { name: 'bounty', kind: 'string', placeholder: 'JSON|@FILE', default: 'count of the resource type by code', description: 'the bounty query attached to the update, inline or @file' }

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v)
}

/** Parses JSON read from `source` (a file name or "the inline value"); a syntax error names the flag and the source. */
function parseJsonText(text: string, flag: string, source: string): unknown {
  try {
    return JSON.parse(text) as unknown
  } catch (err) {
    throw usageError(`invalid value for --${flag}: ${source} is not JSON (${(err as Error).message})`)
  }
}

/** A file holding JSON, read for --flag. */
export async function readJsonFile(path: string, flag: string): Promise<unknown> {
  return parseJsonText(await readInputFile(path, `--${flag} file`), flag, path)
}

/** `--flag '{"a":1}'` or `--flag @file.json`. */
export async function jsonOrFile(value: string, flag: string): Promise<unknown> {
  if (value.startsWith('@')) {
    const path = value.slice(1)
    if (path === '') throw usageError(`invalid value for --${flag}: expected JSON or @FILE, got "@"`)
    return readJsonFile(path, flag)
  }
  const trimmed = value.trim()
  if (!trimmed.startsWith('{') && !trimmed.startsWith('[')) {
    throw usageError(`invalid value for --${flag}: expected a JSON object or @FILE (a file name needs the @), got "${value.slice(0, 60)}"`)
  }
  return parseJsonText(value, flag, 'the inline value')
}

/** Validates a query as the chain will, so a bad one fails here with the validator's explanation. */
function checkedQuery<Q>(value: unknown, flag: string, validate: (v: unknown) => { query: Q }): Q {
  try {
    return validate(value).query
  } catch (err) {
    if (isClientError(err)) throw usageError(`invalid value for --${flag}: ${err.message}`)
    throw err
  }
}

export async function recordQueryFlag(flags: ParsedFlags, flag = 'query'): Promise<RecordQuery | undefined> {
  const v = flags.string(flag)
  if (v === undefined) return undefined
  const { recordQuery } = await import('../../contracts/client/query.ts')
  return checkedQuery(await jsonOrFile(v, flag), flag, recordQuery)
}

export async function bountyQueryFlag(flags: ParsedFlags, flag = 'bounty'): Promise<BountyQuery | undefined> {
  const v = flags.string(flag)
  if (v === undefined) return undefined
  const { bountyQuery } = await import('../../contracts/client/query.ts')
  return checkedQuery(await jsonOrFile(v, flag), flag, bountyQuery)
}

function checkResource(v: unknown, flag: string, where: string): FhirResource {
  if (!isObject(v) || typeof v.resourceType !== 'string' || v.resourceType === '') {
    throw usageError(`invalid value for --${flag}: ${where} is not a FHIR resource (an object with a "resourceType")`)
  }
  if (typeof v.id !== 'string' || v.id === '') {
    throw usageError(`invalid value for --${flag}: ${where} (${v.resourceType}) has no "id": every resource needs its local id`)
  }
  return v as FhirResource
}

/**
 * The resources a file holds: one resource, an array of them, or a Bundle whose entries are
 * taken (the Bundle itself is not stored).
 */
export function resourcesOf(json: unknown, flag: string, file: string): FhirResource[] {
  let items: unknown[]
  if (Array.isArray(json)) items = json
  else if (isObject(json) && json.resourceType === 'Bundle') {
    if (!Array.isArray(json.entry)) throw usageError(`invalid value for --${flag}: the Bundle in ${file} has no "entry" array`)
    items = json.entry.map((e, i) => {
      if (!isObject(e) || e.resource === undefined) throw usageError(`invalid value for --${flag}: entry ${i} of the Bundle in ${file} has no "resource"`)
      return e.resource
    })
  } else items = [json]
  if (items.length === 0) throw usageError(`invalid value for --${flag}: ${file} holds no resources`)
  return items.map((r, i) => checkResource(r, flag, items.length === 1 && !Array.isArray(json) ? file : `resource ${i} in ${file}`))
}

/** --identity or --patient-id: exactly one when `required`, at most one otherwise. */
function patientRef(flags: ParsedFlags, required: boolean): { identity?: string; patientId?: string } {
  const identity = flags.string('identity')
  const patientId = flags.string('patient-id')
  if (identity !== undefined && patientId !== undefined) throw usageError('give --identity ID or --patient-id ID, not both')
  if (required && identity === undefined && patientId === undefined) throw usageError(`missing --identity ID or --patient-id ID for "${flags.command}": which patient the records belong to`)
  if (identity !== undefined) return { identity }
  if (patientId !== undefined) return { patientId }
  return {}
}

const addPatient: CommandSpec = {
  kind: 'command',
  path: 'provider add-patient',
  summary: 'add a patient to this provider\'s database',
  usage: 'provider add-patient --identity ID --address ADDRESS [--patient FILE | --patient-id ID] (--datadir DIR | --rpc.jwtsecret FILE) [--rpc URL] [--json]',
  description: [
    'Adds a patient to the gatekeeper\'s database under a MedRec identity, bound to the patient\'s',
    'account (medrec_addPatient). The identity is registered in the Registrar if it is not yet,',
    'which needs the node\'s account to be an authority. --patient stores a FHIR Patient resource',
    '(its id becomes the local patient id); without it, the Patient already stored with this',
    'identity (identifier system urn:medrec:identity, e.g. from "provider import") is used, else',
    'a minimal, empty one is made. So for a patient imported without that identifier, pass her',
    'Patient resource with --patient (same id), or her records stay with another local patient.',
    'With a PostgreSQL record database (--gatekeeper.records), the patient is one it holds already:',
    '--patient-id names her by her key there, and nothing is written to its tables.',
  ].join('\n'),
  flags: [
    { ...IDENTITY, default: 'required' },
    { name: 'address', kind: 'string', placeholder: 'ADDRESS', default: 'required', description: 'the patient\'s account' },
    { name: 'patient', kind: 'string', placeholder: 'FILE', default: 'none (a minimal Patient)', description: 'a FHIR Patient resource as JSON' },
    { ...PATIENT_ID, description: 'with a PostgreSQL record database: the key of a patient it holds already' },
    ...RPC_FLAGS,
    JSON_OUT,
  ],
  examples: [
    'medrec provider add-patient --datadir ./hospital --identity alice-1984 --address 0x70997970c51812dc3a010c7d01b50e0d17dc79c8 --patient alice.json',
    'medrec provider add-patient --datadir ./hospital --identity bob-1990 --address 0x3c44cdddb6a900fa2b585dd299e03d12fa4293bc --patient-id MRN-0042',
  ],
  async run(flags) {
    const identity = requireFlag(flags, 'identity', 'ID')
    const address = `0x${Buffer.from(parseAddressFlag(requireFlag(flags, 'address', 'ADDRESS'), 'address')).toString('hex')}`
    const params: AddPatientParams = { identity, address }
    const file = flags.string('patient')
    const patientId = flags.string('patient-id')
    if (file !== undefined && patientId !== undefined) throw usageError('give --patient FILE or --patient-id ID, not both')
    if (patientId !== undefined) params.patientId = patientId
    if (file !== undefined) {
      const patient = checkResource(await readJsonFile(file, 'patient'), 'patient', file)
      if (patient.resourceType !== 'Patient') throw usageError(`invalid value for --patient: ${file} holds a ${patient.resourceType}, expected a FHIR Patient resource`)
      params.patient = patient
    }
    const r = (await callNode(flags, 'medrec_addPatient', [params])) as AddPatientResult
    if (flags.boolean('json')) return outJson(r)
    out(`Added patient ${r.patientId} (identity ${r.identity}, account ${r.address})`)
    out(r.registered ? `Registered identity ${r.identity} on chain; summary ${r.summary}` : `Identity already registered; summary ${r.summary}`)
  },
}

const ACTIONS: Record<AddRecordResult['action'], string> = {
  created: 'Created relationship',
  added: 'Added pointer to',
  updated: 'Updated pointer of',
  unchanged: 'Unchanged:',
}

const addRecord: CommandSpec = {
  kind: 'command',
  path: 'provider add-record',
  summary: 'store records for a patient and point to them on chain',
  usage: 'provider add-record (--identity ID | --patient-id ID) --resource FILE [--resource FILE ...] [--query JSON|@FILE] [--bounty JSON|@FILE] (--datadir DIR | --rpc.jwtsecret FILE) [--rpc URL] [--json]',
  description: [
    'Stores FHIR resources for a patient and publishes a pointer to them (medrec_addRecord): the',
    'first record of a patient creates the Patient-Provider Relationship, later ones add a',
    'pointer or a new hash. A --resource FILE holds one resource, an array of resources, or a',
    'Bundle whose entries are stored. --query is the pointer\'s query (default: the first',
    'resource\'s type with its default fields); --bounty the aggregate offered with the update.',
    'JSON values are given inline or as @FILE.',
    'Both queries are stored on chain for ever, so they name a resource type, fields and',
    'optionally "codeSystems" (the terminologies its codes come from), never values: no',
    'codes, dates, numbers or names, and no "search". Code systems, a closed list:',
    ...Object.entries(CODE_SYSTEMS).map(([uri, name]) => `  ${uri}  ${name}`),
  ].join('\n'),
  flags: [
    IDENTITY,
    PATIENT_ID,
    { name: 'resource', kind: 'string', placeholder: 'FILE', default: 'required', description: 'FHIR resource, array or Bundle as JSON; repeat for more', repeatable: true },
    { name: 'query', kind: 'string', placeholder: 'JSON|@FILE', default: 'the resource type, default fields', description: `the pointer's record query (no values), e.g. ${RECORD_QUERY_EXAMPLE}` },
    BOUNTY,
    ...RPC_FLAGS,
    JSON_OUT,
  ],
  examples: [
    'medrec provider add-record --datadir ./hospital --identity alice-1984 --resource bp.json',
    `medrec provider add-record --patient-id p1 --resource labs.json --query '${RECORD_QUERY_EXAMPLE}'`,
  ],
  async run(flags) {
    const ref = patientRef(flags, true)
    const files = flags.all('resource')
    if (files.length === 0) throw usageError(`missing --resource FILE for "${flags.command}": the records to store`)
    const resources: FhirResource[] = []
    for (const f of files) resources.push(...resourcesOf(await readJsonFile(f, 'resource'), 'resource', f))
    const params: AddRecordParams = { ...ref, resources }
    const query = await recordQueryFlag(flags)
    if (query !== undefined) params.query = query
    const bounty = await bountyQueryFlag(flags)
    if (bounty !== undefined) params.bounty = bounty
    const r = (await callNode(flags, 'medrec_addRecord', [params])) as AddRecordResult
    if (flags.boolean('json')) return outJson(r)
    out(`${ACTIONS[r.action]} ${r.relationship} pointer ${r.pointerId} (${resources.length} resource${resources.length === 1 ? '' : 's'}, data hash ${r.dataHash})`)
    // A new relationship's provider account: a fresh delegate unless the node runs with --gatekeeper.delegates=false.
    if (r.provider !== undefined) out(`  provider account ${r.provider}`)
    for (const tx of r.transactions) out(`  transaction ${tx}`)
  },
}

const update: CommandSpec = {
  kind: 'command',
  path: 'provider update',
  summary: 'publish new hashes for records that changed',
  usage: 'provider update [--identity ID | --patient-id ID] [--bounty JSON|@FILE] (--datadir DIR | --rpc.jwtsecret FILE) [--rpc URL] [--json]',
  description: [
    'Recomputes the data hash of every pointer (of one patient with --identity or --patient-id)',
    'and publishes those that changed (medrec_update), with --bounty attached.',
  ].join('\n'),
  flags: [IDENTITY, PATIENT_ID, BOUNTY, ...RPC_FLAGS, JSON_OUT],
  async run(flags) {
    const params: UpdateParams = patientRef(flags, false)
    const bounty = await bountyQueryFlag(flags)
    if (bounty !== undefined) params.bounty = bounty
    const r = (await callNode(flags, 'medrec_update', [params])) as UpdateResult
    if (flags.boolean('json')) return outJson(r)
    printUpdate(r)
  },
}

function printUpdate(r: UpdateResult): void {
  out(`Updated ${r.updated.length} pointer${r.updated.length === 1 ? '' : 's'}, ${r.unchanged} unchanged`)
  for (const u of r.updated) out(`  ${u.relationship} pointer ${u.pointerId}  ${u.dataHash}`)
  for (const g of r.outsideGrammar ?? []) out(`  not updated: ${g.relationship} pointer ${g.pointerId}: its query is outside the query grammar and is never served`)
}

const importCommand: CommandSpec = {
  kind: 'command',
  path: 'provider import',
  summary: 'load a FHIR Bundle or a CSV file into the database',
  usage: 'provider import (--bundle FILE | --csv FILE --type RESOURCETYPE) [--publish] (--datadir DIR | --rpc.jwtsecret FILE) [--rpc URL] [--json]',
  description: [
    'Imports records into the gatekeeper\'s database (medrec_import): a FHIR Bundle, or CSV rows',
    'of one resource type. With --publish, then publishes new hashes for the pointers whose',
    'records changed (as "provider update").',
  ].join('\n'),
  flags: [
    { name: 'bundle', kind: 'string', placeholder: 'FILE', default: 'none', description: 'a FHIR Bundle as JSON' },
    { name: 'csv', kind: 'string', placeholder: 'FILE', default: 'none', description: 'CSV with a header row, one resource per row' },
    { name: 'type', kind: 'string', placeholder: 'RESOURCETYPE', default: 'required with --csv', description: `resource type of the CSV rows: ${RESOURCE_TYPES.join(', ')}` },
    { name: 'publish', kind: 'boolean', default: 'off', description: 'then publish new hashes for changed pointers' },
    ...RPC_FLAGS,
    JSON_OUT,
  ],
  async run(flags) {
    const bundleFile = flags.string('bundle')
    const csvFile = flags.string('csv')
    const type = flags.string('type')
    if (bundleFile !== undefined && csvFile !== undefined) throw usageError('give --bundle FILE or --csv FILE, not both')
    if (bundleFile === undefined && csvFile === undefined) throw usageError(`missing --bundle FILE or --csv FILE --type RESOURCETYPE for "${flags.command}"`)
    const params: ImportParams = {}
    if (bundleFile !== undefined) {
      if (type !== undefined) throw usageError('--type goes with --csv; a Bundle\'s resources carry their own type')
      const bundle = await readJsonFile(bundleFile, 'bundle')
      if (!isObject(bundle) || bundle.resourceType !== 'Bundle') throw usageError(`invalid value for --bundle: ${bundleFile} is not a FHIR Bundle (an object with "resourceType": "Bundle")`)
      params.bundle = bundle
    } else {
      if (type === undefined) throw usageError(`missing --type RESOURCETYPE for --csv: one of ${RESOURCE_TYPES.join(', ')}`)
      if (!(RESOURCE_TYPES as readonly string[]).includes(type)) throw usageError(`invalid value for --type: expected one of ${RESOURCE_TYPES.join(', ')}, got "${type}"`)
      params.csv = await readInputFile(csvFile!, '--csv file')
      params.resourceType = type
    }
    if (flags.boolean('publish')) params.publish = true
    const r = (await callNode(flags, 'medrec_import', [params])) as ImportResult
    if (flags.boolean('json')) return outJson(r)
    const types = Object.entries(r.byType).map(([t, n]) => `${n} ${t}`).join(', ')
    out(`Imported ${r.imported} resource${r.imported === 1 ? '' : 's'}${types === '' ? '' : ` (${types})`}`)
    if (r.update !== undefined) printUpdate(r.update)
  },
}

const anchorAudit: CommandSpec = {
  kind: 'command',
  path: 'provider anchor-audit',
  summary: 'anchor the gatekeeper\'s audit log head in the Registrar now',
  usage: 'provider anchor-audit [--delegate ADDRESS] (--datadir DIR | --rpc.jwtsecret FILE) [--rpc URL] [--json]',
  description: [
    'Anchors the head (seq and hash) of the gatekeeper\'s audit log in the Registrar now',
    '(medrec_anchorAudit) and waits for the transaction. The gatekeeper also anchors by itself',
    'every --gatekeeper.audit.anchor-entries entries or --gatekeeper.audit.anchor-interval',
    'minutes. Patients check the log against the latest anchor ("patient audit"): entries up to',
    'it cannot be rewritten unnoticed. Fails when nothing is new since the last anchor.',
    'Each account the gatekeeper serves as has its own chain, anchored by that account: the',
    'authority\'s, and one per delegate. Without --delegate every chain with new entries is',
    'anchored; with it, only that delegate\'s chain (sent by the delegate).',
  ].join('\n'),
  flags: [{ name: 'delegate', kind: 'string', placeholder: 'ADDRESS', default: 'all chains', description: 'anchor only the audit chain of this delegate account of the provider' }, ...RPC_FLAGS, JSON_OUT],
  async run(flags) {
    const delegate = flags.string('delegate')
    const params = delegate === undefined ? [] : [{ delegate: `0x${Buffer.from(parseAddressFlag(delegate, 'delegate')).toString('hex')}` }]
    const r = (await callNode(flags, 'medrec_anchorAudit', params)) as { seq: number; head: string; transaction: string; account?: string; chains?: { account: string; seq?: number; head?: string; transaction?: string; error?: string }[] }
    if (flags.boolean('json')) return outJson(r)
    const chains = r.chains ?? [{ account: r.account ?? '', seq: r.seq, head: r.head, transaction: r.transaction }]
    for (const c of chains) {
      const who = c.account === '' ? 'the audit log' : `the audit chain of ${c.account}`
      out(c.error === undefined ? `Anchored ${who} at #${c.seq} ${c.head} (transaction ${c.transaction})` : `Not anchored ${who}: ${c.error}`)
    }
  },
}

const RELATIONSHIP: FlagSpec = { name: 'relationship', kind: 'string', placeholder: 'ADDRESS', default: 'required', description: 'a relationship this gatekeeper serves' }

const consent: CommandSpec = {
  kind: 'command',
  path: 'provider consent',
  summary: 'list the patients\' grants waiting for this provider\'s consent',
  usage: 'provider consent (--datadir DIR | --rpc.jwtsecret FILE) [--rpc URL] [--json]',
  description: [
    'Lists the grants that wait for this provider\'s approval (medrec_consentRequests): on every',
    'relationship this gatekeeper serves that requires the provider\'s consent ("provider',
    'require-consent"), each active, unexpired grant not approved yet, with its grant id for',
    '"provider approve".',
  ].join('\n'),
  flags: [...RPC_FLAGS, JSON_OUT],
  async run(flags) {
    const list = (await callNode(flags, 'medrec_consentRequests', [])) as ConsentRequest[]
    if (flags.boolean('json')) return outJson(list)
    if (list.length === 0) return out('No grant is waiting for consent')
    out(formatTable(['relationship', 'viewer', 'grant', 'expires', 'shares'], list.map((c) => [
      c.relationship, c.viewer, String(c.grantId), c.expiresAt === 0 ? 'never' : isoTime(c.expiresAt), c.items.map((i) => `${i.pointerId}:${i.fields.join(',')}`).join(' '),
    ])))
  },
}

const requireConsent: CommandSpec = {
  kind: 'command',
  path: 'provider require-consent',
  summary: 'make a relationship\'s grants need this provider\'s approval (or stop it)',
  usage: 'provider require-consent --relationship ADDRESS [--off] (--datadir DIR | --rpc.jwtsecret FILE) [--rpc URL] [--json]',
  description: [
    'Sets the relationship\'s consentRequired flag (medrec_requireConsent, sent by the account',
    'that holds the relationship): while it is on, a viewer the patient shares with reads only',
    'once this provider approved that grant ("provider approve"). --off turns it off again.',
  ].join('\n'),
  flags: [RELATIONSHIP, { name: 'off', kind: 'boolean', default: 'off', description: 'stop requiring consent' }, ...RPC_FLAGS, JSON_OUT],
  async run(flags) {
    const relationship = addressFlag(flags, 'relationship')
    const required = !flags.boolean('off')
    const r = await callNode(flags, 'medrec_requireConsent', [{ relationship, required }])
    if (flags.boolean('json')) return outJson(r)
    out(`${required ? 'Grants on' : 'No more consent needed on'} ${relationship}${required ? ' now need this provider\'s approval' : ''}${txSuffix(r)}`)
  },
}

const approve: CommandSpec = {
  kind: 'command',
  path: 'provider approve',
  summary: 'approve a patient\'s grant that needs this provider\'s consent',
  usage: 'provider approve --relationship ADDRESS --viewer ADDRESS --grant N (--datadir DIR | --rpc.jwtsecret FILE) [--rpc URL] [--json]',
  description: [
    'The provider\'s half of a two-party grant (medrec_approve): approves grant N (as "provider',
    'consent" lists it) that the patient made to VIEWER. Refused when the patient has replaced',
    'that grant since, so an approval never covers more than was listed.',
  ].join('\n'),
  flags: [
    RELATIONSHIP,
    { name: 'viewer', kind: 'string', placeholder: 'ADDRESS', default: 'required', description: 'the account the patient shared with' },
    { name: 'grant', kind: 'string', placeholder: 'N', default: 'required', description: 'the grant id "provider consent" shows' },
    ...RPC_FLAGS,
    JSON_OUT,
  ],
  async run(flags) {
    const relationship = addressFlag(flags, 'relationship')
    const viewer = addressFlag(flags, 'viewer')
    const grantId = Number(parseInteger(requireFlag(flags, 'grant', 'N'), 'grant', 1n, BigInt(Number.MAX_SAFE_INTEGER)))
    const r = (await callNode(flags, 'medrec_approve', [{ relationship, viewer, grantId }])) as ApproveResult
    if (flags.boolean('json')) return outJson(r)
    out(`Approved grant ${r.grantId} to ${r.viewer} on ${r.relationship}${txSuffix(r)}`)
  },
}

export const providerGroup: GroupSpec = {
  kind: 'group',
  path: 'provider',
  summary: 'add patients and records to the gatekeeper, publish them on chain',
  description: 'The provider side of the node\'s gatekeeper, over JSON-RPC (--rpc, default http://127.0.0.1:8545).\nThe node acts with its gatekeeper account.',
  commands: [addPatient, addRecord, update, importCommand, consent, requireConsent, approve, anchorAudit],
}
