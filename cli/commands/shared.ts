import { secp256k1 } from '@noble/curves/secp256k1.js'
import { errorCode } from '../../common/errors.ts'
import { chmod, lstat, mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { genesisToJson, readGenesisFile, type Genesis } from '../../node/genesis/index.ts'
import { generateMnemonic, isValidMnemonic } from '../../node/keys/index.ts'
import { CliError, CliErrorCode, usageError } from '../errors.ts'
import { note } from '../io.ts'
import type { FlagSpec, ParsedFlags } from '../types.ts'

// Flags several commands share, so help reads the same everywhere.
export const DATADIR_REQUIRED: FlagSpec = { name: 'datadir', kind: 'string', placeholder: 'DIR', default: 'required', description: 'data directory (genesis.json, nodekey, keystore/, chaindata/)' }
export const PASSWORD: FlagSpec = { name: 'password', kind: 'string', placeholder: 'FILE', default: 'prompt on a terminal', description: 'file whose first line is the keystore password' }
export const LIGHTKDF: FlagSpec = { name: 'lightkdf', kind: 'boolean', default: 'off', description: 'weaker but faster scrypt for the keystore (n=4096), as geth --lightkdf' }
export const JSON_OUT: FlagSpec = { name: 'json', kind: 'boolean', default: 'off', description: 'print the result as JSON' }
export const MNEMONIC: FlagSpec = { name: 'mnemonic', kind: 'string', placeholder: '"WORDS"', default: 'none (a new one is generated)', description: 'restore the account from this 12 or 24-word BIP-39 mnemonic (key m/44\'/60\'/0\'/0/0)' }

export function requireFlag(flags: ParsedFlags, name: string, placeholder: string): string {
  const v = flags.string(name)
  if (v === undefined) throw usageError(`missing --${name} ${placeholder} for "${flags.command}"`)
  return v
}

/** A mnemonic from a flag, checked before anything is written. Never echoed: it is a secret. */
export function mnemonicFlag(flags: ParsedFlags, name = 'mnemonic'): string | undefined {
  const m = flags.string(name)
  if (m !== undefined && !isValidMnemonic(m)) throw usageError(`invalid value for --${name}: expected 12 or 24 English BIP-39 words with a valid checksum`)
  return m
}

export interface DatadirPaths {
  dir: string
  genesis: string
  nodekey: string
  keystore: string
}

export function datadirPaths(dir: string): DatadirPaths {
  const abs = resolve(dir)
  return { dir: abs, genesis: join(abs, 'genesis.json'), nodekey: join(abs, 'nodekey'), keystore: join(abs, 'keystore') }
}

export async function exists(path: string): Promise<boolean> {
  try {
    await stat(path)
    return true
  } catch (err) {
    if (errorCode(err) === 'ENOENT') return false
    throw err
  }
}

/** The data dir holds keys: owner-only, like geth. */
export async function makeDatadir(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 })
}

/**
 * Makes an existing data dir owner-only: strips group and other permissions from every folder
 * and file under it (symlinks are not followed), so keys, chain data, records, the audit log and
 * SQLite's side files are 0600 in 0700 folders. Returns what it changed, for the log. A file this
 * user cannot chmod (owned by someone else) is refused: the node will not run on a data dir
 * other users can read.
 */
export async function secureDatadir(dir: string): Promise<{ path: string; from: number; to: number }[]> {
  const changed: { path: string; from: number; to: number }[] = []
  const walk = async (path: string): Promise<void> => {
    const st = await lstat(path)
    if (st.isSymbolicLink()) return
    const from = st.mode & 0o777
    const to = st.isDirectory() ? (from & 0o700) | 0o700 : from & 0o700
    if (from !== to) {
      try {
        await chmod(path, to)
      } catch (err) {
        throw new CliError(CliErrorCode.WRITE_FAILED, `${path} is readable by other users (mode ${from.toString(8)}) and cannot be made owner-only: ${(err as Error).message}. Fix its owner and mode (chmod -R go= ${dir}) or use another --datadir`)
      }
      changed.push({ path, from, to })
    }
    if (st.isDirectory()) for (const name of await readdir(path)) await walk(join(path, name))
  }
  await walk(dir)
  return changed
}

/** The node's identity key (for p2p), geth's format: 64 hex digits. Kept if present. */
export async function ensureNodeKey(path: string): Promise<boolean> {
  if (await exists(path)) return false
  const key = Buffer.from(secp256k1.utils.randomSecretKey()).toString('hex')
  await writeFile(path, key, { mode: 0o600, flag: 'wx' })
  return true
}

/** genesis.json as the normalised JSON (predeploys written out) with a trailing newline; owner-only like the rest of the data dir. */
export async function writeGenesis(path: string, g: Genesis): Promise<void> {
  await writeFile(path, JSON.stringify(genesisToJson(g), null, 2) + '\n', { mode: 0o600 })
}

/** The data dir's genesis, or undefined when it has none yet. */
export async function readDatadirGenesis(paths: DatadirPaths): Promise<Genesis | undefined> {
  if (!(await exists(paths.genesis))) return undefined
  return readGenesisFile(paths.genesis)
}

/** Names the top-level genesis fields that differ, for "already initialised with another genesis". */
export function genesisDiff(a: Genesis, b: Genesis): string[] {
  const ja = genesisToJson(a) as unknown as Record<string, unknown>
  const jb = genesisToJson(b) as unknown as Record<string, unknown>
  const diff: string[] = []
  for (const k of new Set([...Object.keys(ja), ...Object.keys(jb)])) {
    const va = ja[k]
    const vb = jb[k]
    if (k === 'config' && va !== null && typeof va === 'object' && vb !== null && typeof vb === 'object') {
      const ca = va as Record<string, unknown>
      const cb = vb as Record<string, unknown>
      for (const ck of ['chainId', 'consensus', 'poa', 'pow']) if (JSON.stringify(ca[ck]) !== JSON.stringify(cb[ck])) diff.push(`config.${ck}`)
    } else if (JSON.stringify(va) !== JSON.stringify(vb)) {
      diff.push(k)
    }
  }
  return diff
}

export function keystoreUrl(file: string): string {
  return `keystore://${file}`
}

/** A new mnemonic; the warning goes to stderr so stdout stays the result. */
export function newMnemonic(): string {
  note('WARNING: write down the mnemonic below and keep it secret. It is shown only once and is the only way to recover this account if the keystore file or its password is lost.')
  return generateMnemonic()
}

export async function readInputFile(path: string, what: string): Promise<string> {
  try {
    return await readFile(path, 'utf8')
  } catch (err) {
    throw new CliError(CliErrorCode.READ_FAILED, `cannot read ${what} ${path}: ${(err as Error).message}`)
  }
}

/** Unix seconds (chain timestamps, grant expiries) as ISO 8601 (UTC, no milliseconds). */
export function isoTime(unixSeconds: number): string {
  return new Date(unixSeconds * 1000).toISOString().replace('.000Z', 'Z')
}

/**
 * Unix milliseconds (the gatekeeper's audit entries and notifications) as ISO 8601 (UTC, no
 * milliseconds). Kept apart from isoTime: read as seconds, these printed the year 58902.
 */
export function isoTimeMs(unixMs: number): string {
  return isoTime(Math.floor(unixMs / 1000))
}

/** Left-aligned columns separated by two spaces, with a header row. */
export function formatTable(header: readonly string[], rows: readonly (readonly string[])[], opts: { upperHeader?: boolean } = {}): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)))
  const line = (cells: readonly string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')
  return [line(opts.upperHeader === false ? header : header.map((h) => h.toUpperCase())), ...rows.map(line)].join('\n')
}
