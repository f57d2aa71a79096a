/**
 * The addresses this node gives out as its own (admin_nodeInfo, the gatekeeper's Registrar
 * entry, bootnode lines). libp2p expands a wildcard listen (0.0.0.0, ::) to every interface,
 * loopback first; handed to another host, a loopback or link-local address dials that host
 * itself. So for a wildcard listen only the interfaces another host can reach are listed (as
 * geth's enode carries the external IP), unless the machine has no other.
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
  const external = unique.filter((a) => {
    const [, proto = '', host = ''] = a.split('/')
    return !isInternal(proto, host)
  })
  return external.length > 0 ? external : unique
}
