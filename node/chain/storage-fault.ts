import { errorCode, errorMessage } from '../../common/errors.ts'
import { ChainError, ChainErrorCode } from './errors.ts'

/**
 * Why a LevelDB write is fatal here. LevelDB appends each batch to its write-ahead log; when that
 * append fails part-way (ENOSPC, EIO) it returns the error but keeps the log open at the torn
 * record, and the next successful batches are appended after it. On the next open, recovery stops
 * trusting the log at the torn record ("Corruption: checksum mismatch … dropping N bytes"), so
 * those later batches, acknowledged to clients, are gone: the reported 181 → 149 roll-back. So a
 * failed write is never retried on the same handle: the store refuses every write after it and
 * the node stops; the torn record is then the log's last, and only the failed batch (never
 * acknowledged) is dropped.
 */

/** A short name for the OS condition behind a LevelDB error, from its message (LevelDB passes strerror text). */
function condition(text: string): { name: string; fix: string } | undefined {
  if (/No space left on device|ENOSPC/i.test(text)) return { name: 'ENOSPC: no space left on device', fix: 'free space on that filesystem (or move --datadir to a larger one)' }
  if (/Disk quota exceeded|EDQUOT/i.test(text)) return { name: 'EDQUOT: disk quota exceeded', fix: "raise the user's disk quota or free space" }
  if (/Read-only file system|EROFS/i.test(text)) return { name: 'EROFS: the filesystem is read-only', fix: 'remount it read-write (check the kernel log for disk errors first)' }
  if (/Input\/output error|EIO\b/i.test(text)) return { name: 'EIO: input/output error', fix: 'check the disk (kernel log, SMART) before trusting it again' }
  return undefined
}

/** Every message along `err`'s cause chain, joined: level's errors carry LevelDB's status in `cause`. */
function fullMessage(err: unknown): string {
  const parts: string[] = []
  for (let e: unknown = err, depth = 0; e !== undefined && depth < 4; e = e instanceof Error ? e.cause : undefined, depth++) parts.push(errorMessage(e))
  return parts.join(': ')
}

/** The fatal error for a failed write to the chain database at `location` (`what`: which write). */
export function storageFault(err: unknown, location: string, what: string): ChainError {
  const text = fullMessage(err)
  const c = condition(text)
  const fix = c?.fix ?? 'find and fix the cause (disk, filesystem, permissions)'
  return new ChainError(
    ChainErrorCode.STORAGE_FAULT,
    `${what} failed (${c?.name ?? text}) in the chain database ${location}: block production and import stopped and the node exits without writing again, so nothing unwritten is acknowledged; ${fix}, then restart the node`,
    { location, cause: text, code: errorCode(err) },
    err,
  )
}

/**
 * The error for a chain database that fails to open: corruption (refuse, with the repair
 * options), a full or failing disk (the same fix as a failed write), or, for anything else
 * (the lock held by another process), the error as it came.
 */
export function openFault(err: unknown, location: string): unknown {
  const text = fullMessage(err)
  if (/corrupt/i.test(text)) {
    return new ChainError(
      ChainErrorCode.CORRUPT_DATABASE,
      `the chain database ${location} is corrupt (${text}): restart with --db.repair to let LevelDB salvage what it can (the node then checks the head it finds), or move ${location} away and re-sync the chain from peers`,
      { location, cause: text },
      err,
    )
  }
  if (condition(text) !== undefined) return storageFault(err, location, 'opening the database')
  return err
}
