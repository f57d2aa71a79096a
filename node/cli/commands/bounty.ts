import type { BountyResult, BountyView } from '../../../gatekeeper/api.ts'
import { GatekeeperError, GatekeeperErrorCode } from '../../../gatekeeper/errors.ts'
import type { AggregateCell } from '../../../gatekeeper/types.ts'
import { parseInteger } from '../args.ts'
import { out, outJson } from '../io.ts'
import { RPC_URL, callNode } from '../rpc-client.ts'
import type { CommandSpec, GroupSpec } from '../types.ts'
import { JSON_OUT, formatTable, isoTime, requireFlag } from './shared.ts'

/** `medrec bounty …`: the bounties offered to the node's account, and collecting their aggregates. */

const list: CommandSpec = {
  kind: 'command',
  path: 'bounty list',
  summary: 'list the bounties offered to this account',
  usage: 'bounty list [--rpc URL] [--json]',
  description: 'Lists the bounties providers attached to updates of this account\'s relationships\n(medrec_bounties): index, relationship, pointer, block, time, query, and whether collected.',
  flags: [RPC_URL, JSON_OUT],
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
  usage: 'bounty collect --index N [--rpc URL] [--json]',
  description: [
    'Asks the provider\'s gatekeeper for the aggregate of bounty N (medrec_collectBounty). Cells',
    'covering fewer than k patients are withheld; the result is signed by the provider. A',
    'signature that is not the provider\'s makes the exit status 1.',
  ].join('\n'),
  flags: [{ name: 'index', kind: 'string', placeholder: 'N', default: 'required', description: 'the bounty\'s index, as "medrec bounty list" shows it' }, RPC_URL, JSON_OUT],
  async run(flags) {
    const index = Number(parseInteger(requireFlag(flags, 'index', 'N'), 'index', 0n, BigInt(Number.MAX_SAFE_INTEGER)))
    const r = (await callNode(flags, 'medrec_collectBounty', [{ index }])) as BountyResult
    const signed = r.signer.toLowerCase() === r.provider.toLowerCase()
    if (flags.boolean('json')) outJson(r)
    else {
      out(`Bounty ${r.index} of ${r.relationship} from provider ${r.provider}`)
      out(r.cells.length === 0 ? 'No cells released' : cellsTable(r.cells))
      out(`${r.suppressed} cell${r.suppressed === 1 ? '' : 's'} withheld (fewer than k=${r.k} patients)`)
      out(signed ? `Signature: the provider's (${r.provider})` : `Signature: NOT the provider's (signed by ${r.signer})`)
    }
    if (!signed) {
      throw new GatekeeperError(GatekeeperErrorCode.BAD_SIGNATURE, `bounty ${r.index}: the result is signed by ${r.signer}, not by the provider ${r.provider}; do not rely on it`, { index: r.index })
    }
  },
}

export const bountyGroup: GroupSpec = {
  kind: 'group',
  path: 'bounty',
  summary: 'list bounties, collect their k-anonymous aggregates',
  description: 'Bounties offered to the node\'s account, over JSON-RPC (--rpc, default http://127.0.0.1:8545).',
  commands: [list, collect],
}
