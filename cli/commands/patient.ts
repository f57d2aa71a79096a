import { writeFile } from 'node:fs/promises'
import { MAX_FIELDS } from '../../contracts/client/query-shape.ts'
import type { AuditParams, AuditResult, FetchParams, FetchResult, RelationshipView, ShareParams } from '../../gatekeeper/api.ts'
import { GatekeeperError, GatekeeperErrorCode } from '../../gatekeeper/errors.ts'
import type { FhirBundle } from '../../gatekeeper/types.ts'
import { parseAddressFlag } from '../args.ts'
import { CliError, CliErrorCode, usageError } from '../errors.ts'
import { note, out, outJson } from '../io.ts'
import { RPC_FLAGS, callNode } from '../rpc-client.ts'
import type { CommandSpec, FlagSpec, GroupSpec, ParsedFlags } from '../types.ts'
import { JSON_OUT, formatTable, isoTime, isoTimeMs, requireFlag } from './shared.ts'

/**
 * `medrec patient …`: the patient's (and a viewer's) side of the gatekeeper: relationships,
 * accepting them, grants to viewers, fetching and verifying records, reading the audit log.
 */

// ---- helpers the gatekeeper commands share ----

/** A required address flag as lower-case 0x hex. */
export function addressFlag(flags: ParsedFlags, name: string): string {
  return `0x${Buffer.from(parseAddressFlag(requireFlag(flags, name, 'ADDRESS'), name)).toString('hex')}`
}

const MAX_ID = BigInt(Number.MAX_SAFE_INTEGER)

function integer(s: string, flag: string, what: string, max: bigint): number {
  if (!/^[0-9]+$/.test(s)) throw usageError(`invalid value for --${flag}: ${what} must be an integer from 0 to ${max}, got "${s}"`)
  const n = BigInt(s)
  if (n > max) throw usageError(`invalid value for --${flag}: ${what} must be an integer from 0 to ${max}, got "${s}"`)
  return Number(n)
}

// ---- --pointer and --expires ----

export interface GrantItemArg {
  pointerId: number
  fields: number[]
}

/**
 * One `--pointer N:f1,f2` of a grant: pointer N, fields f1 and f2 (indexes into the pointer's
 * query). The fields are required: a grant always says which fields it shares, so a patient
 * never shares a whole record by leaving them out.
 */
export function parseGrantPointer(value: string, flag = 'pointer'): GrantItemArg {
  const expected = `expected POINTER:FIELD[,FIELD...] such as 0:0,2 (pointer 0, its fields 0 and 2)`
  const colon = value.indexOf(':')
  if (colon === -1) {
    if (/^[0-9]+$/.test(value.trim())) {
      throw usageError(
        `invalid value for --${flag}: "${value}" names no fields; a grant must list the fields it shares, e.g. --${flag} ${value.trim()}:0,1 ` +
          `(field indexes of the pointer's query, as "medrec patient relationships --json" shows them)`,
      )
    }
    throw usageError(`invalid value for --${flag}: ${expected}, got "${value}"`)
  }
  const pointerId = integer(value.slice(0, colon).trim(), flag, 'the pointer id', MAX_ID)
  const list = value.slice(colon + 1).split(',').map((f) => f.trim())
  if (list.length === 1 && list[0] === '') throw usageError(`invalid value for --${flag}: "${value}" names no fields after the colon; ${expected}`)
  const fields: number[] = []
  for (const f of list) {
    const i = integer(f, flag, `field index "${f}" of pointer ${pointerId}`, BigInt(MAX_FIELDS - 1))
    if (fields.includes(i)) throw usageError(`invalid value for --${flag}: field ${i} of pointer ${pointerId} is listed twice`)
    fields.push(i)
  }
  return { pointerId, fields }
}

/** Every `--pointer` of a grant; each pointer at most once. */
export function parseGrantPointers(values: readonly string[], flag = 'pointer'): GrantItemArg[] {
  if (values.length === 0) throw usageError(`missing --${flag} POINTER:FIELDS: what the viewer may read, e.g. --${flag} 0:0,2`)
  const items = values.map((v) => parseGrantPointer(v, flag))
  const ids = items.map((i) => i.pointerId)
  const dup = ids.find((id, i) => ids.indexOf(id) !== i)
  if (dup !== undefined) throw usageError(`invalid value for --${flag}: pointer ${dup} is given twice; list all of its fields in one --${flag} ${dup}:F1,F2`)
  return items
}

const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400, w: 604_800 }

/**
 * `--expires`: a duration from now (`30m`, `2h`, `7d`, `1d12h`; units s m h d w), unix seconds,
 * or an ISO 8601 date or time. Returns unix seconds, which must lie in the future.
 */
export function parseExpires(value: string, nowMs: number = Date.now(), flag = 'expires'): number {
  const v = value.trim()
  const now = Math.floor(nowMs / 1000)
  const expected = 'a duration (30m, 2h, 7d), unix seconds, or an ISO date (2030-01-31 or 2030-01-31T12:00:00Z)'
  let at: number
  if (/^([0-9]+[smhdw])+$/i.test(v)) {
    let seconds = 0
    for (const m of v.toLowerCase().matchAll(/([0-9]+)([smhdw])/g)) seconds += Number(m[1]) * UNIT_SECONDS[m[2]!]!
    if (seconds === 0) throw usageError(`invalid value for --${flag}: the duration "${value}" is zero; ${expected}`)
    at = now + seconds
  } else if (/^[0-9]+$/.test(v)) {
    // Milliseconds (13 digits) would be read as a date tens of thousands of years away.
    if (v.length > 11) throw usageError(`invalid value for --${flag}: "${value}" looks like milliseconds; give unix seconds`)
    at = Number(v)
  } else if (/^[0-9]{4}-[0-9]{2}-[0-9]{2}([T ][0-9:.]+(Z|[+-][0-9]{2}:?[0-9]{2})?)?$/.test(v)) {
    const ms = Date.parse(v)
    if (Number.isNaN(ms)) throw usageError(`invalid value for --${flag}: "${value}" is not a valid date; ${expected}`)
    at = Math.floor(ms / 1000)
  } else {
    throw usageError(`invalid value for --${flag}: expected ${expected}, got "${value}"`)
  }
  if (at <= now) throw usageError(`invalid value for --${flag}: ${isoTime(at)} is not in the future`)
  return at
}

/** `--pointer N` of a fetch: pointer ids only (a fetch reads every field the grant allows). */
export function parseFetchPointers(values: readonly string[], flag = 'pointer'): number[] | undefined {
  if (values.length === 0) return undefined
  const ids = values.map((v) => {
    if (v.includes(':')) throw usageError(`invalid value for --${flag}: fetch takes pointer ids only ("${v.split(':')[0]}"); it reads every field the grant allows`)
    return integer(v.trim(), flag, 'the pointer id', MAX_ID)
  })
  const dup = ids.find((id, i) => ids.indexOf(id) !== i)
  if (dup !== undefined) throw usageError(`invalid value for --${flag}: pointer ${dup} is given twice`)
  return ids
}

// ---- commands ----

const RELATIONSHIP: FlagSpec = { name: 'relationship', kind: 'string', placeholder: 'ADDRESS', default: 'required', description: 'the Patient-Provider Relationship contract' }
const VIEWER: FlagSpec = { name: 'viewer', kind: 'string', placeholder: 'ADDRESS', default: 'required', description: 'the viewer\'s account' }

/** " (transaction 0x…)" when an RPC result carries transaction hashes. */
export function txSuffix(result: unknown): string {
  const hashes: string[] = []
  if (typeof result === 'string' && /^0x[0-9a-fA-F]{64}$/.test(result)) hashes.push(result)
  else if (result !== null && typeof result === 'object') {
    const r = result as { transaction?: unknown; transactionHash?: unknown; transactions?: unknown }
    if (typeof r.transaction === 'string') hashes.push(r.transaction)
    if (typeof r.transactionHash === 'string') hashes.push(r.transactionHash)
    if (Array.isArray(r.transactions)) hashes.push(...r.transactions.filter((h): h is string => typeof h === 'string'))
  }
  return hashes.length === 0 ? '' : ` (transaction${hashes.length === 1 ? '' : 's'} ${hashes.join(', ')})`
}

const relationships: CommandSpec = {
  kind: 'command',
  path: 'patient relationships',
  summary: 'list the account\'s relationships and what is cached',
  usage: 'patient relationships (--datadir DIR | --rpc.jwtsecret FILE) [--rpc URL] [--json]',
  description: 'Lists the relationships of the node\'s account, as patient or viewer (medrec_relationships):\nstatus, provider, the pointers on chain and the records cached locally.',
  flags: [...RPC_FLAGS, JSON_OUT],
  async run(flags) {
    const rels = (await callNode(flags, 'medrec_relationships', [{}])) as RelationshipView[]
    if (flags.boolean('json')) return outJson(rels)
    if (rels.length === 0) return out('No relationships')
    const rows = rels.map((r) => [
      r.relationship,
      r.role,
      r.terminated ? 'terminated' : r.status,
      r.provider,
      r.pointers.length === 0 ? '-' : r.pointers.map((p) => `${p.pointerId}:${p.fieldCount}f`).join(' '),
      r.cached.length === 0 ? '-' : r.cached.map((c) => `${c.pointerId}:${c.status}`).join(' '),
    ])
    out(formatTable(['relationship', 'role', 'status', 'provider', 'pointers', 'cached'], rows))
  },
}

const DECISIONS = {
  accept: { summary: 'accept a relationship a provider created', done: 'Accepted', marks: 'accepted' },
  reject: { summary: 'reject a relationship a provider created', done: 'Rejected', marks: 'rejected' },
  delete: { summary: 'delete a relationship from the account\'s list', done: 'Deleted', marks: 'deleted (the chain keeps its history; the provider keeps its records)' },
} as const

function decide(verb: keyof typeof DECISIONS): CommandSpec {
  const d = DECISIONS[verb]
  return {
    kind: 'command',
    path: `patient ${verb}`,
    summary: d.summary,
    usage: `patient ${verb} --relationship ADDRESS (--datadir DIR | --rpc.jwtsecret FILE) [--rpc URL] [--json]`,
    description: `Marks the relationship ${d.marks} in the patient's Summary (medrec_${verb}).`,
    flags: [RELATIONSHIP, ...RPC_FLAGS, JSON_OUT],
    async run(flags) {
      const relationship = addressFlag(flags, 'relationship')
      const r = await callNode(flags, `medrec_${verb}`, [{ relationship }])
      if (flags.boolean('json')) return outJson(r ?? null)
      out(`${d.done} ${relationship}${txSuffix(r)}`)
    },
  }
}

const share: CommandSpec = {
  kind: 'command',
  path: 'patient share',
  summary: 'grant a viewer access to fields of some pointers',
  usage: 'patient share --relationship ADDRESS --viewer ADDRESS --pointer N:F1,F2 [--pointer ...] [--expires WHEN] (--datadir DIR | --rpc.jwtsecret FILE) [--rpc URL] [--json]',
  description: [
    'Grants VIEWER read access to the listed fields of the listed pointers of a relationship',
    '(medrec_share). --pointer 0:0,2 is pointer 0, fields 0 and 2 of its query; fields are',
    'required, so a grant always says what it shares. --expires is a duration from now (30m,',
    '2h, 7d), unix seconds, or an ISO date; without it the grant lasts until revoked.',
  ].join('\n'),
  flags: [
    RELATIONSHIP,
    VIEWER,
    { name: 'pointer', kind: 'string', placeholder: 'N:F1,F2', default: 'required', description: 'a pointer and the field indexes shared; repeat for more pointers', repeatable: true },
    { name: 'expires', kind: 'string', placeholder: 'WHEN', default: 'never', description: 'duration (30m, 2h, 7d), unix seconds or ISO date' },
    ...RPC_FLAGS,
    JSON_OUT,
  ],
  examples: ['medrec patient share --datadir ./patient --relationship 0xabc... --viewer 0xdef... --pointer 0:0,2 --pointer 1:0 --expires 7d'],
  async run(flags) {
    const params: ShareParams = {
      relationship: addressFlag(flags, 'relationship'),
      viewer: addressFlag(flags, 'viewer'),
      items: parseGrantPointers(flags.all('pointer')),
    }
    const expires = flags.string('expires')
    if (expires !== undefined) params.expiresAt = parseExpires(expires)
    const r = await callNode(flags, 'medrec_share', [params])
    if (flags.boolean('json')) return outJson(r ?? null)
    const what = params.items.map((i) => `pointer ${i.pointerId} fields ${i.fields.join(',')}`).join('; ')
    out(`Shared ${what} of ${params.relationship} with ${params.viewer}${params.expiresAt === undefined ? '' : ` until ${isoTime(params.expiresAt)}`}${txSuffix(r)}`)
  },
}

const revoke: CommandSpec = {
  kind: 'command',
  path: 'patient revoke',
  summary: 'revoke a viewer\'s access',
  usage: 'patient revoke --relationship ADDRESS --viewer ADDRESS (--datadir DIR | --rpc.jwtsecret FILE) [--rpc URL] [--json]',
  description: 'Revokes what VIEWER was granted on the relationship (medrec_revoke).',
  flags: [RELATIONSHIP, VIEWER, ...RPC_FLAGS, JSON_OUT],
  async run(flags) {
    const relationship = addressFlag(flags, 'relationship')
    const viewer = addressFlag(flags, 'viewer')
    const r = await callNode(flags, 'medrec_revoke', [{ relationship, viewer }])
    if (flags.boolean('json')) return outJson(r ?? null)
    out(`Revoked ${viewer} on ${relationship}${txSuffix(r)}`)
  },
}

/**
 * What --out holds: a FHIR `collection` Bundle with one searchset Bundle per verified pointer.
 * Tampered records are left out: a file is easily trusted later, and they failed the check.
 */
export function fetchedBundle(r: FetchResult): FhirBundle {
  const verified = r.pointers.filter((p) => p.status === 'verified')
  return {
    resourceType: 'Bundle',
    type: 'collection',
    entry: verified.map((p) => ({ fullUrl: `urn:medrec:${r.relationship}:pointer:${p.pointerId}:v${p.version}`, resource: { ...p.bundle, id: `pointer-${p.pointerId}` } })),
  }
}

const fetchCommand: CommandSpec = {
  kind: 'command',
  path: 'patient fetch',
  summary: 'fetch records from the provider\'s gatekeeper and verify them',
  usage: 'patient fetch --relationship ADDRESS [--pointer N ...] [--out FILE] (--datadir DIR | --rpc.jwtsecret FILE) [--rpc URL] [--json]',
  description: [
    'Requests the records of a relationship from its provider\'s gatekeeper (medrec_fetch), every',
    'pointer the account may read or those given with --pointer, and checks each against the',
    'hash on chain: VERIFIED, or TAMPERED (then the exit status is 1). --out writes the verified',
    'records as a FHIR collection Bundle holding one Bundle per pointer (file mode 0600).',
  ].join('\n'),
  flags: [
    RELATIONSHIP,
    { name: 'pointer', kind: 'string', placeholder: 'N', default: 'every readable pointer', description: 'a pointer id to fetch; repeat for more', repeatable: true },
    { name: 'out', kind: 'string', placeholder: 'FILE', default: 'none', description: 'write the verified FHIR bundles to FILE' },
    ...RPC_FLAGS,
    JSON_OUT,
  ],
  async run(flags) {
    const params: FetchParams = { relationship: addressFlag(flags, 'relationship') }
    const ids = parseFetchPointers(flags.all('pointer'))
    if (ids !== undefined) params.pointerIds = ids
    const file = flags.string('out')
    const r = (await callNode(flags, 'medrec_fetch', [params])) as FetchResult
    if (file !== undefined) {
      try {
        // Health records: readable by the owner only.
        await writeFile(file, JSON.stringify(fetchedBundle(r), null, 2) + '\n', { mode: 0o600 })
      } catch (err) {
        throw new CliError(CliErrorCode.WRITE_FAILED, `cannot write --out ${file}: ${(err as Error).message}`)
      }
    }
    if (flags.boolean('json')) outJson(r)
    else {
      out(`${r.relationship} from gatekeeper ${r.gatekeeper} over ${r.transport}`)
      if (r.pointers.length === 0) out('No pointers readable')
      for (const p of r.pointers) {
        const n = p.bundle.entry.length
        out(`  pointer ${p.pointerId} v${p.version}  ${p.status === 'verified' ? 'VERIFIED' : 'TAMPERED'}  ${n} record${n === 1 ? '' : 's'}  fields ${p.fields.join(',')}  ${p.dataHash}`)
      }
      if (file !== undefined) note(`Wrote ${r.pointers.filter((p) => p.status === 'verified').length} verified pointer bundle(s) to ${file}`)
    }
    const tampered = r.pointers.filter((p) => p.status === 'tampered').map((p) => p.pointerId)
    if (tampered.length > 0) {
      throw new GatekeeperError(
        GatekeeperErrorCode.TAMPERED,
        `pointer${tampered.length === 1 ? '' : 's'} ${tampered.join(', ')} TAMPERED: the records do not match the hash on chain; they are kept apart${file === undefined ? '' : ' and not written to ' + file}. Ask the provider, and do not rely on them`,
        { relationship: r.relationship, pointerIds: tampered },
      )
    }
  },
}

const audit: CommandSpec = {
  kind: 'command',
  path: 'patient audit',
  summary: 'read a gatekeeper\'s audit log of accesses',
  usage: 'patient audit [--relationship ADDRESS] [--gatekeeper ADDRESS] (--datadir DIR | --rpc.jwtsecret FILE) [--rpc URL] [--json]',
  description: [
    'Asks a gatekeeper for its audit log (medrec_audit): every request about the account\'s',
    'relationships there, granted or refused. Recomputes the whole hash chain (other patients\'',
    'entries only as opaque commitments) and compares it with the gatekeeper\'s latest anchor in',
    'the Registrar: entries up to the anchor are VERIFIED, or NOT MATCHING when the log was',
    'rewritten; entries after it are not covered yet. A broken chain or a mismatch: exit status 1.',
  ].join('\n'),
  flags: [
    { ...RELATIONSHIP, default: 'all of the account\'s', description: 'only this relationship' },
    { name: 'gatekeeper', kind: 'string', placeholder: 'ADDRESS', default: 'the relationship\'s provider', description: 'the provider account whose gatekeeper to ask' },
    ...RPC_FLAGS,
    JSON_OUT,
  ],
  async run(flags) {
    const params: AuditParams = {}
    if (flags.has('relationship')) params.relationship = addressFlag(flags, 'relationship')
    if (flags.has('gatekeeper')) params.gatekeeper = addressFlag(flags, 'gatekeeper')
    const r = (await callNode(flags, 'medrec_audit', [params])) as AuditResult
    if (flags.boolean('json')) outJson(r)
    else {
      out(`Audit log of gatekeeper ${r.gatekeeper}: ${r.entries.length} entr${r.entries.length === 1 ? 'y' : 'ies'}, head #${r.head.seq} ${r.head.hash}, links ${r.linked ? 'verified' : 'BROKEN'}`)
      const n = (k: number) => `${k} of your entr${k === 1 ? 'y' : 'ies'}`
      const anchor = r.anchor
      if (anchor === null || anchor === undefined) out('No anchor on chain yet: nothing is covered (the provider anchors automatically, or with "medrec provider anchor-audit")')
      else if (r.covered?.status === 'verified') out(`Anchored at #${anchor.seq} (block ${anchor.blockNumber}): VERIFIED, ${n(r.covered.entries)} covered`)
      else if (r.covered?.status === 'mismatch') out(`Anchored at #${anchor.seq} (block ${anchor.blockNumber}): NOT MATCHING the anchor: the log was rewritten after it was anchored`)
      else out(`Anchored at #${anchor.seq} (block ${anchor.blockNumber}), before this log format: nothing is covered`)
      if (r.uncovered !== undefined && r.uncovered.entries > 0) out(`Not covered yet (after #${r.uncovered.fromSeq - 1}): ${n(r.uncovered.entries)}`)
      if (r.entries.length > 0) out(auditTable(r.entries))
    }
    if (!r.linked) throw new GatekeeperError(GatekeeperErrorCode.AUDIT_CORRUPT, `the audit log of ${r.gatekeeper} does not link up: entries were altered or removed`, { gatekeeper: r.gatekeeper })
    if (r.covered?.status === 'mismatch') {
      throw new GatekeeperError(GatekeeperErrorCode.AUDIT_CORRUPT, `the audit log of ${r.gatekeeper} does NOT match its anchor on chain at #${r.anchor?.seq}: entries were rewritten, dropped or inserted after it was anchored`, { gatekeeper: r.gatekeeper })
    }
  },
}

/** The text form of audit entries; their times are unix milliseconds. */
export function auditTable(entries: AuditResult['entries']): string {
  return formatTable(['seq', 'time', 'requester', 'method', 'decision', 'reason', 'anchored'], entries.map((e) => [String(e.seq), isoTimeMs(e.time), e.requester, e.method, e.decision, e.reason, e.covered ? 'yes' : 'no']))
}

export const patientGroup: GroupSpec = {
  kind: 'group',
  path: 'patient',
  summary: 'relationships, grants to viewers, fetching records, the audit log',
  description: 'The patient\'s (and a viewer\'s) side of the node\'s gatekeeper, over JSON-RPC (--rpc, default\nhttp://127.0.0.1:8545). The node acts and requests with its gatekeeper account.',
  commands: [relationships, decide('accept'), decide('reject'), decide('delete'), share, revoke, fetchCommand, audit],
}
