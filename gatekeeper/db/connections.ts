import { chmodSync, closeSync, existsSync, mkdirSync, openSync } from 'node:fs'
import { dirname } from 'node:path'
import { DatabaseSync } from 'node:sqlite'

/** SQLite's side files: they hold the same pages as the database. */
const SIDE_FILES = ['-wal', '-shm', '-journal']

/**
 * Makes a database file owner-only (0600) before SQLite opens it, in a folder made 0700 if it
 * is new. SQLite creates its -wal/-shm/-journal files with the database file's mode, so they
 * follow; side files left by an earlier run are tightened too.
 */
export function preparePrivateDb(path: string): void {
  const created = mkdirSync(dirname(path), { recursive: true, mode: 0o700 })
  if (created !== undefined) chmodSync(dirname(path), 0o700) // the umask may have narrowed it; never widened
  closeSync(openSync(path, 'a', 0o600))
  chmodSync(path, 0o600)
  for (const suffix of SIDE_FILES) if (existsSync(path + suffix)) chmodSync(path + suffix, 0o600)
}

/**
 * The record store's two connections to one SQLite file: a writable one for imports and a
 * read-only one for everything a request triggers (opened with `readOnly`, and `query_only`
 * on top), so a read path cannot change records even if its SQL were wrong.
 */

export function openWriter(path: string): DatabaseSync {
  preparePrivateDb(path)
  const db = new DatabaseSync(path)
  try {
    db.exec('PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 5000; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;')
  } catch (err) {
    db.close()
    throw err
  }
  return db
}

/** Needs the file to exist (open the writer and migrate first). */
export function openReader(path: string): DatabaseSync {
  const db = new DatabaseSync(path, { readOnly: true })
  try {
    db.exec('PRAGMA busy_timeout = 5000; PRAGMA query_only = ON;')
  } catch (err) {
    db.close()
    throw err
  }
  return db
}
