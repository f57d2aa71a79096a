import t from 'tap'
import { createCipheriv, pbkdf2Sync, randomBytes } from 'node:crypto'
import { keccak_256 } from '@noble/hashes/sha3.js'
import { bytesToHex } from 'viem'
import { decryptKeystore, keyFromRecoveryPhrase } from '../../ui/src/keys/index.ts'
import { parseEvent } from '../../ui/src/api/events.ts'
import { csvRecords } from '../../ui/src/screens/provider-csv.ts'
import { DEV_MNEMONIC, deriveKey, encryptKeystore } from '../../node/keys/index.ts'

/**
 * The browser app's key handling, run in Node on the same code the bundle carries: a keystore
 * written by the node (node/keys) opens in the app with its password and with no other, a
 * tampered file opens with none, and a recovery phrase gives the keys the node derives.
 */

const KEY = new Uint8Array(32).fill(7)

t.test('a keystore the node wrote opens in the app with its password, and only with it', async (t) => {
  const ks = await encryptKeystore(KEY, 'correct horse', { light: true })
  t.equal(await decryptKeystore(JSON.stringify(ks), 'correct horse'), bytesToHex(KEY), 'the same key')
  await t.rejects(decryptKeystore(JSON.stringify(ks), 'wrong horse'), /wrong password/, 'a wrong password yields no key')
  // An attacker who flips one ciphertext byte (to make the app sign with another key) is caught by the MAC.
  const tampered = structuredClone(ks)
  const c = tampered.crypto.ciphertext
  tampered.crypto.ciphertext = (c[0] === '0' ? '1' : '0') + c.slice(1)
  await t.rejects(decryptKeystore(JSON.stringify(tampered), 'correct horse'), /MAC does not match/, 'a tampered file yields no key')
  await t.rejects(decryptKeystore('{"version":3,"crypto":{"cipher":"aes-256-gcm"}}', 'x'), /only aes-128-ctr/, 'an unknown cipher is named')
  const err = await decryptKeystore('not json: 0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80', 'x').then(
    () => undefined,
    (e: unknown) => e as Error,
  )
  t.match(err?.message, /not JSON/, 'a file that is not JSON is refused')
  t.notMatch(err?.message, /0xac09/, 'and the error never echoes its text (it may be a key)')
})

t.test('a pbkdf2 keystore opens too (geth reads both kinds)', async (t) => {
  // Written here with Node's own crypto (an implementation independent of the app's noble code).
  const salt = randomBytes(32)
  const iv = randomBytes(16)
  const derived = pbkdf2Sync('pw', salt, 1024, 32, 'sha256')
  const cipher = createCipheriv('aes-128-ctr', derived.subarray(0, 16), iv)
  const ciphertext = Buffer.concat([cipher.update(KEY), cipher.final()])
  const mac = keccak_256(Buffer.concat([derived.subarray(16, 32), ciphertext]))
  const file = {
    version: 3,
    crypto: { cipher: 'aes-128-ctr', cipherparams: { iv: iv.toString('hex') }, ciphertext: ciphertext.toString('hex'), kdf: 'pbkdf2', kdfparams: { c: 1024, dklen: 32, prf: 'hmac-sha256', salt: salt.toString('hex') }, mac: Buffer.from(mac).toString('hex') },
  }
  t.equal(await decryptKeystore(JSON.stringify(file), 'pw'), bytesToHex(KEY))
})

t.test('a recovery phrase gives the accounts the node derives; a mistyped one gives none', async (t) => {
  for (const index of [0, 2]) {
    const mine = keyFromRecoveryPhrase(`  ${DEV_MNEMONIC.toUpperCase()} `, index)
    t.equal(mine.privateKey, bytesToHex(deriveKey(DEV_MNEMONIC, index).privateKey), `account ${index}`)
  }
  t.throws(() => keyFromRecoveryPhrase(DEV_MNEMONIC.replace('junk', 'test')), /checksum/, 'a wrong last word fails the checksum')
  t.throws(() => keyFromRecoveryPhrase('test test test'), /12 words/, 'a short phrase is refused')
})

t.test('server-sent notifications and CSV rows are cut where they end', async (t) => {
  t.same(parseEvent('id: 3\nevent: notification\ndata: {"id":3,"time":1,"kind":"grant","relationship":"0x1","message":"m"}'), { id: 3, time: 1, kind: 'grant', relationship: '0x1', message: 'm' })
  t.equal(parseEvent(': keep-alive'), undefined, 'a comment is no event')
  t.equal(parseEvent('data: {"not":"a notification"}'), undefined, 'a foreign payload is ignored')
  t.same(csvRecords('id,patient,display\r\n1,p1,"two\nlines"\n\n2,p2,x\n'), ['id,patient,display', '1,p1,"two\nlines"', '2,p2,x'], 'a quoted newline stays in its row')
})
