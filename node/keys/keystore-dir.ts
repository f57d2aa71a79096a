import { chmod, mkdir, readFile, readdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { toChecksumAddress } from './address.ts'
import { KeyError, KeyErrorCode } from './errors.ts'
import { decryptKeystore, encryptKeystore } from './keystore.ts'

export interface KeystoreEntry {
  address: Uint8Array
  file: string
}

/** A geth-compatible keystore directory: one V3 file per account. */
export interface Keystore {
  dir: string
  list(): Promise<KeystoreEntry[]>
  save(privateKey: Uint8Array, password: string, opts?: { light?: boolean }): Promise<KeystoreEntry>
  find(address: Uint8Array): Promise<string | undefined>
  unlock(address: Uint8Array, password: string): Promise<Uint8Array>
}

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex')

/** geth's file name: UTC--2026-11-23T13-40-01.123000000Z--<address>. */
function fileName(address: Uint8Array, at = new Date()): string {
  const iso = at.toISOString().replace(/:/g, '-').replace(/\.(\d{3})Z$/, '.$1000000Z')
  return `UTC--${iso}--${hex(address)}`
}

export function openKeystore(dir: string): Keystore {
  const ks: Keystore = {
    dir,
    async list() {
      let names: string[]
      try {
        names = await readdir(dir)
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return []
        throw err
      }
      const out: KeystoreEntry[] = []
      for (const name of names.sort()) {
        try {
          const json = JSON.parse(await readFile(join(dir, name), 'utf8')) as { address?: unknown }
          if (typeof json.address === 'string' && /^(0x)?[0-9a-fA-F]{40}$/.test(json.address)) {
            out.push({ address: new Uint8Array(Buffer.from(json.address.replace(/^0x/, ''), 'hex')), file: join(dir, name) })
          }
        } catch {
          // Not a key file (editor backups, README): skipped, as geth does.
        }
      }
      return out
    },
    async save(privateKey, password, opts) {
      const json = await encryptKeystore(privateKey, password, opts)
      const address = new Uint8Array(Buffer.from(json.address, 'hex'))
      if ((await ks.find(address)) !== undefined) {
        throw new KeyError(KeyErrorCode.ACCOUNT_EXISTS, `account ${toChecksumAddress(address)} already exists in ${dir}`)
      }
      await mkdir(dir, { recursive: true, mode: 0o700 })
      const file = join(dir, fileName(address))
      await writeFile(file, JSON.stringify(json), { mode: 0o600, flag: 'wx' })
      await chmod(file, 0o600)
      return { address, file }
    },
    async find(address) {
      const want = hex(address)
      return (await ks.list()).find((e) => hex(e.address) === want)?.file
    },
    async unlock(address, password) {
      const file = await ks.find(address)
      if (file === undefined) {
        throw new KeyError(KeyErrorCode.ACCOUNT_NOT_FOUND, `no key for account ${toChecksumAddress(address)} in ${dir}: import it with \`medrec account import\``)
      }
      return decryptKeystore(await readFile(file, 'utf8'), password)
    },
  }
  return ks
}

/** The first line of a password file, without its line ending. */
export async function readPasswordFile(path: string): Promise<string> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    throw new KeyError(KeyErrorCode.PASSWORD_FILE, `cannot read password file ${path}: ${(err as Error).message}`)
  }
  const line = text.split(/\r?\n/)[0] ?? ''
  if (line === '') throw new KeyError(KeyErrorCode.PASSWORD_FILE, `password file ${path} is empty: put the password on its first line`)
  return line
}
