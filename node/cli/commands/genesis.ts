import { writeFile } from 'node:fs/promises'
import { DEV_CHAIN_ID, DEFAULT_GAS_LIMIT, genesisToJson, newGenesis } from '../../genesis/index.ts'
import { parseAddressFlag, parseInteger, parseWei } from '../args.ts'
import { usageError } from '../errors.ts'
import { note, out } from '../io.ts'
import type { CommandSpec, GroupSpec, ParsedFlags } from '../types.ts'
import { requireFlag } from './shared.ts'

const hex = (b: Uint8Array) => `0x${Buffer.from(b).toString('hex')}`

function parseAlloc(values: string[]): Array<[Uint8Array, bigint]> {
  const seen = new Set<string>()
  return values.map((v) => {
    const eq = v.indexOf('=')
    if (eq === -1) throw usageError(`invalid value for --alloc: expected ADDRESS=WEI (e.g. 0xabc...=100ether), got "${v}"`)
    const address = parseAddressFlag(v.slice(0, eq), 'alloc')
    if (seen.has(hex(address))) throw usageError(`invalid value for --alloc: ${v.slice(0, eq)} is given twice`)
    seen.add(hex(address))
    return [address, parseWei(v.slice(eq + 1), 'alloc')]
  })
}

async function run(flags: ParsedFlags): Promise<void> {
  const consensus = flags.string('consensus') ?? 'poa'
  if (consensus === 'pow') throw usageError('consensus pow is not available yet: use poa')
  if (consensus !== 'poa') throw usageError(`invalid value for --consensus: expected poa, got "${consensus}"`)
  const authorities = requireFlag(flags, 'authorities', 'A,B')
    .split(',')
    .filter((s) => s.trim() !== '')
    .map((s) => parseAddressFlag(s, 'authorities'))
  if (authorities.length === 0) throw usageError('invalid value for --authorities: expected at least one address')
  const period = Number(parseInteger(requireFlag(flags, 'period', 'S'), 'period', 0n, 2n ** 31n - 1n))
  const alloc = parseAlloc(flags.all('alloc'))
  const g = newGenesis({
    chainId: parseInteger(flags.string('chain-id') ?? String(DEV_CHAIN_ID), 'chain-id', 1n, 2n ** 53n - 1n),
    authorities,
    period,
    epoch: parseInteger(flags.string('epoch') ?? '30000', 'epoch', 1n, 2n ** 53n - 1n),
    gasLimit: parseInteger(flags.string('gas-limit') ?? String(DEFAULT_GAS_LIMIT), 'gas-limit', 5000n, 2n ** 63n - 1n),
    baseFeePerGas: flags.has('base-fee') ? parseWei(flags.string('base-fee')!, 'base-fee') : undefined,
    alloc,
  })
  // The editable form: only the accounts asked for (no vanity: there is no flag for it). The
  // system contracts are left to `predeploys` (default on), so they follow the authority list
  // if someone edits it; `init` writes the expanded, normalised form into the data dir.
  const json = genesisToJson(g)
  const wanted = new Set(alloc.map(([a]) => hex(a)))
  const { predeploys: _predeploys, vanity: _zeroVanity, ...rest } = json
  const text = JSON.stringify({ ...rest, alloc: Object.fromEntries(Object.entries(json.alloc).filter(([a]) => wanted.has(a))) }, null, 2) + '\n'
  const file = flags.string('out')
  if (file === undefined) {
    out(text)
    return
  }
  await writeFile(file, text)
  note(`Wrote ${file}: chain id ${g.chainId}, ${authorities.length} authorit${authorities.length === 1 ? 'y' : 'ies'}, a block every ${period} s`)
}

const newCommand: CommandSpec = {
  kind: 'command',
  path: 'genesis new',
  summary: 'write a genesis file for a new chain',
  usage: 'genesis new --consensus poa --authorities A,B --period S [--epoch N] [--chain-id N] [--gas-limit N] [--base-fee WEI] [--alloc ADDR=WEI ...] [--out FILE]',
  description: [
    'Prints a genesis JSON document (or writes it to --out FILE) for a Proof-of-Authority chain',
    'sealed by the given authorities. Every node of the chain must be initialised with the same',
    'file ("medrec init --genesis FILE"). The MedRec system contracts are predeployed.',
    'WEI amounts are decimal wei or carry a unit: 100ether, 1.5ether, 5gwei.',
  ].join('\n'),
  flags: [
    { name: 'consensus', kind: 'string', placeholder: 'ENGINE', default: 'poa', description: 'consensus engine; only poa is available' },
    { name: 'authorities', kind: 'string', placeholder: 'A,B', default: 'required', description: 'comma-separated addresses of the initial sealers' },
    { name: 'period', kind: 'string', placeholder: 'S', default: 'required', description: 'seconds between blocks (0: seal when transactions arrive)' },
    { name: 'epoch', kind: 'string', placeholder: 'N', default: '30000', description: 'blocks between checkpoints that list the authorities' },
    { name: 'chain-id', kind: 'string', placeholder: 'N', default: String(DEV_CHAIN_ID), description: 'EIP-155 chain id' },
    { name: 'gas-limit', kind: 'string', placeholder: 'N', default: String(DEFAULT_GAS_LIMIT), description: 'block gas limit' },
    { name: 'base-fee', kind: 'string', placeholder: 'WEI', default: '1gwei', description: 'EIP-1559 base fee of the first block' },
    { name: 'alloc', kind: 'string', placeholder: 'ADDR=WEI', default: 'none', description: 'fund an account at genesis; repeat for more', repeatable: true },
    { name: 'out', kind: 'string', placeholder: 'FILE', default: 'stdout', description: 'write the genesis to FILE' },
  ],
  examples: ['medrec genesis new --consensus poa --authorities 0xAUTH --period 2 --alloc 0xAUTH=1000ether --out genesis.json'],
  run,
}

export const genesisGroup: GroupSpec = {
  kind: 'group',
  path: 'genesis',
  summary: 'create genesis files (new)',
  description: 'A genesis file describes a chain: id, consensus and its authorities, block gas limit and the\naccounts funded at block 0.',
  commands: [newCommand],
}
