import t from 'tap'
import { computeAddress, getAddress, Wallet } from 'ethers'
import { parseAddress, parsePrivateKey, privateKeyToAddress, toChecksumAddress } from '../../node/keys/index.ts'

const hex = (b: Uint8Array): string => '0x' + Buffer.from(b).toString('hex')
const DEV0_KEY = '0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80'
const DEV0 = '0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266'
// secp256k1 group order n.
const N = 'fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141'

t.test('EIP-55 test vectors from the EIP', async (t) => {
  const vectors = [
    '0x52908400098527886E0F7030069857D2E4169EE7',
    '0x8617E340B3D01FA5F11F306F4090FD50E238070D',
    '0xde709f2102306220921060314715629080e2fb77',
    '0x27b1fdb04752bbc536007a920d24acb045561c26',
    '0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed',
    '0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359',
    '0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB',
    '0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb',
  ]
  for (const v of vectors) {
    t.equal(toChecksumAddress(v.toLowerCase()), v, `string ${v}`)
    t.equal(toChecksumAddress(parseAddress(v)), v, `bytes ${v}`)
  }
  t.equal(toChecksumAddress('5aaeb6053f3e94c9b9a09f33669435e7ef1beaed'), '0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed', 'without 0x')
})

t.test('checksums agree with ethers on random addresses', async (t) => {
  for (let i = 0; i < 50; i++) {
    const a = crypto.getRandomValues(new Uint8Array(20))
    t.equal(toChecksumAddress(a), getAddress(hex(a)))
  }
})

t.test('toChecksumAddress rejects what is not an address', async (t) => {
  t.throws(() => toChecksumAddress('0x1234'), { code: 'KEYS_INVALID_ADDRESS', message: 'invalid address "0x1234": expected 0x followed by 40 hex digits' })
  t.throws(() => toChecksumAddress('0x' + 'g'.repeat(40)), { code: 'KEYS_INVALID_ADDRESS' })
  t.throws(() => toChecksumAddress(new Uint8Array(19)), { code: 'KEYS_INVALID_ADDRESS', message: 'invalid address: expected 20 bytes, got 19' })
})

t.test('parseAddress', async (t) => {
  const want = '0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266'
  t.equal(hex(parseAddress(want)), want, 'lowercase')
  t.equal(hex(parseAddress(want.toUpperCase().replace('0X', '0x'))), want, 'all uppercase skips the checksum')
  t.equal(hex(parseAddress(DEV0)), want, 'valid checksum')
  t.equal(hex(parseAddress(`  ${DEV0}\n`)), want, 'surrounding whitespace')
  t.equal(parseAddress(want).length, 20)

  const typo = '0xF39Fd6e51aad88F6F4ce6aB8827279cffFb92266'
  t.throws(() => parseAddress(typo, 'authority'), {
    code: 'KEYS_BAD_CHECKSUM',
    message: `invalid authority ${typo}: EIP-55 checksum mismatch (the correctly checksummed form is ${DEV0}); check the address for a typo, or write it all lowercase to skip the check`,
  })
  t.throws(() => parseAddress('0x1234', 'recipient'), { code: 'KEYS_INVALID_ADDRESS', message: 'invalid recipient "0x1234": expected 0x followed by 40 hex digits' })
  t.throws(() => parseAddress(want.slice(2)), { code: 'KEYS_INVALID_ADDRESS', message: /invalid address "f39f.*": expected 0x/ })
  t.throws(() => parseAddress(want + '00'), { code: 'KEYS_INVALID_ADDRESS' })
  t.throws(() => parseAddress('0x' + 'z'.repeat(40)), { code: 'KEYS_INVALID_ADDRESS' })
  t.throws(() => parseAddress(42 as unknown as string), { code: 'KEYS_INVALID_ADDRESS', message: 'invalid address 42: expected 0x followed by 40 hex digits' })
})

t.test('private keys and their addresses', async (t) => {
  const pk = parsePrivateKey(DEV0_KEY)
  t.equal(hex(pk), DEV0_KEY)
  t.same(parsePrivateKey(DEV0_KEY.slice(2)), pk, '0x is optional')
  t.equal(toChecksumAddress(privateKeyToAddress(pk)), DEV0)
  for (let i = 0; i < 10; i++) {
    const w = Wallet.createRandom()
    t.equal(toChecksumAddress(privateKeyToAddress(parsePrivateKey(w.privateKey))), computeAddress(w.privateKey), 'agrees with ethers')
  }
  t.throws(() => parsePrivateKey('0x' + '00'.repeat(32)), { code: 'KEYS_INVALID_PRIVATE_KEY', message: 'invalid private key: outside the secp256k1 range (must be 1..n-1)' })
  t.throws(() => parsePrivateKey(N), { code: 'KEYS_INVALID_PRIVATE_KEY', message: /outside the secp256k1 range/ }, 'n itself')
  t.doesNotThrow(() => parsePrivateKey(N.slice(0, -1) + '0'), 'n-1 is valid')
  t.throws(() => parsePrivateKey('0x12'), { code: 'KEYS_INVALID_PRIVATE_KEY', message: 'invalid private key: expected 32 bytes as 64 hex digits (0x optional)' })
  t.throws(() => parsePrivateKey(DEV0_KEY.slice(0, -1) + 'x'), { code: 'KEYS_INVALID_PRIVATE_KEY', message: /64 hex digits/ })
  try {
    parsePrivateKey(DEV0_KEY.slice(0, -2))
  } catch (err) {
    t.notMatch((err as Error).message, DEV0_KEY.slice(2, 20), 'the key is never echoed')
  }
  t.throws(() => privateKeyToAddress(new Uint8Array(32)), { code: 'KEYS_INVALID_PRIVATE_KEY' })
  t.throws(() => privateKeyToAddress(new Uint8Array(31).fill(1)), { code: 'KEYS_INVALID_PRIVATE_KEY', message: /expected 32 bytes/ })
})
