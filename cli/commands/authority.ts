import { toData } from '../../common/hex.ts'
import { parseAddressFlag } from '../args.ts'
import { out, outJson } from '../io.ts'
import { RPC_FLAGS, callNode } from '../rpc-client.ts'
import type { CommandSpec, FlagSpec, GroupSpec, ParsedFlags } from '../types.ts'
import { JSON_OUT, requireFlag } from './shared.ts'

const ADDRESS: FlagSpec = { name: 'address', kind: 'string', placeholder: 'ADDRESS', default: 'required', description: 'the account voted on' }

function target(flags: ParsedFlags): string {
  return toData(parseAddressFlag(requireFlag(flags, 'address', 'ADDRESS'), 'address'))
}

const propose: CommandSpec = {
  kind: 'command',
  path: 'authority propose',
  summary: 'vote to add (or, with --drop, remove) an authority',
  usage: 'authority propose --address ADDRESS [--drop] (--datadir DIR | --rpc.jwtsecret FILE) [--rpc URL]',
  description: 'Asks the node (an authority) to carry this vote in every block it seals until the\nproposal passes or is discarded (clique_propose). A proposal passes when more than half of\nthe authorities voted for it.',
  flags: [ADDRESS, { name: 'drop', kind: 'boolean', default: 'off', description: 'vote to remove ADDRESS instead of adding it' }, ...RPC_FLAGS],
  async run(flags) {
    const address = target(flags)
    const authorize = !flags.boolean('drop')
    await callNode(flags, 'clique_propose', [address, authorize])
    out(`Proposed to ${authorize ? 'add' : 'drop'} ${address}`)
  },
}

const discard: CommandSpec = {
  kind: 'command',
  path: 'authority discard',
  summary: 'withdraw this node\'s vote on an address',
  usage: 'authority discard --address ADDRESS (--datadir DIR | --rpc.jwtsecret FILE) [--rpc URL]',
  description: 'Stops the node from voting on ADDRESS (clique_discard).',
  flags: [ADDRESS, ...RPC_FLAGS],
  async run(flags) {
    const address = target(flags)
    await callNode(flags, 'clique_discard', [address])
    out(`Discarded the vote on ${address}`)
  },
}

const list: CommandSpec = {
  kind: 'command',
  path: 'authority list',
  summary: 'list the current authorities',
  usage: 'authority list [--block N] [--rpc URL] [--json]',
  description: 'Prints the authorised signers at the head, or at --block (clique_getSigners).',
  flags: [{ name: 'block', kind: 'string', placeholder: 'N', default: 'latest', description: 'block number (decimal or 0x hex) or tag' }, ...RPC_FLAGS, JSON_OUT],
  async run(flags) {
    const block = flags.string('block')
    const tag = block === undefined ? 'latest' : /^\d+$/.test(block) ? `0x${BigInt(block).toString(16)}` : block
    const signers = (await callNode(flags, 'clique_getSigners', [tag])) as string[]
    if (flags.boolean('json')) outJson(signers)
    else for (const s of signers) out(s)
  },
}

const proposals: CommandSpec = {
  kind: 'command',
  path: 'authority proposals',
  summary: 'list this node\'s open votes',
  usage: 'authority proposals [--rpc URL] [--json]',
  description: 'Prints the votes this node carries (clique_proposals): add or drop, per address.',
  flags: [...RPC_FLAGS, JSON_OUT],
  async run(flags) {
    const p = (await callNode(flags, 'clique_proposals')) as Record<string, boolean>
    if (flags.boolean('json')) return outJson(p)
    const entries = Object.entries(p)
    if (entries.length === 0) out('No open proposals')
    for (const [a, auth] of entries) out(`${auth ? 'add ' : 'drop'} ${a}`)
  },
}

const status: CommandSpec = {
  kind: 'command',
  path: 'authority status',
  summary: 'sealing activity of the authorities',
  usage: 'authority status [--rpc URL] [--json]',
  description: 'How many of the last 64 blocks each authority sealed and the share sealed in turn\n(clique_status).',
  flags: [...RPC_FLAGS, JSON_OUT],
  async run(flags) {
    const s = (await callNode(flags, 'clique_status')) as { inturnPercent: number; sealerActivity: Record<string, number>; numBlocks: number }
    if (flags.boolean('json')) return outJson(s)
    out(`Last ${s.numBlocks} blocks, ${s.inturnPercent.toFixed(1)}% sealed in turn`)
    for (const [a, n] of Object.entries(s.sealerActivity)) out(`${a}  ${n}`)
  },
}

export const authorityGroup: GroupSpec = {
  kind: 'group',
  path: 'authority',
  summary: 'vote authorities in and out, list them (Clique)',
  description: 'Talks to a running node over JSON-RPC (--rpc, default http://127.0.0.1:8545).',
  commands: [propose, discard, list, proposals, status],
}
