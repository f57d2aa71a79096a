// Public face of node/sync/: the p2p wiring (gossip in and out, each block relayed after its
// precheck and imported behind it) and range sync to the heaviest peer.
export { startNetwork, type Network, type NetworkModules, type NetworkOptions, type SyncProgress } from './network.ts'
