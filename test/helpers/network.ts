/**
 * A network (PoA, or PoW) of real node processes on 127.0.0.1: the bench harness's local network
 * (bench/harness/local-network.ts), under the names the tests use, its nodes run without tap's
 * module tracer (plain-node.ts).
 */
import { createLocalNetwork, type LocalNetwork, type LocalNetworkOptions } from '../../bench/harness/local-network.ts'
import { plainNode } from './plain-node.ts'

export { addressOfKey, gatekeeperArgs, keyOf, type Member } from '../../bench/harness/local-network.ts'
export type TestNetwork = LocalNetwork

/**
 * `size` members, of which the first `authorities` are in the genesis signer set; every member
 * has a key (a non-authority can be voted in later). With `pow` the chain is proof of work and
 * the `authorities` (default none) are the certified providers.
 */
export function createTestNetwork(size: number, opts: LocalNetworkOptions = {}): Promise<TestNetwork> {
  return createLocalNetwork(size, { launch: plainNode, ...opts })
}
