import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import { DatabaseSync } from 'node:sqlite'

/**
 * The record store's two connections to one SQLite file: a writable one for imports and a
 * read-only one for everything a request triggers (opened with `readOnly`, and `query_only`
 * on top), so a read path cannot change records even if its SQL were wrong.
 */

export function openWriter(path: string): DatabaseSync {
  mkdirSync(dirname(path), { recursive: true })
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
