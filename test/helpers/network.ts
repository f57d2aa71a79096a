/**
 * A network (PoA, or PoW) of real node processes on 127.0.0.1: the bench harness's local network
 * (bench/harness/local-network.ts), under the names the tests use.
 */
import { createLocalNetwork, type LocalNetwork, type LocalNetworkOptions } from '../../bench/harness/local-network.ts'

export { addressOfKey, gatekeeperArgs, keyOf, type Member } from '../../bench/harness/local-network.ts'
export type TestNetwork = LocalNetwork

/**
 * `size` members, of which the first `authorities` are in the genesis signer set; every member
 * has a key (a non-authority can be voted in later). With `pow` the chain is proof of work and
 * the `authorities` (default none) are the certified providers.
 */
export function createTestNetwork(size: number, opts: LocalNetworkOptions = {}): Promise<TestNetwork> {
  return createLocalNetwork(size, opts)
}
