import { PoaEngine } from './poa/engine.ts'
import { PowEngine } from './pow/engine.ts'
import type { Consensus, ConsensusConfig } from './types.ts'

/** The engine a genesis chose: the one place that knows which engines exist. */
export function createConsensus(config: ConsensusConfig): Consensus {
  return config.engine === 'poa' ? new PoaEngine({ period: config.period, epoch: config.epoch }) : new PowEngine(config)
}
