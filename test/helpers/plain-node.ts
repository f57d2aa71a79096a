/**
 * The command that runs `node ...args` from a test without tap's module tracer.
 *
 * tap runs every test with @tapjs/processinfo and hands it to every process a test spawns (it rewrites
 * NODE_OPTIONS on each spawn): an off-thread loader hook that sees every module load, for coverage and
 * `tap --changed`. This suite runs with coverage off, and the hook makes a spawned node or CLI process
 * start 2-2.5x slower in CPU (measured: `medrec --help` 0.55 → 1.35 s, a dev node up 2 → 5 s). Going
 * through `env NODE_OPTIONS=...` sets the child's options last, without it (env execs node: same pid,
 * signals reach node directly). Other NODE_OPTIONS are kept.
 */
export const NODE = process.execPath

const TAP_TRACER = /@tapjs[\\/]processinfo/

export function plainNode(args: string[]): [command: string, args: string[]] {
  const kept = (process.env.NODE_OPTIONS ?? '').split(/\s+/).filter((o) => o !== '' && !TAP_TRACER.test(o))
  return ['env', [`NODE_OPTIONS=${kept.join(' ')}`, NODE, ...args]]
}
