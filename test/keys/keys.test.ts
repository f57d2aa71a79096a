import t from 'tap'
import { readFile, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { Wallet, encryptKeystoreJson } from 'ethers'
import {
  DEV_MNEMONIC, decryptKeystore, deriveKey, encryptKeystore, generateMnemonic, isValidMnemonic, openKeystore,
  parseAddress, parsePrivateKey, readPasswordFile, toChecksumAddress,
} from '../../node/keys/index.ts'
import { tempDir } from '../helpers/node-process.ts'

const hex = (b: Uint8Array) => '0x' + Buffer.from(b).toString('hex')

t.test('the development mnemonic derives the well-known accounts', async (t) => {
  t.equal(toChecksumAddress(deriveKey(DEV_MNEMONIC, 0).address), '0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266')
  t.equal(toChecksumAddress(deriveKey(DEV_MNEMONIC, 1).address), '0x70997970C51812dc3A010C7d01b50e0d17dc79C8')
  t.equal(hex(deriveKey(DEV_MNEMONIC, 0).privateKey), '0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80')
  const m = generateMnemonic()
  t.equal(m.split(' ').length, 12)
  t.ok(isValidMnemonic(m))
  // Cross-check with ethers' independent BIP-32/39 implementation.
  t.equal(Wallet.fromPhrase(m).address, toChecksumAddress(deriveKey(m).address))
  t.notOk(isValidMnemonic('test test test test test test test test test test test test'), 'bad checksum word')
  t.throws(() => deriveKey('not a mnemonic'), { code: 'INVALID_MNEMONIC' })
})

t.test('addresses and private keys are validated', async (t) => {
  t.same(parseAddress('0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266'), deriveKey(DEV_MNEMONIC).address)
  t.same(parseAddress('0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266'), deriveKey(DEV_MNEMONIC).address)
  t.throws(() => parseAddress('0xF39Fd6e51aad88F6F4ce6aB8827279cffFb92266'), { code: 'BAD_CHECKSUM', message: /0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266/ })
  t.throws(() => parseAddress('0x1234'), { code: 'INVALID_ADDRESS' })
  t.throws(() => parsePrivateKey('0x' + '00'.repeat(32)), { code: 'INVALID_PRIVATE_KEY', message: /range/ })
  t.throws(() => parsePrivateKey('0x12'), { code: 'INVALID_PRIVATE_KEY' })
})

t.test('keystore V3 round-trips and interoperates with ethers both ways', async (t) => {
  const pk = deriveKey(DEV_MNEMONIC, 2).privateKey
  const ours = await encryptKeystore(pk, 'correct horse', { light: true })
  t.equal(ours.crypto.kdf, 'scrypt')
  t.same(await decryptKeystore(ours, 'correct horse'), pk)
  const viaEthers = await Wallet.fromEncryptedJson(JSON.stringify(ours), 'correct horse')
  t.equal(viaEthers.privateKey, hex(pk), 'ethers decrypts our keystore')
  const w = new Wallet(hex(pk))
  const theirs = await encryptKeystoreJson({ address: w.address, privateKey: w.privateKey }, 'battery staple', { scrypt: { N: 1024 } })
  t.same(await decryptKeystore(theirs, 'battery staple'), pk, 'we decrypt an ethers keystore')
  await t.rejects(decryptKeystore(ours, 'wrong'), { code: 'WRONG_PASSWORD', message: 'could not decrypt key with given password' })
  const tampered = structuredClone(ours)
  tampered.crypto.ciphertext = (tampered.crypto.ciphertext[0] === '0' ? '1' : '0') + tampered.crypto.ciphertext.slice(1)
  await t.rejects(decryptKeystore(tampered, 'correct horse'), { code: 'WRONG_PASSWORD' })
  await t.rejects(decryptKeystore({ ...ours, version: 1 }, 'x'), { code: 'UNSUPPORTED_KEYSTORE' })
  await t.rejects(decryptKeystore({ ...ours, crypto: { ...ours.crypto, kdf: 'argon2' } }, 'x'), { code: 'UNSUPPORTED_KEYSTORE', message: /argon2/ })
  await t.rejects(decryptKeystore({ version: 3, crypto: { cipher: 'aes-128-ctr' } }, 'x'), { code: 'MALFORMED_KEYSTORE', message: /ciphertext/ })
  await t.rejects(decryptKeystore('{not json', 'x'), { code: 'MALFORMED_KEYSTORE' })
})

t.test('the Web3 Secret Storage PBKDF2 test vector decrypts', async (t) => {
  // From the Web3 Secret Storage Definition (password "testpassword").
  const vector = {
    crypto: {
      cipher: 'aes-128-ctr',
      cipherparams: { iv: '6087dab2f9fdbbfaddc31a909735c1e6' },
      ciphertext: '5318b4d5bcd28de64ee5559e671353e16f075ecae9f99c7a79a38af5f869aa46',
      kdf: 'pbkdf2',
      kdfparams: { c: 262144, dklen: 32, prf: 'hmac-sha256', salt: 'ae3cd4e7013836a3df6bd7241b12db061dbe2c6785853cce422d148a624ce0bd' },
      mac: '517ead924a9d0dc3124507e3393d175ce3ff7c1e96529c6c555ce9e51205e9b2',
    },
    id: '3198bc9c-6672-5ab3-d995-4942343ae5b6',
    version: 3,
  }
  t.equal(hex(await decryptKeystore(vector, 'testpassword')), '0x7a28b5ba57c53603b0b07b56bba752f7784bf506fa95edc395f5cf6c7514fe9d')
})

t.test('standard scrypt parameters are geth\'s', async (t) => {
  const pk = deriveKey(DEV_MNEMONIC, 3).privateKey
  const ks = await encryptKeystore(pk, 'pw')
  t.match(ks.crypto.kdfparams, { n: 262144, r: 8, p: 1, dklen: 32 })
  t.same(await decryptKeystore(ks, 'pw'), pk)
})

t.test('keystore directory: save, list, find, unlock, duplicates, modes', async (t) => {
  const dir = tempDir()
  t.teardown(() => dir.remove())
  const ks = openKeystore(join(dir.path, 'keystore'))
  t.same(await ks.list(), [], 'missing dir lists nothing')
  const a = deriveKey(DEV_MNEMONIC, 0)
  const saved = await ks.save(a.privateKey, 'pw', { light: true })
  t.match(saved.file, /UTC--\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d\.\d{9}Z--f39fd6e51aad88f6f4ce6ab8827279cfffb92266$/)
  t.equal((await stat(saved.file)).mode & 0o777, 0o600)
  t.equal((await stat(ks.dir)).mode & 0o777, 0o700)
  await writeFile(join(ks.dir, 'README'), 'not a key')
  t.equal((await ks.list()).length, 1, 'non-key files are skipped')
  t.equal(await ks.find(a.address), saved.file)
  t.same(await ks.unlock(a.address, 'pw'), a.privateKey)
  await t.rejects(ks.unlock(a.address, 'nope'), { code: 'WRONG_PASSWORD' })
  await t.rejects(ks.save(a.privateKey, 'pw', { light: true }), { code: 'ACCOUNT_EXISTS' })
  await t.rejects(ks.unlock(deriveKey(DEV_MNEMONIC, 5).address, 'pw'), { code: 'ACCOUNT_NOT_FOUND', message: /medrec account import/ })
  t.ok(JSON.parse(await readFile(saved.file, 'utf8')).crypto)
})

t.test('password files', async (t) => {
  const dir = tempDir()
  t.teardown(() => dir.remove())
  await writeFile(join(dir.path, 'pw'), 'secret\r\nignored\n')
  t.equal(await readPasswordFile(join(dir.path, 'pw')), 'secret')
  await writeFile(join(dir.path, 'empty'), '\n')
  await t.rejects(readPasswordFile(join(dir.path, 'empty')), { code: 'PASSWORD_FILE', message: /empty/ })
  await t.rejects(readPasswordFile(join(dir.path, 'missing')), { code: 'PASSWORD_FILE' })
})
