import { statfs } from 'node:fs/promises'
import { errorMessage } from '../../common/errors.ts'
import { createLogger } from '../../common/logger.ts'
import { ChainError, ChainErrorCode } from './errors.ts'

const log = createLogger('chain')

/** Free space is re-read this often between writes (the writes read it themselves, see check). */
const POLL_MS = 5000
/** While paused, the warning is repeated this often (a paused node must not look healthy). */
const REMIND_MS = 60_000

/**
 * `--datadir.minfreedisk`: the chain stops writing (sealing and importing) while free space on
 * the data dir's filesystem is below the watermark, and resumes by itself once it is back above.
 *
 * geth shuts down at its watermark instead. Pausing is chosen here because a supervisor's
 * restart would only find the disk still full (a crash loop in which LevelDB's recovery itself
 * needs space), while a paused node keeps serving reads over RPC, holds its peers and catches
 * up by sync the moment the operator frees space; nothing is written meanwhile, so nothing can
 * be torn. A write that still fails (the disk filled faster than the watermark) is fatal
 * (storage-fault.ts).
 */
export class DiskWatch {
  private readonly location: string
  private readonly minFreeBytes: number
  private lowSince: number | undefined
  private lastFree: number | undefined
  private reminded = 0
  private timer: NodeJS.Timeout | undefined

  constructor(location: string, minFreeBytes: number) {
    this.location = location
    this.minFreeBytes = minFreeBytes
  }

  /** Polls in the background (the timer keeps no process alive). */
  start(): void {
    if (this.minFreeBytes <= 0 || this.timer !== undefined) return
    this.timer = setInterval(() => void this.check().catch(() => {}), POLL_MS)
    this.timer.unref()
  }

  stop(): void {
    clearInterval(this.timer)
    this.timer = undefined
  }

  /** Free bytes at the last check (undefined before the first or when off). */
  get freeBytes(): number | undefined {
    return this.lastFree
  }

  /** Whether writes are paused (as of the last check). */
  get paused(): boolean {
    return this.lowSince !== undefined
  }

  /** Reads free space now (one statfs call) and updates the paused state; true when paused. */
  async check(): Promise<boolean> {
    if (this.minFreeBytes <= 0) return false
    let free: number
    try {
      const s = await statfs(this.location)
      // bavail: what an unprivileged writer may use (the root reserve is not ours to count on).
      free = s.bavail * s.bsize
    } catch (err) {
      log.warn('Cannot read free disk space', { location: this.location }, errorMessage(err))
      return this.paused
    }
    this.lastFree = free
    const now = Date.now()
    if (free < this.minFreeBytes) {
      if (this.lowSince === undefined) {
        this.lowSince = now
        this.reminded = now
        log.error('Low disk space: block production and import paused until space is freed', this.fields(free))
      } else if (now - this.reminded >= REMIND_MS) {
        this.reminded = now
        log.error('Low disk space: block production and import still paused', { ...this.fields(free), pausedFor: `${Math.round((now - this.lowSince) / 1000)}s` })
      }
      return true
    }
    if (this.lowSince !== undefined) {
      log.warn('Disk space back above the watermark: block production and import resume', this.fields(free))
      this.lowSince = undefined
    }
    return false
  }

  /** Throws LOW_DISK when paused (after a fresh check): called before each seal and import. */
  async assertWritable(what: string): Promise<void> {
    if (await this.check()) throw this.error(what)
  }

  /** Throws LOW_DISK when paused as of the last check (no statfs: for a step that must not wait). */
  assertWritableNow(what: string): void {
    if (this.paused) throw this.error(what)
  }

  private error(what: string): ChainError {
    return new ChainError(
      ChainErrorCode.LOW_DISK,
      `${what} paused: ${mb(this.lastFree ?? 0)} MB free on the filesystem of ${this.location}, below --datadir.minfreedisk ${mb(this.minFreeBytes)} MB; free space and it resumes by itself`,
      { freeBytes: this.lastFree, minFreeBytes: this.minFreeBytes },
    )
  }

  private fields(free: number): Record<string, unknown> {
    return { location: this.location, freeMB: mb(free), minFreeMB: mb(this.minFreeBytes), fix: 'free space on this filesystem (or move --datadir); or lower --datadir.minfreedisk' }
  }
}

function mb(bytes: number): number {
  return Math.floor(bytes / (1024 * 1024))
}
