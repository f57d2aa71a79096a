/**
 * Hosts in Linux network namespaces, for tests and bench runs that need nodes on separate
 * addresses with no loopback between them (root only; iproute2's `ip`).
 *
 * Each host is a namespace with two links:
 * - its p2p link, a veth whose outer end is a port of the lab's bridge; every host has an address in
 *   10.77.0.0/24 there and nothing else routes between hosts. The bridge has no address, so
 *   the root namespace is no part of that network, and the same subnet serves every lab at once.
 * - a management link, a veth pair to the root namespace with a /30 of its own (10.78.R.x), which
 *   is how the test process reaches the host's JSON-RPC; the host has no route through it to any
 *   other host.
 * A partition moves the hosts' bridge ports onto one bridge per side (the links stay up, so TCP
 * connections stall as across a real cut rather than being reset); heal moves them all back.
 *
 * Names carry the lab's prefix, `mrn<pid>`, so parallel runs do not collide and the leftovers of
 * a run that died (its pid gone) are found and removed by the next one.
 */
import { execFileSync } from 'node:child_process'
import { errorMessage } from '../../common/errors.ts'
import { BenchError, BenchErrorCode } from './errors.ts'
import type { NodeProcessOptions } from './process.ts'

type Launch = NonNullable<NodeProcessOptions['launch']>

export interface NetnsHost {
  index: number
  /** The namespace's name (`ip netns exec <ns> …`). */
  ns: string
  /** Its p2p address on the lab's bridge. */
  addr: string
  /** Its management address: where its JSON-RPC listens, reachable from the root namespace. */
  rpcAddr: string
  /** Wraps a launch (default: this Node on `nodeArgs`) to run inside the namespace. */
  launch(inner?: Launch): Launch
}

export interface NetnsLab {
  prefix: string
  hosts: NetnsHost[]
  /**
   * Puts each group of host indexes on a bridge of its own; a host in no group is alone. Hosts on
   * different bridges cannot reach each other until heal().
   */
  partition(groups: readonly (readonly number[])[]): void
  /** Every host back on the one bridge. */
  heal(): void
  /** Kills whatever still runs in the namespaces and removes them, their links and bridges. Idempotent. */
  close(): void
}

/** Names of every lab: `mrn<pid>` then a letter and a number (links) or `-<n>` (namespaces). */
const BASE = 'mrn'
const P2P_SUBNET = '10.77.0'
const MGMT_NET = '10.78'
const IFNAMSIZ = 15

function ip(args: readonly string[]): string {
  try {
    return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
  } catch (err) {
    const stderr = (err as { stderr?: unknown }).stderr
    throw new BenchError(BenchErrorCode.NETNS, `ip ${args.join(' ')} failed: ${typeof stderr === 'string' && stderr !== '' ? stderr.trim() : errorMessage(err)}`, undefined, err)
  }
}

/** Best effort (teardown): a link or namespace already gone is not an error. */
function ipQuiet(args: readonly string[]): void {
  try {
    ip(args)
  } catch {
    // already gone
  }
}

/** Why labs cannot be made here (not root, no `ip`, no namespaces), or undefined when they can. */
export function netnsUnavailable(): string | undefined {
  if (process.platform !== 'linux') return 'network namespaces are Linux only'
  if (process.getuid?.() !== 0) return 'creating network namespaces needs root (CI runs as root)'
  const probe = `${BASE}${process.pid}-probe`
  try {
    ip(['netns', 'add', probe])
    ip(['netns', 'del', probe])
    return undefined
  } catch (err) {
    return `network namespaces unavailable: ${errorMessage(err)}`
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as { code?: unknown }).code === 'EPERM'
  }
}

function killNamespacePids(ns: string): void {
  let pids: number[] = []
  try {
    pids = ip(['netns', 'pids', ns]).split(/\s+/).filter((s) => s !== '').map(Number)
  } catch {
    return
  }
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL')
    } catch {
      // exited meanwhile
    }
  }
}

function namespaces(): string[] {
  return ip(['netns', 'list']).split('\n').map((l) => l.split(' ')[0]!).filter((n) => n !== '')
}

function links(): string[] {
  return ip(['-o', 'link', 'show']).split('\n').map((l) => /^\d+:\s+([^:@\s]+)/.exec(l)?.[1]).filter((n): n is string => n !== undefined)
}

function removeLab(prefix: string): void {
  for (const ns of namespaces().filter((n) => n.startsWith(`${prefix}-`))) {
    // Processes keep a namespace (and its veths) alive after `netns del`: end them first.
    killNamespacePids(ns)
    ipQuiet(['netns', 'del', ns])
  }
  // Deleting a namespace deletes the veths inside it and so their outer ends; bridges remain.
  for (const link of links().filter((l) => l.startsWith(prefix) && /^[a-z]\d+$/.test(l.slice(prefix.length)))) ipQuiet(['link', 'del', link])
}

/** Removes what labs of runs that no longer exist left behind (a run killed before its teardown). Returns their prefixes. */
export function removeStaleLabs(): string[] {
  const prefixes = new Set<string>()
  for (const name of [...namespaces(), ...links()]) {
    const m = new RegExp(`^(${BASE}(\\d+))(?:-\\d+|[a-z]\\d+)$`).exec(name)
    if (m !== null && !alive(Number(m[2]))) prefixes.add(m[1]!)
  }
  for (const p of prefixes) removeLab(p)
  return [...prefixes]
}

/** A third octet for the management /30s that no address of the root namespace uses yet. */
function freeMgmtOctet(): number {
  const used = new Set([...ip(['-4', '-o', 'addr', 'show']).matchAll(new RegExp(`inet ${MGMT_NET.replace('.', '\\.')}\\.(\\d+)\\.`, 'g'))].map((m) => Number(m[1])))
  for (let k = 0; k < 256; k++) {
    const octet = (process.pid + k) % 256
    if (!used.has(octet)) return octet
  }
  throw new BenchError(BenchErrorCode.NETNS, `every ${MGMT_NET}.x.0/24 is in use in the root namespace: remove old labs (ip netns list; names ${BASE}<pid>-<n>)`)
}

/**
 * `size` hosts (at most 63), each in its own namespace on one bridge, after removing stale labs.
 * On failure part-way, whatever was made is removed again.
 */
export function createNetnsLab(size: number): NetnsLab {
  if (!Number.isInteger(size) || size < 1 || size > 63) throw new BenchError(BenchErrorCode.NETNS, `a lab has 1 to 63 hosts, not ${size}`)
  removeStaleLabs()
  const prefix = `${BASE}${process.pid}`
  if (`${prefix}b${size}`.length > IFNAMSIZ) throw new BenchError(BenchErrorCode.NETNS, `link names of prefix ${prefix} exceed ${IFNAMSIZ} characters`)
  const bridge = (g: number) => `${prefix}b${g}`
  const port = (i: number) => `${prefix}v${i}`
  const bridges = new Set<string>()
  let closed = false
  const close = () => {
    if (closed) return
    closed = true
    process.off('exit', close)
    removeLab(prefix)
    for (const b of bridges) ipQuiet(['link', 'del', b])
  }
  // A test process that throws past its teardown still leaves nothing behind.
  process.once('exit', close)
  const addBridge = (g: number) => {
    if (bridges.has(bridge(g))) return
    ip(['link', 'add', bridge(g), 'type', 'bridge'])
    bridges.add(bridge(g))
    ip(['link', 'set', bridge(g), 'up'])
  }

  try {
    addBridge(0)
    const octet = freeMgmtOctet()
    const hosts: NetnsHost[] = []
    for (let i = 0; i < size; i++) {
      const ns = `${prefix}-${i}`
      const inner = `${prefix}w${i}`
      const mgmt = `${prefix}m${i}`
      const mgmtInner = `${prefix}n${i}`
      const addr = `${P2P_SUBNET}.${i + 1}`
      const rpcAddr = `${MGMT_NET}.${octet}.${4 * i + 2}`
      ip(['netns', 'add', ns])
      ip(['link', 'add', port(i), 'type', 'veth', 'peer', 'name', inner])
      ip(['link', 'add', mgmt, 'type', 'veth', 'peer', 'name', mgmtInner])
      ip(['link', 'set', inner, 'netns', ns])
      ip(['link', 'set', mgmtInner, 'netns', ns])
      ip(['link', 'set', port(i), 'master', bridge(0)])
      ip(['link', 'set', port(i), 'up'])
      ip(['addr', 'add', `${MGMT_NET}.${octet}.${4 * i + 1}/30`, 'dev', mgmt])
      ip(['link', 'set', mgmt, 'up'])
      ip(['-n', ns, 'link', 'set', 'lo', 'up'])
      ip(['-n', ns, 'addr', 'add', `${addr}/24`, 'dev', inner])
      ip(['-n', ns, 'link', 'set', inner, 'up'])
      ip(['-n', ns, 'addr', 'add', `${rpcAddr}/30`, 'dev', mgmtInner])
      ip(['-n', ns, 'link', 'set', mgmtInner, 'up'])
      hosts.push({
        index: i,
        ns,
        addr,
        rpcAddr,
        launch: (wrapped) => (nodeArgs) => {
          const [command, args] = wrapped?.(nodeArgs) ?? [process.execPath, nodeArgs]
          // `ip netns exec` execs the command: the pid the harness signals is the command's own.
          return ['ip', ['netns', 'exec', ns, command, ...args]]
        },
      })
    }
    return {
      prefix,
      hosts,
      partition(groups) {
        const side = new Map<number, number>()
        groups.forEach((g, k) => g.forEach((i) => side.set(i, k)))
        let alone = groups.length
        for (const h of hosts) {
          const g = side.get(h.index) ?? alone++
          addBridge(g)
          ip(['link', 'set', port(h.index), 'master', bridge(g)])
        }
      },
      heal() {
        for (const h of hosts) ip(['link', 'set', port(h.index), 'master', bridge(0)])
      },
      close,
    }
  } catch (err) {
    close()
    throw err
  }
}
