import {
  KeyError, KeyErrorCode, decryptKeystore, deriveKey, openKeystore, parsePrivateKey, privateKeyToAddress, toChecksumAddress,
} from '../../node/keys/index.ts'
import { parseInteger } from '../args.ts'
import { CliError, CliErrorCode, usageError } from '../errors.ts'
import { assertPasswordSource, getPassword, out, outJson } from '../io.ts'
import type { CommandSpec, GroupSpec, ParsedFlags } from '../types.ts'
import {
  DATADIR_REQUIRED, JSON_OUT, LIGHTKDF, PASSWORD, datadirPaths, exists, keystoreUrl, makeDatadir, mnemonicFlag,
  newMnemonic, readInputFile, requireFlag,
} from './shared.ts'

function report(flags: ParsedFlags, verb: string, address: Uint8Array, file: string, mnemonic?: string): void {
  if (flags.boolean('json')) {
    outJson({ address: toChecksumAddress(address), file, ...(mnemonic === undefined ? {} : { mnemonic }) })
    return
  }
  if (mnemonic !== undefined) out(`Mnemonic: ${mnemonic}`)
  out(`${verb} account: ${toChecksumAddress(address)}`)
  out(`Path of the secret key file: ${file}`)
}

async function save(flags: ParsedFlags, privateKey: Uint8Array): Promise<{ address: Uint8Array; file: string }> {
  const paths = datadirPaths(requireFlag(flags, 'datadir', 'DIR'))
  const ks = openKeystore(paths.keystore)
  // Refuse before asking for a password that would not be used.
  const address = privateKeyToAddress(privateKey)
  if ((await ks.find(address)) !== undefined) {
    throw new KeyError(KeyErrorCode.ACCOUNT_EXISTS, `account ${toChecksumAddress(address)} already exists in ${paths.keystore}`)
  }
  const password = await getPassword({ file: flags.string('password'), flag: 'password', what: 'the new account', confirm: true })
  await makeDatadir(paths.dir)
  return ks.save(privateKey, password, { light: flags.boolean('lightkdf') })
}

const newCommand: CommandSpec = {
  kind: 'command',
  path: 'account new',
  summary: 'create an account from a new mnemonic',
  usage: 'account new --datadir DIR [--password FILE] [--lightkdf] [--json]',
  description: 'Generates a 12-word BIP-39 mnemonic, derives its first key (m/44\'/60\'/0\'/0/0, as MetaMask)\nand stores it encrypted in DIR/keystore/. The mnemonic is printed once: write it down.',
  flags: [DATADIR_REQUIRED, PASSWORD, LIGHTKDF, JSON_OUT],
  // --password: without it the command prompts, and fails where no terminal is attached (scripts).
  examples: ['medrec account new --datadir ./node1 --password pw.txt'],
  async run(flags) {
    requireFlag(flags, 'datadir', 'DIR')
    assertPasswordSource(flags.string('password'), 'password')
    const mnemonic = newMnemonic()
    const saved = await save(flags, deriveKey(mnemonic, 0).privateKey)
    report(flags, 'New', saved.address, saved.file, mnemonic)
  },
}

const listCommand: CommandSpec = {
  kind: 'command',
  path: 'account list',
  summary: 'list the keystore\'s accounts',
  usage: 'account list --datadir DIR [--json]',
  description: 'Prints the accounts in DIR/keystore/, one line each, in geth\'s format:\n  Account #0: {0x...} keystore:///path/to/file',
  flags: [DATADIR_REQUIRED, JSON_OUT],
  async run(flags) {
    const paths = datadirPaths(requireFlag(flags, 'datadir', 'DIR'))
    if (!(await exists(paths.dir))) {
      throw new CliError(CliErrorCode.NO_DATADIR, `data dir ${paths.dir} does not exist: create it with "medrec init" or "medrec account new"`)
    }
    const accounts = await openKeystore(paths.keystore).list()
    if (flags.boolean('json')) {
      outJson(accounts.map((a, index) => ({ index, address: toChecksumAddress(a.address), file: a.file })))
      return
    }
    accounts.forEach((a, i) => out(`Account #${i}: {${toChecksumAddress(a.address)}} ${keystoreUrl(a.file)}`))
  },
}

const SOURCES = ['mnemonic', 'keyfile', 'private-key-file'] as const

const importCommand: CommandSpec = {
  kind: 'command',
  path: 'account import',
  summary: 'import an account from a mnemonic, a keystore file or a private key file',
  usage: 'account import --datadir DIR (--mnemonic "WORDS" [--index N] | --keyfile FILE [--keyfile.password FILE] | --private-key-file FILE) [--password FILE] [--lightkdf] [--json]',
  description: 'Stores an existing key in DIR/keystore/, encrypted with --password. The key comes from\nexactly one of --mnemonic (key m/44\'/60\'/0\'/0/N), --keyfile (a V3 keystore, as geth, ethers\nor MetaMask write) or --private-key-file (64 hex digits).',
  flags: [
    DATADIR_REQUIRED,
    { name: 'mnemonic', kind: 'string', placeholder: '"WORDS"', default: 'none', description: 'a 12 or 24-word BIP-39 mnemonic' },
    { name: 'index', kind: 'string', placeholder: 'N', default: '0', description: 'with --mnemonic: the address index N in m/44\'/60\'/0\'/0/N' },
    { name: 'keyfile', kind: 'string', placeholder: 'FILE', default: 'none', description: 'a V3 keystore JSON file' },
    { name: 'keyfile.password', kind: 'string', placeholder: 'FILE', default: 'prompt on a terminal', description: 'with --keyfile: file whose first line is the keyfile\'s password' },
    { name: 'private-key-file', kind: 'string', placeholder: 'FILE', default: 'none', description: 'a file holding the private key as hex' },
    PASSWORD,
    LIGHTKDF,
    JSON_OUT,
  ],
  async run(flags) {
    requireFlag(flags, 'datadir', 'DIR')
    const given = SOURCES.filter((s) => flags.has(s))
    if (given.length !== 1) throw usageError(`"${flags.command}" needs exactly one of ${SOURCES.map((s) => `--${s}`).join(', ')}${given.length > 1 ? `, got ${given.map((s) => `--${s}`).join(' and ')}` : ''}`)
    if (flags.has('index') && !flags.has('mnemonic')) throw usageError('--index is only used with --mnemonic')
    if (flags.has('keyfile.password') && !flags.has('keyfile')) throw usageError('--keyfile.password is only used with --keyfile')
    const mnemonic = mnemonicFlag(flags)
    const index = Number(parseInteger(flags.string('index') ?? '0', 'index', 0n, 2n ** 31n - 1n))
    if (flags.has('keyfile')) assertPasswordSource(flags.string('keyfile.password'), 'keyfile.password')
    assertPasswordSource(flags.string('password'), 'password')

    let privateKey: Uint8Array
    if (mnemonic !== undefined) {
      privateKey = deriveKey(mnemonic, index).privateKey
    } else if (flags.has('keyfile')) {
      const file = flags.string('keyfile')!
      let json: unknown
      try {
        json = JSON.parse(await readInputFile(file, 'keyfile'))
      } catch (err) {
        if (err instanceof CliError) throw err
        // JSON.parse quotes the text; it might be a private key, so say nothing of it.
        throw new CliError(CliErrorCode.BAD_KEYFILE, `keyfile ${file} is not JSON: expected a V3 keystore file (for a hex private key use --private-key-file)`)
      }
      const pw = await getPassword({ file: flags.string('keyfile.password'), flag: 'keyfile.password', what: `the keyfile ${file}`, confirm: false })
      privateKey = await decryptKeystore(json, pw)
    } else {
      privateKey = parsePrivateKey(await readInputFile(flags.string('private-key-file')!, 'private key file'))
    }
    const saved = await save(flags, privateKey)
    report(flags, 'Imported', saved.address, saved.file)
  },
}

export const accountGroup: GroupSpec = {
  kind: 'group',
  path: 'account',
  summary: 'manage keystore accounts (new, list, import)',
  description: 'Accounts live in DIR/keystore/ as Web3 Secret Storage (V3) files, named and encrypted as geth\ndoes, so geth, ethers and MetaMask can read them.',
  commands: [newCommand, listCommand, importCommand],
}
