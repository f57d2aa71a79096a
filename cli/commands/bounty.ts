import type { BountyResult, BountyView } from '../../gatekeeper/api.ts'
import { bountiesCsv } from '../../gatekeeper/bounty-csv.ts'
import { GatekeeperError, GatekeeperErrorCode } from '../../gatekeeper/errors.ts'
import type { AggregateCell } from '../../gatekeeper/types.ts'
import { parseInteger } from '../args.ts'
import { writeFile } from 'node:fs/promises'
import { note, out, outJson } from '../io.ts'
import { usageError } from '../errors.ts'
import { RPC_FLAGS, callNode } from '../rpc-client.ts'
import type { CommandSpec, GroupSpec } from '../types.ts'
import { JSON_OUT, formatTable, isoTime, requireFlag } from './shared.ts'

/** `medrec bounty …`: the bounties offered to the node's account, and collecting their aggregates. */

const list: CommandSpec = {
  kind: 'command',
  path: 'bounty list',
  summary: 'list the bounties offered to this account',
  usage: 'bounty list (--datadir DIR | --rpc.jwtsecret FILE) [--rpc URL] [--json]',
  description: 'Lists the bounties providers attached to updates of this account\'s relationships\n(medrec_bounties): index, relationship, pointer, block, time, query, and whether collected.',
  flags: [...RPC_FLAGS, JSON_OUT],
  async run(flags) {
    const bounties = (await callNode(flags, 'medrec_bounties', [{}])) as BountyView[]
    if (flags.boolean('json')) return outJson(bounties)
    if (bounties.length === 0) return out('No bounties')
    const rows = bounties.map((b) => [String(b.index), b.relationship, String(b.pointerId), String(b.blockNumber), isoTime(b.timestamp), b.collected ? 'yes' : 'no', b.query])
    out(formatTable(['index', 'relationship', 'pointer', 'block', 'time', 'collected', 'query'], rows))
  },
}

/** Aggregate cells as a table: one column per groupBy field, then patients, records and value. */
export function cellsTable(cells: readonly AggregateCell[]): string {
  const keys = [...new Set(cells.flatMap((c) => Object.keys(c.group)))]
  const rows = cells.map((c) => [...keys.map((k) => (c.group[k] === undefined ? '' : String(c.group[k]))), String(c.patients), String(c.records), c.value === null ? '-' : String(c.value)])
  return formatTable([...keys, 'patients', 'records', 'value'], rows)
}

const collect: CommandSpec = {
  kind: 'command',
  path: 'bounty collect',
  summary: 'collect a bounty\'s k-anonymous aggregate from the provider',
  usage: 'bounty collect --index N (--datadir DIR | --rpc.jwtsecret FILE) [--rpc URL] [--json]',
  description: [
    'Asks the provider\'s gatekeeper for the aggregate of bounty N (medrec_collectBounty). Cells',
    'covering fewer than k patients are withheld; the result is signed by the provider. A',
    'signature that is not the provider\'s makes the exit status 1.',
  ].join('\n'),
  flags: [{ name: 'index', kind: 'string', placeholder: 'N', default: 'required', description: 'the bounty\'s index, as "medrec bounty list" shows it' }, ...RPC_FLAGS, JSON_OUT],
  async run(flags) {
    const index = Number(parseInteger(requireFlag(flags, 'index', 'N'), 'index', 0n, BigInt(Number.MAX_SAFE_INTEGER)))
    const r = (await callNode(flags, 'medrec_collectBounty', [{ index }])) as BountyResult
    const signed = r.signer.toLowerCase() === r.provider.toLowerCase()
    if (flags.boolean('json')) outJson(r)
    else {
      out(`Bounty ${r.index} of ${r.relationship} from provider ${r.provider}`)
      out(r.cells.length === 0 ? 'No cells released' : cellsTable(r.cells))
      out(`${r.suppressed} cell${r.suppressed === 1 ? '' : 's'} withheld (fewer than k=${r.k} patients)`)
      if (r.repeats !== undefined) out(`Repeats bounty ${r.repeats.index} of ${r.repeats.owner} (block ${r.repeats.blockNumber}): this query's patients changed by fewer than k since that release`)
      out(signed ? `Signature: the provider's (${r.provider})` : `Signature: NOT the provider's (signed by ${r.signer})`)
    }
    if (!signed) {
      throw new GatekeeperError(GatekeeperErrorCode.BAD_SIGNATURE, `bounty ${r.index}: the result is signed by ${r.signer}, not by the provider ${r.provider}; do not rely on it`, { index: r.index })
    }
  },
}

const exportCommand: CommandSpec = {
  kind: 'command',
  path: 'bounty export',
  summary: 'export the collected aggregates (CSV or JSON)',
  usage: 'bounty export [--csv] [--out FILE] (--datadir DIR | --rpc.jwtsecret FILE) [--rpc URL] [--json]',
  description: [
    'Writes the aggregates this node has collected (medrec_collectedBounties), one row per',
    'released cell: bounty index, relationship, provider, k, the cell\'s group values, patients,',
    'records and value. --csv gives RFC 4180 CSV (the default), --json the signed results as',
    'stored. Withheld cells are not in the data: they never left the provider.',
  ].join('\n'),
  flags: [
    { name: 'csv', kind: 'boolean', default: 'on unless --json', description: 'CSV, one row per released cell' },
    { name: 'out', kind: 'string', placeholder: 'FILE', default: 'stdout', description: 'write to FILE' },
    ...RPC_FLAGS,
    JSON_OUT,
  ],
  async run(flags) {
    if (flags.boolean('csv') && flags.boolean('json')) throw usageError('--csv and --json exclude each other: pick one')
    const results = (await callNode(flags, 'medrec_collectedBounties', [])) as BountyResult[]
    const text = flags.boolean('json') ? `${JSON.stringify(results, null, 2)}\n` : bountiesCsv(results)
    const file = flags.string('out')
    if (file === undefined) return out(text.replace(/\r?\n$/, ''))
    await writeFile(file, text)
    note(`Wrote ${file}: ${results.length} bount${results.length === 1 ? 'y' : 'ies'}, ${results.reduce((n, r) => n + r.cells.length, 0)} cells`)
  },
}

export const bountyGroup: GroupSpec = {
  kind: 'group',
  path: 'bounty',
  summary: 'list bounties, collect and export their k-anonymous aggregates',
  description: [
    'Bounties owned by the node\'s account, over JSON-RPC (--rpc, default http://127.0.0.1:8545):',
    'a patient\'s, or a miner\'s for the record updates in blocks it mined (the gatekeeper account',
    'must be the etherbase).',
  ].join('\n'),
  commands: [list, collect, exportCommand],
}
