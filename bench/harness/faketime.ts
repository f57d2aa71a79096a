import { existsSync, readdirSync } from 'node:fs'
import { join } from 'node:path'

/** Why a clock-skew run is skipped on this machine. */
export const FAKETIME_MISSING = 'libfaketime is not installed (Debian: apt-get install faketime)'

/** libfaketime where Debian's faketime package puts it (/usr/lib/<multiarch>/faketime/), if installed. */
export function libfaketime(): string | undefined {
  for (const dir of readdirSync('/usr/lib', { withFileTypes: true })) {
    const lib = join('/usr/lib', dir.name, 'faketime', 'libfaketime.so.1')
    if (dir.isDirectory() && existsSync(lib)) return lib
  }
  return undefined
}

/**
 * `launch` (a command and its arguments) run `seconds` ahead of the real clock, through `env`,
 * which execs: libfaketime is loaded into that process alone. (The `faketime` wrapper forks and
 * does not pass SIGTERM on, so a node under it outlives its stop.)
 */
export function secondsAhead(lib: string, seconds: number, [command, args]: [string, string[]]): [string, string[]] {
  return ['env', [`LD_PRELOAD=${lib}`, `FAKETIME=+${seconds}s`, command, ...args]]
}
