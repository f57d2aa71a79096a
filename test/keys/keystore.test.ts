import t from 'tap'
import { createCipheriv, pbkdf2Sync, randomBytes } from 'node:crypto'
import { keccak_256 } from '@noble/hashes/sha3.js'
import { Wallet, encryptKeystoreJson } from 'ethers'
import { DEV_MNEMONIC, decryptKeystore, deriveKey, encryptKeystore, type KeystoreV3 } from '../../node/keys/index.ts'

const hex = (b: Uint8Array): string => '0x' + Buffer.from(b).toString('hex')
const VECTOR_KEY = '0x7a28b5ba57c53603b0b07b56bba752f7784bf506fa95edc395f5cf6c7514fe9d'

// The two test vectors of the Web3 Secret Storage Definition (ethereum wiki), password "testpassword".
const PBKDF2_VECTOR = {
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
const SCRYPT_VECTOR = {
  crypto: {
    cipher: 'aes-128-ctr',
    cipherparams: { iv: '83dbcc02d8ccb40e466191a123791e0e' },
    ciphertext: 'd172bf743a674da9cdad04534d56926ef8358534d458fffccd4e6ad2fbde479c',
    kdf: 'scrypt',
    kdfparams: { dklen: 32, n: 262144, p: 8, r: 1, salt: 'ab0c7876052600dd703518d6fc3fe8984592145b591fc8fb5c6d43190334ba19' },
    mac: '2103ac29920d71da29f15d75b4a16dbe95cfd7ff8faea1056c33131d846e3097',
  },
  id: '3198bc9c-6672-5ab3-d995-4942343ae5b6',
  version: 3,
}

/** A keystore built by hand (pbkdf2, c=1: fast) around any plaintext, with a correct MAC. */
function craft(plain: Uint8Array, password: string, address?: string): Record<string, unknown> {
  const salt = randomBytes(16)
  const iv = randomBytes(16)
  const dk = pbkdf2Sync(password, salt, 1, 32, 'sha256')
  const c = createCipheriv('aes-128-ctr', dk.subarray(0, 16), iv)
  const ct = Buffer.concat([c.update(plain), c.final()])
  const mac = keccak_256(Buffer.concat([dk.subarray(16, 32), ct]))
  return {
    version: 3,
    id: '00000000-0000-4000-8000-000000000000',
    ...(address === undefined ? {} : { address }),
    crypto: {
      cipher: 'aes-128-ctr',
      ciphertext: ct.toString('hex'),
      cipherparams: { iv: iv.toString('hex') },
      kdf: 'pbkdf2',
      kdfparams: { c: 1, dklen: 32, prf: 'hmac-sha256', salt: salt.toString('hex') },
      mac: Buffer.from(mac).toString('hex'),
    },
  }
}

t.test('Web3 Secret Storage test vectors', async (t) => {
  t.equal(hex(await decryptKeystore(PBKDF2_VECTOR, 'testpassword')), VECTOR_KEY, 'PBKDF2 vector')
  t.equal(hex(await decryptKeystore(JSON.stringify(SCRYPT_VECTOR), 'testpassword')), VECTOR_KEY, 'scrypt vector, as JSON text')
  // Independent implementation: ethers decrypts the PBKDF2 vector to the same key. (It refuses the
  // scrypt vector: like OpenSSL it requires N < 2^(16r), and the vector has r=1, N=2^18.)
  t.equal((await Wallet.fromEncryptedJson(JSON.stringify(PBKDF2_VECTOR), 'testpassword')).privateKey, VECTOR_KEY, 'ethers agrees on the PBKDF2 vector')
  await t.rejects(decryptKeystore(PBKDF2_VECTOR, 'testpassworD'), { code: 'KEYS_WRONG_PASSWORD', message: 'could not decrypt key with given password' })
})

t.test('light keystores round-trip and interoperate with ethers both ways', async (t) => {
  const pk = deriveKey(DEV_MNEMONIC, 2).privateKey
  const ours = await encryptKeystore(pk, 'correct horse', { light: true })
  t.match(ours, { version: 3, address: Buffer.from(deriveKey(DEV_MNEMONIC, 2).address).toString('hex') })
  t.match(ours.id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
  t.match(ours.crypto, { cipher: 'aes-128-ctr', kdf: 'scrypt', kdfparams: { n: 4096, r: 8, p: 6, dklen: 32 } })
  t.match(ours.crypto.kdfparams.salt, /^[0-9a-f]{64}$/)
  t.match(ours.crypto.cipherparams.iv, /^[0-9a-f]{32}$/)
  t.same(await decryptKeystore(ours, 'correct horse'), pk)
  t.same(await decryptKeystore(JSON.stringify(ours), 'correct horse'), pk, 'JSON text works too')
  t.equal((await Wallet.fromEncryptedJson(JSON.stringify(ours), 'correct horse')).privateKey, hex(pk), 'ethers decrypts ours')
  const again = await encryptKeystore(pk, 'correct horse', { light: true })
  t.not(again.crypto.ciphertext, ours.crypto.ciphertext, 'fresh salt and iv each time')

  const w = new Wallet(hex(pk))
  const theirs = await encryptKeystoreJson({ address: w.address, privateKey: w.privateKey }, 'battery staple', { scrypt: { N: 1024 } })
  t.same(await decryptKeystore(theirs, 'battery staple'), pk, 'we decrypt an ethers keystore')
})

t.test('standard scrypt parameters are geth\'s and interoperate with ethers', async (t) => {
  const pk = deriveKey(DEV_MNEMONIC, 3).privateKey
  const ks = await encryptKeystore(pk, 'pw')
  t.same(ks.crypto.kdfparams, { dklen: 32, n: 262144, r: 8, p: 1, salt: ks.crypto.kdfparams.salt })
  t.same(await decryptKeystore(ks, 'pw'), pk)
  t.equal((await Wallet.fromEncryptedJson(JSON.stringify(ks), 'pw')).privateKey, hex(pk), 'ethers decrypts it')
  // Wallet.encrypt with ethers' own defaults (scrypt N=2^17).
  const fromEthers = await new Wallet(hex(pk)).encrypt('pw2')
  t.same(await decryptKeystore(fromEthers, 'pw2'), pk, 'we decrypt Wallet.encrypt output')
  await t.rejects(decryptKeystore(fromEthers, 'pw'), { code: 'KEYS_WRONG_PASSWORD' })
})

t.test('wrong password and tampering are WRONG_PASSWORD', async (t) => {
  const pk = deriveKey(DEV_MNEMONIC, 4).privateKey
  const ks = await encryptKeystore(pk, 'right', { light: true })
  await t.rejects(decryptKeystore(ks, 'wrong'), { code: 'KEYS_WRONG_PASSWORD', message: 'could not decrypt key with given password' })
  await t.rejects(decryptKeystore(ks, ''), { code: 'KEYS_WRONG_PASSWORD' })
  const flip = (h: string): string => (h[0] === '0' ? '1' : '0') + h.slice(1)
  const tampered: KeystoreV3 = structuredClone(ks)
  tampered.crypto.ciphertext = flip(tampered.crypto.ciphertext)
  await t.rejects(decryptKeystore(tampered, 'right'), { code: 'KEYS_WRONG_PASSWORD' }, 'ciphertext')
  const badMac: KeystoreV3 = structuredClone(ks)
  badMac.crypto.mac = flip(badMac.crypto.mac)
  await t.rejects(decryptKeystore(badMac, 'right'), { code: 'KEYS_WRONG_PASSWORD' }, 'mac')
  const badSalt: KeystoreV3 = structuredClone(ks)
  badSalt.crypto.kdfparams.salt = flip(badSalt.crypto.kdfparams.salt)
  await t.rejects(decryptKeystore(badSalt, 'right'), { code: 'KEYS_WRONG_PASSWORD' }, 'salt')
})

t.test('encrypting an invalid key is refused', async (t) => {
  await t.rejects(encryptKeystore(new Uint8Array(32), 'pw', { light: true }), { code: 'KEYS_INVALID_PRIVATE_KEY' })
  await t.rejects(encryptKeystore(new Uint8Array(16).fill(1), 'pw', { light: true }), { code: 'KEYS_INVALID_PRIVATE_KEY' })
})

t.test('unsupported keystores name what is unsupported', async (t) => {
  const ok = craft(deriveKey(DEV_MNEMONIC, 0).privateKey, 'pw')
  t.same(await decryptKeystore(ok, 'pw'), deriveKey(DEV_MNEMONIC, 0).privateKey, 'the crafted base case decrypts')
  const c = ok.crypto as Record<string, unknown>
  const params = c.kdfparams as Record<string, unknown>
  await t.rejects(decryptKeystore({ ...ok, version: 1 }, 'pw'), { code: 'KEYS_UNSUPPORTED_KEYSTORE', message: 'unsupported keystore version 1: only version 3 is supported' })
  await t.rejects(decryptKeystore({ ...ok, version: '3' }, 'pw'), { code: 'KEYS_UNSUPPORTED_KEYSTORE', message: /version "3"/ })
  await t.rejects(decryptKeystore({ ...ok, crypto: { ...c, kdf: 'argon2' } }, 'pw'), {
    code: 'KEYS_UNSUPPORTED_KEYSTORE',
    message: 'unsupported keystore kdf "argon2": only scrypt and pbkdf2 are supported',
  })
  await t.rejects(decryptKeystore({ ...ok, crypto: { ...c, cipher: 'aes-128-cbc' } }, 'pw'), {
    code: 'KEYS_UNSUPPORTED_KEYSTORE',
    message: 'unsupported keystore cipher "aes-128-cbc": only aes-128-ctr is supported',
  })
  await t.rejects(decryptKeystore({ ...ok, crypto: { ...c, kdfparams: { ...params, prf: 'hmac-sha512' } } }, 'pw'), {
    code: 'KEYS_UNSUPPORTED_KEYSTORE',
    message: 'unsupported keystore prf "hmac-sha512": only hmac-sha256 is supported',
  })
  const scryptKs = await encryptKeystore(deriveKey(DEV_MNEMONIC, 0).privateKey, 'pw', { light: true })
  await t.rejects(decryptKeystore({ ...scryptKs, crypto: { ...scryptKs.crypto, kdfparams: { ...scryptKs.crypto.kdfparams, n: 2 ** 40 } } }, 'pw'), {
    code: 'KEYS_UNSUPPORTED_KEYSTORE',
    message: /^unsupported keystore scrypt parameters n=1099511627776 r=8 p=6: /,
  })
})

t.test('malformed keystores name the field', async (t) => {
  const pk = deriveKey(DEV_MNEMONIC, 0).privateKey
  const ok = craft(pk, 'pw')
  const c = ok.crypto as Record<string, unknown>
  const params = c.kdfparams as Record<string, unknown>
  const withCrypto = (patch: Record<string, unknown>) => ({ ...ok, crypto: { ...c, ...patch } })
  const withParams = (patch: Record<string, unknown>) => withCrypto({ kdfparams: { ...params, ...patch } })
  const cases: Array<[string, unknown, string | RegExp]> = [
    ['not JSON', '{not json', /^malformed keystore: not JSON \(/],
    ['not an object', '[1]', 'malformed keystore: the keystore must be a JSON object'],
    ['no version', { ...ok, version: undefined }, 'malformed keystore: version must be present (3)'],
    ['no crypto', { version: 3 }, 'malformed keystore: crypto must be an object'],
    ['no cipher', withCrypto({ cipher: undefined }), 'malformed keystore: crypto.cipher must be a string'],
    ['ciphertext not hex', withCrypto({ ciphertext: 'xyz' }), 'malformed keystore: crypto.ciphertext must be hex bytes'],
    ['ciphertext length', withCrypto({ ciphertext: 'abcd' }), 'malformed keystore: crypto.ciphertext must be 32 bytes (an encrypted secp256k1 key), got 2'],
    ['no cipherparams', withCrypto({ cipherparams: undefined }), 'malformed keystore: crypto.cipherparams.iv must be hex bytes'],
    ['iv length', withCrypto({ cipherparams: { iv: '00'.repeat(8) } }), 'malformed keystore: crypto.cipherparams.iv must be 16 bytes, got 8'],
    ['mac length', withCrypto({ mac: '00' }), 'malformed keystore: crypto.mac must be 32 bytes, got 1'],
    ['no kdf', withCrypto({ kdf: 7 }), 'malformed keystore: crypto.kdf must be a string'],
    ['no kdfparams', withCrypto({ kdfparams: undefined }), 'malformed keystore: crypto.kdfparams must be an object'],
    ['salt', withParams({ salt: 'zz' }), 'malformed keystore: crypto.kdfparams.salt must be hex bytes'],
    ['dklen type', withParams({ dklen: '32' }), 'malformed keystore: crypto.kdfparams.dklen must be a positive integer'],
    ['dklen small', withParams({ dklen: 16 }), 'malformed keystore: crypto.kdfparams.dklen must be at least 32, got 16'],
    ['c', withParams({ c: 0 }), 'malformed keystore: crypto.kdfparams.c must be a positive integer'],
    ['prf', withParams({ prf: undefined }), 'malformed keystore: crypto.kdfparams.prf must be a string'],
    ['address field', { ...ok, address: 'me' }, 'malformed keystore: address must be 20 bytes of hex'],
  ]
  for (const [name, json, message] of cases) {
    await t.rejects(decryptKeystore(json, 'pw'), { code: 'KEYS_MALFORMED_KEYSTORE', message }, name)
  }

  const scryptKs = await encryptKeystore(pk, 'pw', { light: true })
  const sp = (patch: Record<string, unknown>) => ({ ...scryptKs, crypto: { ...scryptKs.crypto, kdfparams: { ...scryptKs.crypto.kdfparams, ...patch } } })
  await t.rejects(decryptKeystore(sp({ n: 1000 }), 'pw'), { code: 'KEYS_MALFORMED_KEYSTORE', message: 'malformed keystore: crypto.kdfparams.n must be a power of two greater than 1, got 1000' })
  await t.rejects(decryptKeystore(sp({ n: undefined }), 'pw'), { code: 'KEYS_MALFORMED_KEYSTORE', message: 'malformed keystore: crypto.kdfparams.n must be a positive integer' })
  await t.rejects(decryptKeystore(sp({ r: 2 ** 15, p: 2 ** 15 }), 'pw'), { code: 'KEYS_MALFORMED_KEYSTORE', message: /crypto.kdfparams must be such that r \* p < 2\^30/ })

  // Correct MAC, but the file claims another account: refusing it stops a swapped signer.
  const other = '0x' + Buffer.from(deriveKey(DEV_MNEMONIC, 1).address).toString('hex')
  await t.rejects(decryptKeystore(craft(pk, 'pw', other), 'pw'), {
    code: 'KEYS_MALFORMED_KEYSTORE',
    message: /^malformed keystore: address field 0x70997970c51812dc3a010c7d01b50e0d17dc79c8 does not match the key it holds \(0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266\)/,
  })
  t.same(await decryptKeystore(craft(pk, 'pw', 'F39FD6E51AAD88F6F4CE6AB8827279CFFFB92266'), 'pw'), pk, 'matching address in any case')
  // Correct MAC over a plaintext that is not a usable key.
  await t.rejects(decryptKeystore(craft(new Uint8Array(32), 'pw'), 'pw'), { code: 'KEYS_MALFORMED_KEYSTORE', message: /crypto.ciphertext/ })
})

t.test('a non-JSON keystore error never echoes the input (it may be a raw private key)', async (t) => {
  const secret = 'ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80'
  const err = await decryptKeystore(secret, 'pw').then(() => undefined, (e: Error & { code?: string }) => e)
  t.equal(err?.code, 'KEYS_MALFORMED_KEYSTORE')
  t.notMatch(err?.message ?? '', /ac0974/, 'no fragment of the key in the message')
})
