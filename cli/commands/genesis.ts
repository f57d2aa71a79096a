import { writeFile } from 'node:fs/promises'
import { CHAIN_FORKS, NEWEST_FORK, isChainFork, type ChainFork } from '../../common/forks.ts'
import { DEV_CHAIN_ID, DEFAULT_GAS_LIMIT, GenesisError, describeSealing, genesisToJson, newGenesis, type NewGenesisOptions } from '../../node/genesis/index.ts'
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

const POA_ONLY = ['period', 'epoch']
const POW_ONLY = ['target-block-time', 'difficulty', 'reward', 'minimum-difficulty']

function parseAuthorities(flags: ParsedFlags, required: boolean): Uint8Array[] {
  const list = (required ? requireFlag(flags, 'authorities', 'A,B') : flags.string('authorities') ?? '')
    .split(',')
    .filter((s) => s.trim() !== '')
    .map((s) => parseAddressFlag(s, 'authorities'))
  if (required && list.length === 0) throw usageError('invalid value for --authorities: expected at least one address')
  return list
}

/** The engine's options: --period/--epoch (poa) or --target-block-time/--difficulty/--reward (pow). */
function engineOptions(flags: ParsedFlags, consensus: 'poa' | 'pow'): Pick<NewGenesisOptions, 'period' | 'epoch' | 'pow'> {
  const misplaced = (consensus === 'poa' ? POW_ONLY : POA_ONLY).find((f) => flags.has(f))
  if (misplaced !== undefined) throw usageError(`--${misplaced} is not used with --consensus ${consensus}`)
  if (consensus === 'poa') {
    return {
      period: Number(parseInteger(requireFlag(flags, 'period', 'S'), 'period', 0n, 2n ** 31n - 1n)),
      epoch: parseInteger(flags.string('epoch') ?? '30000', 'epoch', 1n, 2n ** 53n - 1n),
    }
  }
  return {
    pow: {
      targetBlockTime: Number(parseInteger(requireFlag(flags, 'target-block-time', 'S'), 'target-block-time', 1n, 2n ** 31n - 1n)),
      difficulty: flags.has('difficulty') ? parseInteger(flags.string('difficulty')!, 'difficulty', 1n, 2n ** 256n - 1n) : undefined,
      blockReward: flags.has('reward') ? parseWei(flags.string('reward')!, 'reward') : undefined,
      minimumDifficulty: flags.has('minimum-difficulty') ? parseInteger(flags.string('minimum-difficulty')!, 'minimum-difficulty', 1n, 2n ** 256n - 1n) : undefined,
    },
  }
}

/** --hardfork: one of the forks this node runs; new chains default to the newest. */
function parseHardfork(flags: ParsedFlags): ChainFork {
  const name = (flags.string('hardfork') ?? NEWEST_FORK).toLowerCase()
  if (!isChainFork(name)) throw usageError(`invalid value for --hardfork: this node runs ${CHAIN_FORKS.join(', ')}, got "${flags.string('hardfork')}"`)
  return name
}

async function run(flags: ParsedFlags): Promise<void> {
  const consensus = flags.string('consensus') ?? 'poa'
  if (consensus !== 'poa' && consensus !== 'pow') throw usageError(`invalid value for --consensus: expected poa or pow, got "${consensus}"`)
  const engine = engineOptions(flags, consensus)
  const authorities = parseAuthorities(flags, consensus === 'poa')
  const alloc = parseAlloc(flags.all('alloc'))
  const hardfork = parseHardfork(flags)
  let g
  try {
    g = newGenesis({
      chainId: parseInteger(flags.string('chain-id') ?? String(DEV_CHAIN_ID), 'chain-id', 1n, 2n ** 53n - 1n),
      authorities,
      ...engine,
      gasLimit: parseInteger(flags.string('gas-limit') ?? String(DEFAULT_GAS_LIMIT), 'gas-limit', 5000n, 2n ** 63n - 1n),
      baseFeePerGas: flags.has('base-fee') ? parseWei(flags.string('base-fee')!, 'base-fee') : undefined,
      alloc,
      hardfork,
    })
  } catch (err) {
    // A value the flags let through but the genesis rules refuse (difficulty below the minimum).
    if (err instanceof GenesisError) throw usageError(err.message)
    throw err
  }
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
  note(`Wrote ${file}: chain id ${g.chainId}, ${authorities.length} authorit${authorities.length === 1 ? 'y' : 'ies'}, ${describeSealing(g)}, ${g.hardfork} EVM`)
}

const newCommand: CommandSpec = {
  kind: 'command',
  path: 'genesis new',
  summary: 'write a genesis file for a new chain',
  usage: 'genesis new (--consensus poa --authorities A,B --period S [--epoch N] | --consensus pow --target-block-time S [--difficulty D] [--reward WEI] [--minimum-difficulty D] [--authorities A,B]) [--chain-id N] [--gas-limit N] [--base-fee WEI] [--alloc ADDR=WEI ...] [--hardfork NAME] [--out FILE]',
  description: [
    'Prints a genesis JSON document (or writes it to --out FILE) for a Proof-of-Authority chain',
    'sealed by the given authorities, or (--consensus pow) a Proof-of-Work chain mined by anyone,',
    'whose difficulty follows --target-block-time and whose miners earn --reward per block plus',
    'fees; there --authorities lists the certified providers (AuthoritySet contract). Every node',
    'of the chain must be initialised with the same file ("medrec init --genesis FILE"). The',
    'MedRec system contracts are predeployed. --hardfork picks the EVM rules (Ethereum\'s forks',
    `${CHAIN_FORKS.join(', ')}, without blobs or a beacon chain); the file names it as geth does`,
    '("osakaTime": 0 and the forks before it). Contracts compiled with solc\'s default settings',
    'need osaka.',
    'WEI amounts are decimal wei or carry a unit: 100ether, 1.5ether, 5gwei.',
  ].join('\n'),
  flags: [
    { name: 'consensus', kind: 'string', placeholder: 'ENGINE', default: 'poa', description: 'consensus engine: poa (authorities) or pow (proof of work)' },
    { name: 'authorities', kind: 'string', placeholder: 'A,B', default: 'required for poa', description: 'comma-separated addresses: the initial sealers (poa), the certified providers (pow)' },
    { name: 'period', kind: 'string', placeholder: 'S', default: 'required for poa', description: 'poa: seconds between blocks (0: seal when transactions arrive)' },
    { name: 'epoch', kind: 'string', placeholder: 'N', default: '30000', description: 'poa: blocks between checkpoints that list the authorities' },
    { name: 'target-block-time', kind: 'string', placeholder: 'S', default: 'required for pow', description: 'pow: seconds between blocks the difficulty aims for' },
    { name: 'difficulty', kind: 'string', placeholder: 'D', default: '100000', description: 'pow: difficulty of the first blocks (expected hashes per block)' },
    { name: 'reward', kind: 'string', placeholder: 'WEI', default: '2ether', description: 'pow: block reward paid to each block\'s miner, on top of fees' },
    { name: 'minimum-difficulty', kind: 'string', placeholder: 'D', default: '1000', description: 'pow: the difficulty never drops below this' },
    { name: 'chain-id', kind: 'string', placeholder: 'N', default: String(DEV_CHAIN_ID), description: 'EIP-155 chain id' },
    { name: 'gas-limit', kind: 'string', placeholder: 'N', default: String(DEFAULT_GAS_LIMIT), description: 'block gas limit' },
    { name: 'base-fee', kind: 'string', placeholder: 'WEI', default: '1gwei', description: 'EIP-1559 base fee of the first block' },
    { name: 'alloc', kind: 'string', placeholder: 'ADDR=WEI', default: 'none', description: 'fund an account at genesis; repeat for more', repeatable: true },
    { name: 'hardfork', kind: 'string', placeholder: 'NAME', default: NEWEST_FORK, description: `EVM rules from genesis on: ${CHAIN_FORKS.join(', ')}` },
    { name: 'out', kind: 'string', placeholder: 'FILE', default: 'stdout', description: 'write the genesis to FILE' },
  ],
  examples: [
    'medrec genesis new --consensus poa --authorities 0xAUTH --period 2 --alloc 0xAUTH=1000ether --out genesis.json',
    'medrec genesis new --consensus pow --target-block-time 2 --difficulty 200000 --reward 2ether --authorities 0xHOSPITAL --alloc 0xHOSPITAL=1000ether --out genesis.json',
  ],
  run,
}

export const genesisGroup: GroupSpec = {
  kind: 'group',
  path: 'genesis',
  summary: 'create genesis files (new)',
  description: 'A genesis file describes a chain: id, consensus and its authorities, block gas limit and the\naccounts funded at block 0.',
  commands: [newCommand],
}
