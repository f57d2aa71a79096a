// Public face of node/producer/: block production (the loop that builds, seals and commits),
// sealing as miner_* sees it (start, stop, etherbase, hash rate) and this node's clique votes.
export * from './producer.ts'
export * from './proposals.ts'
export * from './sealing.ts'
