/**
 * The addresses this node gives out as its own (admin_nodeInfo, the gatekeeper's Registrar
 * entry, bootnode lines). libp2p expands a wildcard listen (0.0.0.0, ::) to every interface,
 * loopback first; handed to another host, a loopback or link-local address dials that host
 * itself, and whoever takes the first address (a script, the Registrar entry) would give out
 * exactly that. So for a wildcard listen the interfaces another host can reach come first (geth's
 * enode carries the external IP), and loopback and link-local last: they are real listen
 * addresses too, for a peer on the same host or link.
 */

const WILDCARD = new Set(['0.0.0.0', '::', '[::]'])

/** Loopback and link-local: addresses that mean something only on this host or this link. */
function isInternal(proto: string, host: string): boolean {
  if (proto === 'ip4') return host.startsWith('127.') || host.startsWith('169.254.')
  if (proto === 'ip6') {
    const h = host.toLowerCase()
    return h === '::1' || h.startsWith('fe80:')
  }
  return false
}

/** `addrs` (multiaddr strings, `/ip4/HOST/tcp/PORT/...`) as they should be given out for a listen on `listenHost`. */
export function reachableListenAddrs(addrs: string[], listenHost: string): string[] {
  const unique = [...new Set(addrs)]
  if (!WILDCARD.has(listenHost)) return unique
  const internal = (a: string): boolean => {
    const [, proto = '', host = ''] = a.split('/')
    return isInternal(proto, host)
  }
  return [...unique.filter((a) => !internal(a)), ...unique.filter(internal)]
}
