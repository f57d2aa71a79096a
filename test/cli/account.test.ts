import t from 'tap'
import { readFileSync, readdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Wallet, encryptKeystoreJson } from 'ethers'
import { decryptKeystore, deriveKey, toChecksumAddress } from '../../node/keys/index.ts'
import { DEV0, DEV1, DEV_MNEMONIC, medrec, medrecBatch, passwordFile, tempDir } from './run-cli.ts'

const DEV2_KEY = '0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a'
const DEV2 = '0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC'

t.test('account new, import (mnemonic, private key file, keyfile) and list', async (t) => {
  const tmp = tempDir()
  t.teardown(tmp.remove)
  const dir = join(tmp.path, 'node')
  const pw = passwordFile(tmp.path, 'new-pw')

  // new: a mnemonic printed once, and the account it derives.
  const created = await medrec(['account', 'new', '--datadir', dir, '--password', pw, '--lightkdf'])
  t.equal(created.code, 0, created.stderr)
  const m = /^Mnemonic: ((?:[a-z]+ ){11}[a-z]+)\nNew account: (0x[0-9a-fA-F]{40})\nPath of the secret key file: (\S+)\n$/.exec(created.stdout)
  t.ok(m, created.stdout)
  const newAddress = toChecksumAddress(deriveKey(m![1]!).address)
  t.equal(m![2], newAddress)
  t.match(created.stderr, /WARNING: write down the mnemonic/)
  t.same(await decryptKeystore(readFileSync(m![3]!, 'utf8'), 'new-pw'), deriveKey(m![1]!).privateKey)

  // import --mnemonic --index 1
  const fromMnemonic = await medrec(['account', 'import', '--datadir', dir, '--mnemonic', DEV_MNEMONIC, '--index', '1', '--password', pw, '--lightkdf', '--json'])
  t.equal(fromMnemonic.code, 0, fromMnemonic.stderr)
  const j = JSON.parse(fromMnemonic.stdout) as { address: string; file: string; mnemonic?: string }
  t.equal(j.address, DEV1)
  t.equal(j.mnemonic, undefined)
  t.same(await decryptKeystore(readFileSync(j.file, 'utf8'), 'new-pw'), deriveKey(DEV_MNEMONIC, 1).privateKey)

  // import --private-key-file
  const pkFile = join(tmp.path, 'key.txt')
  writeFileSync(pkFile, DEV2_KEY + '\n')
  const fromKey = await medrec(['account', 'import', '--datadir', dir, '--private-key-file', pkFile, '--password', pw, '--lightkdf'])
  t.equal(fromKey.code, 0, fromKey.stderr)
  t.match(fromKey.stdout, new RegExp(`^Imported account: ${DEV2}\\nPath of the secret key file: \\S+\\n$`))

  // import --keyfile: a keystore written by ethers, with its own password; re-encrypted with --password.
  const keyfile = join(tmp.path, 'ethers.json')
  const dev0 = deriveKey(DEV_MNEMONIC, 0)
  writeFileSync(keyfile, await encryptKeystoreJson({ address: DEV0, privateKey: '0x' + Buffer.from(dev0.privateKey).toString('hex') }, 'keyfile-pw', { scrypt: { N: 1024 } }))
  const wrong = await medrec(['account', 'import', '--datadir', dir, '--keyfile', keyfile, '--keyfile.password', passwordFile(tmp.path, 'nope', 'wrong.txt'), '--password', pw])
  t.equal(wrong.code, 1, 'wrong keyfile password refused')
  t.match(wrong.stderr, /^Error: [^\n]*password[^\n]*\n$/)
  const right = await medrec(['account', 'import', '--datadir', dir, '--keyfile', keyfile, '--keyfile.password', passwordFile(tmp.path, 'keyfile-pw', 'kpw.txt'), '--password', pw, '--lightkdf', '--json'])
  t.equal(right.code, 0, right.stderr)
  const imported = JSON.parse(right.stdout) as { address: string; file: string }
  t.equal(imported.address, DEV0)
  const wallet = await Wallet.fromEncryptedJson(readFileSync(imported.file, 'utf8'), 'new-pw')
  t.equal(wallet.address, DEV0, 'the imported key is stored under the new password, readable by ethers')

  // importing the same key again is refused
  const dup = await medrec(['account', 'import', '--datadir', dir, '--private-key-file', pkFile, '--password', pw])
  t.equal(dup.code, 1)
  t.equal(dup.stderr, `Error: account ${DEV2} already exists in ${join(dir, 'keystore')}\n`)

  // list, in geth's format, in keystore file order (by creation time)
  const files = readdirSync(join(dir, 'keystore')).sort()
  const list = await medrec(['account', 'list', '--datadir', dir])
  t.equal(list.code, 0, list.stderr)
  t.equal(list.stdout, [newAddress, DEV1, DEV2, DEV0].map((a, i) => `Account #${i}: {${a}} keystore://${join(dir, 'keystore', files[i]!)}\n`).join(''))
  const listJson = await medrec(['account', 'list', '--datadir', dir, '--json'])
  t.same(JSON.parse(listJson.stdout), [newAddress, DEV1, DEV2, DEV0].map((address, index) => ({ index, address, file: join(dir, 'keystore', files[index]!) })))

  // an empty keystore lists nothing
  const empty = join(tmp.path, 'empty')
  const none = await medrec(['account', 'list', '--datadir', tmp.path])
  t.same([none.code, none.stdout], [0, ''])
  t.same(JSON.parse((await medrec(['account', 'list', '--datadir', tmp.path, '--json'])).stdout), [])
  t.equal((await medrec(['account', 'list', '--datadir', empty])).code, 1, 'a missing data dir is an error')
})

t.test('account usage and runtime errors', async (t) => {
  const tmp = tempDir()
  t.teardown(tmp.remove)
  const dir = join(tmp.path, 'node')
  const pw = passwordFile(tmp.path, 'pw')
  const badKey = join(tmp.path, 'bad-key.txt')
  writeFileSync(badKey, 'not a key\n')
  const pkFile = join(tmp.path, 'pk.txt')
  writeFileSync(pkFile, DEV2_KEY)
  const notKeystore = join(tmp.path, 'not-keystore.json')
  writeFileSync(notKeystore, '{"version": 3}')
  const imp = 'Run "medrec account import --help" for usage.\n'
  const cases: Array<[string[], number, string | RegExp]> = [
    [['account', 'new', '--password', pw], 2, `Error: missing --datadir DIR for "medrec account new"\nRun "medrec account new --help" for usage.\n`],
    [['account', 'new', '--datadir', dir], 2, `Error: no password given: pass --password FILE (a file whose first line is the password)\nRun "medrec account new --help" for usage.\n`],
    [['account', 'list'], 2, `Error: missing --datadir DIR for "medrec account list"\nRun "medrec account list --help" for usage.\n`],
    [['account', 'list', '--datadir', dir], 1, `Error: data dir ${dir} does not exist: create it with "medrec init" or "medrec account new"\n`],
    [['account', 'import', '--datadir', dir, '--password', pw], 2, `Error: "medrec account import" needs exactly one of --mnemonic, --keyfile, --private-key-file\n${imp}`],
    [['account', 'import', '--datadir', dir, '--password', pw, '--mnemonic', DEV_MNEMONIC, '--private-key-file', badKey], 2, `Error: "medrec account import" needs exactly one of --mnemonic, --keyfile, --private-key-file, got --mnemonic and --private-key-file\n${imp}`],
    [['account', 'import', '--datadir', dir, '--password', pw, '--private-key-file', badKey, '--index', '2'], 2, `Error: --index is only used with --mnemonic\n${imp}`],
    [['account', 'import', '--datadir', dir, '--password', pw, '--private-key-file', badKey, '--keyfile.password', pw], 2, `Error: --keyfile.password is only used with --keyfile\n${imp}`],
    [['account', 'import', '--datadir', dir, '--password', pw, '--mnemonic', DEV_MNEMONIC, '--index', 'x'], 2, `Error: invalid value for --index: expected an integer from 0 to 2147483647, got "x"\n${imp}`],
    [['account', 'import', '--datadir', dir, '--password', pw, '--mnemonic', 'one two three'], 2, `Error: invalid value for --mnemonic: expected 12 or 24 English BIP-39 words with a valid checksum\n${imp}`],
    [['account', 'import', '--datadir', dir, '--password', pw, '--keyfile', badKey], 2, `Error: no password given: pass --keyfile.password FILE (a file whose first line is the password)\n${imp}`],
    [['account', 'import', '--datadir', dir, '--mnemonic', DEV_MNEMONIC], 2, `Error: no password given: pass --password FILE (a file whose first line is the password)\n${imp}`],
    [['account', 'import', '--datadir', dir, '--password', pw, '--private-key-file', join(tmp.path, 'missing')], 1, new RegExp(`^Error: cannot read private key file ${join(tmp.path, 'missing')}: `)],
    [['account', 'import', '--datadir', dir, '--password', pw, '--private-key-file', badKey], 1, /^Error: [^\n]*private key[^\n]*\n$/],
    [['account', 'import', '--datadir', dir, '--password', pw, '--keyfile', pkFile, '--keyfile.password', pw], 1, `Error: keyfile ${pkFile} is not JSON: expected a V3 keystore file (for a hex private key use --private-key-file)\n`],
    [['account', 'import', '--datadir', dir, '--password', pw, '--keyfile', notKeystore, '--keyfile.password', pw], 1, /^Error: [^\n]*keystore[^\n]*\n$/],
  ]
  // These end before anything is written: the first runs as its own process, the rest batched in one (medrecBatch).
  const results = [await medrec(cases[0]![0]), ...(await medrecBatch(cases.slice(1).map(([args]) => args)))]
  for (const [i, [args, code, stderr]] of cases.entries()) {
    const r = results[i]!
    t.equal(r.code, code, args.join(' '))
    if (typeof stderr === 'string') t.equal(r.stderr, stderr, args.join(' '))
    else t.match(r.stderr, stderr, args.join(' '))
    t.notMatch(r.stderr, /test test test|5de4111afa/, 'secrets are never echoed in errors')
  }
})
