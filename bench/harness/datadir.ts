import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { openKeystore } from '../../node/keys/index.ts'

/** What a node started here finds in its data dir. */
export interface DataDirContents {
  /** genesis.json, as written by genesisToJson. */
  genesisJson: string
  /** The libp2p identity, 32 bytes. */
  nodeKey: Uint8Array
  /** The node's own account (authority, etherbase, gatekeeper), saved in DIR/keystore. */
  accountKey: Uint8Array
  /** Unlocks that account; written to DIR/password for --password and --gatekeeper.password. */
  password: string
}

/** Writes a node's data dir (genesis.json, nodekey, password, keystore with its account), owner-only. */
export async function writeDataDir(dir: string, c: DataDirContents): Promise<void> {
  mkdirSync(dir, { recursive: true, mode: 0o700 })
  writeFileSync(join(dir, 'genesis.json'), c.genesisJson, { mode: 0o600 })
  writeFileSync(join(dir, 'nodekey'), Buffer.from(c.nodeKey).toString('hex'), { mode: 0o600 })
  writeFileSync(join(dir, 'password'), c.password, { mode: 0o600 })
  // The light scrypt setting: a bench or test network writes several keystores.
  await openKeystore(join(dir, 'keystore')).save(c.accountKey, c.password, { light: true })
}
