import { chmod, mkdir, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises'
import { errorCode } from '../../common/errors.ts'
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
  /** Key files sorted by name (geth names start with the creation time). */
  list(): Promise<KeystoreEntry[]>
  save(privateKey: Uint8Array, password: string, opts?: { light?: boolean }): Promise<KeystoreEntry>
  find(address: Uint8Array): Promise<string | undefined>
  unlock(address: Uint8Array, password: string): Promise<Uint8Array>
}

const hex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex')
const errno = errorCode

/** geth's file name: UTC--2026-11-23T13-40-01.123000000Z--<address> (nanoseconds, ':' -> '-'). */
function fileName(address: Uint8Array, at: Date): string {
  const iso = at.toISOString().replace(/:/g, '-').replace(/\.(\d{3})Z$/, '.$1000000Z')
  return `UTC--${iso}--${hex(address)}`
}

/** Files geth ignores too: hidden (our temp files), editor backups. */
const skipped = (name: string): boolean => name.startsWith('.') || name.endsWith('~')

export function openKeystore(dir: string): Keystore {
  const ioError = (what: string, err: unknown): KeyError =>
    new KeyError(KeyErrorCode.KEYSTORE_DIR, `cannot ${what} keystore directory ${dir}: ${(err as Error).message}; check its permissions`, { dir }, err)

  const ks: Keystore = {
    dir,
    async list() {
      let names: string[]
      try {
        names = await readdir(dir)
      } catch (err) {
        if (errno(err) === 'ENOENT') return []
        throw ioError('read', err)
      }
      const out: KeystoreEntry[] = []
      for (const name of names.sort()) {
        if (skipped(name)) continue
        try {
          const json = JSON.parse(await readFile(join(dir, name), 'utf8')) as unknown
          const address = json !== null && typeof json === 'object' ? (json as { address?: unknown }).address : undefined
          if (typeof address === 'string' && /^(0x)?[0-9a-fA-F]{40}$/.test(address)) {
            out.push({ address: new Uint8Array(Buffer.from(address.replace(/^0x/, ''), 'hex')), file: join(dir, name) })
          }
        } catch {
          // Not a key file (README, subdirectory, unreadable): skipped, as geth does.
        }
      }
      return out
    },

    async save(privateKey, password, opts) {
      const json = await encryptKeystore(privateKey, password, opts)
      const address = new Uint8Array(Buffer.from(json.address, 'hex'))
      const existing = await ks.find(address)
      if (existing !== undefined) {
        throw new KeyError(KeyErrorCode.ACCOUNT_EXISTS, `account ${toChecksumAddress(address)} already exists in ${dir} (${existing}); use the existing key file`, {
          address: toChecksumAddress(address),
          file: existing,
        })
      }
      const name = fileName(address, new Date())
      const file = join(dir, name)
      // Write then rename, so a crash never leaves a truncated key file under a key file's name.
      const tmp = join(dir, `.${name}.tmp`)
      try {
        const created = await mkdir(dir, { recursive: true, mode: 0o700 })
        if (created !== undefined) await chmod(dir, 0o700) // umask may have narrowed it; never widened
        await writeFile(tmp, JSON.stringify(json), { mode: 0o600, flag: 'wx' })
        await chmod(tmp, 0o600)
        await rename(tmp, file)
      } catch (err) {
        await rm(tmp, { force: true }).catch(() => undefined)
        throw ioError('write to', err)
      }
      return { address, file }
    },

    async find(address) {
      const want = hex(address)
      return (await ks.list()).find((e) => hex(e.address) === want)?.file
    },

    async unlock(address, password) {
      const file = await ks.find(address)
      if (file === undefined) {
        throw new KeyError(
          KeyErrorCode.ACCOUNT_NOT_FOUND,
          `no key for account ${toChecksumAddress(address)} in keystore ${dir}: check the address, or import the key with \`medrec account import\``,
          { address: toChecksumAddress(address), dir },
        )
      }
      let text: string
      try {
        text = await readFile(file, 'utf8')
      } catch (err) {
        throw ioError('read a key file in', err)
      }
      return decryptKeystore(text, password)
    },
  }
  return ks
}

/** The first line of a password file, without its line ending (geth's --password). */
export async function readPasswordFile(path: string): Promise<string> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    const why = errno(err) === 'ENOENT' ? 'does not exist' : errno(err) === 'EACCES' ? 'is not readable (permission denied)' : `cannot be read (${(err as Error).message})`
    throw new KeyError(KeyErrorCode.PASSWORD_FILE, `password file ${path} ${why}: pass a file holding the password on its first line`, { path }, err)
  }
  const line = text.split('\n')[0]!.replace(/\r$/, '')
  if (line === '') throw new KeyError(KeyErrorCode.PASSWORD_FILE, `password file ${path} has an empty first line: put the password on its first line`, { path })
  return line
}
