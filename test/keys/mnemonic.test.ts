import t from 'tap'
import { HDNodeWallet, Mnemonic } from 'ethers'
import { DEV_MNEMONIC, deriveKey, generateMnemonic, isValidMnemonic, toChecksumAddress } from '../../node/keys/index.ts'

const hex = (b: Uint8Array): string => '0x' + Buffer.from(b).toString('hex')

t.test('the development mnemonic derives the well-known accounts', async (t) => {
  t.equal(DEV_MNEMONIC, 'test test test test test test test test test test test junk')
  const k0 = deriveKey(DEV_MNEMONIC, 0)
  t.equal(toChecksumAddress(k0.address), '0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266')
  t.equal(hex(k0.privateKey), '0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80')
  t.equal(toChecksumAddress(deriveKey(DEV_MNEMONIC, 1).address), '0x70997970C51812dc3A010C7d01b50e0d17dc79C8')
  t.equal(hex(deriveKey(DEV_MNEMONIC, 1).privateKey), '0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d')
  t.same(deriveKey(DEV_MNEMONIC), k0, 'index defaults to 0')
  t.equal(toChecksumAddress(deriveKey(`  TEST test\ttest test test test test test test test test junk \n`, 0).address), toChecksumAddress(k0.address), 'case and spacing are normalised')
})

t.test('generated mnemonics are valid, fresh, and derive as ethers derives them', async (t) => {
  const m = generateMnemonic()
  t.equal(m.split(' ').length, 12)
  t.ok(isValidMnemonic(m))
  t.not(generateMnemonic(), m)
  t.ok(Mnemonic.isValidMnemonic(m), 'ethers accepts it')
  for (const i of [0, 1, 7]) {
    const theirs = HDNodeWallet.fromPhrase(m, undefined, `m/44'/60'/0'/0/${i}`)
    const ours = deriveKey(m, i)
    t.equal(toChecksumAddress(ours.address), theirs.address, `address ${i}`)
    t.equal(hex(ours.privateKey), theirs.privateKey, `key ${i}`)
  }
})

t.test('invalid mnemonics and indexes', async (t) => {
  t.notOk(isValidMnemonic('test test test test test test test test test test test test'), 'bad checksum word')
  t.notOk(isValidMnemonic('test test test test test test test test test test test junkk'), 'unknown word')
  t.notOk(isValidMnemonic(''), 'empty')
  t.notOk(isValidMnemonic('test test test junk'), 'too short')
  t.throws(() => deriveKey('not a mnemonic'), {
    code: 'KEYS_INVALID_MNEMONIC',
    message: 'invalid mnemonic: expected 12, 15, 18, 21 or 24 English BIP-39 words with a valid checksum; check the words and their order',
  })
  for (const i of [-1, 1.5, 2 ** 31, Number.NaN]) {
    t.throws(() => deriveKey(DEV_MNEMONIC, i), { code: 'KEYS_INVALID_INDEX', message: `invalid account index ${i}: must be an integer from 0 to 2147483647` })
  }
  t.ok(deriveKey(DEV_MNEMONIC, 2 ** 31 - 1).privateKey.length === 32, 'the largest non-hardened index works')
})
