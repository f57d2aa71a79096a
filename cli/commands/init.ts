import { createDevGenesis, describeSealing, readGenesisFile, type Genesis } from '../../node/genesis/index.ts'
import { deriveKey, openKeystore, toChecksumAddress, type KeystoreEntry } from '../../node/keys/index.ts'
import { CliError, CliErrorCode, usageError } from '../errors.ts'
import { assertPasswordSource, getPassword, note, out, outJson } from '../io.ts'
import type { CommandSpec, ParsedFlags } from '../types.ts'
import {
  DATADIR_REQUIRED, JSON_OUT, LIGHTKDF, MNEMONIC, PASSWORD, datadirPaths, ensureNodeKey, genesisDiff, keystoreUrl,
  makeDatadir, mnemonicFlag, newMnemonic, readDatadirGenesis, requireFlag, writeGenesis,
} from './shared.ts'

async function run(flags: ParsedFlags): Promise<void> {
  // Everything that can be a usage error is checked before anything is written.
  const paths = datadirPaths(requireFlag(flags, 'datadir', 'DIR'))
  const genesisFile = flags.string('genesis')
  const dev = flags.boolean('dev')
  if ((genesisFile === undefined) === !dev) throw usageError(`"${flags.command}" needs exactly one of --genesis FILE or --dev`)
  const mnemonic = mnemonicFlag(flags)

  const genesis: Genesis = genesisFile !== undefined ? await readGenesisFile(genesisFile) : createDevGenesis()
  const existing = await readDatadirGenesis(paths)
  if (existing !== undefined) {
    const diff = genesisDiff(existing, genesis)
    if (diff.length > 0) {
      throw new CliError(CliErrorCode.GENESIS_MISMATCH, `${paths.dir} is already initialised with another genesis (${diff.join(', ')} differ); use a new --datadir`, { diff })
    }
  }

  // One account in the keystore: restored from --mnemonic, else new unless one is already there
  // (e.g. made by `medrec account new` to become the authority named in the genesis).
  const ks = openKeystore(paths.keystore)
  const present = await ks.list()
  const restored = mnemonic === undefined ? undefined : deriveKey(mnemonic, 0)
  const restoredFile = restored === undefined ? undefined : await ks.find(restored.address)
  const needAccount = restored !== undefined ? restoredFile === undefined : present.length === 0
  if (needAccount) assertPasswordSource(flags.string('password'), 'password')
  else if (flags.has('password')) note('Note: the keystore already holds the account; --password is not used')

  const password = needAccount ? await getPassword({ file: flags.string('password'), flag: 'password', what: 'the new account', confirm: true }) : undefined
  await makeDatadir(paths.dir)
  if (existing === undefined) await writeGenesis(paths.genesis, genesis)
  const nodekeyCreated = await ensureNodeKey(paths.nodekey)

  let account: KeystoreEntry
  let generated: string | undefined
  if (!needAccount) {
    account = restored !== undefined ? { address: restored.address, file: restoredFile! } : present[0]!
  } else {
    const words = restored === undefined ? (generated = newMnemonic()) : mnemonic!
    account = await ks.save(restored?.privateKey ?? deriveKey(words, 0).privateKey, password!, { light: flags.boolean('lightkdf') })
  }

  const address = toChecksumAddress(account.address)
  if (flags.boolean('json')) {
    outJson({
      datadir: paths.dir,
      genesis: paths.genesis,
      chainId: Number(genesis.chainId),
      nodekey: paths.nodekey,
      account: { address, file: account.file, created: needAccount },
      ...(generated === undefined ? {} : { mnemonic: generated }),
    })
    return
  }
  note(existing === undefined
    ? `Wrote ${paths.genesis}: chain id ${genesis.chainId}, ${genesis.authorities.length} authorit${genesis.authorities.length === 1 ? 'y' : 'ies'}, ${describeSealing(genesis)}`
    : `${paths.genesis} already holds this genesis: kept`)
  note(nodekeyCreated ? `Wrote ${paths.nodekey}` : `Kept the existing ${paths.nodekey}`)
  if (generated !== undefined) out(`Mnemonic: ${generated}`)
  out(`Account: ${address} ${keystoreUrl(account.file)}${needAccount ? '' : ' (already in the keystore)'}`)
  out(`Datadir: ${paths.dir}`)
}

export const initCommand: CommandSpec = {
  kind: 'command',
  path: 'init',
  summary: 'create a data dir: genesis, node key and an account',
  usage: 'init --datadir DIR (--genesis FILE | --dev) [--password FILE] [--mnemonic "WORDS"] [--lightkdf] [--json]',
  description: [
    'Creates DIR (mode 0700) with the genesis (DIR/genesis.json, normalised), a node key',
    '(DIR/nodekey, kept if present) and one keystore account (DIR/keystore/): restored from',
    '--mnemonic, else a new 12-word mnemonic that is printed once. If the keystore already holds',
    'an account and no --mnemonic is given, that account is kept and no password is needed.',
    'Running init again with the same genesis is harmless; a different genesis is refused.',
  ].join('\n'),
  flags: [
    DATADIR_REQUIRED,
    { name: 'genesis', kind: 'string', placeholder: 'FILE', default: 'none', description: 'genesis file to initialise with (see "medrec genesis new")' },
    { name: 'dev', kind: 'boolean', default: 'off', description: 'use the development genesis (chain id 1337, dev accounts funded) instead of --genesis' },
    PASSWORD,
    MNEMONIC,
    LIGHTKDF,
    JSON_OUT,
  ],
  examples: [
    'medrec init --datadir ./node1 --genesis genesis.json --password pw.txt',
    'medrec init --datadir ./node1 --genesis genesis.json --password pw.txt --mnemonic "word1 ... word12"',
  ],
  run,
}
