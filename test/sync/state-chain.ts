// The state-sync tests' chain builder lives in the bench harness (the bench's state-sync suite builds the same chain).
export * from '../../bench/harness/state-chain.ts'
