/**
 * Peer exchange (`/medrec/peers/1`): which addresses we pass on and take in, and when we ask.
 * The protocol itself (framing, serving, penalties) is in p2p.ts; the wire shape in wire.ts.
 *
 * Addresses are relayed as geth's discv4 does (netutil.CheckRelayIP): never an unspecified,
 * multicast or reserved address; a loopback address only between loopback peers, a LAN address
 * only to or from a LAN peer. So a peer on the internet cannot make us dial our own host's or
 * LAN's services, and we do not hand our LAN's addresses to it.
 */
import { BlockList } from 'node:net'
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import { MAX_ADDRS_PER_PEER } from './wire.ts'
import type { PeerIdStr } from './types.ts'

function blockList(v4: string[], v6: string[]): BlockList {
  const list = new BlockList()
  for (const [cidrs, type] of [[v4, 'ipv4'], [v6, 'ipv6']] as const) {
    for (const cidr of cidrs) {
      const [net, bits] = cidr.split('/') as [string, string]
      list.addSubnet(net, Number(bits), type)
    }
  }
  return list
}

const LOOPBACK = blockList(['127.0.0.0/8'], ['::1/128'])
/** Private and link-local networks (and loopback): reachable only from the same site. */
const LAN = blockList(['127.0.0.0/8', '10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '169.254.0.0/16', '100.64.0.0/10'], ['::1/128', 'fc00::/7', 'fe80::/10'])
/** Never a peer's address: unspecified, "this network", multicast, reserved and broadcast. */
const SPECIAL = blockList(['0.0.0.0/8', '224.0.0.0/4', '240.0.0.0/4'], ['::/128', 'ff00::/8'])

/** An IP address as the libp2p connection reports it. */
export interface Ip {
  address: string
  type: 'ipv4' | 'ipv6'
}

const isLoopback = (ip: Ip) => LOOPBACK.check(ip.address, ip.type)
const isLan = (ip: Ip) => LAN.check(ip.address, ip.type)

/**
 * Whether `addr` may be passed between us and a peer at `peer` (either way); with `peer`
 * undefined (not an IP connection) only public addresses are.
 */
export function relayable(addr: Ip, peer: Ip | undefined): boolean {
  if (SPECIAL.check(addr.address, addr.type)) return false
  if (isLoopback(addr) && (peer === undefined || !isLoopback(peer))) return false
  if (isLan(addr) && (peer === undefined || !isLan(peer))) return false
  return true
}

/** The IP of a multiaddr that starts with `/ip4` or `/ip6`. */
export function ipOf(addr: Multiaddr): Ip | undefined {
  const c = addr.getComponents()[0]
  if (c?.value === undefined || (c.name !== 'ip4' && c.name !== 'ip6')) return undefined
  return { address: c.value, type: c.name === 'ip4' ? 'ipv4' : 'ipv6' }
}

/**
 * `addr` as `/ip4|ip6/<ip>/tcp/<port>/p2p/<peer>` when it is a TCP address (our only
 * transport) of `peer` that may be relayed to or from `other`; else undefined.
 */
function tcpAddr(addr: Multiaddr, peer: PeerIdStr, other: Ip | undefined): string | undefined {
  const cs = addr.getComponents()
  const [ip, tcp, p2p, ...rest] = cs
  if (rest.length > 0 || tcp?.name !== 'tcp' || (p2p !== undefined && (p2p.name !== 'p2p' || p2p.value !== peer))) return undefined
  const port = Number(tcp.value)
  const at = ipOf(addr)
  if (at === undefined || !Number.isInteger(port) || port < 1 || port > 65535 || !relayable(at, other)) return undefined
  return `/${ip!.name}/${ip!.value}/tcp/${port}/p2p/${peer}`
}

/**
 * The addresses we tell `requester` (at IP `to`) for `peer`: its listen addresses from the peer
 * store (identify's signed ones first), TCP only, relayable to `to`, at most MAX_ADDRS_PER_PEER.
 */
export function advertisedAddrs(peer: PeerIdStr, stored: readonly { multiaddr: Multiaddr; isCertified: boolean }[], to: Ip | undefined): string[] {
  const out = new Set<string>()
  for (const a of [...stored].sort((x, y) => Number(y.isCertified) - Number(x.isCertified))) {
    const s = tcpAddr(a.multiaddr, peer, to)
    if (s !== undefined) out.add(s)
    if (out.size === MAX_ADDRS_PER_PEER) break
  }
  return [...out]
}

/** The addresses of a (checked) peers response entry we will dial: relayable from the responder at `from`. */
export function learnableAddrs(peer: PeerIdStr, addrs: readonly string[], from: Ip | undefined): Multiaddr[] {
  const out: Multiaddr[] = []
  for (const a of addrs) {
    const s = tcpAddr(multiaddr(a), peer, from)
    if (s !== undefined && !out.some((m) => m.toString() === s)) out.push(multiaddr(s))
  }
  return out
}

/** The first re-ask of a peer waits this long; each next one twice as long, up to the interval. */
export const PEER_EXCHANGE_FIRST_RETRY_MS = 1000

/**
 * When to ask whom: at most one request in flight; a peer is asked again after 1 s, 2 s, 4 s …
 * up to `intervalMs` (nodes that start together know nobody else at first, and would otherwise
 * stay a star for a whole interval). Entries idle for two intervals are dropped (bounded memory).
 */
export class PeerExchangeSchedule {
  readonly #intervalMs: number
  readonly #now: () => number
  readonly #asked = new Map<PeerIdStr, { at: number; times: number }>()
  #inFlight = false

  constructor(intervalMs: number, now: () => number = Date.now) {
    this.#intervalMs = intervalMs
    this.#now = now
  }

  /** One of `candidates` (at random) that may be asked now, marked as asked and in flight; or undefined. */
  next(candidates: readonly PeerIdStr[]): PeerIdStr | undefined {
    if (this.#inFlight) return undefined
    const now = this.#now()
    for (const [peer, a] of this.#asked) if (now - a.at >= 2 * this.#intervalMs) this.#asked.delete(peer)
    const due = (p: PeerIdStr) => {
      const a = this.#asked.get(p)
      return a === undefined || now - a.at >= Math.min(this.#intervalMs, PEER_EXCHANGE_FIRST_RETRY_MS * 2 ** (a.times - 1))
    }
    const free = candidates.filter(due)
    if (free.length === 0) return undefined
    const peer = free[Math.floor(Math.random() * free.length)]!
    this.#asked.set(peer, { at: now, times: (this.#asked.get(peer)?.times ?? 0) + 1 })
    this.#inFlight = true
    return peer
  }

  /** The request started by `next` has ended (answered or failed). */
  done(): void {
    this.#inFlight = false
  }
}
