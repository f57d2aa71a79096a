import t from 'tap'
import { mkdir, readdir, readFile, stat, symlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { Wallet } from 'ethers'
import { DEV_MNEMONIC, deriveKey, openKeystore, readPasswordFile } from '../../node/keys/index.ts'
import { tempDir } from '../helpers/node-process.ts'

const hex = (b: Uint8Array): string => '0x' + Buffer.from(b).toString('hex')

t.test('keystore directory: save, list, find, unlock, duplicates, modes', async (t) => {
  const dir = tempDir()
  t.teardown(() => dir.remove())
  const ks = openKeystore(join(dir.path, 'keystore'))
  t.equal(ks.dir, join(dir.path, 'keystore'))
  t.same(await ks.list(), [], 'a missing dir lists nothing')
  const a = deriveKey(DEV_MNEMONIC, 0)
  const b = deriveKey(DEV_MNEMONIC, 1)
  t.equal(await ks.find(a.address), undefined)

  const before = Date.now()
  const saved = await ks.save(a.privateKey, 'pw', { light: true })
  t.same(saved.address, a.address)
  const m = /UTC--(\d{4}-\d\d-\d\dT\d\d)-(\d\d)-(\d\d\.\d{3})000000Z--f39fd6e51aad88f6f4ce6ab8827279cfffb92266$/.exec(saved.file)
  t.ok(m, `geth file name: ${saved.file}`)
  const stamped = Date.parse(`${m![1]}:${m![2]}:${m![3]}Z`)
  t.ok(stamped >= before - 1 && stamped <= Date.now(), 'the name carries the creation time (UTC)')
  t.equal((await stat(saved.file)).mode & 0o777, 0o600, 'key file 0600')
  t.equal((await stat(ks.dir)).mode & 0o777, 0o700, 'dir 0700')
  t.equal((await Wallet.fromEncryptedJson(await readFile(saved.file, 'utf8'), 'pw')).privateKey, hex(a.privateKey), 'the file is a standard keystore')

  await new Promise((r) => setTimeout(r, 5))
  const savedB = await ks.save(b.privateKey, 'pw2', { light: true })
  await writeFile(join(ks.dir, 'README'), 'not a key')
  await writeFile(join(ks.dir, 'broken.json'), '{"address": 12}')
  await writeFile(join(ks.dir, '.hidden'), JSON.stringify({ address: 'f39fd6e51aad88f6f4ce6ab8827279cfffb92266' }))
  await mkdir(join(ks.dir, 'subdir'))
  const listed = await ks.list()
  t.same(listed.map((e) => e.file), [saved.file, savedB.file], 'only key files, oldest first')
  t.same(listed.map((e) => hex(e.address)), [hex(a.address), hex(b.address)])
  t.notOk((await readdir(ks.dir)).some((n) => n.endsWith('.tmp')), 'no temp files left behind')

  t.equal(await ks.find(a.address), saved.file)
  t.equal(await ks.find(b.address), savedB.file)
  t.same(await ks.unlock(a.address, 'pw'), a.privateKey)
  t.same(await ks.unlock(b.address, 'pw2'), b.privateKey)
  await t.rejects(ks.unlock(a.address, 'nope'), { code: 'KEYS_WRONG_PASSWORD', message: 'could not decrypt key with given password' })

  await t.rejects(ks.save(a.privateKey, 'other', { light: true }), {
    code: 'KEYS_ACCOUNT_EXISTS',
    message: `account 0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266 already exists in ${ks.dir} (${saved.file}); use the existing key file`,
  })
  t.equal((await ks.list()).length, 2, 'the duplicate was not written')

  const c = deriveKey(DEV_MNEMONIC, 5)
  await t.rejects(ks.unlock(c.address, 'pw'), {
    code: 'KEYS_ACCOUNT_NOT_FOUND',
    message: `no key for account 0x9965507D1a55bcC2695C58ba16FB37d819B0A4dc in keystore ${ks.dir}: check the address, or import the key with \`medrec account import\``,
  })
})

t.test('a keystore path that is not a directory is KEYSTORE_DIR', async (t) => {
  const dir = tempDir()
  t.teardown(() => dir.remove())
  const file = join(dir.path, 'file')
  await writeFile(file, 'x')
  const ks = openKeystore(file)
  await t.rejects(ks.list(), { code: 'KEYS_KEYSTORE_DIR', message: new RegExp(`^cannot read keystore directory ${file}: .*ENOTDIR.*; check its permissions$`) })
  await t.rejects(openKeystore(join(file, 'keystore')).save(deriveKey(DEV_MNEMONIC, 0).privateKey, 'pw', { light: true }), { code: 'KEYS_KEYSTORE_DIR' })
  // A dangling symlink lists as empty (ENOENT) but cannot be created: the write path's error.
  const dangling = join(dir.path, 'dangling')
  await symlink(join(dir.path, 'no-such-target'), dangling)
  await t.rejects(openKeystore(dangling).save(deriveKey(DEV_MNEMONIC, 0).privateKey, 'pw', { light: true }), {
    code: 'KEYS_KEYSTORE_DIR',
    message: new RegExp(`^cannot write to keystore directory ${dangling}: .*ENOENT`),
  })
  t.same(await readdir(dir.path), ['dangling', 'file'].sort(), 'nothing written')
})

t.test('password files', async (t) => {
  const dir = tempDir()
  t.teardown(() => dir.remove())
  const p = (n: string): string => join(dir.path, n)
  await writeFile(p('crlf'), 'secret\r\nignored\n')
  t.equal(await readPasswordFile(p('crlf')), 'secret')
  await writeFile(p('lf'), 'with spaces \n')
  t.equal(await readPasswordFile(p('lf')), 'with spaces ', 'only the line ending is stripped')
  await writeFile(p('bare'), 'bare')
  t.equal(await readPasswordFile(p('bare')), 'bare', 'no trailing newline')
  await writeFile(p('empty'), '\n')
  await t.rejects(readPasswordFile(p('empty')), { code: 'KEYS_PASSWORD_FILE', message: `password file ${p('empty')} has an empty first line: put the password on its first line` })
  await writeFile(p('zero'), '')
  await t.rejects(readPasswordFile(p('zero')), { code: 'KEYS_PASSWORD_FILE', message: /has an empty first line/ })
  await t.rejects(readPasswordFile(p('missing')), {
    code: 'KEYS_PASSWORD_FILE',
    message: `password file ${p('missing')} does not exist: pass a file holding the password on its first line`,
  })
  await t.rejects(readPasswordFile(dir.path), { code: 'KEYS_PASSWORD_FILE', message: /cannot be read \(.*EISDIR/ })
})
