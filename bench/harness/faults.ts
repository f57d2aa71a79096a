/**
 * The `--faults` spec of `medrec bench run`: a comma list of `kind:node@start+length`, times in
 * seconds since the load started (warm-up included). Parsing checks everything a run would
 * otherwise trip over minutes later: node indexes, overlaps on one node, faults outside the load,
 * and the faults node 0 cannot take (it is everyone's bootnode and the harness's view of the chain).
 */
import { BenchError, BenchErrorCode } from './errors.ts'

export const FAULT_KINDS = ['kill', 'isolate', 'slow'] as const
export type FaultKind = (typeof FAULT_KINDS)[number]

/** One fault as written on the command line. */
export interface FaultSpec {
  kind: FaultKind
  /** 0-based node index. */
  node: number
  /** Seconds since the load started. */
  start: number
  /** Seconds the fault lasts: a killed node is restarted, an isolated one healed, a slowed one resumed. */
  length: number
}

/** What each kind does, for help texts and the report. */
export const FAULT_DESCRIPTIONS: Readonly<Record<FaultKind, string>> = {
  kill: 'SIGKILL the node, restart it on its data dir with the same ports after LENGTH s',
  isolate: "cut the node's p2p link (all sockets destroyed, new ones refused), heal it after LENGTH s",
  slow: 'throttle the node to half a CPU duty cycle (SIGSTOP 50 ms / SIGCONT 50 ms) for LENGTH s',
}

/** Kinds node 0 refuses: the others dial it as their bootnode, and the harness reads the final chain from it. */
const NOT_ON_NODE0: ReadonlySet<FaultKind> = new Set(['kill', 'isolate'])

const PART = /^([a-z]+):(\d+)@(\d+(?:\.\d+)?)\+(\d+(?:\.\d+)?)$/

const bad = (message: string): never => {
  throw new BenchError(BenchErrorCode.BAD_FAULTS, message)
}

export const formatFault = (f: FaultSpec): string => `${f.kind}:${f.node}@${f.start}+${f.length}`

/**
 * Parses `spec` for a run of `nodes` nodes whose load lasts `loadSeconds` (warm-up + duration);
 * throws BenchError BAD_FAULTS naming the bad part. An empty spec is no faults.
 */
export function parseFaults(spec: string, nodes: number, loadSeconds: number): FaultSpec[] {
  const faults: FaultSpec[] = []
  for (const raw of spec.split(',')) {
    const part = raw.trim()
    if (part === '') continue
    const m = PART.exec(part)
    if (m === null) bad(`"${part}" is not kind:node@start+length (e.g. kill:2@10+8: kill node 2 at 10 s, restart it 8 s later)`)
    const kind = m![1]!
    if (!(FAULT_KINDS as readonly string[]).includes(kind)) bad(`"${part}": unknown fault "${kind}"; expected one of ${FAULT_KINDS.join(', ')}`)
    const f: FaultSpec = { kind: kind as FaultKind, node: Number(m![2]), start: Number(m![3]), length: Number(m![4]) }
    if (f.node >= nodes) bad(`"${part}": there is no node ${f.node} in a network of ${nodes} (nodes are numbered from 0)`)
    if (f.node === 0 && NOT_ON_NODE0.has(f.kind)) bad(`"${part}": node 0 cannot be ${f.kind === 'kill' ? 'killed' : 'isolated'}: it is every node's bootnode and the harness reads the chain from it; pick node 1 or above`)
    if (f.length <= 0) bad(`"${part}": the length must be above 0 s`)
    if (f.start + f.length > loadSeconds) bad(`"${part}": it ends at ${f.start + f.length} s, after the load (${loadSeconds} s of warm-up and duration); start it earlier or raise --duration`)
    const clash = faults.find((o) => o.node === f.node && f.start < o.start + o.length && o.start < f.start + f.length)
    if (clash !== undefined) bad(`"${part}" overlaps "${formatFault(clash)}" on node ${f.node}: one fault per node at a time`)
    faults.push(f)
  }
  return faults.sort((a, b) => a.start - b.start || a.node - b.node)
}
